-- Schema version 4: named locks (conveyor.Lock).
CREATE TABLE locks (
  name TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
