//! The fleet preview: what every device seen in the last N days would get after a change.
//!
//! It runs the decision of `/updates` itself ([`resolve::resolve`], never a copy) on the state
//! each device last reported (`store::decision_inputs`), once against the app as it is and once
//! against the app with the change made ([`change::after`], in memory). Devices are read
//! grouped by what the decision reads, so the decision runs once per group, not per device:
//!
//! - the device id matters to the decision only through an override and the rollout buckets
//!   of the lines its channel serves its native version from. Devices with an override (now or
//!   after the change) are read and decided one by one (there are few);
//! - a group whose channel rolls out a share on a line its native version runs is split by the
//!   rollout buckets: its device ids are streamed (a range of the decision-inputs index), their
//!   bucket computed (one SHA-256 per device and rollout), and each set of devices with the
//!   same "inside / outside" answers is decided once, with one of them as the example;
//! - every other group is decided once, with a device id no device has (it reaches no
//!   override, and no rollout decides anything for it).

pub mod change;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use capstan_core::api::{
    DEFAULT_PREVIEW_DAYS, MAX_PREVIEW_DAYS, Preview, PreviewGroup, PreviewOutcome, PreviewRequest,
};
use capstan_core::protocol::{DeviceInfo, RefusalKind, UpdateAnswer};
use capstan_core::version::{RolloutShare, parse_lenient, rollout_bucket};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::AppState;
use crate::cache::AppSnapshot;
use crate::device::resolve::{self, choose_channel, rollout_key};
use crate::error::AppError;
use crate::store::{Database, DecisionInputs};

/// Native versions listed per group.
const NATIVE_VERSIONS_LISTED: usize = 10;
/// A day, in ms.
const DAY_MS: i64 = 86_400_000;

/// Answers a preview request for `app_id`.
pub async fn preview(state: &AppState, app_id: &str, request: &PreviewRequest) -> Result<Preview, AppError> {
    let days = request.days.unwrap_or(DEFAULT_PREVIEW_DAYS);
    if !(1..=MAX_PREVIEW_DAYS).contains(&days) {
        return Err(AppError::bad_request("invalid_days", format!("days must be 1–{MAX_PREVIEW_DAYS}")));
    }
    let config = state.db().app_config(app_id).await?.ok_or_else(|| AppError::NotFound(format!("app `{app_id}`")))?;
    let after = change::after(state, &config, &request.change).await?;
    let mut pinned: Vec<String> =
        config.overrides.iter().chain(&after.overrides).map(|o| o.device_id.clone()).collect();
    pinned.sort();
    pinned.dedup();
    let before = AppSnapshot::from_config(config).0;
    let after = AppSnapshot::from_config(after).0;
    let since_ms = state.now_ms().saturating_sub(i64::from(days) * DAY_MS);
    let tally = fleet_outcomes(state, &before, &after, since_ms, &pinned).await?;
    Ok(tally.into_preview(days))
}

/// Decides every device seen since `since_ms` against `before` and `after`; `pinned` are the
/// devices with an override in either.
pub async fn fleet_outcomes(
    state: &AppState,
    before: &AppSnapshot,
    after: &AppSnapshot,
    since_ms: i64,
    pinned: &[String],
) -> Result<Tally, AppError> {
    let db = state.db();
    let app_id = before.app.id.as_str();
    let started = std::time::Instant::now();
    let mut groups = db.decision_groups(app_id, since_ms).await?;
    let grouped_ms = started.elapsed().as_millis();
    let group_count = groups.len();
    let pinned_devices = db.decision_inputs_of(app_id, since_ms, pinned).await?;
    let mut tally = Tally::default();
    let group_of: HashMap<DecisionInputs, usize> =
        groups.iter().enumerate().map(|(i, g)| (g.inputs.clone(), i)).collect();
    for (device_id, inputs) in &pinned_devices {
        // Counted in its group by the grouped read: decided on its own instead.
        if let Some(&i) = group_of.get(inputs) {
            groups[i].devices -= 1;
        }
        let inputs = inputs.borrowed();
        tally.add(decide(before, &inputs, device_id), decide(after, &inputs, device_id), &inputs, 1);
    }
    // Groups whose answer depends on rollout buckets, with the rollouts (key, share) that do.
    let mut split: Vec<(DecisionInputs, Vec<(String, u32)>)> = Vec::new();
    for group in groups.into_iter().filter(|g| g.devices > 0) {
        let inputs = group.inputs.borrowed();
        let mut rollouts = rollouts_read(before, &inputs);
        rollouts.extend(rollouts_read(after, &inputs));
        if rollouts.is_empty() {
            tally.add(
                decide(before, &inputs, NO_DEVICE),
                decide(after, &inputs, NO_DEVICE),
                &inputs,
                group.devices as u64,
            );
        } else {
            rollouts.sort();
            rollouts.dedup();
            split.push((group.inputs, rollouts));
        }
    }
    let split_started = std::time::Instant::now();
    let streamed = if split.is_empty() {
        0
    } else {
        split_by_buckets(state, before, after, since_ms, pinned, &split, &mut tally).await?
    };
    // What a preview cost, where: the figures to look at when one is slow.
    tracing::info!(
        app = %app_id,
        groups = group_count,
        grouped_ms,
        split_groups = split.len(),
        streamed_devices = streamed,
        split_ms = split_started.elapsed().as_millis(),
        total_ms = started.elapsed().as_millis(),
        "fleet preview"
    );
    Ok(tally)
}

