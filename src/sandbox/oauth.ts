/**
 * A loopback emulator of Yandex OAuth (oauth.yandex.ru) and of the login-info endpoint
 * (login.yandex.ru/info), as shared/spec/yandex-api.md describes them: the authorization-code
 * flow with PKCE and `state` (loopback redirect, or the verification_code page that shows the
 * code), the device flow, refresh with rotation, and "who am I".
 *
 * Strict on purpose, so ckym's `login` cannot pass by accident:
 * - /authorize never redirects to an unregistered URI (a loopback URI matches on any port,
 *   RFC 8252 §7.3); once the client and redirect_uri are known good, every other problem goes back
 *   to the redirect_uri as `error=…&error_description=…&state=…` (RFC 6749 §4.1.2.1).
 * - A code_challenge must be S256 and well-formed; a public client (no secret) must send one.
 * - Codes live 10 minutes, are single-use (a replay also revokes what the code gave, RFC 6749 §4.1.2),
 *   and are consumed by the first token request that presents them, successful or not.
 * - /token and /device/code take form bodies only; a parameter sent twice or in the query string
 *   is `invalid_request`; credentials in Basic and in the body must agree.
 * - Device flow: `authorization_pending`, `slow_down` (polled sooner than `interval` after the previous
 *   poll; the interval then grows by 5 s, RFC 8628 §3.5), `access_denied`, `expired_token`; the device
 *   code is polled with `code=` (Yandex's name), not `device_code=`.
 * - Login-info lives under its own prefix (`loginUrl` = url + '/login'), so mixing up CKYM_OAUTH_URL and
 *   CKYM_LOGIN_URL gives 404; it answers only `format=json` and only `Authorization: OAuth <token>`.
 *
 * It imports nothing from ckym. `requests` never holds a query string, code, token, verifier or secret.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson, sendText, startServer, urlHost } from './http.js';
import type { RunningServer } from './http.js';

/** The redirect URI at which Yandex shows the code for the user to paste (the console-app flow). */
export const VERIFICATION_CODE_URI = 'https://oauth.yandex.ru/verification_code';

export const DEFAULT_REDIRECT_URIS: readonly string[] = [
  'http://localhost/callback',
  'http://127.0.0.1/callback',
  VERIFICATION_CODE_URI,
];

export type OAuthConsent = 'allow' | 'deny' | 'page';
export type OAuthGrant = 'authorization_code' | 'refresh_token' | 'device_code';

export interface OAuthClientSeed {
  clientId: string;
  /** null/absent: a public PKCE client (then /authorize requires a code_challenge). */
  clientSecret?: string | null;
  /** Registered Redirect URIs. Default DEFAULT_REDIRECT_URIS. A loopback http URI matches on any port. */
  redirectUris?: string[];
  /** Rights granted to the app; a `scope` asking for more is `invalid_scope`. Default metrika:read, metrika:write. */
  scopes?: string[];
}

export interface OAuthEmulatorOptions {
  clients: OAuthClientSeed[];
  /** The signed-in Yandex user. Default `{ login: 'sandbox-user', id: '1130000000000001' }`. */
  user?: { login: string; id: string; display_name?: string; default_email?: string };
  /** Produces each issued access token (default random `y0_…`); tests make it return the token the Metrica emulator accepts. */
  issueAccessToken?: () => string;
  /** Access-token lifetime in seconds. Default 31536000 (a year). */
  expiresIn?: number;
  /** Unix ms: code, device-code and token lifetimes and the device polling interval go by it. Default `Date.now`. */
  now?: () => number;
  /** What /authorize does: redirect at once with a code, redirect with access_denied, or show a consent page. Default 'allow'. */
  consent?: OAuthConsent;
  /** Device flow `interval`, seconds (integer ≥ 0). Default 5. */
  deviceInterval?: number;
  /** Device code lifetime, seconds. Default 600 (Yandex: 10 minutes). */
  deviceExpiresIn?: number;
  /**
   * Access tokens the user already has, issued outside these flows (e.g. the debug token Yandex shows for
   * `response_type=token`): login-info accepts them. They have no refresh token.
   */
  knownTokens?: { accessToken: string; clientId: string }[];
  host?: string;
  port?: number;
}

