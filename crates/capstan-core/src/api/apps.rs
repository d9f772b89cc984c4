//! Apps: the unit every channel, bundle and device belongs to.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Channel;

/// An application registered on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct App {
    /// Reverse-DNS id, as devices send it.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Name of the channel devices get when they ask for none.
    pub default_channel: String,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
}

/// `POST /api/v1/apps` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct CreateApp {
    /// Reverse-DNS id, as in the app's `capacitor.config`.
    pub id: String,
    /// Display name (defaults to the id).
    pub name: Option<String>,
}

/// `PATCH /api/v1/apps/{app}` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
#[ts(optional_fields = nullable)]
pub struct UpdateApp {
    /// New display name.
    pub name: Option<String>,
    /// Channel devices get when they ask for none (must exist).
    pub default_channel: Option<String>,
}

/// `GET /api/v1/apps/{app}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AppDetail {
    /// The app.
    pub app: App,
    /// Its channels, by id.
    pub channels: Vec<Channel>,
}
