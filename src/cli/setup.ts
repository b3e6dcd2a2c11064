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

/** `--counter` values as counter ids; a bad one is a usage error. */
export function parseCounterIds(values: readonly string[] | undefined): number[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.map((v) => {
    const id = Number(v);
    if (!Number.isInteger(id) || id <= 0) {
      throw new ConfigError(`--counter: expected a Metrica counter id (a positive number); got ${JSON.stringify(v)}`);
    }
    return id;
  });
}
