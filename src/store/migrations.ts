/**
 * Versioned schema. Each entry upgrades from version i to i+1; `PRAGMA user_version` records where a database is.
 * Never edit a released migration: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  /* 1: calls, per-(counter, call, kind) deliveries, batches, runs, cursors */ `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  -- Every call ckym has seen (fetched at least once).
  CREATE TABLE calls (
    id             TEXT PRIMARY KEY,          -- CallKeeper universalId
    call_time      INTEGER NOT NULL,          -- unix seconds, UTC
    service_type   TEXT NOT NULL,
    first_seen_run INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- What happened to one call for one counter and one kind (call | conversion).
  --   waiting: not final yet;  skipped: the counter's settings do not take it (reason);
  --   pending: to be sent;     batched: inside a prepared/sending batch;
  --   sent: Metrica has it (terminal);  failed: its batch was rejected by Metrica (quarantined, reason).
  CREATE TABLE deliveries (
    counter_id  INTEGER NOT NULL,
    call_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('call', 'conversion')),
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'skipped', 'pending', 'batched', 'sent', 'failed')),
    reason      TEXT,
    row         TEXT,                        -- JSON array of CSV cells, for pending/batched/sent
    call_time   INTEGER NOT NULL,
    batch_id    INTEGER REFERENCES batches(id),
    decided_run INTEGER NOT NULL,
    sent_at     INTEGER,                     -- unix seconds
    PRIMARY KEY (counter_id, call_id, kind)
  );
  CREATE INDEX deliveries_by_state ON deliveries (state, counter_id, kind, call_time);
  CREATE INDEX deliveries_by_batch ON deliveries (batch_id) WHERE batch_id IS NOT NULL;

  -- One upload to Metrica. Written as 'prepared' before anything is sent; its id travels in the upload's comment.
  CREATE TABLE batches (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL,
    counter_id    INTEGER NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('call', 'conversion')),
    comment       TEXT NOT NULL UNIQUE,
    header        TEXT NOT NULL,             -- JSON array of column names
    rows          INTEGER NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('prepared', 'sending', 'sent', 'rejected', 'void')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    attempt_at    INTEGER,                   -- unix seconds the last attempt started
    created_at    INTEGER NOT NULL,
    sent_at       INTEGER,
    uploading_id  INTEGER,
    metrika_status TEXT,                     -- Metrica's uploading status (UPLOADED … PROCESSED | LINKAGE_FAILURE)
    uploading_json TEXT,                     -- the last uploading object Metrica returned
    error         TEXT
  );
  CREATE INDEX batches_unfinished ON batches (status) WHERE status IN ('prepared', 'sending');
  CREATE INDEX batches_by_counter ON batches (counter_id, kind, id);

  -- Up to when each counter has had every call fetched and decided.
  CREATE TABLE cursors (
    counter_id INTEGER PRIMARY KEY,
    fetched_to INTEGER NOT NULL              -- unix seconds
  );

  CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,            -- unix ms
    finished_at INTEGER,
    outcome     TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'partial', 'failed')),
    exit_code   INTEGER,
    window_from INTEGER,
    window_to   INTEGER,
    pages       INTEGER NOT NULL DEFAULT 0,
    fetched     INTEGER NOT NULL DEFAULT 0,
    sent_calls  INTEGER NOT NULL DEFAULT 0,
    sent_conversions INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    waiting     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
  );
  `,

  /*
   * 2: deliveries stored in (counter, kind, call) order, so that a batch's rows lie together and preparing or
   * settling it rewrites its own pages, not the whole table; small indexes over the deliveries a run looks for
   * (unsettled: waiting or pending; pending; failed, for stats) instead of one over every delivery, most of which
   * are skipped or sent; the running run found without reading every run. A query uses a partial index only when
   * its WHERE repeats the index's condition word for word (`state IN ('waiting', 'pending')`, `state = 'pending'`).
   */ `
  CREATE TABLE deliveries_v2 (
    counter_id  INTEGER NOT NULL,
    call_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('call', 'conversion')),
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'skipped', 'pending', 'batched', 'sent', 'failed')),
    reason      TEXT,
    row         TEXT,
    call_time   INTEGER NOT NULL,
    batch_id    INTEGER REFERENCES batches(id),
    decided_run INTEGER NOT NULL,
    sent_at     INTEGER,
    PRIMARY KEY (counter_id, kind, call_id)
  ) WITHOUT ROWID;
  INSERT INTO deliveries_v2 (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run, sent_at)
    SELECT counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run, sent_at FROM deliveries;
  DROP TABLE deliveries;
  ALTER TABLE deliveries_v2 RENAME TO deliveries;
  CREATE INDEX deliveries_unsettled ON deliveries (counter_id, call_time) WHERE state IN ('waiting', 'pending');
  CREATE INDEX deliveries_pending ON deliveries (counter_id, kind) WHERE state = 'pending';
  CREATE INDEX deliveries_failed ON deliveries (counter_id, kind) WHERE state = 'failed';
  CREATE INDEX deliveries_by_batch ON deliveries (batch_id) WHERE batch_id IS NOT NULL;
  CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
  `,

  /*
   * 3: a delivery in a batch stays 'batched'; its batch's status says the rest. Marking a batch sent then changes one
   * row instead of every row it carried (134 000 in a 100 000-call backfill). `delivery_view` gives each delivery's
   * state as before — 'sent' when its batch was sent, with the batch's sent_at — and is what stats and people read.
   */ `
  UPDATE deliveries SET state = 'batched' WHERE state = 'sent';
  ALTER TABLE deliveries DROP COLUMN sent_at;
  CREATE VIEW delivery_view AS
    SELECT d.counter_id, d.call_id, d.kind,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN 'sent' ELSE d.state END AS state,
           d.reason, d.row, d.call_time, d.batch_id, d.decided_run,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN b.sent_at END AS sent_at
    FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id;
  `,

  /*
   * 4: what Metrica actually accepts (issue 12). A delivery may be 'malformed' (a row Metrica would refuse, kept
   * aside with the reason, never sent) and carries the identifier type of its row (ClientId or Yclid: one type per
   * file). A batch is one file of (counter, kind, identifier type, segment): 'old' holds rows dated before the
   * counter's linking threshold, sent with Metrica's ignore flag, apart from the 'fresh' ones. A batch split after
   * Metrica refused it names the batch it came from. The deliveries table is rebuilt (a CHECK cannot be altered);
   * the batches table only gains columns.
   */ `
  DROP VIEW delivery_view;
  CREATE TABLE deliveries_v4 (
    counter_id  INTEGER NOT NULL,
    call_id     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('call', 'conversion')),
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'skipped', 'malformed', 'pending', 'batched', 'sent', 'failed')),
    reason      TEXT,
    id_type     TEXT NOT NULL DEFAULT 'clientId' CHECK (id_type IN ('clientId', 'yclid')),
    row         TEXT,
    call_time   INTEGER NOT NULL,
    batch_id    INTEGER REFERENCES batches(id),
    decided_run INTEGER NOT NULL,
    PRIMARY KEY (counter_id, kind, call_id)
  ) WITHOUT ROWID;
  INSERT INTO deliveries_v4 (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run)
    SELECT counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run FROM deliveries;
  DROP TABLE deliveries;
  ALTER TABLE deliveries_v4 RENAME TO deliveries;
  CREATE INDEX deliveries_unsettled ON deliveries (counter_id, call_time) WHERE state IN ('waiting', 'pending');
  CREATE INDEX deliveries_pending ON deliveries (counter_id, kind, id_type) WHERE state = 'pending';
  CREATE INDEX deliveries_failed ON deliveries (counter_id, kind) WHERE state = 'failed';
  CREATE INDEX deliveries_by_batch ON deliveries (batch_id) WHERE batch_id IS NOT NULL;

  ALTER TABLE batches ADD COLUMN id_type TEXT NOT NULL DEFAULT 'clientId' CHECK (id_type IN ('clientId', 'yclid'));
  ALTER TABLE batches ADD COLUMN segment TEXT NOT NULL DEFAULT 'fresh' CHECK (segment IN ('fresh', 'old'));
  ALTER TABLE batches ADD COLUMN split_from INTEGER;

  CREATE VIEW delivery_view AS
    SELECT d.counter_id, d.call_id, d.kind,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN 'sent' ELSE d.state END AS state,
           d.reason, d.id_type, d.row, d.call_time, d.batch_id, d.decided_run,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN b.sent_at END AS sent_at
    FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id;
  `,

  /*
   * 5: calls found by time. A run re-checks the calls it still waits on through narrow windows planned from how many
   * known calls lie around each of them (issue 14), counted through this index instead of the whole table.
   */ `
  CREATE INDEX calls_by_time ON calls (call_time);
  `,

  /*
   * 6: `ckym stats` reads counts kept as they are written instead of scanning every delivery (issue 14.3). One row
   * per (hour of the call, counter, kind, state as delivery_view says it, reason, a conversion's goal, sent over
   * 21 days after the call, the wait a call was decided out of) holds how many deliveries are so; every write that
   * changes a delivery or its batch's status changes these counts in the same transaction. A delivery records
   * `waited`: the wait it was still in (in-progress, scheduled…) when it was decided as it stood after
   * `sync.maxWaitHours`. Rows reaching 0 stay (a sum ignores them). `delivery_totals` holds the same without the
   * hour, for the all-time figures.
   */ `
  ALTER TABLE deliveries ADD COLUMN waited TEXT;
  CREATE TABLE delivery_counts (
    hour       INTEGER NOT NULL,              -- floor(call_time / 3600)
    counter_id INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,                 -- as delivery_view says it: a delivery of a sent batch is 'sent'
    reason     TEXT NOT NULL DEFAULT '',
    goal       TEXT NOT NULL DEFAULT '',      -- a conversion's Target cell
    late       INTEGER NOT NULL DEFAULT 0,    -- 1: sent more than 21 days after the call
    waited     TEXT NOT NULL DEFAULT '',
    count      INTEGER NOT NULL,
    PRIMARY KEY (hour, counter_id, kind, state, reason, goal, late, waited)
  ) WITHOUT ROWID;
  INSERT INTO delivery_counts (hour, counter_id, kind, state, reason, goal, late, waited, count)
    SELECT (d.call_time - ((d.call_time % 3600) + 3600) % 3600) / 3600, d.counter_id, d.kind,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN 'sent' ELSE d.state END,
           IFNULL(d.reason, ''),
           -- a conversion's row is (ClientId or Yclid, Target, DateTime…): its goal is cell 1
           CASE WHEN d.kind = 'conversion' AND d.row IS NOT NULL THEN COALESCE(json_extract(d.row, '$[1]'), '') ELSE '' END,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' AND b.sent_at - d.call_time > 1814400 THEN 1 ELSE 0 END,
           '', COUNT(*)
    FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
  -- The same without the hour: what stats says for all time is a read of a few rows, whatever the history.
  CREATE TABLE delivery_totals (
    counter_id INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    goal       TEXT NOT NULL DEFAULT '',
    late       INTEGER NOT NULL DEFAULT 0,
    waited     TEXT NOT NULL DEFAULT '',
    count      INTEGER NOT NULL,
    PRIMARY KEY (counter_id, kind, state, reason, goal, late, waited)
  ) WITHOUT ROWID;
  INSERT INTO delivery_totals (counter_id, kind, state, reason, goal, late, waited, count)
    SELECT counter_id, kind, state, reason, goal, late, waited, SUM(count) FROM delivery_counts GROUP BY 1, 2, 3, 4, 5, 6, 7;
  DROP VIEW delivery_view;
  CREATE VIEW delivery_view AS
    SELECT d.counter_id, d.call_id, d.kind,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN 'sent' ELSE d.state END AS state,
           d.reason, d.id_type, d.row, d.call_time, d.batch_id, d.decided_run,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN b.sent_at END AS sent_at, d.waited
    FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id;
  `,

  /*
   * 7: a call fetched again exactly as it was, under the same settings, is not decided again (issue 14.2): each call
   * keeps the fingerprint of what CallKeeper sent and the settings it was decided by — NULL while a decision of it
   * waits on time or on the window it came in (domain/fingerprint.ts), and for every call before this version.
   */ `
  ALTER TABLE calls ADD COLUMN fingerprint TEXT;
  `,

  /*
   * 8: a skipped decision is no longer a row of its own (issue 14). Of the five million deliveries a million-call
   * backfill wrote, 73 % were 'skipped': each a row, its index entries, a record handed to the writer thread. A call's
   * skipped decisions are now kept on its own row, `calls.skips`: a JSON array of [counter, kind, reason] or
   * [counter, kind, reason, waited] — what a re-decision must take back from `delivery_counts`, which keeps counting
   * them as before. A pair is either in `skips` or a row of `deliveries`, never both. `delivery_view` gives them back
   * as rows ('skipped', decided in the run that last saw the call), so what people and stats read is unchanged.
   */ `
  ALTER TABLE calls ADD COLUMN skips TEXT;
  -- every delivery was recorded with its call; should one not have been, its call row is made, so that nothing is lost
  INSERT OR IGNORE INTO calls (id, call_time, service_type, first_seen_run, last_seen_run)
    SELECT call_id, MAX(call_time), '', MIN(decided_run), MAX(decided_run) FROM deliveries WHERE state = 'skipped' GROUP BY call_id;
  CREATE TEMP TABLE skips_v8 AS
    SELECT call_id, json_group_array(CASE WHEN waited IS NULL THEN json_array(counter_id, kind, reason)
                                          ELSE json_array(counter_id, kind, reason, waited) END) AS skips
    FROM deliveries WHERE state = 'skipped' GROUP BY call_id;
  UPDATE calls SET skips = s.skips FROM skips_v8 s WHERE s.call_id = calls.id;
  DROP TABLE skips_v8;
  DELETE FROM deliveries WHERE state = 'skipped';
  DROP VIEW delivery_view;
  CREATE VIEW delivery_view AS
    SELECT d.counter_id, d.call_id, d.kind,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN 'sent' ELSE d.state END AS state,
           d.reason, d.id_type, d.row, d.call_time, d.batch_id, d.decided_run,
           CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN b.sent_at END AS sent_at, d.waited
    FROM deliveries d LEFT JOIN batches b ON b.id = d.batch_id
    UNION ALL
    SELECT s.value ->> 0, c.id, s.value ->> 1, 'skipped', s.value ->> 2, 'clientId', NULL, c.call_time, NULL, c.last_seen_run,
           NULL, s.value ->> 3
    FROM calls c, json_each(c.skips) s WHERE c.skips IS NOT NULL;
  `,

  /*
   * 9: a batch's counts kept with it, so that marking it sent (or voiding, rejecting, releasing it) moves a few count
   * rows instead of reading every row it holds (issue 14: that read was ≈ 0.5 s of a 100 000-call backfill's serial
   * end). One row per (batch, hour of the call, a conversion's goal, the wait it was decided out of) of a batch not
   * sent yet (prepared or sending): how many of its deliveries are so — each batched, with no reason. Filled as rows
   * join a batch and emptied when the batch is settled; sent, void and rejected batches have none (they never move
   * again). The index finds a batch's rows by call time: the hour that straddles a threshold (21 days late, the
   * counter's linking threshold) is read alone, and a batch's newest call is one step.
   */ `
  CREATE TABLE batch_counts (
    batch_id INTEGER NOT NULL,
    hour     INTEGER NOT NULL,              -- floor(call_time / 3600)
    goal     TEXT NOT NULL DEFAULT '',      -- a conversion's Target cell
    waited   TEXT NOT NULL DEFAULT '',
    count    INTEGER NOT NULL,
    PRIMARY KEY (batch_id, hour, goal, waited)
  ) WITHOUT ROWID;
  INSERT INTO batch_counts (batch_id, hour, goal, waited, count)
    SELECT d.batch_id, (d.call_time - ((d.call_time % 3600) + 3600) % 3600) / 3600,
           CASE WHEN d.kind = 'conversion' AND d.row IS NOT NULL THEN COALESCE(json_extract(d.row, '$[1]'), '') ELSE '' END,
           IFNULL(d.waited, ''), COUNT(*)
    FROM deliveries d JOIN batches b ON b.id = d.batch_id
    WHERE b.status IN ('prepared', 'sending') AND d.state = 'batched'
    GROUP BY 1, 2, 3, 4;
  CREATE INDEX deliveries_batch_time ON deliveries (batch_id, call_time) WHERE batch_id IS NOT NULL;
  `,
  /*
   * 10: `delivery_counts` keyed by counter, kind and state before the hour (it was the hour first). Marking a batch
   * sent moves its counts from 'batched' to 'sent' for every hour it holds — a year's batch, thousands of hours — and
   * with the hour first those rows lay on every page of the table, among every other counter's: each such commit
   * wrote the whole table to the WAL (6.6 MB at 100 000 calls, a checkpoint after it). Keyed this way a batch's counts
   * are two runs of neighbouring rows (its counter and kind, 'batched' and 'sent'). Reads by hour name the counter,
   * kind and state they want (stats.ts), so they still seek. Rows at 0 are not carried over (a sum ignores them).
   */ `
  CREATE TABLE delivery_counts_v10 (
    hour       INTEGER NOT NULL,              -- floor(call_time / 3600)
    counter_id INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,                 -- as delivery_view says it: a delivery of a sent batch is 'sent'
    reason     TEXT NOT NULL DEFAULT '',
    goal       TEXT NOT NULL DEFAULT '',      -- a conversion's Target cell
    late       INTEGER NOT NULL DEFAULT 0,    -- 1: sent more than 21 days after the call
    waited     TEXT NOT NULL DEFAULT '',
    count      INTEGER NOT NULL,
    PRIMARY KEY (counter_id, kind, state, hour, reason, goal, late, waited)
  ) WITHOUT ROWID;
  INSERT INTO delivery_counts_v10 (hour, counter_id, kind, state, reason, goal, late, waited, count)
    SELECT hour, counter_id, kind, state, reason, goal, late, waited, count FROM delivery_counts WHERE count != 0;
  DROP TABLE delivery_counts;
  ALTER TABLE delivery_counts_v10 RENAME TO delivery_counts;
  `,
];
