import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { redirectMatches, startOAuthEmulator, VERIFICATION_CODE_URI } from '../../src/sandbox/oauth.js';
import type { OAuthEmulator, OAuthEmulatorOptions } from '../../src/sandbox/oauth.js';

const T0 = Date.UTC(2024, 4, 10, 12, 0, 0);
let clock = T0;

const PUBLIC = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const CONFIDENTIAL = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const SECRET = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const CODE_ONLY = '0123456789abcdef0123456789abcdef';
const CALLBACK = 'http://127.0.0.1:8899/callback';
const STATE = 'st a+b/c?d=e&f%g#h ä';

let emulator: OAuthEmulator | null = null;
afterEach(async () => {
  await emulator?.close();
  emulator = null;
  clock = T0;
});

async function start(opts: Partial<OAuthEmulatorOptions> = {}): Promise<OAuthEmulator> {
  emulator = await startOAuthEmulator({
    clients: [
      { clientId: PUBLIC },
      { clientId: CONFIDENTIAL, clientSecret: SECRET },
      { clientId: CODE_ONLY, clientSecret: null, redirectUris: [VERIFICATION_CODE_URI] },
    ],
    now: () => clock,
    ...opts,
  });
  return emulator;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(e: OAuthEmulator, params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.append(k, v);
  return `${e.url}/authorize?${q}`;
}

async function authorize(e: OAuthEmulator, params: Record<string, string | undefined>): Promise<Response> {
  return fetch(authorizeUrl(e, params), { redirect: 'manual' });
}

/** A PKCE authorization for the public client; returns the redirect's parsed URL. */
async function codeFor(
  e: OAuthEmulator,
  over: Record<string, string | undefined> = {},
): Promise<{ location: URL; raw: string; verifier: string; code: string }> {
  const { verifier, challenge } = pkce();
  const res = await authorize(e, {
    response_type: 'code',
    client_id: PUBLIC,
    redirect_uri: CALLBACK,
    state: STATE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...over,
  });
  expect(res.status).toBe(302);
  const raw = res.headers.get('location')!;
  const location = new URL(raw);
  return { location, raw, verifier, code: location.searchParams.get('code') ?? '' };
}

async function token(
  e: OAuthEmulator,
  form: Record<string, string>,
  init: { headers?: Record<string, string>; body?: string; query?: string } = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${e.url}/token${init.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...init.headers },
    body: init.body ?? new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, headers: res.headers };
}

async function info(e: OAuthEmulator, accessToken: string | null, query = '?format=json', scheme = 'OAuth'): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = accessToken === null ? {} : { authorization: `${scheme} ${accessToken}` };
  const res = await fetch(`${e.loginUrl}/info${query}`, { headers });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

