/** Small helpers for the sandbox tests: build multipart bodies and CSV by hand, call the emulators. */

export const TOKEN = 'y0_AgAAAAATESTTOKEN';
export const API_KEY = 'x9xx99xx99xxxx99';

/** A CSV writer for tests (RFC 4180, CRLF), independent of ckym's. */
export function toCsv(header: string[], rows: Record<string, string>[] | string[][], eol = '\r\n'): string {
  const cell = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [header.map(cell).join(',')];
  for (const row of rows) {
    const values = Array.isArray(row) ? row : header.map((h) => row[h] ?? '');
    lines.push(values.map(cell).join(','));
  }
  return lines.join(eol) + eol;
}

/** A multipart/form-data body with one part, built byte by byte with CRLFs. */
export function multipartBody(
  csv: string | Buffer,
  opts: { boundary?: string; name?: string; filename?: string | null; extraParts?: { name: string; value: string }[] } = {},
): { body: Buffer; contentType: string } {
  const boundary = opts.boundary ?? '----ckymTestBoundary7MA4YWxkTrZu0gW';
  const name = opts.name ?? 'file';
  const filename = opts.filename === undefined ? 'calls.csv' : opts.filename;
  const chunks: Buffer[] = [];
  for (const extra of opts.extraParts ?? []) {
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${extra.name}"\r\n\r\n${extra.value}\r\n`),
    );
  }
  const disposition = `form-data; name="${name}"` + (filename === null ? '' : `; filename="${filename}"`);
  chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: text/csv\r\n\r\n`));
  chunks.push(typeof csv === 'string' ? Buffer.from(csv, 'utf8') : csv);
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export interface UploadArgs {
  kind?: 'calls' | 'conversions';
  query?: Record<string, string>;
  token?: string | null;
}

export function uploadPath(counterId: number, kind: 'calls' | 'conversions'): string {
  return `/management/v1/counter/${counterId}/offline_conversions/${kind === 'calls' ? 'upload_calls' : 'upload'}`;
}

/** POSTs a CSV as the single `file` part. */
export async function upload(
  baseUrl: string,
  counterId: number,
  csv: string,
  args: UploadArgs = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const kind = args.kind ?? 'calls';
  const query = new URLSearchParams({ client_id_type: 'CLIENT_ID', comment: 'ckymtest', ...args.query });
  const { body, contentType } = multipartBody(csv);
  return call(baseUrl, `${uploadPath(counterId, kind)}?${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
    token: args.token,
  });
}

/** Any request to the Metrica emulator, with the OAuth header unless token is null. */
export async function call(
  baseUrl: string,
  path: string,
  init: { method?: string; body?: Buffer | string; headers?: Record<string, string>; token?: string | null; signal?: AbortSignal } = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `OAuth ${token}`;
  const res = await fetch(baseUrl + path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body,
    signal: init.signal,
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** Unix seconds of a Moscow wall time (UTC+3 all year since 2014). */
export function msk(text: string): number {
  return Date.parse(text.replace(' ', 'T') + '+03:00') / 1000;
}
