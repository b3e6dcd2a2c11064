/**
 * Loopback emulators of CallKeeper and Yandex Metrica, and a deterministic call generator,
 * for tests and local experiments. Written from the specs alone: nothing here imports ckym's code.
 */
export { startCallKeeperEmulator, CALLKEEPER_ERRORS } from './callkeeper.js';
export type { CallKeeperEmulator, CallKeeperEmulatorOptions, CallKeeperFault, CallKeeperRequest } from './callkeeper.js';
export { startMetrikaEmulator, UPLOAD_TOO_EARLY_MESSAGE } from './metrika.js';
export type {
  MetrikaCounterSeed,
  MetrikaEmulator,
  MetrikaEmulatorOptions,
  MetrikaFault,
  MetrikaGoal,
  MetrikaRequest,
  ReceivedUpload,
  UploadKind,
  UploadingStatus,
} from './metrika.js';
export { generateCalls, generateCounters, mulberry32, DEFAULT_SITES, TAG_POOL } from './generate.js';
export type { GenerateCallsOptions } from './generate.js';
export { parseCsv, CsvSyntaxError } from './csv.js';
export { parseMultipart, parseMediaType, MultipartError } from './multipart.js';
export type { MultipartPart } from './multipart.js';
export { startOAuthEmulator, redirectMatches, VERIFICATION_CODE_URI, DEFAULT_REDIRECT_URIS, type OAuthEmulator, type OAuthEmulatorOptions, type OAuthClientSeed, type OAuthConsent, type OAuthGrant, type OAuthRequest, type IssuedToken } from './oauth.js';
