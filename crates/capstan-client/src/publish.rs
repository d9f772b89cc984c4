//! Publishing a web build: pack (or take a zip), check, upload, verify, assign to a channel.
//!
//! The rules live here so the CLI and the console refuse the same things:
//! - a version that already exists on the server is refused (versions are immutable); with
//!   `force`, an identical bundle is reused (so a CI job can be retried) but different bytes
//!   under the same version are still refused;
//! - a version not newer than what the channel serves (target or rollout) is refused unless
//!   forced (shipping an older bundle by accident is how devices go backwards);
//! - the server's SHA-256 must equal the local one, or nothing is assigned;
//! - when the app has registered signing keys, the bundle is signed and encrypted with this
//!   machine's key (`CAPSTAN_SIGNING_KEY`, else the keychain's: [`crate::signing`]), which must
//!   pair with a registered public key; what the server stores is then downloaded from the URL
//!   devices get and opened exactly as a device opens it, or nothing is assigned; then every
//!   file's SHA-256 is signed and sent, so devices can get it file by file (delta updates;
//!   [`crate::encrypted_files`]).
//!
//! Everything that can be refused is checked before any byte is uploaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use capstan_core::bundle::{self, BundleReport, InspectLimits, PackOptions};
use capstan_core::progress::{CancelFlag, Progress};
use capstan_core::version::RolloutShare;
use semver::Version;
use serde::Serialize;

use capstan_core::api::{
    Bundle, Channel, DeltaSize, PlannedBundle, Preview, ProposedChange, Publish, StartRollout, UploadParams,
    describe_line,
};
use capstan_core::release::{Refusal, check_newer};
use capstan_core::signing::{SignedField, SigningKey, VerifyingKey, open_signed_sha256};

use crate::api::Api;
use crate::blocking::run_with_progress;
use crate::discovery::{self, Found, Source};
use crate::encrypted_files;
use crate::error::{ClientError, ClientResult};
use crate::native::{NativeReview, review};
use crate::signed;
use crate::signing::{KeySource, KeyStore, SIGNING_KEY_ENV, key_from_env, local_key, registered_pair};

/// What to publish where.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    /// A web build folder, or a bundle zip.
    pub input: PathBuf,
    /// App id.
    pub app: String,
    /// Channel to assign the bundle to.
    pub channel: String,
    /// Version; defaults to the nearest `package.json`'s.
    pub version: Option<String>,
    /// MIN_NATIVE_VERSION; defaults to a `MIN_NATIVE_VERSION` file, else the channel's.
    pub min_native: Option<String>,
    /// Roll out to this share of the channel's devices (0–100); `None` or 100 means everyone.
    pub rollout_percent: Option<f64>,
    /// Release notes.
    pub notes: Option<String>,
    /// Publish even if the version is not newer than the channel's; reuse an identical
    /// bundle that already exists.
    pub force: bool,
    /// Where `package.json` and `MIN_NATIVE_VERSION` are looked for when `input` is not in
    /// the project (a zip packed elsewhere); defaults to `input`.
    pub project_dir: Option<PathBuf>,
    /// The SHA-256 the user saw in a preview: publishing stops, before uploading, if the
    /// bundle about to ship is not that one.
    pub expected_sha256: Option<String>,
    /// When the project changed natively and MIN_NATIVE_VERSION was not raised, raise it to the
    /// suggested value (the native version the project declares, else the bundle's version).
    pub raise_min_native: bool,
    /// Publish even when the project changed natively and MIN_NATIVE_VERSION was not raised
    /// (audited on the server).
    pub force_native: bool,
}

impl PublishRequest {
    /// Where the project's `package.json` and `MIN_NATIVE_VERSION` are looked up.
    fn project(&self) -> &Path {
        self.project_dir.as_deref().unwrap_or(&self.input)
    }
}

