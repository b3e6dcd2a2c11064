/** Every command's --help: an Examples section using that command, and defaults shown as a user types them. */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { packageVersion, run } from '../../src/cli/main.js';
import { makeProgram } from '../../src/cli/program.js';
import { argv, memoryIO } from '../commands/io.js';

/** Every command path: [], ['login'], ['counters'], ['counters', 'add'], … (commander's own `help` left out). */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return [prefix, ...command.commands.filter((c) => c.name() !== 'help').flatMap((c) => commandPaths(c, [...prefix, c.name()]))];
}

const paths = commandPaths(makeProgram(memoryIO(), '0.0.0'));

describe('--help of every command', () => {
  it('covers every command', () => {
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining(['', 'login', 'logout', 'counters', 'counters list', 'counters add', 'counters edit', 'counters remove', 'counters show', 'sync', 'sandbox', 'stats', 'doctor', 'cron']),
    );
  });

  it.each(paths.map((p) => [p.join(' ') || '(top level)', p] as const))('%s: examples of itself, defaults unquoted', async (_, path) => {
    const io = memoryIO();
    expect(await run(argv(...path, '--help'), io)).toBe(0);
    const help = io.out();
    const examples = /\nExamples:\n((?: {2}\$ .*\n?(?: {6}.*\n?)*)+)/.exec(help)?.[1];
    expect(examples, help).toBeDefined();
    const lines = examples!.split('\n').filter((l) => l.startsWith('  $ '));
    expect(lines.length).toBeGreaterThan(0);
    const name = ['ckym', ...path].join(' ');
    expect(lines.some((l) => new RegExp(`^ {2}\\$ (\\w+=\\S+ )*${name}( |$)`).test(l)), `an example of "${name}"`).toBe(true);
    expect(help).not.toMatch(/\(default: "/);
  });

  it.each(paths.map((p) => [p.join(' ') || '(top level)', p] as const))('%s: every example is whole — one line, or continued by an indented one', async (_, path) => {
    // (audit) login's `printf '%s\n%s\n'` came out with real line breaks, its example torn over three lines
    const io = memoryIO();
    await run(argv(...path, '--help'), io);
    const block = io.out().split('\nExamples:\n')[1]!.split('\n\n')[0]!;
    for (const line of block.split('\n').filter((l) => l !== '')) expect(line, block).toMatch(/^( {2}\$ | {6})/);
  });

  it('login: the scripts example shows printf with its \\n escapes, as it is typed', async () => {
    const io = memoryIO();
    await run(argv('login', '--help'), io);
    expect(io.out()).toContain(`  $ printf '%s\\n%s\\n' "$KEY" "$TOKEN" | ckym login --callkeeper-key - --yandex-token -`);
  });

  it('doctor names every check it makes: conversion linking too, as the contract has it (audit)', async () => {
    const io = memoryIO();
    await run(argv('doctor', '--help'), io);
    expect(io.out()).toMatch(/counters \(permission, goal, call\s+and\s+conversion\s+linking\)/);
    expect(io.out()).toMatch(/call linking and, with a goal, conversion linking/);
    const top = memoryIO();
    await run(argv('--help'), top);
    expect(top.out()).toMatch(/doctor \[options\]\s+check config, credentials, counters \(permission, goal,\s+call\s+and\s+conversion\s+linking\)/);
  });

  it('counters edit shows no defaults: a flag left out keeps the current value, it does not reset it (audit)', async () => {
    const edit = memoryIO();
    await run(argv('counters', 'edit', '--help'), edit);
    expect(edit.out()).toMatch(/--call-type <type>\s+Тип звонков, which calls go to this counter: all \|\s+callback \| incoming\n/);
    expect(edit.out()).not.toMatch(/\(default:/);
    expect(edit.out()).toMatch(/every other setting keeps its current value/);
    expect(edit.out()).not.toMatch(/--yes for the defaults|the defaults fill/);
  });

  it('shows numbers and words as typed: (default: 2000), (default: 15m), (default: 300)', async () => {
    const sandbox = memoryIO();
    await run(argv('sandbox', '--help'), sandbox);
    expect(sandbox.out()).toMatch(/--calls <n>\s+how many calls to generate \(default: 2000\)/);
    const cron = memoryIO();
    await run(argv('cron', '--help'), cron);
    expect(cron.out()).toMatch(/\(default: 15m\)/);
    const login = memoryIO();
    await run(argv('login', '--help'), login);
    expect(login.out()).toMatch(/\(default: 300\)/);
    const add = memoryIO();
    await run(argv('counters', 'add', '--help'), add);
    expect(add.out()).toMatch(/--call-type <type>\s+Тип звонков, which calls go to this counter: all \|\s+callback \| incoming \(default: all\)/);
    expect(add.out()).toMatch(/--tags <source>\s+Тегирование, the Tag column: call \(the call's own\s+tags\) \| none \(default: call\)/);
  });
});

describe('the version', () => {
  it.each(['-v', '-V', '--version'])('%s prints it, exit 0', async (flag) => {
    const io = memoryIO();
    expect(await run(argv(flag), io)).toBe(0);
    expect(io.out()).toBe(`${packageVersion()}\n`);
  });
});
