//! One module per command group.

pub mod app;
pub mod bundle;
pub mod channel;
pub mod device;
pub mod dry_run;
pub mod keys;
pub mod profile;
pub mod publish;
pub mod report;
pub mod safety;
pub mod webhook;