/// What a publish did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    /// App id.
    pub app: String,
    /// Channel.
    pub channel: String,
    /// Version published.
    pub version: String,
    /// Where the version came from.
    pub version_source: Source,
    /// MIN_NATIVE_VERSION of the bundle.
    pub min_native_version: Option<String>,
    /// Where it came from.
    pub min_native_source: Source,
    /// SHA-256 computed locally, and verified equal to the server's.
    pub sha256: String,
    /// Checksum devices verify (as the server reports it).
    pub checksum: String,
    /// Zip size in bytes.
    pub size: u64,
    /// Files in the bundle.
    pub files: usize,
    /// Warnings about the bundle, in words.
    pub warnings: Vec<String>,
    /// Whether an identical bundle already on the server was reused (`force`).
    pub reused: bool,
    /// Rollout percentage, when not everyone gets it.
    pub rollout_percent: Option<f64>,
    /// The channel after the change.
    pub channel_after: Channel,
    /// What the native check found, in words.
    pub native: String,
    /// How the bundle was signed, when the app signs its bundles.
    pub signature: Option<Signature>,
    /// What a device on the previous bundle downloads with a delta update (the server's
    /// figure; `None` when it has none to give).
    pub delta: Option<DeltaSize>,
}

/// How a published bundle was signed.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// The key id devices with the matching `publicKey` report.
    pub key_id: String,
    /// Where the private key came from.
    pub key_source: KeySource,
}

/// The progress sinks of a publish: one per phase, so a UI can show two bars.
#[derive(Clone, Copy)]
pub struct PublishProgress<'a> {
    /// Packing the folder (or checking the zip).
    pub prepare: &'a dyn Progress,
    /// Encrypting (signed bundles only).
    pub sign: &'a dyn Progress,
    /// Uploading.
    pub upload: &'a dyn Progress,
    /// Downloading what the server stores, to open it as a device does (signed bundles only).
    pub verify: &'a dyn Progress,
}

/// What the checks before packing decided.
struct Plan {
    version: Found<Version>,
    min_native: Found<Option<Version>>,
    existing: Option<Bundle>,
    share: Option<RolloutShare>,
    native: NativeReview,
    signing: Option<SigningPlan>,
}

/// The key a signed publish uses and the registered public key it pairs with.
struct SigningPlan {
    key: Arc<SigningKey>,
    source: KeySource,
    public: VerifyingKey,
}

