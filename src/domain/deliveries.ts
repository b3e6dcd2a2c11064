/**
 * What one call means for one counter: one delivery per kind, each pending (with its row and the identifier type
 * of the file it goes in), skipped (with the reason), waiting (not final yet) or malformed (a row Metrica would
 * refuse, kept aside with the reason).
 */
import { decide } from './decide.js';
import { identifierOf } from './identifiers.js';
import { callRow, conversionRow, deliveryKinds } from './rows.js';
import { rowProblem, type RowChecks } from './validate.js';
import type { Call, CounterSettings, DeliveryKind, Finality, IdentifierType, MalformedReason, Row, SkipReason, WaitReason } from './types.js';

export type DeliveryDecision =
  | { kind: DeliveryKind; state: 'pending'; row: Row; idType: IdentifierType }
  | { kind: DeliveryKind; state: 'skipped'; reason: SkipReason }
  | { kind: DeliveryKind; state: 'waiting'; reason: WaitReason }
  | { kind: DeliveryKind; state: 'malformed'; reason: MalformedReason };

/**
 * One delivery per kind of `deliveryKinds(counter)`.
 * Not final → every kind waits with `fin.reason`. Final but not taken → every kind is skipped with
 * decide()'s reason. Taken → the row is checked (`rowProblem`: time and identifier) and is malformed or pending:
 * `call` with its row (identified by the counter's first identifier the call has, else static in the ClientId
 * file); `conversion` with its row, or skipped as 'no-client-id' when the call has no identifier at all.
 */
export function decideDeliveries(call: Call, counter: CounterSettings, fin: Finality, checks: RowChecks = {}): DeliveryDecision[] {
  const kinds = deliveryKinds(counter);
  if (!fin.final) return kinds.map((kind) => ({ kind, state: 'waiting', reason: fin.reason }));
  const decision = decide(call, counter);
  if (!decision.take) return kinds.map((kind) => ({ kind, state: 'skipped', reason: decision.reason }));
  const identifier = identifierOf(call, counter.identifiers);
  const problem = rowProblem(call.callTime, identifier, checks);
  return kinds.map((kind): DeliveryDecision => {
    if (kind === 'call') {
      if (problem) return { kind, state: 'malformed', reason: problem };
      return { kind, state: 'pending', row: callRow(call, counter, identifier), idType: identifier?.type ?? 'clientId' };
    }
    const row = conversionRow(call, counter, identifier);
    if (!row) return { kind, state: 'skipped', reason: 'no-client-id' };
    if (problem) return { kind, state: 'malformed', reason: problem };
    return { kind, state: 'pending', row, idType: identifier!.type };
  });
}
