//! SQL text shared by the SQLite and PostgreSQL backends: one copy of each statement that runs
//! unchanged on both (`$n` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`, row values,
//! `NULLS FIRST`). Each backend binds and decodes it with its own typed sqlx calls and the
//! shared row types of [`super::rows`].
//!
//! What differs, and why, lives in the backends:
//! - **Event ids.** SQLite allocates them in the writer (`MAX(id) + 1`, safe behind its single
//!   writer connection) to file each event's index entry under an id bucket (migration 0002: it
//!   keeps SQLite's WAL traffic per commit flat). PostgreSQL takes ids from an identity
//!   sequence, so replicas committing at once never collide, and indexes `(device_key, id)`
//!   directly: its buffer cache absorbs the random index inserts that SQLite's WAL could not.
//!   The timeline query differs accordingly.
//! - **Locking.** SQLite's writes queue on one connection under `BEGIN IMMEDIATE`, so a
//!   transaction's reads cannot change before it commits. PostgreSQL runs transactions from
//!   several replicas side by side: the checks that a later write relies on take row locks
//!   (`FOR SHARE` on the bundle a channel will point at, `FOR UPDATE` on the bundle being
//!   deleted), and an override change takes a transaction-scoped advisory lock on its device.
//! - **Snapshot reads.** The configuration snapshot is read in one read transaction on both;
//!   PostgreSQL asks for `REPEATABLE READ` explicitly (its default, `READ COMMITTED`, takes a
//!   new snapshot per statement).

// Audit (written by every audited change, in its transaction).
pub const INSERT_AUDIT: &str = "INSERT INTO audit (actor, app_id, action, subject, before, after, at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const LIST_AUDIT: &str = "SELECT * FROM audit WHERE ($1 IS NULL OR app_id = $1) ORDER BY id DESC LIMIT $2";

// Tokens.
pub const INSERT_TOKEN: &str =
    "INSERT INTO tokens (name, role, hash, created_at_ms) VALUES ($1, $2, $3, $4) RETURNING *";
pub const LIST_TOKENS: &str = "SELECT * FROM tokens ORDER BY id";
pub const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL RETURNING *";
pub const TOKEN_BY_HASH: &str = "SELECT * FROM tokens WHERE hash = $1 AND revoked_at_ms IS NULL";

// Apps. `config_revision` is bumped by every change to what devices are answered from (the
// triggers of migration sqlite/0009 and postgres/0001 do it for channels, bundles and
// overrides): replicas compare it to decide when to reload (see `crate::cache`).
pub const INSERT_APP: &str = "INSERT INTO apps (id, name, default_channel, created_at_ms) VALUES ($1, $2, $3, $4)";
pub const LIST_APPS: &str = "SELECT * FROM apps ORDER BY id";
pub const GET_APP: &str = "SELECT * FROM apps WHERE id = $1";
pub const UPDATE_APP: &str =
    "UPDATE apps SET name = $1, default_channel = $2, config_revision = config_revision + 1 WHERE id = $3";
pub const APP_REVISION: &str = "SELECT config_revision FROM apps WHERE id = $1";
pub const APP_REVISIONS: &str = "SELECT id, config_revision FROM apps";

// Channels and their history.
pub const INSERT_CHANNEL: &str = "INSERT INTO channels (app_id, name, settings, lanes, revision, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, '[]', 1, $4, $4) RETURNING *";
pub const LIST_CHANNELS: &str = "SELECT * FROM channels WHERE app_id = $1 ORDER BY id";
pub const GET_CHANNEL: &str = "SELECT * FROM channels WHERE app_id = $1 AND name = $2";
/// The revision in the WHERE clause is the optimistic lock: no row means someone else saved
/// since the caller read the channel (or it is gone).
pub const SAVE_CHANNEL: &str = "UPDATE channels SET settings = $1, lanes = $2, revision = revision + 1, updated_at_ms = $3 \
     WHERE id = $4 AND revision = $5 RETURNING *";
