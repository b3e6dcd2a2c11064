/** Decisions as the store's tests record them. */
import type { DeliveryRecord } from '../../src/store/store.js';

/** A pending call delivery of `counterId` dated `callTime`, its row (call id, call time). */
export const pendingCall = (callId: string, callTime: number, counterId = 1): DeliveryRecord => ({
  counterId,
  callId,
  kind: 'call',
  state: 'pending',
  reason: null,
  row: [callId, String(callTime)],
  callTime,
});
