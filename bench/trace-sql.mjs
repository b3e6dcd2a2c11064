/**
 * Preloaded into a traced ckym run (`node --import ./bench/trace-sql.mjs bin/ckym.js sync …`): the first
 * time each SQL statement runs, SQLite's EXPLAIN QUERY PLAN for it is taken with the very same arguments,
 * and every execution is timed. At exit the result goes to $BENCH_SQL_LOG as JSON:
 * [{ sql, plan: [detail, …], calls, totalMs, maxMs }].
 * Only the bench's traced run uses this; the timed runs are never traced.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';

const out = process.env.BENCH_SQL_LOG;
const traces = new Map();
const prepare = Database.prototype.prepare;
const SKIP = /^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/i;

Database.prototype.prepare = function tracedPrepare(sql) {
  const statement = prepare.call(this, sql);
  if (SKIP.test(sql)) return statement;
  const db = this;
  for (const method of ['run', 'get', 'all']) {
    const original = statement[method];
    statement[method] = function traced(...args) {
      let trace = traces.get(sql);
      if (!trace) {
        let plan;
        try {
          plan = prepare.call(db, `EXPLAIN QUERY PLAN ${sql}`).all(...args).map((r) => r.detail);
        } catch (error) {
          plan = [`(no plan: ${error.message})`];
        }
        trace = { plan, calls: 0, totalMs: 0, maxMs: 0 };
        traces.set(sql, trace);
      }
      const started = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        const ms = performance.now() - started;
        trace.calls++;
        trace.totalMs += ms;
        trace.maxMs = Math.max(trace.maxMs, ms);
      }
    };
  }
  return statement;
};

process.on('exit', () => {
  if (!out) return;
  const list = [...traces].map(([sql, t]) => ({
    sql: sql.replace(/\s+/g, ' ').trim(),
    plan: t.plan,
    calls: t.calls,
    totalMs: Number(t.totalMs.toFixed(2)),
    maxMs: Number(t.maxMs.toFixed(2)),
  }));
  fs.writeFileSync(out, JSON.stringify(list, null, 2));
});
