import { describe, expect, it } from 'vitest';
import { MAX_WAIT_DAYS, fetchWindow, linkCutoff, runOutcome, waitHorizon, type WindowInput } from '../../src/domain/run.js';

const DAY = 86_400;
const NOW = Date.parse('2024-05-20T09:00:00Z') / 1000;
const window = (over: Partial<WindowInput>): WindowInput => ({
  now: NOW,
  cursors: [],
  initialDays: 7,
  lookbackHours: 24,
  ...over,
});

describe('fetchWindow: what one run fetches, for all its counters', () => {
  it('a first run reaches initialDays back, up to now', () => {
    expect(fetchWindow(window({ cursors: [null] }))).toEqual({ from: NOW - 7 * DAY, to: NOW });
    expect(fetchWindow(window({ cursors: [null], initialDays: 30 }))).toEqual({ from: NOW - 30 * DAY, to: NOW });
  });

  it('a later run starts at the cursor minus the look-back (fractional hours rounded to the second)', () => {
    expect(fetchWindow(window({ cursors: [NOW - 900] }))).toEqual({ from: NOW - 900 - 24 * 3600, to: NOW });
    expect(fetchWindow(window({ cursors: [NOW - 900], lookbackHours: 0 }))).toEqual({ from: NOW - 900, to: NOW });
    expect(fetchWindow(window({ cursors: [NOW], lookbackHours: 0.0001 })).from).toBe(NOW);
    expect(fetchWindow(window({ cursors: [NOW], lookbackHours: 1.5 })).from).toBe(NOW - 5400);
  });

  it('the earliest counter decides: a counter never fetched pulls the window back for all', () => {
    expect(fetchWindow(window({ cursors: [NOW - 900, NOW - 3 * DAY] })).from).toBe(NOW - 4 * DAY);
    expect(fetchWindow(window({ cursors: [NOW - 3 * DAY, NOW - 900] })).from).toBe(NOW - 4 * DAY);
    expect(fetchWindow(window({ cursors: [NOW - 900, null] })).from).toBe(NOW - 7 * DAY);
  });

  it('--since replaces the start, whatever the cursors and the waiting calls', () => {
    const since = NOW - 90 * DAY;
    expect(fetchWindow(window({ since, cursors: [NOW - 900, null] }))).toEqual({ from: since, to: NOW });
    expect(fetchWindow(window({ since: NOW - 3600, cursors: [null] }))).toEqual({ from: NOW - 3600, to: NOW });
  });

  it('no counters: an empty window at now', () => {
    expect(fetchWindow(window({}))).toEqual({ from: NOW, to: NOW });
  });
});

describe('waitHorizon', () => {
  it('a call waited on pulls the window back at most 60 days', () => {
    expect(MAX_WAIT_DAYS).toBe(60);
    expect(waitHorizon(NOW)).toBe(NOW - 60 * DAY);
  });
});

describe('linkCutoff', () => {
  it('calls more than 21 days older than the upload cannot be linked to a visit', () => {
    expect(linkCutoff(NOW)).toBe(NOW - 21 * DAY);
  });
});

describe('runOutcome: how a run that got through its fetch ended', () => {
  const ok = (delivered: number) => ({ delivered, error: null });
  const failed = (exitCode: number) => ({ delivered: 0, error: { exitCode } });

  it('no counter failed: ok, exit 0 (also when nothing was delivered, and with no counters)', () => {
    expect(runOutcome([ok(3), ok(0)])).toEqual({ outcome: 'ok', exitCode: 0 });
    expect(runOutcome([ok(0)])).toEqual({ outcome: 'ok', exitCode: 0 });
    expect(runOutcome([])).toEqual({ outcome: 'ok', exitCode: 0 });
  });

  it('only "unavailable" failures and nothing delivered anywhere: the run did not get through (failed, 4)', () => {
    expect(runOutcome([failed(4), failed(4)])).toEqual({ outcome: 'failed', exitCode: 4 });
    expect(runOutcome([failed(4), ok(0)])).toEqual({ outcome: 'failed', exitCode: 4 });
  });

  it('some counters failed while others were delivered: partial, 5', () => {
    expect(runOutcome([failed(4), ok(1)])).toEqual({ outcome: 'partial', exitCode: 5 });
  });

  it('a failure other than "unavailable" (a rejected file, an internal error) is partial, 5, even with nothing delivered', () => {
    expect(runOutcome([failed(5)])).toEqual({ outcome: 'partial', exitCode: 5 });
    expect(runOutcome([failed(4), failed(1)])).toEqual({ outcome: 'partial', exitCode: 5 });
  });

  it('rows a failed counter delivered before it failed do not count as delivered elsewhere', () => {
    expect(runOutcome([{ delivered: 10, error: { exitCode: 4 } }])).toEqual({ outcome: 'failed', exitCode: 4 });
  });
});

describe('runOutcome: refused rows (mutation testing)', () => {
  it('a counter with rows refused and no error is partial, 5: the rows were kept aside', () => {
    expect(runOutcome([{ delivered: 3, error: null, refused: 2 }])).toEqual({ outcome: 'partial', exitCode: 5 });
    expect(runOutcome([{ delivered: 0, error: null, refused: 1 }, { delivered: 4, error: null }])).toEqual({ outcome: 'partial', exitCode: 5 });
    expect(runOutcome([{ delivered: 3, error: null, refused: 0 }])).toEqual({ outcome: 'ok', exitCode: 0 });
  });
});
