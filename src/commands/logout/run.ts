import type { IO } from '../../cli/io.js';
import type { GlobalOptions } from '../../cli/setup.js';
import { colorEnabled, makePrinter } from '../../cli/io.js';
import { CredentialStore } from '../../credentials.js';
import { readEnv } from '../../env.js';

export async function runLogout(globals: GlobalOptions, io: IO): Promise<number> {
  const printer = makePrinter(io, { color: colorEnabled(io, globals.color) });
  const env = readEnv(io.env);
  const store = new CredentialStore(env.home.credentials);
  printer.out(store.clear() ? `forgot the stored credentials (${store.file})` : `no stored credentials (${store.file})`);
  if (env.callkeeperKey || env.yandexToken) {
    printer.warn('CKYM_CALLKEEPER_KEY / CKYM_YANDEX_TOKEN are still set in the environment and are still used');
  }
  return 0;
}
