/**
 * JSON config text → value, and when it is not valid JSON, where and what: `file:11:7: expected ','` and a
 * code frame. JSON.parse decides; only when it refuses does a small scanner walk the text to find the first
 * place that breaks the grammar (V8's messages differ between versions and some carry no position).
 */

export class JsonSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly what: string,
    readonly frame: string,
  ) {
    super(`${line}:${column}: ${what}`);
    this.name = 'JsonSyntaxError';
  }
}

/** Parses JSON text (a leading byte-order mark is allowed); throws JsonSyntaxError with line, column and frame. */
export function parseJsonText(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (error) {
    const found = firstSyntaxError(body) ?? { at: body.length, what: (error as Error).message };
    const { line, column } = lineColumn(body, found.at);
    throw new JsonSyntaxError(line, column, found.what, codeFrame(body, line, column));
  }
}

interface Found {
  at: number;
  what: string;
}

class Stop {
  constructor(readonly found: Found) {}
}

/** The first offset where `text` stops being JSON, and what was expected there; null when it is JSON. */
export function firstSyntaxError(text: string): Found | null {
  let i = 0;
  const fail = (what: string, at = i): never => {
    throw new Stop({ at, what });
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const end = () => i >= text.length;
  const describe = (expected: string) => (end() ? `${expected}, but the file ends here` : expected);

  const string = () => {
    i++; // the opening quote
    for (;;) {
      if (end()) fail('unterminated string: expected a closing \'"\'');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c.charCodeAt(0) < 0x20) fail(c === '\n' ? 'line break inside a string: close it with \'"\' or write \\n' : 'control character inside a string');
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('expected four hex digits after \\u', i + 2);
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail('unknown escape: expected one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX', i + 1);
        i += 2;
        continue;
      }
      i++;
    }
  };

  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === '-' || m[0] === '') fail('expected a number');
    i += m![0].length;
    if (!end() && /[\d.eE+-]/.test(text[i]!)) fail('invalid number');
  };

  const value = (): void => {
    ws();
    if (end()) fail(describe('expected a value'));
    const c = text[i]!;
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    if (c === "'") fail('strings and keys take double quotes (")');
    if (c === '}' || c === ']') fail(`expected a value before '${c}'`);
    return fail('expected a value (a string in double quotes, a number, true, false, null, an object or an array)');
  };

  const object = () => {
    i++;
    ws();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === '}') fail("a trailing comma: remove the ',' before '}'", lastComma(text, i));
      if (text[i] !== '"') fail(describe(text[i] === "'" ? 'keys take double quotes (")' : 'expected a key in double quotes'));
      string();
      ws();
      if (text[i] !== ':') fail(describe("expected ':' after the key"));
      i++;
      value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return;
      }
      fail(describe("expected ',' or '}'"));
    }
  };

  const array = () => {
    i++;
    ws();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === ']') fail("a trailing comma: remove the ',' before ']'", lastComma(text, i));
      value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return;
      }
      fail(describe("expected ',' or ']'"));
    }
  };

  try {
    value();
    ws();
    if (!end()) fail('unexpected text after the end of the JSON value');
    return null;
  } catch (error) {
    if (error instanceof Stop) return error.found;
    throw error;
  }
}

function lastComma(text: string, before: number): number {
  const at = text.lastIndexOf(',', before);
  return at < 0 ? before : at;
}

/** 1-based line and column of offset `at`. */
export function lineColumn(text: string, at: number): { line: number; column: number } {
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

/** Two lines before `line`, the line with a caret under `column`, one line after; every line starts with spaces. */
export function codeFrame(text: string, line: number, column: number): string {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const first = Math.max(1, line - 2);
  const last = Math.min(lines.length, line + 1);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const content = (lines[n - 1] ?? '').replace(/\t/g, ' ');
    out.push(`  ${n === line ? '>' : ' '} ${String(n).padStart(width)} | ${content}`);
    if (n === line) out.push(`    ${' '.repeat(width)} | ${' '.repeat(Math.max(0, column - 1))}^`);
  }
  return out.join('\n');
}
