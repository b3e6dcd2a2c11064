/**
 * A fault-injecting HTTP proxy for the reliability tests. It sits between a spawned ckym and one of the
 * loopback emulators and does, per rule, what the emulators cannot do on their own at an exact moment:
 *
 * - `hold`: never forward, never answer (ckym is blocked at a known step: kill -9 it there);
 * - `hold-response`: forward, let the emulator answer (e.g. Metrica accepted the upload), then never answer ckym;
 * - `reset` / `reset-after`: destroy ckym's connection before / after the emulator took the request;
 * - `respond`: answer ckym itself without forwarding (a 401 for one counter, an error envelope for one page);
 * - `replace`: forward, then answer ckym something else (a 504 for an upload Metrica did accept);
 * - `transform`: forward, then rewrite the emulator's answer (an empty middle page, a call from the future);
 * - `late`: take the request, answer nothing, and forward it to the emulator only after `ms` (a server that
 *   processes an upload long after ckym gave up on it).
 *
 * Matching rules are consumed in order; a request that matches none is passed through. The proxy imports
 * nothing from ckym. It never stores a request's raw URL (CallKeeper's carries the API key): `describe`
 * turns it into a harmless label.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  /** Arrival order, from 0. */
  index: number;
  method: string;
  /** The path without the query string. */
  path: string;
  /** What the request is, from `describe` (never the raw URL). */
  label: string;
  /** Parsed facts for matching (page number, counter id, upload kind …). */
  info: RequestInfo;
  /** What the proxy did. */
  action: ProxyAction['type'] | 'pass';
  /**
   * `held` (blocked before the emulator), `held-after-upstream` (the emulator answered, ckym did not hear),
   * `answered`, `reset`, `closed` (ckym went away while held).
   */
  state: 'waiting' | 'held' | 'held-after-upstream' | 'answered' | 'reset' | 'closed';
  /** The emulator's HTTP status, when it was asked. */
  upstreamStatus: number | null;
  /** The status ckym got. */
  status: number | null;
  /** Date.now() when the request arrived. */
  at: number;
  /** The request's query string and body, only when the proxy was started with `capture: true`. */
  captured?: { query: string; body: string };
}

export interface RequestInfo {
  /** CallKeeper: the page asked for. */
  page?: number;
  /** Metrica: the counter in the path. */
  counterId?: number;
  /** Metrica upload or list: which kind (`calls` = upload_calls / calls_uploadings). */
  kind?: 'calls' | 'conversions';
  /** Metrica: an upload (POST …/upload or …/upload_calls). */
  upload?: boolean;
  /** Metrica: an uploadings list (GET …/calls_uploadings or …/uploadings). */
  list?: boolean;
}

export type ProxyAction =
  | { type: 'hold' }
  | { type: 'hold-response' }
  | { type: 'reset' }
  | { type: 'reset-after' }
  | { type: 'respond'; status: number; body: string; headers?: Record<string, string> }
  | { type: 'replace'; status: number; body: string; headers?: Record<string, string> }
  | { type: 'transform'; body: (text: string) => string }
  | { type: 'late'; ms: number };

export interface ProxyRule {
  match: (request: ProxiedRequest) => boolean;
  action: ProxyAction;
  /** How many requests the rule applies to. Default 1; `Infinity` for all. */
  times?: number;
}

export interface FaultProxy {
  /** The proxy's base URL, with the target's path (e.g. `http://127.0.0.1:PORT/api/`). */
  url: string;
  requests: ProxiedRequest[];
  rule(rule: ProxyRule): void;
  /** Forget every rule not consumed yet. */
  clearRules(): void;
  /** Requests being held right now. */
  held(): ProxiedRequest[];
  /** Lets every request held by a `hold` rule go on to the emulator (its answer then reaches ckym). */
  release(): void;
  close(): Promise<void>;
}

/** CallKeeper: `…/api/?json/v3/KEY/call/get/PAGE/FROM/TO` → page, with the key left out. */
export function describeCallKeeper(pathAndQuery: string): { label: string; info: RequestInfo } {
  const q = pathAndQuery.indexOf('?');
  const segments = q < 0 ? [] : pathAndQuery.slice(q + 1).split('/');
  const page = /^\d+$/.test(segments[5] ?? '') ? Number(segments[5]) : -1;
  return { label: `callkeeper page ${page}`, info: { page } };
}

/** Metrica: counter, upload or list, kind. */
export function describeMetrika(pathAndQuery: string, method: string): { label: string; info: RequestInfo } {
  const path = pathAndQuery.split('?')[0] ?? '';
  const m = /^\/management\/v1\/counter\/(\d+)\/offline_conversions\/(.+)$/.exec(path);
  if (!m) return { label: `${method} ${path}`, info: {} };
  const counterId = Number(m[1]);
  const tail = m[2]!;
  const info: RequestInfo = { counterId };
  if (method === 'POST' && (tail === 'upload_calls' || tail === 'upload')) {
    info.upload = true;
    info.kind = tail === 'upload_calls' ? 'calls' : 'conversions';
  } else if (method === 'GET' && (tail === 'calls_uploadings' || tail === 'uploadings')) {
    info.list = true;
    info.kind = tail === 'calls_uploadings' ? 'calls' : 'conversions';
  }
  return { label: `${method} counter ${counterId} ${tail}`, info };
}

