import fs from 'node:fs';
import { CommanderError, type Command } from 'commander';
import { ExitCode, LocalError, isCkymError } from '../errors.js';
import { colorEnabled, hasDocument, processIO, terminalSafe, writeDocument, type IO } from './io.js';
import { makeProgram } from './program.js';

export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The exit code of a run the user stopped with Ctrl-C at a prompt (128 + SIGINT, as shells report it). */
export const CANCELLED = 130;

/** Runs ckym with `argv` (as process.argv) and returns the exit code. Nothing else decides exit codes. */
export async function run(argv: readonly string[], io: IO = processIO()): Promise<number> {
  const result = { exitCode: ExitCode.ok as number };
  const program = makeProgram(io, packageVersion(), result);
  try {
    await program.parseAsync([...argv]);
    return result.exitCode;
  } catch (error) {
    const code = reportError(error, io, colorEnabled(io, !argv.includes('--no-color')));
    // --json (contract): stdout holds exactly one JSON document on every exit path, a failure's included.
    const json = jsonCommand(program, argv.slice(2));
    if (json && code !== ExitCode.ok && !hasDocument(io)) writeDocument(io, errorDocument(json, code, error));
    return code;
  }
}

/** What kind of failure an error is, for the error document: by its class (a LocalError is exit 1, but not a bug). */
function errorKind(error: unknown, exitCode: number): string {
  if (error instanceof CommanderError) return 'usage';
  if (isPromptCancel(error)) return 'cancelled';
  if (error instanceof LocalError) return 'local';
  if (!isCkymError(error)) return 'internal';
  const kinds: Record<number, string> = { [ExitCode.usage]: 'usage', [ExitCode.auth]: 'auth', [ExitCode.remote]: 'remote', [ExitCode.partial]: 'partial' };
  return kinds[exitCode] ?? 'internal';
}

/** `{"version":1,"command":"sync","exitCode":3,"error":{"kind":"auth","message":"…"}}`: what --json prints on a failure. */
export function errorDocument(command: string, exitCode: number, error: unknown) {
  let message: string;
  if (error instanceof CommanderError) message = error.message.replace(/^error: /, '');
  else if (isPromptCancel(error)) message = 'cancelled';
  else message = error instanceof Error ? error.message : String(error);
  // One line: a message of several problems joins them; a code frame (indented lines) stays on stderr.
  const oneLine = message.split('\n').filter((l) => l.trim() && !/^\s/.test(l)).join('; ');
  return { version: 1, command, exitCode, error: { kind: errorKind(error, exitCode), message: oneLine } };
}

/**
 * The command `args` name (`sync`, `counters list`) when it has a `--json` flag and `args` hold it; null otherwise.
 * Read from the words themselves, so a failure before commander got to the action (an unknown option) is known too.
 */
export function jsonCommand(program: Command, args: readonly string[]): string | null {
  const path: string[] = [];
  let command = program;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      const option = [...command.options, ...program.options].find((o) => o.long === arg || o.short === arg);
      if (option && (option.required || option.optional) && !arg.includes('=')) i++; // its value
      continue;
    }
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    command = sub;
    path.push(sub.name());
  }
  const wantsJson = command.options.some((o) => o.long === '--json') && args.includes('--json');
  return path.length > 0 && wantsJson ? path.join(' ') : null;
}

/** Ctrl-C (or Ctrl-D) at an inquirer prompt: its ExitPromptError, matched by name so `main` need not load inquirer. */
export function isPromptCancel(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError');
}

/**
 * Maps an error to its exit code and prints it: every line `ckym: …` (a line that starts with a space continues
 * the one before, e.g. a code frame); a stack only for internal errors.
 */
export function reportError(error: unknown, io: IO, color = false): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
      return ExitCode.ok;
    }
    return ExitCode.usage; // commander already printed the problem
  }
  if (isPromptCancel(error)) {
    // Every command asks all its questions before it changes anything: nothing was written.
    io.stderr.write('cancelled\n');
    return CANCELLED;
  }
  const prefix = color ? '\u001b[31mckym:\u001b[39m ' : 'ckym: ';
  if (isCkymError(error)) {
    for (const line of error.message.split('\n')) io.stderr.write(`${/^\s/.test(line) ? '' : prefix}${terminalSafe(line, false)}\n`);
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`${prefix}internal error — please report it with the lines below\n${terminalSafe(text, false)}\n`);
  return ExitCode.internal;
}

export async function main(argv: readonly string[]): Promise<void> {
  // `ckym … | head` closes the pipe early: that is the reader's choice, not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  const code = await run(argv);
  process.exitCode = code;
  // A cron job must never linger holding the lock: if some socket or timer is still open, leave anyway.
  setTimeout(() => process.exit(code), 1000).unref();
  // The command is done and said everything: leave as soon as its output is out. Letting the event loop run dry
  // instead costs a no-op sync ≈ 50–100 ms of tearing the environment down (freeing the heap, the modules, the SQLite
  // addon) after the last line (BENCHMARKS.md); process.exit skips that part.
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/** Resolves once everything written to `stream` so far has been handed to the system (or the stream is gone). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve();
    else stream.write('', () => resolve());
  });
}
