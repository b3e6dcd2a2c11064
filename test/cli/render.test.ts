import { describe, expect, it } from 'vitest';
import { bar, barChart, displayWidth, duration, table, truncate, type Paint } from '../../src/cli/render.js';

const brackets: Paint = {
  ok: (s) => `\u001b[32m${s}\u001b[39m`,
  bad: (s) => `\u001b[31m${s}\u001b[39m`,
  warn: (s) => s,
  dim: (s) => s,
  bold: (s) => s,
};

describe('table', () => {
  it('aligns columns (right for numbers), trims trailing space, rules the header', () => {
    const lines = table(
      [{ header: 'date' }, { header: 'calls', align: 'right' }, { header: 'note' }],
      [
        ['2024-05-19', '7', ''],
        ['2024-05-20', '1234', 'Звонок'],
      ],
      { indent: '  ', rule: 'ascii' },
    );
    expect(lines).toEqual([
      '  date        calls  note',
      '  ----------  -----  ------',
      '  2024-05-19      7',
      '  2024-05-20   1234  Звонок',
    ]);
  });

  it('ignores colour codes when measuring', () => {
    const lines = table([{ header: 'a' }, { header: 'b' }], [[brackets.bad('x'), 'y'], ['xyz', 'w']], { noHeader: true });
    expect(lines[0]).toBe(`${brackets.bad('x')}    y`);
    expect(lines[1]).toBe('xyz  w');
    expect(displayWidth(brackets.ok('✓ ok'))).toBe(4);
  });

  it('no rule unless asked; a row with fewer cells than columns leaves the rest blank', () => {
    expect(table([{ header: 'a' }, { header: 'b', align: 'right' }, { header: 'c' }], [['xx'], ['y', '12', 'z']])).toEqual([
      'a    b  c',
      'xx',
      'y   12  z',
    ]);
  });

  it('measures combining marks as no column (й written as и + U+0306)', () => {
    expect(displayWidth('и\u0306')).toBe(1);
    expect(table([{ header: 'name' }, { header: 'n' }], [['и\u0306', '1']], { noHeader: true })).toEqual(['и\u0306  1']);
  });

  it('unicode rule', () => {
    expect(table([{ header: 'ab' }], [['c']], { rule: 'unicode' })[1]).toBe('──');
  });
});

describe('bars', () => {
  it('unicode bars resolve eighths; a value above zero always shows', () => {
    expect(bar(10, 10, 4)).toBe('████');
    expect(bar(5, 10, 4)).toBe('██');
    expect(bar(1, 16, 2)).toBe('▏');
    expect(bar(3, 16, 2)).toBe('▍');
    expect(bar(1, 1000, 10)).toBe('▏');
    expect(bar(0, 10, 4)).toBe('');
    expect(bar(20, 10, 4)).toBe('████');
  });

  it('every eighth of a cell has its own block', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((v) => bar(v, 8, 1))).toEqual(['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█']);
    expect(bar(9, 16, 2)).toBe('█▏');
  });

  it('nothing to draw without a positive maximum or any width', () => {
    for (const style of ['unicode', 'ascii'] as const) {
      expect(bar(1, 0, 10, style)).toBe('');
      expect(bar(1, -5, 10, style)).toBe('');
      expect(bar(1, 1, 0, style)).toBe('');
      expect(bar(1, 1, -1, style)).toBe('');
      expect(bar(Number.NaN, 1, 4, style)).toBe('');
    }
  });

  it('ascii bars are whole cells of #', () => {
    expect(bar(10, 10, 4, 'ascii')).toBe('####');
    expect(bar(1, 1000, 10, 'ascii')).toBe('#');
    expect(bar(0, 10, 4, 'ascii')).toBe('');
  });

  it('barChart scales to the largest value and lines up labels and numbers', () => {
    const lines = barChart(
      [
        { label: 'mon', value: 4 },
        { label: 'tuesday', value: 8 },
        { label: 'wed', value: 0 },
      ],
      { width: 8, style: 'ascii' },
    );
    expect(lines).toEqual(['mon     |####     4', 'tuesday |######## 8', 'wed     |         0']);
    // numbers right-aligned to the widest
    expect(barChart([{ label: 'a', value: 5 }, { label: 'b', value: 120 }], { width: 4, style: 'ascii' })).toEqual([
      'a |#      5',
      'b |#### 120',
    ]);
    const unicode = barChart([{ label: 'x', value: 3 }], { width: 2 });
    expect(unicode).toEqual(['x │██ 3']);
  });
});

describe('text helpers', () => {
  it('truncate', () => {
    expect(truncate('короткий', 10)).toBe('короткий');
    expect(truncate('длинный текст ошибки', 8)).toBe('длинный…');
    expect(truncate('abc', 0)).toBe('');
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('abcd', 3)).toBe('ab…');
    expect(truncate('abc', 1)).toBe('…');
  });

  it('duration', () => {
    expect(duration(null)).toBe('—');
    expect(duration(850)).toBe('850 ms');
    expect(duration(999.4)).toBe('999 ms');
    expect(duration(1000)).toBe('1.0 s');
    expect(duration(59_949)).toBe('59.9 s');
    expect(duration(60_000)).toBe('1 min 0 s');
    expect(duration(1234)).toBe('1.2 s');
    expect(duration(184_000)).toBe('3 min 4 s');
  });
});
