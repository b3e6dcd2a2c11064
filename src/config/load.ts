import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { isValidTimeZone } from '../domain/timezone.js';
import { configSchema, type Config } from './schema.js';
import { describeIssue, describeUnknownKey, keyPath, unknownKeys } from './issues.js';
import { JsonSyntaxError, parseJsonText } from './json.js';

export const MODULE_NAME = 'ckym';

/** The file names looked for in each folder of the search, in this order (cosmiconfig's, for `ckym`). */
export const SEARCH_PLACES = [
  'ckym.config.json',
  '.ckymrc',
  '.ckymrc.json',
  'ckym.config.js',
  'ckym.config.mjs',
  'ckym.config.cjs',
  'package.json',
];

/** The file names looked for in the user config dir, once the search found nothing (cosmiconfig's global places). */
export const USER_CONFIG_PLACES = ['config', 'config.json', 'config.yaml', 'config.yml', 'config.js', 'config.cjs', 'config.mjs'];

export interface LoadedConfig {
  config: Config;
  /** The file it came from; null when none was found (defaults only). */
  filepath: string | null;
  /** Non-fatal findings about the file (every problem found today is an error: an upload cannot be undone). */
  warnings: string[];
}

export interface LoadConfigOptions {
  /** `--config PATH`; else the search from `cwd` up (see `searchDirs`), then the user config dir. */
  configPath?: string | undefined;
  cwd: string;
  /** The home folder, where the search stops at the latest. Default: the user's. */
  home?: string | undefined;
  /** Environment for the user config dir (XDG_CONFIG_HOME, APPDATA). Default: the process's. */
  env?: NodeJS.ProcessEnv | undefined;
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

/**
 * Finds, reads and validates the config. Throws ConfigError (exit 2) naming the file and key path.
 *
 * ckym reads config files itself (with cosmiconfig's loaders), never through cosmiconfig's explorer: the explorer
 * climbs to `/`, follows `$import`, and at its creation reads (and runs) a "meta config" such as
 * `.config/config.js` from the working directory — code nobody asked ckym to run.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const explicit = options.configPath ? path.resolve(options.cwd, options.configPath) : null;
  let found: Found | null;
  if (explicit) {
    checkFile(explicit);
    found = await readConfigFile(explicit);
    // a named file whose content is `null` is not "no config"
    if (!found) return { ...validateConfig(null, explicit), filepath: explicit }; // throws: "(top level): expected object; got null"
  } else {
    found = await search(options);
    if (!found) return { config: configSchema.parse({}), filepath: null, warnings: [] };
  }
  const raw = found.isEmpty ? {} : found.config;
  return { ...validateConfig(raw, found.filepath), filepath: found.filepath };
}

interface Found {
  config: unknown;
  filepath: string;
  isEmpty: boolean;
}

/**
 * The folders the search looks in, nearest first: from the working directory up to the nearest project root (a
 * folder with package.json or .git) or the home folder, whichever comes first — never above. When neither is above
 * the working directory (e.g. under /tmp or /srv), only the working directory itself: a folder others can write to
 * never supplies a config by being a parent.
 */
export function searchDirs(cwd: string, home: string = os.homedir()): string[] {
  const start = path.resolve(cwd);
  const root = path.parse(start).root;
  const chain: string[] = [];
  for (let dir = start; ; dir = path.dirname(dir)) {
    chain.push(dir);
    if (dir === root) break;
  }
  const stop = chain.findIndex((dir) => dir === path.resolve(home) || (dir !== root && isProjectRoot(dir)));
  return stop >= 0 ? chain.slice(0, stop + 1) : [start];
}

function isProjectRoot(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'package.json')) || fs.existsSync(path.join(dir, '.git'));
}

/** The user config dir, where cosmiconfig looks last (env-paths' config dir for `ckym`). */
export function userConfigDir(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir(), platform = process.platform): string {
  if (platform === 'darwin') return path.join(home, 'Library', 'Preferences', MODULE_NAME);
  if (platform === 'win32') return path.join(env.APPDATA || path.join(home, 'AppData', 'Roaming'), MODULE_NAME, 'Config');
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), MODULE_NAME);
}

