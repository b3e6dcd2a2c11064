import { Option, type Command } from 'commander';
import type { CommandSetup, GlobalOptions } from '../../cli/setup.js';
import type { LoginFlags } from './flags.js';

export function registerLogin(program: Command, { io, result }: CommandSetup): void {
  program
    .command('login')
    .description('connect the CallKeeper API key and the Yandex account (OAuth in the local browser)')
    .option('--callkeeper-key <key>', 'the CallKeeper API key (else asked, or the stored one is kept); - reads it from standard input')
    .option('--yandex-token <token>', 'use this Yandex OAuth token and skip the browser sign-in; - reads it from standard input')
    .option('--no-browser', 'print the sign-in link instead of opening a browser (the local callback still waits)')
    .option('--device', 'sign in with a code on another device (for SSH sessions and servers without a browser)')
    .option('--code', 'sign in, then paste the verification code Yandex shows')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for the browser or the device').default(300))
    .addHelpText(
      'after',
      `
The Yandex sign-in uses your own Yandex OAuth app: its ClientID is yandex.clientId in the config (on a
terminal, login asks for it and saves it); register http://localhost:<yandex.redirectPort>/callback as its
redirect URI, and give it the rights
metrika:read and metrika:write (README, "Register a Yandex OAuth app"). A secret, if the app has one, comes from
CKYM_YANDEX_CLIENT_SECRET or is asked for and stored with the credentials (mode 0600).

A flag's value is visible to every user of this machine (in ps) while login runs: on a shared machine give the
value - and the secret on standard input (a prompt without echo on a terminal; with both, the key's line first),
or set CKYM_CALLKEEPER_KEY / CKYM_YANDEX_TOKEN instead of storing them.

Examples:
  $ ckym login                                         # asks for the key, opens the browser
  $ ckym login --no-browser                            # prints the link; open it yourself
  $ ckym login --device                                # on a server over SSH
  $ printf '%s\\n%s\\n' "$KEY" "$TOKEN" | ckym login --callkeeper-key - --yandex-token -   # scripts and CI
  $ ckym login --callkeeper-key KEY --yandex-token TOKEN   # the same, but both visible in ps`,
    )
    .action(async (flags: LoginFlags, command: Command) => {
      const { runLogin } = await import('./run.js');
      result.exitCode = await runLogin(flags, command.optsWithGlobals<GlobalOptions>(), io);
    });
}
