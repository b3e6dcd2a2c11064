import type { IO } from '../../cli/io.js';
import type { GlobalOptions } from '../../cli/setup.js';
import { colorEnabled, makePrinter } from '../../cli/io.js';
import { CredentialStore } from '../../credentials.js';
import { homePaths } from '../../paths.js';

export async function runLogout(globals: GlobalOptions, io: IO): Promise<number> {
  const printer = makePrinter(io, { color: colorEnabled(io, globals.color) });
  const store = new CredentialStore(homePaths(io.env).credentials);
  printer.out(store.clear() ? `forgot the stored credentials (${store.file})` : `no stored credentials (${store.file})`);
  if (io.env.CKYM_CALLKEEPER_KEY || io.env.CKYM_YANDEX_TOKEN) {
    printer.warn('CKYM_CALLKEEPER_KEY / CKYM_YANDEX_TOKEN are still set in the environment and are still used');
  }
  return 0;
}
