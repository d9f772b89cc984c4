-- Webhooks (issue 13): URLs an admin registers per app, to which release events are POSTed,
-- signed with HMAC-SHA256. Deliveries are queued as rows (durable across restarts) and sent by
-- one replica's job (src/webhooks.rs), which logs every attempt and retries with backoff.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,            -- JSON array of event kinds
    secret TEXT NOT NULL,            -- the HMAC key (it must sign every delivery); '' once removed
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    removed_at_ms INTEGER            -- removed webhooks stay, so their deliveries stay in the log
);
CREATE INDEX webhooks_by_app ON webhooks (app_id, id);

-- One event for one webhook.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
    event_id TEXT NOT NULL,          -- the same for every webhook that receives the event
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,           -- the exact body POSTed (and signed)
    status TEXT NOT NULL,            -- pending, delivered, failed, cancelled
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER,         -- while pending
    created_at_ms INTEGER NOT NULL,
    finished_at_ms INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id),
    attempt INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    status_code INTEGER,             -- the receiver's answer, if any
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempt);
