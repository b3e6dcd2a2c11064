/**
 * The few error classes ckym has. Each maps to one contract exit code; only `main` turns them into one.
 * A CkymError's message is a user-facing sentence (what went wrong and what to do), never a stack.
 */

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  auth: 3,
  remote: 4,
  partial: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class CkymError extends Error {
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags, a bad config file, a bad environment value: exit 2. */
export class ConfigError extends CkymError {
  readonly exitCode = ExitCode.usage;
}

/** Missing, rejected or expired credentials: exit 3. */
export class AuthError extends CkymError {
  readonly exitCode = ExitCode.auth;
}

/** A remote service that stayed unavailable after retries, or answered nonsense: exit 4. */
export class RemoteError extends CkymError {
  readonly exitCode = ExitCode.remote;
}

/** Metrica refused a request other than an upload with an HTTP error (its status and error type kept): exit 4. */
export class MetrikaError extends RemoteError {
  constructor(
    message: string,
    readonly status: number,
    readonly errorType: string,
  ) {
    super(message);
  }
}

/** Metrica rejected an uploaded file (HTTP 400): the batch is quarantined, the counter failed: exit 5 for the run. */
export class UploadRejected extends CkymError {
  readonly exitCode = ExitCode.partial;
}

/** A failed Yandex OAuth token request: Yandex's `error` code (authorization_pending, invalid_grant, …) and description. */
export class OAuthError extends AuthError {
  constructor(
    readonly code: string,
    readonly description: string,
    readonly status: number,
  ) {
    super(`Yandex OAuth refused: ${code}${description ? ` (${description})` : ''}`);
  }
}

/** A local problem the user can fix: unreadable database, full disk, unwritable home: exit 1 with a clear sentence. */
export class LocalError extends CkymError {
  readonly exitCode = ExitCode.internal;
}

/** A file or folder ckym trusts that belongs to another user (src/files.ts): refused, never used. */
export class ForeignOwnerError extends LocalError {}

export function isCkymError(error: unknown): error is CkymError {
  return error instanceof CkymError;
}
