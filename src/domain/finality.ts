/**
 * Is a call ready to be sent, or must it wait for a later run?
 */
import type { Call, Finality } from './types.js';

/**
 * A call is final when it is not in the future, its callback legs are neither in progress (`1/0`)
 * nor scheduled (`2/0`), and it ended at least `settleMinutes` ago (tags and status settle after the call).
 * Checked in that order; a call dated after `nowUnix` (clock skew) is held back as 'future'.
 */
export function finality(call: Call, nowUnix: number, settleMinutes: number): Finality {
  if (call.callTime > nowUnix) return { final: false, reason: 'future' };
  if (call.serviceType === 'callback' && call.statusSecond === 0) {
    if (call.statusFirst === 1) return { final: false, reason: 'in-progress' };
    if (call.statusFirst === 2) return { final: false, reason: 'scheduled' };
  }
  if (nowUnix - (call.callTime + call.duration) < settleMinutes * 60) return { final: false, reason: 'settling' };
  return { final: true };
}
