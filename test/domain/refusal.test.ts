import { describe, expect, it } from 'vitest';
import { namedLine, refusalScope, splitRanges } from '../../src/domain/refusal.js';

describe('a refused file (12.2, 12.4)', () => {
  it('namedLine: the line Metrica names, as it counts lines', () => {
    expect(namedLine('Неверный формат данных, ошибка в строке номер 7')).toBe(7);
    expect(namedLine('Неверный формат данных, ошибка в строке номер 12: PhoneNumber "+1"')).toBe(12);
    expect(namedLine('Invalid data format, error in line 3')).toBe(3);
    expect(namedLine('Некорректное значение в колонке Tag')).toBeNull();
    expect(namedLine('The file is empty')).toBeNull();
  });

  it('refusalScope: a parameter, the comment, a missing column, an empty file refuse the request; anything else some rows', () => {
    expect(refusalScope('invalid_parameter', 'anything')).toBe('request');
    expect(refusalScope('invalid_uploading', 'Комментарий содержит недопустимые символы.')).toBe('request');
    expect(refusalScope('invalid_uploading', 'Отсутствует обязательная колонка DateTime')).toBe('request');
    expect(refusalScope('invalid_uploading', 'The file is empty')).toBe('request');
    expect(refusalScope('invalid_uploading', 'Неверный формат данных, ошибка в строке номер 1: client_id_type=YCLID does not match')).toBe('request');
    expect(refusalScope('invalid_uploading', 'Неверный формат данных, ошибка в строке номер 3')).toBe('rows');
    expect(refusalScope('invalid_uploading', 'Некорректное значение в колонке Tag')).toBe('rows');
  });

  it('splitRanges: the named row alone and the rows around it; else halves; one row cannot be split', () => {
    expect(splitRanges(10, 2)).toEqual([
      [0, 1],
      [1, 10],
    ]);
    expect(splitRanges(10, 5)).toEqual([
      [0, 3],
      [3, 4],
      [4, 10],
    ]);
    expect(splitRanges(10, 11)).toEqual([
      [0, 9],
      [9, 10],
    ]);
    // a line that is no data row (the header, or past the end): halves
    expect(splitRanges(10, 1)).toEqual([
      [0, 5],
      [5, 10],
    ]);
    expect(splitRanges(9, 40)).toEqual([
      [0, 5],
      [5, 9],
    ]);
    expect(splitRanges(9, null)).toEqual([
      [0, 5],
      [5, 9],
    ]);
    expect(splitRanges(1, 2)).toEqual([]);
    expect(splitRanges(0, null)).toEqual([]);
  });
});

describe('a refused file at its edges (mutation testing)', () => {
  it('namedLine reads every way Metrica names a line, and nothing that is no line', () => {
    expect(namedLine('ошибка в строке 5')).toBe(5);
    expect(namedLine('ошибка в строка номер 6')).toBe(6);
    expect(namedLine('Error in LINE NUMBER 4')).toBe(4);
    expect(namedLine('строке номер 0')).toBeNull();
    expect(namedLine('pipeline 3')).toBeNull();
    expect(namedLine('line 3x')).toBeNull();
  });

  it('refusalScope: each kind of request-level refusal', () => {
    for (const message of ['Invalid comment', 'Отсутствует обязательная колонка Target', 'missing required column DateTime', 'The file is empty', 'bad multipart body', 'Content-Type must be multipart/form-data', 'client_id_type is wrong']) {
      expect(refusalScope('invalid_uploading', message), message).toBe('request');
    }
    expect(refusalScope('invalid_uploading', 'commentary in row 3')).toBe('rows');
  });

  it('splitRanges: a two-row file splits in two; a line just past the last row names the last', () => {
    expect(splitRanges(2, null)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(splitRanges(2, 3)).toEqual([[0, 1], [1, 2]]);
    expect(splitRanges(2, 4)).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });
});

describe('namedLine: spacing and long line numbers (mutation testing)', () => {
  it('any run of spaces between the words and the number', () => {
    expect(namedLine('ошибка в строке  5')).toBe(5);
    expect(namedLine('ошибка в строке номер  6')).toBe(6);
    expect(namedLine('error in line  7')).toBe(7);
    expect(namedLine('error in line number  8')).toBe(8);
  });

  it('a line number of many digits, in both languages; the bare plural «строк» too', () => {
    expect(namedLine('error in line 12')).toBe(12);
    expect(namedLine('error in line number 123456789')).toBe(123_456_789);
    expect(namedLine('ошибка в строке номер 4096')).toBe(4096);
    expect(namedLine('строк 9')).toBe(9);
  });
});
