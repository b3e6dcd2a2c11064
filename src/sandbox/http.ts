/**
 * Small node:http plumbing shared by the emulators: start a loopback server, read a body,
 * answer, and close everything (including hung keep-alive sockets) on demand.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface RunningServer {
  server: Server;
  port: number;
  host: string;
  close(): Promise<void>;
}

export async function startServer(handler: Handler, host: string, port: number): Promise<RunningServer> {
  const server = createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => {
        // An emulator bug must be loud, not a hung test.
        const text = `emulator internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(text);
        } else {
          res.destroy();
        }
      });
  });
  // Keep-alive sockets must not keep the test process waiting.
  server.keepAliveTimeout = 2_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    server,
    port: address.port,
    host,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Reads the whole request body (the emulators always drain it before answering). */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: Buffer.concat(chunks), tooLarge }));
    req.on('error', reject);
    req.on('aborted', () => resolve({ body: Buffer.concat(chunks), tooLarge }));
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  sendText(res, status, text, 'application/json; charset=utf-8', headers);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  const buf = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(buf.length), ...headers });
  res.end(buf);
}

export function sleep(ms: number, signal: { timers: Set<NodeJS.Timeout> }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.timers.delete(t);
      resolve();
    }, ms);
    signal.timers.add(t);
  });
}
