-- conveyor's SQLite schema (the current version; see schema.py for versioning).
--
-- Every job lives in one row of `jobs`; its state and `rank` place it in the ordered set
-- Redis keeps as a list or a sorted set:
--   waiting      rank = position; the smallest is taken next (front inserts go below
--                zero, back inserts above: LIFO and recovered jobs jump the line)
--   prioritized  rank = priority * 2^32 + sequence (FIFO within a priority)
--   delayed      rank = due time in ms
--   active       rank unused; `worker` and `token` hold the lease token <worker>:<n>
--   completed / failed   rank = finish time in ms
--   waiting-children     rank = creation time in ms (a flow's parent waiting for its
--                children; see flow_children)
-- Ties order by id, as members of a Redis sorted set do.

CREATE TABLE queues (
  name TEXT PRIMARY KEY,
  listed INTEGER NOT NULL DEFAULT 0,        -- has held a job (Backend.queues)
  paused INTEGER NOT NULL DEFAULT 0,
  next_id INTEGER NOT NULL DEFAULT 0,       -- last generated job id
  back_seq INTEGER NOT NULL DEFAULT 0,      -- last rank given at the back of `waiting`
  front_seq INTEGER NOT NULL DEFAULT 1,     -- last rank given at the front of `waiting`
  prio_seq INTEGER NOT NULL DEFAULT 0,      -- FIFO sequence within a priority
  marker INTEGER NOT NULL DEFAULT 0,        -- bumped when work may be ready (wake-ups)
  event_count INTEGER NOT NULL DEFAULT 0,   -- events kept, for trimming
  stalled_check_until INTEGER NOT NULL DEFAULT 0  -- guard: lease clock ms
);

-- Flows (since schema version 3; the last columns, where the migration adds them):
--   parent            the parent's ref "<queue>:<id>", or NULL
--   on_failure        fail|ignore|continue|remove: what its failure does to the parent
--                     (NULL: fail)
--   pending_children  its flow_children rows still pending
--   child_failed      why a `fail` child failed while this job ran (its `wait` fails it)
--   resume            1: a `continue` child failed while this job ran
--   child_failed_by   the ref of the child behind child_failed
--   failed_by         the ref of the child whose failure failed this job (for `retry`)
-- No comment goes inside a CREATE TABLE: ALTER TABLE … DROP COLUMN rewrites its text,
-- and a trailing "--" comment swallows what follows.
CREATE TABLE jobs (
  rid INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  data BLOB NOT NULL,
  opts BLOB NOT NULL,
  state TEXT NOT NULL,
  rank INTEGER NOT NULL DEFAULT 0,
  timestamp INTEGER NOT NULL,
  delay INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 0,
  attempts_made INTEGER NOT NULL DEFAULT 0,
  stalled_count INTEGER NOT NULL DEFAULT 0,
  processed_on INTEGER,
  finished_on INTEGER,
  returnvalue BLOB,
  failed_reason TEXT,
  progress BLOB,
  worker TEXT,
  token TEXT,
  parent TEXT,
  on_failure TEXT,
  pending_children INTEGER NOT NULL DEFAULT 0,
  child_failed TEXT,
  resume INTEGER NOT NULL DEFAULT 0,
  child_failed_by TEXT,
  failed_by TEXT
);
CREATE UNIQUE INDEX jobs_by_id ON jobs (queue, id);
CREATE INDEX jobs_by_state ON jobs (queue, state, rank, id);

-- Jobs per state, kept by every state change (in the same transaction), so that counts
-- (dashboards, health checks, retention) never scan a queue.
CREATE TABLE state_counts (
  queue TEXT NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- One JSON error record per failed attempt, numbered 1, 2, … across manual retries.
CREATE TABLE job_errors (
  queue TEXT NOT NULL,
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  error BLOB NOT NULL,
  PRIMARY KEY (queue, job_id, attempt)
) WITHOUT ROWID;

CREATE TABLE logs (
  seq INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  job_id TEXT NOT NULL,
  line TEXT NOT NULL
);
CREATE INDEX logs_by_job ON logs (queue, job_id, seq);

-- A worker's claim on the jobs it fetched: alive while expires_at (lease clock) is ahead.
CREATE TABLE leases (
  queue TEXT NOT NULL,
  worker TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (queue, worker)
) WITHOUT ROWID;

-- The capped event stream of every queue. One row holds the events of one transaction
-- (`batch`: a JSON array of [name, job id or null, fields or null]; `n` of them); event
-- ids are "<row id>-<index>", zero-padded. Row ids never repeat (AUTOINCREMENT), so a
-- reader's cursor stays valid across trims and obliterations.
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  n INTEGER NOT NULL,
  batch TEXT NOT NULL
);
CREATE INDEX events_by_queue ON events (queue, id);

-- Dedup keys (Dedup.throttle / Dedup.debounce): a key holds for its job while
-- `expires_at` (ms, the engine's clock; 0 = until the job finishes) is ahead and the job
-- has not finished. Since schema version 2.
CREATE TABLE dedup (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  job_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;

-- What a flow's parent keeps of its children (docs/flows-storage.md), deleted with the
-- parent: one row per child, keyed by the parent's queue and id and the child's ref
-- "<queue>:<id>" (the child may live in another queue). `status` is `pending` until the
-- child ends, then `completed` with its return value (`value`, JSON) or `failed` with its
-- reason (`reason`). A child removed, or failed under `remove`, loses its row.
-- Since schema version 3.
CREATE TABLE flow_children (
  queue TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  child TEXT NOT NULL,
  status TEXT NOT NULL,
  value BLOB,
  reason TEXT,
  PRIMARY KEY (queue, parent_id, child)
) WITHOUT ROWID;

-- Named locks (conveyor.Lock): held by `token` while `expires_at` (lease clock ms, as a
-- worker's lease) is ahead; an expired row is free and taken over. Since schema version 4,
-- as are token buckets.
CREATE TABLE locks (
  name TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Token buckets (conveyor.TokenBucket): `tokens` left at `at` (ms, the callers' clock);
-- the bucket refills from there at its rate, up to its capacity (both given by callers).
CREATE TABLE buckets (
  name TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  at INTEGER NOT NULL
) WITHOUT ROWID;