pub const INSERT_HISTORY: &str = "INSERT INTO channel_history (channel_id, min_native, action, target_before, \
     target_after, rollout_before, rollout_after, actor, at_ms, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub const CHANNEL_HISTORY: &str = "SELECT h.*, c.name AS channel FROM channel_history h \
     JOIN channels c ON c.id = h.channel_id WHERE h.channel_id = $1 ORDER BY h.id DESC LIMIT $2";

// Bundles.
pub const INSERT_BUNDLE: &str = "INSERT INTO bundles (app_id, version, sha256, checksum, size, file_count, \
     min_native_version, notes, session_key, key_id, blob_key, warnings, created_by, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
pub const LIST_BUNDLES: &str = "SELECT * FROM bundles WHERE app_id = $1 ORDER BY created_at_ms DESC, version DESC";
pub const GET_BUNDLE: &str = "SELECT * FROM bundles WHERE app_id = $1 AND version = $2";
/// A bundle's version if it exists (a check inside a write transaction; PostgreSQL's adds a row
/// lock: `store::postgres::channels`).
pub const BUNDLE_EXISTS: &str = "SELECT version FROM bundles WHERE app_id = $1 AND version = $2";
pub const DELETE_BUNDLE_FILES: &str = "DELETE FROM bundle_files WHERE app_id = $1 AND version = $2";
pub const DELETE_BUNDLE: &str = "DELETE FROM bundles WHERE app_id = $1 AND version = $2";
/// Every blob a row names: bundles' zips, artifacts and encrypted bundles' files (the orphan
/// sweep keeps these).
pub const BLOB_KEYS: &str = "SELECT blob_key FROM bundles UNION ALL SELECT blob_key FROM artifacts \
     UNION ALL SELECT blob_key FROM encrypted_files";
/// A bundle's recorded native digest (a check inside the write transaction that records one;
/// PostgreSQL's twin takes a row lock).
pub const NATIVE_DIGEST: &str = "SELECT native_digest FROM bundles WHERE app_id = $1 AND version = $2";
pub const SET_NATIVE_FINGERPRINT: &str =
    "UPDATE bundles SET native_fingerprint = $1, native_digest = $2 WHERE app_id = $3 AND version = $4";
pub const NATIVE_FINGERPRINT: &str = "SELECT native_fingerprint FROM bundles WHERE app_id = $1 AND version = $2";

// Overrides.
pub const GET_OVERRIDE: &str = "SELECT * FROM overrides WHERE app_id = $1 AND device_id = $2";
pub const UPSERT_OVERRIDE: &str = "INSERT INTO overrides (app_id, device_id, channel_id, source, set_at_ms) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, device_id) DO UPDATE SET channel_id = excluded.channel_id, \
     source = excluded.source, set_at_ms = excluded.set_at_ms";
pub const CLEAR_OVERRIDE: &str =
    "DELETE FROM overrides WHERE app_id = $1 AND device_id = $2 AND ($3 IS NULL OR source = $3)";
pub const LIST_OVERRIDES: &str = "SELECT * FROM overrides WHERE app_id = $1";

// Devices.
/// Followed by the rows (`QueryBuilder::push_values`) and [`UPSERT_DEVICES_TAIL`].
pub const UPSERT_DEVICES_HEAD: &str = "INSERT INTO devices (app_id, device_id, custom_id, platform, native_version, \
     bundle_version, plugin_version, os_version, is_prod, is_emulator, channel, key_id, requested_channel, on_builtin, \
     first_seen_ms, last_seen_ms) ";