/// A device id no device has (device ids are 1–64 characters): it reaches no override.
const NO_DEVICE: &str = "";

/// Group reads in flight at once: the database reads one group while the server hashes the
/// ids of another (one at a time, each side waited for the other: 40 % of two cores idle,
/// measured with perf during a PostgreSQL preview).
const CONCURRENT_GROUP_READS: usize = 2;

/// Reads the device ids of each `split` group (a range of the decision-inputs index), computes
/// their rollout buckets, and decides each set of a group's devices with the same "inside /
/// outside" answers once, with one of them as the example. Answers how many ids it read.
async fn split_by_buckets(
    state: &AppState,
    before: &AppSnapshot,
    after: &AppSnapshot,
    since_ms: i64,
    pinned: &[String],
    split: &[(DecisionInputs, Vec<(String, u32)>)],
    tally: &mut Tally,
) -> Result<u64, AppError> {
    let pinned: HashSet<&str> = pinned.iter().map(String::as_str).collect();
    let db = state.db();
    let app_id = before.app.id.as_str();
    // A FuturesUnordered kept at most CONCURRENT_GROUP_READS long (a `buffer_unordered` stream
    // over a closure trips rustc's higher-ranked lifetime check in the handler's Send bound).
    let mut groups = split.iter();
    let mut reads = FuturesUnordered::new();
    let mut streamed = 0;
    loop {
        while reads.len() < CONCURRENT_GROUP_READS {
            let Some((inputs, rollouts)) = groups.next() else { break };
            reads.push(read_group(db, app_id, since_ms, &pinned, inputs, rollouts));
        }
        let Some(read) = reads.next().await else { break };
        let GroupRead { inputs, classes, streamed: read } = read?;
        streamed += read;
        let inputs = inputs.borrowed();
        for (devices, example) in classes.into_values() {
            tally.add(decide(before, &inputs, &example), decide(after, &inputs, &example), &inputs, devices);
        }
    }
    Ok(streamed)
}

/// The devices of one split group, by their "inside / outside" answers.
struct GroupRead<'a> {
    inputs: &'a DecisionInputs,
    /// Inside-bits → (devices, an example device id).
    classes: HashMap<u64, (u64, String)>,
    /// Ids read, pinned ones included.
    streamed: u64,
}

/// Streams the ids of the devices with `inputs` and sorts them by which of `rollouts` (key,
/// share) they are inside; devices in `pinned` are left out (decided one by one).
async fn read_group<'a>(
    db: &dyn Database,
    app_id: &str,
    since_ms: i64,
    pinned: &HashSet<&str>,
    inputs: &'a DecisionInputs,
    rollouts: &[(String, u32)],
) -> Result<GroupRead<'a>, AppError> {
    let mut classes: HashMap<u64, (u64, String)> = HashMap::new();
    let mut streamed = 0u64;
    let mut visit = |device_id: &str| {
        streamed += 1;
        if pinned.contains(device_id) {
            return;
        }
        let mut inside = 0u64;
        let mut last: Option<(&str, u32)> = None;
        for (bit, (key, share_bp)) in rollouts.iter().enumerate().take(64) {
            // Pairs are sorted by key: one hash per rollout, shared by its shares.
            let bucket = match last {
                Some((last_key, bucket)) if last_key == key.as_str() => bucket,
                _ => rollout_bucket(key, device_id),
            };
            last = Some((key.as_str(), bucket));
            if bucket < *share_bp {
                inside |= 1 << bit;
            }
        }
        classes.entry(inside).or_insert_with(|| (0, device_id.to_owned())).0 += 1;
    };
    db.visit_group_devices(app_id, since_ms, inputs, &mut visit).await?;
    Ok(GroupRead { inputs, classes, streamed })
}

/// The partial rollouts (key, share in basis points) the decision for these inputs reads in
/// `snapshot`: those of the lines of the device's channel that admit its native version. Only
/// for devices without an override (the others are decided one by one).
fn rollouts_read(snapshot: &AppSnapshot, inputs: &DecisionInputs<&str>) -> Vec<(String, u32)> {
    let info = device_info(&snapshot.app.id, inputs, NO_DEVICE);
    let (Ok((channel, _)), Ok(native)) = (choose_channel(snapshot, &info), parse_lenient(inputs.native_version)) else {
        return Vec::new();
    };
    channel
        .lanes
        .iter()
        .filter(|lane| lane.admits(&native))
        .filter_map(|lane| lane.rollout.as_ref())
        .filter_map(|rollout| {
            let share = RolloutShare::from_basis_points(rollout.share_bp).ok()?.basis_points();
            (share > 0 && share < RolloutShare::ALL.basis_points())
                .then(|| (rollout_key(&snapshot.app.id, &channel.name, &rollout.version), share))
        })
        .collect()
}

