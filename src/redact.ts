/**
 * Last line of defence for secrets: every text ckym prints passes through `redact`.
 * Secrets are registered where they are read (credentials, environment); nothing else writes here.
 */
const secrets = new Set<string>();

export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= 6) secrets.add(value);
}

/** `x9xx99xx99xxxx99` → `x9xx…99`: enough to tell keys apart, not enough to use one. */
export function mask(value: string): string {
  return value.length <= 6 ? '…' : `${value.slice(0, 4)}…${value.slice(-2)}`;
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(mask(secret));
  }
  return out;
}
