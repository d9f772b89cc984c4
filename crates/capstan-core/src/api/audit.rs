//! The audit log: every management change, who, what, before, after, when.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One management change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditEntry {
    /// Sequence id.
    pub id: i64,
    /// Who (token name and id, or `device` for device-initiated overrides).
    pub actor: String,
    /// App concerned, if any.
    pub app_id: Option<String>,
    /// What was done, e.g. `channel.publish`.
    pub action: String,
    /// What it was done to, e.g. the channel name.
    pub subject: String,
    /// State before.
    #[serde(default)]
    #[ts(type = "unknown")]
    pub before: Option<serde_json::Value>,
    /// State after.
    #[serde(default)]
    #[ts(type = "unknown")]
    pub after: Option<serde_json::Value>,
    /// When, epoch ms.
    pub at_ms: i64,
}

query_params! {
    /// Query of `GET /api/v1/audit`.
    AuditQuery {
        /// Only this app's entries.
        app: String,
        /// Most entries (default 100, at most 1000).
        limit: u32,
    }
}
