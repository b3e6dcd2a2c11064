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

/**
 * A call is final when it is not in the future, its callback legs are not unfinished (`1/0`, `2/0`, `707/0`),
 * and it ended at least `settleMinutes` ago (tags and status settle after the call).
 * Checked in that order; a call dated after `nowUnix` (clock skew) is held back as 'future'.
 */
export function finality(call: Call, nowUnix: number, settleMinutes: number): Finality {
  if (call.callTime > nowUnix) return { final: false, reason: 'future' };
  if (call.serviceType === 'callback' && call.statusSecond === 0) {
    const reason = UNFINISHED[call.statusFirst];
    if (reason) return { final: false, reason };
  }
  if (nowUnix - (call.callTime + call.duration) < settleMinutes * 60) return { final: false, reason: 'settling' };
  return { final: true };
}
