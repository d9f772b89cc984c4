//! Signing: an app's registered public keys, its "require signed bundles" rule, and which keys
//! its installed apps trust.
//!
//! The server never receives a private key (registering one is refused). Registering keys and
//! switching the rule are admin actions: a stolen publisher token must not be able to weaken
//! the rule that stands between it and every device.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use capstan_core::api::{
    ActiveQuery, AppSigning, KeyCoverage, KeyShare, KeyTrust, RegisterKey, SigningKeyRecord, UpdateSigning,
};
use capstan_core::signing::VerifyingKey;

use super::{ApiJson, ApiQuery, audit, require_app, snapshot_of};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::{KeyIdCount, StoreError};

/// Default window for "active" devices, as the stats routes use.
const DEFAULT_ACTIVE_DAYS: u32 = 30;

/// Show an app's signing rule and keys.
pub async fn show(State(state): State<AppState>, Path(app_id): Path<String>) -> Result<Json<AppSigning>, AppError> {
    require_app(&state, &app_id).await?;
    Ok(Json(state.db().app_signing(&app_id).await?))
}

/// Register a public key.
pub async fn register_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<RegisterKey>,
) -> Result<(StatusCode, Json<SigningKeyRecord>), AppError> {
    require_app(&state, &app_id).await?;
    // Parsed as the plugin parses its `publicKey`: what is stored is what an app can ship.
    let key = VerifyingKey::from_pem(&body.public_key)
        .map_err(|e| AppError::bad_request("invalid_key", format!("cannot register this key: {e}")))?;
    let record = SigningKeyRecord {
        key_id: key.key_id().to_owned(),
        public_key: key.pem().to_owned(),
        created_by: caller.actor(),
        created_at_ms: state.now_ms(),
    };
    let entry = audit(
        &state,
        caller.actor(),
        Some(&app_id),
        "signing.key_register",
        &record.key_id,
        None,
        snapshot_of(&record),
    );
    state.db().insert_signing_key(&app_id, &record, entry).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Remove a registered key.
pub async fn remove_key(
    caller: Caller,
    State(state): State<AppState>,
    Path((app_id, key_id)): Path<(String, String)>,
) -> Result<Json<SigningKeyRecord>, AppError> {
    let signing = state.db().app_signing(&app_id).await.map_err(|e| not_found(e, format!("app `{app_id}`")))?;
    let before = signing.key(&key_id).ok_or_else(|| AppError::NotFound(format!("key {key_id}")))?;
    let entry = audit(&state, caller.actor(), Some(&app_id), "signing.key_remove", &key_id, snapshot_of(before), None);
    let removed = state
        .db()
        .delete_signing_key(&app_id, &key_id, entry)
        .await
        .map_err(|e| not_found(e, format!("key {key_id}")))?;
    Ok(Json(removed))
}

/// Switch "require signed bundles".
pub async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<UpdateSigning>,
) -> Result<Json<AppSigning>, AppError> {
    let before = state.db().app_signing(&app_id).await.map_err(|e| not_found(e, format!("app `{app_id}`")))?;
    if body.require_signed && before.keys.is_empty() {
        return Err(AppError::bad_request(
            "no_signing_key",
            "register the app's public key first: with no registered key, every upload would be refused",
        ));
    }
    let mut after = before.clone();
    after.require_signed = body.require_signed;
    let entry = audit(
        &state,
        caller.actor(),
        Some(&app_id),
        "signing.require",
        &app_id,
        Some(serde_json::json!({ "require_signed": before.require_signed })),
        Some(serde_json::json!({ "require_signed": after.require_signed })),
    );
    Ok(Json(state.db().set_require_signed(&app_id, body.require_signed, entry).await?))
}

/// Which keys the active devices trust, per native version.
pub async fn coverage(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(query): ApiQuery<ActiveQuery>,
) -> Result<Json<KeyCoverage>, AppError> {
    require_app(&state, &app_id).await?;
    let days = query.active_days.unwrap_or(DEFAULT_ACTIVE_DAYS).clamp(1, 3650);
    // Device state is buffered in memory: write it first so the figures include every device.
    state.ingest().devices.flush(state.db()).await;
    let since = state.now_ms() - i64::from(days) * 86_400_000;
    let signing = state.db().app_signing(&app_id).await?;
    let counts = state.db().key_id_counts(&app_id, since).await?;
    Ok(Json(key_coverage(&signing, &counts, days)))
}

/// A store `NotFound` named for the answer.
fn not_found(error: StoreError, what: String) -> AppError {
    match error {
        StoreError::NotFound => AppError::NotFound(what),
        other => other.into(),
    }
}

