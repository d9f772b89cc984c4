//! The plugin-shaped manifest installer against artifacts of real bundles, served over HTTP by
//! tower-http's `ServeDir` (single ranges answered with 206, as the update server must).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use capstan_core::bundle::artifacts::{
    ArtifactReport, DirectorySink, Encoding, ManifestFile, delta_download_size, generate_artifacts,
};
use capstan_core::bundle::{InspectLimits, PackOptions, pack_folder};
use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_testkit::manifest::{Cut, Device, FetchError, ManifestEntry, assert_same_tree, unzip_bundle};
use tempfile::TempDir;

/// Serves `store` under `/artifacts` (tower-http, Range-aware), `/no-range` (always the whole
/// file with 200, like servers that ignore Range) and `/encoded` (adds a Content-Encoding).
fn serve(store: PathBuf) -> SocketAddr {
    async fn whole_file(State(store): State<PathBuf>, UrlPath(name): UrlPath<String>) -> impl IntoResponse {
        match tokio::fs::read(store.join(name)).await {
            Ok(bytes) => (StatusCode::OK, bytes).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }
    async fn encoded(state: State<PathBuf>, name: UrlPath<String>) -> impl IntoResponse {
        ([(header::CONTENT_ENCODING, "br")], whole_file(state, name).await)
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new()
                .nest_service("/artifacts", tower_http::services::ServeDir::new(&store))
                .route("/no-range/{name}", get(whole_file))
                .route("/encoded/{name}", get(encoded))
                .with_state(store);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    receiver.recv().unwrap()
}

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Minified-looking JavaScript: compresses well.
fn js(len: usize, seed: u64) -> Vec<u8> {
    let words = ["function", "return", "const", "=>", "this.", "null", "(e,t)", "{", "}", ";"];
    let mut text: Vec<u8> = noise(len, seed).iter().flat_map(|b| words[*b as usize % words.len()].bytes()).collect();
    text.truncate(len);
    text
}

fn write(root: &Path, relative: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn web_build(root: &Path) {
    write(root, "index.html", "<!doctype html><script src=\"assets/app.js\"></script>");
    write(root, "assets/app.js", js(200_000, 1));
    write(root, "assets/vendor.js", js(90_000, 2));
    write(root, "assets/small.js", js(3_000, 3));
    write(root, "assets/img/logo.png", noise(40_000, 4));
    write(root, "assets/deep/nested/data.json", js(12_000, 5));
    write(root, "media/été photo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>");
    write(root, "copy-1.css", ".a{color:red}".repeat(1_000));
    write(root, "copy-2.css", ".a{color:red}".repeat(1_000));
    write(root, "legacy/copy-1.css", ".a{color:red}".repeat(1_000));
    write(root, "empty.txt", "");
}

/// A packed bundle and its artifacts in a shared store.
struct Release {
    zip: PathBuf,
    artifacts: ArtifactReport,
}

struct Fixture {
    dir: TempDir,
    store: PathBuf,
    addr: SocketAddr,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        fs::create_dir_all(&store).unwrap();
        let addr = serve(store.clone());
        Fixture { dir, store, addr }
    }

    fn release(&self, name: &str, build: impl Fn(&Path)) -> Release {
        let folder = self.dir.path().join(name);
        build(&folder);
        let zip = self.dir.path().join(format!("{name}.zip"));
        pack_folder(&folder, &zip, &PackOptions::default(), &NoProgress, &CancelFlag::new()).unwrap();
        let mut sink = DirectorySink::new(&self.store).unwrap();
        let artifacts =
            generate_artifacts(&zip, &InspectLimits::default(), &mut sink, &NoProgress, &CancelFlag::new()).unwrap();
        Release { zip, artifacts }
    }

    /// The manifest an update server would answer, downloading from `route`.
    fn manifest(&self, release: &Release, route: &str) -> Vec<ManifestEntry> {
        release
            .artifacts
            .files
            .iter()
            .map(|f| ManifestEntry {
                file_name: f.file_name(),
                file_hash: f.sha256.clone(),
                download_url: format!(
                    "http://{}/{route}/{}",
                    self.addr,
                    DirectorySink::file_name(&f.sha256, f.encoding)
                ),
            })
            .collect()
    }

    fn unzipped(&self, release: &Release) -> PathBuf {
        let dest = self.dir.path().join(format!("unzipped-{}", release.zip.file_stem().unwrap().to_string_lossy()));
        unzip_bundle(&release.zip, &dest)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn largest_brotli(release: &Release) -> &ManifestFile {
    release.artifacts.files.iter().filter(|f| f.encoding == Encoding::Brotli).max_by_key(|f| f.stored_size).unwrap()
}

#[test]
fn a_device_rebuilds_the_bundle_and_then_downloads_only_what_changed() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let device = Device::new(fixture.path("device-cache"));

    let first = device.install(&fixture.manifest(&v1, "artifacts"), &fixture.path("bundle-v1"), None).unwrap();
    assert_same_tree(&fixture.path("bundle-v1"), &fixture.unzipped(&v1));
    assert_eq!(first.downloaded_bytes(), delta_download_size(&[], &v1.artifacts.files));
    // The cache is named `<sha256>_<basename>`: the same content under the same file name comes
    // from the cache, under another name (copy-2.css) it is fetched again.
    assert_eq!(first.from_cache, ["legacy/copy-1.css.br"]);
    assert_eq!(first.downloaded_files().len(), v1.artifacts.files.len() - 1);
    assert!(first.exchanges.iter().all(|e| e.status == 200 && e.range_from.is_none()), "{:?}", first.exchanges);

    let v2 = fixture.release("v2", |root| {
        web_build(root);
        write(root, "assets/app.js", js(200_000, 11));
        write(root, "assets/small.js", js(3_000, 12));
        write(root, "index.html", "<!doctype html><script src=\"assets/app.js?2\"></script>");
    });
    let second = device.install(&fixture.manifest(&v2, "artifacts"), &fixture.path("bundle-v2"), None).unwrap();
    assert_same_tree(&fixture.path("bundle-v2"), &fixture.unzipped(&v2));
    assert_eq!(second.downloaded_files(), ["assets/app.js.br", "assets/small.js", "index.html"]);
    assert_eq!(second.downloaded_bytes(), delta_download_size(&v1.artifacts.files, &v2.artifacts.files));
    assert!(second.downloaded_bytes() < fs::metadata(&v2.zip).unwrap().len() / 2);
}

#[test]
fn files_of_the_store_build_are_not_downloaded() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let device = Device::new(fixture.path("cache")).builtin(fixture.unzipped(&v1));
    let report = device.install(&fixture.manifest(&v1, "artifacts"), &fixture.path("bundle"), None).unwrap();
    assert!(report.exchanges.is_empty(), "{:?}", report.exchanges);
    assert_eq!(report.from_builtin.len(), v1.artifacts.files.len());
    assert_same_tree(&fixture.path("bundle"), &fixture.unzipped(&v1));
}

#[test]
fn an_interrupted_download_resumes_with_a_range_and_appends_the_206() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let big = largest_brotli(&v1);
    let manifest = fixture.manifest(&v1, "artifacts");
    let device = Device::new(fixture.path("cache"));
    let cut = Cut { file_name: big.file_name(), after_bytes: 1_000 };

    let error = device.install(&manifest, &fixture.path("attempt-1"), Some(&cut)).unwrap_err();
    assert!(matches!(&error, FetchError::Interrupted(name) if *name == big.file_name()), "{error}");

    let report = device.install(&manifest, &fixture.path("attempt-2"), None).unwrap();
    let resumed: Vec<_> = report.exchanges.iter().filter(|e| e.file_name == big.file_name()).collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!((resumed[0].range_from, resumed[0].status), (Some(1_000), 206));
    assert_eq!(resumed[0].body_bytes, big.stored_size - 1_000);
    assert_same_tree(&fixture.path("attempt-2"), &fixture.unzipped(&v1));
}

#[test]
fn a_200_to_a_range_request_replaces_the_partial() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let big = largest_brotli(&v1);
    let manifest = fixture.manifest(&v1, "no-range");
    let device = Device::new(fixture.path("cache"));
    let cut = Cut { file_name: big.file_name(), after_bytes: 1_000 };
    device.install(&manifest, &fixture.path("attempt-1"), Some(&cut)).unwrap_err();

    let report = device.install(&manifest, &fixture.path("attempt-2"), None).unwrap();
    let resumed = report.exchanges.iter().find(|e| e.file_name == big.file_name()).unwrap();
    assert_eq!((resumed.range_from, resumed.status, resumed.body_bytes), (Some(1_000), 200, big.stored_size));
    assert_same_tree(&fixture.path("attempt-2"), &fixture.unzipped(&v1));
}

