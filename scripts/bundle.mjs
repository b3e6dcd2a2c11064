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

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
fs.rmSync(outdir, { recursive: true, force: true });

/**
 * Two imports a sync pays for at start and does not need as they are (BENCHMARKS.md, "The no-op's start"):
 * - got imports http2-wrapper, which loads Node's `http2` (≈ 25 ms) and is only reached with got's `http2: true`
 *   option; ckym never sets it (its clients go through src/clients/http.ts). It becomes a stub that says so if ever
 *   called.
 * - better-sqlite3 (CommonJS, not bundled) imported from ES modules goes through Node's CommonJS translator, which
 *   lexes its files for their export names; taken with `require` (the banner's) instead, the same module, loaded
 *   plainly.
 */
const startCosts = {
  name: 'ckym-start-costs',
  setup(b) {
    b.onResolve({ filter: /^http2-wrapper$/ }, () => ({ path: 'http2-wrapper', namespace: 'ckym-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'ckym-stub' }, () => ({
      contents: `const unused = () => { throw new Error("got's http2 option: ckym's bundle leaves HTTP/2 out (scripts/bundle.mjs)"); };
export default { auto: unused, get globalAgent() { return unused(); } };`,
      loader: 'js',
    }));
    b.onResolve({ filter: /^better-sqlite3$/ }, (args) =>
      args.kind === 'import-statement' ? { path: 'better-sqlite3', namespace: 'ckym-require' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'ckym-require' }, (args) => ({
      contents: `export default require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

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
  // CommonJS packages (cosmiconfig and its parsers) call require(): give every chunk one.
  banner: { js: "import { createRequire as __ckymRequire } from 'node:module'; const require = __ckymRequire(import.meta.url);" },
  logLevel: 'warning',
});
