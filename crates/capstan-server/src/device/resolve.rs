//! Which channel and bundle a device gets: protocol.md §2's algorithm as a pure function of
//! one app's configuration snapshot and the device's info object, so it is tested without HTTP.

use std::sync::Arc;

use capstan_core::bundle::artifacts::Encoding;
use capstan_core::protocol::{
    DeviceInfo, ManifestEntry, RefusalKind, UpdateAnswer, UpdateOffer, supports_encrypted_manifest, supports_manifest,
};
use capstan_core::version::{
    CompatibilityRules, RolloutShare, VersionBlock, check_compatibility, parse_lenient, rollout_bucket,
};

use crate::cache::AppSnapshot;
use crate::store::BundleFile;
use capstan_core::api::{Channel, Delivery, Lane, Target};

/// How the device's channel was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSource {
    /// An override (operator or legacy `setChannel`).
    Override,
    /// The device's own `defaultChannel`.
    Requested,
    /// The app's default for the platform.
    Default,
}

/// Picks the channel (step 2). A `defaultChannel` naming a channel that does not exist falls
/// back to the app's default: a stale or mistyped channel in an app's config should not cut a
/// fleet off from updates. One that exists but is private is refused, so that a private channel
/// is never reached by guessing its name.
pub fn choose_channel<'a>(
    snapshot: &'a AppSnapshot,
    info: &DeviceInfo,
) -> Result<(&'a Channel, ChannelSource), UpdateAnswer> {
    if let Some(channel) = snapshot.overrides.channel_id(&info.device_id).and_then(|id| snapshot.channel_by_id(id)) {
        return Ok((channel, ChannelSource::Override));
    }
    if let Some(channel) = info.default_channel.as_deref().and_then(|name| snapshot.channel(name)) {
        if !channel.settings.public && !channel.settings.allow_self_set {
            return Err(UpdateAnswer::refusal(
                "cannot_update_via_private_channel",
                RefusalKind::Blocked,
                format!("channel `{}` is private and not self-assignable", channel.name),
            ));
        }
        return Ok((channel, ChannelSource::Requested));
    }
    default_channel(snapshot, &info.platform).map(|c| (c, ChannelSource::Default)).ok_or_else(|| {
        UpdateAnswer::refusal(
            "no_channel",
            RefusalKind::Failed,
            format!("no default channel for platform `{}`", info.platform),
        )
    })
}

/// The app's default channel for a platform: the designated default if it is public and allows
/// the platform, else the first public channel that does.
pub fn default_channel<'a>(snapshot: &'a AppSnapshot, platform: &str) -> Option<&'a Channel> {
    let usable = |c: &&Channel| c.settings.public && c.settings.allows_platform(platform);
    snapshot.channel(&snapshot.app.default_channel).filter(usable).or_else(|| snapshot.channels.iter().find(usable))
}

/// The code of the channel's platform, build-type or device-class switch that refuses this
/// device, if one does.
pub fn class_block(channel: &Channel, info: &DeviceInfo) -> Option<&'static str> {
    let s = &channel.settings;
    let code = if !s.allows_platform(&info.platform) {
        match &*info.platform {
            "ios" => "disabled_platform_ios",
            "android" => "disabled_platform_android",
            _ => "disabled_platform_electron",
        }
    } else if info.is_prod && !s.allow_prod {
        "disable_prod_build"
    } else if !info.is_prod && !s.allow_dev {
        "disable_dev_build"
    } else if info.is_emulator && !s.allow_emulator {
        "disable_emulator"
    } else if !info.is_emulator && !s.allow_device {
        "disable_device"
    } else {
        return None;
    };
    Some(code)
}

/// Whether a channel is listed to a device by `listChannels`.
pub fn listable(channel: &Channel, info: &DeviceInfo) -> bool {
    (channel.settings.public || channel.settings.allow_self_set) && class_block(channel, info).is_none()
}

/// The rollout key that shuffles devices differently for each rollout.
pub fn rollout_key(app_id: &str, channel: &str, version: &str) -> String {
    format!("{app_id}/{channel}/{version}")
}

/// What a channel offers one device (step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Nothing published for any line this device can run, nor for any other.
    Nothing,
    /// This bundle or the store build.
    Serve(Target),
    /// Every line needs a newer native shell than the device has: the bundle of the line it
    /// would reach first by updating from the store.
    NeedsNewerShell(String),
}

