-- Native lines (the PostgreSQL twin of SQLite migration 0005; see there for the why): a
-- channel's target and rollout become its lines, keyed by their bundles' MIN_NATIVE_VERSION,
-- each history line names the native line it is about, and bundles keep the native fingerprint
-- they were published with. JSON stays TEXT, built with json_build_* (which keep key order, as
-- SQLite's json_object does).

ALTER TABLE channels ADD COLUMN lanes TEXT NOT NULL DEFAULT '[]';

UPDATE channels SET lanes = (
    SELECT CASE
        WHEN channels.target IS NULL AND channels.rollout IS NULL THEN '[]'
        WHEN channels.rollout IS NULL
            THEN json_build_array(json_build_object('min_native', tk, 'target', channels.target, 'rollout', NULL))::text
        WHEN channels.target IS NULL
            THEN json_build_array(json_build_object('min_native', rk, 'target', NULL, 'rollout', channels.rollout::json))::text
        WHEN tk IS NOT DISTINCT FROM rk
            THEN json_build_array(
                json_build_object('min_native', tk, 'target', channels.target, 'rollout', channels.rollout::json))::text
        ELSE json_build_array(
            json_build_object('min_native', tk, 'target', channels.target, 'rollout', NULL),
            json_build_object('min_native', rk, 'target', NULL, 'rollout', channels.rollout::json))::text
    END
    FROM (SELECT
        (SELECT min_native_version FROM bundles b
          WHERE b.app_id = channels.app_id AND b.version = channels.target) AS tk,
        (SELECT min_native_version FROM bundles b
          WHERE b.app_id = channels.app_id AND b.version = channels.rollout::json ->> 'version') AS rk) AS keys
)
WHERE channels.target IS NOT NULL OR channels.rollout IS NOT NULL;

ALTER TABLE channels DROP COLUMN target;
ALTER TABLE channels DROP COLUMN rollout;

ALTER TABLE channel_history ADD COLUMN min_native TEXT;

UPDATE channel_history SET min_native = (
    SELECT b.min_native_version FROM bundles b JOIN channels c ON c.app_id = b.app_id
    WHERE c.id = channel_history.channel_id
      AND b.version = CASE WHEN channel_history.action LIKE 'rollout%'
          THEN COALESCE(channel_history.rollout_after::json ->> 'version',
                        channel_history.rollout_before::json ->> 'version')
          ELSE channel_history.target_after END
);

ALTER TABLE bundles ADD COLUMN native_fingerprint TEXT;
ALTER TABLE bundles ADD COLUMN native_digest TEXT;
