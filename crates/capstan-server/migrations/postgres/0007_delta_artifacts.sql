-- Delta updates (the PostgreSQL twin of SQLite migration 0007; see there for the why): every
-- file of a plain bundle is a content-addressed artifact, stored once per app, and each bundle
-- lists its files in zip order. No configuration revision triggers on these tables: a bundle's
-- file list and the artifacts it introduces are written and removed in the transaction that
-- inserts or deletes its bundle row (whose triggers bump the revision), and an artifact is only
-- collected once no bundle lists it.
CREATE TABLE artifacts (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps(id),
    sha256 TEXT COLLATE "C" NOT NULL,    -- of the original file, lowercase hex
    encoding TEXT NOT NULL,              -- 'raw' or 'brotli' (served as NAME.br)
    size BIGINT NOT NULL,                -- original bytes
    stored_size BIGINT NOT NULL,         -- bytes stored and downloaded
    blob_key TEXT COLLATE "C" NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, sha256)
);

-- The files of a bundle in zip order (the manifest's order).
CREATE TABLE bundle_files (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES apps(id),
    version TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, version, position)
);

-- "Is this artifact still used?" when a bundle is deleted.
CREATE INDEX bundle_files_by_artifact ON bundle_files (app_id, sha256);
