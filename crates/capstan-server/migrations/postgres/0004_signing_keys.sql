-- Signed bundles (the PostgreSQL twin of SQLite migration 0004; see there for the why): the
-- apps' registered public keys, the "require signed bundles" rule, and the key id each device
-- last reported.
CREATE TABLE signing_keys (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps(id),
    key_id TEXT COLLATE "C" NOT NULL,
    public_key TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, key_id)
);

ALTER TABLE apps ADD COLUMN require_signed BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE devices ADD COLUMN key_id TEXT COLLATE "C";
