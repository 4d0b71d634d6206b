-- Forecasting and alert incidents (issue 15). Keep in step with ../postgres/.

-- The instant each sync run saw its connection's stock, and whether the run completed (all pages,
-- no errors): the snapshot grid. A level's history rows take their run's instant; between changes
-- a level holds its value at every complete observation.
CREATE TABLE stock_observation (
    tenant_id      BLOB NOT NULL,
    connection_id  BLOB NOT NULL,
    sync_run_id    BLOB NOT NULL,
    observed_at    TEXT NOT NULL,
    complete       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, sync_run_id),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX stock_observation_time ON stock_observation (tenant_id, connection_id, observed_at);

-- The run that first saw a level: its history starts there, not before.
ALTER TABLE stock_level ADD COLUMN first_sync_run_id BLOB;

-- Planning and alerting settings of a tenant; no row: the defaults.
CREATE TABLE forecast_settings (
    tenant_id            BLOB PRIMARY KEY REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    lead_time_days       REAL NOT NULL,
    warning_buffer_days  REAL NOT NULL,
    target_cover_days    REAL NOT NULL,
    service_z            REAL NOT NULL,
    quiet_from           INTEGER,
    quiet_to             INTEGER,
    urgent_bypass_quiet  INTEGER NOT NULL,
    digest_hour          INTEGER NOT NULL,
    -- The tenant's local date of the last daily digest.
    last_digest_on       TEXT,
    updated_at           TEXT NOT NULL
) STRICT;

-- Per product × warehouse: its own lead time, pack and minimum order, units the seller has
-- shipped to it ("already shipped"), and a mute.
CREATE TABLE forecast_override (
    tenant_id       BLOB NOT NULL,
    product_id      BLOB NOT NULL,
    warehouse       TEXT NOT NULL,
    lead_time_days  REAL,
    pack_size       INTEGER,
    moq             INTEGER,
    in_transit      INTEGER,
    muted_until     TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product_id, warehouse),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
) STRICT;

-- The last evaluation of each level (the §5.4 fields as JSON), with what lists filter and sort on.
CREATE TABLE forecast (
    tenant_id      BLOB NOT NULL,
    product_id     BLOB NOT NULL,
    warehouse      TEXT NOT NULL,
    connection_id  BLOB NOT NULL,
    level          TEXT NOT NULL,
    status         TEXT NOT NULL,
    ship_by        TEXT,
    result         TEXT NOT NULL,
    computed_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, product_id, warehouse),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX forecast_ship_by ON forecast (tenant_id, ship_by, product_id, warehouse);

-- One alert rule of one level: its state machine and its current (or last) incident.
CREATE TABLE alert_incident (
    tenant_id          BLOB NOT NULL,
    product_id         BLOB NOT NULL,
    warehouse          TEXT NOT NULL,
    rule               TEXT NOT NULL CHECK (rule IN ('oos', 'stock_cover')),
    connection_id      BLOB NOT NULL,
    state              TEXT NOT NULL,
    seq                INTEGER NOT NULL,
    level              TEXT NOT NULL,
    max_level          TEXT NOT NULL,
    opened_at          TEXT,
    resolved_at        TEXT,
    last_change        TEXT,
    last_notification  TEXT,
    suppressed_by      TEXT,
    changed_at         TEXT NOT NULL,
    -- A change since the last digest that the digest must tell.
    digest_pending     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, product_id, warehouse, rule),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX alert_incident_open ON alert_incident (tenant_id, level, changed_at);
