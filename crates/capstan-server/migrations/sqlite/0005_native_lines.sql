-- A channel serves each native line its own bundle (capstan_core::api::Lane): publishing a fix
-- for 1.x shells after a release that needs a 2.x shell leaves 2.x shells where they are.
-- What a channel served (target, rollout) becomes its lines, keyed by the MIN_NATIVE_VERSION
-- of the bundles: the target's line, and the rollout's line (the same one, or another when
-- the rollout's bundle needs another shell). The server orders lines when it reads them.

ALTER TABLE channels ADD COLUMN lanes TEXT NOT NULL DEFAULT '[]';

UPDATE channels SET lanes = (
    SELECT CASE
        WHEN channels.target IS NULL AND channels.rollout IS NULL THEN '[]'
        WHEN channels.rollout IS NULL THEN json_array(json_object('min_native', tk, 'target', channels.target, 'rollout', NULL))
        WHEN channels.target IS NULL THEN json_array(json_object('min_native', rk, 'target', NULL, 'rollout', json(channels.rollout)))
        WHEN tk IS rk THEN json_array(json_object('min_native', tk, 'target', channels.target, 'rollout', json(channels.rollout)))
        ELSE json_array(
            json_object('min_native', tk, 'target', channels.target, 'rollout', NULL),
            json_object('min_native', rk, 'target', NULL, 'rollout', json(channels.rollout)))
    END
    FROM (SELECT
        (SELECT min_native_version FROM bundles b
          WHERE b.app_id = channels.app_id AND b.version = channels.target) AS tk,
        (SELECT min_native_version FROM bundles b
          WHERE b.app_id = channels.app_id AND b.version = json_extract(channels.rollout, '$.version')) AS rk)
);

ALTER TABLE channels DROP COLUMN target;
ALTER TABLE channels DROP COLUMN rollout;

-- Each history line is about one native line: a rollout's line for rollout changes, else the
-- line of the target it set.
ALTER TABLE channel_history ADD COLUMN min_native TEXT;

UPDATE channel_history SET min_native = (
    SELECT b.min_native_version FROM bundles b JOIN channels c ON c.app_id = b.app_id
    WHERE c.id = channel_history.channel_id
      AND b.version = CASE WHEN channel_history.action LIKE 'rollout%'
          THEN COALESCE(json_extract(channel_history.rollout_after, '$.version'),
                        json_extract(channel_history.rollout_before, '$.version'))
          ELSE channel_history.target_after END
);

-- What the publishing client saw of the Capacitor project's native side (a JSON
-- capstan_core::native::NativeFingerprint), to compare the next release with, and its digest
-- (equal digests: same native surface).
ALTER TABLE bundles ADD COLUMN native_fingerprint TEXT;
ALTER TABLE bundles ADD COLUMN native_digest TEXT;
