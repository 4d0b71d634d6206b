-- WIT 0.2.0 (issue 13): prices and in-transit counts per product, warehouse kinds, credential
-- expiry, and what a sync carries from one run to the next. Keep in step with ../postgres/.

-- A product's price as the marketplace's prices API reports it (price_minor is the base price).
ALTER TABLE product ADD COLUMN variant_id TEXT;
ALTER TABLE product ADD COLUMN discounted_price_minor INTEGER;
ALTER TABLE product ADD COLUMN discount_percent INTEGER;
ALTER TABLE product ADD COLUMN currency TEXT;
-- Goods between warehouses and buyers, per product (as marketplaces report them). The per-level
-- counts 0.1 adapters gave are summed into them, then dropped.
ALTER TABLE product ADD COLUMN in_transit_to_client INTEGER NOT NULL DEFAULT 0;
ALTER TABLE product ADD COLUMN in_transit_from_client INTEGER NOT NULL DEFAULT 0;
UPDATE product SET
    in_transit_to_client = (SELECT COALESCE(SUM(s.in_transit_to_client), 0) FROM stock_level s
                            WHERE s.tenant_id = product.tenant_id AND s.product_id = product.product_id),
    in_transit_from_client = (SELECT COALESCE(SUM(s.in_transit_from_client), 0) FROM stock_level s
                              WHERE s.tenant_id = product.tenant_id AND s.product_id = product.product_id);
ALTER TABLE stock_level DROP COLUMN in_transit_to_client;
ALTER TABLE stock_level DROP COLUMN in_transit_from_client;

-- Whose warehouse: the marketplace's, or the seller's own (FBS); and the marketplace's id of it.
ALTER TABLE stock_level ADD COLUMN warehouse_kind TEXT NOT NULL DEFAULT 'marketplace'
    CHECK (warehouse_kind IN ('marketplace', 'seller'));
ALTER TABLE stock_level ADD COLUMN warehouse_id TEXT;

-- When the connection's credentials stop working, as the marketplace says (WB: the token's exp),
-- and when the seller was last told they are about to.
ALTER TABLE marketplace_connection ADD COLUMN credentials_expire_at TEXT;
ALTER TABLE marketplace_connection ADD COLUMN credentials_expiry_notified_at TEXT;

-- What a connection's sync carries over: the sales cursor between runs, and a deferred run's
-- position (phase, page cursor, the adapter's resume value) until the run resumes.
CREATE TABLE sync_state (
    tenant_id      BLOB NOT NULL,
    connection_id  BLOB NOT NULL,
    name           TEXT NOT NULL,
    value          TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, name),
    FOREIGN KEY (tenant_id, connection_id)
        REFERENCES marketplace_connection (tenant_id, connection_id) ON DELETE CASCADE
) STRICT;
