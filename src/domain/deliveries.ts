/**
 * What one call means for one counter: one delivery per kind, each pending (with its row),
 * skipped (with the reason) or waiting (not final yet).
 */
import { decide } from './decide.js';
import { callRow, conversionRow, deliveryKinds } from './rows.js';
import type { Call, CounterSettings, DeliveryKind, Finality, Row, SkipReason, WaitReason } from './types.js';

export type DeliveryDecision =
  | { kind: DeliveryKind; state: 'pending'; row: Row }
  | { kind: DeliveryKind; state: 'skipped'; reason: SkipReason }
  | { kind: DeliveryKind; state: 'waiting'; reason: WaitReason };

/**
 * One delivery per kind of `deliveryKinds(counter)`.
 * Not final → every kind waits with `fin.reason`. Final but not taken → every kind is skipped with
 * decide()'s reason. Taken → `call` pending with its row; `conversion` pending with its row, or
 * skipped as 'no-client-id' when the call has no ClientID.
 */
export function decideDeliveries(call: Call, counter: CounterSettings, fin: Finality): DeliveryDecision[] {
  const kinds = deliveryKinds(counter);
  if (!fin.final) return kinds.map((kind) => ({ kind, state: 'waiting', reason: fin.reason }));
  const decision = decide(call, counter);
  if (!decision.take) return kinds.map((kind) => ({ kind, state: 'skipped', reason: decision.reason }));
  return kinds.map((kind): DeliveryDecision => {
    if (kind === 'call') return { kind, state: 'pending', row: callRow(call, counter) };
    const row = conversionRow(call, counter);
    return row ? { kind, state: 'pending', row } : { kind, state: 'skipped', reason: 'no-client-id' };
  });
}
