-- Release safety (issue 13): health counters per channel, rollout plans, the channel guard's
-- memory, scheduled publishes, and why the server changed a channel by itself.

-- Why a rollout plan, the guard or a scheduled publish changed the channel (NULL: a person did).
ALTER TABLE channel_history ADD COLUMN reason TEXT;

-- The guard is on for new channels (ChannelSettings' default) and off for the channels that
-- existed before it, which keep behaving as they did until someone switches it on.
UPDATE channels SET settings = json_set(settings, '$.guard', json('false'));

-- Install attempts and failures per (app, channel, bundle, native version), added to in the
-- transaction that stores the stats events (see capstan_core::rollout::health_delta). The
-- channel is the one the device was last answered from (devices.channel; '' when unknown).
-- Only bundles of the app are counted, so made-up versions cannot grow the table.
CREATE TABLE health_counts (
    app_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    version_name TEXT NOT NULL,
    native_version TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (app_id, channel, version_name, native_version)
);

-- At most one plan per channel (the latest; a finished one is replaced by the next).
CREATE TABLE rollout_plans (
    channel_id INTEGER PRIMARY KEY REFERENCES channels(id),
    app_id TEXT NOT NULL,
    min_native TEXT,
    version TEXT NOT NULL,
    steps TEXT NOT NULL,              -- JSON array of basis points
    every_ms INTEGER NOT NULL,
    min_devices INTEGER NOT NULL,
    max_failure_bp INTEGER NOT NULL,
    on_failure TEXT NOT NULL,         -- pause | rollback
    step INTEGER NOT NULL,
    step_started_at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,             -- active | paused | done | rolled_back | cancelled
    reason TEXT,
    revision INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX rollout_plans_by_status ON rollout_plans (status, app_id);

-- Bundles the guard has acted on, per channel: it acts once per bundle and channel.
CREATE TABLE guard_trips (
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    version TEXT NOT NULL,
    min_native TEXT,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (channel_id, version)
);

CREATE TABLE scheduled_publishes (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    channel_id INTEGER NOT NULL REFERENCES channels(id),
    version TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,             -- pending | done | failed | cancelled
    outcome TEXT,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX scheduled_publishes_due ON scheduled_publishes (status, at_ms);
