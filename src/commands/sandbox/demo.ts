/**
 * `npm run demo`: the whole journey in a temporary home, against the sandbox — log in (the demo plays the
 * browser), add two counters, sync, sync again, show stats — and what Metrica received. No account needed.
 * It drives ckym as a user would (it is not an emulator), so it lives beside the sandbox command.
 * Each command is printed as it could be typed (arguments quoted for the shell); colour on a terminal.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SANDBOX_API_KEY, SANDBOX_CLIENT_ID, startSandbox, type Sandbox } from '../../sandbox/world.js';
import { shellQuote } from '../../cli/shell.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'ckym.js');

/** Colour when the demo's own output is a terminal (and NO_COLOR is not set): for its lines and for ckym's. */
const COLOR = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
const paint = (code: number, text: string) => (COLOR ? `\u001b[${code}m${text}\u001b[0m` : text);
/** `$ ckym …` as it can be pasted: every argument quoted when the shell needs it. */
const command = (args: readonly string[]) => paint(1, `$ ckym ${args.map(shellQuote).join(' ')}`);

interface Step {
  code: number | null;
  stdout: string;
  stderr: string;
}

const out = (text: string) => process.stdout.write(`${text}\n`);
const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

function ckym(args: string[], env: NodeJS.ProcessEnv, cwd: string, onStderr?: (text: string) => void): Promise<Step> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function step(title: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Step> {
  out(`\n${command(args)}`);
  const result = await ckym(args, env, cwd);
  if (result.stdout.trim()) out(indent(result.stdout));
  if (result.stderr.trim()) out(indent(result.stderr));
  if (result.code !== 0) throw new Error(`${title} failed with exit code ${result.code}`);
  return result;
}

/** The login, with this script acting as the browser: open the link ckym prints, allow, follow the redirect. */
async function login(sandbox: Sandbox, env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  // The sandbox's key is no secret: the sandbox prints it too.
  const args = ['login', '--callkeeper-key', SANDBOX_API_KEY, '--no-browser'];
  out(`\n${command(args)}`);
  let browsed = false;
  const done = ckym(args, env, cwd, (stderr) => {
    const link = /(https?:\/\/\S+\/authorize\?\S+)/.exec(stderr)?.[1];
    if (!link || browsed) return;
    browsed = true;
    void (async () => {
      out(paint(2, '    (the demo opens the link as a browser would, and allows access)'));
      const consent = await fetch(link, { redirect: 'manual' });
      const callback = consent.headers.get('location');
      if (callback) await fetch(callback);
    })();
  });
  const result = await done;
  out(indent(result.stdout));
  if (result.code !== 0) throw new Error(`login failed: ${result.stderr}`);
  void sandbox;
}

async function main(): Promise<void> {
  const started = Date.now();
  const sandbox = await startSandbox({ calls: 3000, days: 14, seed: 7, consent: 'allow' });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-demo-'));
  try {
    out(`ckym demo — sandbox with ${sandbox.calls} generated calls; temporary home ${home}`);
    const configPath = path.join(home, 'ckym.config.json');
    fs.writeFileSync(
      configPath,
      `${JSON.stringify({ yandex: { clientId: SANDBOX_CLIENT_ID, redirectPort: await freePort() }, sync: { initialDays: 7 } }, null, 2)}\n`,
    );
    // Only the service URLs come from the sandbox: credentials are what `ckym login` stores.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      ...(COLOR ? { FORCE_COLOR: '1' } : { NO_COLOR: '1' }),
      CKYM_HOME: path.join(home, 'state'),
      CKYM_CALLKEEPER_URL: sandbox.env.CKYM_CALLKEEPER_URL,
      CKYM_METRIKA_URL: sandbox.env.CKYM_METRIKA_URL,
      CKYM_OAUTH_URL: sandbox.env.CKYM_OAUTH_URL,
      CKYM_LOGIN_URL: sandbox.env.CKYM_LOGIN_URL,
    };

    await login(sandbox, env, home);
    await step('counters list', ['counters', 'list'], env, home);
    await step(
      'counters add',
      ['counters', 'add', '12345678', '--call-type', 'all', '--min-duration', '0', '--status', 'all', '--uniqueness', 'all', '--tags', 'call', '--goal', 'calltracking_call_order', '--site', 'shop.example', '--yes'],
      env,
      home,
    );
    await step(
      'counters add',
      ['counters', 'add', '87654321', '--call-type', 'callback', '--min-duration', '30', '--status', 'successful', '--uniqueness', 'all', '--tags', 'none', '--tag-callback', 'Обратный звонок', '--goal', 'call', '--site', 'blog.example', '--yes'],
      env,
      home,
    );
    await step('sync --dry-run', ['sync', '--dry-run', '--out', path.join(home, 'preview')], env, home);
    await step('sync', ['sync'], env, home);
    await step('sync (again: nothing new)', ['sync'], env, home);
    await step('stats', ['stats'], env, home);

    out('\nWhat Metrica received:');
    for (const u of sandbox.metrika.uploads) {
      out(`  counter ${u.counterId}: ${u.rows.length} ${u.kind} (uploading ${u.uploadingId}, comment "${u.comment}")`);
    }
    const calls = sandbox.metrika.uploads.find((u) => u.kind === 'calls' && u.rows.length > 0);
    const linked = calls?.rows.find((r) => r.ClientId && r.Tag);
    if (calls && linked) {
      out(`  a call row of counter ${calls.counterId}, as Metrica parsed it:`);
      for (const [column, value] of Object.entries(linked)) out(`    ${column.padEnd(16)} ${value}`);
    }
    const uploads = sandbox.metrika.uploads.length;
    if (uploads === 0) throw new Error('Metrica received nothing');
    out(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s: ${uploads} uploads, each exactly once. Real setup: see README "Real use".`);
  } finally {
    await sandbox.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
