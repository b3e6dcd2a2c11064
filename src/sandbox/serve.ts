/**
 * `npm run sandbox`: starts the sandbox on fixed ports and prints the environment that points ckym at it,
 * then every upload Metrica receives. Stop with Ctrl-C.
 *
 *   node dist/sandbox/serve.js [--callkeeper-port 8701] [--metrika-port 8702] [--oauth-port 8703] [--calls 2000] [--days 14] [--seed 1]
 */
import { parseArgs } from 'node:util';
import { startSandbox, type Sandbox } from './world.js';

/** Prints the sandbox's environment, then each upload as it arrives, until SIGINT/SIGTERM. Resolves when stopped. */
export async function serveSandbox(sandbox: Sandbox, out: NodeJS.WritableStream, days: number): Promise<void> {
  out.write(`# ckym sandbox: ${sandbox.calls} generated calls over ${days} days; Ctrl-C stops it\n`);
  for (const [name, value] of Object.entries(sandbox.env)) out.write(`export ${name}=${value}\n`);
  out.write(`# Yandex sign-in: set yandex.clientId to "ckym-sandbox-client"; device codes are approved at ${sandbox.oauth.url}/device\n`);
  let reported = 0;
  const timer = setInterval(() => {
    for (const u of sandbox.metrika.uploads.slice(reported)) {
      out.write(`# Metrica received ${u.rows.length} ${u.kind} for counter ${u.counterId} (uploading ${u.uploadingId}, "${u.comment}")\n`);
    }
    reported = sandbox.metrika.uploads.length;
  }, 200);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  clearInterval(timer);
  await sandbox.close();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'callkeeper-port': { type: 'string', default: '8701' },
      'metrika-port': { type: 'string', default: '8702' },
      'oauth-port': { type: 'string', default: '8703' },
      calls: { type: 'string', default: '2000' },
      days: { type: 'string', default: '14' },
      seed: { type: 'string', default: '1' },
    },
  });
  const days = Number(values.days);
  const sandbox = await startSandbox({
    calls: Number(values.calls),
    days,
    seed: Number(values.seed),
    callkeeperPort: Number(values['callkeeper-port']),
    metrikaPort: Number(values['metrika-port']),
    oauthPort: Number(values['oauth-port']),
  });
  await serveSandbox(sandbox, process.stdout, days);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
