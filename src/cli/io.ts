import type { Readable, Writable } from 'node:stream';
import { redact } from '../redact.js';

/** Everything a command may touch of the outside world, handed in so commands run in-process in tests. */
export interface IO {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function processIO(): IO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/**
 * Escape sequences and control characters a remote or config string may carry (a Metrica message, a counter or goal
 * name, a CallKeeper error, a tag): ESC sequences (CSI, OSC up to BEL or ST, DCS/APC/PM/SOS strings, two-byte
 * escapes), the C1 controls, every C0 control but tab and newline (a carriage return overwrites a line), DEL, and
 * the Unicode bidirectional overrides that reorder what a line shows.
 */
const TERMINAL_CONTROLS =
  /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[PX^_][^\u001b]*(?:\u001b\\)?|\u001b[ -/]*[0-~]?|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** ckym's own colour codes (SGR): they restyle text, nothing more. */
const SGR = /^\u001b\[[0-9;]*m$/;

/**
 * Text as it may reach a terminal: every control sequence removed but SGR colour codes (kept when `color` is on,
 * so ckym's own colours survive), then secrets masked. Every line ckym prints passes here: the printer, main's
 * error lines, the dry run's CSV on stdout. (`--json` needs none of it: writeDocument escapes every control character.)
 */
export function terminalSafe(text: string, color: boolean): string {
  return redact(text.replace(TERMINAL_CONTROLS, (seq) => (color && SGR.test(seq) ? seq : '')));
}

/**
 * A prompt's words as they may reach the terminal: inquirer writes its message and its choices' names itself, not
 * through the printer, and they may hold a counter's or a goal's name from Metrica or a text from the config. Every
 * prompt ckym shows passes here (its text default through `askText`).
 */
export function safePrompt<C extends { message: string; choices?: readonly object[] }>(config: C): C {
  const choices = config.choices?.map((c) => ('name' in c && typeof c.name === 'string' ? { ...c, name: terminalSafe(c.name, false) } : c));
  return { ...config, message: terminalSafe(config.message, false), ...(choices ? { choices } : {}) };
}

/**
 * A text prompt whose default is `current` (a config's text, or a site Metrica suggests): shown made safe, and taken
 * as it is — Enter (or typing back what was shown) keeps `current` itself, never the cleaned form showing it made.
 * What is stored stays the value it was; only the terminal sees it without its control characters.
 */
export async function askText(ask: (config: { message: string; default: string }) => Promise<string>, message: string, current: string): Promise<string> {
  const shown = terminalSafe(current, false);
  const answer = await ask(safePrompt({ message, default: shown }));
  return answer === shown ? current : answer;
}

/** Human text goes to stderr when stdout is reserved for a document (--json, CSV). Everything is redacted. */
export interface Printer {
  /** A line of the command's result (stdout). */
  out(text: string): void;
  /** A human line: progress, notes, warnings (stderr). */
  info(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  /** A transient status line on a TTY (rewritten in place); nothing elsewhere. */
  status(text: string): void;
  /** Ends a status line, if one is showing. */
  clearStatus(): void;
  readonly color: boolean;
  readonly interactive: boolean;
}

export interface PrinterOptions {
  color: boolean;
  quiet?: boolean;
}

export function makePrinter(io: IO, options: PrinterOptions): Printer {
  const interactive = Boolean(io.stderr.isTTY);
  let statusShown = false;
  // Two colours for two words: plain ANSI codes, so that every command (and --help) starts without loading chalk.
  const paint = (code: number, text: string) => (options.color ? `\u001b[${code}m${text}\u001b[39m` : text);
  const clearStatus = () => {
    if (statusShown) {
      io.stderr.write('\r\u001b[2K');
      statusShown = false;
    }
  };
  const line = (stream: 'stdout' | 'stderr', text: string) => {
    clearStatus();
    io[stream].write(`${terminalSafe(text, options.color)}\n`);
  };
  return {
    color: options.color,
    interactive,
    out: (text) => line('stdout', text),
    info: (text) => {
      if (!options.quiet) line('stderr', text);
    },
    // One prefix for everything ckym says is wrong, as main prints errors: `ckym: …`, `ckym: warning: …`.
    warn: (text) => line('stderr', `ckym: ${paint(33, 'warning:')} ${text}`),
    error: (text) => line('stderr', `${paint(31, 'ckym:')} ${text}`),
    status: (text) => {
      if (!interactive || options.quiet) return;
      io.stderr.write(`\r\u001b[2K${terminalSafe(text, options.color)}`);
      statusShown = true;
    },
    clearStatus,
  };
}

export function colorEnabled(io: IO, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.FORCE_COLOR && io.env.FORCE_COLOR !== '0') return true;
  return Boolean(io.stderr.isTTY) && io.env.TERM !== 'dumb';
}

/** Whether a person is there to answer prompts: stdin and stderr are terminals (never under cron or CI). */
export function canPrompt(io: IO): boolean {
  return Boolean(io.stdin.isTTY && io.stderr.isTTY);
}

/** The stdout streams a document was written to: one document each, never two (main's error document checks). */
const documented = new WeakSet<object>();

/**
 * What JSON.stringify leaves raw but a terminal acts on: DEL, the C1 controls (U+009B is a CSI of its own) and the
 * bidirectional overrides. (It escapes the C0 controls, ESC included, itself.)
 */
const JSON_UNESCAPED_CONTROLS = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * The `--json` document: exactly one JSON value on stdout (contract), redacted like every other output. Every
 * control character is written as a `\u` escape, so a document shown on a terminal is as safe as every other line,
 * and its values stay exactly what they are (a call's tag, a CSV for Metrica) once parsed.
 */
export function writeDocument(io: IO, doc: unknown): void {
  const json = JSON.stringify(doc, null, 2).replace(JSON_UNESCAPED_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  io.stdout.write(`${redact(json)}\n`);
  documented.add(io.stdout);
}

/** Whether a document was written to this stdout already. */
export function hasDocument(io: IO): boolean {
  return documented.has(io.stdout);
}
