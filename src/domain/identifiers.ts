/**
 * The `identifiers` counter setting's rule: which identifier a call's rows carry.
 *
 * A row names the visitor by Metrica's ClientID (CallKeeper's `yaClid`) or by Yandex Direct's click id (`yclid`,
 * found in the landing URL CallKeeper keeps as `entryPointQuery`). The counter lists the identifiers ckym may use,
 * in order of preference (default: ClientID, then yclid); the first one the call has is used. A call with none is
 * sent as a static call (empty ClientId, StaticCall 1) and never as a conversion.
 */
import type { Call, IdentifierType } from './types.js';

export const IDENTIFIER_TYPES: readonly IdentifierType[] = ['clientId', 'yclid'];
export const DEFAULT_IDENTIFIERS: readonly IdentifierType[] = ['clientId', 'yclid'];

/** The CSV column that holds the identifier. */
export const ID_COLUMN: Record<IdentifierType, 'ClientId' | 'Yclid'> = { clientId: 'ClientId', yclid: 'Yclid' };
/** The upload's `client_id_type` query parameter. */
export const CLIENT_ID_TYPE: Record<IdentifierType, 'CLIENT_ID' | 'YCLID'> = { clientId: 'CLIENT_ID', yclid: 'YCLID' };

export interface Identifier {
  type: IdentifierType;
  value: string;
}

/** Both are unsigned 64-bit numbers in Metrica (Yandex's API tests upload a yclid above 2^63). */
const MAX_ID = 18_446_744_073_709_551_615n;
const DIGITS = /^\d{1,20}$/;

/** True when `value` is what Metrica takes as a ClientId or a Yclid: 1–20 digits, at most 2^64 − 1. */
export function wellFormedId(value: string): boolean {
  return DIGITS.test(value) && BigInt(value) <= MAX_ID;
}

/** The value of query parameter `name` in a URL-like text ('' when absent or unreadable). */
function queryParam(text: string, name: string): string {
  const q = text.indexOf('?');
  // Stryker disable next-line StringLiteral: any text that is not digits is no yclid (yclidOf reads this only)
  if (q < 0) return '';
  const hash = text.indexOf('#', q);
  // Stryker disable next-line EqualityOperator: the search starts at the '?', so a '#' found is never at 0
  const query = text.slice(q + 1, hash < 0 ? undefined : hash);
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (
      // Stryker disable next-line EqualityOperator: a pair starting with '=' is named '', never `name`: skipped by the name check
      eq < 0 ||
      pair.slice(0, eq) !== name
    )
      continue;
    try {
      return decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' ')).trim();
    } catch {
      // Stryker disable next-line StringLiteral: any text that is not digits is no yclid (yclidOf reads this only)
      return '';
    }
  }
  // Stryker disable next-line StringLiteral: any text that is not digits is no yclid (yclidOf reads this only)
  return '';
}

/**
 * The Direct click id the call's landing carried: the first well-formed `yclid=` of `entryPointQuery`, then
 * `entryPoint`, then `callPage`; '' when none (a `yclid=` that is not a number is no yclid).
 */
export function yclidOf(call: Pick<Call, 'entryPointQuery' | 'entryPoint' | 'callPage'>): string {
  for (const text of [call.entryPointQuery, call.entryPoint, call.callPage]) {
    const value = queryParam(text, 'yclid');
    if (
      // Stryker disable next-line ConditionalExpression,StringLiteral: '' (or any other text) is not well-formed anyway
      value !== '' &&
      !/^0+$/.test(value) &&
      wellFormedId(value)
    )
      return value;
  }
  return '';
}

/**
 * The identifier a call's rows carry for a counter: the first of `identifiers` the call has, or null when it has
 * none of them. A ClientID is taken as CallKeeper gave it (a malformed one is found by validation, not skipped over).
 */
export function identifierOf(call: Pick<Call, 'clientId' | 'entryPointQuery' | 'entryPoint' | 'callPage'>, identifiers: readonly IdentifierType[]): Identifier | null {
  for (const type of identifiers) {
    if (type === 'clientId' && call.clientId !== '') return { type, value: call.clientId };
    if (type === 'yclid') {
      const value = yclidOf(call);
      if (value !== '') return { type, value };
    }
  }
  return null;
}
