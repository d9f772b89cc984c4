//! The storage contract: behaviour every [`Database`] and [`BlobStore`] must have, written once
//! and run against every backend pair ([`backends`]: SQLite + a directory always; PostgreSQL +
//! S3 when the test services run, see `services`). Each check panics with a message on failure.

use std::path::Path;
use std::sync::Arc;

use capstan_core::api::{
    App, Bundle, ChannelSettings, DeviceEvent, DeviceFilter, DeviceOverride, DeviceRecord, HistoryAction,
    OverrideSource, Role, Rollout, SigningKeyRecord, Target,
};
use capstan_core::bundle::artifacts::Encoding;
use capstan_server::store::blob::read_all;
use capstan_server::store::disk::DiskBlobStore;
use capstan_server::store::postgres::PostgresDatabase;
use capstan_server::store::s3::S3BlobStore;
use capstan_server::store::sqlite::SqliteDatabase;
use capstan_server::store::{
    BlobError, BlobStore, ByteRange, Database, FilesInserted, NewAudit, NewChannel, NewHistory, StoreError,
    StoredArtifact, StoredBundle,
};

/// One backend pair to run the contract against, with what keeps it alive.
pub struct Backends {
    pub name: &'static str,
    pub db: Arc<dyn Database>,
    pub blobs: Arc<dyn BlobStore>,
    pub scratch: tempfile::TempDir,
}

/// Every backend pair available here, each empty.
pub async fn backends(test: &str) -> Vec<Backends> {
    let scratch = tempfile::tempdir().unwrap();
    let db = SqliteDatabase::open(&scratch.path().join("contract.db"), true).await.unwrap();
    let blobs = DiskBlobStore::open(&scratch.path().join("blobs")).unwrap();
    let mut pairs = vec![Backends { name: "sqlite+disk", db: Arc::new(db), blobs: Arc::new(blobs), scratch }];
    if let Some(services) = crate::services::services(test).await {
        let db = PostgresDatabase::open(&services.database_url, 8).await.expect("open PostgreSQL");
        let blobs = S3BlobStore::open(&services.storage_url, &services.s3).expect("configure S3");
        let scratch = tempfile::tempdir().unwrap();
        pairs.push(Backends { name: "postgres+s3", db: Arc::new(db), blobs: Arc::new(blobs), scratch });
    }
    pairs
}

#[tokio::test]
async fn every_database_meets_the_contract() {
    for backend in backends("database_contract").await {
        eprintln!("database contract: {}", backend.name);
        database_contract(&*backend.db).await;
    }
}

#[tokio::test]
async fn every_blob_store_meets_the_contract() {
    for backend in backends("blob_contract").await {
        eprintln!("blob contract: {}", backend.name);
        blob_contract(&*backend.blobs, backend.scratch.path()).await;
    }
}

fn audit(action: &str, app: Option<&str>) -> NewAudit {
    NewAudit {
        actor: "contract".into(),
        app_id: app.map(str::to_owned),
        action: action.into(),
        subject: "s".into(),
        before: None,
        after: Some(serde_json::json!({ "x": 1 })),
        at_ms: 1,
    }
}

fn bundle(app: &str, version: &str) -> StoredBundle {
    let bundle = Bundle {
        app_id: app.into(),
        version: version.into(),
        sha256: "a".repeat(64),
        checksum: "a".repeat(64),
        size: 10,
        file_count: 1,
        min_native_version: Some("1.0.0".into()),
        notes: "notes".into(),
        session_key: String::new(),
        key_id: None,
        warnings: vec![capstan_core::bundle::Warning::SourceMaps { count: 2 }],
        native_digest: None,
        created_by: "contract".into(),
        created_at_ms: 5,
        delta: None,
    };
    StoredBundle { bundle, blob_key: format!("{app}/{version}/x.zip") }
}

fn history(action: HistoryAction, min_native: Option<&str>) -> NewHistory {
    NewHistory { action, min_native: min_native.map(str::to_owned), actor: "t".into(), reason: None }
}

/// Runs every database check on an empty database.
async fn database_contract(db: &dyn Database) {
    db.ping().await.expect("ping");
    tokens(db).await;
    apps_channels_bundles(db).await;
    overrides(db).await;
    config_revisions(db).await;
    devices_and_events(db).await;
    leases(db).await;
    signing(db).await;
    signing_rule_under_concurrent_changes(db).await;
    artifacts(db).await;
    webhooks(db).await;
    rollout_plans_guard_and_schedules(db).await;
}

/// Turning "require signed bundles" on while another change points a channel at an unsigned
/// bundle: one of the two must lose, however the transactions interleave (on PostgreSQL they
/// run side by side on two connections, as on two replicas).
async fn signing_rule_under_concurrent_changes(db: &dyn Database) {
    const APP: &str = "com.signing.race";
    let app = App { id: APP.into(), name: "Race".into(), default_channel: "production".into(), created_at_ms: 1 };
    let production =
        NewChannel { app_id: APP.into(), name: "production".into(), settings: ChannelSettings::default(), at_ms: 1 };
    db.create_app(&app, &production, audit("app.create", Some(APP))).await.unwrap();
    let key = SigningKeyRecord {
        key_id: "MIIBCgKCAQEAracerace".into(),
        public_key: "pem".into(),
        created_by: "contract".into(),
        created_at_ms: 1,
    };
    db.insert_signing_key(APP, &key, audit("signing.key_register", Some(APP))).await.unwrap();
    db.insert_bundle(&bundle(APP, "1.0.0"), audit("bundle.upload", Some(APP))).await.unwrap();
    let mut signed = bundle(APP, "1.1.0");
    signed.bundle.session_key = "aXY=:a2V5".into();
    signed.bundle.key_id = Some(key.key_id.clone());
    db.insert_bundle(&signed, audit("bundle.upload", Some(APP))).await.unwrap();
    let point = |target: &'static str| async move {
        let before = db.get_channel(APP, "production").await.unwrap().unwrap();
        let mut after = before.clone();
        after.lane_mut(None).target = Some(Target::Bundle(target.into()));
        db.save_channel(&before, &after, &[], &[], audit("channel.publish", Some(APP))).await
    };
    for round in 0..20 {
        point("1.1.0").await.unwrap();
        let (rule, unsigned) =
            tokio::join!(db.set_require_signed(APP, true, audit("signing.require", Some(APP))), point("1.0.0"));
        let served = db.get_channel(APP, "production").await.unwrap().unwrap();
        let required = db.app_signing(APP).await.unwrap().require_signed;
        assert!(
            !(required && served.serves("1.0.0")),
            "round {round}: the rule is on and the channel serves an unsigned bundle ({rule:?}, {unsigned:?})"
        );
        assert!(rule.is_ok() != unsigned.is_ok(), "round {round}: exactly one wins ({rule:?}, {unsigned:?})");
        db.set_require_signed(APP, false, audit("signing.require", Some(APP))).await.unwrap();
    }
}

