-- The per-device index on events is split into buckets of 65 536 consecutive event ids
-- (id_bucket = id >> 16; store::sqlite::EVENT_ID_BUCKET_BITS must say the same).
--
-- Why: device_key is a hash, so one index over all events takes each new event at a random
-- place, and a group commit of a few thousand events dirtied (and wrote to the WAL, and
-- fsynced) nearly every leaf page of that index: the WAL traffic per event grew with the size of
-- the table, and halved stats ingestion after a few hundred thousand events. With the bucket
-- first, new events only land in the newest bucket's few hundred index pages. A device's
-- timeline then takes one index seek per bucket (store::sqlite::device_events).
ALTER TABLE events ADD COLUMN id_bucket INTEGER NOT NULL DEFAULT 0;
UPDATE events SET id_bucket = id >> 16;
DROP INDEX events_by_device;
CREATE INDEX events_by_device ON events (id_bucket, device_key);
