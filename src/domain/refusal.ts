/**
 * What to do with a file Metrica refused (HTTP 400 or 413). Pure: Metrica's message in, a plan out.
 *
 * A refusal that names a line («Неверный формат данных, ошибка в строке номер N…») points at one row: that row is
 * sent alone and the rows around it apart, so the good rows go out and only the bad one is kept aside (sending it
 * alone confirms it: how Metrica numbers lines — the header as line 1 — is unverified). A refusal of a file of
 * many rows that names none is bisected: halves, each a new batch, recursively. A refusal of the request itself
 * (a parameter, the comment, a missing column, an empty file) is not about any row: splitting cannot help, the
 * file is kept aside whole.
 */

/** The line a refusal names, as Metrica counts lines (the header is line 1); null when it names none. */
export function namedLine(message: string): number | null {
  const m = /строк[еаи]?\s+(?:номер\s+)?(\d{1,9})|\bline\s+(?:number\s+)?(\d{1,9})\b/i.exec(message);
  if (!m) return null;
  const n = Number(m[1] ?? m[2]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

const REQUEST_LEVEL = [
  /Комментарий/i,
  /\bcomment\b/i,
  /Отсутствует обязательная колонка/i,
  /required column/i,
  /The file is empty/i,
  /multipart/i,
  /Content-Type/i,
  /client_id_type/i,
];

/** Whether a refusal is about the request as a whole (`request`: splitting cannot help) or about some rows. */
export function refusalScope(errorType: string, message: string): 'request' | 'rows' {
  if (errorType === 'invalid_parameter') return 'request';
  return REQUEST_LEVEL.some((re) => re.test(message)) ? 'request' : 'rows';
}

/**
 * How to split a refused file of `rows` rows (positions in the file's order, `[from, to)`): around the named
 * line's row (that row alone), or in halves. Empty when a file of one row (or none) cannot be split.
 */
export function splitRanges(rows: number, line: number | null): [number, number][] {
  if (rows <= 1) return [];
  if (line !== null && line >= 2 && line <= rows + 1) {
    const k = line - 2;
    return ([[0, k], [k, k + 1], [k + 1, rows]] as [number, number][]).filter(([a, b]) => b > a);
  }
  const half = Math.ceil(rows / 2);
  return [
    [0, half],
    [half, rows],
  ];
}
