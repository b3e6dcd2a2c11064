import fs from 'node:fs';
import { CommanderError } from 'commander';
import { ExitCode, isCkymError } from '../errors.js';
import { colorEnabled, processIO, terminalSafe, type IO } from './io.js';
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
    return reportError(error, io, colorEnabled(io, !argv.includes('--no-color')));
  }
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
}
