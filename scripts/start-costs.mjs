/**
 * The esbuild plugin of ckym's bundle (scripts/bundle.mjs), apart so that bench/run.mjs bundles the no-op's floor
 * (bench/noop-floor.mjs) exactly as ckym is bundled: a floor loaded file by file would cost twice what got costs ckym.
 */
/**
 * Two imports a sync pays for at start and does not need as they are (BENCHMARKS.md, "The no-op's start"):
 * - got imports http2-wrapper, which loads Node's `http2` (≈ 25 ms) and is only reached with got's `http2: true`
 *   option; ckym never sets it (its clients go through src/clients/http.ts). It becomes a stub that says so if ever
 *   called.
 * - better-sqlite3 (CommonJS, not bundled) imported from ES modules goes through Node's CommonJS translator, which
 *   lexes its files for their export names; taken with `require` (the banner's) instead, the same module, loaded
 *   plainly.
 */
export const startCosts = {
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

/** CommonJS packages (cosmiconfig and its parsers) call require(), and the plugin's better-sqlite3 too: every chunk gets one. */
export const requireBanner = "import { createRequire as __ckymRequire } from 'node:module'; const require = __ckymRequire(import.meta.url);";
