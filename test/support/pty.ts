/**
 * A command on a pseudo-terminal (util-linux `script`), started the same way on every machine.
 *
 * `script -c` runs the command through `$SHELL -c`, or `/bin/sh -c` when SHELL is unset (as in CI). Debian's /bin/sh
 * (dash) does not step aside for a single command: it waits for ckym, and the Ctrl-C meant for ckym kills the shell,
 * so `script` reported 130 where ckym itself exited 0. The shell is pinned to /bin/sh here, so a developer's bash
 * cannot hide that, and the last command is `exec`-ed, so the exit code and the signals are ckym's own.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface PtyOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Shell commands run first, in the same terminal (e.g. `stty cols 120 rows 40`). */
  setup?: string;
}

export function spawnOnPty(command: string, { cwd, env, setup }: PtyOptions): ChildProcessWithoutNullStreams {
  const line = `${setup ? `${setup}; ` : ''}exec ${command}`;
  return spawn('script', ['-qfec', line, '/dev/null'], { cwd, env: { ...env, SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'] });
}
