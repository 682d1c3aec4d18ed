-- Schema version 4: named locks (conveyor.Lock) and token buckets (conveyor.TokenBucket).
CREATE TABLE locks (
  name TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE buckets (
  name TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  at INTEGER NOT NULL
) WITHOUT ROWID;
