-- Stock Tracker schema, SQLite flavour. Keep in step with ../postgres/ (same tables, columns and
-- indexes; only types differ). Every tenant-owned key and index leads with tenant_id so the data can
-- be distributed by tenant. SQLite compares text bytewise (BINARY), which the PostgreSQL schema
-- matches with COLLATE "C". Tables are STRICT so a value of the wrong type is refused, as in
-- PostgreSQL. Timestamps are RFC 3339 text in UTC, UUIDs 16-byte blobs (sqlx's encodings).

CREATE TABLE tenant (
    tenant_id   BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- Users are global (one login may belong to several tenants); emails are stored lower-cased.
CREATE TABLE user_account (
    user_id        BLOB PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

CREATE TABLE membership (
    tenant_id   BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES user_account (user_id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) STRICT;
CREATE INDEX membership_user ON membership (user_id);

-- Refresh tokens are stored as SHA-256 digests. The tenant id travels inside the token, so the
-- lookup key leads with tenant_id like every other tenant-owned table.
CREATE TABLE refresh_token (
    tenant_id    BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL,
    family_id    BLOB NOT NULL,
    user_id      BLOB NOT NULL REFERENCES user_account (user_id) ON DELETE CASCADE,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    revoked_at   TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
) STRICT;
CREATE INDEX refresh_token_family ON refresh_token (tenant_id, family_id);

CREATE TABLE marketplace_connection (
    tenant_id           BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    connection_id       BLOB NOT NULL,
    marketplace         TEXT NOT NULL,
    name                TEXT NOT NULL,
    settings            TEXT NOT NULL,
    credentials_key_id  TEXT NOT NULL,
    credentials_sealed  BLOB NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id),
    UNIQUE (tenant_id, name)
) STRICT;

CREATE TABLE product (
    tenant_id            BLOB NOT NULL,
    product_id           BLOB NOT NULL,
    connection_id        BLOB NOT NULL,
    sku                  TEXT NOT NULL,
    marketplace_id       TEXT NOT NULL,
    barcode              TEXT,
    name                 TEXT NOT NULL,
    brand                TEXT,
    price_minor          INTEGER,
    -- Lower-cased "sku name barcode", written by the host, for case-insensitive search that
    -- behaves the same on both backends (SQLite's lower() only folds ASCII).
    search_text          TEXT NOT NULL,
    low_stock_threshold  INTEGER NOT NULL DEFAULT 5,
    active               INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product_id),
    UNIQUE (tenant_id, connection_id, sku),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX product_list ON product (tenant_id, sku, product_id);

CREATE TABLE stock_level (
    tenant_id               BLOB NOT NULL,
    product_id              BLOB NOT NULL,
    warehouse               TEXT NOT NULL,
    available               INTEGER NOT NULL,
    in_transit_to_client    INTEGER NOT NULL DEFAULT 0,
    in_transit_from_client  INTEGER NOT NULL DEFAULT 0,
    updated_at              TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product_id, warehouse),
    FOREIGN KEY (tenant_id, product_id)
        REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX stock_level_warehouse ON stock_level (tenant_id, warehouse, product_id);

-- Append-only: rows are inserted by sync and never updated (a trigger refuses updates). They go
-- away only with their product (a deleted connection takes its data with it).
CREATE TABLE stock_history (
    tenant_id           BLOB NOT NULL,
    stock_history_id    BLOB NOT NULL,
    product_id          BLOB NOT NULL,
    warehouse           TEXT NOT NULL,
    previous_available  INTEGER,
    available           INTEGER NOT NULL,
    sync_run_id         BLOB,
    recorded_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, stock_history_id),
    FOREIGN KEY (tenant_id, product_id)
        REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX stock_history_product ON stock_history (tenant_id, product_id, recorded_at);

CREATE TRIGGER stock_history_no_update BEFORE UPDATE ON stock_history
BEGIN
    SELECT RAISE(ABORT, 'stock_history is append-only');
END;

CREATE TABLE sync_run (
    tenant_id          BLOB NOT NULL,
    sync_run_id        BLOB NOT NULL,
    connection_id      BLOB NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    products_seen      INTEGER NOT NULL DEFAULT 0,
    stocks_seen        INTEGER NOT NULL DEFAULT 0,
    stock_changes      INTEGER NOT NULL DEFAULT 0,
    error              TEXT,
    created_at         TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    PRIMARY KEY (tenant_id, sync_run_id),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sync_run_connection ON sync_run (tenant_id, connection_id, created_at);
