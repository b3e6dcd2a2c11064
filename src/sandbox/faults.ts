/** Faults queued on an emulator by a test: each one answers the next `times` requests it matches, then is gone. */
export class FaultQueue<F extends { times?: number | undefined }> {
  private readonly queued: { fault: F; left: number }[] = [];

  push(fault: F): void {
    const times = fault.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error('fault.times must be a positive integer');
    this.queued.push({ fault, left: times });
  }

  /** The first queued fault that `matches`, counted as used once; null when none does. */
  take(matches: (fault: F) => boolean): F | null {
    const index = this.queued.findIndex((q) => matches(q.fault));
    if (index < 0) return null;
    const queued = this.queued[index]!;
    queued.left -= 1;
    if (queued.left <= 0) this.queued.splice(index, 1);
    return queued.fault;
  }
}
