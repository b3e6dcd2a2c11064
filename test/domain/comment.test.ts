import { describe, expect, it } from 'vitest';
import { commentAllowed, formatBatchComment, isCkymComment, parseBatchComment, parseLegacyBatchComment } from '../../src/domain/comment.js';

describe('the upload comment (12.5): digits and Latin letters only, naming the installation, the batch and its newest call', () => {
  it('formats ckym + installation + b + batch + t + newest DateTime, and parses it back', () => {
    const facts = { installation: '3f2a9c0d1e2f', batchId: 42, newest: 1_732_900_000 };
    const comment = formatBatchComment(facts);
    expect(comment).toBe('ckym3f2a9c0d1e2fb42t1732900000');
    expect(comment).toMatch(/^ckym([0-9a-f]{12})b([0-9]+)t([0-9]+)$/);
    expect(commentAllowed(comment)).toBe(true);
    expect(parseBatchComment(comment)).toEqual(facts);
  });

  it('is what Metrica accepts for any batch: at most 255 digits and letters', () => {
    const comment = formatBatchComment({ installation: 'ffffffffffff', batchId: Number.MAX_SAFE_INTEGER, newest: 99_999_999_999 });
    expect(comment.length).toBeLessThanOrEqual(255);
    expect(commentAllowed(comment)).toBe(true);
    // a row dated before 1970 would never be sent, but must not put a "-" in the comment
    expect(formatBatchComment({ installation: '000000000000', batchId: 1, newest: -10_800 })).toBe('ckym000000000000b1t0');
  });

  it('refuses to format a comment Metrica would refuse', () => {
    expect(() => formatBatchComment({ installation: '3F2A9C0D1E2F', batchId: 1, newest: 1 })).toThrow(RangeError);
    expect(() => formatBatchComment({ installation: '3f2a9c0d1e2f', batchId: -1, newest: 1 })).toThrow(RangeError);
  });

  it('parses nothing else', () => {
    for (const text of ['', 'ckym3f2a9c0d1e2fb42', 'ckym3f2a9c0d1e2fb42t', 'ckym3f2a9c0d1e2b42t1', 'ckymXXXXXXXXXXXXb1t1', 'ckym3f2a9c0d1e2fb42t1 ', 'xckym3f2a9c0d1e2fb42t1']) {
      expect(parseBatchComment(text), text).toBeNull();
    }
  });

  it('recognises the old form, for batches sent before (reconciliation matches the stored comment either way)', () => {
    expect(parseLegacyBatchComment('ckym batch 3f2a9c0d1e2f-42')).toEqual({ installation: '3f2a9c0d1e2f', batchId: 42 });
    expect(parseLegacyBatchComment('ckym3f2a9c0d1e2fb42t1732900000')).toBeNull();
    expect(isCkymComment('ckym batch 3f2a9c0d1e2f-42')).toBe(true);
    expect(isCkymComment('ckym3f2a9c0d1e2fb42t1732900000')).toBe(true);
    expect(isCkymComment('someone else')).toBe(false);
    // the old form is what Metrica now refuses
    expect(commentAllowed('ckym batch 3f2a9c0d1e2f-42')).toBe(false);
  });

  it('commentAllowed: digits, Latin and Cyrillic letters; nothing else; 255 at most', () => {
    expect(commentAllowed('Звонки2024abc')).toBe(true);
    expect(commentAllowed('')).toBe(true);
    for (const bad of ['a b', 'a-b', 'a_b', 'a:b', 'a.b', 'ü']) expect(commentAllowed(bad), bad).toBe(false);
    expect(commentAllowed('я'.repeat(255))).toBe(true);
    expect(commentAllowed('я'.repeat(256))).toBe(false);
  });
});

describe('the upload comment at its edges (mutation testing)', () => {
  it('an installation id is exactly 12 lowercase hex digits, nothing before or after', () => {
    for (const installation of ['3f2a9c0d1e2', '3f2a9c0d1e2f0', 'x3f2a9c0d1e2f', '3f2a9c0d1e2fx', '3f2a9c0d1e2g']) {
      expect(() => formatBatchComment({ installation, batchId: 1, newest: 1 }), installation).toThrow(
        new RangeError(`not an installation id: ${JSON.stringify(installation)}`),
      );
    }
  });

  it('a batch id is a whole number from 0 up to the largest safe integer', () => {
    expect(formatBatchComment({ installation: '3f2a9c0d1e2f', batchId: 0, newest: 5 })).toBe('ckym3f2a9c0d1e2fb0t5');
    for (const batchId of [1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, -1]) {
      expect(() => formatBatchComment({ installation: '3f2a9c0d1e2f', batchId, newest: 1 }), String(batchId)).toThrow(new RangeError(`not a batch id: ${batchId}`));
    }
  });

  it('the newest DateTime is written in whole seconds', () => {
    expect(formatBatchComment({ installation: '3f2a9c0d1e2f', batchId: 7, newest: 1_732_900_000.9 })).toBe('ckym3f2a9c0d1e2fb7t1732900000');
  });

  it('a comment whose numbers are past what JavaScript counts exactly is not ckym\'s', () => {
    expect(parseBatchComment('ckym3f2a9c0d1e2fb9007199254740993t1')).toBeNull();
    expect(parseBatchComment('ckym3f2a9c0d1e2fb1t9007199254740993')).toBeNull();
    expect(parseBatchComment('ckym3f2a9c0d1e2fb9007199254740991t0')).toEqual({ installation: '3f2a9c0d1e2f', batchId: 9_007_199_254_740_991, newest: 0 });
    expect(parseLegacyBatchComment('ckym batch 3f2a9c0d1e2f-9007199254740993')).toBeNull();
    expect(parseLegacyBatchComment('xckym batch 3f2a9c0d1e2f-1')).toBeNull();
    expect(parseLegacyBatchComment('ckym batch 3f2a9c0d1e2f-1x')).toBeNull();
  });
});
