import os from 'node:os';
import path from 'node:path';

/** Where ckym keeps what it writes. `CKYM_HOME` puts everything in one directory. */
export interface HomePaths {
  /** Directory for credentials (and the default user config). */
  configDir: string;
  /** Directory for the database and the sync lock. */
  dataDir: string;
  credentials: string;
  database: string;
  lock: string;
}

/** `ckymHome`: `CKYM_HOME` as env.ts read it (null: the platform's directories, found from `env`'s XDG_* / APPDATA). */
export function homePaths(ckymHome: string | null, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): HomePaths {
  const explicit = ckymHome;
  const configDir = explicit ? path.resolve(explicit) : platformDir('config', env, platform);
  const dataDir = explicit ? path.resolve(explicit) : platformDir('data', env, platform);
  return {
    configDir,
    dataDir,
    credentials: path.join(configDir, 'credentials.json'),
    database: path.join(dataDir, 'ckym.db'),
    lock: path.join(dataDir, 'sync.lock'),
  };
}

function platformDir(kind: 'config' | 'data', env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string {
  const home = os.homedir();
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'ckym');
  if (platform === 'win32') {
    const base = kind === 'config' ? env.APPDATA : env.LOCALAPPDATA;
    return path.join(base ?? path.join(home, 'AppData', kind === 'config' ? 'Roaming' : 'Local'), 'ckym');
  }
  const xdg = kind === 'config' ? env.XDG_CONFIG_HOME : env.XDG_DATA_HOME;
  return path.join(xdg || path.join(home, kind === 'config' ? '.config' : '.local/share'), 'ckym');
}