fn artifact(sha: &str, blob_key: &str) -> StoredArtifact {
    StoredArtifact {
        sha256: sha.into(),
        encoding: Encoding::Brotli,
        size: 100,
        stored_size: 40,
        blob_key: blob_key.into(),
    }
}

/// Per-file artifacts: stored once per app, listed per bundle in order, collected once no
/// bundle lists them, and a bundle never commits listing an artifact that was collected.
async fn artifacts(db: &dyn Database) {
    const APP: &str = "com.artifacts";
    let app = App { id: APP.into(), name: "A".into(), default_channel: "production".into(), created_at_ms: 1 };
    let production =
        NewChannel { app_id: APP.into(), name: "production".into(), settings: ChannelSettings::default(), at_ms: 1 };
    db.create_app(&app, &production, audit("app.create", Some(APP))).await.unwrap();
    let files = |names: &[(&str, &str)]| -> Vec<(String, String)> {
        names.iter().map(|(path, sha)| (path.to_string(), sha.to_string())).collect()
    };

    let (a, b) = (artifact("aa", "k/a-1.br"), artifact("bb", "k/b-1"));
    let first = db
        .insert_bundle_with_files(
            &bundle(APP, "1.0.0"),
            &files(&[("index.html", "bb"), ("app.js", "aa"), ("copy/app.js", "aa")]),
            &[a.clone(), b.clone()],
            &[],
            audit("bundle.upload", Some(APP)),
        )
        .await
        .unwrap();
    assert_eq!(first, FilesInserted::Inserted { unused_blobs: vec![] });
    assert_eq!(db.find_artifact(APP, "aa").await.unwrap(), Some(a.clone()));
    assert_eq!(db.find_artifact("com.other", "aa").await.unwrap(), None, "artifacts belong to one app");
    let known = db.app_artifacts(APP).await.unwrap();
    assert_eq!((known.len(), known.get("bb")), (2, Some(&b)));

    // A second upload stored `aa` again concurrently (another blob): the first record wins and
    // its blob is handed back for deletion. It reuses `bb`.
    let (a_again, c) = (artifact("aa", "k/a-2.br"), artifact("cc", "k/c-1"));
    let second = db
        .insert_bundle_with_files(
            &bundle(APP, "1.0.1"),
            &files(&[("index.html", "cc"), ("app.js", "aa"), ("b.css", "bb")]),
            &[a_again, c.clone()],
            std::slice::from_ref(&b),
            audit("bundle.upload", Some(APP)),
        )
        .await
        .unwrap();
    assert_eq!(second, FilesInserted::Inserted { unused_blobs: vec!["k/a-2.br".into()] });
    let listed = db.app_bundle_files(APP).await.unwrap();
    let paths: Vec<(&str, &str)> =
        listed["1.0.1"].iter().map(|f| (f.path.as_str(), f.artifact.blob_key.as_str())).collect();
    assert_eq!(paths, [("index.html", "k/c-1"), ("app.js", "k/a-1.br"), ("b.css", "k/b-1")], "zip order");
    assert_eq!(listed["1.0.0"].len(), 3);
    assert_eq!(db.bundle_files(APP, "1.0.1").await.unwrap(), listed["1.0.1"]);
    assert_eq!(db.bundle_files(APP, "9.9.9").await.unwrap(), Vec::new());
    let mut keys = db.blob_keys().await.unwrap();
    keys.sort();
    assert!(["k/a-1.br", "k/b-1", "k/c-1"].iter().all(|k| keys.contains(&k.to_string())), "{keys:?}");

    // Nothing to collect while every artifact is listed; deleting 1.0.0 frees nothing 1.0.1 uses.
    assert_eq!(db.collect_artifacts(Some(APP)).await.unwrap(), Vec::<String>::new());
    db.delete_bundle(APP, "1.0.0", audit("bundle.delete", Some(APP))).await.unwrap();
    assert_eq!(db.collect_artifacts(None).await.unwrap(), Vec::<String>::new());
    assert!(!db.app_bundle_files(APP).await.unwrap().contains_key("1.0.0"));
    db.delete_bundle(APP, "1.0.1", audit("bundle.delete", Some(APP))).await.unwrap();
    let mut collected = db.collect_artifacts(Some(APP)).await.unwrap();
    collected.sort();
    assert_eq!(collected, ["k/a-1.br", "k/b-1", "k/c-1"]);
    assert_eq!(db.find_artifact(APP, "bb").await.unwrap(), None);

    // An upload that reused `bb` before it was collected commits nothing.
    let gone = db
        .insert_bundle_with_files(
            &bundle(APP, "1.0.2"),
            &files(&[("index.html", "bb")]),
            &[],
            &[b],
            audit("bundle.upload", Some(APP)),
        )
        .await
        .unwrap();
    assert_eq!(gone, FilesInserted::ArtifactsGone(vec!["bb".into()]));
    assert!(db.get_bundle(APP, "1.0.2").await.unwrap().is_none(), "no bundle without its files");
    assert!(db.app_bundle_files(APP).await.unwrap().is_empty());
}

