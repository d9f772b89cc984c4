//! Starting and stopping the console under tauri-driver, and the shared steps of the tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::webdriver::{Element, Session};

/// The console binary under test: `CAPSTAN_CONSOLE_BIN`, or the build next to the tests.
pub fn console_binary() -> PathBuf {
    match std::env::var_os("CAPSTAN_CONSOLE_BIN") {
        Some(path) => PathBuf::from(path),
        None => capstan_testkit::workspace_binary("capstan-console"),
    }
}

/// Where the test run writes its screenshots.
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("CAPSTAN_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("capstan-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running console, driven over WebDriver.
pub struct Console {
    pub driver: Session,
    tauri_driver: DriverGroup,
    binary: PathBuf,
    /// Held for the whole test: a console with its WebKit processes takes both cores of a CI
    /// machine, so consoles run one at a time.
    _exclusive: tokio::sync::MutexGuard<'static, ()>,
}

/// tauri-driver and the process group it leads: its display, keychain, WebKitWebDriver and the
/// app. Killed whole when dropped, so a test that panics anywhere (even while the WebDriver
/// session is still starting) leaves nothing running that would hold the test's output open.
struct DriverGroup {
    child: Child,
    group: u32,
}

impl Drop for DriverGroup {
    /// After [`Console::stop`] this only reaches processes that ignored SIGTERM.
    fn drop(&mut self) {
        signal_group(self.group, "KILL");
    }
}

static ONE_CONSOLE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Two different loopback ports nobody listens on right now (both held while choosing, so they
/// cannot come out equal).
fn two_free_ports() -> (u16, u16) {
    let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let second = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (first.local_addr().unwrap().port(), second.local_addr().unwrap().port())
}

/// Sends `signal` to every process of `group`. (`kill -KILL -PGID` without `--` is read by
/// procps as a signal list and silently kills nothing.)
fn signal_group(group: u32, signal: &str) {
    let _ = std::process::Command::new("kill").args(["-s", signal, "--", &format!("-{group}")]).status();
}

impl Console {
    /// Starts tauri-driver and, through it, the console with a private data directory.
    pub async fn start(home: &Path) -> Console {
        Console::start_with(home, &[]).await
    }

    /// [`Console::start`] with extra environment for the app, such as the folder its
    /// "Browse…" dialog answers with (`CAPSTAN_TEST_PICK_FOLDER`).
    pub async fn start_with(home: &Path, env: &[(&str, &Path)]) -> Console {
        let exclusive = ONE_CONSOLE_AT_A_TIME.lock().await;
        let binary = console_binary();
        assert!(
            binary.exists(),
            "console binary missing at {}: build it first (make test-console does)",
            binary.display()
        );
        // tauri-driver (and the app it starts) get their own virtual display and a private
        // D-Bus session with an unlocked keychain, in their own process group for teardown.
        let scripts = Path::new(&manifest_dir()).join("../../scripts");
        // Fresh ports per console: a driver left over from an earlier crash can never answer.
        let (port, native_port) = two_free_ports();
        let child = Command::new("setsid")
            .args(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24"])
            .arg(scripts.join("with-keyring.sh"))
            .arg("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            // The app inherits the driver's environment: keep its data out of the real home.
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            // Only what the test sets up may reach the console: no server or token from outside.
            .env_remove("CAPSTAN_CONFIG_DIR")
            .env_remove("CAPSTAN_SERVER")
            .env_remove("CAPSTAN_TOKEN")
            .env_remove("CAPSTAN_PROFILE")
            .env_remove("CAPSTAN_TEST_PICK_FOLDER")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("xvfb-run is installed (make deps)");
        // `setsid` execs in place (the child is no group leader), so its pid names the group.
        let group = child.id().expect("just spawned");
        let mut tauri_driver = DriverGroup { child, group };
        wait_for_port(port, &mut tauri_driver.child).await;
        // tauri-driver listens before the WebKitWebDriver it starts does; a session asked for in
        // between is dropped without an answer (seen on a loaded machine).
        wait_for_port(native_port, &mut tauri_driver.child).await;

        let capabilities = serde_json::json!({ "tauri:options": { "application": binary } });
        let driver = Session::start(&format!("http://127.0.0.1:{port}"), capabilities).await;
        Console { driver, tauri_driver, binary, _exclusive: exclusive }
    }

    /// Quits the app, waits until it is gone, then stops tauri-driver (in that order: killing
    /// the driver first orphans the app, which keeps inherited pipes open).
    pub async fn stop(mut self) {
        self.driver.quit().await;
        for _ in 0..100 {
            if !process_running(&self.binary) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // SIGTERM to the whole group: tauri-driver stops WebKitWebDriver, xvfb-run its Xvfb.
        signal_group(self.tauri_driver.group, "TERM");
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tauri_driver.child.wait()).await;
    }

    /// Fills the Connect screen a first start opens on, as profile `local`, and submits it.
    pub async fn connect(&self, server: &capstan_testkit::Server, token: &str, app: &str) {
        self.wait_for_text("[data-testid=active-server]", "Not connected").await;
        self.fill("profile", "local").await;
        self.fill("url", &server.url()).await;
        self.fill("token", token).await;
        self.fill("app", app).await;
        self.button("Test and save").await.click().await;
    }

    /// Finds one element by CSS selector, waiting for it to appear.
    pub async fn element(&self, css: &str) -> Element<'_> {
        self.driver.find("css selector", css).await
    }

    /// Finds the button whose text is `text`.
    pub async fn button(&self, text: &str) -> Element<'_> {
        self.driver.find("xpath", &format!("//button[normalize-space(.)='{text}']")).await
    }

    /// The button whose text is `text` inside the element with `data-testid=scope`.
    pub async fn button_in(&self, scope: &str, text: &str) -> Element<'_> {
        self.driver.find("xpath", &format!("//*[@data-testid='{scope}']//button[normalize-space(.)='{text}']")).await
    }

    /// Opens a screen from the sidebar.
    pub async fn open(&self, screen: &str) {
        self.driver.find("xpath", &format!("//nav//button[normalize-space(.)='{screen}']")).await.click().await;
    }

    /// Picks `value` in the `<select>` named `name`.
    pub async fn select(&self, name: &str, value: &str) {
        self.element(&format!("select[name='{name}'] option[value='{value}']")).await.click().await;
    }

    /// Answers the open confirmation dialog with its `label` button, after checking it says
    /// `expected` (what will change for which devices), and returns its text.
    pub async fn confirm(&self, label: &str, expected: &str) -> String {
        let body = self.wait_for_text("[role=dialog]", expected).await.text().await;
        // Release dialogs ask the server for a fleet preview: click once it has arrived, as a
        // person reading the dialog would.
        let preview = "[role=dialog] [data-testid=fleet-preview]";
        for _ in 0..300 {
            if !self.driver.exists(preview).await || !self.element(preview).await.text().await.contains("Working out") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.driver
            .find("xpath", &format!("//*[@role='dialog']//button[normalize-space(.)='{label}']"))
            .await
            .click()
            .await;
        body
    }

    /// Waits up to 30 s until the element matching `css` contains `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element<'_> {
        let mut seen = String::new();
        for _ in 0..300 {
            let element = self.element(css).await;
            seen = element.text().await;
            if seen.contains(text) {
                return element;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never showed `{text}` (last: `{seen}`)");
    }

    /// Replaces the text of the input named `name`, and checks it took: a re-render between
    /// clearing and typing can swallow keystrokes, so it retries until the value is `text`.
    pub async fn fill(&self, name: &str, text: &str) {
        let mut seen = String::new();
        for _ in 0..5 {
            let input = self.element(&format!("[name={name}]")).await;
            input.clear().await;
            input.send_keys(text).await;
            seen = input.value().await;
            if seen == text {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("input `{name}` holds `{seen}` after typing `{text}`");
    }

    /// Saves a PNG of the window as `<name>.png` in the screenshot directory.
    pub async fn screenshot(&self, name: &str) {
        // Let the last DOM change reach the screen before capturing it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let png = self.driver.screenshot().await;
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }
}

fn process_running(binary: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| std::fs::read_link(entry.path().join("exe")).is_ok_and(|exe| exe == binary))
}

async fn wait_for_port(port: u16, child: &mut Child) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tauri-driver exited early ({status}): is it installed? `make tools` installs it");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("tauri-driver did not listen on {port}");
}

/// This package's directory, read when the test runs (cargo sets it then too): clones at other
/// paths share one target directory, and a path baked in at compile time may be another clone's.
fn manifest_dir() -> std::ffi::OsString {
    std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")
}
