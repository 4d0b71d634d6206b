-- Durable jobs (issue 11): the one way work runs outside a request. A job is a row; a worker
-- claims it with a lease it renews while it works; a retry or a deferral is the same row with
-- `run_at` in the future. The queue spans tenants (workers claim across them), so its key is the
-- job id, not tenant-first; tenant_id is kept for scoping and pruning.
CREATE TABLE job (
    job_id            UUID PRIMARY KEY,
    tenant_id         UUID,
    kind              TEXT NOT NULL,
    -- At most one queued-or-running job per key (e.g. `sync:<connection id>`).
    unique_key        TEXT,
    payload           JSONB NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('available', 'running', 'retryable', 'completed', 'failed', 'cancelled')),
    attempt           INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    deferrals         INTEGER NOT NULL DEFAULT 0,
    run_at            TIMESTAMPTZ NOT NULL,
    locked_by         TEXT,
    lease_expires_at  TIMESTAMPTZ,
    last_error        TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX job_unique_active ON job (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable');
CREATE INDEX job_fetchable ON job (run_at) WHERE state IN ('available', 'retryable');
CREATE INDEX job_leases ON job (lease_expires_at) WHERE state = 'running';
CREATE INDEX job_finished ON job (finished_at) WHERE state IN ('completed', 'failed', 'cancelled');
