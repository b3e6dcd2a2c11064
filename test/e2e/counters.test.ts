/** `ckym counters …` without a terminal (as scripts run it), spawned against the Metrica emulator. */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SEEDS } from '../support/seeds.js';
import { TOKEN, makeWorld, type World } from '../support/harness.js';


let world: World;
beforeEach(async () => {
  world = await makeWorld({ calls: [], counters: SEEDS, config: { sync: { initialDays: 3 }, callkeeper: { timezone: 'Europe/Moscow' } }, nowIso: '2024-05-20T09:00:00Z' });
});
afterEach(() => world.close());

const readConfig = () => JSON.parse(fs.readFileSync(world.configPath, 'utf8')) as Record<string, unknown> & { counters: Record<string, unknown>[] };

describe('ckym counters (non-interactive)', () => {
  it('list shows the counters the account can upload to, marking configured ones; --json is one document', async () => {
    const text = await world.run(['counters', 'list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(
      [
        'counter   name     site          access  configured',
        '11111111  Магазин  shop.example  own',
        '22222222  Блог     blog.example  edit',
        '',
      ].join('\n'),
    );
    expect(text.stderr).toBe('1 view-only counter not shown (uploading needs own or edit access)\n');
    await world.run(['counters', 'add', '11111111', '--yes']);
    const json = await world.run(['counters', 'list', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      version: 1,
      counters: [
        { id: 11111111, configured: true, permission: 'own' },
        { id: 22222222, configured: false, permission: 'edit' },
      ],
    });
  });

  it('add with every flag writes exactly those settings, keeps the other keys, creates the goal and turns call linking on with --yes', async () => {
    const result = await world.run([
      'counters', 'add', '22222222',
      '--call-type', 'callback', '--min-duration', '30', '--status', 'successful', '--uniqueness', 'unique-target',
      '--tags', 'call', '--tag-include', 'Директ', '--tag-include', 'SEO', '--tag-callback', 'Обратный звонок',
      '--goal', 'call', '--site', 'blog.example', '--site', 'www.blog.example', '--price', '990.5', '--currency', 'RUB',
      '--call-goal-name', 'Звонок с блога', '--identifiers', 'yclid,clientId', '--yes',
    ]);
    expect(result.stderr).toMatch(/created the JavaScript-event goal "call" on counter 22222222/);
    expect(result.stderr).toMatch(/turned call linking on for counter 22222222/);
    expect(result.stderr).toMatch(/calls of counter 22222222 can be linked to visits from \d{4}-\d{2}-\d{2}/);
    expect(result.code).toBe(0);
    expect(readConfig()).toEqual({
      sync: { initialDays: 3 },
      callkeeper: { timezone: 'Europe/Moscow' },
      counters: [
        {
          id: 22222222,
          name: 'Блог',
          enabled: true,
          callType: 'callback',
          minDuration: 30,
          status: 'successful',
          uniqueness: 'unique-target',
          tags: { source: 'call', include: ['Директ', 'SEO'], callback: 'Обратный звонок', incoming: '' },
          goal: 'call',
          callGoalName: 'Звонок с блога',
          sites: ['blog.example', 'www.blog.example'],
          price: 990.5,
          currency: 'RUB',
          identifiers: ['yclid', 'clientId'],
        },
      ],
    });
    expect(world.metrika.goals(22222222)).toContainEqual(
      expect.objectContaining({ type: 'action', conditions: [{ type: 'exact', url: 'call' }] }),
    );
    // the written config is valid: show reads it back
    const shown = await world.run(['counters', 'show', '22222222', '--json']);
    expect(JSON.parse(shown.stdout).counters[0]).toMatchObject({ id: 22222222, minDuration: 30, goal: 'call' });
  });

  it('an existing goal is used, not created again', async () => {
    const before = world.metrika.goals(11111111).length;
    const result = await world.run(['counters', 'add', '11111111', '--yes', '--goal', 'calltracking_call_order']);
    expect(result.code).toBe(0);
    expect(world.metrika.goals(11111111)).toHaveLength(before);
    expect(readConfig().counters[0]).toMatchObject({ id: 11111111, goal: 'calltracking_call_order', sites: ['shop.example'] });
  });

  it('without a terminal, missing flags are exit 2 naming them; nothing is written', async () => {
    const before = fs.readFileSync(world.configPath, 'utf8');
    const result = await world.run(['counters', 'add', '11111111', '--call-type', 'incoming', '--status', 'all']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')).toContain(
      'ckym: counters add: no terminal to ask on, and these are missing: --min-duration, --uniqueness, --tags, --goal, --site (or pass --yes for defaults)',
    );
    const noIds = await world.run(['counters', 'add', '--yes']);
    expect(noIds.code).toBe(2);
    expect(noIds.stderr).toMatch(/name the counter ids/);
    expect(fs.readFileSync(world.configPath, 'utf8')).toBe(before);
  });

  it('refuses counters the account cannot upload to', async () => {
    const view = await world.run(['counters', 'add', '33333333', '--yes']);
    expect(view.code).toBe(2);
    expect(view.stderr).toMatch(/counter 33333333 is "view" for this account; uploading needs "own" or "edit"/);
    const unknown = await world.run(['counters', 'add', '99999999', '--yes']);
    expect(unknown.stderr).toMatch(/counter 99999999 is not in this Yandex account/);
  });

  it('a token whose OAuth app lacks metrika:write: creating the goal is denied — exit 3, one line naming the right, not "log in again" (audit)', async () => {
    // The spec: creating goals and turning linking on need metrika:write (uploads only metrika:offline_data). Logging
    // in again with the same app gives the same rights: the fix is the app's rights at oauth.yandex.ru.
    await world.close();
    world = await makeWorld({ calls: [], counters: SEEDS, config: {}, nowIso: '2024-05-20T09:00:00Z', metrika: { scopes: ['metrika:read', 'metrika:offline_data'] } });
    const r = await world.run(['counters', 'add', '22222222', '--goal', 'call', '--yes']);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^ckym: Metrica denied access \(HTTP 403 access_denied: .*metrika:write.*\): .*the OAuth app the rights metrika:read and metrika:write/),
    ]);
    expect(r.stderr).not.toMatch(/refused the Yandex token/);
    expect(r.code).toBe(3);
    expect(world.metrika.goals(22222222).map((g) => g.conditions[0]?.url)).not.toContain('call');
  });

  it('edit changes only the flags given; an invalid edit is refused and the file left untouched', async () => {
    await world.run(['counters', 'add', '11111111', '--yes']);
    const edit = await world.run(['counters', 'edit', '11111111', '--min-duration', '45']);
    expect(edit.code).toBe(0);
    expect(readConfig().counters[0]).toMatchObject({ minDuration: 45, callType: 'all', status: 'all' });
    const before = fs.readFileSync(world.configPath, 'utf8');
    const bad = await world.run(['counters', 'edit', '11111111', '--currency', 'rubles']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--currency: expected an ISO 4217 code such as RUB; got "rubles"/);
    const nothing = await world.run(['counters', 'edit', '11111111']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/nothing to change/);
    expect(fs.readFileSync(world.configPath, 'utf8')).toBe(before);
  });

  it('both linking switches (12.1): --no-linking (or its old name --no-call-linking) leaves them; "counters edit ID --yes" turns on those that are off', async () => {
    const off = (kind: string) =>
      fetch(`${world.metrika.url}/management/v1/counter/11111111/offline_conversions/${kind}`, { method: 'DELETE', headers: { authorization: `OAuth ${TOKEN}` } });
    expect((await off('calls_extended_threshold')).status).toBe(200);
    expect((await off('extended_threshold')).status).toBe(200);
    for (const flag of ['--no-linking', '--no-call-linking']) {
      const left = await world.run(['counters', 'add', '11111111', '--goal', 'calltracking_call_order', '--yes', flag]);
      expect(left.code).toBe(0);
      expect(left.stderr).not.toMatch(/linking/);
    }
    const switches = () => world.metrika.requests.filter((r) => /extended_threshold$/.test(r.path) && r.method === 'POST').map((r) => r.path.split('/').at(-1));
    expect(switches()).toEqual([]);
    // the counter has a goal (calltracking_call_order): both switches are needed, --yes turns both on
    const fixed = await world.run(['counters', 'edit', '11111111', '--yes']);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toBe('');
    expect(fixed.stderr).toMatch(/^turned call linking on for counter 11111111$/m);
    expect(fixed.stderr).toMatch(/^turned conversion linking on for counter 11111111$/m);
    expect(fixed.stderr).toMatch(/^conversions of counter 11111111 can be linked to visits from \d{4}-\d{2}-\d{2} \(at most 21 days back\)$/m);
    expect(switches()).toEqual(['calls_extended_threshold', 'extended_threshold']);
    // a second time: nothing to turn on
    const again = await world.run(['counters', 'edit', '11111111', '--yes']);
    expect(again.stderr).not.toMatch(/turned/);
    expect(switches()).toHaveLength(2);
  });

  it('a config that would be invalid after the edit is refused with the reason, file untouched', async () => {
    fs.writeFileSync(world.configPath, JSON.stringify({ counters: [{ id: 11111111 }], sync: { initialDays: 7 } }, null, 4));
    await world.run(['counters', 'add', '11111111', '--yes']);
    const valid = fs.readFileSync(world.configPath, 'utf8');
    expect(valid).toMatch(/^\{\n {4}"counters"/); // the user's 4-space indentation is kept
    // hand-edit makes another key invalid: counters edit must not write a config that fails validation
    const broken = valid.replace('"initialDays": 7', '"initialDays": 0');
    fs.writeFileSync(world.configPath, broken);
    const result = await world.run(['counters', 'edit', '11111111', '--min-duration', '5']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/sync\.initialDays: expected a value ≥ 1; got 0/);
    expect(fs.readFileSync(world.configPath, 'utf8')).toBe(broken);
  });

  it('remove needs --yes without a terminal', async () => {
    await world.run(['counters', 'add', '11111111', '--yes']);
    const ask = await world.run(['counters', 'remove', '11111111']);
    expect(ask.code).toBe(2);
    expect(ask.stderr).toMatch(/pass --yes to confirm/);
    const done = await world.run(['counters', 'remove', '11111111', '--yes']);
    expect(done.code).toBe(0);
    expect(readConfig().counters).toEqual([]);
    expect(readConfig().sync).toEqual({ initialDays: 3 });
  });
});