export interface OAuthRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  /** HTTP status answered; 0 while unanswered. */
  status: number;
  /** /token only: the grant_type sent. */
  grantType?: string;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface IssuedToken {
  accessToken: string;
  refreshToken: string;
  grant: OAuthGrant;
  clientId: string;
  /** now() at issue. */
  at: number;
}

export interface OAuthEmulator {
  /** OAuth base, e.g. `http://127.0.0.1:PORT` (CKYM_OAUTH_URL). */
  url: string;
  /** Login-info base, `${url}/login` (CKYM_LOGIN_URL); ckym calls `${loginUrl}/info?format=json`. */
  loginUrl: string;
  /** Every request, in arrival order, without secrets. */
  requests: OAuthRequest[];
  setConsent(consent: OAuthConsent): void;
  /** The user typing the device flow's user_code at verification_url and approving (or denying). Throws if no such pending code. */
  approveDevice(userCode: string, decision?: 'allow' | 'deny'): void;
  /** Pending (undecided, unexpired) device user codes. */
  readonly pendingUserCodes: string[];
  /** The last code shown on the verification_code page (the --code paste flow). */
  readonly lastVerificationCode: string | null;
  /** Revokes every issued token with this access token: login-info answers 401, its refresh token stops working. */
  revoke(accessToken: string): void;
  issued: IssuedToken[];
  close(): Promise<void>;
}

