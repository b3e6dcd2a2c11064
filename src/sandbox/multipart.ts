/**
 * A strict multipart/form-data reader (RFC 7578 / RFC 2046), the emulator's own.
 * Delimiters and part headers must use CRLF; each part needs
 * `Content-Disposition: form-data; name="…"` (a `filename` parameter is allowed).
 */

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MultipartError';
  }
}

export interface MultipartPart {
  name: string;
  filename: string | null;
  /** Header names lowercased. */
  headers: Record<string, string>;
  data: Buffer;
}

export interface MediaType {
  type: string;
  params: Record<string, string>;
}

/** Parses a Content-Type value: `type/subtype; a=b; c="d"`. Names lowercased. */
export function parseMediaType(value: string): MediaType {
  const { head, params } = parseHeaderParams(value);
  return { type: head.toLowerCase(), params };
}

/** `form-data; name="file"; filename="a.csv"` → head + parameters (quoted strings unescaped). */
export function parseHeaderParams(value: string): { head: string; params: Record<string, string> } {
  let i = 0;
  const n = value.length;
  const readUntil = (stops: string): string => {
    const start = i;
    while (i < n && !stops.includes(value[i]!)) i += 1;
    return value.slice(start, i);
  };
  const skipSpace = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i += 1;
  };
  const head = readUntil(';').trim();
  const params: Record<string, string> = {};
  while (i < n) {
    if (value[i] !== ';') throw new MultipartError(`malformed header parameters in ${JSON.stringify(value)}`);
    i += 1;
    skipSpace();
    if (i >= n) break; // tolerate a trailing ';'
    const name = readUntil('=;').trim().toLowerCase();
    if (!name || value[i] !== '=') throw new MultipartError(`malformed header parameter in ${JSON.stringify(value)}`);
    i += 1;
    skipSpace();
    let paramValue: string;
    if (value[i] === '"') {
      i += 1;
      paramValue = '';
      for (;;) {
        if (i >= n) throw new MultipartError(`unterminated quoted string in ${JSON.stringify(value)}`);
        const c = value[i]!;
        if (c === '\\' && i + 1 < n) {
          paramValue += value[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          i += 1;
          break;
        }
        paramValue += c;
        i += 1;
      }
      skipSpace();
    } else {
      paramValue = readUntil(';').trim();
    }
    if (name in params) throw new MultipartError(`parameter ${name} given twice in ${JSON.stringify(value)}`);
    params[name] = paramValue;
  }
  return { head, params };
}

const HEADER_END = Buffer.from('\r\n\r\n');

export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  if (!/^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$/.test(boundary) || boundary.endsWith(' ')) {
    throw new MultipartError(`invalid multipart boundary ${JSON.stringify(boundary)}`);
  }
  const dash = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);

  // The first delimiter: at the very start, or after a preamble ending in CRLF.
  let pos: number;
  if (body.subarray(0, dash.length).equals(dash)) {
    pos = dash.length;
  } else {
    const found = body.indexOf(delimiter);
    if (found < 0) throw new MultipartError(`the body holds no "--${boundary}" delimiter`);
    pos = found + delimiter.length;
  }

  const parts: MultipartPart[] = [];
  for (;;) {
    // After a delimiter: "--" closes; else optional transport padding then CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) {
      return finish(parts);
    }
    while (body[pos] === 0x20 || body[pos] === 0x09) pos += 1;
    if (!(body[pos] === 0x0d && body[pos + 1] === 0x0a)) {
      if (body[pos] === 0x0a) throw new MultipartError('a multipart delimiter line must end with CRLF, not a bare LF');
      if (pos >= body.length) throw new MultipartError(`the body ends without the closing "--${boundary}--" delimiter`);
      throw new MultipartError('garbage after a multipart delimiter');
    }
    pos += 2;

    const headerEnd = body.indexOf(HEADER_END, pos - 2);
    let headers: Record<string, string>;
    let contentStart: number;
    if (headerEnd === pos - 2) {
      // No headers at all: an immediate blank line.
      headers = {};
      contentStart = pos + 2;
    } else {
      if (headerEnd < 0) {
        throw new MultipartError('a part\'s headers are not ended by an empty line (CRLF CRLF)');
      }
      headers = parsePartHeaders(body.subarray(pos, headerEnd).toString('utf8'));
      contentStart = headerEnd + HEADER_END.length;
    }
    const next = body.indexOf(delimiter, contentStart);
    if (next < 0) throw new MultipartError(`the body ends without the closing "--${boundary}--" delimiter`);
    const data = body.subarray(contentStart, next);
    parts.push(makePart(headers, data));
    pos = next + delimiter.length;
  }
}

function finish(parts: MultipartPart[]): MultipartPart[] {
  if (parts.length === 0) throw new MultipartError('the multipart body holds no parts');
  return parts;
}

function parsePartHeaders(text: string): Record<string, string> {
  if (/(^|[^\r])\n/.test(text)) throw new MultipartError('part headers must be separated by CRLF, not a bare LF');
  const headers: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`malformed part header ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name)) throw new MultipartError(`malformed part header name ${JSON.stringify(name)}`);
    if (name in headers) throw new MultipartError(`part header ${name} given twice`);
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

function makePart(headers: Record<string, string>, data: Buffer): MultipartPart {
  const disposition = headers['content-disposition'];
  if (disposition === undefined) throw new MultipartError('a part has no Content-Disposition header');
  const { head, params } = parseHeaderParams(disposition);
  if (head.toLowerCase() !== 'form-data') {
    throw new MultipartError(`a part's Content-Disposition is ${JSON.stringify(head)}, expected form-data`);
  }
  const name = params.name;
  if (name === undefined || name === '') throw new MultipartError('a part has no name= in its Content-Disposition');
  return { name, filename: params.filename ?? null, headers, data };
}