/// The device info `/updates` would have read, rebuilt from the stored inputs. Fields the
/// decision does not read are empty (the plugin version only chooses between a zip and a
/// delta manifest of the same bundle).
fn device_info<'a>(app_id: &'a str, inputs: &DecisionInputs<&'a str>, device_id: &'a str) -> DeviceInfo<'a> {
    DeviceInfo {
        platform: Cow::Borrowed(inputs.platform),
        device_id: Cow::Borrowed(device_id),
        app_id: Cow::Borrowed(app_id),
        version_build: Cow::Borrowed(inputs.native_version),
        version_name: Cow::Borrowed(inputs.bundle_version),
        on_builtin: inputs.on_builtin,
        is_emulator: inputs.is_emulator,
        is_prod: inputs.is_prod,
        default_channel: inputs.requested_channel.map(Cow::Borrowed),
        key_id: inputs.key_id.map(Cow::Borrowed),
        ..DeviceInfo::default()
    }
}

/// One device's answer, as the preview groups it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decision {
    /// What it gets.
    pub outcome: PreviewOutcome,
    /// From which channel.
    pub channel: Option<String>,
    /// Whether an override chose that channel.
    pub pinned: bool,
}

/// Runs `/updates`' decision for a device.
pub fn decide(snapshot: &AppSnapshot, inputs: &DecisionInputs<&str>, device_id: &str) -> Decision {
    let info = device_info(&snapshot.app.id, inputs, device_id);
    let resolution = resolve::resolve(snapshot, &info, "");
    let pinned = resolution.channel.is_some()
        && snapshot.overrides.channel_id(device_id).and_then(|id| snapshot.channel_by_id(id)).is_some();
    Decision { outcome: outcome(&resolution.answer), channel: resolution.channel.map(str::to_owned), pinned }
}

/// An answer of `/updates` as a preview outcome.
pub fn outcome(answer: &UpdateAnswer) -> PreviewOutcome {
    match answer {
        UpdateAnswer::Offer(offer) => PreviewOutcome::Receives { version: offer.version.clone() },
        UpdateAnswer::Builtin { .. } => PreviewOutcome::StoreBuild,
        UpdateAnswer::Refusal(refusal) => match refusal.kind {
            RefusalKind::UpToDate => PreviewOutcome::Stays,
            RefusalKind::Blocked => PreviewOutcome::Blocked {
                code: refusal.error.to_owned(),
                would_get: refusal.version.clone().unwrap_or_default(),
            },
            _ => PreviewOutcome::Refused { code: refusal.error.to_owned() },
        },
    }
}

/// Devices counted by what they get before and after the change.
#[derive(Debug, Default)]
pub struct Tally {
    groups: HashMap<GroupKey, (u64, BTreeSet<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    before: PreviewOutcome,
    after: Decision,
    current: Option<String>,
}

impl Tally {
    fn add(&mut self, before: Decision, after: Decision, inputs: &DecisionInputs<&str>, devices: u64) {
        let keeps = !matches!(after.outcome, PreviewOutcome::Receives { .. } | PreviewOutcome::StoreBuild);
        let current = keeps.then(|| inputs.bundle_version.to_owned());
        let entry = self.groups.entry(GroupKey { before: before.outcome, after, current }).or_default();
        entry.0 += devices;
        entry.1.insert(inputs.native_version.to_owned());
    }

    /// The groups, largest first.
    pub fn into_preview(self, days: u32) -> Preview {
        let mut groups: Vec<PreviewGroup> = self
            .groups
            .into_iter()
            .map(|(key, (devices, natives))| {
                let more = natives.len().saturating_sub(NATIVE_VERSIONS_LISTED) as u32;
                PreviewGroup {
                    devices,
                    after: key.after.outcome,
                    before: key.before,
                    channel: key.after.channel,
                    pinned: key.after.pinned,
                    current: key.current,
                    native_versions: natives.into_iter().take(NATIVE_VERSIONS_LISTED).collect(),
                    native_versions_more: more,
                }
            })
            .collect();
        groups.sort_by(|a, b| {
            b.devices
                .cmp(&a.devices)
                .then_with(|| (&a.after, &a.channel, &a.current).cmp(&(&b.after, &b.channel, &b.current)))
        });
        let devices = groups.iter().map(|g| g.devices).sum();
        let changed = groups.iter().filter(|g| g.before != g.after).map(|g| g.devices).sum();
        Preview { days, devices, changed, groups }
    }
}
