import fs from 'node:fs';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { ConfigError } from '../errors.js';
import { isValidTimeZone } from '../domain/timezone.js';
import { configSchema, type Config } from './schema.js';
import { describeIssue, describeUnknownKey, keyPath, unknownKeys } from './issues.js';
import { JsonSyntaxError, parseJsonText } from './json.js';

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
  /** Non-fatal findings about the file (every problem found today is an error: an upload cannot be undone). */
  warnings: string[];
}

export interface LoadConfigOptions {
  /** `--config PATH`; else cosmiconfig searches from `cwd` up, then the user config dir. */
  configPath?: string | undefined;
  cwd: string;
}

/** A JSON config file's text → value; a syntax error names the file, line and column, with a code frame. */
function loadJson(filepath: string, content: string): unknown {
  try {
    return parseJsonText(content);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new ConfigError(`${displayPath(filepath)}:${error.line}:${error.column}: ${error.what}\n${error.frame}`);
  }
}

/** Finds, reads and validates the config. Throws ConfigError (exit 2) naming the file and key path. */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const explorer = cosmiconfig(MODULE_NAME, {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'global',
    cache: false,
    loaders: { '.json': loadJson },
  });
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null;
  const explicit = options.configPath ? path.resolve(options.cwd, options.configPath) : null;
  if (explicit) checkFile(explicit);
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

/** `--config` must name a file: a directory or a missing file is said plainly (not EISDIR). */
function checkFile(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError(`config file not found: ${file} (check --config, or run "ckym counters add" to create one)`);
    }
    throw readFailure(error, file);
  }
  if (stat.isDirectory()) {
    throw new ConfigError(`--config ${file} is a directory; name the config file in it, e.g. --config ${path.join(file, 'ckym.config.json')}`);
  }
}

function readFailure(error: unknown, explicit: string | null): ConfigError {
  if (error instanceof ConfigError) return error;
  const err = error as NodeJS.ErrnoException & { filepath?: string };
  if (explicit && err.code === 'ENOENT') {
    return new ConfigError(`config file not found: ${explicit} (check --config, or run "ckym counters add" to create one)`);
  }
  const file = err.filepath ?? explicit;
  const where = file ? `${displayPath(file)}: ` : '';
  const first = (err.message ?? String(error)).split('\n').map((l) => l.trim()).find(Boolean) ?? String(error);
  return new ConfigError(`cannot read the config file: ${where}${first}`, { cause: error });
}

/** Validates an already-parsed config object. Exported for `counters add/edit`, which validate before writing. */
export function validateConfig(raw: unknown, filepath: string): { config: Config; warnings: string[] } {
  const file = displayPath(filepath);
  // An unknown key is an error before anything else: a misspelt filter must never let every call through.
  const unknown = unknownKeys(configSchema, raw);
  if (unknown.length > 0) throw new ConfigError(unknown.map((u) => `${file}: ${describeUnknownKey(u)}`).join('\n'));
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
  return { config, warnings: [] };
}

function displayPath(filepath: string): string {
  const rel = path.relative(process.cwd(), filepath);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : filepath;
}