function expectOAuthError(res: { status: number; json: any }, status: number, error: string, description?: RegExp): void {
  expect(res.status).toBe(status);
  expect(res.json.error).toBe(error);
  expect(typeof res.json.error_description).toBe('string');
  if (description) expect(res.json.error_description).toMatch(description);
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

describe('authorization code flow with PKCE', () => {
  it('redirects to the loopback URI with a code and the exact state, and the code buys tokens and login-info', async () => {
    const e = await start();
    const { location, raw, verifier, code } = await codeFor(e);
    expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
    expect(code).toMatch(/^[0-9a-z]{16}$/);
    expect(location.searchParams.get('state')).toBe(STATE);
    // Percent-encoded, so a URI decoder reads the same state as a form decoder.
    expect(decodeURIComponent(/[?&]state=([^&]*)/.exec(raw)![1]!)).toBe(STATE);

    const res = await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC, redirect_uri: CALLBACK });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json).toEqual({
      access_token: expect.stringMatching(/^y0_/),
      refresh_token: expect.any(String),
      expires_in: 31_536_000,
      token_type: 'bearer',
    });
    expect(e.issued).toEqual([
      { accessToken: res.json.access_token, refreshToken: res.json.refresh_token, grant: 'authorization_code', clientId: PUBLIC, at: T0 },
    ]);

    const me = await info(e, res.json.access_token);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ id: '1130000000000001', login: 'sandbox-user', client_id: PUBLIC, display_name: 'sandbox-user' });
  });

  it('omits state when absent and matches a loopback redirect URI on any port, localhost included', async () => {
    const e = await start();
    const { location } = await codeFor(e, { state: undefined, redirect_uri: 'http://localhost:54321/callback' });
    expect(location.host).toBe('localhost:54321');
    expect(location.searchParams.has('state')).toBe(false);
    const noPort = await codeFor(e, { redirect_uri: 'http://127.0.0.1/callback' });
    expect(noPort.location.host).toBe('127.0.0.1');
  });

  it('never redirects to an unregistered redirect_uri: 400 page instead', async () => {
    const e = await start();
    const { challenge } = pkce();
    for (const redirectUri of [
      'http://127.0.0.1:8899/other',
      'http://127.0.0.1:8899/callback/',
      'https://127.0.0.1:8899/callback',
      'http://evil.example/callback',
      'http://evil.example:8899/callback',
      'http://user@127.0.0.1:8899/callback',
      'http://127.0.0.1:8899/callback#frag',
      'http://127.0.0.1:8899/callback?x=1',
    ]) {
      const res = await authorize(e, { response_type: 'code', client_id: PUBLIC, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: 'S256' });
      expect(res.status, redirectUri).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await res.text()).toContain('not registered');
    }
  });

  it('refuses an unknown client, a missing client_id, and a missing redirect_uri when several are registered, with a 400 page', async () => {
    const e = await start();
    const { challenge } = pkce();
    const base = { response_type: 'code', redirect_uri: CALLBACK, code_challenge: challenge, code_challenge_method: 'S256' };
    for (const params of [
      { ...base, client_id: 'nope' },
      { ...base },
      { ...base, client_id: PUBLIC, redirect_uri: undefined },
    ]) {
      const res = await authorize(e, params);
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });

  it('a public client must send an S256 challenge; other request errors go back to the redirect_uri with the state', async () => {
    const e = await start();
    const { challenge } = pkce();
    const base = { response_type: 'code', client_id: PUBLIC, redirect_uri: CALLBACK, state: 'xyz' };
    const cases: [Record<string, string | undefined>, string, RegExp][] = [
      [{}, 'invalid_request', /code_challenge is required/],
      [{ code_challenge: challenge }, 'invalid_request', /S256/],
      [{ code_challenge: challenge, code_challenge_method: 'plain' }, 'invalid_request', /plain.*not supported/],
      [{ code_challenge: 'tooShort', code_challenge_method: 'S256' }, 'invalid_request', /43–128/],
      [{ code_challenge: `${challenge}=`, code_challenge_method: 'S256' }, 'invalid_request', /base64url/],
      [{ code_challenge_method: 'S256' }, 'invalid_request', /without code_challenge/],
      [{ response_type: 'token', code_challenge: challenge, code_challenge_method: 'S256' }, 'unsupported_response_type', /code/],
      [{ response_type: undefined, code_challenge: challenge, code_challenge_method: 'S256' }, 'invalid_request', /response_type/],
      [{ code_challenge: challenge, code_challenge_method: 'S256', scope: 'metrika:read direct:api' }, 'invalid_scope', /direct:api/],
      [{ code_challenge: challenge, code_challenge_method: 'S256', device_id: 'abc' }, 'invalid_request', /device_id/],
    ];
    for (const [over, error, description] of cases) {
      const res = await authorize(e, { ...base, ...over });
      expect(res.status, JSON.stringify(over)).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
      expect(location.searchParams.get('error')).toBe(error);
      expect(location.searchParams.get('error_description')).toMatch(description);
      expect(location.searchParams.get('state')).toBe('xyz');
      expect(location.searchParams.has('code')).toBe(false);
    }
    // A repeated parameter is refused too.
    const twice = await fetch(`${authorizeUrl(e, { ...base, code_challenge: challenge, code_challenge_method: 'S256' })}&state=again`, { redirect: 'manual' });
    expect(new URL(twice.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    // Granted scopes are fine.
    const ok = await codeFor(e, { scope: 'metrika:read metrika:write', device_id: 'ckym-host-1', device_name: 'ckym on host' });
    expect(ok.code).not.toBe('');
  });

  it('refuses a wrong code_verifier (and the code is then used up)', async () => {
    const e = await start();
    const { code, verifier } = await codeFor(e);
    const wrong = await token(e, { grant_type: 'authorization_code', code, code_verifier: pkce().verifier, client_id: PUBLIC });
    expectOAuthError(wrong, 400, 'invalid_grant', /does not match/);
    const missing = await codeFor(e);
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code: missing.code, client_id: PUBLIC }), 400, 'invalid_grant', /code_verifier is required/);
    const short = await codeFor(e);
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: short.code, client_id: PUBLIC, code_verifier: 'x'.repeat(42) }),
      400,
      'invalid_grant',
      /43–128/,
    );
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC }), 400, 'invalid_grant', /already been used/);
    expect(e.issued).toHaveLength(0);
  });

  it('refuses a replayed code and revokes what it gave', async () => {
    const e = await start();
    const { code, verifier } = await codeFor(e);
    const form = { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC };
    const first = await token(e, form);
    expect(first.status).toBe(200);
    expect((await info(e, first.json.access_token)).status).toBe(200);
    expectOAuthError(await token(e, form), 400, 'invalid_grant', /already been used/);
    expect((await info(e, first.json.access_token)).status).toBe(401);
    expectOAuthError(await token(e, { grant_type: 'refresh_token', refresh_token: first.json.refresh_token, client_id: PUBLIC }), 400, 'invalid_grant', /revoked/);
  });

  it('codes expire after 10 minutes by now()', async () => {
    const e = await start();
    const fresh = await codeFor(e);
    const stale = await codeFor(e);
    clock = T0 + 10 * 60_000 - 1;
    expect((await token(e, { grant_type: 'authorization_code', code: fresh.code, code_verifier: fresh.verifier, client_id: PUBLIC })).status).toBe(200);
    clock = T0 + 10 * 60_000;
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: stale.code, code_verifier: stale.verifier, client_id: PUBLIC }),
      400,
      'invalid_grant',
      /expired/,
    );
  });

  it('binds the code to its redirect_uri and client; unknown and malformed codes are refused', async () => {
    const e = await start();
    const a = await codeFor(e);
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: a.code, code_verifier: a.verifier, client_id: PUBLIC, redirect_uri: 'http://127.0.0.1:9999/callback' }),
      400,
      'invalid_grant',
      /redirect_uri/,
    );
    const b = await codeFor(e);
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: b.code, code_verifier: b.verifier, client_id: CONFIDENTIAL, client_secret: SECRET }),
      400,
      'invalid_grant',
      /another client/,
    );
    // The rightful client can still redeem it.
    expect((await token(e, { grant_type: 'authorization_code', code: b.code, code_verifier: b.verifier, client_id: PUBLIC })).status).toBe(200);
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code: 'abcdefghij012345', code_verifier: b.verifier, client_id: PUBLIC }), 400, 'invalid_grant', /Invalid code/);
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code: `${b.code}\n`, code_verifier: b.verifier, client_id: PUBLIC }), 400, 'bad_verification_code');
    expectOAuthError(await token(e, { grant_type: 'authorization_code', client_id: PUBLIC }), 400, 'invalid_request', /code is missing/);
  });
});

