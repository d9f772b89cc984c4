-- Delta updates of encrypted bundles (the PostgreSQL twin of SQLite migration 0013; see there
-- for the why): per-upload encrypted artifacts, tied to the bundle row by its blob key, with the
-- signed per-file hash the manifest carries.
CREATE TABLE encrypted_files (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps(id),
    bundle_blob_key TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    file_hash TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    encoding TEXT NOT NULL,
    size BIGINT NOT NULL,
    stored_size BIGINT NOT NULL,
    blob_key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (bundle_blob_key, position)
);

CREATE INDEX encrypted_files_by_app ON encrypted_files (app_id);

-- Attaching files to a served bundle changes what its devices are answered (a manifest).
CREATE TRIGGER encrypted_files_revision AFTER INSERT ON encrypted_files
    FOR EACH ROW EXECUTE FUNCTION bump_app_config_revision();