/// The newer report wins: replicas flush their buffers independently, so a replica that heard
/// a device earlier may write after one that heard it later, and must then change nothing
/// (its state is older). Devices never seen before are inserted by whichever flush comes first.
pub const UPSERT_DEVICES_TAIL: &str = " ON CONFLICT (app_id, device_id) DO UPDATE SET custom_id = excluded.custom_id, \
     platform = excluded.platform, native_version = excluded.native_version, bundle_version = excluded.bundle_version, \
     plugin_version = excluded.plugin_version, os_version = excluded.os_version, is_prod = excluded.is_prod, \
     is_emulator = excluded.is_emulator, channel = COALESCE(excluded.channel, devices.channel), \
     key_id = excluded.key_id, requested_channel = excluded.requested_channel, on_builtin = excluded.on_builtin, \
     last_seen_ms = excluded.last_seen_ms \
     WHERE excluded.last_seen_ms >= devices.last_seen_ms";
/// Device search by text reads index ranges only, never every device (migration 0015), in up to
/// three statements whose answers are merged newest first (`rows::newest_devices`):
///
/// - the device ids that start with the query's lowercase form, `[$2, $3)` (see
///   `device_id_range`; ids are stored lowercase, so the range holds exactly what a
///   case-insensitive prefix match finds, `%` and `_` as plain characters). First among the
///   [`SEARCH_WALK`] devices seen last ([`DeviceSearchSql::recent_by_id`]): a short prefix, which
///   matches a large share of the fleet (one hex digit: a sixteenth), fills the page there, and
///   those are then exactly the newest matches. Otherwise from the range of the primary key,
///   sorted ([`DeviceSearchSql::by_id`]): a prefix that found fewer than a page among the
///   devices seen last matches few devices. No planner statistics decide which (PostgreSQL's
///   chose a whole-range sort for a one-character prefix, 120-140 ms at a million devices);
/// - the devices whose custom id is the whole query (the partial index of migration 0008).
///
/// `$4`-`$6` (`$3`-`$5` by custom id) are the filters (see [`device_filters`]), the last one the
/// page size.
const SEARCH_DEVICES_RECENT_BY_ID: &str = "SELECT * FROM (SELECT * FROM devices WHERE app_id = $1 AND {filters} \
     ORDER BY last_seen_ms DESC, device_id DESC LIMIT {walk}) AS recent \
     WHERE device_id >= $2 AND device_id < $3 ORDER BY last_seen_ms DESC, device_id DESC LIMIT $7";
/// See [`SEARCH_DEVICES_RECENT_BY_ID`]. The unary `+` (a no-op) keeps the order from being read
/// off `devices_by_last_seen`: SQLite otherwise walks that index through every device to skip
/// a sort, instead of reading the few rows of the id range (seen: 600 ms at a million devices).
const SEARCH_DEVICES_BY_ID: &str = "SELECT * FROM devices WHERE app_id = $1 AND device_id >= $2 AND device_id < $3 \
     AND {filters} ORDER BY +last_seen_ms DESC, device_id DESC LIMIT $7";
/// See [`SEARCH_DEVICES_BY_ID`]: the same `+`, so the custom-id index is read.
const SEARCH_DEVICES_BY_CUSTOM_ID: &str = "SELECT * FROM devices WHERE app_id = $1 AND custom_id = $2 \
     AND custom_id <> '' AND {filters} ORDER BY +last_seen_ms DESC, device_id DESC LIMIT $6";
/// Devices without a text query, newest first: `$2`-`$4` the filters, `$5` the page size. The
/// indexes of migration 0015 give the devices in this order, whole or by channel or bundle; the
/// device id orders devices seen in the same millisecond, so a page is the same on every call.
const SEARCH_DEVICES: &str =
    "SELECT * FROM devices WHERE app_id = $1 AND {filters} ORDER BY last_seen_ms DESC, device_id DESC LIMIT $5";
/// How many of the devices seen last a search by id prefix reads before it reads the prefix's
/// range instead: a prefix that matches over 2.5 % of them fills a page of 100 here.
pub const SEARCH_WALK: i64 = 4096;

