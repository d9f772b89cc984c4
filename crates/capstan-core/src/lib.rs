//! Capstan's core: what a live-update bundle is and which versions may go where.
//!
//! Everything here is pure domain logic shared by the update server, the console and the CLI:
//! packing a web build folder into the zip the `@capgo/capacitor-updater` plugin expects,
//! inspecting a zip someone else made with the same rules, signing and encrypting a bundle the
//! way the plugin verifies it, and the version rules that decide which bundle a device may run.
//! No network, no database, no UI framework.
#![deny(missing_docs)]

pub mod api;
pub mod bundle;
pub mod progress;
pub mod protocol;
pub mod release;
pub mod signing;
pub mod version;