/** Yandex OAuth and login-info: the path only (codes, tokens and verifiers travel in bodies and headers). */
export function describePath(pathAndQuery: string, method: string): { label: string; info: RequestInfo } {
  return { label: `${method} ${pathAndQuery.split('?')[0] ?? ''}`, info: {} };
}

export async function startFaultProxy(
  target: string,
  describe: (pathAndQuery: string, method: string) => { label: string; info: RequestInfo },
  options: { capture?: boolean } = {},
): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: { rule: ProxyRule; left: number }[] = [];
  const requests: ProxiedRequest[] = [];
  const resumes = new Map<ProxiedRequest, () => void>();
  const timers = new Set<NodeJS.Timeout>();
  const agent = new http.Agent({ keepAlive: false });

  const take = (request: ProxiedRequest): ProxyAction | null => {
    const i = rules.findIndex((r) => r.rule.match(request));
    if (i < 0) return null;
    const entry = rules[i]!;
    entry.left -= 1;
    if (entry.left <= 0) rules.splice(i, 1);
    return entry.rule.action;
  };

  /** Forwards the request; when `client` is given and ckym hangs up first, the upstream request is dropped too. */
  const forward = (
    req: http.IncomingMessage,
    body: Buffer,
    client?: http.ServerResponse,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      delete headers.connection;
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      let settled = false;
      const done = () => (settled = true);
      out.on('response', (res) => res.on('end', done));
      client?.on('close', () => {
        if (!settled) out.destroy();
      });
      out.end(body);
    });

  const send = (res: http.ServerResponse, status: number, headers: http.IncomingHttpHeaders, body: Buffer | string): void => {
    if (res.destroyed || res.writableEnded) return;
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined || ['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) continue;
      h[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    h['content-length'] = String(buf.length);
    h.connection = 'close';
    res.writeHead(status, h);
    res.end(buf);
  };

  const server = http.createServer((req, res) => {
    const { label, info } = describe(req.url ?? '/', req.method ?? '');
    const record: ProxiedRequest = {
      index: requests.length,
      method: req.method ?? '',
      path: (req.url ?? '/').split('?')[0] ?? '/',
      label,
      info,
      action: 'pass',
      state: 'waiting',
      upstreamStatus: null,
      status: null,
      at: Date.now(),
    };
    requests.push(record);
    res.on('close', () => {
      if (record.state === 'held' || record.state === 'held-after-upstream' || record.state === 'waiting') record.state = 'closed';
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (options.capture) {
        const url = req.url ?? '/';
        record.captured = { query: url.includes('?') ? url.slice(url.indexOf('?') + 1) : '', body: body.toString('utf8') };
      }
      const action = take(record);
      record.action = action?.type ?? 'pass';
      const answer = (status: number, headers: http.IncomingHttpHeaders, text: Buffer | string): void => {
        record.status = status;
        record.state = 'answered';
        send(res, status, headers, text);
      };
      const reset = (): void => {
        record.state = 'reset';
        req.socket.destroy();
      };
      const viaUpstream = async (then: (r: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }) => void) => {
        try {
          const r = await forward(req, body, res);
          record.upstreamStatus = r.status;
          then(r);
        } catch {
          reset();
        }
      };
      if (!action) {
        void viaUpstream((r) => answer(r.status, r.headers, r.body));
        return;
      }
      switch (action.type) {
        case 'hold':
          record.state = 'held';
          resumes.set(record, () => {
            if (record.state !== 'held') return;
            record.state = 'waiting';
            void viaUpstream((r) => answer(r.status, r.headers, r.body));
          });
          return;
        case 'hold-response':
          void viaUpstream(() => {
            if (record.state === 'waiting') record.state = 'held-after-upstream';
          });
          return;
        case 'reset':
          reset();
          return;
        case 'reset-after':
          void viaUpstream(() => reset());
          return;
        case 'respond':
          answer(action.status, { 'content-type': 'application/json; charset=utf-8', ...action.headers }, action.body);
          return;
        case 'replace':
          void viaUpstream(() =>
            answer(action.status, { 'content-type': 'application/json; charset=utf-8', ...action.headers }, action.body),
          );
          return;
        case 'transform':
          void viaUpstream((r) => answer(r.status, r.headers, action.body(r.body.toString('utf8'))));
          return;
        case 'late': {
          record.state = 'held';
          const t = setTimeout(() => {
            timers.delete(t);
            void forward(req, body).then(
              (r) => {
                record.upstreamStatus = r.status;
                if (record.state === 'held') answer(r.status, r.headers, r.body);
              },
              () => undefined,
            );
          }, action.ms);
          timers.add(t);
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}${upstream.pathname === '/' ? '' : upstream.pathname}`,
    requests,
    rule(rule) {
      const times = rule.times ?? 1;
      rules.push({ rule, left: times });
    },
    clearRules() {
      rules.length = 0;
    },
    held() {
      return requests.filter((r) => r.state === 'held' || r.state === 'held-after-upstream');
    },
    release() {
      const all = [...resumes.values()];
      resumes.clear();
      for (const resume of all) resume();
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
    },
  };
}
