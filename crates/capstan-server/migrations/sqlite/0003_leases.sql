-- Leases: which replica runs a piece of periodic work right now (see src/jobs.rs). A lease is
-- taken or renewed only by its holder, or by anyone once it has expired, so exactly one
-- replica at a time evaluates rollout plans, applies retention, and so on.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
