-- Capstan server schema (SQLite). Times are epoch milliseconds; booleans are 0/1.

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    default_channel TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id),
    name TEXT NOT NULL,
    settings TEXT NOT NULL,          -- JSON of ChannelSettings: policy switches read together
    target TEXT,                     -- NULL, 'builtin' or a bundle version
    rollout TEXT,                    -- NULL or JSON of Rollout
    revision INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE bundles (
    app_id TEXT NOT NULL REFERENCES apps(id),
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    checksum TEXT NOT NULL,
    size INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    min_native_version TEXT,
    notes TEXT NOT NULL,
    session_key TEXT NOT NULL,
    key_id TEXT,
    blob_key TEXT NOT NULL,
    warnings TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE channel_history (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    action TEXT NOT NULL,
    target_before TEXT,
    target_after TEXT,
    rollout_before TEXT,
    rollout_after TEXT,
    actor TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX channel_history_by_channel ON channel_history (channel_id, id);

CREATE TABLE overrides (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    source TEXT NOT NULL,
    set_at_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, device_id)
);

CREATE TABLE devices (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    native_version TEXT NOT NULL,
    bundle_version TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    os_version TEXT NOT NULL,
    is_prod INTEGER NOT NULL,
    is_emulator INTEGER NOT NULL,
    channel TEXT,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, device_id)
);
CREATE INDEX devices_by_custom_id ON devices (app_id, custom_id);
CREATE INDEX devices_by_last_seen ON devices (app_id, last_seen_ms);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    -- 64-bit hash of (app_id, device_id), see store::device_key: indexing this integer instead
    -- of the text pair makes each insert about twice as cheap (random device ids would
    -- otherwise split wide text index pages all over the tree).
    device_key INTEGER NOT NULL,
    action TEXT NOT NULL,
    version_name TEXT NOT NULL,
    old_version_name TEXT NOT NULL,
    platform TEXT NOT NULL,
    native_version TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    metadata TEXT,
    device_ts_ms INTEGER,
    received_ms INTEGER NOT NULL
);
CREATE INDEX events_by_device ON events (device_key);

-- Events per (app, hour, bundle, action), written in the same transaction as the events: the
-- health figures and charts read a few rows per hour instead of scanning every event, and
-- ingestion maintains a handful of counters per batch instead of a text index per event.
CREATE TABLE event_counts (
    app_id TEXT NOT NULL,
    hour_ms INTEGER NOT NULL,
    version_name TEXT NOT NULL,
    action TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (app_id, hour_ms, version_name, action)
) WITHOUT ROWID;

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    app_id TEXT,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at_ms INTEGER NOT NULL
);
CREATE INDEX audit_by_app ON audit (app_id, id);
