/**
 * `ckym cron`'s pure part: `--every` → a crontab schedule, the crontab line, and merging it into a crontab
 * (one ckym line, marked with a trailing `# ckym`, replaced rather than repeated).
 */

import { shellQuote } from '../../cli/shell.js';

export interface Schedule {
  /** As given, normalised: `15m`, `2h`, `1d`. */
  every: string;
  /** The five crontab time fields. */
  expression: string;
}

const MINUTES = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const HOURS = [1, 2, 3, 4, 6, 8, 12];
/** When `1d` runs: 03:00 local time, after the day's calls have settled and before the working day. */
export const DAILY_AT = { hour: 3, minute: 0 };

export const ACCEPTED_EVERY = `Nm with N one of ${MINUTES.join(', ')}; Nh with N one of ${HOURS.join(', ')}; or 1d (daily at 03:00)`;

/** `15m` → `*\/15 * * * *`; null for anything crontab cannot repeat evenly. */
export function parseEvery(text: string): Schedule | null {
  const m = /^\s*(\d{1,3})\s*([mhd])\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  if (unit === 'm' && MINUTES.includes(n)) return { every: `${n}m`, expression: n === 1 ? '* * * * *' : `*/${n} * * * *` };
  if (unit === 'h' && HOURS.includes(n)) return { every: `${n}h`, expression: n === 1 ? '0 * * * *' : `0 */${n} * * *` };
  if (unit === 'd' && n === 1) return { every: '1d', expression: `${DAILY_AT.minute} ${DAILY_AT.hour} * * *` };
  return null;
}

/** cron turns an unescaped `%` into a newline, even inside quotes. */
export function crontabEscape(command: string): string {
  return command.replace(/%/g, '\\%');
}

export const MARKER = '# ckym';

export interface CronLineParts {
  schedule: Schedule;
  /** Absolute path of node. */
  node: string;
  /** Absolute path of ckym's bin/ckym.js. */
  bin: string;
  /** Absolute path of the config file. */
  config: string;
  /** Absolute path of the log file the output is appended to. */
  log: string;
  /** CKYM_HOME to set, when the user set one. */
  ckymHome: string | null;
}

/** The command part: `[CKYM_HOME=…] node ckym.js --config … sync --quiet >> log 2>&1` (`--quiet` is sync's own flag). */
export function cronCommand(p: CronLineParts): string {
  const words = [
    ...(p.ckymHome ? [`CKYM_HOME=${shellQuote(p.ckymHome)}`] : []),
    shellQuote(p.node),
    shellQuote(p.bin),
    '--config',
    shellQuote(p.config),
    'sync',
    '--quiet',
    '>>',
    shellQuote(p.log),
    '2>&1',
  ];
  return crontabEscape(words.join(' '));
}

export function cronLine(p: CronLineParts): string {
  return `${p.schedule.expression} ${cronCommand(p)} ${MARKER}`;
}

/** A line ckym installed: it ends with the marker. */
export function isCkymLine(line: string): boolean {
  return /(^|\s)# ckym\s*$/.test(line);
}

export type MergeAction = 'added' | 'replaced' | 'unchanged';

/**
 * The crontab with `line` in it exactly once: it replaces the first ckym-marked line (and drops any other
 * marked copies), or is appended. Everything else is kept as it was.
 */
export function mergeCrontab(existing: string, line: string): { text: string; action: MergeAction } {
  const lines = existing.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const marked = lines.flatMap((l, i) => (isCkymLine(l) ? [i] : []));
  if (marked.length === 1 && lines[marked[0]!] === line) return { text: `${lines.join('\n')}\n`, action: 'unchanged' };
  if (marked.length === 0) return { text: `${[...lines, line].join('\n')}\n`, action: 'added' };
  const first = marked[0]!;
  const out = lines.flatMap((l, i) => (i === first ? [line] : isCkymLine(l) ? [] : [l]));
  return { text: `${out.join('\n')}\n`, action: 'replaced' };
}
