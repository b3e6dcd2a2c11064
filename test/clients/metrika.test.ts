import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetrikaClient } from '../../src/clients/metrika.js';

const TOKEN = 'y0_metrika-client-test-token';
const policy = { retries: 0, backoffMs: 1, maxRetryAfterMs: 1000, timeoutMs: 10_000 };

/** Which connection each request came in on, by the order connections were opened. */
const seen: { method: string; connection: number }[] = [];
const connections = new Map<Socket, number>();
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', connection: connections.get(req.socket)! });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.method === 'POST' ? { uploading: { id: seen.length, status: 'UPLOADED' } } : { uploadings: [] }));
    });
  });
  server.on('connection', (socket) => connections.set(socket, connections.size + 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const upload = (client: MetrikaClient, n: number) =>
  client.upload({
    counterId: 11,
    kind: 'call',
    comment: `ckym batch test-${n}`,
    csv: () => ['ClientId,DateTime\n', `,${1_700_000_000 + n}\n`],
  });

describe('MetrikaClient uploads', () => {
  it('go out on a connection of their own, never on an idle keep-alive one the server may have closed meanwhile', async () => {
    const client = new MetrikaClient({ baseUrl, token: TOKEN, policy });
    await client.listUploadings(11, 'call', 0, 10);
    expect((await upload(client, 1)).kind).toBe('accepted');
    await client.listUploadings(11, 'call', 0, 10);
    expect((await upload(client, 2)).kind).toBe('accepted');

    const uploads = seen.filter((r) => r.method === 'POST').map((r) => r.connection);
    const others = seen.filter((r) => r.method !== 'POST').map((r) => r.connection);
    expect(new Set(uploads).size).toBe(2);
    for (const c of uploads) expect(seen.filter((r) => r.connection === c)).toHaveLength(1);
    expect(others.some((c) => uploads.includes(c))).toBe(false);
  });
});
