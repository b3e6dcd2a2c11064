import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { isValidTimeZone } from '../domain/timezone.js';
import { configSchema, type Config } from './schema.js';

export const MODULE_NAME = 'ckym';

export const SEARCH_PLACES = [
  'ckym.config.json',
  '.ckymrc',
  '.ckymrc.json',
  'ckym.config.js',
  'ckym.config.mjs',
  'ckym.config.cjs',
  'package.json',
];

export interface LoadedConfig {
  config: Config;
  /** The file it came from; null when none was found (defaults only). */
  filepath: string | null;
  /** Non-fatal findings, e.g. unknown keys. */
  warnings: string[];
}

export interface LoadConfigOptions {
  /** `--config PATH`; else cosmiconfig searches from `cwd` up, then the user config dir. */
  configPath?: string | undefined;
  cwd: string;
}

/** Finds, reads and validates the config. Throws ConfigError (exit 2) naming the file and key path. */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const explorer = cosmiconfig(MODULE_NAME, {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'global',
    cache: false,
  });
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  const explicit = options.configPath ? path.resolve(options.cwd, options.configPath) : null;
  try {
    found = explicit ? await explorer.load(explicit) : await explorer.search(options.cwd);
  } catch (error) {
    throw readFailure(error, explicit);
  }
  if (!found) {
    // cosmiconfig answers null for a named file whose content is `null`: that is not "no config".
    if (explicit) validateConfig(null, explicit); // throws: "(top level): expected object; got null"
    return { config: configSchema.parse({}), filepath: null, warnings: [] };
  }
  const raw = found.isEmpty ? {} : found.config;
  return { ...validateConfig(raw, found.filepath), filepath: found.filepath };
}

function readFailure(error: unknown, explicit: string | null): ConfigError {
  const err = error as NodeJS.ErrnoException;
  if (explicit && err.code === 'ENOENT') {
    return new ConfigError(`config file not found: ${explicit} (check --config, or run "ckym counters add" to create one)`);
  }
  // cosmiconfig: "JSON Error in FILE:\n<what and where>" — keep both, on one line.
  const [header = '', ...rest] = (err.message ?? String(error)).split('\n').map((l) => l.trim()).filter(Boolean);
  if (rest.length === 0) return new ConfigError(`cannot read the config file: ${header}`, { cause: error });
  return new ConfigError(`cannot read the config file: ${header.replace(/:$/, '')}: ${rest.join(' ')} (fix it and run again)`, { cause: error });
}

/** Validates an already-parsed config object. Exported for `counters add/edit`, which validate before writing. */
export function validateConfig(raw: unknown, filepath: string): { config: Config; warnings: string[] } {
  const file = displayPath(filepath);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${file}: ${keyPath(issue.path)}: ${describeIssue(issue, raw)}`);
    throw new ConfigError(lines.join('\n'));
  }
  const config = result.data;
  const problems: string[] = [];
  if (!isValidTimeZone(config.callkeeper.timezone)) {
    problems.push(
      `${file}: callkeeper.timezone: expected an IANA time zone such as "Europe/Moscow"; got ${JSON.stringify(config.callkeeper.timezone)}`,
    );
  }
  const seen = new Set<number>();
  config.counters.forEach((counter, i) => {
    if (seen.has(counter.id)) problems.push(`${file}: counters[${i}].id: counter ${counter.id} is configured twice; keep one entry`);
    seen.add(counter.id);
  });
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  const warnings = unknownKeys(configSchema, raw, []).map(
    (p) => `${file}: ${p}: unknown key, ignored (check its spelling)`,
  );
  return { config, warnings };
}

function displayPath(filepath: string): string {
  const rel = path.relative(process.cwd(), filepath);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : filepath;
}

export function keyPath(parts: readonly (string | number)[]): string {
  if (parts.length === 0) return '(top level)';
  return parts
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
}

function valueAt(raw: unknown, parts: readonly (string | number)[]): unknown {
  let current = raw;
  for (const p of parts) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[p];
  }
  return current;
}

function describeIssue(issue: z.ZodIssue, raw: unknown): string {
  const got = valueAt(raw, issue.path);
  const shown = got === undefined ? 'nothing' : JSON.stringify(got);
  switch (issue.code) {
    case 'invalid_enum_value':
      return `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}; got ${shown}`;
    case 'invalid_type':
      return `expected ${issue.expected}; got ${got === undefined ? 'nothing' : issue.received === 'null' ? 'null' : shown}`;
    case 'too_small': {
      const bound = issue.type === 'array' || issue.type === 'string' ? 'at least' : issue.inclusive ? 'a value ≥' : 'a value >';
      return `expected ${bound} ${String(issue.minimum)}${issue.type === 'string' ? ' characters' : ''}; got ${shown}`;
    }
    case 'too_big': {
      const bound = issue.type === 'array' || issue.type === 'string' ? 'at most' : issue.inclusive ? 'a value ≤' : 'a value <';
      return `expected ${bound} ${String(issue.maximum)}${issue.type === 'string' ? ' characters' : ''}; got ${shown}`;
    }
    case 'invalid_string':
      return `expected ${issue.message}; got ${shown}`;
    case 'invalid_union':
      return `expected ${describeUnion(issue)}; got ${shown}`;
    default:
      return `${issue.message}; got ${shown}`;
  }
}

function describeUnion(issue: z.ZodInvalidUnionIssue): string {
  const messages = issue.unionErrors.flatMap((e) => e.issues.map((i) => (i.code === 'invalid_string' ? i.message : '')));
  const specific = messages.find((m) => m !== '');
  return specific ?? 'a different value';
}

/** Paths of keys in `raw` that the schema does not know. */
function unknownKeys(schema: z.ZodTypeAny, raw: unknown, at: (string | number)[]): string[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject && raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const shape = inner.shape as Record<string, z.ZodTypeAny>;
    return Object.entries(raw as Record<string, unknown>).flatMap(([key, value]) => {
      const child = shape[key];
      if (!child) return [keyPath([...at, key])];
      return unknownKeys(child, value, [...at, key]);
    });
  }
  if (inner instanceof z.ZodArray && Array.isArray(raw)) {
    return raw.flatMap((item, i) => unknownKeys(inner.element as z.ZodTypeAny, item, [...at, i]));
  }
  return [];
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
