-- At most one queued or running sync per connection: a second start finds the first instead of
-- starting another. heartbeat_at moves with every page, so a run whose process died can be told
-- from a slow one and replaced.
ALTER TABLE sync_run ADD COLUMN heartbeat_at TEXT;
CREATE UNIQUE INDEX sync_run_one_active ON sync_run (tenant_id, connection_id) WHERE status IN ('queued', 'running');