describe('consent', () => {
  it("'deny' redirects with access_denied, a description and the state", async () => {
    const e = await start({ consent: 'deny' });
    const { challenge } = pkce();
    const res = await authorize(e, { response_type: 'code', client_id: PUBLIC, redirect_uri: CALLBACK, state: STATE, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('error_description')).toBeTruthy();
    expect(location.searchParams.get('state')).toBe(STATE);
    expect(location.searchParams.has('code')).toBe(false);
  });

  it("'page' shows a form whose Allow/Deny buttons post a single-use request id to /authorize/decision", async () => {
    const e = await start({ consent: 'page' });
    const { verifier, challenge } = pkce();
    const params = { response_type: 'code', client_id: PUBLIC, redirect_uri: CALLBACK, state: STATE, code_challenge: challenge, code_challenge_method: 'S256', login_hint: 'someone' };
    const pageRes = await authorize(e, params);
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await pageRes.text();
    expect(html).toContain('action="/authorize/decision"');
    expect(html).toContain('id="allow"');
    expect(html).toContain('id="deny"');
    expect(html).not.toContain(challenge);
    expect(html).not.toContain('8899');
    const requestId = /name="request_id" value="([0-9a-f]+)"/.exec(html)![1]!;

    const decide = (id: string, decision: string): Promise<Response> =>
      fetch(`${e.url}/authorize/decision`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ request_id: id, decision }).toString(),
        redirect: 'manual',
      });
    const allowed = await decide(requestId, 'allow');
    expect(allowed.status).toBe(302);
    const location = new URL(allowed.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
    expect(location.searchParams.get('state')).toBe(STATE);
    const code = location.searchParams.get('code')!;
    expect((await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC })).status).toBe(200);

    expect((await decide(requestId, 'allow')).status).toBe(400); // single use
    expect((await decide('0'.repeat(32), 'allow')).status).toBe(400);

    const second = /name="request_id" value="([0-9a-f]+)"/.exec(await (await authorize(e, params)).text())![1]!;
    expect((await decide(second, 'maybe')).status).toBe(400);
    const denied = await decide(second, 'deny');
    const deniedAt = new URL(denied.headers.get('location')!);
    expect(deniedAt.searchParams.get('error')).toBe('access_denied');
    expect(deniedAt.searchParams.get('state')).toBe(STATE);

    const third = /name="request_id" value="([0-9a-f]+)"/.exec(await (await authorize(e, params)).text())![1]!;
    clock = T0 + 10 * 60_000;
    expect((await decide(third, 'allow')).status).toBe(400); // expired
    expect((await fetch(`${e.url}/authorize/decision`, { method: 'POST', body: JSON.stringify({ request_id: third }), headers: { 'content-type': 'application/json' } })).status).toBe(400);
  });

  it('setConsent switches the behaviour of later requests', async () => {
    const e = await start();
    e.setConsent('deny');
    const { challenge } = pkce();
    const res = await authorize(e, { response_type: 'code', client_id: PUBLIC, redirect_uri: CALLBACK, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
    expect(() => e.setConsent('maybe' as never)).toThrow();
  });
});

