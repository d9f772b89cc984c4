-- The console at fleet scale (issue 10, point 6): see migrations/sqlite/0015_fleet_scale.sql.
--
-- Active devices per (channel, bundle) come from device_activity: per app and hour of
-- last_seen_ms, how many devices were last seen in that hour, by the channel and bundle they
-- reported then; each device counted in exactly one row, kept so by triggers in the
-- transaction that writes the device. Here the triggers are per statement, over the rows the
-- statement inserted or updated (transition tables): a device flush of thousands of devices
-- then adds a handful of summed rows, instead of updating the same counter row once per device
-- (each update of a row a transaction already updated leaves one more row version behind).
-- Writers of devices take an advisory lock first (store::postgres::devices), so two replicas'
-- flushes never take these counter rows in opposite orders.
-- `channel` is '' for a device that named no channel (a key column cannot be NULL).
-- device_key_activity does the same per native version and signing key id (signing coverage);
-- `key_id` '' for none.
CREATE TABLE device_activity (
    app_id TEXT COLLATE "C" NOT NULL,
    hour_ms BIGINT NOT NULL,
    channel TEXT COLLATE "C" NOT NULL,
    bundle_version TEXT COLLATE "C" NOT NULL,
    devices BIGINT NOT NULL,
    PRIMARY KEY (app_id, hour_ms, channel, bundle_version)
);

CREATE TABLE device_key_activity (
    app_id TEXT COLLATE "C" NOT NULL,
    hour_ms BIGINT NOT NULL,
    native_version TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    devices BIGINT NOT NULL,
    PRIMARY KEY (app_id, hour_ms, native_version, key_id)
);

INSERT INTO device_activity (app_id, hour_ms, channel, bundle_version, devices)
SELECT app_id, (last_seen_ms / 3600000) * 3600000, COALESCE(channel, ''), bundle_version, COUNT(*)
FROM devices GROUP BY 1, 2, 3, 4;
INSERT INTO device_key_activity (app_id, hour_ms, native_version, key_id, devices)
SELECT app_id, (last_seen_ms / 3600000) * 3600000, native_version, COALESCE(key_id, ''), COUNT(*)
FROM devices GROUP BY 1, 2, 3, 4;

-- Adds +1 per new row and -1 per old row to both tables, summed per counter, in key order.
CREATE FUNCTION device_activity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO device_activity AS a (app_id, hour_ms, channel, bundle_version, devices)
        SELECT app_id, (last_seen_ms / 3600000) * 3600000, COALESCE(channel, ''), bundle_version, COUNT(*)
        FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (app_id, hour_ms, channel, bundle_version) DO UPDATE SET devices = a.devices + excluded.devices;
        INSERT INTO device_key_activity AS a (app_id, hour_ms, native_version, key_id, devices)
        SELECT app_id, (last_seen_ms / 3600000) * 3600000, native_version, COALESCE(key_id, ''), COUNT(*)
        FROM new_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (app_id, hour_ms, native_version, key_id) DO UPDATE SET devices = a.devices + excluded.devices;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO device_activity AS a (app_id, hour_ms, channel, bundle_version, devices)
        SELECT app_id, hour_ms, channel, bundle_version, SUM(n) FROM (
            SELECT app_id, (last_seen_ms / 3600000) * 3600000 AS hour_ms, COALESCE(channel, '') AS channel,
                bundle_version, -1 AS n FROM old_rows
            UNION ALL
            SELECT app_id, (last_seen_ms / 3600000) * 3600000, COALESCE(channel, ''), bundle_version, 1 FROM new_rows
        ) AS moved GROUP BY 1, 2, 3, 4 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (app_id, hour_ms, channel, bundle_version) DO UPDATE SET devices = a.devices + excluded.devices;
        INSERT INTO device_key_activity AS a (app_id, hour_ms, native_version, key_id, devices)
        SELECT app_id, hour_ms, native_version, key_id, SUM(n) FROM (
            SELECT app_id, (last_seen_ms / 3600000) * 3600000 AS hour_ms, native_version,
                COALESCE(key_id, '') AS key_id, -1 AS n FROM old_rows
            UNION ALL
            SELECT app_id, (last_seen_ms / 3600000) * 3600000, native_version, COALESCE(key_id, ''), 1 FROM new_rows
        ) AS moved GROUP BY 1, 2, 3, 4 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (app_id, hour_ms, native_version, key_id) DO UPDATE SET devices = a.devices + excluded.devices;
    ELSE
        INSERT INTO device_activity AS a (app_id, hour_ms, channel, bundle_version, devices)
        SELECT app_id, (last_seen_ms / 3600000) * 3600000, COALESCE(channel, ''), bundle_version, -COUNT(*)
        FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (app_id, hour_ms, channel, bundle_version) DO UPDATE SET devices = a.devices + excluded.devices;
        INSERT INTO device_key_activity AS a (app_id, hour_ms, native_version, key_id, devices)
        SELECT app_id, (last_seen_ms / 3600000) * 3600000, native_version, COALESCE(key_id, ''), -COUNT(*)
        FROM old_rows GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (app_id, hour_ms, native_version, key_id) DO UPDATE SET devices = a.devices + excluded.devices;
    END IF;
    RETURN NULL;
END
$$;
-- A trigger with transition tables has one event each.
CREATE TRIGGER devices_activity_insert AFTER INSERT ON devices REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_activity_changed();
CREATE TRIGGER devices_activity_update AFTER UPDATE ON devices REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_activity_changed();
CREATE TRIGGER devices_activity_delete AFTER DELETE ON devices REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION device_activity_changed();

-- See the SQLite migration: device search filtered by channel or bundle.
DROP INDEX devices_by_last_seen;
CREATE INDEX devices_by_last_seen ON devices (app_id, last_seen_ms, device_id);
CREATE INDEX devices_by_channel ON devices (app_id, channel, last_seen_ms, device_id);
CREATE INDEX devices_by_bundle ON devices (app_id, bundle_version, last_seen_ms, device_id);