/// What one line offers one device: its rollout's bundle inside the rollout's share, else
/// its target (`None`: the store build).
fn line_offer<'a>(app_id: &str, channel: &Channel, lane: &'a Lane, device_id: &str) -> Option<Option<&'a str>> {
    if let Some(rollout) = &lane.rollout {
        let share = RolloutShare::from_basis_points(rollout.share_bp).unwrap_or(RolloutShare::ALL);
        if share.includes(rollout_bucket(&rollout_key(app_id, &channel.name, &rollout.version), device_id)) {
            return Some(Some(&rollout.version));
        }
    }
    lane.target.as_ref().map(Target::bundle)
}

/// What the channel offers this device: among the native lines its shell can run, the newest
/// bundle on offer (so a fix published for older shells also reaches newer ones when it is
/// the newest thing they can run); the store build only when no line offers a bundle.
pub fn offer(app_id: &str, channel: &Channel, device_id: &str, native: &semver::Version) -> Offer {
    let mut newest: Option<(semver::Version, &str)> = None;
    let mut builtin = false;
    let mut runnable_lines = 0;
    for lane in channel.lanes.iter().filter(|lane| lane.admits(native)) {
        runnable_lines += 1;
        match line_offer(app_id, channel, lane, device_id) {
            Some(Some(version)) => {
                let parsed = parse_lenient(version).unwrap_or(semver::Version::new(0, 0, 0));
                if newest.as_ref().is_none_or(|(best, _)| parsed > *best) {
                    newest = Some((parsed, version));
                }
            }
            Some(None) => builtin = true,
            None => {}
        }
    }
    match (newest, builtin) {
        (Some((_, version)), _) => Offer::Serve(Target::Bundle(version.to_owned())),
        (None, true) => Offer::Serve(Target::Builtin),
        (None, false) if runnable_lines == 0 => {
            // Lines are newest first: the last one needs the oldest shell.
            match channel.lanes.last().and_then(Lane::newest_bundle) {
                Some(version) => Offer::NeedsNewerShell(version.to_string()),
                None => Offer::Nothing,
            }
        }
        (None, false) => Offer::Nothing,
    }
}

/// The answer to `/updates` and the channel name it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution<'a> {
    /// What to send.
    pub answer: UpdateAnswer,
    /// The channel used, when one was found.
    pub channel: Option<&'a str>,
}

/// The whole algorithm. `info` must have passed `check_required`.
pub fn resolve<'a>(snapshot: &'a AppSnapshot, info: &DeviceInfo, base_url: &str) -> Resolution<'a> {
    let Ok(native) = parse_lenient(&info.version_build) else {
        let answer = UpdateAnswer::refusal(
            "semver_error",
            RefusalKind::Failed,
            format!("version_build `{}` is not a version", info.version_build),
        );
        return Resolution { answer, channel: None };
    };
    let (channel, _) = match choose_channel(snapshot, info) {
        Ok(found) => found,
        Err(answer) => {
            return Resolution { answer, channel: None };
        }
    };
    let answer = answer_for_channel(snapshot, channel, info, &native, base_url);
    Resolution { answer, channel: Some(&channel.name) }
}