describe('verification_code page (the --code paste flow)', () => {
  it('shows the code instead of redirecting; the pasted code buys tokens', async () => {
    const e = await start();
    expect(e.lastVerificationCode).toBeNull();
    const { verifier, challenge } = pkce();
    const res = await authorize(e, { response_type: 'code', client_id: PUBLIC, redirect_uri: VERIFICATION_CODE_URI, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    const shown = /id="verification-code">([^<]+)</.exec(html)![1]!;
    expect(shown).toBe(e.lastVerificationCode);
    expect((await token(e, { grant_type: 'authorization_code', code: shown, code_verifier: verifier, client_id: PUBLIC })).status).toBe(200);
  });

  it('an app whose only Redirect URI is verification_code may omit redirect_uri; errors show on the page', async () => {
    const e = await start();
    const { verifier, challenge } = pkce();
    const res = await authorize(e, { response_type: 'code', client_id: CODE_ONLY, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(res.status).toBe(200);
    const code = e.lastVerificationCode!;
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: CODE_ONLY, redirect_uri: CALLBACK }),
      400,
      'invalid_grant',
      /redirect_uri/,
    );
    const again = await authorize(e, { response_type: 'code', client_id: CODE_ONLY, code_challenge: challenge, code_challenge_method: 'S256' });
    const code2 = e.lastVerificationCode!;
    expect(again.status).toBe(200);
    expect(
      (await token(e, { grant_type: 'authorization_code', code: code2, code_verifier: verifier, client_id: CODE_ONLY, redirect_uri: VERIFICATION_CODE_URI })).status,
    ).toBe(200);

    const noPkce = await authorize(e, { response_type: 'code', client_id: CODE_ONLY });
    expect(noPkce.status).toBe(400);
    expect(noPkce.headers.get('location')).toBeNull();
    expect(await noPkce.text()).toContain('invalid_request');
    e.setConsent('deny');
    const denied = await authorize(e, { response_type: 'code', client_id: CODE_ONLY, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toContain('access_denied');
    expect(e.lastVerificationCode).toBe(code2);
  });
});

describe('token endpoint: client authentication and request shape', () => {
  async function confidentialCode(e: OAuthEmulator): Promise<string> {
    const res = await authorize(e, { response_type: 'code', client_id: CONFIDENTIAL, redirect_uri: CALLBACK, state: 's' });
    expect(res.status).toBe(302);
    return new URL(res.headers.get('location')!).searchParams.get('code')!;
  }

  it('a confidential client authenticates with the body or HTTP Basic, and only with its secret', async () => {
    const e = await start();
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: CONFIDENTIAL }), 401, 'invalid_client', /client_secret is missing/);
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: CONFIDENTIAL, client_secret: 'wrong' }),
      401,
      'invalid_client',
      /Wrong client secret/,
    );
    const wrongBasic = await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e) }, { headers: { authorization: basic(CONFIDENTIAL, 'wrong') } });
    expectOAuthError(wrongBasic, 401, 'invalid_client');
    expect(wrongBasic.headers.get('www-authenticate')).toMatch(/^Basic/);
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: 'nobody', client_secret: 'x' }), 401, 'invalid_client', /not found/);

    const viaBody = await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: CONFIDENTIAL, client_secret: SECRET });
    expect(viaBody.status).toBe(200);
    const viaBasic = await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e) }, { headers: { authorization: basic(CONFIDENTIAL, SECRET) } });
    expect(viaBasic.status).toBe(200);
    const both = await token(
      e,
      { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: CONFIDENTIAL, client_secret: SECRET },
      { headers: { authorization: basic(CONFIDENTIAL, SECRET) } },
    );
    expect(both.status).toBe(200);
    expectOAuthError(
      await token(
        e,
        { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: CONFIDENTIAL, client_secret: 'other' },
        { headers: { authorization: basic(CONFIDENTIAL, SECRET) } },
      ),
      400,
      'invalid_request',
      /differs/,
    );
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e) }, { headers: { authorization: 'Bearer abc' } }),
      400,
      'invalid_request',
      /Malformed Authorization/,
    );
    // A confidential client may go without PKCE, but then must not send a verifier.
    expectOAuthError(
      await token(e, { grant_type: 'authorization_code', code: await confidentialCode(e), client_id: CONFIDENTIAL, client_secret: SECRET, code_verifier: pkce().verifier }),
      400,
      'invalid_request',
      /no code_challenge/,
    );
  });

  it('a public client has no secret to send', async () => {
    const e = await start();
    const { code, verifier } = await codeFor(e);
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC, client_secret: 'guess' }), 401, 'invalid_client', /public/);
    // An empty client_secret reads as none.
    expect((await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC, client_secret: '' })).status).toBe(200);
  });

  it('takes form bodies only, parameters once, nothing in the URL; grant_type must be known', async () => {
    const e = await start();
    const { code, verifier } = await codeFor(e);
    const form = { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC };
    expectOAuthError(await token(e, form, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(form) }), 400, 'invalid_request', /x-www-form-urlencoded/);
    expectOAuthError(await token(e, form, { query: `?client_id=${PUBLIC}` }), 400, 'invalid_request', /not in the URL/);
    expectOAuthError(await token(e, form, { body: `${new URLSearchParams(form)}&client_id=${PUBLIC}` }), 400, 'invalid_request', /more than once: client_id/);
    expectOAuthError(await token(e, { client_id: PUBLIC }), 400, 'invalid_request', /grant_type/);
    expectOAuthError(await token(e, { grant_type: 'password', client_id: PUBLIC }), 400, 'unsupported_grant_type');
    expectOAuthError(await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier }), 400, 'invalid_request', /client_id/);
    // None of the refusals above consumed the code.
    expect((await token(e, form)).status).toBe(200);
    expect((await fetch(`${e.url}/token`)).status).toBe(405);
  });
});

