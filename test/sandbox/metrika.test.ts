import { afterEach, describe, expect, it } from 'vitest';
import { COMMENT_REFUSED_MESSAGE, CONVERSIONS_TOO_EARLY_MESSAGE, startMetrikaEmulator, UPLOAD_TOO_EARLY_MESSAGE } from '../../src/sandbox/metrika.js';
import type { MetrikaCounterSeed, MetrikaEmulator, MetrikaEmulatorOptions } from '../../src/sandbox/metrika.js';
import { call, multipartBody, TOKEN, toCsv, upload, uploadPath } from './helpers.js';

const NOW = Date.UTC(2024, 4, 10, 12, 0, 0); // 2024-05-10T12:00:00Z
const T = Math.floor(NOW / 1000) - 3600; // an hour ago

const SHOP = 12345678;
const BLOG = 23456789;
const VIEW = 34567890;
const EARLY = 45678901;

const COUNTERS: MetrikaCounterSeed[] = [
  {
    id: SHOP,
    name: 'Магазин',
    site: 'shop.example',
    permission: 'own',
    goals: [{ id: 77, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] }],
  },
  { id: BLOG, name: 'Блог', site: 'blog.example', permission: 'edit' },
  { id: VIEW, name: 'Чужой', site: 'other.example', permission: 'view' },
  { id: EARLY, name: 'Новый', site: 'new.example', callsLinking: false },
];

let emulator: MetrikaEmulator | null = null;
afterEach(async () => {
  await emulator?.close();
  emulator = null;
});

async function start(opts: Partial<MetrikaEmulatorOptions> = {}): Promise<MetrikaEmulator> {
  emulator = await startMetrikaEmulator({ token: TOKEN, counters: COUNTERS, now: () => NOW, ...opts });
  return emulator;
}

const CALL_HEADER = ['ClientId', 'DateTime', 'StaticCall', 'PhoneNumber', 'TalkDuration', 'CallMissed', 'FirstTimeCaller', 'Tag', 'URL', 'CallTrackerURL'];
const callRow = (over: Record<string, string> = {}): Record<string, string> => ({
  ClientId: '1714000000123456789',
  DateTime: String(T),
  StaticCall: '0',
  PhoneNumber: '+79991234567',
  TalkDuration: '95',
  CallMissed: '0',
  FirstTimeCaller: '1',
  Tag: 'Директ',
  URL: 'https://shop.example/catalog',
  CallTrackerURL: 'https://ckct.ru/records/1.mp3',
  ...over,
});
const callsCsv = (rows: Record<string, string>[] = [callRow()], header = CALL_HEADER): string => toCsv(header, rows);
const conversionsCsv = (rows: Record<string, string>[]): string => toCsv(['ClientId', 'Target', 'DateTime'], rows);

function expectError(res: { status: number; json: any }, status: number, type: string, message?: RegExp): void {
  expect(res.status).toBe(status);
  expect(res.json.errors).toHaveLength(1);
  expect(res.json.errors[0].error_type).toBe(type);
  expect(res.json.code).toBe(status);
  expect(res.json.message).toBe(res.json.errors[0].message);
  if (message) expect(res.json.message).toMatch(message);
}

describe('Metrica emulator: authorisation', () => {
  it('refuses a request without the OAuth header (401 unauthorized)', async () => {
    const e = await start();
    expectError(await call(e.url, '/management/v1/counters', { token: null }), 401, 'unauthorized');
  });

  it('refuses a Bearer header or a malformed one (401)', async () => {
    const e = await start();
    for (const authorization of [`Bearer ${TOKEN}`, 'OAuth', `oauth ${TOKEN}`]) {
      const res = await call(e.url, '/management/v1/counters', { token: null, headers: { authorization } });
      expectError(res, 401, 'unauthorized');
    }
  });

  it('refuses a wrong token (403 invalid_token) and follows setToken (revocation)', async () => {
    const e = await start();
    expectError(await call(e.url, '/management/v1/counters', { token: 'nope' }), 403, 'invalid_token');
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
    e.setToken('rotated');
    expectError(await call(e.url, '/management/v1/counters'), 403, 'invalid_token');
    expect((await call(e.url, '/management/v1/counters', { token: 'rotated' })).status).toBe(200);
  });

  it('refuses a token in the query string, even with a valid header, and never stores it', async () => {
    const e = await start();
    const res = await call(e.url, `/management/v1/counters?oauth_token=${TOKEN}&per_page=5`);
    expectError(res, 400, 'invalid_parameter', /URL/);
    const noHeader = await call(e.url, `/management/v1/counters?oauth_token=${TOKEN}`, { token: null });
    expect(noHeader.status).toBe(400);
    expect(JSON.stringify(e.requests)).not.toContain(TOKEN);
    expect(e.requests[0]).toMatchObject({ method: 'GET', path: '/management/v1/counters', query: 'per_page=5', status: 400 });
  });

  it('uploads are refused without auth and nothing is stored', async () => {
    const e = await start();
    expect((await upload(e.url, SHOP, callsCsv(), { token: null })).status).toBe(401);
    expect(e.uploads).toEqual([]);
  });
});

