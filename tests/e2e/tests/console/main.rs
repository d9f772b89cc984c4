//! The real console (the Tauri binary) driven over WebDriver: tauri-driver in front of
//! WebKitWebDriver, under Xvfb. Run through `make test-console`, which provides the display,
//! the D-Bus session and the keychain; tests run one at a time (tauri-driver's fixed ports).

mod harness;
mod publish;
