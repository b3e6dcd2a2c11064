import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { askText, makePrinter, safePrompt, terminalSafe, writeDocument, type IO } from '../../src/cli/io.js';
import { reportError } from '../../src/cli/main.js';
import { RemoteError } from '../../src/errors.js';

function memoryIO(tty = false): IO & { out: () => string; err: () => string } {
  const stdout = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = Object.assign(new PassThrough(), { isTTY: tty });
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdin: new PassThrough(), stdout, stderr, env: {}, cwd: '/', out: () => out, err: () => err };
}

/** What a hostile name or message may carry, each with what must be left of it. */
const HOSTILE: [string, string, string][] = [
  ['retitle the window (OSC … BEL)', 'shop\u001b]0;pwned\u0007.example', 'shop.example'],
  ['retitle the window (OSC … ST)', 'shop\u001b]2;pwned\u001b\\.example', 'shop.example'],
  ['erase the line and move up (CSI)', 'ok\u001b[2K\u001b[1Aok', 'okok'],
  ['a carriage return that overwrites', 'sent 0 calls\r✓ sent 100 calls', 'sent 0 calls✓ sent 100 calls'],
  ['a C1 CSI (U+009B)', 'a\u009b2Jb', 'a2Jb'],
  ['reset the terminal (ESC c)', 'x\u001bcy', 'xy'],
  ['a device control string', 'a\u001bP1$qm\u001b\\b', 'ab'],
  ['bell, backspace, DEL, NUL', 'a\u0007\u0008\u007f\u0000b', 'ab'],
  ['a bidirectional override', 'evil\u202etxt.exe', 'eviltxt.exe'],
  ['a colour code from outside', '\u001b[30;40mhidden\u001b[0m', 'hidden'],
  ['a lone ESC at the end', 'tail\u001b', 'tail'],
];

describe('terminalSafe', () => {
  for (const [what, text, left] of HOSTILE) {
    it(`strips ${what}`, () => expect(terminalSafe(text, false)).toBe(left));
  }

  it('keeps tabs, newlines, Cyrillic and emoji; keeps colour codes only when colour is on', () => {
    expect(terminalSafe('Звонок\tзвонки\n✓ 📞', false)).toBe('Звонок\tзвонки\n✓ 📞');
    expect(terminalSafe('\u001b[32m✓\u001b[39m ok', true)).toBe('\u001b[32m✓\u001b[39m ok');
    expect(terminalSafe('\u001b[32m✓\u001b[39m ok', false)).toBe('✓ ok');
    // with colour on, a colour code survives, but nothing that moves the cursor or retitles
    expect(terminalSafe('\u001b[31ma\u001b[2Kb\u001b]0;t\u0007', true)).toBe('\u001b[31mab');
  });
});

describe('every line ckym prints is made safe', () => {
  it('the printer: out, info, warn, error and the status line', () => {
    const io = memoryIO(true);
    const printer = makePrinter(io, { color: false });
    const hostile = 'counter\u001b]0;pwned\u0007 name\u001b[2K';
    printer.out(hostile);
    printer.info(hostile);
    printer.warn(hostile);
    printer.error(hostile);
    printer.status(hostile);
    printer.clearStatus();
    expect(io.out()).toBe('counter name\n');
    // the status line's own \r and erase-line codes are ckym's; nothing of the hostile text's survives
    expect(io.err().replace(/\r\u001b\[2K/g, '')).toBe(
      'counter name\nckym: warning: counter name\nckym: counter name\ncounter name',
    );
  });

  it("main's error lines (a remote message inside a CkymError)", () => {
    const io = memoryIO();
    const code = reportError(new RemoteError('Metrica answered: \u001b]0;owned\u0007bad\u001b[1A\u001b[2K request'), io);
    expect(code).toBe(4);
    expect(io.err()).toBe('ckym: Metrica answered: bad request\n');
  });
});

describe('prompts: what inquirer shows is made safe, what Enter keeps is the value itself', () => {
  const title = '\u001b]0;pwned\u0007';

  it('safePrompt cleans the message and every choice name, and leaves values and the rest alone', () => {
    const config = safePrompt({ message: `Counter ${title}Блог`, default: 2, choices: [{ value: 1, name: `a${title}` }, { value: 2, name: 'b\u001b[2Kb' }] });
    expect(config).toEqual({ message: 'Counter Блог', default: 2, choices: [{ value: 1, name: 'a' }, { value: 2, name: 'bb' }] });
  });

  it('askText shows the default clean; Enter (the shown text back) keeps the original, a typed answer is taken', async () => {
    const shown: unknown[] = [];
    const enter = async (c: { message: string; default: string }) => (shown.push(c), c.default);
    expect(await askText(enter, `Tag ${title}`, `Обр${title}атный`)).toBe(`Обр${title}атный`);
    expect(shown).toEqual([{ message: 'Tag ', default: 'Обратный' }]);
    expect(await askText(async () => 'Перезвон', 'Tag', `Обр${title}атный`)).toBe('Перезвон');
    expect(await askText(async () => '', 'Tag', `Обр${title}атный`)).toBe(''); // emptied on purpose
  });
});

describe('writeDocument', () => {
  it('writes every control character as a \\u escape (JSON leaves DEL, C1 and the bidi overrides raw): inert on a terminal, the same value parsed', () => {
    const value = 'Ди\u001b]0;t\u0007\u009b2J\u202e\u2066\u007fрект';
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    writeDocument({ stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {}, cwd: '/' }, { version: 1, tag: value });
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(out).toContain('"tag": "Ди\\u001b]0;t\\u0007\\u009b2J\\u202e\\u2066\\u007fрект"');
    expect(JSON.parse(out)).toEqual({ version: 1, tag: value });
  });
});
