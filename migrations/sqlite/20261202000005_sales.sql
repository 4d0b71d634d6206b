-- Sales (issue 13): order, sale, return and cancel events as the marketplace reports them, one row
-- per event, stored idempotently by the marketplace's id (WB: `srid`) and kind. Keep in step with
-- ../postgres/.
CREATE TABLE sale_event (
    tenant_id      BLOB NOT NULL,
    connection_id  BLOB NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('order', 'sale', 'return', 'cancel')),
    event_id       TEXT NOT NULL,
    product_id     BLOB NOT NULL,
    -- '' when the marketplace names none.
    warehouse      TEXT NOT NULL DEFAULT '',
    quantity       INTEGER NOT NULL,
    price_minor    INTEGER,
    occurred_at    TEXT NOT NULL,
    -- The same instant in unix seconds: day buckets in the tenant's time zone are integer
    -- arithmetic on it, the same on both backends.
    occurred_unix  INTEGER NOT NULL,
    recorded_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, kind, event_id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, product_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sale_event_time ON sale_event (tenant_id, occurred_unix);
CREATE INDEX sale_event_product ON sale_event (tenant_id, product_id, occurred_unix);