describe('refresh', () => {
  it('rotates: a new access and refresh token, the old refresh token is refused afterwards', async () => {
    const e = await start();
    const res = await authorize(e, { response_type: 'code', client_id: CONFIDENTIAL, redirect_uri: CALLBACK });
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const first = (await token(e, { grant_type: 'authorization_code', code, client_id: CONFIDENTIAL, client_secret: SECRET })).json;

    expectOAuthError(await token(e, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: CONFIDENTIAL }), 401, 'invalid_client');
    expectOAuthError(await token(e, { grant_type: 'refresh_token', client_id: CONFIDENTIAL, client_secret: SECRET }), 400, 'invalid_request', /refresh_token/);
    clock = T0 + 86_400_000;
    const second = await token(e, { grant_type: 'refresh_token', refresh_token: first.refresh_token }, { headers: { authorization: basic(CONFIDENTIAL, SECRET) } });
    expect(second.status).toBe(200);
    expect(second.json.access_token).not.toBe(first.access_token);
    expect(second.json.refresh_token).not.toBe(first.refresh_token);
    expect(second.json).toMatchObject({ expires_in: 31_536_000, token_type: 'bearer' });
    expect(e.issued.map((t) => t.grant)).toEqual(['authorization_code', 'refresh_token']);
    expect(e.issued[1]!.at).toBe(T0 + 86_400_000);

    expectOAuthError(
      await token(e, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: CONFIDENTIAL, client_secret: SECRET }),
      400,
      'invalid_grant',
      /already been used/,
    );
    expectOAuthError(await token(e, { grant_type: 'refresh_token', refresh_token: 'nope', client_id: CONFIDENTIAL, client_secret: SECRET }), 400, 'invalid_grant');
    expect((await info(e, second.json.access_token)).status).toBe(200);
    const third = await token(e, { grant_type: 'refresh_token', refresh_token: second.json.refresh_token, client_id: CONFIDENTIAL, client_secret: SECRET });
    expect(third.status).toBe(200);
  });

  it('a refresh token belongs to its client and dies with a revoked access token', async () => {
    const e = await start();
    const { code, verifier } = await codeFor(e);
    const first = (await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC })).json;
    expectOAuthError(
      await token(e, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: CONFIDENTIAL, client_secret: SECRET }),
      400,
      'invalid_grant',
      /another client/,
    );
    e.revoke(first.access_token);
    expectOAuthError(await token(e, { grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: PUBLIC }), 400, 'invalid_grant', /revoked/);
    expect(() => e.revoke('never-issued')).toThrow();
  });
});

