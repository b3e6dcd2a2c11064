/**
 * Starts the loopback CallKeeper and Metrica emulators with a generated call history and prints the
 * environment that points ckym at them. `npm run sandbox`; stop with Ctrl-C.
 *
 *   node dist/sandbox/serve.js [--callkeeper-port 8701] [--metrika-port 8702] [--calls 2000] [--days 14] [--seed 1]
 */
import { parseArgs } from 'node:util';
import { startCallKeeperEmulator } from './callkeeper.js';
import { generateCalls, generateCounters } from './generate.js';
import { startMetrikaEmulator, type MetrikaCounterSeed } from './metrika.js';

export const SANDBOX_API_KEY = 'sandbox0key00001';
export const SANDBOX_TOKEN = 'sandbox-token-0001';

/** The two counters of ckym.config.example.json, with the goals it names. */
const EXAMPLE_COUNTERS: MetrikaCounterSeed[] = [
  {
    id: 12345678,
    name: 'shop.example',
    site: 'shop.example',
    permission: 'own',
    goals: [{ id: 301, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] }],
  },
  {
    id: 87654321,
    name: 'blog.example',
    site: 'blog.example',
    permission: 'edit',
    goals: [{ id: 302, name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] }],
  },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'callkeeper-port': { type: 'string', default: '8701' },
      'metrika-port': { type: 'string', default: '8702' },
      calls: { type: 'string', default: '2000' },
      days: { type: 'string', default: '14' },
      seed: { type: 'string', default: '1' },
    },
  });
  const nowUnix = Math.floor(Date.now() / 1000);
  const calls = generateCalls({ count: Number(values.calls), seed: Number(values.seed), nowUnix, days: Number(values.days) });
  const callkeeper = await startCallKeeperEmulator({ apiKey: SANDBOX_API_KEY, calls, port: Number(values['callkeeper-port']) });
  const others = generateCounters().filter((c) => !EXAMPLE_COUNTERS.some((e) => e.id === c.id));
  const metrika = await startMetrikaEmulator({
    token: SANDBOX_TOKEN,
    counters: [...EXAMPLE_COUNTERS, ...others],
    port: Number(values['metrika-port']),
  });
  const out = process.stdout;
  out.write(`# ckym sandbox: ${calls.length} generated calls over ${values.days} days; Ctrl-C stops it\n`);
  out.write(`export CKYM_CALLKEEPER_URL=${callkeeper.url}\n`);
  out.write(`export CKYM_METRIKA_URL=${metrika.url}\n`);
  out.write(`export CKYM_CALLKEEPER_KEY=${SANDBOX_API_KEY}\n`);
  out.write(`export CKYM_YANDEX_TOKEN=${SANDBOX_TOKEN}\n`);
  let reported = 0;
  const timer = setInterval(() => {
    for (const u of metrika.uploads.slice(reported)) {
      out.write(`# Metrica received ${u.rows.length} ${u.kind} for counter ${u.counterId} (uploading ${u.uploadingId}, "${u.comment}")\n`);
    }
    reported = metrika.uploads.length;
  }, 200);
  const stop = async () => {
    clearInterval(timer);
    await Promise.all([callkeeper.close(), metrika.close()]);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
