-- Signed bundles (issue 11). The server holds only public keys: it opens every encrypted upload
-- with the registered key whose key id it names, exactly as a device would, and refuses what
-- does not open.
CREATE TABLE signing_keys (
    app_id TEXT NOT NULL REFERENCES apps(id),
    key_id TEXT NOT NULL,            -- first 20 characters of the PEM body, as devices report it
    public_key TEXT NOT NULL,        -- PKCS#1 PEM, as the app's publicKey holds it
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, key_id)
);

-- "Require signed bundles": unsigned uploads are refused and no channel may be pointed at an
-- unsigned bundle (Android plugins install unsigned bundles even when the app has a key).
ALTER TABLE apps ADD COLUMN require_signed INTEGER NOT NULL DEFAULT 0;

-- The key id each device last reported, for "which keys do installed apps trust" (coverage).
ALTER TABLE devices ADD COLUMN key_id TEXT;
