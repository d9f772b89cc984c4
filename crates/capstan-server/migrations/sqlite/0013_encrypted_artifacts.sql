-- Delta updates of encrypted bundles (issue 12, point 4). Each file of an encrypted bundle is
-- served as encrypt(brotli-or-raw(file)) with the bundle's own session key, so its bytes differ
-- from bundle to bundle: these artifacts belong to one upload (the bundle row whose blob_key is
-- bundle_blob_key) and are never shared, unlike the content-addressed `artifacts` of plain
-- bundles. `file_hash` is what the manifest carries: the SHA-256 of the original file signed
-- with the app's private key (512 hex characters), which only the publishing client can make.
--
-- Rows are tied to the exact upload, not to the version: after a bundle is deleted its rows
-- match no bundle, are never served, and are removed with their blobs by the collection
-- (right after the delete, or by the periodic job after a crash); a later upload of the same
-- version has another blob_key, so it never meets them.
CREATE TABLE encrypted_files (
    app_id TEXT NOT NULL,
    bundle_blob_key TEXT NOT NULL,   -- the bundle row (one upload) these files belong to
    position INTEGER NOT NULL,       -- zip order, the manifest's order
    path TEXT NOT NULL,              -- below the folder holding index.html
    file_hash TEXT NOT NULL,         -- signed SHA-256 of the original file, lowercase hex
    sha256 TEXT NOT NULL,            -- SHA-256 of the original file (what file_hash opens to)
    encoding TEXT NOT NULL,          -- 'raw' or 'brotli' before encryption (served as NAME.br)
    size INTEGER NOT NULL,           -- original bytes
    stored_size INTEGER NOT NULL,    -- encrypted bytes stored and downloaded
    blob_key TEXT NOT NULL,
    PRIMARY KEY (bundle_blob_key, position)
);

CREATE INDEX encrypted_files_by_app ON encrypted_files (app_id);

-- Attaching files to a served bundle changes what its devices are answered (a manifest).
CREATE TRIGGER encrypted_files_insert_revision AFTER INSERT ON encrypted_files
BEGIN UPDATE apps SET config_revision = config_revision + 1 WHERE id = NEW.app_id; END;
