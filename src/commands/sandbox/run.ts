import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { colorEnabled, makePrinter, type IO } from '../../cli/io.js';
import type { GlobalOptions } from '../../cli/setup.js';
import { ConfigError } from '../../errors.js';
import { startSandbox } from '../../sandbox/world.js';
import { serveSandbox } from './serve.js';
import type { SandboxFlags } from './flags.js';

function whole(flag: string, value: string | number, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${flag}: expected a whole number from ${min} to ${max}; got ${JSON.stringify(String(value))}`);
  return n;
}

/** The sandbox's CKYM_HOME: one fixed place (README's example uses it), emptied at each start like the emulators. */
export const SANDBOX_HOME = path.join(os.tmpdir(), 'ckym-sandbox-home');

/** `ckym sandbox`: runs until Ctrl-C. */
export async function runSandbox(flags: SandboxFlags, globals: GlobalOptions, io: IO): Promise<number> {
  const printer = makePrinter(io, { color: colorEnabled(io, globals.color) });
  const days = whole('--days', flags.days, 1, 365);
  const calls = whole('--calls', flags.calls, 0, 5_000_000);
  const options = {
    calls,
    days,
    seed: whole('--seed', flags.seed, 0, 2 ** 31),
    callkeeperPort: whole('--callkeeper-port', flags.callkeeperPort, 0, 65535),
    metrikaPort: whole('--metrika-port', flags.metrikaPort, 0, 65535),
    oauthPort: whole('--oauth-port', flags.oauthPort, 0, 65535),
  };
  let sandbox;
  try {
    printer.status(`generating ${calls} calls over ${days} days…`);
    sandbox = await startSandbox({
      ...options,
      onProgress: (done, total) => printer.status(`generating ${total} calls over ${days} days… ${Math.floor((done / total) * 100)}%`),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(`a sandbox port is in use (${(error as Error).message}); stop the other sandbox or pick ports with --callkeeper-port/--metrika-port/--oauth-port`);
    }
    throw error;
  } finally {
    printer.clearStatus();
  }
  // Emptied only once the emulators hold their ports: a second sandbox started by mistake stops on a port in use
  // above, and must not have emptied the running one's home (its database) first.
  fs.rmSync(SANDBOX_HOME, { recursive: true, force: true });
  await serveSandbox(sandbox, io.stdout, days, SANDBOX_HOME);
  return 0;
}
