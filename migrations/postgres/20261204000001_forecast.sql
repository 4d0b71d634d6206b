-- Forecasting and alert incidents (issue 15). Keep in step with ../sqlite/.

-- The instant each sync run saw its connection's stock, and whether the run completed (all pages,
-- no errors): the snapshot grid. A level's history rows take their run's instant; between changes
-- a level holds its value at every complete observation.
CREATE TABLE stock_observation (
    tenant_id      UUID NOT NULL,
    connection_id  UUID NOT NULL,
    sync_run_id    UUID NOT NULL,
    observed_at    TIMESTAMPTZ NOT NULL,
    complete       BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, sync_run_id),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
);
CREATE INDEX stock_observation_time ON stock_observation (tenant_id, connection_id, observed_at);

-- The run that first saw a level: its history starts there, not before.
ALTER TABLE stock_level ADD COLUMN first_sync_run_id UUID;

-- Planning and alerting settings of a tenant; no row: the defaults.
CREATE TABLE forecast_settings (
    tenant_id            UUID PRIMARY KEY REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    lead_time_days       DOUBLE PRECISION NOT NULL,
    warning_buffer_days  DOUBLE PRECISION NOT NULL,
    target_cover_days    DOUBLE PRECISION NOT NULL,
    service_z            DOUBLE PRECISION NOT NULL,
    quiet_from           BIGINT,
    quiet_to             BIGINT,
    urgent_bypass_quiet  BOOLEAN NOT NULL,
    digest_hour          BIGINT NOT NULL,
    -- The tenant's local date of the last daily digest.
    last_digest_on       TEXT,
    updated_at           TIMESTAMPTZ NOT NULL
);

-- Per product × warehouse: its own lead time, pack and minimum order, units the seller has
-- shipped to it ("already shipped"), and a mute.
CREATE TABLE forecast_override (
    tenant_id       UUID NOT NULL,
    product_id      UUID NOT NULL,
    warehouse       TEXT COLLATE "C" NOT NULL,
    lead_time_days  DOUBLE PRECISION,
    pack_size       BIGINT,
    moq             BIGINT,
    in_transit      BIGINT,
    muted_until     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, product_id, warehouse),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
);

-- The last evaluation of each level (the §5.4 fields as JSON), with what lists filter and sort on.
CREATE TABLE forecast (
    tenant_id      UUID NOT NULL,
    product_id     UUID NOT NULL,
    warehouse      TEXT COLLATE "C" NOT NULL,
    connection_id  UUID NOT NULL,
    level          TEXT NOT NULL,
    status         TEXT NOT NULL,
    ship_by        TEXT,
    result         TEXT NOT NULL,
    computed_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, product_id, warehouse),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
);
CREATE INDEX forecast_ship_by ON forecast (tenant_id, ship_by, product_id, warehouse);

-- One alert rule of one level: its state machine and its current (or last) incident.
CREATE TABLE alert_incident (
    tenant_id          UUID NOT NULL,
    product_id         UUID NOT NULL,
    warehouse          TEXT COLLATE "C" NOT NULL,
    rule               TEXT NOT NULL CHECK (rule IN ('oos', 'stock_cover')),
    connection_id      UUID NOT NULL,
    state              TEXT NOT NULL,
    seq                BIGINT NOT NULL,
    level              TEXT NOT NULL,
    max_level          TEXT NOT NULL,
    opened_at          TIMESTAMPTZ,
    resolved_at        TIMESTAMPTZ,
    last_change        TEXT,
    last_notification  TEXT,
    suppressed_by      TEXT,
    changed_at         TIMESTAMPTZ NOT NULL,
    -- A change since the last digest that the digest must tell.
    digest_pending     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (tenant_id, product_id, warehouse, rule),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
);
CREATE INDEX alert_incident_open ON alert_incident (tenant_id, level, changed_at);
