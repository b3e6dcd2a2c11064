/**
 * The second half of `npm run build`: bundles tsc's output (dist/) into dist/bundle/, which bin/ckym.js runs.
 *
 * Why: Node's ES module loader resolves, stats, reads and compiles every file on its own; a sync imports about
 * 200 of them (got and its 20 packages, cosmiconfig, zod, commander). One file per lazily loaded part cuts the
 * start of every command by ≈ 90 ms on the benchmark machine (BENCHMARKS.md). Code splitting keeps the lazy
 * loading: `ckym --help` loads commander and the command list, `ckym sync` also what sync needs, nothing else.
 *
 * Not bundled: better-sqlite3 (a native addon), open (runs its own xdg-open script), @inquirer/prompts (only
 * for interactive use), typescript (cosmiconfig's loader of .ts configs, optional). Nothing is minified: an
 * internal error's stack should read like the source.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { requireBanner, startCosts } from './start-costs.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
fs.rmSync(outdir, { recursive: true, force: true });

await build({
  plugins: [startCosts],
  entryPoints: {
    main: path.join(root, 'dist', 'cli', 'main.js'),
    // PageWriter starts it as a worker thread, found beside itself (src/store/page-writer.ts).
    'page-writer-worker': path.join(root, 'dist', 'store', 'page-writer-worker.js'),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', 'open', '@inquirer/prompts', 'typescript'],
  banner: { js: requireBanner },
  logLevel: 'warning',
});
