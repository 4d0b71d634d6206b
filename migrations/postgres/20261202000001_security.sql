-- Security (issue 9): invitations instead of admin-set passwords, and credential data keys that
-- running instances share through the database.

-- An invitation to join a tenant. Only the SHA-256 of its token is stored; the token names its
-- tenant (st_inv_<tenant>_<random>), so the lookup key leads with tenant_id.
CREATE TABLE invitation (
    tenant_id      UUID NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
    invitation_id  UUID NOT NULL,
    email          TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash     BYTEA NOT NULL,
    invited_by     UUID,
    expires_at     TIMESTAMPTZ NOT NULL,
    accepted_at    TIMESTAMPTZ,
    accepted_by    UUID,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, invitation_id),
    UNIQUE (tenant_id, token_hash)
);
-- At most one open invitation per email in a tenant.
CREATE UNIQUE INDEX invitation_one_open ON invitation (tenant_id, email) WHERE accepted_at IS NULL;

-- Data keys that seal marketplace credentials, each wrapped (sealed) under a master key
-- (CREDENTIALS_KEY). Exactly one is current; retired ones still open until no row needs them.
CREATE TABLE credential_key (
    key_id         TEXT PRIMARY KEY,
    master_key_id  TEXT NOT NULL,
    wrapped        BYTEA NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('current', 'retired')),
    created_at     TIMESTAMPTZ NOT NULL,
    retired_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX credential_key_one_current ON credential_key (state) WHERE state = 'current';
-- Which rows still need a key: asked across tenants by key rotation only, so this one index does
-- not lead with tenant_id.
CREATE INDEX marketplace_connection_key ON marketplace_connection (credentials_key_id);
