import { ConfigError } from '../errors.js';
import type { IO } from './io.js';

/** Options every command inherits from the program. */
export interface GlobalOptions {
  config?: string;
  color?: boolean;
}

/** What a command's registration needs: the outside world, and where to put its exit code. */
export interface CommandSetup {
  io: IO;
  result: { exitCode: number };
}

/** For repeatable options (`--counter A --counter B`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Counter ids from `--counter` values or arguments (`what` names them in the error); a bad one is a usage error. */
export function parseCounterIds(values: readonly string[] | undefined, what = '--counter'): number[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.map((v) => {
    const id = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(id) || id <= 0) {
      throw new ConfigError(`${what}: expected a Metrica counter id (a positive number); got ${JSON.stringify(v)}`);
    }
    return id;
  });
}