/// Packs or checks the input, uploads it, verifies the checksum and assigns it to the channel.
pub async fn publish(
    api: &Api,
    request: &PublishRequest,
    progress: PublishProgress<'_>,
    cancel: &CancelFlag,
) -> ClientResult<PublishOutcome> {
    let plan = plan(api, request).await?;
    let min_native = &plan.min_native;

    // Pack into a private temporary folder that disappears with this function.
    let work = tempfile::tempdir().map_err(|source| ClientError::Io { path: std::env::temp_dir(), source })?;
    let (zip, report) = prepare(&request.input, work.path(), progress.prepare, cancel).await?;
    if cancel.is_cancelled() {
        return Err(ClientError::Cancelled);
    }
    if let Some(expected) = &request.expected_sha256
        && *expected != report.sha256
    {
        return Err(ClientError::Invalid(format!(
            "the bundle is not the one previewed (SHA-256 {} instead of {expected}): check it again before publishing",
            report.sha256
        )));
    }

    let version = plan.version.value.to_string();
    let (stored, reused) = match plan.existing {
        Some(existing) if same_bundle(&existing, &report.sha256, plan.signing.as_ref()) => (existing, true),
        Some(existing) => {
            let existing_signed = !existing.session_key.is_empty();
            let what = if existing_signed == plan.signing.is_some() {
                "with different contents"
            } else if plan.signing.is_some() {
                "unsigned (or signed with another key), and this app's bundles are signed now"
            } else {
                "signed, and this publish would not be"
            };
            return Err(ClientError::VersionRefused(format!(
                "bundle {version} already exists on the server {what}; versions are immutable, even with --force: bump the version"
            )));
        }
        None => {
            let mut params = UploadParams {
                version: version.clone(),
                sha256: Some(report.sha256.clone()),
                min_native_version: min_native.value.as_ref().map(Version::to_string),
                notes: request.notes.clone().filter(|n| !n.is_empty()),
                ..UploadParams::default()
            };
            let upload = match &plan.signing {
                Some(signing) => {
                    let sealed = signed::seal(signing.key.clone(), &zip, work.path(), progress.sign, cancel).await?;
                    params.sha256 = Some(sealed.sha256.clone());
                    params.session_key = Some(sealed.fields.session_key);
                    params.checksum = Some(sealed.fields.checksum);
                    params.key_id = Some(sealed.fields.key_id);
                    sealed.path
                }
                None => zip.clone(),
            };
            let stored = api.upload_bundle(&request.app, &params, &upload, progress.upload, cancel).await?;
            let sent = params.sha256.unwrap_or_default();
            if stored.sha256 != sent {
                return Err(ClientError::ChecksumMismatch { local: sent, server: stored.sha256 });
            }
            (stored, false)
        }
    };
    let mut warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    match &plan.signing {
        Some(signing) => {
            let verify = progress.verify;
            signed::check_stored(
                api,
                &request.app,
                &stored,
                &signing.public,
                &report.sha256,
                work.path(),
                verify,
                cancel,
            )
            .await?;
            // Before any channel points at it, so its first devices already get it file by file.
            if !reused
                && let Some(why) =
                    encrypted_files::attach(api, &request.app, &version, signing.key.clone(), &zip, cancel).await?
            {
                warnings.push(why);
            }
        }
        None if stored.sha256 != report.sha256 => {
            return Err(ClientError::ChecksumMismatch { local: report.sha256, server: stored.sha256 });
        }
        None => {}
    }
    // An encrypted bundle has its per-file copies only once they are attached, so its delta
    // size is read again after that.
    let delta = match &plan.signing {
        Some(_) => api.bundle(&request.app, &version).await?.and_then(|b| b.delta),
        None => stored.delta.clone(),
    };
    // Recorded before the channel changes: the server checks it there, and the next publish
    // compares with it.
    if let Some(fingerprint) = &plan.native.fingerprint
        && stored.native_digest.as_deref() != Some(fingerprint.digest.as_str())
    {
        api.set_native_fingerprint(&request.app, &version, fingerprint).await?;
    }

    let (force, force_native) = (request.force, request.force_native);
    let channel_after = match plan.share {
        Some(share) if share != RolloutShare::ALL => {
            let body = StartRollout { version: version.clone(), percent: share.percent(), force, force_native };
            api.start_rollout(&request.app, &request.channel, &body).await?
        }
        _ => {
            let body = Publish { version: version.clone(), force, force_native };
            api.publish(&request.app, &request.channel, &body).await?
        }
    };
    Ok(PublishOutcome {
        app: request.app.clone(),
        channel: request.channel.clone(),
        version,
        version_source: plan.version.source,
        min_native_version: stored.min_native_version.clone(),
        min_native_source: min_native.source.clone(),
        sha256: report.sha256,
        checksum: stored.checksum,
        size: report.zip_size,
        files: report.files.len(),
        warnings,
        reused,
        rollout_percent: plan.share.filter(|s| *s != RolloutShare::ALL).map(RolloutShare::percent),
        channel_after,
        native: plan.native.sentence(),
        signature: plan.signing.map(|s| Signature { key_id: s.public.key_id().to_owned(), key_source: s.source }),
        delta,
    })
}

/// Whether `existing` is the bundle about to be published: the same plain zip, signed the same
/// way (for a signed bundle, its signed checksum opens with the key to the zip's SHA-256).
fn same_bundle(existing: &Bundle, plain_sha256: &str, signing: Option<&SigningPlan>) -> bool {
    match signing {
        None => existing.session_key.is_empty() && existing.sha256 == plain_sha256,
        Some(signing) => {
            !existing.session_key.is_empty()
                && existing.key_id.as_deref() == Some(signing.public.key_id())
                && open_signed_sha256(&signing.public, &existing.checksum, SignedField::Checksum)
                    .is_ok_and(|sha256| sha256 == plain_sha256)
        }
    }
}

