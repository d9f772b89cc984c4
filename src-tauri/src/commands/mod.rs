//! Tauri commands, one module per area. Each command takes state, calls a use-case, maps the
//! error: no logic lives here.

pub mod bundle;
pub mod operations;
pub mod publish;
pub mod session;