/// The statements of one combination of device search filters.
pub struct DeviceSearchSql {
    /// No text: newest first.
    pub newest: String,
    /// By id prefix, among the [`SEARCH_WALK`] devices seen last.
    pub recent_by_id: String,
    /// By id prefix, the whole range.
    pub by_id: String,
    /// By whole custom id.
    pub by_custom_id: String,
}

/// The filters of a device search as SQL, parameters `$first` (channel), `$first + 1` (native
/// version) and `$first + 2` (bundle): a filter given is a plain equality, which the planners
/// can serve from an index (`$n IS NULL OR column = $n` hides it from SQLite's); one not given
/// tests its parameter, bound NULL, instead.
fn device_filters(first: usize, given: [bool; 3]) -> String {
    ["channel", "native_version", "bundle_version"]
        .iter()
        .zip(given)
        .enumerate()
        .map(|(i, (column, given))| {
            let n = first + i;
            if given { format!("{column} = ${n}") } else { format!("${n} IS NULL") }
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

static DEVICE_SEARCHES: std::sync::LazyLock<Vec<DeviceSearchSql>> = std::sync::LazyLock::new(|| {
    (0..8)
        .map(|bits: usize| {
            let given = [bits & 1 != 0, bits & 2 != 0, bits & 4 != 0];
            DeviceSearchSql {
                newest: SEARCH_DEVICES.replace("{filters}", &device_filters(2, given)),
                recent_by_id: SEARCH_DEVICES_RECENT_BY_ID
                    .replace("{filters}", &device_filters(4, given))
                    .replace("{walk}", &SEARCH_WALK.to_string()),
                by_id: SEARCH_DEVICES_BY_ID.replace("{filters}", &device_filters(4, given)),
                by_custom_id: SEARCH_DEVICES_BY_CUSTOM_ID.replace("{filters}", &device_filters(3, given)),
            }
        })
        .collect()
});

/// The device search statements for the filters given (channel, native version, bundle).
pub fn device_search_sql(channel: bool, native_version: bool, bundle: bool) -> &'static DeviceSearchSql {
    &DEVICE_SEARCHES[usize::from(channel) | usize::from(native_version) << 1 | usize::from(bundle) << 2]
}
pub const GET_DEVICE: &str = "SELECT * FROM devices WHERE app_id = $1 AND device_id = $2";
/// Devices last seen at or after `$2`, per (channel, bundle): the maintained counters of the
/// whole hours from `$3` (the first hour boundary at or after `$2`, see `first_whole_hour`) on,
/// plus the devices of the partial hour before it, counted one by one (an index range of at
/// most an hour of devices). Exactly what counting every device would answer (migration 0015).
pub const DEVICE_COUNTS: &str = "SELECT channel, bundle_version, CAST(SUM(n) AS BIGINT) FROM (\
     SELECT NULLIF(channel, '') AS channel, bundle_version, devices AS n FROM device_activity \
       WHERE app_id = $1 AND hour_ms >= $3 \
     UNION ALL \
     SELECT channel, bundle_version, 1 FROM devices WHERE app_id = $1 AND last_seen_ms >= $2 AND last_seen_ms < $3\
     ) AS seen GROUP BY channel, bundle_version HAVING SUM(n) > 0 ORDER BY channel NULLS FIRST, bundle_version";
/// What `/updates` decides from (`store::decision_inputs`), grouped: the columns in the order
/// of `DecisionInputs`, then the count.
pub const DECISION_GROUPS: &str = "SELECT platform, native_version, bundle_version, requested_channel, key_id, \
     is_prod, is_emulator, on_builtin, COUNT(*) FROM devices WHERE app_id = $1 AND last_seen_ms >= $2 \
     GROUP BY platform, native_version, bundle_version, requested_channel, key_id, is_prod, is_emulator, on_builtin";
/// The device id, then the columns of [`DECISION_GROUPS`] (without the count). Followed by the
/// app id (`QueryBuilder::push_bind`), [`DECISION_INPUTS_SINCE`], the time, and a condition on
/// `device_id` or `native_version`.
pub const DECISION_INPUTS: &str = "SELECT device_id, platform, native_version, bundle_version, requested_channel, \
     key_id, is_prod, is_emulator, on_builtin FROM devices WHERE app_id = ";
/// See [`DECISION_INPUTS`].
pub const DECISION_INPUTS_SINCE: &str = " AND last_seen_ms >= ";

// Events and their hourly counters.
/// Adds summed rows to the hourly counters: [`ADD_EVENT_COUNTS_HEAD`], a bind of
/// `UNKNOWN_VERSION`, [`ADD_EVENT_COUNTS_MIDDLE`], the rows (`push_values`: app, hour, version,
/// action, n), [`ADD_EVENT_COUNTS_TAIL`]. Counters are kept per bundle only for versions that are
/// bundles of the app (and `builtin`); any other version is counted under `UNKNOWN_VERSION`, so
/// made-up versions cannot multiply the counter rows. VALUES columns are column1..column5 in
/// SQLite and PostgreSQL alike; the GROUP BY merges versions that became the same bucket, so no
/// key repeats in one statement (PostgreSQL refuses that in an upsert); `WHERE true` keeps SQLite
/// from reading the upsert's ON as a join's.
pub const ADD_EVENT_COUNTS_HEAD: &str = "INSERT INTO event_counts (app_id, hour_ms, version_name, action, count) \
     SELECT app_id, hour_ms, version_name, action, SUM(n) FROM (SELECT column1 AS app_id, column2 AS hour_ms, \
     CASE WHEN column3 IN ('', 'builtin') OR EXISTS \
       (SELECT 1 FROM bundles WHERE bundles.app_id = column1 AND bundles.version = column3) \
     THEN column3 ELSE ";
/// See [`ADD_EVENT_COUNTS_HEAD`].
pub const ADD_EVENT_COUNTS_MIDDLE: &str = " END AS version_name, column4 AS action, column5 AS n FROM (";
/// See [`ADD_EVENT_COUNTS_HEAD`].
pub const ADD_EVENT_COUNTS_TAIL: &str = ") AS batch) AS counted WHERE true GROUP BY app_id, hour_ms, version_name, action \
     ON CONFLICT (app_id, hour_ms, version_name, action) DO UPDATE SET count = event_counts.count + excluded.count";
/// Deletes up to `$2` of the oldest events received before `$1` (ids grow with receipt time, so
/// the oldest are the lowest ids: no index on the time needed).
pub const DELETE_EVENTS_BEFORE: &str =
    "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT $2) AND received_ms < $1";
pub const COUNT_EVENTS: &str = "SELECT COUNT(*) FROM events WHERE app_id = $1";
pub const ACTION_COUNTS: &str = "SELECT version_name, action, CAST(SUM(count) AS BIGINT) FROM event_counts \
     WHERE app_id = $1 GROUP BY version_name, action ORDER BY version_name, action";
/// `$1` is the bucket width in ms (whole hours).
pub const EVENT_BUCKETS: &str = "SELECT (hour_ms / $1) * $1 AS start_ms, action, CAST(SUM(count) AS BIGINT) \
     FROM event_counts WHERE app_id = $2 AND hour_ms >= $3 AND ($4 IS NULL OR version_name = $4) \
     GROUP BY start_ms, action ORDER BY start_ms, action";

// Signing: registered public keys and the "require signed bundles" rule.
pub const REQUIRE_SIGNED: &str = "SELECT require_signed FROM apps WHERE id = $1";
pub const SET_REQUIRE_SIGNED: &str = "UPDATE apps SET require_signed = $1 WHERE id = $2";
/// Bundle `$2` of app `$1` if it is signed with a key registered for the app now.
pub const SIGNED_BUNDLE: &str = "SELECT b.version FROM bundles b \
     JOIN signing_keys k ON k.app_id = b.app_id AND k.key_id = b.key_id \
     WHERE b.app_id = $1 AND b.version = $2 AND b.session_key <> ''";
pub const BUNDLE_SIGNER: &str = "SELECT key_id FROM bundles WHERE app_id = $1 AND version = $2";
pub const SIGNING_KEYS: &str = "SELECT * FROM signing_keys WHERE app_id = $1 ORDER BY created_at_ms, key_id";
pub const GET_SIGNING_KEY: &str = "SELECT * FROM signing_keys WHERE app_id = $1 AND key_id = $2";
pub const INSERT_SIGNING_KEY: &str =
    "INSERT INTO signing_keys (app_id, key_id, public_key, created_by, created_at_ms) VALUES ($1, $2, $3, $4, $5)";
pub const DELETE_SIGNING_KEY: &str = "DELETE FROM signing_keys WHERE app_id = $1 AND key_id = $2";
/// Devices last seen at or after `$2`, per (native version, signing key id), read as
/// [`DEVICE_COUNTS`] is (migration 0015's device_key_activity, `$3` its first whole hour).
pub const KEY_ID_COUNTS: &str = "SELECT native_version, key_id, CAST(SUM(n) AS BIGINT) FROM (\
     SELECT native_version, NULLIF(key_id, '') AS key_id, devices AS n FROM device_key_activity \
       WHERE app_id = $1 AND hour_ms >= $3 \
     UNION ALL \
     SELECT native_version, key_id, 1 FROM devices WHERE app_id = $1 AND last_seen_ms >= $2 AND last_seen_ms < $3\
     ) AS seen GROUP BY native_version, key_id HAVING SUM(n) > 0 ORDER BY native_version, key_id NULLS FIRST";

// Leases.
/// The WHERE clause is the rule: renew our own lease, or take one that has expired.
pub const ACQUIRE_LEASE: &str = "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
     WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4 RETURNING holder";
pub const RELEASE_LEASE: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";

/// Event counters are kept per hour.
pub const HOUR_MS: i64 = 3_600_000;

/// A bucket width as whole hours (counters are hourly), at least one.
pub fn whole_hours(bucket_ms: i64) -> i64 {
    (bucket_ms.max(1) + HOUR_MS - 1) / HOUR_MS * HOUR_MS
}

/// An hourly counter's key: (app, hour, bundle version, action).
pub type CounterKey<'a> = (&'a str, i64, &'a str, &'a str);

/// A batch of events summed per (app, hour, bundle, action), in key order: a batch of thousands
/// of events upserts a handful of counter rows, and every writer takes their row locks in the
/// same order (two PostgreSQL replicas committing overlapping batches cannot deadlock).
pub fn summed_event_counts(events: &[capstan_core::api::DeviceEvent]) -> Vec<(CounterKey<'_>, i64)> {
    let mut counts: std::collections::BTreeMap<CounterKey<'_>, i64> = std::collections::BTreeMap::new();
    for e in events {
        let hour = e.received_ms.div_euclid(HOUR_MS) * HOUR_MS;
        *counts.entry((&e.app_id, hour, &e.version_name, &e.action)).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// Devices ordered by `key`, borrowed: each backend writes its device batches in the order
/// that suits it (`sqlite::devices`, `postgres::devices`).
pub fn devices_sorted_by<'a, K: Ord>(
    devices: &'a [capstan_core::api::DeviceRecord],
    key: impl Fn(&'a capstan_core::api::DeviceRecord) -> K,
) -> Vec<&'a capstan_core::api::DeviceRecord> {
    let mut sorted: Vec<&capstan_core::api::DeviceRecord> = devices.iter().collect();
    sorted.sort_unstable_by_key(|device| key(device));
    sorted
}

/// The first hour boundary at or after `ms` (device activity is counted per whole hour).
pub fn first_whole_hour(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS + if ms.rem_euclid(HOUR_MS) == 0 { 0 } else { HOUR_MS }
}

/// The range of device ids that start with `prefix`, in byte (code point) order: `[prefix,
/// end)`, `end` being the prefix with its last character that can grow grown by one. A prefix
/// of only U+10FFFF has no such end: then U+10FFFF once more than a device id's most characters
/// (`MAX_DEVICE_ID_LEN`), which every id starting with it still sorts before.
pub fn device_id_range(prefix: &str) -> (String, String) {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value: skip the surrogates, which no string holds.
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return (prefix.to_owned(), chars.into_iter().collect());
        }
    }
    (prefix.to_owned(), char::MAX.to_string().repeat(capstan_core::protocol::MAX_DEVICE_ID_LEN + 1))
}

