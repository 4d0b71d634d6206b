-- WIT 0.2.0 (issue 13): prices and in-transit counts per product, warehouse kinds, credential
-- expiry, and what a sync carries from one run to the next. Keep in step with ../sqlite/.

ALTER TABLE product
    ADD COLUMN variant_id TEXT,
    ADD COLUMN discounted_price_minor BIGINT,
    ADD COLUMN discount_percent BIGINT,
    ADD COLUMN currency TEXT,
    ADD COLUMN in_transit_to_client BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN in_transit_from_client BIGINT NOT NULL DEFAULT 0;
UPDATE product p SET in_transit_to_client = t.to_client, in_transit_from_client = t.from_client
FROM (SELECT tenant_id, product_id, SUM(in_transit_to_client) AS to_client,
             SUM(in_transit_from_client) AS from_client
      FROM stock_level GROUP BY tenant_id, product_id) t
WHERE p.tenant_id = t.tenant_id AND p.product_id = t.product_id;
ALTER TABLE stock_level
    DROP COLUMN in_transit_to_client,
    DROP COLUMN in_transit_from_client,
    ADD COLUMN warehouse_kind TEXT NOT NULL DEFAULT 'marketplace'
        CHECK (warehouse_kind IN ('marketplace', 'seller')),
    ADD COLUMN warehouse_id TEXT;

ALTER TABLE marketplace_connection
    ADD COLUMN credentials_expire_at TIMESTAMPTZ,
    ADD COLUMN credentials_expiry_notified_at TIMESTAMPTZ;

CREATE TABLE sync_state (
    tenant_id      UUID NOT NULL,
    connection_id  UUID NOT NULL,
    name           TEXT NOT NULL,
    value          TEXT NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, name),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
);
