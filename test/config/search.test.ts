/**
 * Where ckym looks for its config, and which configs it runs: real files in temporary folders.
 * The search stops at the nearest project root (package.json or .git) or the home folder, never above; a JavaScript
 * config runs only when this user owns it and nobody else can change it or its folder; JSON and YAML never run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, searchDirs, userConfigDir } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

let tmp: string;
let marker: string;
beforeEach(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-search-')));
  fs.chmodSync(tmp, 0o755);
  marker = path.join(tmp, 'RAN');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const root = process.getuid?.() === 0;
const mkdir = (...parts: string[]) => {
  const dir = path.join(tmp, ...parts);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
};
const json = (dir: string, id: number, name = 'ckym.config.json') => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ counters: [{ id }] }), { mode: 0o644 });
  return file;
};
/** A JavaScript config that leaves a mark when it runs. */
const js = (dir: string, id: number, name = 'ckym.config.js') => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nmodule.exports = { counters: [{ id: ${id} }] };\n`, {
    mode: 0o644,
  });
  fs.chmodSync(file, 0o644);
  return file;
};
const ran = () => fs.existsSync(marker);
/** A home that has nothing to do with `tmp`, so only project roots stop the search there. */
const elsewhere = { home: '/nonexistent-ckym-home', env: { XDG_CONFIG_HOME: '/nonexistent-ckym-xdg' } };

describe('the config search stops at the nearest project root or the home folder', () => {
  it('a project root (.git or package.json) is the last folder searched', async () => {
    json(mkdir('outer'), 1);
    const project = mkdir('outer', 'project');
    fs.mkdirSync(path.join(project, '.git'));
    const deep = mkdir('outer', 'project', 'a', 'b');
    expect(searchDirs(deep, elsewhere.home)).toEqual([deep, path.dirname(deep), project]);
    expect((await loadConfig({ cwd: deep, ...elsewhere })).filepath).toBeNull(); // outer's config is above the root
    json(project, 2);
    expect((await loadConfig({ cwd: deep, ...elsewhere })).config.counters[0]?.id).toBe(2);

    const pkg = mkdir('other');
    fs.writeFileSync(path.join(pkg, 'package.json'), '{"name":"x"}');
    json(tmp, 3);
    expect(searchDirs(mkdir('other', 'src'), elsewhere.home)).toEqual([path.join(pkg, 'src'), pkg]);
    expect((await loadConfig({ cwd: path.join(pkg, 'src'), ...elsewhere })).filepath).toBeNull();
  });

  it('the home folder is the last folder searched', async () => {
    const home = mkdir('home', 'user');
    json(tmp, 1); // above home: never read
    const work = mkdir('home', 'user', 'work', 'calls');
    expect(searchDirs(work, home)).toEqual([work, path.dirname(work), home]);
    expect((await loadConfig({ cwd: work, home, env: {} })).filepath).toBeNull();
    json(home, 4);
    expect((await loadConfig({ cwd: work, home, env: {} })).config.counters[0]?.id).toBe(4);
  });

  it('never climbs to /: a ckym.config.js three folders up, under neither a project root nor home, is not run', async () => {
    js(tmp, 5);
    json(tmp, 5, '.ckymrc.json');
    const cwd = mkdir('x', 'y', 'z');
    expect(searchDirs(cwd, elsewhere.home)).toEqual([cwd]);
    expect((await loadConfig({ cwd, ...elsewhere })).filepath).toBeNull();
    expect(ran()).toBe(false);
    expect(searchDirs('/', elsewhere.home)).toEqual(['/']);
  });

  it("cosmiconfig's meta config (.config/config.js in the working directory) is never run", async () => {
    const cwd = mkdir('work');
    fs.mkdirSync(path.join(cwd, '.git'));
    const meta = mkdir('work', '.config');
    fs.writeFileSync(path.join(meta, 'config.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nmodule.exports = { cosmiconfig: { searchPlaces: ['../evil.json'] } };\n`);
    json(cwd, 6);
    expect((await loadConfig({ cwd, ...elsewhere })).config.counters[0]?.id).toBe(6);
    expect(ran()).toBe(false);
  });

  it('the user config dir comes last', async () => {
    const xdg = mkdir('xdg');
    const dir = path.join(xdg, 'ckym');
    fs.mkdirSync(dir);
    json(dir, 7, 'config.json');
    const cwd = mkdir('empty');
    const loaded = await loadConfig({ cwd, home: elsewhere.home, env: { XDG_CONFIG_HOME: xdg } });
    expect(loaded.filepath).toBe(path.join(dir, 'config.json'));
    expect(userConfigDir({}, '/home/u', 'linux')).toBe('/home/u/.config/ckym');
  });
});

describe('a JavaScript config runs only when it is yours alone', () => {
  const refused = async (cwd: string, message: RegExp, configPath?: string) => {
    const error = await loadConfig({ cwd, configPath, ...elsewhere }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect(ran()).toBe(false);
  };

  it('yours, writable by you only, in a folder of yours: it runs', async () => {
    const cwd = mkdir('mine');
    js(cwd, 8);
    expect((await loadConfig({ cwd, ...elsewhere })).config.counters[0]?.id).toBe(8);
    expect(ran()).toBe(true);
  });

  it('others can write it: refused, with the chmod that fixes it', async () => {
    const cwd = mkdir('shared');
    const file = js(cwd, 9);
    for (const mode of [0o664, 0o646]) {
      fs.chmodSync(file, mode);
      await refused(cwd, new RegExp(`others can change this one \\(mode ${mode.toString(8)}\\); run "chmod go-w ${file}"`));
    }
  });

  it('its folder is writable by others (not sticky): refused; a sticky folder like /tmp is fine', async () => {
    const cwd = mkdir('open');
    js(cwd, 10);
    fs.chmodSync(cwd, 0o777);
    await refused(cwd, /its folder .*open can be changed by others \(owner uid \d+, mode 777\)/);
    fs.chmodSync(cwd, 0o1777);
    expect((await loadConfig({ cwd, ...elsewhere })).config.counters[0]?.id).toBe(10);
  });

  it.runIf(root)('another user owns it, or its folder: refused (exit 2), also when --config names it', async () => {
    const cwd = mkdir('theirs');
    const file = js(cwd, 11);
    fs.chownSync(file, 4242, 4242);
    await refused(cwd, /ckym\.config\.js: a JavaScript config is run as code, and this one belongs to another user \(uid 4242\)/);
    await refused(tmp, /belongs to another user/, file);
    fs.chownSync(file, 0, 0);
    fs.chownSync(cwd, 4242, 4242);
    await refused(cwd, /its folder .*theirs can be changed by others \(owner uid 4242/);
  });

  it('JSON and YAML are never run: a .ckymrc holding code is a parse error, a $import is an unknown key', async () => {
    const cwd = mkdir('data');
    fs.writeFileSync(path.join(cwd, '.ckymrc'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`);
    const error = await loadConfig({ cwd, ...elsewhere }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(ran()).toBe(false);
    fs.rmSync(path.join(cwd, '.ckymrc'));
    js(mkdir('data', 'lib'), 12);
    fs.writeFileSync(path.join(cwd, 'ckym.config.json'), JSON.stringify({ $import: './lib/ckym.config.js', counters: [{ id: 1 }] }));
    await refused(cwd, /\$import: unknown key/);
  });
});
