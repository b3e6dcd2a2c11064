import { createHash, randomBytes } from 'node:crypto';

/** RFC 7636: a 43-character base64url verifier and its S256 challenge. The verifier never leaves the process except to /token. */
export interface Pkce {
  verifier: string;
  challenge: string;
}

export function makePkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: challengeOf(verifier) };
}

export function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** An unguessable `state` tying the browser's callback to this login. */
export function makeState(): string {
  return randomBytes(24).toString('base64url');
}
