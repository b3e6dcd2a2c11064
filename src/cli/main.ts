import fs from 'node:fs';
import { CommanderError } from 'commander';
import { ExitCode, isCkymError } from '../errors.js';
import { redact } from '../redact.js';
import { processIO, type IO } from './io.js';
import { makeProgram } from './program.js';

export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs ckym with `argv` (as process.argv) and returns the exit code. Nothing else decides exit codes. */
export async function run(argv: readonly string[], io: IO = processIO()): Promise<number> {
  const result = { exitCode: ExitCode.ok as number };
  const program = makeProgram(io, packageVersion(), result);
  try {
    await program.parseAsync([...argv]);
    return result.exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

/** Maps an error to its exit code, printing one clear line (a stack only for internal errors). */
export function reportError(error: unknown, io: IO): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
      return ExitCode.ok;
    }
    return ExitCode.usage; // commander already printed the problem
  }
  if (isCkymError(error)) {
    for (const line of error.message.split('\n')) io.stderr.write(`ckym: ${redact(line)}\n`);
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`ckym: internal error — please report it with the lines below\n${redact(text)}\n`);
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