const CODE_TTL_MS = 10 * 60_000;
const MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_USER = { login: 'sandbox-user', id: '1130000000000001' };
const DEFAULT_SCOPES = ['metrika:read', 'metrika:write'];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Issued codes are 16 characters; the older 7-digit form is also well-formed. Anything else: bad_verification_code. */
const CODE_FORMAT = /^(?:[0-9a-z]{16}|\d{7})$/;
const CHALLENGE_FORMAT = /^[A-Za-z0-9_-]{43,128}$/;
/** RFC 7636 §4.1: 43–128 unreserved characters. */
const VERIFIER_FORMAT = /^[A-Za-z0-9._~-]{43,128}$/;
const USER_CODE_ALPHABET = 'bcdfghjkmnpqrstvwxz';
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const PAGE_HEADERS = { 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' };

/** A token-endpoint style error: `{error, error_description}` with HTTP 400/401. */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

const invalidRequest = (description: string): OAuthError => new OAuthError(400, 'invalid_request', description);
const invalidGrant = (description: string): OAuthError => new OAuthError(400, 'invalid_grant', description);

interface Client {
  id: string;
  secret: string | null;
  redirectUris: string[];
  scopes: Set<string>;
}

/** A validated authorization request, waiting for (or past) the user's decision. */
interface AuthRequest {
  clientId: string;
  redirectUri: string;
  state: string | null;
  challenge: string | null;
}

interface CodeGrant extends AuthRequest {
  expiresAt: number;
  used: boolean;
  tokens: TokenRecord[];
}

interface TokenRecord {
  accessToken: string;
  refreshToken: string;
  clientId: string;
  expiresAt: number;
  revoked: boolean;
  /** The refresh token was exchanged (rotated) already. */
  refreshUsed: boolean;
}

interface DeviceAuth {
  deviceCode: string;
  userCode: string;
  clientId: string;
  expiresAt: number;
  intervalMs: number;
  lastPoll: number | null;
  decision: 'pending' | 'allow' | 'deny';
  used: boolean;
}

export async function startOAuthEmulator(options: OAuthEmulatorOptions): Promise<OAuthEmulator> {
  const now = options.now ?? Date.now;
  const expiresIn = options.expiresIn ?? 31_536_000;
  const deviceInterval = options.deviceInterval ?? 5;
  const deviceExpiresIn = options.deviceExpiresIn ?? 600;
  const user = { ...DEFAULT_USER, ...options.user };
  const issueAccessToken = options.issueAccessToken ?? (() => `y0_${randomBytes(42).toString('base64url')}`);
  if (!Number.isInteger(expiresIn) || expiresIn < 1) throw new Error('expiresIn must be a positive integer');
  if (!Number.isInteger(deviceInterval) || deviceInterval < 0) throw new Error('deviceInterval must be an integer ≥ 0');
  if (!Number.isInteger(deviceExpiresIn) || deviceExpiresIn < 1) throw new Error('deviceExpiresIn must be a positive integer');
  let consent: OAuthConsent = checkConsent(options.consent ?? 'allow');

  const clients = new Map<string, Client>();
  for (const seed of options.clients) {
    if (!seed.clientId) throw new Error('clientId must not be empty');
    if (clients.has(seed.clientId)) throw new Error(`client ${seed.clientId} seeded twice`);
    const redirectUris = [...(seed.redirectUris ?? DEFAULT_REDIRECT_URIS)];
    for (const uri of redirectUris) {
      if (!URL.canParse(uri) || uri.includes('#')) throw new Error(`redirect URI ${JSON.stringify(uri)} is not an absolute URI without a fragment`);
    }
    clients.set(seed.clientId, {
      id: seed.clientId,
      secret: seed.clientSecret ?? null,
      redirectUris,
      scopes: new Set(seed.scopes ?? DEFAULT_SCOPES),
    });
  }

  const requests: OAuthRequest[] = [];
  const issued: IssuedToken[] = [];
  const codes = new Map<string, CodeGrant>();
  const consents = new Map<string, AuthRequest & { expiresAt: number }>();
  const records: TokenRecord[] = [];
  const byRefresh = new Map<string, TokenRecord>();
  const devices = new Map<string, DeviceAuth>();
  let lastVerificationCode: string | null = null;
  let base = '';
  for (const known of options.knownTokens ?? []) {
    records.push({
      accessToken: known.accessToken,
      refreshToken: '',
      clientId: known.clientId,
      expiresAt: now() + expiresIn * 1000,
      revoked: false,
      refreshUsed: true,
    });
  }

  const newCode = (): string => {
    for (;;) {
      const code = randomString('0123456789abcdefghijklmnopqrstuvwxyz', 16);
      if (!codes.has(code)) return code;
    }
  };

  const issueTokens = (clientId: string, grant: OAuthGrant): TokenRecord => {
    const at = now();
    const accessToken = issueAccessToken();
    let refreshToken: string;
    do refreshToken = `1:${randomBytes(12).toString('base64url')}:${randomBytes(48).toString('base64url')}`;
    while (byRefresh.has(refreshToken));
    const record: TokenRecord = { accessToken, refreshToken, clientId, expiresAt: at + expiresIn * 1000, revoked: false, refreshUsed: false };
    records.push(record);
    byRefresh.set(refreshToken, record);
    issued.push({ accessToken, refreshToken, grant, clientId, at });
    return record;
  };

  /** Pending device authorization by its (normalised) user code, or null. */
  const findDevice = (userCode: string): DeviceAuth | null => {
    const wanted = userCode.trim().toLowerCase().replace(/[\s-]/g, '');
    for (const d of devices.values()) {
      if (d.userCode === wanted && d.decision === 'pending' && now() < d.expiresAt) return d;
    }
    return null;
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const method = req.method ?? '';
    const log: OAuthRequest = { method, path: url.pathname, status: 0, at: Date.now() };
    requests.push(log);
    const { body, tooLarge } = await readBody(req, MAX_BODY_BYTES);

    const json = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      log.status = status;
      sendJson(res, status, payload, headers);
    };
    const fail = (e: OAuthError): void =>
      json(e.status, { error: e.error, error_description: e.description }, { ...NO_STORE, ...e.headers });
    const html = (status: number, title: string, content: string): void => {
      log.status = status;
      sendText(res, status, page(title, content), 'text/html; charset=utf-8', PAGE_HEADERS);
    };
    const redirect = (location: string): void => {
      log.status = 302;
      if (res.destroyed || res.writableEnded) return;
      res.writeHead(302, { location, 'content-length': '0', ...PAGE_HEADERS });
      res.end();
    };
    const notAllowed = (allow: string): void => {
      log.status = 405;
      sendText(res, 405, page('405 Method Not Allowed', `<p>Use ${esc(allow)}.</p>`), 'text/html; charset=utf-8', { allow });
    };

    /** The user said yes: a code goes to the redirect_uri, or onto the verification_code page. */
    const deliverCode = (a: AuthRequest): void => {
      const code = newCode();
      codes.set(code, { ...a, expiresAt: now() + CODE_TTL_MS, used: false, tokens: [] });
      if (a.redirectUri === VERIFICATION_CODE_URI) {
        lastVerificationCode = code;
        return html(
          200,
          'Код подтверждения',
          `<p>Введите этот код в приложении:</p>\n<p><code id="verification-code">${esc(code)}</code></p>\n` +
            `<p>Код действует 10 минут.</p>`,
        );
      }
      redirect(withParams(a.redirectUri, [['code', code], ['state', a.state]]));
    };
    /** An error for a known client and registered redirect_uri goes back to that URI (or onto the code page). */
    const deliverError = (a: { redirectUri: string; state: string | null }, error: string, description: string): void => {
      if (a.redirectUri === VERIFICATION_CODE_URI) {
        return html(error === 'access_denied' ? 403 : 400, 'Ошибка авторизации', `<p><code id="error">${esc(error)}</code>: ${esc(description)}</p>`);
      }
      redirect(withParams(a.redirectUri, [['error', error], ['error_description', description], ['state', a.state]]));
    };

    /** Form body of a POST: content type, no query parameters, no repeats. */
    const readForm = (): URLSearchParams => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') {
        throw invalidRequest(`Content-Type must be application/x-www-form-urlencoded, got ${JSON.stringify(req.headers['content-type'] ?? '')}`);
      }
      if (tooLarge) throw invalidRequest('request body too large');
      if ([...url.searchParams.keys()].length > 0) throw invalidRequest('parameters must be sent in the request body, not in the URL');
      const form = new URLSearchParams(body.toString('utf8'));
      const repeated = duplicates(form);
      if (repeated.length > 0) throw invalidRequest(`parameter sent more than once: ${repeated.join(', ')}`);
      return form;
    };

    /** Client authentication for /token and /device/code: body or HTTP Basic, never two different identities. */
    const authenticate = (form: URLSearchParams, requireSecret: boolean): Client => {
      const basic = parseBasic(req.headers.authorization);
      const bodyId = form.get('client_id');
      const bodySecretRaw = form.get('client_secret');
      const bodySecret = bodySecretRaw === '' ? null : bodySecretRaw;
      if (basic) {
        if (bodyId !== null && bodyId !== basic.id) throw invalidRequest('client_id in the body differs from the one in the Authorization header');
        if (bodySecret !== null && bodySecret !== basic.secret) {
          throw invalidRequest('client_secret in the body differs from the one in the Authorization header');
        }
      }
      const id = basic?.id ?? bodyId;
      const secret = basic ? basic.secret : bodySecret;
      const challengeHeaders: Record<string, string> = basic ? { 'www-authenticate': 'Basic realm="oauth"' } : {};
      if (!id) throw invalidRequest('client_id is missing');
      const client = clients.get(id);
      if (!client) throw new OAuthError(401, 'invalid_client', 'Client not found', challengeHeaders);
      if (client.secret === null) {
        if (secret) throw new OAuthError(401, 'invalid_client', 'This client is public (PKCE): it has no client_secret', challengeHeaders);
      } else if (secret === null) {
        if (requireSecret) throw new OAuthError(401, 'invalid_client', 'Client authentication is required: client_secret is missing', challengeHeaders);
      } else if (!sameSecret(secret, client.secret)) {
        throw new OAuthError(401, 'invalid_client', 'Wrong client secret', challengeHeaders);
      }
      return client;
    };

    const tokenAnswer = (record: TokenRecord): void =>
      json(
        200,
        { access_token: record.accessToken, refresh_token: record.refreshToken, expires_in: expiresIn, token_type: 'bearer' },
        NO_STORE,
      );

    const path = url.pathname;
    try {
      if (path === '/authorize') {
        if (method !== 'GET') return notAllowed('GET');
        const q = url.searchParams;
        const repeated = duplicates(q);
        const badPage = (text: string): void => html(400, 'Ошибка запроса', `<p id="error">${esc(text)}</p>`);
        if (repeated.includes('client_id')) return badPage('client_id sent more than once');
        const clientId = q.get('client_id');
        if (!clientId) return badPage('client_id is missing');
        const client = clients.get(clientId);
        if (!client) return badPage(`Unknown client_id ${clientId}: no such application`);
        if (repeated.includes('redirect_uri')) return badPage('redirect_uri sent more than once');
        const redirectUri = resolveRedirect(client, q.get('redirect_uri'));
        if (typeof redirectUri !== 'string') return badPage(redirectUri.error);

        // From here on the redirect_uri is trusted: problems go back to it.
        const state = repeated.includes('state') ? null : q.get('state');
        const back = { redirectUri, state };
        if (repeated.length > 0) return deliverError(back, 'invalid_request', `parameter sent more than once: ${repeated.join(', ')}`);
        const responseType = q.get('response_type');
        if (!responseType) return deliverError(back, 'invalid_request', 'response_type is missing');
        if (responseType !== 'code') return deliverError(back, 'unsupported_response_type', `response_type must be "code", got "${responseType}"`);
        const challenge = q.get('code_challenge');
        const challengeMethod = q.get('code_challenge_method');
        if (challenge === null || challenge === '') {
          if (challengeMethod !== null) return deliverError(back, 'invalid_request', 'code_challenge_method without code_challenge');
          if (client.secret === null) return deliverError(back, 'invalid_request', 'code_challenge is required: this client has no secret (public PKCE client)');
        } else {
          if (challengeMethod === null) return deliverError(back, 'invalid_request', 'code_challenge_method is missing: only S256 is supported');
          if (challengeMethod !== 'S256') return deliverError(back, 'invalid_request', `code_challenge_method "${challengeMethod}" is not supported: use S256`);
          if (!CHALLENGE_FORMAT.test(challenge)) {
            return deliverError(back, 'invalid_request', 'code_challenge must be 43–128 base64url characters (no padding)');
          }
        }
        const scope = q.get('scope');
        if (scope !== null) {
          const asked = scope.split(' ').filter(Boolean);
          const extra = asked.filter((s) => !client.scopes.has(s));
          if (asked.length === 0 || extra.length > 0) {
            return deliverError(back, 'invalid_scope', `the app has no such rights: ${extra.join(' ') || '(empty scope)'}`);
          }
        }
        const deviceProblem = checkDevice(q.get('device_id'), q.get('device_name'));
        if (deviceProblem) return deliverError(back, 'invalid_request', deviceProblem);

        const request: AuthRequest = { clientId, redirectUri, state, challenge: challenge || null };
        if (consent === 'allow') return deliverCode(request);
        if (consent === 'deny') return deliverError(back, 'access_denied', 'The user denied access to the application');
        const requestId = randomBytes(16).toString('hex');
        consents.set(requestId, { ...request, expiresAt: now() + CODE_TTL_MS });
        const hint = q.get('login_hint');
        const deviceName = q.get('device_name');
        const rights = (scope ? scope.split(' ').filter(Boolean) : [...client.scopes]).map((s) => `<li>${esc(s)}</li>`).join('');
        return html(
          200,
          'Разрешить доступ?',
          `<p>Приложение <b id="client">${esc(clientId)}</b> запрашивает доступ к аккаунту <b id="login">${esc(hint ?? user.login)}</b>` +
            (deviceName ? ` для устройства «${esc(deviceName)}»` : '') +
            `:</p>\n<ul>${rights}</ul>\n` +
            `<form method="post" action="/authorize/decision">\n` +
            `<input type="hidden" name="request_id" value="${esc(requestId)}">\n` +
            `<button type="submit" id="allow" name="decision" value="allow">Разрешить</button>\n` +
            `<button type="submit" id="deny" name="decision" value="deny">Запретить</button>\n</form>`,
        );
      }

      if (path === '/authorize/decision') {
        if (method !== 'POST') return notAllowed('POST');
        let form: URLSearchParams;
        try {
          form = readForm();
        } catch (e) {
          if (e instanceof OAuthError) return html(400, 'Ошибка запроса', `<p id="error">${esc(e.description)}</p>`);
          throw e;
        }
        const decision = form.get('decision');
        if (decision !== 'allow' && decision !== 'deny') return html(400, 'Ошибка запроса', '<p id="error">decision must be allow or deny</p>');
        const id = form.get('request_id') ?? '';
        const pending = consents.get(id);
        consents.delete(id);
        if (!pending || now() >= pending.expiresAt) {
          return html(400, 'Запрос устарел', '<p id="error">This authorization request is unknown, used or expired: start again.</p>');
        }
        const { expiresAt: _expired, ...request } = pending;
        if (decision === 'allow') return deliverCode(request);
        return deliverError(request, 'access_denied', 'The user denied access to the application');
      }

      if (path === '/token') {
        if (method !== 'POST') return notAllowed('POST');
        const form = readForm();
        const grantType = form.get('grant_type');
        if (grantType !== null) log.grantType = grantType.slice(0, 40);
        if (!grantType) throw invalidRequest('grant_type is missing');
        const client = authenticate(form, true);

        if (grantType === 'authorization_code') {
          const code = form.get('code');
          if (!code) throw invalidRequest('code is missing');
          if (!CODE_FORMAT.test(code)) throw new OAuthError(400, 'bad_verification_code', 'Invalid verification code format');
          const grant = codes.get(code);
          if (!grant) throw invalidGrant('Invalid code');
          if (grant.clientId !== client.id) throw invalidGrant('Code was issued to another client');
          if (grant.used) {
            for (const t of grant.tokens) t.revoked = true;
            throw invalidGrant('Code has already been used');
          }
          grant.used = true;
          if (now() >= grant.expiresAt) throw invalidGrant('Code has expired');
          const sentUri = form.get('redirect_uri');
          if (sentUri !== null && sentUri !== grant.redirectUri) throw invalidGrant('redirect_uri does not match the one of the authorization request');
          const verifier = form.get('code_verifier');
          if (grant.challenge !== null) {
            if (verifier === null || verifier === '') throw invalidGrant('code_verifier is required: the authorization request had a code_challenge');
            if (!VERIFIER_FORMAT.test(verifier)) throw invalidGrant('code_verifier must be 43–128 characters of [A-Za-z0-9-._~]');
            if (s256(verifier) !== grant.challenge) throw invalidGrant('code_verifier does not match code_challenge');
          } else if (verifier !== null) {
            throw invalidRequest('code_verifier sent, but the authorization request had no code_challenge');
          }
          const record = issueTokens(client.id, 'authorization_code');
          grant.tokens.push(record);
          return tokenAnswer(record);
        }

        if (grantType === 'refresh_token') {
          const refreshToken = form.get('refresh_token');
          if (!refreshToken) throw invalidRequest('refresh_token is missing');
          const record = byRefresh.get(refreshToken);
          if (!record) throw invalidGrant('Invalid refresh token');
          if (record.clientId !== client.id) throw invalidGrant('Refresh token was issued to another client');
          if (record.revoked) throw invalidGrant('Refresh token has been revoked');
          if (record.refreshUsed) throw invalidGrant('Refresh token has already been used: use the one issued with it');
          record.refreshUsed = true;
          return tokenAnswer(issueTokens(client.id, 'refresh_token'));
        }

        if (grantType === 'device_code') {
          if (form.has('device_code') && !form.has('code')) throw invalidRequest('code is missing (Yandex takes the device code as "code")');
          const deviceCode = form.get('code');
          if (!deviceCode) throw invalidRequest('code is missing');
          const device = devices.get(deviceCode);
          if (!device) throw invalidGrant('Invalid device code');
          if (device.clientId !== client.id) throw invalidGrant('Device code was issued to another client');
          if (device.used) throw invalidGrant('Device code has already been used');
          const t = now();
          if (t >= device.expiresAt) throw new OAuthError(400, 'expired_token', 'Device code has expired');
          const last = device.lastPoll;
          device.lastPoll = t;
          if (last !== null && t - last < device.intervalMs) {
            device.intervalMs += 5000;
            throw new OAuthError(400, 'slow_down', `Polling too fast: wait at least ${device.intervalMs / 1000} s between requests`);
          }
          if (device.decision === 'deny') throw new OAuthError(400, 'access_denied', 'The user denied access to the application');
          if (device.decision === 'pending') throw new OAuthError(400, 'authorization_pending', 'User has not yet authorized your application');
          device.used = true;
          return tokenAnswer(issueTokens(client.id, 'device_code'));
        }

        throw new OAuthError(400, 'unsupported_grant_type', `grant_type "${grantType}" is not supported`);
      }

      if (path === '/device/code') {
        if (method !== 'POST') return notAllowed('POST');
        const form = readForm();
        const client = authenticate(form, false);
        const deviceProblem = checkDevice(form.get('device_id'), form.get('device_name'));
        if (deviceProblem) throw invalidRequest(deviceProblem);
        const scope = form.get('scope');
        if (scope !== null && scope.split(' ').some((s) => s !== '' && !client.scopes.has(s))) {
          throw new OAuthError(400, 'invalid_scope', 'the app has no such rights');
        }
        let deviceCode: string;
        do deviceCode = randomBytes(16).toString('hex');
        while (devices.has(deviceCode));
        let userCode: string;
        do userCode = randomString(USER_CODE_ALPHABET, 8);
        while (findDevice(userCode));
        devices.set(deviceCode, {
          deviceCode,
          userCode,
          clientId: client.id,
          expiresAt: now() + deviceExpiresIn * 1000,
          intervalMs: deviceInterval * 1000,
          lastPoll: null,
          decision: 'pending',
          used: false,
        });
        return json(
          200,
          { device_code: deviceCode, user_code: userCode, verification_url: `${base}/device`, interval: deviceInterval, expires_in: deviceExpiresIn },
          NO_STORE,
        );
      }

      if (path === '/device') {
        const form = `<form method="post" action="/device">\n<label>Код: <input id="user_code" name="user_code" autocomplete="off" value="${esc(url.searchParams.get('user_code') ?? '')}"></label>\n` +
          `<button type="submit" id="allow" name="decision" value="allow">Разрешить</button>\n` +
          `<button type="submit" id="deny" name="decision" value="deny">Запретить</button>\n</form>`;
        if (method === 'GET') return html(200, 'Авторизация на устройстве', `<p>Введите код, который показывает устройство.</p>\n${form}`);
        if (method !== 'POST') return notAllowed('GET, POST');
        let posted: URLSearchParams;
        try {
          posted = readForm();
        } catch (e) {
          if (e instanceof OAuthError) return html(400, 'Ошибка запроса', `<p id="error">${esc(e.description)}</p>`);
          throw e;
        }
        const decision = posted.get('decision') === 'deny' ? 'deny' : 'allow';
        const device = findDevice(posted.get('user_code') ?? '');
        if (!device) return html(400, 'Неверный код', `<p id="error">Код не найден или устарел.</p>\n${form}`);
        device.decision = decision;
        return html(200, decision === 'allow' ? 'Доступ разрешён' : 'Доступ запрещён', '<p id="done">Вернитесь к устройству.</p>');
      }

      if (path === '/login/info') {
        if (method !== 'GET') return notAllowed('GET');
        const unauthorized = (): void => {
          log.status = 401;
          sendText(res, 401, 'Unauthorized', 'text/plain; charset=utf-8', { 'www-authenticate': 'OAuth realm="login.yandex.ru"' });
        };
        if (['oauth_token', 'access_token', 'token'].some((p) => url.searchParams.has(p))) {
          log.status = 400;
          return sendText(res, 400, 'The token must be sent in the header "Authorization: OAuth <token>", not in the URL', 'text/plain; charset=utf-8');
        }
        if (url.searchParams.get('format') !== 'json') {
          log.status = 400;
          return sendText(res, 400, 'This emulator answers format=json only: add ?format=json', 'text/plain; charset=utf-8');
        }
        const m = /^OAuth (\S+)$/.exec((req.headers.authorization ?? '').trim());
        if (!m) return unauthorized();
        const t = now();
        const record = records.findLast((r) => r.accessToken === m[1] && !r.revoked && t < r.expiresAt);
        if (!record) return unauthorized();
        const info: Record<string, unknown> = {
          id: user.id,
          login: user.login,
          client_id: record.clientId,
          display_name: user.display_name ?? user.login,
          psuid: `1.sandbox.${user.id}`,
        };
        if (user.default_email) {
          info.default_email = user.default_email;
          info.emails = [user.default_email];
        }
        return json(200, info);
      }

      return html(404, '404 Not Found', `<p>No such page: ${esc(path)}</p>`);
    } catch (e) {
      if (e instanceof OAuthError) return fail(e);
      throw e;
    }
  };

  const running: RunningServer = await startServer(handler, options.host ?? '127.0.0.1', options.port ?? 0);
  base = `http://${urlHost(running.host)}:${running.port}`;

  return {
    url: base,
    loginUrl: `${base}/login`,
    requests,
    issued,
    setConsent(c) {
      consent = checkConsent(c);
    },
    approveDevice(userCode, decision = 'allow') {
      const device = findDevice(userCode);
      if (!device) throw new Error(`no pending, unexpired device authorization with user code ${JSON.stringify(userCode)}`);
      device.decision = decision;
    },
    get pendingUserCodes() {
      const t = now();
      return [...devices.values()].filter((d) => d.decision === 'pending' && t < d.expiresAt).map((d) => d.userCode);
    },
    get lastVerificationCode() {
      return lastVerificationCode;
    },
    revoke(accessToken) {
      const hits = records.filter((r) => r.accessToken === accessToken);
      if (hits.length === 0) throw new Error('revoke: no such access token was issued');
      for (const r of hits) r.revoked = true;
    },
    close: () => running.close(),
  };
}

