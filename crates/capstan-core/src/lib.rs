//! Capstan's core: what a live-update bundle is and which versions may go where.
//!
//! Everything here is pure domain logic shared by the update server, the console and the CLI:
//! packing a web build folder into the zip the `@capgo/capacitor-updater` plugin expects,
//! inspecting a zip someone else made with the same rules, signing and encrypting a bundle the
//! way the plugin verifies it, the version rules that decide which bundle a device may run, the
//! release rules that decide what a change does to a channel, the management API's wire types;
//! and the native fingerprint of a Capacitor project, which tells whether a release changed
//! more than the web layer. No network, no database, no UI framework (the fingerprint may run
//! `git` to learn which files are tracked).
#![deny(missing_docs)]

pub mod api;
pub mod bundle;
pub mod native;
pub mod progress;
pub mod protocol;
pub mod release;
pub mod rollout;
pub mod signing;
pub mod version;