/// `text` as a LIKE pattern matching itself literally (with `ESCAPE '\'`), followed by `%`.
pub fn like_prefix(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A database error, with unique-key violations turned into `Conflict(message)`.
pub fn unique_or_backend(e: sqlx::Error, message: impl FnOnce() -> String) -> super::StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => super::StoreError::Conflict(message()),
        _ => super::StoreError::backend(e),
    }
}

// Artifacts (delta updates) and the file list of each bundle.
pub const FIND_ARTIFACT: &str =
    "SELECT sha256, encoding, size, stored_size, blob_key FROM artifacts WHERE app_id = $1 AND sha256 = $2";
pub const APP_ARTIFACTS: &str = "SELECT sha256, encoding, size, stored_size, blob_key FROM artifacts WHERE app_id = $1";
pub const INSERT_ARTIFACT: &str = "INSERT INTO artifacts (app_id, sha256, encoding, size, stored_size, blob_key, \
     created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// Followed by the rows (`push_values`: app, version, position, path, sha256).
pub const INSERT_BUNDLE_FILES_HEAD: &str = "INSERT INTO bundle_files (app_id, version, position, path, sha256) ";
/// A bundle's manifest files in zip order: a plain bundle's from the shared artifacts, an
/// encrypted one's from its own (`sha256` is then the signed hash the manifest carries). A
/// bundle has one kind or the other, never both.
pub const BUNDLE_FILES: &str = "SELECT f.version, f.path, a.sha256, a.encoding, a.size, a.stored_size, a.blob_key, \
     f.position FROM bundle_files f JOIN artifacts a ON a.app_id = f.app_id AND a.sha256 = f.sha256 \
     WHERE f.app_id = $1 AND f.version = $2 \
     UNION ALL SELECT b.version, e.path, e.file_hash AS sha256, e.encoding, e.size, e.stored_size, e.blob_key, \
     e.position FROM encrypted_files e JOIN bundles b ON b.app_id = e.app_id AND b.blob_key = e.bundle_blob_key \
     WHERE e.app_id = $1 AND b.version = $2 ORDER BY position";
