import type { Got } from 'got';
import { AuthError, OAuthError, RemoteError } from '../errors.js';
import { parseJsonObject } from '../json.js';
import { createHttp, networkReason } from './http.js';

export const OAUTH_DEFAULT_URL = 'https://oauth.yandex.ru';
export const LOGIN_DEFAULT_URL = 'https://login.yandex.ru';
/** Yandex's page that shows the code to paste (the documented console-app flow). */
export const VERIFICATION_CODE_URI = 'https://oauth.yandex.ru/verification_code';

export interface TokenSet {
  accessToken: string;
  refreshToken?: string | undefined;
  /** Unix ms, when Yandex said. */
  expiresAt?: number | undefined;
}

export interface DeviceCode {
  deviceCode: string;
  userCode: string;
  verificationUrl: string;
  intervalSeconds: number;
  expiresInSeconds: number;
}

export interface OAuthClientOptions {
  oauthUrl: string;
  loginUrl: string;
  clientId: string;
  clientSecret?: string | undefined;
  timeoutMs: number;
  now: () => number;
}

/** Yandex OAuth (authorization code + PKCE, device code, refresh) and login-info. */
export class YandexOAuthClient {
  private http: Got | null = null;

  constructor(private readonly options: OAuthClientOptions) {}

  authorizeUrl(params: { redirectUri: string; state: string; codeChallenge: string; loginHint?: string | undefined }): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: this.options.clientId,
      redirect_uri: params.redirectUri,
      state: params.state,
      code_challenge: params.codeChallenge,
      code_challenge_method: 'S256',
      force_confirm: 'yes',
    });
    if (params.loginHint) query.set('login_hint', params.loginHint);
    return `${base(this.options.oauthUrl)}/authorize?${query}`;
  }

  exchangeCode(code: string, codeVerifier: string, redirectUri?: string): Promise<TokenSet> {
    const form: Record<string, string> = { grant_type: 'authorization_code', code, code_verifier: codeVerifier };
    if (redirectUri) form.redirect_uri = redirectUri;
    return this.token(form);
  }

  refresh(refreshToken: string): Promise<TokenSet> {
    return this.token({ grant_type: 'refresh_token', refresh_token: refreshToken });
  }

  async requestDeviceCode(deviceName: string): Promise<DeviceCode> {
    const json = await this.post('/device/code', { client_id: this.options.clientId, device_name: deviceName });
    return {
      deviceCode: String(json.device_code),
      userCode: String(json.user_code),
      verificationUrl: String(json.verification_url),
      intervalSeconds: Number(json.interval ?? 5),
      expiresInSeconds: Number(json.expires_in ?? 300),
    };
  }

  /** One poll of the device flow: the tokens, or an OAuthError (`authorization_pending`, `slow_down`, …). */
  pollDeviceToken(deviceCode: string): Promise<TokenSet> {
    return this.token({ grant_type: 'device_code', code: deviceCode });
  }

  /** Who the token belongs to (`login.yandex.ru/info`); an AuthError when Yandex does not accept it. */
  async loginInfo(accessToken: string): Promise<{ login: string; id: string }> {
    const http = await this.client();
    let res;
    try {
      res = await http.get(`${base(this.options.loginUrl)}/info?format=json`, { headers: { authorization: `OAuth ${accessToken}` } });
    } catch (error) {
      throw new RemoteError(`Yandex login-info unreachable (${networkReason(error)}); try again later`);
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new AuthError('Yandex does not accept this token (login-info answered 401); run "ckym login" again');
    }
    if (res.statusCode !== 200) throw new RemoteError(`Yandex login-info answered HTTP ${res.statusCode}; try again later`);
    const json = parseJsonObject(res.body);
    return { login: String(json?.login ?? ''), id: String(json?.id ?? '') };
  }

  private async token(form: Record<string, string>): Promise<TokenSet> {
    const json = await this.post('/token', { ...form, ...this.credentials() });
    const accessToken = json.access_token;
    if (typeof accessToken !== 'string' || !accessToken) throw new RemoteError('Yandex OAuth answered without an access_token');
    const expiresIn = Number(json.expires_in);
    return {
      accessToken,
      refreshToken: typeof json.refresh_token === 'string' ? json.refresh_token : undefined,
      expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? this.options.now() + expiresIn * 1000 : undefined,
    };
  }

  private credentials(): Record<string, string> {
    const out: Record<string, string> = { client_id: this.options.clientId };
    if (this.options.clientSecret) out.client_secret = this.options.clientSecret;
    return out;
  }

  private async post(path: string, form: Record<string, string>): Promise<Record<string, unknown>> {
    const http = await this.client();
    let res;
    try {
      res = await http.post(`${base(this.options.oauthUrl)}${path}`, { form });
    } catch (error) {
      throw new RemoteError(`Yandex OAuth unreachable (${networkReason(error)}); try again later`);
    }
    const json = parseJsonObject(res.body);
    if (res.statusCode === 200 && json) return json;
    if (json && typeof json.error === 'string') {
      throw new OAuthError(json.error, typeof json.error_description === 'string' ? json.error_description : '', res.statusCode);
    }
    if (res.statusCode >= 500) throw new RemoteError(`Yandex OAuth answered HTTP ${res.statusCode}; try again later`);
    throw new RemoteError(`Yandex OAuth answered HTTP ${res.statusCode} without an error description`);
  }

  private async client(): Promise<Got> {
    this.http ??= await createHttp({ timeoutMs: this.options.timeoutMs });
    return this.http;
  }
}

const base = (url: string) => url.replace(/\/+$/, '');