function checkConsent(c: string): OAuthConsent {
  if (c !== 'allow' && c !== 'deny' && c !== 'page') throw new Error(`consent must be allow, deny or page, got ${JSON.stringify(c)}`);
  return c;
}

/** The effective redirect URI, or why there is none. Omitted: allowed only when the app has exactly one. */
function resolveRedirect(client: Client, requested: string | null): string | { error: string } {
  if (requested === null) {
    const only = client.redirectUris.length === 1 ? client.redirectUris[0] : undefined;
    return only ?? { error: 'redirect_uri is missing and the app has several Redirect URIs' };
  }
  return client.redirectUris.some((r) => redirectMatches(r, requested))
    ? requested
    : { error: `redirect_uri ${requested} is not registered for this application` };
}

/** Exact match, except that a loopback http URI matches on any port (RFC 8252 §7.3). */
export function redirectMatches(registered: string, requested: string): boolean {
  if (requested === registered) return true;
  if (/[\s\x00-\x1f\x7f#]/.test(requested) || !URL.canParse(requested)) return false;
  const r = new URL(registered);
  const u = new URL(requested);
  if (r.protocol !== 'http:' || !LOOPBACK_HOSTS.has(r.hostname)) return false;
  // The requested URI must be written canonically (no userinfo, no default port, no case games).
  const canonical = `${u.protocol}//${u.host}${u.pathname}${u.search}`;
  return (
    requested === canonical &&
    u.protocol === 'http:' &&
    !u.username &&
    !u.password &&
    u.hostname === r.hostname &&
    u.pathname === r.pathname &&
    u.search === r.search
  );
}

/** Appends query parameters (percent-encoded, so both form and URI decoders read them back exactly); null values are left out. */
function withParams(uri: string, params: [string, string | null][]): string {
  const query = params
    .filter((p): p is [string, string] => p[1] !== null)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
  const sep = !uri.includes('?') ? '?' : uri.endsWith('?') || uri.endsWith('&') ? '' : '&';
  return uri + sep + query;
}

function duplicates(params: URLSearchParams): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) repeated.add(key);
    seen.add(key);
  }
  return [...repeated];
}