/// [`BUNDLE_FILES`] of every bundle of an app.
pub const APP_BUNDLE_FILES: &str = "SELECT f.version, f.path, a.sha256, a.encoding, a.size, a.stored_size, \
     a.blob_key, f.position FROM bundle_files f JOIN artifacts a ON a.app_id = f.app_id AND a.sha256 = f.sha256 \
     WHERE f.app_id = $1 \
     UNION ALL SELECT b.version, e.path, e.file_hash AS sha256, e.encoding, e.size, e.stored_size, e.blob_key, \
     e.position FROM encrypted_files e JOIN bundles b ON b.app_id = e.app_id AND b.blob_key = e.bundle_blob_key \
     WHERE e.app_id = $1 ORDER BY version, position";

// Encrypted bundles' own files (delta updates of encrypted bundles).
pub const COUNT_ENCRYPTED_FILES: &str = "SELECT COUNT(*) FROM encrypted_files WHERE bundle_blob_key = $1";
pub const INSERT_ENCRYPTED_FILE: &str = "INSERT INTO encrypted_files (app_id, bundle_blob_key, position, path, \
     file_hash, sha256, encoding, size, stored_size, blob_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_sorted_by_the_whole_key_and_borrowed() {
        let device = |app: &str, id: &str, seen: i64| capstan_core::api::DeviceRecord {
            app_id: app.into(),
            device_id: id.into(),
            last_seen_ms: seen,
            ..Default::default()
        };
        let devices = [device("b", "1", 5), device("a", "2", 9), device("a", "3", 1), device("a", "1", 9)];
        let ids = |sorted: Vec<&capstan_core::api::DeviceRecord>| {
            sorted.iter().map(|d| format!("{}/{}", d.app_id, d.device_id)).collect::<Vec<_>>()
        };
        assert_eq!(ids(devices_sorted_by(&devices, |d| (&d.app_id, &d.device_id))), ["a/1", "a/2", "a/3", "b/1"]);
        assert_eq!(
            ids(devices_sorted_by(&devices, |d| (&d.app_id, d.last_seen_ms, &d.device_id))),
            ["a/3", "a/1", "a/2", "b/1"]
        );
    }

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_prefix("ab"), "ab%");
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }

    #[test]
    fn device_id_ranges_hold_exactly_the_ids_with_the_prefix() {
        assert_eq!(device_id_range("ab"), ("ab".into(), "ac".into()));
        assert_eq!(device_id_range("a\u{D7FF}"), ("a\u{D7FF}".into(), "a\u{E000}".into()));
        assert_eq!(device_id_range("a\u{10FFFF}"), ("a\u{10FFFF}".into(), "b".into()));
        let (_, end) = device_id_range("\u{10FFFF}");
        assert!("\u{10FFFF}".repeat(capstan_core::protocol::MAX_DEVICE_ID_LEN).as_str() < end.as_str());
        let (start, end) = device_id_range("fleet-0a");
        for inside in ["fleet-0a", "fleet-0a\u{10FFFF}\u{10FFFF}", "fleet-0a00"] {
            assert!(inside >= start.as_str() && inside < end.as_str(), "{inside}");
        }
        for outside in ["fleet-0", "fleet-0b", "fleet-0A"] {
            assert!(!(outside >= start.as_str() && outside < end.as_str()), "{outside}");
        }
    }

    #[test]
    fn search_filters_given_are_equalities_and_the_others_null_tests() {
        assert_eq!(device_filters(2, [true, false, true]), "channel = $2 AND $3 IS NULL AND bundle_version = $4");
        let sql = device_search_sql(false, true, false);
        assert!(sql.newest.contains("$2 IS NULL AND native_version = $3 AND $4 IS NULL"), "{}", sql.newest);
        assert!(sql.by_id.contains("$4 IS NULL AND native_version = $5 AND $6 IS NULL"), "{}", sql.by_id);
        assert!(sql.by_custom_id.contains("$3 IS NULL AND native_version = $4 AND $5 IS NULL"), "{}", sql.by_custom_id);
        assert!(sql.recent_by_id.contains("LIMIT 4096") && !sql.recent_by_id.contains('{'), "{}", sql.recent_by_id);
    }

    #[test]
    fn whole_hours_start_at_or_after_the_time() {
        assert_eq!(first_whole_hour(0), 0);
        assert_eq!(first_whole_hour(1), HOUR_MS);
        assert_eq!(first_whole_hour(HOUR_MS), HOUR_MS);
        assert_eq!(first_whole_hour(5 * HOUR_MS - 1), 5 * HOUR_MS);
    }

    #[test]
    fn bucket_widths_are_whole_hours() {
        assert_eq!(whole_hours(1), HOUR_MS);
        assert_eq!(whole_hours(HOUR_MS), HOUR_MS);
        assert_eq!(whole_hours(HOUR_MS + 1), 2 * HOUR_MS);
        assert_eq!(whole_hours(-5), HOUR_MS);
    }
}