fn answer_for_channel(
    snapshot: &AppSnapshot,
    channel: &Channel,
    info: &DeviceInfo,
    native: &semver::Version,
    base_url: &str,
) -> UpdateAnswer {
    let offered = offer(&snapshot.app.id, channel, &info.device_id, native);
    if let Some(code) = class_block(channel, info) {
        // Blocked answers name what the device would have got.
        let would_get = match &offered {
            Offer::Nothing => String::new(),
            Offer::Serve(target) => target.as_text().to_owned(),
            Offer::NeedsNewerShell(version) => version.clone(),
        };
        let message = format!("channel `{}` does not allow this device ({code})", channel.name);
        return UpdateAnswer::blocked(code, message, would_get);
    }
    let runs_builtin = info.on_builtin || info.version_name == info.version_build;
    let version = match offered {
        Offer::Nothing => return UpdateAnswer::up_to_date(),
        Offer::Serve(Target::Builtin) if runs_builtin => {
            return UpdateAnswer::refusal("already_on_builtin", RefusalKind::UpToDate, "Already on the store build");
        }
        Offer::Serve(Target::Builtin) => return UpdateAnswer::builtin(),
        Offer::Serve(Target::Bundle(version)) => version,
        Offer::NeedsNewerShell(version) => {
            // This exact message makes the plugin fire its breaking-update event, so the app
            // can ask the user to update from the store.
            return UpdateAnswer::blocked(VersionBlock::NeedsNewerNative.code(), "store_update_required", version);
        }
    };
    let Some(stored) = snapshot.bundles.get(&version) else {
        return UpdateAnswer::refusal(
            "misconfigured_channel",
            RefusalKind::Failed,
            format!("channel `{}` points at a missing bundle", channel.name),
        );
    };
    let same = |a: &str, b: &str| a == b || matches!((parse_lenient(a), parse_lenient(b)), (Ok(x), Ok(y)) if x == y);
    // A device on the store build reports its native version as its bundle name, so a bundle
    // with the native version's number counts as already running: offering it would make the
    // device download it on every check, since it would report the same name afterwards.
    if same(&version, &info.version_name) {
        return UpdateAnswer::up_to_date();
    }
    let bundle = &stored.bundle;
    let (Ok(bundle_version), Ok(min_native)) =
        (parse_lenient(&version), bundle.min_native_version.as_deref().map(parse_lenient).transpose())
    else {
        return UpdateAnswer::refusal(
            "misconfigured_channel",
            RefusalKind::Failed,
            format!("bundle {version} has an unreadable version"),
        );
    };
    let rules = CompatibilityRules {
        strategy: channel.settings.strategy,
        block_under_native: channel.settings.block_under_native,
    };
    match check_compatibility(rules, native, &bundle_version, min_native.as_ref()) {
        Ok(()) => {}
        Err(VersionBlock::NeedsNewerNative) => {
            // This exact message makes the plugin fire its breaking-update event, so the app
            // can ask the user to update from the store.
            return UpdateAnswer::blocked(VersionBlock::NeedsNewerNative.code(), "store_update_required", version);
        }
        Err(VersionBlock::UnderNative) if !runs_builtin => {
            // The channel went back (a rollback) to a bundle older than this device's native
            // build: the device must not stay on the bundle that was rolled away from, and the
            // store build is at least as new as what the channel now serves.
            return UpdateAnswer::builtin();
        }
        Err(block) => {
            return UpdateAnswer::blocked(
                block.code(),
                format!("bundle {version} is not allowed for native {native} ({})", block.code()),
                version,
            );
        }
    }
    // Only a 20-character key id names a key: plugins 8.2.0–8.40.7 send 4 characters, the same
    // (`MIIB`) for every 2048-bit key, so comparing those would refuse them every signed bundle.
    if let (Some(bundle_key), Some(device_key)) = (&bundle.key_id, &info.key_id)
        && device_key.len() == capstan_core::signing::KEY_ID_LEN
        && bundle_key != device_key
    {
        return UpdateAnswer::blocked(
            "key_id_mismatch",
            format!(
                "bundle {version} is signed with key {bundle_key}, but this app trusts key {device_key}: \
                 publish it signed with the app's key, or ship the new publicKey in a store update first"
            ),
            version,
        );
    }
    let encrypted = !bundle.session_key.is_empty();
    let manifest = delta_manifest(snapshot, channel, info, &version, encrypted, base_url);
    UpdateAnswer::Offer(UpdateOffer {
        url: super::download::url(base_url, &stored.blob_key),
        version,
        checksum: bundle.checksum.clone(),
        session_key: bundle.session_key.clone(),
        breaking: None,
        manifest,
    })
}

/// The `manifest` of a delta update (protocol.md §8), when the channel delivers deltas, the
/// plugin builds bundles file by file, and the bundle has per-file artifacts: plain bundles
/// uploaded since delta updates, and encrypted ones whose publishing client sent the signed
/// per-file hashes (`crate::delta_encrypted`). An encrypted bundle's manifest needs a plugin
/// that reads hex-signed hashes; its entries' `file_hash` are those signed hashes.
fn delta_manifest(
    snapshot: &AppSnapshot,
    channel: &Channel,
    info: &DeviceInfo,
    version: &str,
    encrypted: bool,
    base_url: &str,
) -> Option<Arc<[ManifestEntry]>> {
    let capable = match encrypted {
        true => supports_encrypted_manifest(&info.plugin_version),
        false => supports_manifest(&info.plugin_version),
    };
    if channel.settings.delivery != Delivery::Delta || !capable {
        return None;
    }
    snapshot.manifest(version, base_url, manifest_entries)
}

/// The manifest entries of a bundle's files (built once per snapshot: [`AppSnapshot::manifest`]).
fn manifest_entries(files: &[BundleFile], base_url: &str) -> Arc<[ManifestEntry]> {
    files
        .iter()
        .map(|file| ManifestEntry {
            file_name: match file.artifact.encoding {
                Encoding::Raw => file.path.clone(),
                Encoding::Brotli => format!("{}.br", file.path),
            },
            file_hash: file.artifact.sha256.clone(),
            download_url: super::download::url(base_url, &file.artifact.blob_key),
        })
        .collect()
}