async function search(options: LoadConfigOptions): Promise<Found | null> {
  const home = options.home ?? os.homedir();
  const candidates = [
    ...searchDirs(options.cwd, home).flatMap((dir) => SEARCH_PLACES.map((place) => path.join(dir, place))),
    ...USER_CONFIG_PLACES.map((place) => path.join(userConfigDir(options.env, home), place)),
  ];
  for (const file of candidates) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      continue;
    }
    if (!stat.isFile()) continue;
    const found = await readConfigFile(file);
    // an empty file, or a package.json without a "ckym" key, is not a config: the search goes on
    if (found && !found.isEmpty) return found;
  }
  return null;
}

/**
 * cosmiconfig's loaders, imported when a config needs them (YAML, JavaScript): with js-yaml, parse-json and
 * import-fresh they are 230 KB of the bundle, which a JSON config — what `counters add` writes, and cron reads on
 * every run — never uses.
 */
const cosmiconfigLoaders = async () => (await import('cosmiconfig')).defaultLoaders;

/** JavaScript (and TypeScript) configs are run to be read; everything else is parsed. */
const CODE = /\.(c|m)?[jt]s$/;

/** Reads one config file: null for a package.json without a "ckym" key (or a file holding `null`). */
async function readConfigFile(file: string): Promise<Found | null> {
  try {
    const content = fs.readFileSync(file, 'utf8');
    if (content.trim() === '') return { config: undefined, filepath: file, isEmpty: true };
    const ext = path.extname(file);
    let value: unknown;
    if (CODE.test(file)) {
      checkRunnable(file);
      const loader = (await cosmiconfigLoaders())[ext as '.js'];
      if (!loader) throw new ConfigError(`${displayPath(file)}: ckym cannot read ${ext} configs; use ckym.config.json`);
      value = await loader(file, content);
    } else if (ext === '.json') {
      value = loadJson(file, content);
    } else {
      value = await (await cosmiconfigLoaders())['.yaml'](file, content); // .ckymrc, config, .yaml: YAML (JSON is YAML too); never run
    }
    if (path.basename(file) === 'package.json') {
      const own = value && typeof value === 'object' ? (value as Record<string, unknown>)[MODULE_NAME] : undefined;
      return own === undefined ? null : { config: own, filepath: file, isEmpty: false };
    }
    return value === null ? null : { config: value, filepath: file, isEmpty: false };
  } catch (error) {
    if (error && typeof error === 'object' && !(error instanceof ConfigError)) (error as { filepath?: string }).filepath ??= file;
    throw readFailure(error, file);
  }
}

/**
 * A JavaScript config is code ckym would run as this user: only when this user owns it and nobody else can change
 * it — the file (group and others may not write it) and its folder (owned by this user or root; not writable by
 * others, unless sticky like /tmp, where nobody can replace another's file). Else a clear error (exit 2).
 */
function checkRunnable(file: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return; // Windows: no owners and modes to check
  const real = fs.realpathSync(file);
  const shown = displayPath(file);
  const stat = fs.statSync(real);
  const mode = (m: number) => (m & 0o7777).toString(8).padStart(3, '0');
  const json = 'or write the config as ckym.config.json, which is never run';
  if (stat.uid !== uid) {
    throw new ConfigError(
      `${shown}: a JavaScript config is run as code, and this one belongs to another user (uid ${stat.uid}); ckym runs only your own: check where it came from, ${json}`,
    );
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new ConfigError(
      `${shown}: a JavaScript config is run as code, and others can change this one (mode ${mode(stat.mode)}); run "chmod go-w ${real}", ${json}`,
    );
  }
  const dir = path.dirname(real);
  const folder = fs.statSync(dir);
  const sticky = (folder.mode & 0o1000) !== 0;
  if ((folder.uid !== uid && folder.uid !== 0) || ((folder.mode & 0o022) !== 0 && !sticky)) {
    throw new ConfigError(
      `${shown}: a JavaScript config is run as code, and its folder ${dir} can be changed by others (owner uid ${folder.uid}, mode ${mode(folder.mode)}), so the file could be replaced; run "chmod go-w ${dir}", ${json}`,
    );
  }
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
