//! The real console (the Tauri binary) driven over WebDriver: tauri-driver in front of
//! WebKitWebDriver, on a private Xvfb display with a private keychain (see `harness`).
//! Consoles run one at a time because tauri-driver's ports are fixed.

mod harness;
mod keys;
mod publish;
mod release;
mod safety;
mod webdriver;