/** Yandex: device_id 6–50 printable ASCII characters; device_name up to 100 characters. */
function checkDevice(deviceId: string | null, deviceName: string | null): string | null {
  if (deviceId !== null && !/^[\x20-\x7e]{6,50}$/.test(deviceId)) return 'device_id must be 6–50 printable ASCII characters';
  if (deviceName !== null && [...deviceName].length > 100) return 'device_name must be at most 100 characters';
  return null;
}

/** `Authorization: Basic base64(id:secret)` (each part form-urlencoded, RFC 6749 §2.3.1); null when there is no such header. */
function parseBasic(header: string | undefined): { id: string; secret: string | null } | null {
  if (header === undefined) return null;
  const m = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
  if (!m) throw invalidRequest('Malformed Authorization header: expected "Basic base64(client_id:client_secret)"');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidRequest('Malformed Authorization header: no ":" between client_id and client_secret');
  const formDecode = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  const secret = formDecode(decoded.slice(colon + 1));
  return { id: formDecode(decoded.slice(0, colon)), secret: secret === '' ? null : secret };
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

function randomString(alphabet: string, length: number): string {
  // Rejection sampling keeps the distribution uniform.
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && out.length < length) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, content: string): string {
  return (
    `<!DOCTYPE html>\n<html lang="ru"><head><meta charset="utf-8"><title>${esc(title)}</title></head>\n<body>\n` +
    `<h1>${esc(title)}</h1>\n${content}\n<p><small>ckym sandbox: Yandex OAuth emulator</small></p>\n</body></html>\n`
  );
}
