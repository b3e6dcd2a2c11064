import type { Timer } from '../../src/clients/retry.js';

/** A clock that only moves when told to or when someone sleeps on it: retry tests take no wall time. */
export class FakeTimer implements Timer {
  /** Every wait asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(private t = Date.parse('2024-05-20T09:00:00Z')) {}

  now(): number {
    return this.t;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }

  /** Lets time pass (an attempt that takes a while). */
  advance(ms: number): void {
    this.t += ms;
  }
}
