import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { validateConfig } from './load.js';
import type { Config } from './schema.js';

/** A config file as text-preserving JSON: the user's keys, their order and the indentation survive a rewrite. */
export interface EditableConfig {
  file: string;
  /** The whole JSON document (for package.json, the whole package). */
  document: Record<string, unknown>;
  /** The ckym part of `document` (the document itself, or its `ckym` key). */
  root: Record<string, unknown>;
  indent: string;
  existed: boolean;
}

/** Opens the config for editing: the one found, the one named by --config, or a new ckym.config.json in `cwd`. */
export function openEditable(found: string | null, explicit: string | undefined, cwd: string): EditableConfig {
  const file = explicit ? path.resolve(cwd, explicit) : (found ?? path.join(cwd, 'ckym.config.json'));
  if (/\.(c|m)?js$|\.ts$/.test(file)) {
    throw new ConfigError(`${file} is code, which ckym does not rewrite; edit it by hand, or move the settings to ckym.config.json`);
  }
  if (!fs.existsSync(file)) {
    // One object: the counters put into `root` are what `document` writes.
    const document: Record<string, unknown> = {};
    return { file, document, root: document, indent: '  ', existed: false };
  }
  const text = fs.readFileSync(file, 'utf8');
  let document: unknown;
  try {
    document = text.trim() === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON (${(error as Error).message}); fix it by hand first`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ConfigError(`${file}: expected a JSON object at the top level`);
  }
  const doc = document as Record<string, unknown>;
  const isPackage = path.basename(file) === 'package.json';
  if (isPackage && (typeof doc.ckym !== 'object' || doc.ckym === null)) doc.ckym = {};
  const indent = /^[{[]\s*\n([ \t]+)/.exec(text)?.[1] ?? '  ';
  return { file, document: doc, root: (isPackage ? doc.ckym : doc) as Record<string, unknown>, indent, existed: true };
}

/**
 * Validates the edited config and writes it atomically; an invalid result is refused with the
 * reason and the file is left untouched.
 */
export function saveEditable(editable: EditableConfig): Config {
  const { config } = validateConfig(editable.root, editable.file);
  const text = `${JSON.stringify(editable.document, null, editable.indent)}\n`;
  fs.mkdirSync(path.dirname(editable.file), { recursive: true });
  const tmp = `${editable.file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, editable.file);
  return config;
}

/** The `counters` array of the editable config (created when absent). */
export function countersOf(editable: EditableConfig): Record<string, unknown>[] {
  if (!Array.isArray(editable.root.counters)) editable.root.counters = [];
  return editable.root.counters as Record<string, unknown>[];
}

/**
 * Puts `settings` into the counter entry with this id, keeping the entry's other keys and their order
 * (new keys go at the end), or appends a new entry.
 */
export function upsertCounter(editable: EditableConfig, settings: Record<string, unknown> & { id: number }): 'added' | 'updated' {
  const counters = countersOf(editable);
  const existing = counters.find((c) => c && c.id === settings.id);
  if (!existing) {
    counters.push({ ...settings });
    return 'added';
  }
  for (const [key, value] of Object.entries(settings)) existing[key] = value;
  return 'updated';
}

export function removeCounter(editable: EditableConfig, id: number): boolean {
  const counters = countersOf(editable);
  const index = counters.findIndex((c) => c && c.id === id);
  if (index < 0) return false;
  counters.splice(index, 1);
  return true;
}
