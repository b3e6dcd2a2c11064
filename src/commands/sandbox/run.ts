import type { IO } from '../../cli/io.js';
import { ConfigError } from '../../errors.js';
import { startSandbox } from '../../sandbox/world.js';
import { serveSandbox } from '../../sandbox/serve.js';
import type { SandboxFlags } from './flags.js';

function whole(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${flag}: expected a whole number from ${min} to ${max}; got ${JSON.stringify(value)}`);
  return n;
}

/** `ckym sandbox`: runs until Ctrl-C. */
export async function runSandbox(flags: SandboxFlags, io: IO): Promise<number> {
  const days = whole('--days', flags.days, 1, 365);
  let sandbox;
  try {
    sandbox = await startSandbox({
      calls: whole('--calls', flags.calls, 0, 5_000_000),
      days,
      seed: whole('--seed', flags.seed, 0, 2 ** 31),
      callkeeperPort: whole('--callkeeper-port', flags.callkeeperPort, 0, 65535),
      metrikaPort: whole('--metrika-port', flags.metrikaPort, 0, 65535),
      oauthPort: whole('--oauth-port', flags.oauthPort, 0, 65535),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError(`a sandbox port is in use (${(error as Error).message}); stop the other sandbox or pick ports with --callkeeper-port/--metrika-port/--oauth-port`);
    }
    throw error;
  }
  await serveSandbox(sandbox, io.stdout, days);
  return 0;
}
