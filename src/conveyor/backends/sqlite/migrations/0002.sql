-- Schema version 2: dedup keys (Dedup.throttle / Dedup.debounce).
CREATE TABLE dedup (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  job_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (queue, key)
) WITHOUT ROWID;
