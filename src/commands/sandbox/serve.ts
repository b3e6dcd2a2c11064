/**
 * `ckym sandbox` once the emulators run: prints the environment that points ckym at them (pasteable exports, the
 * sandbox's own CKYM_HOME included), then every upload Metrica receives, until Ctrl-C or SIGTERM.
 */
import type { Sandbox } from '../../sandbox/world.js';
import { SANDBOX_CLIENT_ID } from '../../sandbox/world.js';
import { shellQuote } from '../../cli/shell.js';

/** Resolves when stopped. */
export async function serveSandbox(sandbox: Sandbox, out: NodeJS.WritableStream, days: number, home: string): Promise<void> {
  // Listen for Ctrl-C before the exports are printed: a user (or a test) may press it the moment they appear.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  out.write(`# ckym sandbox: ${sandbox.calls} generated calls over ${days} days; Ctrl-C stops it. In another terminal:\n`);
  for (const [name, value] of Object.entries({ CKYM_HOME: home, ...sandbox.env })) out.write(`export ${name}=${shellQuote(value)}\n`);
  out.write(`# CKYM_HOME starts empty each time, as the emulators do. Yandex sign-in: yandex.clientId "${SANDBOX_CLIENT_ID}";\n`);
  out.write(`# device codes are approved at ${sandbox.oauth.url}/device\n`);
  let reported = 0;
  const timer = setInterval(() => {
    for (const u of sandbox.metrika.uploads.slice(reported)) {
      out.write(`# Metrica received ${u.rows.length} ${u.kind} for counter ${u.counterId} (uploading ${u.uploadingId}, "${u.comment}")\n`);
    }
    reported = sandbox.metrika.uploads.length;
  }, 200);
  await stopped;
  clearInterval(timer);
  await sandbox.close();
}
