//! The `capstan-client` use-cases the console calls, against the real server: progress and
//! cancellation of a publish, which a terminal test cannot time reliably.

use std::sync::Mutex;

use capstan_client::ErrorCode;
use capstan_client::api::Api;
use capstan_client::publish::{PublishProgress, PublishRequest, publish};
use capstan_core::progress::{CancelFlag, NoProgress, Progress};

use crate::web_build;
use capstan_testkit::Server;

/// Records what a progress bar would show; optionally presses Cancel when the phase starts.
#[derive(Default)]
struct Bar {
    seen: Mutex<(Option<u64>, u64)>,
    cancel_on_start: Option<CancelFlag>,
}

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.seen.lock().unwrap().0 = Some(total_bytes);
        if let Some(cancel) = &self.cancel_on_start {
            cancel.cancel();
        }
    }
    fn advance(&self, bytes: u64) {
        self.seen.lock().unwrap().1 += bytes;
    }
}

fn request(root: &std::path::Path, version: &str) -> PublishRequest {
    PublishRequest {
        input: root.join("dist"),
        app: "com.example.client".into(),
        channel: "production".into(),
        version: Some(version.into()),
        ..PublishRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reports_progress_and_cancelling_the_upload_leaves_nothing() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    web_build(root.path());
    let api = Api::new(&server.url(), &server.token).unwrap();
    api.create_app(&capstan_core::api::CreateApp { id: "com.example.client".into(), name: None }).await.unwrap();

    // Cancel pressed as the upload starts: nothing is stored, nothing is assigned.
    let cancel = CancelFlag::new();
    let upload = Bar { cancel_on_start: Some(cancel.clone()), ..Bar::default() };
    let progress = PublishProgress { prepare: &NoProgress, sign: &NoProgress, upload: &upload, verify: &NoProgress };
    let error = publish(&api, &request(root.path(), "1.0.0"), progress, &cancel).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Cancelled, "{error}");
    assert!(api.bundles("com.example.client").await.unwrap().is_empty(), "no half-uploaded bundle");
    assert!(api.channel("com.example.client", "production").await.unwrap().lanes.is_empty());

    // Without cancel: both bars run to their totals, and the checksum is the server's.
    let (prepare, upload) = (Bar::default(), Bar::default());
    let progress = PublishProgress { prepare: &prepare, sign: &NoProgress, upload: &upload, verify: &NoProgress };
    let outcome = publish(&api, &request(root.path(), "1.0.0"), progress, &CancelFlag::new()).await.unwrap();
    let (total, done) = *prepare.seen.lock().unwrap();
    assert_eq!(Some(done), total, "packing progress reaches its total");
    assert_eq!(*upload.seen.lock().unwrap(), (Some(outcome.size), outcome.size), "upload progress counts every byte");
    assert_eq!(outcome.checksum, outcome.sha256);
    assert_eq!(outcome.channel_after.main_lane().and_then(|l| l.target_bundle()), Some("1.0.0"));
}

/// The console ships the zip the user previewed, pinned by its checksum: a different bundle
/// (the preview file replaced meanwhile) is refused before anything is uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_a_previewed_zip_refuses_any_other_bundle() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let dist = web_build(root.path());
    std::fs::write(root.path().join("MIN_NATIVE_VERSION"), "2.1.0\n").unwrap();
    let api = Api::new(&server.url(), &server.token).unwrap();
    api.create_app(&capstan_core::api::CreateApp { id: "com.example.client".into(), name: None }).await.unwrap();
    // The preview: a zip packed outside the project, as the console's staging area does.
    let staging = tempfile::tempdir().unwrap();
    let zip = staging.path().join("preview.zip");
    let report = capstan_core::bundle::pack_folder(
        &dist,
        &zip,
        &capstan_core::bundle::PackOptions::default(),
        &NoProgress,
        &CancelFlag::new(),
    )
    .unwrap();
    let previewed = |sha: &str| PublishRequest {
        input: zip.clone(),
        project_dir: Some(dist.clone()),
        expected_sha256: Some(sha.to_owned()),
        ..request(root.path(), "1.0.0")
    };
    let progress =
        PublishProgress { prepare: &NoProgress, sign: &NoProgress, upload: &NoProgress, verify: &NoProgress };

    let error = publish(&api, &previewed(&"0".repeat(64)), progress, &CancelFlag::new()).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
    assert!(error.to_string().contains("not the one previewed"), "{error}");
    assert!(api.bundles("com.example.client").await.unwrap().is_empty(), "nothing uploaded");

    let progress =
        PublishProgress { prepare: &NoProgress, sign: &NoProgress, upload: &NoProgress, verify: &NoProgress };
    let outcome = publish(&api, &previewed(&report.sha256), progress, &CancelFlag::new()).await.unwrap();
    assert_eq!(outcome.sha256, report.sha256);
    // MIN_NATIVE_VERSION still comes from the project, not from where the zip lies.
    assert_eq!(outcome.min_native_version.as_deref(), Some("2.1.0"));
}
