/** A word for /bin/sh: as is when it is safe, else in single quotes (so a printed command can be pasted). */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
