/**
 * Last line of defence for secrets: every text ckym prints, and every error text it stores, passes through `redact`.
 * Secrets are registered where they are read (credentials, environment, login); nothing else writes here.
 *
 * A secret is masked in every form a server's message or a log may carry it in, not only as it is:
 * URL-encoded (`Ab12+Cd/34=Ef56` → `Ab12%2BCd%2F34%3DEf56`, in either case of hex, or only partly encoded),
 * JSON-escaped (`\/`, `\u002B`, …) and base64 (standard and URL alphabets, at any offset inside a longer
 * base64 text, e.g. an echoed `Authorization: Basic` header).
 */
const secrets = new Set<string>();
/** One matcher per secret, built when it is registered. */
const matchers: { secret: string; pattern: RegExp; base64: string[] }[] = [];

/** Shorter values are not secrets worth the false positives (and are refused as keys anyway). */
const MIN_LENGTH = 6;
/** A base64 fragment shorter than this could occur by chance. */
const MIN_BASE64 = 8;

export function registerSecret(value: string | null | undefined): void {
  if (!value || value.length < MIN_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  matchers.push({ secret: value, pattern: encodedPattern(value), base64: base64Forms(value) });
  // Longer secrets first: one that contains another is masked whole.
  matchers.sort((a, b) => b.secret.length - a.secret.length);
}

/** `x9xx99xx99xxxx99` → `x9xx…99`: enough to tell keys apart, not enough to use one. */
export function mask(value: string): string {
  return value.length <= MIN_LENGTH ? '…' : `${value.slice(0, 4)}…${value.slice(-2)}`;
}

export function redact(text: string): string {
  let out = text;
  for (const { secret, pattern, base64 } of matchers) {
    out = out.replace(pattern, () => mask(secret));
    for (const form of base64) if (out.includes(form)) out = out.split(form).join(mask(secret));
  }
  return out;
}

/** For text that is stored (the database): `redact`, and null stays null. */
export function redactStored<T extends string | null>(text: T): T {
  return (text === null ? null : redact(text)) as T;
}

// ── forms ────────────────────────────────────────────────────────────────────

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** `[aA]` for a hex letter, the digit itself otherwise: percent and \u escapes come in either case. */
const hexClass = (hex: string): string =>
  [...hex].map((d) => (/[a-f]/i.test(d) ? `[${d.toLowerCase()}${d.toUpperCase()}]` : d)).join('');

/**
 * One pattern for the raw, URL-encoded and JSON-escaped forms, and any mix of them: each character of the secret
 * may stand as itself, as its UTF-8 bytes percent-encoded, or as a JSON escape.
 */
function encodedPattern(secret: string): RegExp {
  const parts = [...secret].map((ch) => {
    const options = new Set<string>([escapeRegExp(ch)]);
    const bytes = [...Buffer.from(ch, 'utf8')].map((b) => `%${hexClass(b.toString(16).padStart(2, '0'))}`).join('');
    options.add(bytes);
    if (ch === ' ') options.add('\\+'); // form encoding
    for (const unit of ch.split('')) {
      // (a character outside the BMP is two \u escapes; such a secret is unlikely, but covered)
      options.add(`\\\\u${hexClass(unit.charCodeAt(0).toString(16).padStart(4, '0'))}`);
    }
    const json = JSON.stringify(ch).slice(1, -1);
    if (json !== ch) options.add(escapeRegExp(json));
    if (ch === '/') options.add('\\\\\\/'); // PHP's json_encode writes `\/`
    return options.size === 1 ? escapeRegExp(ch) : `(?:${[...options].join('|')})`;
  });
  return new RegExp(parts.join(''), 'g');
}

/** The base64 text that encodes `secret` at each of the three byte offsets, cut to the characters it alone decides. */
function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set<string>();
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const inner = encoded.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    if (inner.length < MIN_BASE64) continue;
    forms.add(inner);
    forms.add(inner.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms];
}
