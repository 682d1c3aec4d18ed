-- Schema version 3: flows (parent/child job trees; docs/flows-storage.md).
ALTER TABLE jobs ADD COLUMN parent TEXT;
ALTER TABLE jobs ADD COLUMN on_failure TEXT;
ALTER TABLE jobs ADD COLUMN pending_children INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN child_failed TEXT;
ALTER TABLE jobs ADD COLUMN resume INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN child_failed_by TEXT;
ALTER TABLE jobs ADD COLUMN failed_by TEXT;
CREATE TABLE flow_children (
  queue TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  child TEXT NOT NULL,
  status TEXT NOT NULL,
  value BLOB,
  reason TEXT,
  PRIMARY KEY (queue, parent_id, child)
) WITHOUT ROWID;
