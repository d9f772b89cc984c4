//! Everything the release console and the `capstan` CLI need that is not a window.
//!
//! - [`api`]: the typed management-API client (`/api/v1`, bearer tokens).
//! - [`profiles`] and [`keychain`]: named servers in a config file, their tokens in the OS
//!   keychain (never in the file); [`connect`] picks the server and token for a command.
//! - [`publish`], [`channels`]: the use-cases, as plain async functions that take a
//!   [`capstan_core::progress::Progress`] and a [`capstan_core::progress::CancelFlag`] where
//!   they take time, so a terminal and a desktop window drive them the same way.
//! - [`discovery`]: what a publish reads from the project (package.json, MIN_NATIVE_VERSION);
//!   [`native`]: whether the project changed natively since the bundle its shells run.
//! - [`signing`]: bundle signing keys (one per app, in the OS keychain), and [`publish`] signs
//!   and encrypts with them whenever the app has registered keys.
//!
//! Errors are one [`ClientError`] whose [`ClientError::code`] a UI branches on.
#![deny(missing_docs)]

pub mod api;
mod blocking;
pub mod channels;
pub mod connect;
pub mod discovery;
mod encrypted_files;
mod error;
pub mod keychain;
pub mod native;
pub mod profiles;
pub mod publish;
mod signed;
pub mod signing;

pub use error::{ClientError, ClientResult, ErrorCode};
