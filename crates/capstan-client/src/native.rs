//! Native-change detection at publish: is this bundle's native surface the one its shells have?
//!
//! A live update replaces only the web layer. If the Capacitor project a build belongs to
//! changed natively (a plugin added, `@capacitor/*` bumped, `capacitor.config` or `android/`,
//! `ios/` edited) since the bundle its shells run, shells without the change must not get the
//! new bundle: its MIN_NATIVE_VERSION has to rise. [`review`] fingerprints the project
//! (`capstan_core::native`), fetches the fingerprint the server recorded for the bundle to
//! compare with, and applies the same rule the server applies when the channel is changed
//! (`capstan_core::native::check_native`), so the console and the CLI can stop a publish before
//! anything is uploaded, say what changed, and suggest a version.

use std::path::{Path, PathBuf};

use capstan_core::api::Channel;
use capstan_core::native::{self, NativeCheck, NativeFingerprint, Reference, check_native, reference_version};
use semver::Version;
use serde::Serialize;

use crate::api::Api;
use crate::discovery::{Found, Source};
use crate::error::{ClientError, ClientResult};

/// What the native check found for a publish.
#[derive(Debug, Clone, Serialize)]
pub struct NativeReview {
    /// The Capacitor project the build belongs to; `None` when none was found above it.
    pub project: Option<PathBuf>,
    /// Its native fingerprint, recorded with the bundle.
    #[serde(skip)]
    pub fingerprint: Option<NativeFingerprint>,
    /// The rule's verdict; `None` without a project.
    pub check: Option<NativeCheck>,
    /// The MIN_NATIVE_VERSION to raise to when the check stops the publish: the native version
    /// the project declares (Gradle `versionName`, Xcode `MARKETING_VERSION`), else the bundle's
    /// version, as a release script would.
    pub suggested_min_native: Option<Found<Version>>,
}

impl NativeReview {
    /// Whether publishing must stop (unless forced).
    pub fn stops(&self) -> bool {
        self.check.as_ref().is_some_and(NativeCheck::stops)
    }

    /// The review in words, for a person: what was compared and what to do.
    pub fn sentence(&self) -> String {
        let Some(check) = &self.check else {
            return "no Capacitor project found above the build: native changes are not checked".into();
        };
        match (check, &self.suggested_min_native) {
            (NativeCheck::Changed { .. }, Some(suggested)) => format!(
                "{}; e.g. --min-native {} ({}), which --raise-min-native takes; or --force-native to publish anyway (audited)",
                check.sentence(),
                suggested.value,
                suggested.source
            ),
            _ => check.sentence(),
        }
    }
}

/// Reviews the build at `project_dir` (the folder, or where its project is) for channel
/// `channel` of `app`, as a bundle of `version` with MIN_NATIVE_VERSION `min_native`.
pub async fn review(
    api: &Api,
    app: &str,
    channel: &Channel,
    project_dir: &Path,
    version: &Version,
    min_native: Option<&Version>,
) -> ClientResult<NativeReview> {
    let start = project_dir.to_path_buf();
    let scanned = tokio::task::spawn_blocking(move || -> ClientResult<_> {
        let Some(project) = native::find_project(&start) else { return Ok(None) };
        let invalid = |e: native::NativeError| ClientError::Invalid(format!("native fingerprint: {e}"));
        let fingerprint = native::fingerprint(&project).map_err(invalid)?;
        let declared = native::declared_native_version(&project).map_err(invalid)?;
        Ok(Some((project.root, fingerprint, declared)))
    })
    .await
    .map_err(|e| ClientError::Invalid(format!("native fingerprint: {e}")))??;
    let Some((root, fingerprint, declared)) = scanned else {
        return Ok(NativeReview { project: None, fingerprint: None, check: None, suggested_min_native: None });
    };

    let line = min_native.map(Version::to_string);
    let check = match reference_version(channel, line.as_deref()) {
        None => check_native(&fingerprint, min_native, None),
        Some(reference) => {
            let bundle = api.bundle(app, &reference).await?;
            let reference_min =
                bundle.as_ref().and_then(|b| b.min_native_version.as_deref()).and_then(|v| Version::parse(v).ok());
            let recorded = api.native_fingerprint(app, &reference).await?;
            let reference =
                Reference { version: &reference, min_native: reference_min.as_ref(), fingerprint: recorded.as_ref() };
            check_native(&fingerprint, min_native, Some(reference))
        }
    };
    let suggested_min_native = match declared {
        Some(declared) => {
            Some(Found { value: declared.version, source: Source::File { path: root.join(&declared.file) } })
        }
        None => Some(Found { value: version.clone(), source: Source::BundleVersion }),
    };
    Ok(NativeReview { project: Some(root), fingerprint: Some(fingerprint), check: Some(check), suggested_min_native })
}
