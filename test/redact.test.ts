import { describe, expect, it } from 'vitest';
import { mask, redact, redactStored, registerSecret } from '../src/redact.js';
import { secretForms } from './support/secrets.js';

// The example: a key with the three characters URL-encoding changes.
const KEY = 'Ab12+Cd/34=Ef56';
const TOKEN = 'y0_AgAAAAredactTESTtoken0123456789';
registerSecret(KEY);
registerSecret(TOKEN);

describe('redact', () => {
  it('masks a secret as it is', () => {
    expect(redact(`key ${KEY} here`)).toBe(`key ${mask(KEY)} here`);
    expect(mask(KEY)).toBe('Ab12…56');
  });

  it('masks every form the tests search for: URL-encoded, JSON-escaped, base64 at any offset', () => {
    for (const secret of [KEY, TOKEN]) {
      for (const { form, text } of secretForms(secret)) {
        const out = redact(`before ${text} after`);
        expect(out, form).not.toContain(text);
        expect(out, form).toContain(mask(secret));
      }
    }
  });

  it('masks the forms a server echoes: a URL path, a PHP JSON message, a Basic header, a partly encoded URL', () => {
    const url = `https://ckct.ru/api/?json/v3/Ab12%2BCd%2F34%3DEf56/call/get/0/1/2`;
    expect(redact(url)).toBe(`https://ckct.ru/api/?json/v3/${mask(KEY)}/call/get/0/1/2`);
    expect(redact(`{"error":"bad key Ab12+Cd\\/34=Ef56"}`)).toBe(`{"error":"bad key ${mask(KEY)}"}`);
    expect(redact('Ab12%2bCd%2f34%3dEf56')).toBe(mask(KEY)); // lower-case hex
    expect(redact('Ab12+Cd/34%3DEf56')).toBe(mask(KEY)); // encodeURI leaves + and / alone
    expect(redact('Ab12\\u002BCd\\u002f34\\u003dEf56')).toBe(mask(KEY));
    const basic = Buffer.from(`user:${TOKEN}`).toString('base64');
    expect(redact(`Authorization: Basic ${basic}`)).not.toContain(Buffer.from(TOKEN).toString('base64').slice(0, 20));
  });

  it('leaves other text alone, and null stored as null', () => {
    expect(redact('Ab12 Cd 34 Ef56 and y0_Ag')).toBe('Ab12 Cd 34 Ef56 and y0_Ag');
    expect(redactStored(null)).toBeNull();
    expect(redactStored(`HTTP 400: ${TOKEN}`)).toBe(`HTTP 400: ${mask(TOKEN)}`);
  });

  it('is fast enough for a large document (2 MB of CSV through two secrets)', () => {
    const big = 'ClientId,DateTime,PhoneNumber\n' + '1700000000123456789,1716195600,+79991234567\n'.repeat(45_000);
    const started = performance.now();
    expect(redact(big)).toBe(big);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
