/** An in-memory IO for running commands in-process. */
import { PassThrough } from 'node:stream';
import type { IO } from '../../src/cli/io.js';

export function memoryIO(env: NodeJS.ProcessEnv = {}, cwd = '/nonexistent-ckym-cwd'): IO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const io = { stdin: new PassThrough(), stdout, stderr, env, cwd, out: () => out, err: () => err };
  return io;
}

export const argv = (...args: string[]): string[] => ['node', 'ckym', ...args];
