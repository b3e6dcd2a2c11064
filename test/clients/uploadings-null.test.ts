/** Issue 13.7: an uploadings list holding `null` (or other non-objects) must not crash the reconcile lookup. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetrikaClient } from '../../src/clients/metrika.js';

let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ uploadings: [null, 42, 'x', [], { id: 7, comment: 'ckym batch abc-1', status: 'PROCESSED' }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

describe('MetrikaClient and a list holding null', () => {
  it('skips what is not an uploading, and still finds the batch', async () => {
    const client = new MetrikaClient({
      baseUrl,
      token: 'y0_uploadings-null-token',
      policy: { retries: 0, backoffMs: 1, maxRetryAfterMs: 1000, timeoutMs: 5000, giveUpMs: 10_000 },
    });
    expect(await client.listUploadings(11, 'call', 0, 100)).toEqual([{ id: 7, comment: 'ckym batch abc-1', status: 'PROCESSED' }]);
    expect(await client.findUploading(11, 'call', 'ckym batch abc-1')).toMatchObject({ id: 7 });
    expect(await client.findUploading(11, 'call', 'ckym batch abc-2')).toBeNull();
  });
});