describe('device flow', () => {
  async function deviceCode(e: OAuthEmulator, form: Record<string, string> = { client_id: CONFIDENTIAL }): Promise<{ status: number; json: any }> {
    const res = await fetch(`${e.url}/device/code`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    return { status: res.status, json: await res.json() };
  }
  const poll = (e: OAuthEmulator, code: string) =>
    token(e, { grant_type: 'device_code', code, client_id: CONFIDENTIAL, client_secret: SECRET });

  it('authorization_pending → slow_down → approve → tokens once; the interval grows after slow_down', async () => {
    const e = await start();
    const started = await deviceCode(e, { client_id: CONFIDENTIAL, device_id: 'ckym-host-1', device_name: 'ckym on build box' });
    expect(started.status).toBe(200);
    expect(started.json).toEqual({
      device_code: expect.stringMatching(/^[0-9a-f]{32}$/),
      user_code: expect.stringMatching(/^[a-z]{8}$/),
      verification_url: `${e.url}/device`,
      interval: 5,
      expires_in: 600,
    });
    const { device_code: code, user_code: userCode } = started.json;
    expect(e.pendingUserCodes).toEqual([userCode]);

    expectOAuthError(await poll(e, code), 400, 'authorization_pending');
    clock += 5000;
    expectOAuthError(await poll(e, code), 400, 'authorization_pending');
    clock += 4999;
    expectOAuthError(await poll(e, code), 400, 'slow_down');
    e.approveDevice(userCode.toUpperCase());
    expect(e.pendingUserCodes).toEqual([]);
    clock += 5000; // the interval is now 10 s
    expectOAuthError(await poll(e, code), 400, 'slow_down');
    clock += 15_000; // and now 15 s
    const done = await poll(e, code);
    expect(done.status).toBe(200);
    expect(done.json).toMatchObject({ expires_in: 31_536_000, token_type: 'bearer' });
    expect(e.issued.map((t) => t.grant)).toEqual(['device_code']);
    expect((await info(e, done.json.access_token)).json.client_id).toBe(CONFIDENTIAL);

    clock += 60_000;
    expectOAuthError(await poll(e, code), 400, 'invalid_grant', /already been used/);
    expect(() => e.approveDevice(userCode)).toThrow();
  });

  it('denied → access_denied; expired → expired_token; the device code is bound to its client', async () => {
    const e = await start({ deviceInterval: 0 });
    const denied = (await deviceCode(e)).json;
    e.approveDevice(denied.user_code, 'deny');
    expectOAuthError(await poll(e, denied.device_code), 400, 'access_denied');

    const late = (await deviceCode(e)).json;
    expectOAuthError(
      await token(e, { grant_type: 'device_code', code: late.device_code, client_id: PUBLIC }),
      400,
      'invalid_grant',
      /another client/,
    );
    clock = T0 + 600_000;
    expect(e.pendingUserCodes).toEqual([]);
    expect(() => e.approveDevice(late.user_code)).toThrow();
    expectOAuthError(await poll(e, late.device_code), 400, 'expired_token');
    expectOAuthError(await poll(e, 'f'.repeat(32)), 400, 'invalid_grant');
  });

  it('takes the device code as "code" and authenticates a confidential client', async () => {
    const e = await start({ deviceInterval: 0 });
    const { device_code: code, user_code: userCode } = (await deviceCode(e)).json;
    e.approveDevice(userCode);
    expectOAuthError(
      await token(e, { grant_type: 'device_code', device_code: code, client_id: CONFIDENTIAL, client_secret: SECRET }),
      400,
      'invalid_request',
      /"code"/,
    );
    expectOAuthError(await token(e, { grant_type: 'device_code', code, client_id: CONFIDENTIAL }), 401, 'invalid_client');
    expect((await poll(e, code)).status).toBe(200);
  });

  it('validates /device/code: known client, device_id 6–50 printable ASCII, device_name ≤ 100', async () => {
    const e = await start();
    expectOAuthError(await deviceCode(e, { client_id: 'nobody' }), 401, 'invalid_client');
    expectOAuthError(await deviceCode(e, {}), 400, 'invalid_request', /client_id/);
    expectOAuthError(await deviceCode(e, { client_id: PUBLIC, device_id: 'short' }), 400, 'invalid_request', /device_id/);
    expectOAuthError(await deviceCode(e, { client_id: PUBLIC, device_id: 'x'.repeat(51) }), 400, 'invalid_request', /device_id/);
    expectOAuthError(await deviceCode(e, { client_id: PUBLIC, device_name: 'n'.repeat(101) }), 400, 'invalid_request', /device_name/);
    expectOAuthError(await deviceCode(e, { client_id: CONFIDENTIAL, client_secret: 'wrong' }), 401, 'invalid_client');
    expect((await deviceCode(e, { client_id: PUBLIC, device_id: 'x'.repeat(50), device_name: 'n'.repeat(100) })).status).toBe(200);
  });

  it('the /device page approves a typed user code (manual demos)', async () => {
    const e = await start({ deviceInterval: 0 });
    const { device_code: code, user_code: userCode } = (await deviceCode(e, { client_id: PUBLIC })).json;
    const form = await fetch(`${e.url}/device`);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="user_code"');
    const post = (body: Record<string, string>) =>
      fetch(`${e.url}/device`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body).toString(),
      });
    expect((await post({ user_code: 'wrongcode', decision: 'allow' })).status).toBe(400);
    expect((await post({ user_code: ` ${userCode.slice(0, 4)}-${userCode.slice(4)} `, decision: 'allow' })).status).toBe(200);
    expect((await token(e, { grant_type: 'device_code', code, client_id: PUBLIC })).status).toBe(200);
  });
});

