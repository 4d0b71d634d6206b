-- Tell the seller (issue 12): thresholds, stock events, webhooks. Keep in step with ../postgres/.

-- The tenant's default low-stock threshold and time zone (IANA name; for messages and quiet hours).
ALTER TABLE tenant ADD COLUMN low_stock_threshold INTEGER NOT NULL DEFAULT 5 CHECK (low_stock_threshold >= 0);
ALTER TABLE tenant ADD COLUMN timezone TEXT NOT NULL DEFAULT 'Europe/Moscow';

-- A product's threshold becomes an override: NULL means the tenant's. Nothing could set it
-- before, so every stored 5 was the old default.
ALTER TABLE product ADD COLUMN low_stock_override INTEGER CHECK (low_stock_override >= 0);
UPDATE product SET low_stock_override = low_stock_threshold WHERE low_stock_threshold <> 5;
ALTER TABLE product DROP COLUMN low_stock_threshold;
ALTER TABLE product RENAME COLUMN low_stock_override TO low_stock_threshold;

-- The alert state of a level as last evaluated after a complete sync: 'ok', 'low' or 'out'; NULL
-- until first evaluated (the first sync sets the baseline without events).
ALTER TABLE stock_level ADD COLUMN alert_state TEXT CHECK (alert_state IN ('ok', 'low', 'out'));

-- What happened, for the seller: stored, listed by GET /events, fanned out to webhooks and
-- Telegram. Not tied to connections or products by key: an event outlives what it names.
CREATE TABLE event (
    tenant_id   BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    event_id    BLOB NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
) STRICT;
CREATE INDEX event_type ON event (tenant_id, type, event_id);

-- Webhook endpoints. The signing secrets (the current one and, for 24 hours after a rotation, the
-- previous one) are sealed together under the credential data key, like marketplace credentials.
CREATE TABLE webhook_endpoint (
    tenant_id                   BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    webhook_id                  BLOB NOT NULL,
    url                         TEXT NOT NULL,
    description                 TEXT,
    events                      TEXT NOT NULL,
    enabled                     INTEGER NOT NULL DEFAULT 1,
    disabled_reason             TEXT,
    secrets_key_id              TEXT NOT NULL,
    secrets_sealed              BLOB NOT NULL,
    previous_secret_expires_at  TEXT,
    consecutive_failures        INTEGER NOT NULL DEFAULT 0,
    created_at                  TEXT NOT NULL,
    updated_at                  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, webhook_id)
) STRICT;

-- One event to one endpoint: the exact body and its stable `webhook-id`, and how sending went.
-- A job (`webhook`) carries each pending delivery.
CREATE TABLE webhook_delivery (
    tenant_id          BLOB NOT NULL,
    delivery_id        BLOB NOT NULL,
    webhook_id         BLOB NOT NULL,
    event_id           BLOB,
    message_id         TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    body               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_status_code   INTEGER,
    last_error         TEXT,
    last_response      TEXT,
    next_attempt_at    TEXT,
    created_at         TEXT NOT NULL,
    finished_at        TEXT,
    PRIMARY KEY (tenant_id, delivery_id),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhook_endpoint (tenant_id, webhook_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX webhook_delivery_endpoint ON webhook_delivery (tenant_id, webhook_id, delivery_id);

-- Telegram chats linked to a tenant (a chat follows one tenant; linking it again moves it), and
-- the one-time codes that link them (stored as SHA-256 digests).
CREATE TABLE telegram_chat (
    tenant_id    BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    chat_id      INTEGER NOT NULL,
    user_id      BLOB NOT NULL REFERENCES user_account (user_id) ON DELETE CASCADE,
    language     TEXT NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    muted_until  TEXT,
    linked_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, chat_id)
) STRICT;
CREATE UNIQUE INDEX telegram_chat_one_tenant ON telegram_chat (chat_id);

CREATE TABLE telegram_link_code (
    code_hash   BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES user_account (user_id) ON DELETE CASCADE,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    created_at  TEXT NOT NULL
) STRICT;

-- Telegram updates already taken in (Telegram repeats an update it thinks was not received):
-- kept a day, as long as Telegram keeps updates.
CREATE TABLE telegram_update (
    update_id    INTEGER PRIMARY KEY,
    received_at  TEXT NOT NULL
) STRICT;
CREATE INDEX telegram_update_received ON telegram_update (received_at);