#[test]
fn a_416_after_a_complete_partial_keeps_it() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let big = largest_brotli(&v1);
    let manifest = fixture.manifest(&v1, "artifacts");
    let device = Device::new(fixture.path("cache"));
    // Every byte arrived, then the app died before finishing the file.
    let cut = Cut { file_name: big.file_name(), after_bytes: big.stored_size };
    device.install(&manifest, &fixture.path("attempt-1"), Some(&cut)).unwrap_err();

    let report = device.install(&manifest, &fixture.path("attempt-2"), None).unwrap();
    let resumed = report.exchanges.iter().find(|e| e.file_name == big.file_name()).unwrap();
    assert_eq!((resumed.range_from, resumed.status), (Some(big.stored_size), 416));
    assert_same_tree(&fixture.path("attempt-2"), &fixture.unzipped(&v1));
}

#[test]
fn a_wrong_hash_fails_and_leaves_no_file() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let mut manifest = fixture.manifest(&v1, "artifacts");
    let index = manifest.iter().position(|e| e.file_name.ends_with(".br")).unwrap();
    let target = manifest[index].file_name.trim_end_matches(".br").to_owned();
    manifest[index].file_hash = "0".repeat(64);
    let error = Device::new(fixture.path("cache")).install(&manifest, &fixture.path("bundle"), None).unwrap_err();
    assert!(matches!(error, FetchError::Checksum { .. }), "{error}");
    assert!(!fixture.path("bundle").join(target).exists());
}

#[test]
fn a_content_encoding_breaks_the_contract() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let error = Device::new(fixture.path("cache")).install(&fixture.manifest(&v1, "encoded"), &fixture.path("b"), None);
    assert!(matches!(error, Err(FetchError::Contract { .. })), "{error:?}");
}

#[test]
fn bad_manifests_are_refused_before_downloading() {
    let fixture = Fixture::new();
    let v1 = fixture.release("v1", web_build);
    let good = fixture.manifest(&v1, "artifacts");
    let device = Device::new(fixture.path("cache"));
    let with = |change: &dyn Fn(&mut ManifestEntry)| {
        let mut manifest = good.clone();
        change(&mut manifest[0]);
        device.install(&manifest, &fixture.path("b"), None).unwrap_err()
    };
    for error in [
        with(&|e| e.file_hash.clear()),
        with(&|e| e.file_name = "../escape.js".into()),
        with(&|e| e.file_name = "/etc/passwd".into()),
        with(&|e| e.file_name = good[1].file_name.clone()),
    ] {
        assert!(matches!(error, FetchError::Manifest { .. }), "{error}");
    }
}