describe('login-info', () => {
  it('answers for a valid token; 401 when missing, unknown, revoked or expired', async () => {
    const e = await start({ user: { login: 'ivan.petrov', id: '42', display_name: 'Иван' }, expiresIn: 3600 });
    const { code, verifier } = await codeFor(e);
    const { access_token: accessToken } = (await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC })).json;
    expect(await info(e, accessToken)).toEqual({
      status: 200,
      json: { id: '42', login: 'ivan.petrov', client_id: PUBLIC, display_name: 'Иван', psuid: expect.any(String) },
    });
    expect((await info(e, null)).status).toBe(401);
    expect((await info(e, 'y0_unknown')).status).toBe(401);
    expect((await info(e, accessToken, '?format=json', 'Bearer')).status).toBe(401);
    expect((await info(e, accessToken, '')).status).toBe(400);
    expect((await info(e, null, `?format=json&oauth_token=${accessToken}`)).status).toBe(400);
    // Login-info is not on the OAuth base: mixing up the two URLs is a 404.
    expect((await fetch(`${e.url}/info?format=json`, { headers: { authorization: `OAuth ${accessToken}` } })).status).toBe(404);

    clock = T0 + 3_600_000;
    expect((await info(e, accessToken)).status).toBe(401);
    clock = T0;
    e.revoke(accessToken);
    expect((await info(e, accessToken)).status).toBe(401);
  });

  it('issueAccessToken decides the access token (e.g. the one the Metrica emulator accepts)', async () => {
    const e = await start({ issueAccessToken: () => 'y0_AgAAAAATESTTOKEN' });
    const { code, verifier } = await codeFor(e);
    const res = await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC });
    expect(res.json.access_token).toBe('y0_AgAAAAATESTTOKEN');
    expect((await info(e, 'y0_AgAAAAATESTTOKEN')).status).toBe(200);
  });
});

