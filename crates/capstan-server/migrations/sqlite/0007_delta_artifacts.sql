-- Delta updates (issue 12): every file of a plain bundle is a content-addressed artifact,
-- stored once per app however many bundles contain it, and each bundle lists its files.
--
-- An artifact row is written in the same transaction as the first bundle that uses it; its
-- blob is stored before that (a crash in between leaves a blob no row names, which the
-- orphan sweep collects). The blob key carries a random suffix, so an artifact collected
-- while an upload stores the same content again never deletes the new blob.
CREATE TABLE artifacts (
    app_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,            -- of the original file, lowercase hex
    encoding TEXT NOT NULL,          -- 'raw' or 'brotli' (served as NAME.br)
    size INTEGER NOT NULL,           -- original bytes
    stored_size INTEGER NOT NULL,    -- bytes stored and downloaded
    blob_key TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, sha256)
);

-- The files of a bundle in zip order (the manifest's order).
CREATE TABLE bundle_files (
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    position INTEGER NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (app_id, version, position)
);

-- "Is this artifact still used?" when a bundle is deleted.
CREATE INDEX bundle_files_by_artifact ON bundle_files (app_id, sha256);
