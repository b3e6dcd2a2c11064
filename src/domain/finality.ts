/**
 * Is a call ready to be sent, or must it wait for a later run?
 */
import type { Call, Finality, WaitReason } from './types.js';

/**
 * The callback leg pairs (CallKeeper's telephony/callstatus.md) that say the call is not over yet: in progress
 * (`1/0`, «Звонок идёт в настоящий момент»), scheduled (`2/0`, «Звонок запланирован») and waiting for a status
 * update (`707/0`, «Звонок в ожидании обновления статуса»). Every other pair is a final outcome.
 */
const UNFINISHED: Readonly<Record<number, WaitReason>> = { 1: 'in-progress', 2: 'scheduled', 707: 'awaiting-status' };

/** How long an unfinished callback is waited for (config `sync.maxWaitHours`); then it is decided as it stands. */
export const MAX_WAIT_HOURS = 72;

/**
 * A call is final when it is not in the future, its callback legs are not unfinished (`1/0`, `2/0`, `707/0`) —
 * unless it has waited `maxWaitHours` since it started: then it is decided as it stands (a status CallKeeper never
 * updates must not hold a call back for ever; an older CallKeeper table even calls 707/0 an operator error) — and
 * it ended at least `settleMinutes` ago (tags and status settle after the call).
 * Checked in that order; a call dated after `nowUnix` (clock skew) is held back as 'future'. A call decided as it
 * stands says which wait it was still in (`waitedOut`): the run records it with the call's decisions, and stats count it.
 */
export function finality(call: Call, nowUnix: number, settleMinutes: number, maxWaitHours = MAX_WAIT_HOURS): Finality {
  if (call.callTime > nowUnix) return { final: false, reason: 'future' };
  const unfinished = call.serviceType === 'callback' && call.statusSecond === 0 ? UNFINISHED[call.statusFirst] : undefined;
  if (unfinished && nowUnix - call.callTime < maxWaitHours * 3600) return { final: false, reason: unfinished };
  if (nowUnix - (call.callTime + call.duration) < settleMinutes * 60) return { final: false, reason: 'settling' };
  // Stryker disable next-line ConditionalExpression: `true`: `waitedOut: undefined` is read as none (`fin.waitedOut ?? null`)
  return unfinished ? { final: true, waitedOut: unfinished } : { final: true };
}