describe('Metrica emulator: counters and goals', () => {
  it('lists counters with a 1-based offset and per_page', async () => {
    const e = await start();
    const all = await call(e.url, '/management/v1/counters?per_page=1000&offset=1');
    expect(all.status).toBe(200);
    expect(all.json.rows).toBe(4);
    expect(all.json.counters[0]).toEqual({
      id: SHOP,
      name: 'Магазин',
      site2: { site: 'shop.example' },
      permission: 'own',
      status: 'Active',
      time_zone_name: 'Europe/Moscow',
    });
    expect(all.json.counters.map((c: any) => c.permission)).toEqual(['own', 'edit', 'view', 'own']);
    const page2 = await call(e.url, '/management/v1/counters?per_page=3&offset=4');
    expect(page2.json).toMatchObject({ rows: 4, counters: [{ id: EARLY }] });
    expect((await call(e.url, '/management/v1/counters?per_page=3&offset=5')).json.counters).toEqual([]);
    expectError(await call(e.url, '/management/v1/counters?offset=0'), 400, 'invalid_parameter', /offset/);
    expectError(await call(e.url, '/management/v1/counters?per_page=abc'), 400, 'invalid_parameter', /per_page/);
  });

  it('lists and creates goals; a view-only counter may not create one', async () => {
    const e = await start();
    const list = await call(e.url, `/management/v1/counter/${SHOP}/goals`);
    expect(list.json.goals).toEqual(COUNTERS[0]!.goals);
    const body = JSON.stringify({ goal: { name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] } });
    const created = await call(e.url, `/management/v1/counter/${BLOG}/goals`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(200);
    expect(created.json.goal).toMatchObject({ name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] });
    expect(created.json.goal.id).toEqual(expect.any(Number));
    expect((await call(e.url, `/management/v1/counter/${BLOG}/goals`)).json.goals).toEqual([created.json.goal]);
    expect(e.goals(BLOG)).toEqual([created.json.goal]);
    expectError(await call(e.url, `/management/v1/counter/${VIEW}/goals`, { method: 'POST', body }), 403, 'access_denied');
  });

  it('validates a goal body', async () => {
    const e = await start();
    const post = (body: string) => call(e.url, `/management/v1/counter/${SHOP}/goals`, { method: 'POST', body });
    expectError(await post('not json'), 400, 'invalid_parameter', /JSON/);
    expectError(await post('{"name":"x"}'), 400, 'invalid_parameter', /goal/);
    expectError(await post('{"goal":{"name":"","type":"action"}}'), 400, 'invalid_parameter', /name/);
    expectError(await post('{"goal":{"name":"x","type":"action","conditions":[]}}'), 400, 'invalid_parameter', /condition/);
  });

  it('answers 404 for an unknown counter or path and 405 for a wrong method', async () => {
    const e = await start();
    expectError(await call(e.url, '/management/v1/counter/999/goals'), 404, 'not_found');
    expectError(await upload(e.url, 999, callsCsv()), 404, 'not_found');
    expectError(await call(e.url, '/management/v1/nothing'), 404, 'not_found');
    expect((await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/upload_calls`)).status).toBe(405);
  });

  it('calls linking: too early until calls_extended_threshold is POSTed', async () => {
    const e = await start();
    const early = await upload(e.url, EARLY, callsCsv());
    expectError(early, 400, 'invalid_uploading', /^Загрузить данные сейчас невозможно/);
    expect(early.json.message).toBe(UPLOAD_TOO_EARLY_MESSAGE);
    expect((await call(e.url, `/management/v1/counter/${EARLY}/offline_conversions/calls_visit_join_threshold`)).json).toEqual({ date: null });
    const on = await call(e.url, `/management/v1/counter/${EARLY}/offline_conversions/calls_extended_threshold`, { method: 'POST' });
    expect(on.json).toEqual({ success: true });
    expect((await call(e.url, `/management/v1/counter/${EARLY}/offline_conversions/calls_visit_join_threshold`)).json).toEqual({ date: '2024-05-09' });
    expect((await upload(e.url, EARLY, callsCsv())).status).toBe(200);
    expect(e.uploads).toHaveLength(1);
  });
});

describe('Metrica emulator: uploads', () => {
  it('accepts a call upload sent with FormData, stores its rows and lists it', async () => {
    const e = await start();
    const form = new FormData();
    form.append('file', new Blob([callsCsv([callRow(), callRow({ ClientId: '', StaticCall: '1', PhoneNumber: '' })])], { type: 'text/csv' }), 'calls.csv');
    const res = await fetch(`${e.url}${uploadPath(SHOP, 'calls')}?client_id_type=CLIENT_ID&comment=ckymbatch1&new_goal_name=%D0%97%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA`, {
      method: 'POST',
      headers: { authorization: `OAuth ${TOKEN}` },
      body: form,
    });
    expect(res.status).toBe(200);
    const { uploading } = (await res.json()) as any;
    expect(uploading).toEqual({
      id: expect.any(Number),
      create_time: '2024-05-10T15:00:00+03:00',
      source_quantity: 2,
      line_quantity: 2,
      comment: 'ckymbatch1',
      client_id_type: 'CLIENT_ID',
      status: 'UPLOADED',
      static_calls_quantity: 1,
      dynamic_calls_quantity: 1,
    });
    expect(e.uploads).toHaveLength(1);
    expect(e.uploads[0]).toMatchObject({
      uploadingId: uploading.id,
      counterId: SHOP,
      kind: 'calls',
      comment: 'ckymbatch1',
      clientIdType: 'CLIENT_ID',
      newGoalName: 'Звонок',
      header: CALL_HEADER,
    });
    expect(e.rows(SHOP, 'calls')).toEqual([callRow(), callRow({ ClientId: '', StaticCall: '1', PhoneNumber: '' })]);
    expect(e.rows(SHOP, 'conversions')).toEqual([]);
    // The automatic call goal appears, named after new_goal_name.
    expect(e.goals(SHOP).find((g) => g.type === 'call')).toMatchObject({ name: 'Звонок' });

    const list = await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings?limit=10&offset=0`);
    expect(list.json.uploadings).toEqual([uploading]);
    const one = await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploading/${uploading.id}`);
    expect(one.json).toEqual({ uploading });
    e.setUploadingStatus(uploading.id, 'PROCESSED');
    expect((await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploading/${uploading.id}`)).json.uploading.status).toBe('PROCESSED');
    expectError(await call(e.url, `/management/v1/counter/${BLOG}/offline_conversions/calls_uploading/${uploading.id}`), 404, 'not_found');
    expectError(await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/uploading/${uploading.id}`), 404, 'not_found');
  });

  it('lists uploadings newest first with a 0-based offset and a limit', async () => {
    const e = await start();
    for (const n of [1, 2, 3]) expect((await upload(e.url, SHOP, callsCsv(), { query: { comment: `b${n}` } })).status).toBe(200);
    const path = `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings`;
    expect((await call(e.url, path)).json.uploadings.map((u: any) => u.comment)).toEqual(['b3', 'b2', 'b1']);
    expect((await call(e.url, `${path}?limit=1&offset=1`)).json.uploadings.map((u: any) => u.comment)).toEqual(['b2']);
    expect((await call(e.url, `${path}?limit=5&offset=3`)).json.uploadings).toEqual([]);
    expectError(await call(e.url, `${path}?limit=0`), 400, 'invalid_parameter');
    expect((await call(e.url, `/management/v1/counter/${BLOG}/offline_conversions/calls_uploadings`)).json.uploadings).toEqual([]);
  });

  it('accepts conversions with Target, lists them apart, without call counts', async () => {
    const e = await start();
    const csv = toCsv(['ClientId', 'Target', 'DateTime', 'Price', 'Currency'], [
      { ClientId: '1714000000123456789', Target: 'calltracking_call_order', DateTime: String(T), Price: '1500.50', Currency: 'RUB' },
    ]);
    const res = await upload(e.url, SHOP, csv, { kind: 'conversions', query: { comment: 'conv1' } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json.uploading).sort()).toEqual(['client_id_type', 'comment', 'create_time', 'id', 'line_quantity', 'source_quantity', 'status']);
    expect(e.rows(SHOP, 'conversions')).toEqual([
      { ClientId: '1714000000123456789', Target: 'calltracking_call_order', DateTime: String(T), Price: '1500.50', Currency: 'RUB' },
    ]);
    const list = await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/uploadings`);
    expect(list.json.uploadings).toEqual([res.json.uploading]);
    expect((await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/uploading/${res.json.uploading.id}`)).json.uploading.comment).toBe('conv1');
    expect((await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings`)).json.uploadings).toEqual([]);
  });

  it('parses a hand-built multipart body: preamble, quoted filename, Cyrillic and quoted CSV fields, LF rows', async () => {
    const e = await start();
    const boundary = 'X-CKYM-BOUNDARY';
    const csv =
      'ClientId,DateTime,Tag,URL\n' +
      `1714000000123456789,${T},"Реклама, ""Директ""",https://shop.example/каталог?a=1&b=2\n` +
      `,${T},"многострочный\r\nтег",\n`;
    const body = Buffer.concat([
      Buffer.from('This is the preamble, to be ignored.\r\n'),
      Buffer.from(`--${boundary}\r\n`),
      Buffer.from('Content-Disposition: form-data; name="file"; filename="звонки \\"май\\".csv"\r\n'),
      Buffer.from('Content-Type: text/csv; charset=utf-8\r\n'),
      Buffer.from('\r\n'),
      Buffer.from(csv, 'utf8'),
      Buffer.from(`\r\n--${boundary}--\r\nepilogue`),
    ]);
    const res = await call(e.url, `${uploadPath(SHOP, 'calls')}?client_id_type=CLIENT_ID&comment=hand`, {
      method: 'POST',
      body,
      headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` },
    });
    expect(res.status).toBe(200);
    expect(res.json.uploading.client_id_type).toBe('CLIENT_ID'); // inferred from the header when not sent
    expect(e.rows(SHOP, 'calls')).toEqual([
      { ClientId: '1714000000123456789', DateTime: String(T), Tag: 'Реклама, "Директ"', URL: 'https://shop.example/каталог?a=1&b=2' },
      { ClientId: '', DateTime: String(T), Tag: 'многострочный\r\nтег', URL: '' },
    ]);
    expect(e.uploads[0]!.clientIdType).toBe('CLIENT_ID');
    expect(e.uploads[0]!.newGoalName).toBeNull();
  });

  it('accepts a UTF-8 BOM, a file without a final line break, and every optional column', async () => {
    const e = await start();
    const header = [...CALL_HEADER, 'HoldDuration', 'Price', 'Currency'];
    const csv = '\uFEFF' + toCsv(header, [callRow({ HoldDuration: '12', Price: '990', Currency: 'USD' })]).trimEnd();
    expect((await upload(e.url, SHOP, csv)).status).toBe(200);
    expect(e.rows(SHOP, 'calls')[0]).toMatchObject({ ClientId: '1714000000123456789', Price: '990' });
  });

  it('accepts UserId with client_id_type=USER_ID', async () => {
    const e = await start();
    const res = await upload(e.url, SHOP, toCsv(['UserId', 'DateTime'], [{ UserId: 'user-42', DateTime: String(T) }]), {
      query: { client_id_type: 'USER_ID' },
    });
    expect(res.status).toBe(200);
    expect(res.json.uploading.client_id_type).toBe('USER_ID');
  });

  it('refuses uploads to a view-only counter (403 access_denied)', async () => {
    const e = await start();
    expectError(await upload(e.url, VIEW, callsCsv()), 403, 'access_denied');
    expect(e.uploads).toEqual([]);
  });

  type Case = [label: string, send: () => { csv?: string; body?: Buffer; contentType?: string; kind?: 'calls' | 'conversions'; query?: Record<string, string> }, message: RegExp];
  const cases: Case[] = [
    ['not multipart', () => ({ body: Buffer.from(callsCsv()), contentType: 'text/csv' }), /multipart\/form-data/],
    ['no content type', () => ({ body: Buffer.from(callsCsv()), contentType: '' }), /multipart\/form-data/],
    ['no boundary', () => ({ body: multipartBody(callsCsv()).body, contentType: 'multipart/form-data' }), /boundary/],
    ['wrong boundary', () => ({ body: multipartBody(callsCsv()).body, contentType: 'multipart/form-data; boundary=other' }), /delimiter/],
    ['no file part', () => multipart(multipartBody(callsCsv(), { name: 'data' })), /part named "file"/],
    ['an extra part', () => multipart(multipartBody(callsCsv(), { extraParts: [{ name: 'comment', value: 'x' }] })), /exactly one part/],
    ['two file parts', () => multipart(multipartBody(callsCsv(), { extraParts: [{ name: 'file', value: 'x' }] })), /exactly one part/],
    [
      'bare LF in multipart',
      () => ({
        body: Buffer.from(`--b\nContent-Disposition: form-data; name="file"\n\n${callsCsv()}\n--b--\n`),
        contentType: 'multipart/form-data; boundary=b',
      }),
      /CRLF/,
    ],
    [
      'unclosed multipart',
      () => ({ body: Buffer.from(`--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n${callsCsv()}`), contentType: 'multipart/form-data; boundary=b' }),
      /closing/,
    ],
    [
      'part without Content-Disposition',
      () => ({ body: Buffer.from(`--b\r\nContent-Type: text/csv\r\n\r\n${callsCsv()}\r\n--b--\r\n`), contentType: 'multipart/form-data; boundary=b' }),
      /Content-Disposition/,
    ],
    ['not UTF-8', () => multipart(multipartBody(Buffer.from(`ClientId,DateTime,Tag\r\n1,${T},\xe4\xf6\r\n`, 'latin1'))), /UTF-8/],
    ['empty file', () => ({ csv: '' }), /^The file is empty$/],
    ['header only', () => ({ csv: 'ClientId,DateTime\r\n' }), /^Неверный формат данных, ошибка в строке номер 2: the file has a header but no data rows$/],
    ['unknown column', () => ({ csv: toCsv(['ClientId', 'DateTime', 'Duration'], [['1', String(T), '5']]) }), /Unknown column "Duration"/],
    ['lower-case column', () => ({ csv: toCsv(['clientid', 'DateTime'], [['1', String(T)]]) }), /Unknown column "clientid"/],
    ['semicolon separated', () => ({ csv: `ClientId;DateTime\r\n1;${T}\r\n` }), /Unknown column "ClientId;DateTime"/],
    ['Target in a call upload', () => ({ csv: toCsv(['ClientId', 'DateTime', 'Target'], [['1', String(T), 'call']]) }), /Unknown column "Target"/],
    ['Tag in a conversion upload', () => ({ kind: 'conversions', csv: toCsv(['ClientId', 'Target', 'DateTime', 'Tag'], [['1', 'calltracking_call_order', String(T), 'x']]) }), /Unknown column "Tag"/],
    ['duplicate column', () => ({ csv: toCsv(['ClientId', 'DateTime', 'DateTime'], [['1', String(T), String(T)]]) }), /twice/],
    ['no id column', () => ({ csv: toCsv(['DateTime', 'PhoneNumber'], [[String(T), '+79991234567']]) }), /identifier column/],
    ['two id columns', () => ({ csv: toCsv(['ClientId', 'Yclid', 'DateTime'], [['1', '2', String(T)]]) }), /exactly one identifier/],
    ['client_id_type mismatch', () => ({ csv: callsCsv(), query: { client_id_type: 'YCLID' } }), /does not match/],
    ['no DateTime', () => ({ csv: toCsv(['ClientId', 'PhoneNumber'], [['1', '+79991234567']]) }), /^Отсутствует обязательная колонка DateTime$/],
    ['conversions without Target', () => ({ kind: 'conversions', csv: toCsv(['ClientId', 'DateTime'], [['1', String(T)]]) }), /^Отсутствует обязательная колонка Target$/],
    ['short row', () => ({ csv: `${CALL_HEADER.join(',')}\r\n1,${T}\r\n` }), /^Неверный формат данных, ошибка в строке номер 2: 2 fields, the header has 10$/],
    ['a blank line between rows', () => ({ csv: `ClientId,DateTime\r\n1,${T}\r\n\r\n2,${T}\r\n` }), /строке номер 3: 1 fields/],
    ['DateTime as text', () => ({ csv: callsCsv([callRow({ DateTime: '2024-05-10 14:00:00' })]) }), /unix timestamp/],
    ['DateTime in ms', () => ({ csv: callsCsv([callRow({ DateTime: String(T * 1000) })]) }), /future/],
    ['DateTime in the future', () => ({ csv: callsCsv([callRow({ DateTime: String(Math.floor(NOW / 1000) + 60) })]) }), /строке номер 2: DateTime \d+ is in the future/],
    ['DateTime absurdly old', () => ({ csv: callsCsv([callRow({ DateTime: '95' })]) }), /too old/],
    ['StaticCall 2', () => ({ csv: callsCsv([callRow(), callRow({ StaticCall: '2' })]) }), /^Неверный формат данных, ошибка в строке номер 3: StaticCall must be 0 or 1/],
    ['CallMissed yes', () => ({ csv: callsCsv([callRow({ CallMissed: 'yes' })]) }), /CallMissed must be 0 or 1/],
    ['FirstTimeCaller true', () => ({ csv: callsCsv([callRow({ FirstTimeCaller: 'true' })]) }), /FirstTimeCaller must be 0 or 1/],
    ['TalkDuration negative', () => ({ csv: callsCsv([callRow({ TalkDuration: '-5' })]) }), /TalkDuration/],
    ['TalkDuration fractional', () => ({ csv: callsCsv([callRow({ TalkDuration: '1.5' })]) }), /TalkDuration/],
    ['PhoneNumber with spaces', () => ({ csv: callsCsv([callRow({ PhoneNumber: '+7 999 123 45 67' })]) }), /PhoneNumber/],
    ['PhoneNumber without +', () => ({ csv: callsCsv([callRow({ PhoneNumber: '79991234567' })]) }), /PhoneNumber/],
    ['Price with a comma', () => ({ csv: toCsv([...CALL_HEADER, 'Price', 'Currency'], [callRow({ Price: '1500,50', Currency: 'RUB' })]) }), /Price/],
    ['Currency lower case', () => ({ csv: toCsv([...CALL_HEADER, 'Price', 'Currency'], [callRow({ Price: '1500', Currency: 'rub' })]) }), /Currency/],
    // The spec: Currency is an ISO 4217 code; three capital letters that name no currency are not one (audit).
    ['Currency no ISO 4217 code', () => ({ csv: toCsv([...CALL_HEADER, 'Price', 'Currency'], [callRow({ Price: '1500', Currency: 'RUB' }), callRow({ Price: '1500', Currency: 'ABC' })]) }), /^Неверный формат данных, ошибка в строке номер 3: Некорректное значение Currency "ABC"/],
    ['Currency withdrawn (RUR)', () => ({ kind: 'conversions', csv: toCsv(['ClientId', 'Target', 'DateTime', 'Price', 'Currency'], [{ ...{ ClientId: '1', Target: 'calltracking_call_order', DateTime: String(T) }, Price: '10', Currency: 'RUR' }]) }), /строке номер 2: Некорректное значение Currency "RUR"/],
    ['ClientId not a number', () => ({ csv: callsCsv([callRow(), callRow({ ClientId: 'notNumber' })]) }), /^Неверный формат данных, ошибка в строке номер 3: Некорректное значение ClientId "notNumber"/],
    ['ClientId above 2^64', () => ({ csv: callsCsv([callRow({ ClientId: '18446744073709551616' })]) }), /строке номер 2: Некорректное значение ClientId/],
    ['Yclid not a number', () => ({ csv: toCsv(['Yclid', 'DateTime'], [['asd', String(T)]]), query: { client_id_type: 'YCLID' } }), /строке номер 2: Некорректное значение Yclid "asd"/],
    ['an empty file', () => ({ csv: '\r\n' }), /^The file is empty$/],
    ['empty Target', () => ({ kind: 'conversions', csv: conversionsCsv([{ ClientId: '1', Target: '', DateTime: String(T) }]) }), /Target is empty/],
    ['unknown Target (a goal name, not its identifier)', () => ({ kind: 'conversions', csv: conversionsCsv([{ ClientId: '1', Target: 'Звонок коллтрекинга', DateTime: String(T) }]) }), /not the identifier/],
    ['stray quote', () => ({ csv: `ClientId,DateTime,Tag\r\n1,${T},say "hi"\r\n` }), /Malformed CSV: .*quote inside an unquoted field/],
    ['unterminated quote', () => ({ csv: `ClientId,DateTime,Tag\r\n1,${T},"open\r\n` }), /never closed/],
    ['bare CR line ends', () => ({ csv: `ClientId,DateTime\r1,${T}\r` }), /carriage return/],
    ['ClientId with a space', () => ({ csv: callsCsv([callRow({ ClientId: '1714 000' })]) }), /whitespace/],
  ];

  it.each(cases)('refuses: %s', async (_label, make, message) => {
    const e = await start();
    const spec = make();
    const kind = spec.kind ?? 'calls';
    let res;
    if (spec.body) {
      res = await call(e.url, `${uploadPath(SHOP, kind)}?client_id_type=CLIENT_ID&comment=x`, {
        method: 'POST',
        body: spec.body,
        headers: spec.contentType ? { 'content-type': spec.contentType } : {},
      });
    } else {
      res = await upload(e.url, SHOP, spec.csv!, { kind, query: spec.query });
    }
    expectError(res, 400, 'invalid_uploading', message);
    expect(e.uploads).toEqual([]);
    expect((await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings`)).json.uploadings).toEqual([]);
  });

  it('refuses bad query parameters with invalid_parameter', async () => {
    const e = await start();
    // client_id_type: required by the older documentation, dropped by the current one — the stricter reading (audit)
    const { body, contentType } = multipartBody(callsCsv());
    const without = await call(e.url, `${uploadPath(SHOP, 'calls')}?comment=ckymtest`, { method: 'POST', body, headers: { 'content-type': contentType } });
    expectError(without, 400, 'invalid_parameter', /^client_id_type is required/);
    expect(e.uploads).toEqual([]);
    expectError(await upload(e.url, SHOP, callsCsv(), { query: { client_id_type: 'CLIENTID' } }), 400, 'invalid_parameter', /client_id_type/);
    expectError(await upload(e.url, SHOP, callsCsv(), { query: { comment: 'я'.repeat(256) } }), 400, 'invalid_parameter', /255/);
    expect((await upload(e.url, SHOP, callsCsv(), { query: { comment: 'я'.repeat(255) } })).status).toBe(200);
  });

  it('checkTargets: false accepts any Target', async () => {
    const e = await start({ checkTargets: false });
    const csv = conversionsCsv([{ ClientId: '1', Target: 'anything', DateTime: String(T) }]);
    expect((await upload(e.url, BLOG, csv, { kind: 'conversions' })).status).toBe(200);
  });
});

describe('Metrica emulator: faults', () => {
  it('429 with Retry-After and a quota body, then normal service', async () => {
    const e = await start();
    e.inject({ on: 'upload', status: 429, retryAfter: 7 });
    const res = await upload(e.url, SHOP, callsCsv());
    expectError(res, 429, 'quota_requests_by_uid');
    expect(res.headers.get('retry-after')).toBe('7');
    expect(e.uploads).toEqual([]);
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
  });

  it.each([
    [500, 'backend_error'],
    [503, 'backend_error'],
    [504, 'timeout'],
  ] as const)('%i → %s, `times` requests in a row', async (status, type) => {
    const e = await start();
    e.inject({ on: 'any', status, times: 2 });
    expectError(await call(e.url, '/management/v1/counters'), status, type);
    expectError(await upload(e.url, SHOP, callsCsv()), status, type);
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
    expect(e.requests.map((r) => r.status)).toEqual([status, status, 200]);
  });

  it('on: list hits GETs only; on: upload hits uploads only; counterId scopes a fault', async () => {
    const e = await start();
    e.inject({ on: 'list', status: 503 });
    e.inject({ on: 'upload', status: 500, counterId: BLOG });
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
    expect((await call(e.url, '/management/v1/counters')).status).toBe(503);
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
    expect((await upload(e.url, BLOG, callsCsv())).status).toBe(500);
    expect((await upload(e.url, BLOG, callsCsv())).status).toBe(200);
  });

  it('400 with a custom message and type', async () => {
    const e = await start();
    e.inject({ on: 'upload', status: 400, message: 'Что-то не так с файлом' });
    e.inject({ on: 'upload', status: 400, errorType: 'invalid_parameter', message: 'bad' });
    expectError(await upload(e.url, SHOP, callsCsv()), 400, 'invalid_uploading', /^Что-то не так с файлом$/);
    expectError(await upload(e.url, SHOP, callsCsv()), 400, 'invalid_parameter', /^bad$/);
    expect(e.uploads).toEqual([]);
  });

  it('401 and 403 faults', async () => {
    const e = await start();
    e.inject({ on: 'upload', status: 401 });
    e.inject({ on: 'any', status: 403 });
    expectError(await upload(e.url, SHOP, callsCsv()), 401, 'unauthorized');
    expectError(await call(e.url, '/management/v1/counters'), 403, 'access_denied');
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
  });

  it('hang: accepted and listed, while the client times out', async () => {
    const e = await start();
    e.inject({ on: 'upload', hang: true });
    const { body, contentType } = multipartBody(callsCsv());
    await expect(
      fetch(`${e.url}${uploadPath(SHOP, 'calls')}?client_id_type=CLIENT_ID&comment=hungbatch`, {
        method: 'POST',
        body,
        headers: { 'content-type': contentType, authorization: `OAuth ${TOKEN}` },
        signal: AbortSignal.timeout(300),
      }),
    ).rejects.toThrow();
    await waitFor(() => e.uploads.length === 1);
    expect(e.uploads.map((u) => u.comment)).toEqual(['hungbatch']);
    const list = await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings`);
    expect(list.json.uploadings.map((u: any) => u.comment)).toEqual(['hungbatch']);
    expect(e.requests[0]!.status).toBe(0);
  });

  it('hang: close() releases the hung socket', async () => {
    const e = await start();
    e.inject({ on: 'upload', hang: true });
    const pending = upload(e.url, SHOP, callsCsv()).then(
      () => 'answered',
      () => 'failed',
    );
    await waitFor(() => e.uploads.length === 1);
    await e.close();
    emulator = null;
    expect(await pending).toBe('failed');
  });

  it('resetAfterAccept: stored, then the socket is destroyed', async () => {
    const e = await start();
    e.inject({ on: 'upload', resetAfterAccept: true, counterId: SHOP });
    await expect(upload(e.url, SHOP, callsCsv(), { query: { comment: 'resetbatch' } })).rejects.toThrow();
    expect(e.uploads.map((u) => u.comment)).toEqual(['resetbatch']);
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
  });

  it('hang and resetAfterAccept are not spent on an invalid upload', async () => {
    const e = await start();
    e.inject({ on: 'upload', resetAfterAccept: true });
    expect((await upload(e.url, SHOP, 'nonsense')).status).toBe(400);
    await expect(upload(e.url, SHOP, callsCsv())).rejects.toThrow();
  });

  it('delayMs: answers late; uploads in parallel show in maxConcurrentUploads', async () => {
    const e = await start();
    expect(e.maxConcurrentUploads).toBe(0);
    await upload(e.url, SHOP, callsCsv());
    await upload(e.url, SHOP, callsCsv());
    expect(e.maxConcurrentUploads).toBe(1);
    e.inject({ on: 'upload', delayMs: 300, times: 2 });
    const t0 = Date.now();
    const results = await Promise.all([upload(e.url, SHOP, callsCsv()), upload(e.url, BLOG, callsCsv())]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(e.maxConcurrentUploads).toBe(2);
  });

  it('more than 3 requests in flight → 429 quota_parallel_requests', async () => {
    const e = await start();
    e.inject({ on: 'upload', delayMs: 800, times: 4 });
    const results = await Promise.all([0, 1, 2, 3].map(() => upload(e.url, SHOP, callsCsv())));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 429]);
    expectError(results.find((r) => r.status === 429)!, 429, 'quota_parallel_requests');
    expect(e.uploads).toHaveLength(3);
  });
});

describe('Metrica emulator: the token\'s rights (audit)', () => {
  const goal = JSON.stringify({ goal: { name: 'g', type: 'action', conditions: [{ type: 'exact', url: 'call' }] } });
  it('metrika:offline_data is enough to upload; a goal or a linking switch needs metrika:write: 403 access_denied', async () => {
    const e = await start({ scopes: ['metrika:read', 'metrika:offline_data'] });
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
    expectError(await call(e.url, `/management/v1/counter/${SHOP}/goals`, { method: 'POST', body: goal, headers: { 'content-type': 'application/json' } }), 403, 'access_denied', /metrika:write/);
    expectError(await call(e.url, `/management/v1/counter/${EARLY}/offline_conversions/calls_extended_threshold`, { method: 'POST' }), 403, 'access_denied', /metrika:write/);
    expect(e.goals(SHOP).map((g) => g.conditions[0]?.url)).not.toContain('call');
  });

  it('reading needs metrika:read; an upload needs metrika:offline_data or metrika:write', async () => {
    const e = await start({ scopes: ['metrika:offline_data'] });
    expectError(await call(e.url, '/management/v1/counters'), 403, 'access_denied', /metrika:read/);
    expectError(await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings`), 403, 'access_denied', /metrika:read/);
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
    await e.close();
    emulator = await startMetrikaEmulator({ token: TOKEN, counters: COUNTERS, now: () => NOW, scopes: ['metrika:read'] });
    expectError(await upload(emulator.url, SHOP, callsCsv()), 403, 'access_denied', /metrika:offline_data or metrika:write/);
    expect(emulator.uploads).toEqual([]);
  });
});

describe('Metrica emulator: the documented quotas (audit)', () => {
  it('30 requests a second per IP: the 31st within the second is 429 quota_requests_by_ip, a second later all is well', async () => {
    const e = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await call(e.url, '/management/v1/counters')).status);
    const first = e.requests[0]!.at;
    // Only meaningful when the 31 fitted into one second (they take a few ms each on loopback).
    if (e.requests[30]!.at - first < 1000) {
      expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
      expect(statuses[30]).toBe(429);
      expectError(await call(e.url, '/management/v1/counters'), 429, 'quota_requests_by_ip', /30/);
    }
    await new Promise((r) => setTimeout(r, 1050));
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
  });

  it('5000 requests a day per user (a smaller limit here), counted by the UTC day: refused with quota_requests_by_uid until 00:00 UTC', async () => {
    let clock = Date.UTC(2024, 4, 10, 23, 59, 0);
    const e = await start({ now: () => clock, requestsPerDay: 3 });
    for (let i = 0; i < 3; i++) expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
    expectError(await call(e.url, '/management/v1/counters'), 429, 'quota_requests_by_uid');
    expectError(await upload(e.url, SHOP, callsCsv([callRow({ DateTime: String(Math.floor(clock / 1000) - 60) })])), 429, 'quota_requests_by_uid');
    expect(e.uploads).toEqual([]);
    clock = Date.UTC(2024, 4, 11, 0, 0, 1);
    expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
  });

  it('requestsPerSecond: 0 turns the per-second quota off (for load tests)', async () => {
    const e = await start({ requestsPerSecond: 0 });
    for (let i = 0; i < 40; i++) expect((await call(e.url, '/management/v1/counters')).status).toBe(200);
  });
});

describe('Metrica emulator: what the real Metrica refuses (issue 12)', () => {
  const DAY = 86_400;
  const threshold = (kind: 'calls' | 'conversions', id: number) =>
    call(emulator!.url, `/management/v1/counter/${id}/offline_conversions/${kind === 'calls' ? 'calls_visit_join_threshold' : 'visit_join_threshold'}`);
  const conv = (over: Record<string, string> = {}) => ({ ClientId: '1714000000123456789', Target: 'calltracking_call_order', DateTime: String(T), ...over });

  it('a comment of anything but digits and letters: 400 «Комментарий содержит недопустимые символы.»; digits, Latin and Cyrillic pass', async () => {
    const e = await start();
    for (const comment of ['ckym batch 3f2a9c0d1e2f-42', 'ckym:test', 'ckym-1', 'a_b', 'x.y']) {
      const res = await upload(e.url, SHOP, callsCsv(), { query: { comment } });
      expectError(res, 400, 'invalid_parameter');
      expect(res.json.message).toBe(COMMENT_REFUSED_MESSAGE);
    }
    expect(e.uploads).toEqual([]);
    for (const comment of ['ckym3f2a9c0d1e2fb42t1732900000', 'Звонки2024', '']) expect((await upload(e.url, SHOP, callsCsv(), { query: { comment } })).status).toBe(200);
  });

  it('conversions have their own switch: refused until extended_threshold is POSTed; visit_join_threshold and offline_options say so', async () => {
    const e = await start({ counters: [{ ...COUNTERS[0]!, conversionsLinking: false }] });
    const early = await upload(e.url, SHOP, conversionsCsv([conv()]), { kind: 'conversions' });
    expectError(early, 400, 'invalid_uploading', /^Загрузить данные сейчас невозможно\. Загрузка станет доступна /);
    expect(early.json.message).toBe(CONVERSIONS_TOO_EARLY_MESSAGE);
    expect((await threshold('conversions', SHOP)).json).toEqual({ date: null });
    expect((await call(e.url, `/management/v1/counter/${SHOP}`)).json.counter.offline_options).toEqual({
      offline_conversion_extended_threshold: 0,
      offline_calls_extended_threshold: 1,
    });
    // calls are not held by the conversions' switch
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
    const on = await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/extended_threshold`, { method: 'POST' });
    expect(on.json).toEqual({ success: true });
    expect((await threshold('conversions', SHOP)).json).toEqual({ date: '2024-05-09' }); // a day back: the window grows from there
    expect((await upload(e.url, SHOP, conversionsCsv([conv()]), { kind: 'conversions' })).status).toBe(200);
  });

  it('an upload with ignore_visit_join_threshold=1 turns the conversions switch on (OfflineConversionThresholdEnableTest)', async () => {
    const e = await start({ counters: [{ ...COUNTERS[0]!, conversionsLinking: false }] });
    const res = await upload(e.url, SHOP, conversionsCsv([conv()]), { kind: 'conversions', query: { ignore_visit_join_threshold: '1' } });
    expect(res.status).toBe(200);
    expect(e.uploads[0]!.ignoreThreshold).toBe(true);
    expect((await call(e.url, `/management/v1/counter/${SHOP}`)).json.counter.offline_options.offline_conversion_extended_threshold).toBe(1);
  });

  it('rows dated before the threshold: refused without the ignore flag of their kind, accepted with it', async () => {
    const e = await start();
    expect((await threshold('calls', SHOP)).json).toEqual({ date: '2024-04-19' }); // 21 days back, in Moscow
    const old = String(Date.parse('2024-04-18T20:59:59Z') / 1000); // 23:59:59 in Moscow, the day before
    const edge = String(Date.parse('2024-04-18T21:00:00Z') / 1000); // the threshold's first second
    const mixed = callsCsv([callRow(), callRow({ DateTime: old })]);
    const refused = await upload(e.url, SHOP, mixed);
    expectError(refused, 400, 'invalid_uploading', /^Загрузить данные сейчас невозможно\. Загрузка станет доступна для данных начиная с 2024-04-19: строка 3/);
    // the conversions' flag does nothing for calls
    expect((await upload(e.url, SHOP, mixed, { query: { ignore_visit_join_threshold: '1' } })).status).toBe(400);
    expect((await upload(e.url, SHOP, callsCsv([callRow({ DateTime: edge })]))).status).toBe(200);
    const ok = await upload(e.url, SHOP, mixed, { query: { ignore_calls_visit_join_threshold: '1' } });
    expect(ok.status).toBe(200);
    expect(e.uploads.map((u) => [u.rows.length, u.ignoreThreshold])).toEqual([
      [1, false],
      [2, true],
    ]);
    const oldConv = conversionsCsv([conv({ DateTime: old })]);
    expect((await upload(e.url, SHOP, oldConv, { kind: 'conversions' })).status).toBe(400);
    expect((await upload(e.url, SHOP, oldConv, { kind: 'conversions', query: { ignore_calls_visit_join_threshold: '1' } })).status).toBe(400);
    expect((await upload(e.url, SHOP, oldConv, { kind: 'conversions', query: { ignore_visit_join_threshold: '1' } })).status).toBe(200);
    expectError(await upload(e.url, SHOP, mixed, { query: { ignore_calls_visit_join_threshold: 'yes' } }), 400, 'invalid_parameter', /must be 0 or 1/);
  });

  it('right after the switch is turned on, the window is about a day: older rows need the flag', async () => {
    const e = await start();
    await call(e.url, `/management/v1/counter/${EARLY}/offline_conversions/calls_extended_threshold`, { method: 'POST' });
    expect((await threshold('calls', EARLY)).json).toEqual({ date: '2024-05-09' });
    const twoDaysAgo = String(Math.floor(NOW / 1000) - 2 * DAY);
    expect((await upload(e.url, EARLY, callsCsv([callRow({ DateTime: twoDaysAgo })]))).status).toBe(400);
    expect((await upload(e.url, EARLY, callsCsv([callRow()]))).status).toBe(200);
  });

  it('a conversion row with an empty identifier is dropped without a word: line_quantity < source_quantity', async () => {
    const e = await start();
    const res = await upload(e.url, SHOP, conversionsCsv([conv(), conv({ ClientId: '' })]), { kind: 'conversions' });
    expect(res.status).toBe(200);
    expect(res.json.uploading).toMatchObject({ source_quantity: 2, line_quantity: 1 });
    expect(e.rows(SHOP, 'conversions')).toEqual([conv()]);
    expect(e.uploads[0]).toMatchObject({ sourceRows: 2 });
    // a call with an empty ClientId is a static call, kept
    const calls = await upload(e.url, SHOP, callsCsv([callRow(), callRow({ ClientId: '', StaticCall: '1' })]));
    expect(calls.json.uploading).toMatchObject({ source_quantity: 2, line_quantity: 2, static_calls_quantity: 1 });
  });

  it('Yclid files: client_id_type=YCLID with a Yclid column, for calls and conversions', async () => {
    const e = await start();
    const yclidCalls = toCsv(['Yclid', ...CALL_HEADER.slice(1)], [{ ...callRow(), Yclid: '5417289076543210987' }]);
    const res = await upload(e.url, SHOP, yclidCalls, { query: { client_id_type: 'YCLID' } });
    expect(res.status).toBe(200);
    expect(res.json.uploading).toMatchObject({ client_id_type: 'YCLID', dynamic_calls_quantity: 1 });
    const yclidConv = toCsv(['Yclid', 'Target', 'DateTime'], [{ Yclid: '18446744073709551615', Target: 'calltracking_call_order', DateTime: String(T) }]);
    expect((await upload(e.url, SHOP, yclidConv, { kind: 'conversions', query: { client_id_type: 'YCLID' } })).json.uploading.client_id_type).toBe('YCLID');
    expectError(await upload(e.url, SHOP, yclidCalls), 400, 'invalid_uploading', /client_id_type=CLIENT_ID does not match the identifier column Yclid/);
  });

  it('a file over the size limit: 413', async () => {
    const e = await start({ maxUploadBytes: 2000 });
    const big = callsCsv(Array.from({ length: 40 }, () => callRow()));
    expectError(await upload(e.url, SHOP, big), 413, 'invalid_uploading', /слишком большой/);
    expect((await upload(e.url, SHOP, callsCsv())).status).toBe(200);
  });

  it('answerAfterAccept: the upload is taken and listed, the answer is a 404 or a 5xx', async () => {
    const e = await start();
    e.inject({ on: 'upload', answerAfterAccept: 404 });
    e.inject({ on: 'upload', answerAfterAccept: 502 });
    expectError(await upload(e.url, SHOP, callsCsv(), { query: { comment: 'a1' } }), 404, 'not_found');
    expectError(await upload(e.url, SHOP, callsCsv(), { query: { comment: 'a2' } }), 502, 'backend_error');
    const list = await call(e.url, `/management/v1/counter/${SHOP}/offline_conversions/calls_uploadings`);
    expect(list.json.uploadings.map((u: any) => u.comment)).toEqual(['a2', 'a1']);
  });

  it.each([408, 420] as const)('%i faults answer with their status and a body', async (status) => {
    const e = await start();
    e.inject({ on: 'upload', status, retryAfter: 2 });
    const res = await upload(e.url, SHOP, callsCsv());
    expect(res.status).toBe(status);
    expect(res.json.errors[0].error_type).toEqual(expect.any(String));
    expect(e.uploads).toEqual([]);
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function multipart(m: { body: Buffer; contentType: string }): { body: Buffer; contentType: string } {
  return m;
}
