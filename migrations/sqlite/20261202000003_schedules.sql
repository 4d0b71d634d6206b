-- Syncs run themselves (issue 11): each connection has a schedule, and a sync run is carried by a
-- durable job (see 20261202000002_jobs.sql) rather than by the process that started it.

-- The schedule. NULL interval: the service's default (SYNC_DEFAULT_INTERVAL_SECS). NULL
-- next_sync_at: not yet placed; the scheduler places it at a random point of the first interval,
-- so connections that exist before this migration do not all fire at once.
ALTER TABLE marketplace_connection ADD COLUMN sync_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE marketplace_connection ADD COLUMN sync_interval_seconds INTEGER CHECK (sync_interval_seconds > 0);
ALTER TABLE marketplace_connection ADD COLUMN next_sync_at TEXT;
-- Why the schedule was switched off by the service (credentials refused again and again).
ALTER TABLE marketplace_connection ADD COLUMN paused_reason TEXT;
-- Runs in a row whose credentials the marketplace refused.
ALTER TABLE marketplace_connection ADD COLUMN credential_failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX connection_due ON marketplace_connection (next_sync_at) WHERE sync_enabled = TRUE;

-- What started a run, how many attempts it took, and when the next one is due while it waits
-- (a transient failure being retried, or a marketplace asking to wait).
ALTER TABLE sync_run ADD COLUMN triggered_by TEXT NOT NULL DEFAULT 'manual' CHECK (triggered_by IN ('manual', 'schedule'));
ALTER TABLE sync_run ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_run ADD COLUMN next_attempt_at TEXT;

-- Runs left active by the previous version had no job to carry them on: they stopped with it.
UPDATE sync_run SET status = 'failed', error = 'interrupted: the service was upgraded during the run',
    finished_at = COALESCE(heartbeat_at, started_at, created_at)
    WHERE status IN ('queued', 'running');
