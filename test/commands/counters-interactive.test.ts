/**
 * Interactive `ckym counters add`, driven through its real inquirer prompts: keystrokes go into a
 * terminal-like stdin, the screen is read from stderr, the written config is read back.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import type { IO } from '../../src/cli/io.js';
import { startMetrikaEmulator, type MetrikaEmulator } from '../../src/sandbox/metrika.js';
import { SEEDS } from '../support/seeds.js';

const TOKEN = 'interactive-test-token-0001';
const KEY = { enter: '\r', down: '\u001b[B', space: ' ', ctrlC: '\u0003' };

let dir: string;
let metrika: MetrikaEmulator;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-interactive-'));
  metrika = await startMetrikaEmulator({ token: TOKEN, counters: SEEDS, now: () => Date.parse('2024-05-20T09:00:00Z') });
  fs.writeFileSync(path.join(dir, 'ckym.config.json'), JSON.stringify({ sync: { initialDays: 3 } }, null, 2));
});
afterEach(async () => {
  await metrika.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A terminal: stdin we type into, a screen (stderr) we read; ANSI codes stripped for matching. */
function terminal() {
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin });
  // Each prompt pipes its output into stderr and ends the pipe when done; a terminal stays open.
  const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 120, rows: 40 });
  stderr.end = (() => stderr) as typeof stderr.end;
  const stdout = new PassThrough();
  let screen = '';
  let raw = '';
  let out = '';
  let seen = 0;
  stderr.on('data', (d: Buffer) => {
    raw += d.toString();
    screen += d.toString().replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
  });
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const io: IO = {
    stdin,
    stdout,
    stderr,
    cwd: dir,
    env: { CKYM_HOME: path.join(dir, 'home'), CKYM_METRIKA_URL: metrika.url, CKYM_YANDEX_TOKEN: TOKEN, NO_COLOR: '1' },
  };
  return {
    io,
    screen: () => screen,
    /** Everything written to the terminal, escape sequences and all. */
    raw: () => raw,
    out: () => out,
    /** Waits for `prompt` to appear after the previous answer, then types `keys`. */
    async answer(prompt: RegExp, ...keys: string[]) {
      const start = Date.now();
      while (!prompt.test(screen.slice(seen))) {
        if (Date.now() - start > 10_000) throw new Error(`prompt ${prompt} not shown; screen since last answer:\n${screen.slice(seen)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      seen = screen.length;
      for (const k of keys) {
        stdin.write(k);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

describe('ckym counters add (interactive)', () => {
  it('asks the seed\'s settings with explanations, creates the chosen goal, offers call linking, and writes the config', async () => {
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'add'], t.io);

    await t.answer(/Counters to send calls to/, KEY.down, KEY.space, KEY.enter); // pick the second: 22222222 Блог
    await t.answer(/Тип звонков — which calls go to this counter[\s\S]*Call type/, KEY.down, KEY.enter); // callback
    await t.answer(/Длительность[\s\S]*Minimum duration, seconds/, '\u0008', '40', KEY.enter);
    await t.answer(/Статус звонка[\s\S]*Call status/, KEY.down, KEY.enter); // successful
    await t.answer(/Дополнительно[\s\S]*Uniqueness/, KEY.down, KEY.enter); // unique
    await t.answer(/Тегирование[\s\S]*Tags/, KEY.down, KEY.enter); // only some
    await t.answer(/Tags to send \(comma-separated\)/, 'Директ, SEO', KEY.enter);
    await t.answer(/Fixed tag text for callbacks/, 'Обратный', KEY.enter);
    await t.answer(/Fixed tag text for incoming calls/, KEY.enter);
    // the goal's explanation comes right before the goal question (after the counter's goals were read)
    await t.answer(/Достижение цели[^\n]*\n[^\n]*Goal[\s\S]*call — create this JavaScript-event goal/, KEY.enter); // the first offer for callbacks: call
    await t.answer(/Sites[^\n]*\n[^\n]*Sites \(comma-separated; empty = any\)/, KEY.enter); // keep blog.example
    await t.answer(/Identifiers — [^\n]*\n[^\n]*Identifiers[\s\S]*ClientID only/, KEY.down, KEY.enter); // ClientID only
    await t.answer(/Call linking is off on counter 22222222[\s\S]*Turn it on\?/, KEY.enter);

    expect(await done).toBe(0);
    expect(t.out()).toMatch(/added counter 22222222 \(Блог\)/);
    expect(t.screen()).toMatch(/created the JavaScript-event goal "call" on counter 22222222/);
    expect(t.screen()).toMatch(/calls of counter 22222222 can be linked to visits from \d{4}-\d{2}-\d{2}/);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'ckym.config.json'), 'utf8'));
    expect(config).toEqual({
      sync: { initialDays: 3 },
      counters: [
        {
          id: 22222222,
          name: 'Блог',
          enabled: true,
          callType: 'callback',
          minDuration: 40,
          status: 'successful',
          uniqueness: 'unique',
          tags: { source: 'call', include: ['Директ', 'SEO'], callback: 'Обратный', incoming: '' },
          goal: 'call',
          callGoalName: '',
          sites: ['blog.example'],
          price: null,
          currency: 'RUB',
          identifiers: ['clientId'],
        },
      ],
    });
    expect(metrika.goals(22222222)).toContainEqual(expect.objectContaining({ conditions: [{ type: 'exact', url: 'call' }] }));
  });

  it('flags answer their questions, so only the rest are asked', async () => {
    const t = terminal();
    const done = run(
      ['node', 'ckym', 'counters', 'add', '11111111', '--call-type', 'incoming', '--min-duration', '0', '--status', 'all', '--uniqueness', 'all', '--tags', 'none'],
      t.io,
    );
    await t.answer(/Goal[\s\S]*calltracking_call_order — existing goal «Звонок коллтрекинга»/, KEY.enter);
    await t.answer(/Sites/, KEY.enter);
    await t.answer(/Identifiers/, KEY.enter);
    expect(await done).toBe(0);
    expect(t.screen()).not.toMatch(/Call type|Minimum duration|Call status|Uniqueness/);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'ckym.config.json'), 'utf8'));
    expect(config.counters[0]).toMatchObject({ id: 11111111, callType: 'incoming', tags: { source: 'none' }, goal: 'calltracking_call_order' });
  });
});

/** A counter with no setting at its default, and one without a goal. */
const EDITED = {
  sync: { initialDays: 3 },
  counters: [
    {
      id: 11111111,
      name: 'Магазин',
      enabled: true,
      callType: 'callback',
      minDuration: 40,
      status: 'successful',
      uniqueness: 'unique-target',
      tags: { source: 'call', include: ['Директ', 'SEO'], callback: 'Обратный', incoming: 'Входящий' },
      goal: 'calltracking_call_order',
      callGoalName: 'Звонок',
      sites: ['shop.example', 'www.shop.example'],
      price: 990,
      currency: 'EUR',
    },
    { id: 22222222, name: 'Блог', callType: 'incoming', tags: { source: 'none' }, goal: '', sites: [] },
  ],
};

describe('ckym counters edit (interactive)', () => {
  it('Enter at every prompt keeps every setting, the goal included: nothing is written', async () => {
    const file = path.join(dir, 'ckym.config.json');
    fs.writeFileSync(file, JSON.stringify(EDITED, null, 2));
    const before = fs.readFileSync(file, 'utf8');
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'edit', '11111111'], t.io);
    await t.answer(/Enter keeps the current value[\s\S]*Call type[\s\S]*callback — only callbacks/, KEY.enter);
    await t.answer(/Minimum duration, seconds/, KEY.enter);
    await t.answer(/Call status/, KEY.enter);
    await t.answer(/Uniqueness/, KEY.enter);
    await t.answer(/Tags/, KEY.enter);
    await t.answer(/Tags to send \(comma-separated\)/, KEY.enter);
    await t.answer(/Fixed tag text for callbacks/, KEY.enter);
    await t.answer(/Fixed tag text for incoming calls/, KEY.enter);
    await t.answer(/Goal[\s\S]*calltracking_call_order — existing goal/, KEY.enter);
    await t.answer(/Sites \(comma-separated; empty = any\)/, KEY.enter);
    await t.answer(/Identifiers[\s\S]*ClientID, else the Direct click's yclid/, KEY.enter);
    expect(await done).toBe(0);
    expect(t.out()).toBe('counter 11111111: nothing changed\n');
    // a counter with a goal: both linking switches were read (both on), nothing asked
    expect(t.screen()).toMatch(/calls of counter 11111111 can be linked to visits from 2024-04-29/);
    expect(t.screen()).toMatch(/conversions of counter 11111111 can be linked to visits from 2024-04-29/);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    expect(metrika.goals(11111111)).toHaveLength(1); // no goal created
  });

  it('a counter without a goal stays without one (and a short entry is not rewritten)', async () => {
    const file = path.join(dir, 'ckym.config.json');
    fs.writeFileSync(file, JSON.stringify(EDITED, null, 2));
    const before = fs.readFileSync(file, 'utf8');
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'edit', '22222222'], t.io);
    await t.answer(/Call type/, KEY.enter);
    await t.answer(/Minimum duration, seconds/, KEY.enter);
    await t.answer(/Call status/, KEY.enter);
    await t.answer(/Uniqueness/, KEY.enter);
    await t.answer(/Tags/, KEY.enter);
    await t.answer(/Fixed tag text for callbacks/, KEY.enter);
    await t.answer(/Fixed tag text for incoming calls/, KEY.enter);
    await t.answer(/Goal[\s\S]*no goal — calls go to the call reports only/, KEY.enter);
    await t.answer(/Sites/, KEY.enter);
    await t.answer(/Identifiers/, KEY.enter);
    expect(await done).toBe(0);
    expect(t.out()).toBe('counter 22222222: nothing changed\n');
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
    expect(metrika.goals(22222222)).toEqual([]);
  });

  it('a changed answer writes just that setting', async () => {
    const file = path.join(dir, 'ckym.config.json');
    fs.writeFileSync(file, JSON.stringify(EDITED, null, 2));
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'edit', '22222222', '--call-type', 'incoming', '--status', 'all', '--uniqueness', 'all', '--tags', 'none', '--goal', '', '--site', 'blog.example'], t.io);
    await t.answer(/Minimum duration, seconds/, '\u0008', '15', KEY.enter);
    await t.answer(/Identifiers/, KEY.enter);
    expect(await done).toBe(0);
    const after = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(after.counters[1]).toEqual({ ...EDITED.counters[1], minDuration: 15, sites: ['blog.example'] });
  });
});

describe('texts from the config or Metrica in a prompt (issue 13: control characters never reach the terminal)', () => {
  // an OSC sequence retitles the window; ESC[1A ESC[2K (cursor up, erase line) would wipe what the user read
  const TITLE = '\u001b]0;pwned\u0007';
  const ERASE = '\u001b[1A\u001b[2Kerased';
  /** What the terminal got that inquirer does not write itself: the injected sequences or their payloads. */
  const injected = (raw: string) => [TITLE, ERASE, 'pwned', '\u0007'].filter((s) => raw.includes(s));

  it('counters edit: defaults are shown without their control characters, and Enter keeps each value exactly as it is', async () => {
    const file = path.join(dir, 'ckym.config.json');
    const first = EDITED.counters[0]!;
    const config = {
      ...EDITED,
      counters: [{ ...first, tags: { ...first.tags, include: [`Ди${TITLE}рект`, 'SEO'], callback: `Обр${ERASE}атный` }, sites: ['shop.example', `www${TITLE}.shop.example`] }, EDITED.counters[1]],
    };
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    const before = fs.readFileSync(file, 'utf8');
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'edit', '11111111'], t.io);
    for (const prompt of [/Call type/, /Minimum duration/, /Call status/, /Uniqueness/, /Tags/]) await t.answer(prompt, KEY.enter);
    await t.answer(/Tags to send \(comma-separated\) \(Директ, SEO\)/, KEY.enter);
    await t.answer(/Fixed tag text for callbacks \(empty = as above\) \(Обрerasedатный\)/, KEY.enter);
    await t.answer(/Fixed tag text for incoming calls/, KEY.enter);
    await t.answer(/Goal[\s\S]*calltracking_call_order — existing goal/, KEY.enter);
    await t.answer(/Sites \(comma-separated; empty = any\) \(shop\.example, www\.shop\.example\)/, KEY.enter);
    await t.answer(/Identifiers/, KEY.enter);
    expect(await done).toBe(0);
    expect(injected(t.raw())).toEqual([]);
    expect(t.out()).toBe('counter 11111111: nothing changed\n');
    expect(fs.readFileSync(file, 'utf8')).toBe(before); // the values as they were, not the cleaned forms shown
  });

  it('counters edit: a new answer typed over such a default is taken as typed', async () => {
    const file = path.join(dir, 'ckym.config.json');
    const first = EDITED.counters[0]!;
    fs.writeFileSync(file, JSON.stringify({ ...EDITED, counters: [{ ...first, tags: { ...first.tags, callback: `Обр${ERASE}атный` } }, EDITED.counters[1]] }, null, 2));
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'edit', '11111111', '--call-type', 'callback', '--min-duration', '40', '--status', 'successful', '--uniqueness', 'unique-target', '--goal', 'calltracking_call_order', '--site', 'shop.example'], t.io);
    await t.answer(/Tags/, KEY.enter);
    await t.answer(/Tags to send/, KEY.enter);
    await t.answer(/Fixed tag text for callbacks \(empty = as above\) \(Обрerasedатный\)/, 'Перезвон', KEY.enter);
    await t.answer(/Fixed tag text for incoming calls/, KEY.enter);
    await t.answer(/Identifiers/, KEY.enter);
    expect(await done).toBe(0);
    expect(injected(t.raw())).toEqual([]);
    const after = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(after.counters[0].tags).toEqual({ ...first.tags, callback: 'Перезвон' });
    expect(after.counters[0].sites).toEqual(['shop.example']);
  });

  it("login: the stored key's ends, shown in the key prompt, come without control characters", async () => {
    fs.writeFileSync(path.join(dir, 'ckym.config.json'), JSON.stringify({ yandex: { clientId: 'c0ffee00d15ea5e0c0ffee00d15ea5e0' } }));
    const home = path.join(dir, 'home');
    fs.mkdirSync(home, { mode: 0o700 });
    // a credentials file edited by hand (or by something else): its key starts with an OSC sequence and ends with BEL
    const key = `${TITLE.slice(0, 4)}0123456789abcdef\u0007`;
    fs.writeFileSync(path.join(home, 'credentials.json'), JSON.stringify({ version: 1, callkeeper: { key } }), { mode: 0o600 });
    const t = terminal();
    t.io.env = { ...t.io.env, CKYM_YANDEX_TOKEN: '' };
    const done = run(['node', 'ckym', 'login'], t.io);
    await t.answer(/CallKeeper API key \(Enter keeps [^)]*\)/, KEY.ctrlC);
    expect(await done).toBe(130);
    expect(t.raw()).not.toContain('\u001b]0;');
    expect(injected(t.raw())).toEqual([]);
  });

  it("counters add: Metrica's counter name and site are shown clean; Enter takes the suggested site as Metrica gave it", async () => {
    await metrika.close();
    const seeds = SEEDS.map((c) => (c.id === 22222222 ? { ...c, name: `Бл${ERASE}ог`, site: `blog${TITLE}.example` } : c));
    metrika = await startMetrikaEmulator({ token: TOKEN, counters: seeds, now: () => Date.parse('2024-05-20T09:00:00Z') });
    const t = terminal();
    t.io.env.CKYM_METRIKA_URL = metrika.url;
    const done = run(['node', 'ckym', 'counters', 'add', '--call-type', 'all', '--min-duration', '0', '--status', 'all', '--uniqueness', 'all', '--tags', 'none', '--goal', '', '--no-linking'], t.io);
    await t.answer(/Counters to send calls to[\s\S]*22222222  Блerasedог \(blog\.example\)/, KEY.down, KEY.space, KEY.enter);
    await t.answer(/Sites \(comma-separated; empty = any\) \(blog\.example\)/, KEY.enter);
    await t.answer(/Identifiers/, KEY.enter);
    expect(await done).toBe(0);
    expect(injected(t.raw())).toEqual([]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'ckym.config.json'), 'utf8'));
    expect(config.counters[0]).toMatchObject({ id: 22222222, sites: [`blog${TITLE}.example`] });
  });
});

describe('Ctrl-C at a prompt', () => {
  const config = () => fs.readFileSync(path.join(dir, 'ckym.config.json'), 'utf8');

  it('at the first question of counters add: "cancelled", exit 130, nothing written', async () => {
    const before = config();
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'add', '22222222'], t.io);
    await t.answer(/Call type/, KEY.ctrlC);
    expect(await done).toBe(130);
    expect(t.screen()).toMatch(/\ncancelled\n$/);
    expect(t.screen()).not.toMatch(/internal error|ExitPromptError/);
    expect(config()).toBe(before);
  });

  it('at the last question (call linking), after every setting was answered: nothing written, no goal created, linking still off', async () => {
    const before = config();
    const t = terminal();
    const done = run(['node', 'ckym', 'counters', 'add', '22222222', '--call-type', 'callback', '--min-duration', '0', '--status', 'all', '--uniqueness', 'all', '--tags', 'call', '--goal', 'call', '--site', 'blog.example', '--identifiers', 'clientId,yclid'], t.io);
    await t.answer(/Call linking is off on counter 22222222[\s\S]*Turn it on\?/, KEY.ctrlC);
    expect(await done).toBe(130);
    expect(config()).toBe(before);
    expect(metrika.goals(22222222)).toEqual([]);
    expect(t.screen()).not.toMatch(/turned call linking on/);
  });

  it('in login: nothing is stored', async () => {
    fs.writeFileSync(path.join(dir, 'ckym.config.json'), JSON.stringify({ yandex: { clientId: 'c0ffee00d15ea5e0c0ffee00d15ea5e0' } }));
    const t = terminal();
    t.io.env = { ...t.io.env, CKYM_YANDEX_TOKEN: '' };
    const done = run(['node', 'ckym', 'login'], t.io);
    await t.answer(/CallKeeper API key/, 'k3y', KEY.ctrlC);
    expect(await done).toBe(130);
    expect(t.screen()).toMatch(/cancelled\n$/);
    expect(fs.existsSync(path.join(dir, 'home', 'credentials.json'))).toBe(false);
  });

  it('in counters edit and counters remove too', async () => {
    fs.writeFileSync(path.join(dir, 'ckym.config.json'), JSON.stringify(EDITED, null, 2));
    const before = config();
    const edit = terminal();
    const editing = run(['node', 'ckym', 'counters', 'edit', '11111111'], edit.io);
    await edit.answer(/Minimum duration|Call type/, KEY.enter);
    await edit.answer(/Minimum duration/, KEY.ctrlC);
    expect(await editing).toBe(130);
    const remove = terminal();
    const removing = run(['node', 'ckym', 'counters', 'remove', '11111111'], remove.io);
    await remove.answer(/Remove counter 11111111 from the config\?/, KEY.ctrlC);
    expect(await removing).toBe(130);
    expect(remove.screen()).toMatch(/cancelled/);
    expect(config()).toBe(before);
  });
});

