import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthError, ConfigError } from '../errors.js';
import { page } from './pages.js';

export interface LoopbackOptions {
  port: number;
  /** The `state` sent in the authorize URL: only a callback carrying it is accepted. */
  state: string;
  timeoutMs: number;
  /** Turns the code into a connected account; its result is shown on the success page. */
  complete: (code: string) => Promise<{ login: string }>;
}

export interface LoopbackServer {
  /** `http://localhost:{port}/callback` — what the Yandex app must have registered. */
  redirectUri: string;
  /** Settles once: with the login on success, or an error (denied, timed out, exchange failed). */
  result: Promise<{ login: string }>;
  close(): void;
}

/**
 * A one-shot HTTP server on 127.0.0.1 for the OAuth redirect. It accepts exactly one callback whose
 * `state` matches (others get a page saying so, and it keeps waiting), answers with a friendly page, and closes.
 */
export async function startLoopback(options: LoopbackOptions): Promise<LoopbackServer> {
  let settle!: { resolve: (v: { login: string }) => void; reject: (e: Error) => void };
  const result = new Promise<{ login: string }>((resolve, reject) => (settle = { resolve, reject }));
  let done = false;

  const server = http.createServer((req, res) => {
    // The result settles once the page has been handed to the socket, so closing the server cannot cut it off.
    const send = (status: number, html: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      send(404, page('failure', 'Nothing here', ['This address only receives the Yandex sign-in for "ckym login".']));
      return;
    }
    if (done) {
      send(410, page('failure', 'Already finished', ['This ckym login has already finished. Run "ckym login" again if needed.']));
      return;
    }
    if (url.searchParams.get('state') !== options.state) {
      send(400, page('failure', 'This sign-in does not belong to the waiting login', [
        'The response carries a different state than the "ckym login" that is waiting, so it was ignored.',
        'Go back to the terminal and open the link ckym printed.',
      ]));
      return;
    }
    const error = url.searchParams.get('error');
    if (error) {
      done = true;
      const description = url.searchParams.get('error_description') ?? '';
      const denied = error === 'access_denied';
      send(200, page('failure', denied ? 'Access was not granted' : 'Yandex reported a problem', [
        denied
          ? 'You declined to give ckym access to Yandex Metrica. Nothing was saved.'
          : `Yandex answered: ${error}${description ? ` — ${description}` : ''}.`,
        'Run "ckym login" again when you are ready.',
      ]));
      const failure = new AuthError(
          denied
            ? 'the Yandex sign-in was declined in the browser; nothing was saved. Run "ckym login" again to retry'
            : `the Yandex sign-in failed: ${error}${description ? ` (${description})` : ''}; run "ckym login" again`,
      );
      res.once('finish', () => settle.reject(failure));
      return;
    }
    const code = url.searchParams.get('code');
    if (!code) {
      send(400, page('failure', 'No code in the answer', ['The sign-in answer carried neither a code nor an error. Run "ckym login" again.']));
      return;
    }
    done = true;
    options.complete(code).then(
      (account) => {
        send(200, page('success', 'ckym is connected to Yandex Metrica', [
          `Signed in as ${account.login}.`,
          'You can close this tab and return to the terminal.',
        ]));
        res.once('finish', () => settle.resolve(account));
      },
      (err: Error) => {
        send(200, page('failure', 'Could not finish the sign-in', [err.message, 'Run "ckym login" again.']));
        res.once('finish', () => settle.reject(err));
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new ConfigError(
              `port ${options.port} on 127.0.0.1 is in use; set yandex.redirectPort to a free port and register http://localhost:PORT/callback in your Yandex OAuth app`,
            )
          : err,
      ),
    );
    server.listen(options.port, '127.0.0.1', resolve);
  });

  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    settle.reject(
      new AuthError(
        `no answer from the browser within ${Math.round(options.timeoutMs / 1000)} s; run "ckym login" again (on a machine without a browser: "ckym login --device")`,
      ),
    );
  }, options.timeoutMs);

  const close = () => {
    clearTimeout(timer);
    server.close();
    server.closeAllConnections();
  };
  result.then(close, close);
  const port = (server.address() as AddressInfo).port;
  return { redirectUri: `http://localhost:${port}/callback`, result, close };
}
