-- Stock Tracker schema, PostgreSQL flavour. Keep in step with ../sqlite/ (same tables, columns and
-- indexes; only types differ). Every tenant-owned key and index leads with tenant_id so the data can
-- be distributed by tenant. Text that is sorted or paged on uses COLLATE "C" so the order is the
-- same byte order SQLite uses.

CREATE TABLE tenant (
    tenant_id   UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Users are global (one login may belong to several tenants); emails are stored lower-cased.
CREATE TABLE user_account (
    user_id        UUID PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE membership (
    tenant_id   UUID NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES user_account (user_id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX membership_user ON membership (user_id);

-- Refresh tokens are stored as SHA-256 digests. The tenant id travels inside the token, so the
-- lookup key leads with tenant_id like every other tenant-owned table.
CREATE TABLE refresh_token (
    tenant_id    UUID NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL,
    family_id    UUID NOT NULL,
    user_id      UUID NOT NULL REFERENCES user_account (user_id) ON DELETE CASCADE,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
);
CREATE INDEX refresh_token_family ON refresh_token (tenant_id, family_id);

CREATE TABLE marketplace_connection (
    tenant_id           UUID NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    connection_id       UUID NOT NULL,
    marketplace         TEXT NOT NULL,
    name                TEXT NOT NULL,
    settings            JSONB NOT NULL,
    credentials_key_id  TEXT NOT NULL,
    credentials_sealed  BYTEA NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, connection_id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE product (
    tenant_id            UUID NOT NULL,
    product_id           UUID NOT NULL,
    connection_id        UUID NOT NULL,
    sku                  TEXT COLLATE "C" NOT NULL,
    marketplace_id       TEXT NOT NULL,
    barcode              TEXT,
    name                 TEXT NOT NULL,
    brand                TEXT,
    price_minor          BIGINT,
    -- Lower-cased "sku name barcode", written by the host, for case-insensitive search that
    -- behaves the same on both backends (SQLite's lower() only folds ASCII).
    search_text          TEXT NOT NULL,
    low_stock_threshold  BIGINT NOT NULL DEFAULT 5,
    active               BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, product_id),
    UNIQUE (tenant_id, connection_id, sku),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
);
CREATE INDEX product_list ON product (tenant_id, sku, product_id);

CREATE TABLE stock_level (
    tenant_id               UUID NOT NULL,
    product_id              UUID NOT NULL,
    warehouse               TEXT COLLATE "C" NOT NULL,
    available               BIGINT NOT NULL,
    in_transit_to_client    BIGINT NOT NULL DEFAULT 0,
    in_transit_from_client  BIGINT NOT NULL DEFAULT 0,
    updated_at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, product_id, warehouse),
    FOREIGN KEY (tenant_id, product_id)
        REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
);
CREATE INDEX stock_level_warehouse ON stock_level (tenant_id, warehouse, product_id);

-- Append-only: rows are inserted by sync and never updated (a trigger refuses updates). They go
-- away only with their product (a deleted connection takes its data with it).
CREATE TABLE stock_history (
    tenant_id           UUID NOT NULL,
    stock_history_id    UUID NOT NULL,
    product_id          UUID NOT NULL,
    warehouse           TEXT COLLATE "C" NOT NULL,
    previous_available  BIGINT,
    available           BIGINT NOT NULL,
    sync_run_id         UUID,
    recorded_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, stock_history_id),
    FOREIGN KEY (tenant_id, product_id)
        REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
);
CREATE INDEX stock_history_product ON stock_history (tenant_id, product_id, recorded_at);

CREATE FUNCTION stock_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_history is append-only';
END;
$$;
CREATE TRIGGER stock_history_no_update BEFORE UPDATE ON stock_history
    FOR EACH ROW EXECUTE FUNCTION stock_history_append_only();

CREATE TABLE sync_run (
    tenant_id          UUID NOT NULL,
    sync_run_id        UUID NOT NULL,
    connection_id      UUID NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    products_seen      BIGINT NOT NULL DEFAULT 0,
    stocks_seen        BIGINT NOT NULL DEFAULT 0,
    stock_changes      BIGINT NOT NULL DEFAULT 0,
    error              TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    started_at         TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, sync_run_id),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
);
CREATE INDEX sync_run_connection ON sync_run (tenant_id, connection_id, created_at);