/// What publishing `request` would give the devices seen in the last `days`: every check of a
/// publish runs, nothing is packed, uploaded or changed.
pub async fn preview_publish(api: &Api, request: &PublishRequest, days: Option<u32>) -> ClientResult<Preview> {
    let plan = plan(api, request).await?;
    let version = plan.version.value.to_string();
    let bundle = match &plan.existing {
        Some(_) => None,
        None => Some(PlannedBundle {
            min_native_version: plan.min_native.value.as_ref().map(Version::to_string),
            key_id: plan.signing.as_ref().map(|s| s.public.key_id().to_owned()),
        }),
    };
    let channel = request.channel.clone();
    let change = match plan.share.filter(|s| *s != RolloutShare::ALL) {
        Some(share) => {
            ProposedChange::RolloutStart { channel, version, percent: share.percent(), force: request.force, bundle }
        }
        None => ProposedChange::Publish { channel, version, force: request.force, bundle },
    };
    api.preview(&request.app, change, days).await
}

/// Decides, before any work, whether this publish is signed and with which key. An app with
/// registered keys (or requiring signed bundles) needs this machine's key, and it must pair
/// with a registered public key.
async fn signing_plan(api: &Api, app: &str) -> ClientResult<Option<SigningPlan>> {
    let signing = match api.signing(app).await {
        Ok(signing) => signing,
        // A server from before signing existed (the app itself was found just before).
        Err(ClientError::Api { status: 404, .. }) => return Ok(None),
        Err(other) => return Err(other),
    };
    if signing.keys.is_empty() && !signing.require_signed {
        if key_from_env(std::env::var(SIGNING_KEY_ENV).ok())?.is_some() {
            return Err(ClientError::Invalid(format!(
                "{SIGNING_KEY_ENV} is set, but app `{app}` has no registered public key: an admin registers it \
                 (`capstan keys register --app {app}`), or unset {SIGNING_KEY_ENV} to publish unsigned"
            )));
        }
        return Ok(None);
    }
    let Some(local) = local_key(app, &KeyStore::new()).await? else {
        let why = if signing.require_signed { "requires signed bundles" } else { "signs its bundles" };
        return Err(ClientError::Invalid(format!(
            "app `{app}` {why} and this machine has no private key for it: `capstan keys import FILE --app {app}` \
             imports a backup, CI sets {SIGNING_KEY_ENV}"
        )));
    };
    let public = registered_pair(&local.key, &signing)?;
    Ok(Some(SigningPlan { key: local.key, source: local.source, public }))
}

/// Checks everything that can be refused before any work: version, channel, existing bundle.
async fn plan(api: &Api, request: &PublishRequest) -> ClientResult<Plan> {
    if !request.input.exists() {
        return Err(ClientError::Invalid(format!("{} does not exist", request.input.display())));
    }
    let share = match request.rollout_percent {
        Some(percent) => Some(RolloutShare::from_percent(percent).map_err(|e| ClientError::Invalid(e.to_string()))?),
        None => None,
    };
    let version = resolve_version(request)?;
    let channel = api.channel(&request.app, &request.channel).await?;
    let shown = &version.value;
    let signing = signing_plan(api, &request.app).await?;
    let existing = api.bundle(&request.app, &shown.to_string()).await?;
    if existing.is_some() && !request.force {
        return Err(ClientError::VersionRefused(format!(
            "bundle {shown} already exists on the server; versions are immutable: bump the version ({}), \
             or pass --force to assign the identical existing bundle",
            version.source
        )));
    }
    let mut min_native = min_native(request, &channel, api).await?;
    let mut native = review(api, &request.app, &channel, request.project(), shown, min_native.value.as_ref()).await?;
    if native.stops() && existing.is_none() {
        match (native.suggested_min_native.clone(), request.raise_min_native) {
            (Some(suggested), true) => {
                min_native = Found { value: Some(suggested.value.clone()), source: suggested.source.clone() };
                native =
                    review(api, &request.app, &channel, request.project(), shown, min_native.value.as_ref()).await?;
                if native.stops() {
                    return Err(ClientError::NativeChanged(format!(
                        "the suggested MIN_NATIVE_VERSION {} is not above the bundle compared with: {}; pass --min-native",
                        suggested.value,
                        native.sentence()
                    )));
                }
            }
            _ if request.force_native => {}
            _ => return Err(ClientError::NativeChanged(format!("channel `{}`: {}", channel.name, native.sentence()))),
        }
    }
    // The bundle's native line: the one it is published or rolled out on.
    let line = match &existing {
        Some(bundle) => bundle.min_native_version.clone(),
        None => min_native.value.as_ref().map(Version::to_string),
    };
    if share.is_some_and(|s| s != RolloutShare::ALL)
        && let Some(running) = channel.lane(line.as_deref()).and_then(|l| l.rollout.as_ref())
    {
        return Err(ClientError::Conflict(format!(
            "channel `{}` is already rolling out {} to {} % on {}: finish or abort that rollout first",
            channel.name,
            running.version,
            running.percent(),
            describe_line(line.as_deref())
        )));
    }
    // The server enforces this rule too; checking it here refuses before anything is uploaded.
    if let Err(Refusal::NotNewer { serving, on, .. }) =
        check_newer(&channel, line.as_deref(), &shown.to_string(), request.force)
    {
        return Err(ClientError::VersionRefused(format!(
            "channel `{}` already serves {serving}{on}; {shown} is not newer: bump the version ({}), or pass --force to publish it anyway",
            channel.name, version.source
        )));
    }
    Ok(Plan { version, min_native, existing, share, native, signing })
}