describe('the log and everything else', () => {
  it('records method, path, status and grant type, never a secret, code, token, verifier or state', async () => {
    const e = await start();
    const { code, verifier, location } = await codeFor(e);
    const tokens = (await token(e, { grant_type: 'authorization_code', code, code_verifier: verifier, client_id: PUBLIC })).json;
    await token(e, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: PUBLIC });
    await info(e, tokens.access_token);
    await token(e, { grant_type: 'authorization_code', code: '1234567', client_id: CONFIDENTIAL, client_secret: SECRET });
    expect(e.requests.map(({ method, path, status, grantType }) => ({ method, path, status, grantType }))).toEqual([
      { method: 'GET', path: '/authorize', status: 302, grantType: undefined },
      { method: 'POST', path: '/token', status: 200, grantType: 'authorization_code' },
      { method: 'POST', path: '/token', status: 200, grantType: 'refresh_token' },
      { method: 'GET', path: '/login/info', status: 200, grantType: undefined },
      { method: 'POST', path: '/token', status: 400, grantType: 'authorization_code' },
    ]);
    const logged = JSON.stringify(e.requests);
    for (const secret of [SECRET, code, verifier, tokens.access_token, tokens.refresh_token, location.searchParams.get('state')!, 'st a', PUBLIC]) {
      expect(logged).not.toContain(secret);
    }
  });

  it('answers 404 for anything else and 405 for a wrong method', async () => {
    const e = await start();
    for (const path of ['/', '/callback', '/verification_code', '/token/', '/info', '/login/info/x']) {
      expect((await fetch(`${e.url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${e.url}/authorize`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${e.url}/device/code`)).status).toBe(405);
  });

  it('matches redirect URIs exactly, loopback on any port', () => {
    expect(redirectMatches('http://localhost/callback', 'http://localhost:8899/callback')).toBe(true);
    expect(redirectMatches('http://localhost:1234/callback', 'http://localhost:8899/callback')).toBe(true);
    expect(redirectMatches('http://127.0.0.1/callback', 'http://localhost:8899/callback')).toBe(false);
    expect(redirectMatches('http://localhost/callback', 'http://LOCALHOST:8899/callback')).toBe(false);
    expect(redirectMatches('http://localhost/callback', 'http://localhost:80/callback')).toBe(false);
    expect(redirectMatches('https://app.example/cb', 'https://app.example:8443/cb')).toBe(false);
    expect(redirectMatches(VERIFICATION_CODE_URI, VERIFICATION_CODE_URI)).toBe(true);
    expect(redirectMatches('http://[::1]/callback', 'http://[::1]:5000/callback')).toBe(true);
  });

  it('refuses bad options loudly', async () => {
    await expect(startOAuthEmulator({ clients: [{ clientId: 'a' }, { clientId: 'a' }] })).rejects.toThrow(/twice/);
    await expect(startOAuthEmulator({ clients: [{ clientId: 'a', redirectUris: ['not a uri'] }] })).rejects.toThrow(/redirect URI/);
    await expect(startOAuthEmulator({ clients: [], expiresIn: 0 })).rejects.toThrow(/expiresIn/);
  });
});
