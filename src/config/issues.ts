/**
 * What a config problem says: the key path (`counters[0].status`), what was expected and what was found,
 * and for an unknown key the closest known one. Shared by the config file's checks and the settings' flags.
 */
import { z } from 'zod';

export function keyPath(parts: readonly (string | number)[]): string {
  if (parts.length === 0) return '(top level)';
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function valueAt(raw: unknown, parts: readonly (string | number)[]): unknown {
  let current = raw;
  for (const p of parts) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[p];
  }
  return current;
}

/** `expected one of "all", "callback"` … — what the issue wanted, without what was found. */
export function describeExpected(issue: z.ZodIssue): string {
  switch (issue.code) {
    case 'invalid_enum_value':
      return `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
    case 'invalid_type':
      return `expected ${issue.expected === 'integer' ? 'a whole number' : issue.expected}`;
    case 'too_small': {
      const bound = issue.type === 'array' || issue.type === 'string' ? 'at least' : issue.inclusive ? 'a value ≥' : 'a value >';
      return `expected ${bound} ${String(issue.minimum)}${issue.type === 'string' ? ' characters' : ''}`;
    }
    case 'too_big': {
      const bound = issue.type === 'array' || issue.type === 'string' ? 'at most' : issue.inclusive ? 'a value ≤' : 'a value <';
      return `expected ${bound} ${String(issue.maximum)}${issue.type === 'string' ? ' characters' : ''}`;
    }
    case 'invalid_string':
      return `expected ${issue.message}`;
    case 'invalid_union': {
      const specific = issue.unionErrors.flatMap((e) => e.issues.filter((i) => i.code === 'invalid_string').map((i) => i.message))[0];
      return `expected ${specific ?? 'a different value'}`;
    }
    case 'not_finite':
      return 'expected a finite number';
    default:
      return issue.message;
  }
}

/** The whole sentence for a value in the config file: expected …; got …. */
export function describeIssue(issue: z.ZodIssue, raw: unknown): string {
  const got = valueAt(raw, issue.path);
  const shown = got === undefined ? 'nothing' : issue.code === 'invalid_type' && issue.received === 'null' ? 'null' : JSON.stringify(got);
  return `${describeExpected(issue)}; got ${shown}`;
}

// ── unknown keys ────────────────────────────────────────────────────────────

export interface UnknownKey {
  path: (string | number)[];
  /** The keys the schema knows at that place. */
  known: string[];
  /** The closest of them, when one is close enough to be a misspelling. */
  closest: string | null;
}

/**
 * Every key of `raw` the schema does not know, anywhere in the tree. `__proto__` counts: JSON.parse makes it an
 * own property (and a JS config that sets an object's prototype is reported as that key too).
 */
export function unknownKeys(schema: z.ZodTypeAny, raw: unknown, at: (string | number)[] = []): UnknownKey[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject && raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const shape = inner.shape as Record<string, z.ZodTypeAny>;
    const known = Object.keys(shape);
    const found: UnknownKey[] = [];
    const proto = Object.getPrototypeOf(raw) as unknown;
    if (proto !== Object.prototype && proto !== null && !Object.hasOwn(raw, '__proto__')) {
      found.push({ path: [...at, '__proto__'], known, closest: null });
    }
    for (const key of Object.keys(raw)) {
      const value = (raw as Record<string, unknown>)[key];
      if (!Object.hasOwn(shape, key)) found.push({ path: [...at, key], known, closest: closestKey(key, known) });
      else found.push(...unknownKeys(shape[key]!, value, [...at, key]));
    }
    return found;
  }
  if (inner instanceof z.ZodArray && Array.isArray(raw)) {
    return raw.flatMap((item, i) => unknownKeys(inner.element as z.ZodTypeAny, item, [...at, i]));
  }
  return [];
}

/** `counters[0].minDurations: unknown key; did you mean "minDuration"?` */
export function describeUnknownKey(u: UnknownKey): string {
  const hint = u.closest ? `did you mean "${u.closest}"?` : `known keys here: ${u.known.join(', ')}`;
  return `${keyPath(u.path)}: unknown key; ${hint}`;
}

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodDefault) current = current._def.innerType;
    else if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap();
    else if (current instanceof z.ZodEffects) current = current.innerType();
    else return current;
  }
}

/** The known key within a small edit distance of `key` (case ignored), or null. */
export function closestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  return bestDistance <= allowed ? best : null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = row;
  }
  return previous[b.length]!;
}
