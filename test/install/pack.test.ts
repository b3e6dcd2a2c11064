/**
 * `npm pack` makes a tarball that installs globally on a machine that has nothing of ckym: `prepare` builds
 * dist/ into it, `npm install -g` brings the runtime dependencies (from the npm cache `npm install` filled;
 * better-sqlite3 compiles, ~90 s), and the installed `ckym` runs: --version, --help, and `ckym sandbox` with a
 * dry-run sync against it (which loads the native SQLite addon). No devDependency is installed.
 *
 * Slow, so it runs after the other tests, on its own (vitest.install.config.ts, the last step of `npm test`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

let tmp: string;
let tarball: string;
let prefix: string;
let installed: string;
const ckym = () => path.join(prefix, 'bin', 'ckym');
/** A clean environment: PATH and HOME (for npm's cache) only. */
const env = () => ({ PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: process.env.HOME ?? tmp, NO_COLOR: '1' });

/** Runs a command to its end (asynchronously: a blocked worker misses vitest's own messages for minutes). */
function sh(command: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...env(), ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`${command} ${args.join(' ')} → ${code}\n${stdout}\n${stderr}`))));
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-pack-'));
  prefix = path.join(tmp, 'global');
  // A copy of the sources, so `prepare` builds there and not under the running tests' feet.
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'ckym.config.example.json', 'LICENSE']) {
    if (fs.existsSync(path.join(ROOT, f))) fs.copyFileSync(path.join(ROOT, f), path.join(src, f));
  }
  for (const d of ['src', 'scripts', 'bin']) fs.cpSync(path.join(ROOT, d), path.join(src, d), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(src, 'node_modules'));
  // tsc type-checks the copy with its own tsconfig (test/ and bench/ are not there: only src is built)
  fs.writeFileSync(path.join(src, 'tsconfig.json'), fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8').replace(/"include": \[[^\]]*\]/, '"include": ["src"]'));

  const packed = await sh('npm', ['pack', '--json', '--pack-destination', tmp], src, { PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${env().PATH}` });
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(tmp, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);

  await sh('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], tmp);
  installed = path.join(prefix, 'lib', 'node_modules', pkg.name);
}, 420_000);

let packedFiles: string[] = [];

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack → npm install -g on a clean prefix', () => {
  it('the tarball holds ckym built (prepare ran) and nothing of the sources or tests', () => {
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(packedFiles).toEqual(expect.arrayContaining(['bin/ckym.js', 'dist/bundle/main.js', 'README.md', 'ckym.config.example.json', 'package.json']));
    expect(packedFiles.filter((f) => /^(src|test|bench|scripts)\//.test(f))).toEqual([]);
  });

  it('ckym is on the PATH of that prefix and answers --version and --help', async () => {
    expect(fs.realpathSync(ckym())).toBe(path.join(installed, 'bin', 'ckym.js'));
    expect((await sh('ckym', ['--version'], tmp)).stdout).toBe(`${pkg.version}\n`);
    expect((await sh('ckym', ['--help'], tmp)).stdout).toMatch(/Examples:\n {2}\$ ckym login/);
  });

  it('installs the runtime dependencies only (no devDependency)', () => {
    const present = Object.keys(pkg.devDependencies).filter((d) => fs.existsSync(path.join(installed, 'node_modules', d)));
    expect(present).toEqual([]);
  });

  it('ckym sandbox runs from the installed copy, and a dry-run sync against it reads the calls', async () => {
    const sandbox = spawn(ckym(), ['sandbox', '--calls', '300', '--callkeeper-port', '0', '--metrika-port', '0', '--oauth-port', '0'], {
      cwd: tmp,
      env: { ...env(), TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sandbox.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise<number | null>((resolve) => sandbox.on('close', resolve));
    const start = Date.now();
    while (!out.includes('CKYM_YANDEX_TOKEN')) {
      if (Date.now() - start > 60_000) throw new Error(`the installed sandbox did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const exported = Object.fromEntries(
      out
        .split('\n')
        .filter((l) => l.startsWith('export '))
        .map((l) => l.slice('export '.length).split('=') as [string, string]),
    );
    expect(exported.CKYM_HOME).toBe(path.join(tmp, 'ckym-sandbox-home'));
    const dry = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(ckym(), ['sync', '--config', path.join(installed, 'ckym.config.example.json'), '--dry-run'], {
        cwd: tmp,
        env: { ...env(), ...exported },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    sandbox.kill('SIGINT');
    expect(await closed).toBe(0);
    expect(dry.stderr).not.toMatch(/ckym:/);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/ClientId,DateTime,StaticCall,PhoneNumber/);
  }, 90_000);
});
