-- The console at fleet scale (issue 10, point 6).
--
-- Active devices per (channel, bundle), the figure behind bundle health and channel adoption,
-- counted from every device row took hundreds of milliseconds with a million devices. Instead,
-- device_activity holds, per app and per hour of last_seen_ms, how many devices were last seen
-- in that hour, by the channel and bundle they reported then. Each device is counted in exactly
-- one row (its latest report), kept so by triggers in the transaction that writes the device
-- (the device flushes), so no code path can forget it. A question "devices seen since T" sums
-- the whole hours after T and counts the devices of T's own partial hour from the devices table
-- (store::sql::DEVICE_COUNTS): the same answer as counting every device, reading a few rows.
-- `channel` is '' for a device that named no channel (a key column cannot be NULL).
-- device_key_activity does the same per native version and signing key id, for the signing
-- coverage figures (store::sql::KEY_ID_COUNTS); `key_id` '' for none (devices never report an
-- empty one: the protocol reads an empty key id as none).
CREATE TABLE device_activity (
    app_id TEXT NOT NULL,
    hour_ms INTEGER NOT NULL,
    channel TEXT NOT NULL,
    bundle_version TEXT NOT NULL,
    devices INTEGER NOT NULL,
    PRIMARY KEY (app_id, hour_ms, channel, bundle_version)
) WITHOUT ROWID;

CREATE TABLE device_key_activity (
    app_id TEXT NOT NULL,
    hour_ms INTEGER NOT NULL,
    native_version TEXT NOT NULL,
    key_id TEXT NOT NULL,
    devices INTEGER NOT NULL,
    PRIMARY KEY (app_id, hour_ms, native_version, key_id)
) WITHOUT ROWID;

INSERT INTO device_activity (app_id, hour_ms, channel, bundle_version, devices)
SELECT app_id, (last_seen_ms / 3600000) * 3600000, COALESCE(channel, ''), bundle_version, COUNT(*)
FROM devices GROUP BY 1, 2, 3, 4;
INSERT INTO device_key_activity (app_id, hour_ms, native_version, key_id, devices)
SELECT app_id, (last_seen_ms / 3600000) * 3600000, native_version, COALESCE(key_id, ''), COUNT(*)
FROM devices GROUP BY 1, 2, 3, 4;

CREATE TRIGGER devices_activity_insert AFTER INSERT ON devices
BEGIN
    INSERT INTO device_activity (app_id, hour_ms, channel, bundle_version, devices)
    VALUES (NEW.app_id, (NEW.last_seen_ms / 3600000) * 3600000, COALESCE(NEW.channel, ''), NEW.bundle_version, 1)
    ON CONFLICT (app_id, hour_ms, channel, bundle_version) DO UPDATE SET devices = devices + 1;
    INSERT INTO device_key_activity (app_id, hour_ms, native_version, key_id, devices)
    VALUES (NEW.app_id, (NEW.last_seen_ms / 3600000) * 3600000, NEW.native_version, COALESCE(NEW.key_id, ''), 1)
    ON CONFLICT (app_id, hour_ms, native_version, key_id) DO UPDATE SET devices = devices + 1;
END;

-- Most updates move a device within the hour it was already counted in: nothing to do.
CREATE TRIGGER devices_activity_update AFTER UPDATE OF app_id, last_seen_ms, channel, bundle_version ON devices
WHEN OLD.app_id <> NEW.app_id OR OLD.last_seen_ms / 3600000 <> NEW.last_seen_ms / 3600000
    OR OLD.channel IS NOT NEW.channel OR OLD.bundle_version <> NEW.bundle_version
BEGIN
    UPDATE device_activity SET devices = devices - 1
    WHERE app_id = OLD.app_id AND hour_ms = (OLD.last_seen_ms / 3600000) * 3600000
      AND channel = COALESCE(OLD.channel, '') AND bundle_version = OLD.bundle_version;
    INSERT INTO device_activity (app_id, hour_ms, channel, bundle_version, devices)
    VALUES (NEW.app_id, (NEW.last_seen_ms / 3600000) * 3600000, COALESCE(NEW.channel, ''), NEW.bundle_version, 1)
    ON CONFLICT (app_id, hour_ms, channel, bundle_version) DO UPDATE SET devices = devices + 1;
END;

CREATE TRIGGER devices_key_activity_update AFTER UPDATE OF app_id, last_seen_ms, native_version, key_id ON devices
WHEN OLD.app_id <> NEW.app_id OR OLD.last_seen_ms / 3600000 <> NEW.last_seen_ms / 3600000
    OR OLD.native_version <> NEW.native_version OR OLD.key_id IS NOT NEW.key_id
BEGIN
    UPDATE device_key_activity SET devices = devices - 1
    WHERE app_id = OLD.app_id AND hour_ms = (OLD.last_seen_ms / 3600000) * 3600000
      AND native_version = OLD.native_version AND key_id = COALESCE(OLD.key_id, '');
    INSERT INTO device_key_activity (app_id, hour_ms, native_version, key_id, devices)
    VALUES (NEW.app_id, (NEW.last_seen_ms / 3600000) * 3600000, NEW.native_version, COALESCE(NEW.key_id, ''), 1)
    ON CONFLICT (app_id, hour_ms, native_version, key_id) DO UPDATE SET devices = devices + 1;
END;

CREATE TRIGGER devices_activity_delete AFTER DELETE ON devices
BEGIN
    UPDATE device_activity SET devices = devices - 1
    WHERE app_id = OLD.app_id AND hour_ms = (OLD.last_seen_ms / 3600000) * 3600000
      AND channel = COALESCE(OLD.channel, '') AND bundle_version = OLD.bundle_version;
    UPDATE device_key_activity SET devices = devices - 1
    WHERE app_id = OLD.app_id AND hour_ms = (OLD.last_seen_ms / 3600000) * 3600000
      AND native_version = OLD.native_version AND key_id = COALESCE(OLD.key_id, '');
END;

-- Device search by id prefix reads a range of the primary key (store::sql::SEARCH_DEVICES); by
-- custom id, the partial index of migration 0008. Filtering by channel or bundle walks the
-- devices newest first within that channel or bundle, instead of every device newest first.
-- Each ends with the device id, which orders devices seen in the same millisecond: a page of
-- the search is then the same on every call, read from the index without a sort.
DROP INDEX devices_by_last_seen;
CREATE INDEX devices_by_last_seen ON devices (app_id, last_seen_ms, device_id);
CREATE INDEX devices_by_channel ON devices (app_id, channel, last_seen_ms, device_id);
CREATE INDEX devices_by_bundle ON devices (app_id, bundle_version, last_seen_ms, device_id);