/// The version: explicit, else the nearest `package.json`.
pub fn resolve_version(request: &PublishRequest) -> ClientResult<Found<Version>> {
    if let Some(text) = request.version.as_deref() {
        let value = discovery::parse_version(text).map_err(|e| ClientError::Invalid(e.to_string()))?;
        return Ok(Found { value, source: Source::Flag });
    }
    discovery::package_version(request.project())?.ok_or_else(|| {
        ClientError::Invalid(format!(
            "no version: no package.json with a \"version\" above {}; pass --version",
            request.project().display()
        ))
    })
}

/// MIN_NATIVE_VERSION: explicit, else the nearest file, else the channel's current bundle's.
async fn min_native(request: &PublishRequest, channel: &Channel, api: &Api) -> ClientResult<Found<Option<Version>>> {
    if let Some(text) = request.min_native.as_deref() {
        let value = capstan_core::version::parse_lenient(text).map_err(|e| ClientError::Invalid(e.to_string()))?;
        return Ok(Found { value: Some(value), source: Source::Flag });
    }
    if let Some(found) = discovery::min_native_file(request.project())? {
        return Ok(Found { value: Some(found.value), source: found.source });
    }
    // The bundle the newest shells get: what the channel's newest native line serves.
    if let Some(current) = channel.main_lane().and_then(|l| l.target_bundle())
        && let Some(bundle) = api.bundle(&request.app, current).await?
    {
        let value = bundle.min_native_version.as_deref().and_then(|v| capstan_core::version::parse_lenient(v).ok());
        return Ok(Found { value, source: Source::Channel { bundle: bundle.version } });
    }
    Ok(Found { value: None, source: Source::None })
}

/// Packs a folder into `work`, or checks a zip in place; returns the zip to upload.
async fn prepare(
    input: &Path,
    work: &Path,
    progress: &dyn Progress,
    cancel: &CancelFlag,
) -> ClientResult<(PathBuf, BundleReport)> {
    let (input, cancel) = (input.to_path_buf(), cancel.clone());
    if input.is_dir() {
        let zip = work.join("bundle.zip");
        let out = zip.clone();
        let report = run_with_progress(progress, move |p| {
            bundle::pack_folder(&input, &out, &PackOptions::default(), p, &cancel).map_err(|source| match source {
                bundle::PackError::Cancelled => ClientError::Cancelled,
                source => ClientError::Pack { dir: input.clone(), source },
            })
        })
        .await?;
        Ok((zip, report))
    } else {
        let zip = input.clone();
        let report = run_with_progress(progress, move |p| {
            bundle::inspect_zip(&input, &InspectLimits::default(), p, &cancel).map_err(|source| match source {
                bundle::InspectError::Cancelled => ClientError::Cancelled,
                source => ClientError::Inspect { zip: input.clone(), source },
            })
        })
        .await?;
        Ok((zip, report))
    }
}
