import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { packageVersion, run } from '../../src/cli/main.js';
import { makePrinter, type IO } from '../../src/cli/io.js';

function memoryIO(env: NodeJS.ProcessEnv = {}): IO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdin: new PassThrough(), stdout, stderr, env, cwd: '/nonexistent-ckym-cwd', out: () => out, err: () => err };
}

const argv = (...args: string[]) => ['node', 'ckym', ...args];

describe('ckym (in process)', () => {
  it('--version prints the package version, exit 0', async () => {
    const io = memoryIO();
    expect(await run(argv('--version'), io)).toBe(0);
    expect(io.out()).toBe(`${packageVersion()}\n`);
  });

  it('--help lists sync, exit 0', async () => {
    const io = memoryIO();
    expect(await run(argv('--help'), io)).toBe(0);
    expect(io.out()).toMatch(/Usage: ckym \[options\] \[command\]/);
    expect(io.out()).toMatch(/sync \[options\]\s+the cron job/);
  });

  it('sync --help shows examples and exit codes', async () => {
    const io = memoryIO();
    expect(await run(argv('sync', '--help'), io)).toBe(0);
    expect(io.out()).toMatch(/Examples:\n {2}\$ ckym sync /);
    expect(io.out()).toMatch(/Exit codes: 0 done/);
  });

  it('an unknown command or flag is a usage error (exit 2)', async () => {
    const io = memoryIO();
    expect(await run(argv('synk'), io)).toBe(2);
    expect(io.err()).toMatch(/unknown command 'synk'/);
    const io2 = memoryIO();
    expect(await run(argv('sync', '--dryrun'), io2)).toBe(2);
    expect(io2.err()).toMatch(/unknown option '--dryrun'/);
  });

  it('a --config file that does not exist is exit 2, naming it', async () => {
    const io = memoryIO({ CKYM_HOME: '/nonexistent-ckym-home' });
    expect(await run(argv('--config', '/nonexistent/ckym.json', 'sync'), io)).toBe(2);
    expect(io.err()).toMatch(/^ckym: config file not found: \/nonexistent\/ckym\.json/);
  });

  it('one prefix for everything wrong: errors "ckym: …", warnings "ckym: warning: …", commander\'s too', async () => {
    const io = memoryIO();
    const printer = makePrinter(io, { color: false });
    printer.error('Metrica unavailable');
    printer.warn('the token expires soon');
    expect(io.err()).toBe('ckym: Metrica unavailable\nckym: warning: the token expires soon\n');
    const usage = memoryIO();
    expect(await run(argv('sync', '--dryrun'), usage)).toBe(2);
    expect(usage.err()).toMatch(/^ckym: unknown option '--dryrun'/);
  });

  it('--config naming a directory: exit 2, "is a directory"', async () => {
    const io = memoryIO({ CKYM_HOME: '/nonexistent-ckym-home' });
    expect(await run(argv('--config', '/tmp', 'counters', 'show'), io)).toBe(2);
    expect(io.err()).toBe('ckym: --config /tmp is a directory; name the config file in it, e.g. --config /tmp/ckym.config.json\n');
  });
});