/// Groups device counts by what their key id says, per native version and in total.
pub fn key_coverage(signing: &AppSigning, counts: &[KeyIdCount], active_days: u32) -> KeyCoverage {
    // (trust, key id) → devices, per native version and over all of them.
    type Shares = BTreeMap<(KeyTrust, Option<String>), i64>;
    let mut by_native: BTreeMap<String, Shares> = BTreeMap::new();
    let mut totals = Shares::new();
    for count in counts {
        let trust = KeyTrust::of(count.key_id.as_deref(), signing);
        let key_id = match trust {
            KeyTrust::Registered | KeyTrust::Unregistered => count.key_id.clone(),
            KeyTrust::Unknown | KeyTrust::NoKey => None,
        };
        *by_native.entry(count.native_version.clone()).or_default().entry((trust, key_id.clone())).or_default() +=
            count.devices;
        *totals.entry((trust, key_id)).or_default() += count.devices;
    }
    let active_devices: i64 = totals.values().sum();
    let mut natives: Vec<(String, Shares)> = by_native.into_iter().collect();
    natives.sort_by(|(a, _), (b, _)| newest_first(a, b));
    KeyCoverage {
        app_id: signing.app_id.clone(),
        active_days,
        active_devices,
        totals: shares(None, totals),
        by_native: natives.into_iter().flat_map(|(native, counts)| shares(Some(native), counts)).collect(),
    }
}

fn shares(native_version: Option<String>, counts: BTreeMap<(KeyTrust, Option<String>), i64>) -> Vec<KeyShare> {
    let all: i64 = counts.values().sum();
    let mut rows: Vec<KeyShare> = counts
        .into_iter()
        .map(|((trust, key_id), devices)| KeyShare {
            native_version: native_version.clone(),
            trust,
            key_id,
            devices,
            percent: if all == 0 { 0.0 } else { (devices as f64 * 1000.0 / all as f64).round() / 10.0 },
        })
        .collect();
    rows.sort_by(|a, b| b.devices.cmp(&a.devices).then(a.trust.cmp(&b.trust)).then(a.key_id.cmp(&b.key_id)));
    rows
}

/// Native versions newest first; text that is not a version after every version.
fn newest_first(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |v: &str| capstan_core::version::parse_lenient(v).ok();
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "MIIBCgKCAQEAoldkey01";
    const NEW: &str = "MIIBCgKCAQEAnewkey01";

    fn count(native: &str, key_id: Option<&str>, devices: i64) -> KeyIdCount {
        KeyIdCount { native_version: native.into(), key_id: key_id.map(Into::into), devices }
    }

    #[test]
    fn coverage_groups_devices_by_trusted_key_per_native_version() {
        let signing = AppSigning {
            app_id: "app".into(),
            require_signed: true,
            keys: vec![SigningKeyRecord { key_id: NEW.into(), ..SigningKeyRecord::default() }],
        };
        let counts = [
            count("1.0.0", Some(OLD), 6),
            count("1.0.0", Some("MIIB"), 2),
            count("1.0.0", None, 2),
            count("1.10.0", Some(NEW), 9),
            count("1.10.0", Some(OLD), 1),
        ];
        let coverage = key_coverage(&signing, &counts, 30);
        assert_eq!(coverage.active_devices, 20);
        let row = |r: &KeyShare| (r.native_version.clone(), r.trust, r.key_id.clone(), r.devices, r.percent);
        assert_eq!(
            coverage.by_native.iter().map(row).collect::<Vec<_>>(),
            vec![
                (Some("1.10.0".into()), KeyTrust::Registered, Some(NEW.into()), 9, 90.0),
                (Some("1.10.0".into()), KeyTrust::Unregistered, Some(OLD.into()), 1, 10.0),
                (Some("1.0.0".into()), KeyTrust::Unregistered, Some(OLD.into()), 6, 60.0),
                (Some("1.0.0".into()), KeyTrust::Unknown, None, 2, 20.0),
                (Some("1.0.0".into()), KeyTrust::NoKey, None, 2, 20.0),
            ],
            "newest native version first (1.10 after 1.0 as versions, not as text), most devices first"
        );
        assert_eq!(
            coverage.totals.iter().map(row).collect::<Vec<_>>(),
            vec![
                (None, KeyTrust::Registered, Some(NEW.into()), 9, 45.0),
                (None, KeyTrust::Unregistered, Some(OLD.into()), 7, 35.0),
                (None, KeyTrust::Unknown, None, 2, 10.0),
                (None, KeyTrust::NoKey, None, 2, 10.0),
            ]
        );
    }

    #[test]
    fn no_devices_is_empty_coverage() {
        let coverage = key_coverage(&AppSigning::default(), &[], 7);
        assert_eq!((coverage.active_devices, coverage.totals.len(), coverage.by_native.len()), (0, 0, 0));
    }
}