async fn signing(db: &dyn Database) {
    const APP: &str = "com.signing";
    let app = App { id: APP.into(), name: "Signing".into(), default_channel: "production".into(), created_at_ms: 1 };
    let production =
        NewChannel { app_id: APP.into(), name: "production".into(), settings: ChannelSettings::default(), at_ms: 1 };
    db.create_app(&app, &production, audit("app.create", Some(APP))).await.unwrap();
    assert!(matches!(db.app_signing("com.none").await, Err(StoreError::NotFound)));
    let fresh = db.app_signing(APP).await.unwrap();
    assert!(!fresh.require_signed && fresh.keys.is_empty(), "{fresh:?}");

    let key = |id: &str, at: i64| SigningKeyRecord {
        key_id: id.into(),
        public_key: format!("pem of {id}"),
        created_by: "contract".into(),
        created_at_ms: at,
    };
    let (a, b) = ("MIIBCgKCAQEAcontrac1", "MIIBCgKCAQEAcontrac2");
    db.insert_signing_key(APP, &key(b, 3), audit("signing.key_register", Some(APP))).await.unwrap();
    db.insert_signing_key(APP, &key(a, 2), audit("signing.key_register", Some(APP))).await.unwrap();
    assert!(matches!(
        db.insert_signing_key(APP, &key(a, 4), audit("signing.key_register", Some(APP))).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.app_signing(APP).await.unwrap().keys, vec![key(a, 2), key(b, 3)], "oldest first");

    db.insert_bundle(&bundle(APP, "1.0.0"), audit("bundle.upload", Some(APP))).await.unwrap();
    let mut signed = bundle(APP, "1.1.0");
    signed.bundle.session_key = "aXY=:a2V5".into();
    signed.bundle.key_id = Some(a.into());
    db.insert_bundle(&signed, audit("bundle.upload", Some(APP))).await.unwrap();
    let point = |target: &str| {
        let target = target.to_owned();
        async move {
            let before = db.get_channel(APP, "production").await.unwrap().unwrap();
            let mut after = before.clone();
            after.lane_mut(None).target = Some(Target::Bundle(target));
            db.save_channel(&before, &after, &[], &[], audit("channel.publish", Some(APP))).await
        }
    };
    point("1.0.0").await.expect("no rule yet");
    assert!(
        matches!(
            db.set_require_signed(APP, true, audit("signing.require", Some(APP))).await,
            Err(StoreError::InUse(_))
        ),
        "not while a channel serves an unsigned bundle"
    );
    assert!(!db.app_signing(APP).await.unwrap().require_signed);
    point("1.1.0").await.unwrap();
    let on = db.set_require_signed(APP, true, audit("signing.require", Some(APP))).await.unwrap();
    assert!(on.require_signed && on.keys.len() == 2);
    assert!(matches!(point("1.0.0").await, Err(StoreError::Conflict(_))), "no unsigned target while required");
    assert_eq!(db.get_channel(APP, "production").await.unwrap().unwrap().lanes[0].target_bundle(), Some("1.1.0"));
    assert!(
        matches!(
            db.delete_signing_key(APP, a, audit("signing.key_remove", Some(APP))).await,
            Err(StoreError::InUse(_))
        ),
        "not the key that signs what a channel serves"
    );
    assert_eq!(db.delete_signing_key(APP, b, audit("signing.key_remove", Some(APP))).await.unwrap(), key(b, 3));
    assert!(matches!(
        db.delete_signing_key(APP, b, audit("signing.key_remove", Some(APP))).await,
        Err(StoreError::NotFound)
    ));
    db.set_require_signed(APP, false, audit("signing.require", Some(APP))).await.unwrap();
    db.delete_signing_key(APP, a, audit("signing.key_remove", Some(APP))).await.unwrap();
    assert!(db.app_signing(APP).await.unwrap().keys.is_empty());

    let device = |id: &str, native: &str, key_id: Option<&str>, seen: i64| DeviceRecord {
        app_id: APP.into(),
        device_id: id.into(),
        native_version: native.into(),
        key_id: key_id.map(Into::into),
        first_seen_ms: seen,
        last_seen_ms: seen,
        ..DeviceRecord::default()
    };
    db.upsert_devices(&[
        device("d1", "1.0.0", Some(a), 100),
        device("d2", "1.0.0", Some(a), 100),
        device("d3", "1.0.0", None, 100),
        device("d4", "2.0.0", Some("MIIB"), 100),
        device("d5", "2.0.0", Some(a), 10),
    ])
    .await
    .unwrap();
    let counts = db.key_id_counts(APP, 50).await.unwrap();
    let counts: Vec<(&str, Option<&str>, i64)> =
        counts.iter().map(|c| (c.native_version.as_str(), c.key_id.as_deref(), c.devices)).collect();
    assert_eq!(counts, vec![("1.0.0", None, 1), ("1.0.0", Some(a), 2), ("2.0.0", Some("MIIB"), 1)], "since 50 only");
}

async fn leases(db: &dyn Database) {
    assert!(db.acquire_lease("job", "a", 1_000, 100).await.unwrap(), "a free lease is taken");
    assert!(!db.acquire_lease("job", "b", 1_050, 100).await.unwrap(), "a held lease is not");
    assert!(db.acquire_lease("job", "a", 1_050, 100).await.unwrap(), "the holder renews it (until 1150)");
    assert!(!db.acquire_lease("job", "b", 1_149, 100).await.unwrap());
    assert!(db.acquire_lease("job", "b", 1_150, 100).await.unwrap(), "an expired lease is taken over");
    assert!(!db.acquire_lease("job", "a", 1_160, 100).await.unwrap(), "the old holder lost it");
    assert!(db.acquire_lease("other", "a", 1_160, 100).await.unwrap(), "leases are per name");
    db.release_lease("job", "a").await.unwrap();
    assert!(!db.acquire_lease("job", "a", 1_170, 100).await.unwrap(), "only the holder can release");
    db.release_lease("job", "b").await.unwrap();
    assert!(db.acquire_lease("job", "a", 1_170, 100).await.unwrap(), "a released lease is free");
}

async fn tokens(db: &dyn Database) {
    let token = db
        .insert_token("ci", Role::Publisher, &"h".repeat(64), 10, Some(audit("token.create", None)))
        .await
        .expect("insert token");
    let found = db.token_by_hash(&"h".repeat(64)).await.unwrap().expect("live token found by hash");
    assert_eq!(
        (found.record.id, found.record.role, found.hash.as_str()),
        (token.id, Role::Publisher, &*"h".repeat(64))
    );
    assert!(
        matches!(db.insert_token("dup", Role::Viewer, &"h".repeat(64), 10, None).await, Err(StoreError::Conflict(_))),
        "token hashes are unique"
    );
    db.revoke_token(token.id, 20, None).await.expect("revoke");
    assert_eq!(db.token_by_hash(&"h".repeat(64)).await.unwrap(), None, "revoked tokens do not authenticate");
    assert!(matches!(db.revoke_token(token.id, 30, None).await, Err(StoreError::NotFound)));
    assert_eq!(db.list_tokens().await.unwrap()[0].revoked_at_ms, Some(20));
}

async fn apps_channels_bundles(db: &dyn Database) {
    let app =
        App { id: "com.contract".into(), name: "C".into(), default_channel: "production".into(), created_at_ms: 1 };
    let production = NewChannel {
        app_id: app.id.clone(),
        name: "production".into(),
        settings: ChannelSettings { public: true, ..Default::default() },
        at_ms: 1,
    };
    db.create_app(&app, &production, audit("app.create", Some(&app.id))).await.expect("create app");
    assert!(matches!(
        db.create_app(&app, &production, audit("app.create", Some(&app.id))).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.list_apps().await.unwrap(), vec![app.clone()]);
    let channel = db.get_channel(&app.id, "production").await.unwrap().expect("default channel created with the app");
    assert!(channel.settings.public && channel.lanes.is_empty());

    // A channel cannot point at a bundle that does not exist, and a failed save changes nothing.
    let mut dangling = channel.clone();
    dangling.lane_mut(Some("1.0.0")).target = Some(Target::Bundle("1.0.0".into()));
    assert!(matches!(
        db.save_channel(&channel, &dangling, &[], &[], audit("x", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(db.get_channel(&app.id, "production").await.unwrap().unwrap().lanes.is_empty());

    db.insert_bundle(&bundle(&app.id, "1.0.0"), audit("bundle.upload", Some(&app.id))).await.expect("insert bundle");
    assert!(matches!(
        db.insert_bundle(&bundle(&app.id, "1.0.0"), audit("bundle.upload", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.get_bundle(&app.id, "1.0.0").await.unwrap(), Some(bundle(&app.id, "1.0.0")));
    db.insert_bundle(&bundle(&app.id, "1.1.0"), audit("bundle.upload", Some(&app.id))).await.unwrap();

    let saved = db
        .save_channel(
            &channel,
            &dangling,
            &[history(HistoryAction::Publish, Some("1.0.0"))],
            &[],
            audit("channel.publish", Some(&app.id)),
        )
        .await
        .expect("publish");
    assert_eq!(saved.revision, channel.revision + 1);
    assert!(
        matches!(db.save_channel(&channel, &dangling, &[], &[], audit("x", None)).await, Err(StoreError::Conflict(_))),
        "stale revision refused"
    );
    // A second native line: a rollout of 1.1.0 for shells 2.0.0+ beside 1.0.0 for 1.x shells.
    let mut rolling = saved.clone();
    rolling.lane_mut(Some("2.0.0")).rollout =
        Some(Rollout { version: "1.1.0".into(), share_bp: 1000, started_at_ms: 3 });
    let rolling = db
        .save_channel(&saved, &rolling, &[history(HistoryAction::RolloutStart, Some("2.0.0"))], &[], audit("x", None))
        .await
        .unwrap();
    assert_eq!(
        rolling.lanes.iter().map(|l| l.min_native.as_deref()).collect::<Vec<_>>(),
        [Some("2.0.0"), Some("1.0.0")],
        "lines come back newest first"
    );
    assert_eq!(rolling.lane(Some("2.0.0")).and_then(|l| l.rollout.as_ref()).map(|r| r.share_bp), Some(1000));

    // A native fingerprint is recorded once; the same one again is fine, another is refused.
    assert_eq!(db.native_fingerprint(&app.id, "1.0.0").await.unwrap(), None);
    db.set_native_fingerprint(&app.id, "1.0.0", "{\"digest\":\"d1\"}", "d1", audit("bundle.native", None))
        .await
        .unwrap();
    db.set_native_fingerprint(&app.id, "1.0.0", "{\"digest\":\"d1\"}", "d1", audit("bundle.native", None))
        .await
        .unwrap();
    assert!(matches!(
        db.set_native_fingerprint(&app.id, "1.0.0", "{}", "d2", audit("x", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        db.set_native_fingerprint(&app.id, "9.9.9", "{}", "d2", audit("x", None)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(db.native_fingerprint(&app.id, "1.0.0").await.unwrap().as_deref(), Some("{\"digest\":\"d1\"}"));
    let stored = db.get_bundle(&app.id, "1.0.0").await.unwrap().unwrap();
    assert_eq!(stored.bundle.native_digest.as_deref(), Some("d1"));

    for version in ["1.0.0", "1.1.0"] {
        assert!(
            matches!(db.delete_bundle(&app.id, version, audit("bundle.delete", None)).await, Err(StoreError::InUse(_))),
            "{version} in use"
        );
    }
    let history = db.channel_history(channel.id, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.action).collect::<Vec<_>>(),
        [HistoryAction::RolloutStart, HistoryAction::Publish]
    );
    assert_eq!(history[1].target_after, Some(Target::Bundle("1.0.0".into())));
    assert_eq!((history[1].target_before.as_ref(), history[1].min_native.as_deref()), (None, Some("1.0.0")));
    assert_eq!(history[0].rollout_after.as_ref().map(|r| r.version.as_str()), Some("1.1.0"));
    assert_eq!((history[0].target_after.as_ref(), history[0].min_native.as_deref()), (None, Some("2.0.0")), "per line");

    let mut cleared = rolling.clone();
    cleared.lane_mut(Some("2.0.0")).rollout = None;
    cleared.tidy_lanes();
    let cleared = db.save_channel(&rolling, &cleared, &[], &[], audit("x", None)).await.unwrap();
    assert_eq!(cleared.lanes.len(), 1, "an empty line is not kept");
    db.delete_bundle(&app.id, "1.1.0", audit("bundle.delete", Some(&app.id))).await.expect("unused bundle deletes");
    assert_eq!(db.get_bundle(&app.id, "1.1.0").await.unwrap(), None);
    assert_eq!(db.blob_keys().await.unwrap(), vec![format!("{}/1.0.0/x.zip", app.id)]);

    let beta =
        NewChannel { app_id: app.id.clone(), name: "beta".into(), settings: ChannelSettings::default(), at_ms: 2 };
    db.create_channel(&beta, audit("channel.create", Some(&app.id))).await.unwrap();
    assert!(matches!(db.create_channel(&beta, audit("channel.create", None)).await, Err(StoreError::Conflict(_))));
    assert_eq!(db.list_channels(&app.id).await.unwrap().len(), 2);

    let audit_log = db.list_audit(Some(&app.id), 100).await.unwrap();
    assert!(audit_log.iter().any(|a| a.action == "app.create" && a.after.is_some()));
    assert!(audit_log.windows(2).all(|w| w[0].id > w[1].id), "audit newest first");
}

async fn overrides(db: &dyn Database) {
    let beta = db.get_channel("com.contract", "beta").await.unwrap().unwrap();
    let production = db.get_channel("com.contract", "production").await.unwrap().unwrap();
    let set = |channel_id, source| DeviceOverride {
        app_id: "com.contract".into(),
        device_id: "d1".into(),
        channel_id,
        source,
        set_at_ms: 1,
    };
    db.set_override(&set(beta.id, OverrideSource::Operator), None).await.unwrap();
    // A legacy device cannot undo an operator's pin.
    let kept = db.set_override(&set(production.id, OverrideSource::Device), None).await.unwrap();
    assert_eq!((kept.channel_id, kept.source), (beta.id, OverrideSource::Operator));
    assert!(!db.clear_override("com.contract", "d1", Some(OverrideSource::Device), None).await.unwrap());
    assert!(db.clear_override("com.contract", "d1", None, None).await.unwrap());
    db.set_override(&set(beta.id, OverrideSource::Device), None).await.unwrap();
    assert_eq!(db.list_overrides("com.contract").await.unwrap().len(), 1);
    let one = db.get_override("com.contract", "d1").await.unwrap().expect("one device's override");
    assert_eq!((one.channel_id, one.source), (beta.id, OverrideSource::Device));
    assert_eq!(db.get_override("com.contract", "d2").await.unwrap(), None);
    assert!(db.clear_override("com.contract", "d1", Some(OverrideSource::Device), None).await.unwrap());
    assert!(db.list_overrides("com.contract").await.unwrap().is_empty());
}

/// Every change to what devices are answered from moves the app's revision (replicas reload on
/// it); device state and events do not.
async fn config_revisions(db: &dyn Database) {
    let app = "com.contract";
    let revision = || async {
        let all = db.config_revisions().await.unwrap();
        all.into_iter().find(|(id, _)| id == app).expect("every app has a revision").1
    };
    let mut last = revision().await;
    let config = db.app_config(app).await.unwrap().expect("the app's configuration");
    assert_eq!(config.revision, last);
    let mut moved = |now: i64, what: &str| {
        assert!(now > last, "{what} moves the revision ({now} after {last})");
        last = now;
    };
    assert_eq!((config.channels.len(), config.bundles.len(), config.overrides.len()), (2, 1, 0));
    let mut recorded = bundle(app, "1.0.0");
    recorded.bundle.native_digest = Some("d1".into()); // recorded by `apps_channels_bundles`
    assert_eq!(config.bundles[0], recorded);
    assert!(db.app_config("com.nobody").await.unwrap().is_none());

    let beta = db.get_channel(app, "beta").await.unwrap().unwrap();
    let pin = DeviceOverride {
        app_id: app.into(),
        device_id: "d9".into(),
        channel_id: beta.id,
        source: OverrideSource::Operator,
        set_at_ms: 1,
    };
    db.set_override(&pin, None).await.unwrap();
    moved(revision().await, "an override");
    assert_eq!(db.app_config(app).await.unwrap().unwrap().overrides, vec![pin]);
    db.clear_override(app, "d9", None, None).await.unwrap();
    moved(revision().await, "clearing an override");
    db.insert_bundle(&bundle(app, "2.0.0"), audit("bundle.upload", Some(app))).await.unwrap();
    moved(revision().await, "a bundle");
    db.delete_bundle(app, "2.0.0", audit("bundle.delete", Some(app))).await.unwrap();
    moved(revision().await, "deleting a bundle");
    let mut stricter = beta.clone();
    stricter.settings.allow_emulator = !beta.settings.allow_emulator;
    db.save_channel(&beta, &stricter, &[], &[], audit("channel.update", Some(app))).await.unwrap();
    moved(revision().await, "a channel's settings");
    let mut renamed = db.get_app(app).await.unwrap().unwrap();
    renamed.name = "Renamed".into();
    db.update_app(&renamed, audit("app.update", Some(app))).await.unwrap();
    moved(revision().await, "the app");
}

async fn devices_and_events(db: &dyn Database) {
    let revision_before = db.config_revisions().await.unwrap();
    let device = |id: &str, seen: i64, bundle: &str| DeviceRecord {
        app_id: "com.contract".into(),
        device_id: id.into(),
        custom_id: format!("user-{id}"),
        platform: "ios".into(),
        native_version: "1.0.0".into(),
        bundle_version: bundle.into(),
        plugin_version: "8.0.0".into(),
        os_version: "17".into(),
        is_prod: true,
        is_emulator: false,
        channel: Some("production".into()),
        key_id: Some("MIIBCgKCAQEAcontract".into()),
        requested_channel: Some("beta".into()),
        on_builtin: false,
        first_seen_ms: seen,
        last_seen_ms: seen,
    };
    let many: Vec<DeviceRecord> = (0..1200).map(|i| device(&format!("dev-{i:04}"), 100, "1.0.0")).collect();
    db.upsert_devices(&many).await.expect("batch upsert beyond one statement");
    // Replicas flush independently: a report older than the stored one changes nothing.
    db.upsert_devices(&[device("dev-0001", 50, "0.9.0")]).await.unwrap();
    let one = db.get_device("com.contract", "dev-0001").await.unwrap().unwrap();
    assert_eq!(one.key_id.as_deref(), Some("MIIBCgKCAQEAcontract"), "the reported key id is kept");
    assert_eq!(
        (one.bundle_version.as_str(), one.first_seen_ms, one.last_seen_ms),
        ("1.0.0", 100, 100),
        "an older report does not overwrite a newer one"
    );
    db.upsert_devices(&[device("dev-0001", 150, "1.1.0")]).await.unwrap();
    let one = db.get_device("com.contract", "dev-0001").await.unwrap().unwrap();
    assert_eq!((one.bundle_version.as_str(), one.first_seen_ms, one.last_seen_ms), ("1.1.0", 100, 150));
    let found = db
        .search_devices("com.contract", &DeviceFilter { q: Some("user-dev-0002".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let by_bundle = db
        .search_devices("com.contract", &DeviceFilter { bundle: Some("1.1.0".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_bundle.len(), 1);
    let counts = db.device_counts("com.contract", 0).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.devices).sum::<i64>(), 1200);
    assert_eq!(counts.iter().find(|c| c.bundle_version == "1.1.0").map(|c| c.devices), Some(1));

    // Every column comes back as written: text a JSON or SQL encoder must escape, absent
    // optional values, both values of each flag, the extremes of a timestamp.
    let escaped = |id: &str, flag: bool, seen: i64| DeviceRecord {
        custom_id: "quote\" back\\slash\n tab\t 'single' é 😀 \u{7f}\u{1}".into(),
        platform: "android".into(),
        plugin_version: "8.0.0\"]".into(),
        os_version: "[1, 2]".into(),
        is_prod: flag,
        is_emulator: !flag,
        on_builtin: flag,
        channel: None,
        key_id: None,
        requested_channel: None,
        ..device(id, seen, "{\"a\": 1}")
    };
    let written = [escaped("esc-1", true, i64::MAX), escaped("esc-2", false, 0)];
    db.upsert_devices(&written).await.unwrap();
    for record in &written {
        let read = db.get_device("com.contract", &record.device_id).await.unwrap().unwrap();
        assert_eq!(&read, record);
    }

    // `%` and `_` in a search are characters, not wildcards.
    db.upsert_devices(&[device("odd_%id", 100, "1.0.0")]).await.unwrap();
    let literal = |q: &str| DeviceFilter { q: Some(q.into()), ..Default::default() };
    assert_eq!(db.search_devices("com.contract", &literal("odd_%")).await.unwrap().len(), 1);
    assert!(db.search_devices("com.contract", &literal("_")).await.unwrap().is_empty(), "`_` matches no other id");
    assert!(db.search_devices("com.contract", &literal("%")).await.unwrap().is_empty());

    let event = |i: i64, action: &str| DeviceEvent {
        app_id: "com.contract".into(),
        device_id: format!("dev-{:04}", i % 10),
        action: action.into(),
        version_name: "1.0.0".into(),
        old_version_name: String::new(),
        platform: "ios".into(),
        native_version: "1.0.0".into(),
        plugin_version: "8.0.0".into(),
        metadata: None,
        device_ts_ms: Some(i),
        received_ms: 3_600_000 + i,
    };
    let events: Vec<DeviceEvent> =
        (0..2000).map(|i| event(i, if i % 4 == 0 { "set" } else { "download_fail" })).collect();
    db.insert_events(&events).await.expect("batch insert beyond one statement");
    assert_eq!(db.count_events("com.contract").await.unwrap(), 2000);
    let counts = db.action_counts("com.contract").await.unwrap();
    assert_eq!(counts.iter().find(|c| c.action == "set").map(|c| c.count), Some(500));
    let timeline = db.device_events("com.contract", "dev-0003", 5).await.unwrap();
    assert_eq!(timeline.len(), 5);
    assert!(timeline.windows(2).all(|w| w[0].device_ts_ms > w[1].device_ts_ms), "timeline newest first");
    let buckets = db.event_buckets("com.contract", 3_600_000, 0, Some("1.0.0")).await.unwrap();
    assert_eq!(buckets.iter().map(|b| b.count).sum::<i64>(), 2000);
    assert!(buckets.iter().all(|b| b.start_ms == 3_600_000));
    // A second batch adds to the same counters rather than replacing them.
    db.insert_events(&events[..100]).await.unwrap();
    let counts = db.action_counts("com.contract").await.unwrap();
    assert_eq!(counts.iter().find(|c| c.action == "set").map(|c| c.count), Some(525));
    assert_eq!(db.count_events("com.contract").await.unwrap(), 2100);
    let days = db.event_buckets("com.contract", 24 * 3_600_000, 0, None).await.unwrap();
    assert_eq!(days.iter().map(|b| b.count).sum::<i64>(), 2100);
    assert!(db.event_buckets("com.contract", 3_600_000, 2 * 3_600_000, None).await.unwrap().is_empty());
    assert_eq!(db.config_revisions().await.unwrap(), revision_before, "device state and events are not configuration");
}

/// Runs every blob store check. `scratch` is a directory for source files.
async fn blob_contract(store: &dyn BlobStore, scratch: &Path) {
    store.ping().await.expect("ping");
    let source = scratch.join("upload.part");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &bytes).unwrap();
    let key = "com.app/1.0.0/abc.zip";
    store.put_file(key, &source).await.expect("put");
    assert!(store.exists(key).await.unwrap());
    let listed = store.list().await.unwrap();
    assert_eq!(listed.iter().map(|b| b.key.as_str()).collect::<Vec<_>>(), [key], "no temporary names are listed");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now_ms - listed[0].modified_ms).abs() < 600_000, "modification time is now-ish");
    assert_eq!(store.size(key).await.unwrap(), bytes.len() as u64);
    assert_eq!(read_all(store, key).await.unwrap(), bytes, "whole read");
    let range = ByteRange { start: 70_000, end: 150_000 };
    let read = store.read(key, Some(range)).await.unwrap();
    assert_eq!(read.len, range.len());
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(read.body).await.unwrap();
    assert_eq!(chunks.concat(), &bytes[70_000..=150_000], "ranged read");
    // A key prefix is not a blob (S3 answers 404; s3s-fs, which keeps objects as files, answers
    // an error for the directory it has there).
    assert!(store.size("com.app/1.0.0").await.is_err(), "a key prefix is not a blob");
    assert!(matches!(store.size("com.app/none.zip").await, Err(BlobError::NotFound)));
    assert!(matches!(store.read("com.app/none.zip", None).await, Err(BlobError::NotFound)));
    for bad in ["../x.zip", "/abs.zip", "a/../../b", "a//b", ".tmp-x", "a\\b"] {
        assert!(matches!(store.put_file(bad, &source).await, Err(BlobError::InvalidKey(_))), "{bad} must be refused");
    }
    store.delete(key).await.expect("delete");
    store.delete(key).await.expect("deleting twice is fine");
    assert!(!store.exists(key).await.unwrap());
    assert!(store.list().await.unwrap().is_empty());

    // A bundle larger than an S3 multipart part (8 MiB): stored in parts, read back whole and
    // across a part boundary.
    let large: Vec<u8> =
        (0..(17 * 1024 * 1024 + 123) as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&source, &large).unwrap();
    let key = "com.app/2.0.0/large.zip";
    store.put_file(key, &source).await.expect("put a large blob");
    assert_eq!(store.size(key).await.unwrap(), large.len() as u64);
    assert!(read_all(store, key).await.unwrap() == large, "large whole read");
    let boundary = ByteRange { start: 8 * 1024 * 1024 - 10, end: 8 * 1024 * 1024 + 10 };
    let read = store.read(key, Some(boundary)).await.unwrap();
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(read.body).await.unwrap();
    assert_eq!(chunks.concat(), &large[boundary.start as usize..=boundary.end as usize], "across a part boundary");
    store.delete(key).await.unwrap();
}

/// Queues `event` the way the server does, with a release write (here one that changes nothing
/// else) at `at_ms`; answers how many deliveries it queued.
async fn queue(db: &dyn Database, app: &str, event: &capstan_core::api::WebhookEvent, at_ms: i64) -> usize {
    use capstan_server::store::rollouts::ReleaseWrite;
    let channel = db.get_channel(app, "production").await.unwrap().unwrap();
    let write = ReleaseWrite {
        before: channel,
        after: None,
        history: Vec::new(),
        plan: None,
        guard_trip: None,
        schedule: None,
        audit: NewAudit { at_ms, ..audit("webhook.test", Some(app)) },
    };
    db.record_release(&write, std::slice::from_ref(event)).await.unwrap();
    let log = db.webhook_deliveries(app, None, 1000).await.unwrap();
    log.iter().filter(|d| d.event.id == event.id).count()
}

/// Webhooks: registered and listed without their secret, events queued only for the webhooks
/// that take them, due deliveries with what sending needs, attempts recorded once, removal
/// cancelling what was queued.
async fn webhooks(db: &dyn Database) {
    use capstan_core::api::{DeliveryStatus, WebhookEvent, WebhookEventKind};
    use capstan_server::store::webhooks::{AttemptRecord, NewWebhook};
    const APP: &str = "com.webhooks";
    let app = App { id: APP.into(), name: "Hooks".into(), default_channel: "production".into(), created_at_ms: 1 };
    let production =
        NewChannel { app_id: APP.into(), name: "production".into(), settings: ChannelSettings::default(), at_ms: 1 };
    db.create_app(&app, &production, audit("app.create", Some(APP))).await.unwrap();
    let new = |url: &str, events: Vec<WebhookEventKind>| NewWebhook {
        app_id: APP.into(),
        url: url.into(),
        events,
        secret: format!("whsec_{url}"),
        created_by: "contract".into(),
        at_ms: 10,
    };
    let all = db
        .insert_webhook(&new("http://a/", WebhookEventKind::ALL.to_vec()), audit("webhook.create", Some(APP)))
        .await
        .unwrap();
    let rollbacks = db
        .insert_webhook(&new("http://b/", vec![WebhookEventKind::Rollback]), audit("webhook.create", Some(APP)))
        .await
        .unwrap();
    assert_eq!(db.list_webhooks(APP).await.unwrap(), vec![all.clone(), rollbacks.clone()]);
    assert_eq!(rollbacks.events, vec![WebhookEventKind::Rollback]);

    let event = |id: &str, kind| WebhookEvent::new(id.into(), kind, APP, "contract", 20);
    assert_eq!(queue(db, APP, &event("evt_1", WebhookEventKind::Publish), 20).await, 1);
    assert_eq!(queue(db, APP, &event("evt_2", WebhookEventKind::Rollback), 30).await, 2);
    assert!(db.due_webhook_deliveries(19, 10).await.unwrap().is_empty(), "nothing is due before its time");
    let due = db.due_webhook_deliveries(30, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    assert_eq!(
        (due[0].url.as_str(), due[0].secret.as_str(), due[0].kind.as_str()),
        ("http://a/", "whsec_http://a/", "publish")
    );
    let body: WebhookEvent = serde_json::from_str(&due[0].payload).unwrap();
    assert_eq!(body, event("evt_1", WebhookEventKind::Publish));

    let record = |id: i64, attempt: u32, status: DeliveryStatus, next: Option<i64>| AttemptRecord {
        delivery_id: id,
        attempt,
        at_ms: 40,
        status_code: Some(if status == DeliveryStatus::Delivered { 204 } else { 503 }),
        error: (status != DeliveryStatus::Delivered).then(|| "answered 503".to_owned()),
        duration_ms: 7,
        status,
        next_attempt_ms: next,
    };
    assert!(db.record_webhook_attempt(&record(due[0].id, 1, DeliveryStatus::Pending, Some(100))).await.unwrap());
    assert!(
        !db.record_webhook_attempt(&record(due[0].id, 1, DeliveryStatus::Pending, Some(100))).await.unwrap(),
        "an attempt is recorded once"
    );
    assert!(db.record_webhook_attempt(&record(due[1].id, 1, DeliveryStatus::Delivered, None)).await.unwrap());
    let later = db.due_webhook_deliveries(100, 10).await.unwrap();
    assert_eq!(later.iter().map(|d| (d.id, d.attempts)).collect::<Vec<_>>(), vec![(due[2].id, 0), (due[0].id, 1)]);

    let log = db.webhook_deliveries(APP, None, 10).await.unwrap();
    assert_eq!(log.iter().map(|d| d.id).collect::<Vec<_>>(), vec![due[2].id, due[1].id, due[0].id], "newest first");
    assert_eq!(log[1].status, DeliveryStatus::Delivered);
    assert_eq!(log[1].attempts[0].status_code, Some(204));
    assert_eq!(log[2].attempts.len(), 1);
    assert_eq!(log[2].next_attempt_at_ms, Some(100));
    assert_eq!(db.webhook_deliveries(APP, Some(rollbacks.id), 10).await.unwrap().len(), 1);

    // Removal: the secret goes, queued deliveries are cancelled, nothing new is queued.
    let removed = db.remove_webhook(APP, all.id, 50, audit("webhook.remove", Some(APP))).await.unwrap();
    assert_eq!(removed.id, all.id);
    assert!(matches!(
        db.remove_webhook(APP, all.id, 50, audit("webhook.remove", Some(APP))).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        db.remove_webhook("com.none", rollbacks.id, 50, audit("x", None)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(db.list_webhooks(APP).await.unwrap(), vec![rollbacks.clone()]);
    let due = db.due_webhook_deliveries(1_000, 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.url.as_str()).collect::<Vec<_>>(), vec!["http://b/"]);
    assert_eq!(queue(db, APP, &event("evt_3", WebhookEventKind::Publish), 60).await, 0);
    let cancelled = db.webhook_deliveries(APP, Some(all.id), 10).await.unwrap();
    let statuses: Vec<_> = cancelled.iter().map(|d| (d.event.id.as_str(), d.status, d.next_attempt_at_ms)).collect();
    assert_eq!(
        statuses,
        vec![("evt_2", DeliveryStatus::Delivered, None), ("evt_1", DeliveryStatus::Cancelled, None)],
        "what was delivered stays so"
    );

    // A release change queues its events in its own transaction: stored with the change, and
    // not at all when the change is refused.
    use capstan_core::api::ScheduleStatus;
    use capstan_server::store::rollouts::{ReleaseWrite, ScheduleWrite};
    let queued = || async {
        let log = db.webhook_deliveries(APP, Some(rollbacks.id), 100).await.unwrap();
        log.into_iter().map(|d| d.event.id).collect::<Vec<_>>()
    };
    let known = queued().await;
    let channel = db.get_channel(APP, "production").await.unwrap().unwrap();
    let mut public = channel.clone();
    public.settings.public = true;
    let rollback = |id: &str| [event(id, WebhookEventKind::Rollback)];
    db.save_channel(&channel, &public, &[], &rollback("evt_4"), audit("channel.update", Some(APP))).await.unwrap();
    assert!(
        matches!(
            db.save_channel(&channel, &public, &[], &rollback("evt_5"), audit("channel.update", Some(APP))).await,
            Err(StoreError::Conflict(_))
        ),
        "stale revision refused"
    );
    let saved = db.get_channel(APP, "production").await.unwrap().unwrap();
    let mut write = ReleaseWrite {
        before: saved.clone(),
        after: None,
        history: vec![history(HistoryAction::RolloutPause, None)],
        plan: None,
        guard_trip: None,
        schedule: Some(ScheduleWrite { id: 999_999, status: ScheduleStatus::Cancelled, outcome: None }),
        audit: audit("schedule.cancel", Some(APP)),
    };
    assert!(
        matches!(db.record_release(&write, &rollback("evt_6")).await, Err(StoreError::Conflict(_))),
        "no such pending schedule"
    );
    assert!(db.channel_history(saved.id, 10).await.unwrap().is_empty(), "the refused release wrote nothing");
    write.schedule = None;
    db.record_release(&write, &rollback("evt_7")).await.unwrap();
    let mut expected = vec!["evt_7".to_owned(), "evt_4".to_owned()];
    expected.extend(known);
    assert_eq!(queued().await, expected, "events of committed changes only, newest first");
    assert_eq!(db.channel_history(saved.id, 10).await.unwrap().len(), 1);
}

/// Release safety's storage: a plan is created once while active, updated only at the revision
/// it was read at, and listed as active only while it is; the guard acts once per bundle and
/// channel; a scheduled publish is due at its time and finishes once. Each refused write
/// changes nothing (the whole release write is one transaction).
async fn rollout_plans_guard_and_schedules(db: &dyn Database) {
    use capstan_core::api::{FailureAction, PlanStatus, RolloutPlan, ScheduleStatus};
    use capstan_server::store::rollouts::{GuardTrip, NewSchedule, PlanWrite, ReleaseWrite, ScheduleWrite, StoredPlan};
    const APP: &str = "com.plans";
    let app = App { id: APP.into(), name: "Plans".into(), default_channel: "production".into(), created_at_ms: 1 };
    let production =
        NewChannel { app_id: APP.into(), name: "production".into(), settings: ChannelSettings::default(), at_ms: 1 };
    db.create_app(&app, &production, audit("app.create", Some(APP))).await.unwrap();
    let channel = db.get_channel(APP, "production").await.unwrap().unwrap();
    let write = |plan: Option<PlanWrite>| ReleaseWrite {
        before: channel.clone(),
        after: None,
        history: Vec::new(),
        plan,
        guard_trip: None,
        schedule: None,
        audit: audit("rollout_plan.x", Some(APP)),
    };
    let plan = RolloutPlan {
        channel: "production".into(),
        min_native: None,
        version: "2.0.0".into(),
        steps_bp: vec![100, 1_000, 5_000, 10_000],
        every_ms: 3_600_000,
        min_devices: 50,
        max_failure_bp: 200,
        on_failure: FailureAction::Rollback,
        step: 0,
        step_started_at_ms: 1,
        status: PlanStatus::Active,
        reason: None,
        revision: 1,
        created_by: "contract".into(),
        created_at_ms: 1,
        updated_at_ms: 1,
    };
    let stored = StoredPlan { channel_id: channel.id, app_id: APP.into(), plan: plan.clone() };
    assert_eq!(db.get_plan(channel.id).await.unwrap(), None);
    db.record_release(&write(Some(PlanWrite::Create(stored.clone()))), &[]).await.unwrap();
    assert_eq!(db.get_plan(channel.id).await.unwrap(), Some(stored.clone()), "read back as written");
    assert!(db.active_plans().await.unwrap().contains(&stored));
    assert!(
        matches!(
            db.record_release(&write(Some(PlanWrite::Create(stored.clone()))), &[]).await,
            Err(StoreError::Conflict(_))
        ),
        "one active plan per channel"
    );

    // An update at the revision read wins once; the same update again is a conflict.
    let mut advanced = stored.clone();
    advanced.plan.step = 1;
    advanced.plan.step_started_at_ms = 3_600_001;
    db.record_release(&write(Some(PlanWrite::Update(advanced.clone()))), &[]).await.unwrap();
    let read = db.get_plan(channel.id).await.unwrap().unwrap();
    assert_eq!((read.plan.step, read.plan.revision), (1, 2));
    assert!(
        matches!(
            db.record_release(&write(Some(PlanWrite::Update(advanced.clone()))), &[]).await,
            Err(StoreError::Conflict(_))
        ),
        "a second replica acting on the same revision is refused"
    );
    assert_eq!(db.get_plan(channel.id).await.unwrap().unwrap().plan.step, 1, "the refused update changed nothing");

    // Paused: no longer active, and a new plan may replace it.
    let mut paused = read.clone();
    paused.plan.status = PlanStatus::Paused;
    paused.plan.reason = Some("failure bound 3.1 % over 2 %".into());
    db.record_release(&write(Some(PlanWrite::Update(paused))), &[]).await.unwrap();
    let read = db.get_plan(channel.id).await.unwrap().unwrap();
    assert_eq!(read.plan.status, PlanStatus::Paused);
    assert_eq!(read.plan.reason.as_deref(), Some("failure bound 3.1 % over 2 %"));
    assert!(db.active_plans().await.unwrap().iter().all(|p| p.channel_id != channel.id));
    let mut next = stored.clone();
    next.plan.version = "2.0.1".into();
    db.record_release(&write(Some(PlanWrite::Create(next.clone()))), &[]).await.unwrap();
    assert_eq!(db.get_plan(channel.id).await.unwrap().unwrap().plan.version, "2.0.1");

    // The guard acts once per (channel, bundle); a refused trip takes the plan change with it.
    let trip = |version: &str| GuardTrip {
        version: version.into(),
        min_native: None,
        action: FailureAction::Pause,
        reason: "over threshold".into(),
    };
    let mut guarded = write(None);
    guarded.guard_trip = Some(trip("2.0.1"));
    db.record_release(&guarded, &[]).await.unwrap();
    assert_eq!(db.guard_trips(APP).await.unwrap(), vec![(channel.id, "2.0.1".to_owned())]);
    let mut again = write(Some(PlanWrite::Update(StoredPlan {
        plan: RolloutPlan { status: PlanStatus::Paused, ..next.plan.clone() },
        ..next.clone()
    })));
    again.guard_trip = Some(trip("2.0.1"));
    assert!(matches!(db.record_release(&again, &[]).await, Err(StoreError::Conflict(_))), "once per bundle");
    assert_eq!(db.get_plan(channel.id).await.unwrap().unwrap().plan.status, PlanStatus::Active, "rolled back");
    assert!(db.guard_trips("com.other").await.unwrap().is_empty());

    // Scheduled publishes: due at their time, oldest first; finished once.
    let schedule = |version: &str, at_ms: i64| NewSchedule {
        app_id: APP.into(),
        channel_id: channel.id,
        version: version.into(),
        at_ms,
        created_by: "contract".into(),
        created_at_ms: 1,
    };
    let late = db.insert_schedule(&schedule("2.1.0", 2_000), audit("schedule.create", Some(APP))).await.unwrap();
    let soon = db.insert_schedule(&schedule("2.0.2", 1_000), audit("schedule.create", Some(APP))).await.unwrap();
    assert_eq!((soon.status, soon.channel.as_str(), soon.at_ms), (ScheduleStatus::Pending, "production", 1_000));
    let listed = db.list_schedules(APP).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.schedule.id).collect::<Vec<_>>(), vec![soon.id, late.id], "soonest first");
    assert!(db.due_schedules(999).await.unwrap().iter().all(|s| s.app_id != APP), "nothing due early");
    let due: Vec<i64> = db.due_schedules(2_000).await.unwrap().iter().map(|s| s.schedule.id).collect();
    assert_eq!(due, vec![soon.id, late.id]);
    let mut finish = write(None);
    finish.schedule =
        Some(ScheduleWrite { id: soon.id, status: ScheduleStatus::Done, outcome: Some("published".into()) });
    db.record_release(&finish, &[]).await.unwrap();
    assert!(matches!(db.record_release(&finish, &[]).await, Err(StoreError::Conflict(_))), "finished once");
    let due: Vec<i64> = db.due_schedules(2_000).await.unwrap().iter().map(|s| s.schedule.id).collect();
    assert_eq!(due, vec![late.id]);
    let done = db.list_schedules(APP).await.unwrap().into_iter().find(|s| s.schedule.id == soon.id).unwrap();
    assert_eq!((done.schedule.status, done.schedule.outcome.as_deref()), (ScheduleStatus::Done, Some("published")));
}
