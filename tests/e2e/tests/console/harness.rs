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
    tauri_driver: Child,
    binary: PathBuf,
    /// Held for the whole test: tauri-driver's port is fixed, so consoles run one at a time.
    _exclusive: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_CONSOLE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DRIVER_PORT: u16 = 4444;

impl Console {
    /// Starts tauri-driver and, through it, the console with a private data directory.
    pub async fn start(home: &Path) -> Console {
        let exclusive = ONE_CONSOLE_AT_A_TIME.lock().await;
        let binary = console_binary();
        assert!(
            binary.exists(),
            "console binary missing at {}: build it first (make test-console does)",
            binary.display()
        );
        // tauri-driver (and the app it starts) get their own virtual display and a private
        // D-Bus session with an unlocked keychain, in their own process group for teardown.
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts");
        let mut tauri_driver = Command::new("setsid")
            .args(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24"])
            .arg(scripts.join("with-keyring.sh"))
            .arg("tauri-driver")
            .arg("--port")
            .arg(DRIVER_PORT.to_string())
            // The app inherits the driver's environment: keep its data out of the real home.
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            // Only what the test sets up may reach the console: no server or token from outside.
            .env_remove("CAPSTAN_CONFIG_DIR")
            .env_remove("CAPSTAN_SERVER")
            .env_remove("CAPSTAN_TOKEN")
            .env_remove("CAPSTAN_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("xvfb-run is installed (make deps)");
        wait_for_port(DRIVER_PORT, &mut tauri_driver).await;

        let capabilities = serde_json::json!({ "tauri:options": { "application": binary } });
        let driver = Session::start(&format!("http://127.0.0.1:{DRIVER_PORT}"), capabilities).await;
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
        if let Some(pid) = self.tauri_driver.id() {
            // SIGTERM to the whole group: tauri-driver stops WebKitWebDriver, xvfb-run its Xvfb.
            let _ = std::process::Command::new("kill").arg("-TERM").arg(format!("-{pid}")).status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tauri_driver.wait()).await;
    }

    /// Finds one element by CSS selector, waiting for it to appear.
    pub async fn element(&self, css: &str) -> Element<'_> {
        self.driver.find("css selector", css).await
    }

    /// Finds the button whose text is `text`.
    pub async fn button(&self, text: &str) -> Element<'_> {
        self.driver.find("xpath", &format!("//button[normalize-space(.)='{text}']")).await
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

    /// Replaces the text of the input named `name`.
    pub async fn fill(&self, name: &str, text: &str) {
        let input = self.element(&format!("[name={name}]")).await;
        input.clear().await;
        input.send_keys(text).await;
    }

    /// Saves a PNG of the window as `<name>.png` in the screenshot directory.
    pub async fn screenshot(&self, name: &str) {
        // Let the last DOM change reach the screen before capturing it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let png = self.driver.screenshot().await;
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Console {
    /// A test that panicked never reached `stop`: kill the whole group (driver, display, app) so
    /// the next test finds the port free and nothing lingers.
    fn drop(&mut self) {
        if let Ok(None) = self.tauri_driver.try_wait()
            && let Some(pid) = self.tauri_driver.id()
        {
            let _ = std::process::Command::new("kill").arg("-KILL").arg(format!("-{pid}")).status();
        }
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
