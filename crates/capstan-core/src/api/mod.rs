//! The management API's wire types: every request and answer of `/api/v1`, declared once.
//!
//! The server serializes answers and deserializes requests with these types; the client, the
//! CLI and the console do the reverse with the same types, and the console's TypeScript is
//! generated from them (ts-rs). There is no second copy to drift. Server-only storage details
//! (blob keys, token hashes) are not here: the server keeps them in its own row types.
//!
//! Reading answers is lenient where a newer server may add or omit something (`#[serde(default)]`
//! on fields an older server might not send), so a newer server does not break an older CLI.
//! Request bodies the server reads are strict (`deny_unknown_fields`): a misspelt setting is an
//! error, not a silent no-op.
//!
//! Feature `schema` derives `schemars::JsonSchema` (for the server's OpenAPI document); feature
//! `clap` derives `clap::ValueEnum` for the enums the CLI takes as arguments.

/// Declares query-string parameters: every field optional (absent means the route's default),
/// unknown parameters ignored, `None` left out when a client serializes it.
macro_rules! query_params {
    ($(#[doc = $doc:literal])* $name:ident { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty, )+ }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(default)]
        #[ts(optional_fields = nullable)]
        pub struct $name {
            $( $(#[doc = $fdoc])* pub $field: Option<$ty>, )+
        }
    };
}

mod apps;
mod audit;
mod bundles;
mod channels;
mod devices;
mod preview;
mod rollouts;
mod signing;
mod stats;
mod tokens;
mod webhooks;

pub use apps::{App, AppDetail, CreateApp, UpdateApp};
pub use audit::{AuditEntry, AuditQuery};
pub use bundles::{Bundle, DeltaSize, EncryptedFiles, SignedFile, UploadParams};
pub use channels::{
    BUILTIN, CHANNEL_SWITCHES, ChangeRollout, Channel, ChannelSettings, CreateChannel, Delivery, HistoryAction,
    HistoryEntry, Lane, LaneQuery, Promote, Publish, Rollback, RollbackTo, Rollout, SettingsPatch, StartRollout,
    Target, describe_lanes, describe_line,
};
pub use devices::{
    DeviceDetail, DeviceEvent, DeviceFilter, DeviceOverride, DeviceRecord, OverrideInfo, OverrideSource, Removed,
    SetOverride,
};
pub use preview::{
    DEFAULT_PREVIEW_DAYS, MAX_PREVIEW_DAYS, PlannedBundle, Preview, PreviewGroup, PreviewOutcome, PreviewRequest,
    ProposedChange, thousands,
};
pub use rollouts::{
    CreatePlan, FailureAction, FailureRate, PlanStatus, PlanView, ReleaseHealth, RolloutPlan, SchedulePublish,
    ScheduleStatus, ScheduledPublish, Verdict,
};
pub use signing::{
    AppSigning, BundleDownload, KeyCoverage, KeyShare, KeyTrust, RegisterKey, SigningKeyRecord, UpdateSigning,
};
pub use stats::{ActiveQuery, BucketCount, BundleHealth, ChannelAdoption, Timeline, TimelineQuery};
pub use tokens::{CreateToken, CreatedToken, Me, Role, TokenRecord, UnknownRole};
pub use webhooks::{
    CreateWebhook, CreatedWebhook, DELIVERY_HEADER, DeliveryQuery, DeliveryStatus, EVENT_HEADER, SIGNATURE_HEADER,
    SignatureError, UnknownEventKind, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookEventKind,
    signature, verify_signature,
};

use serde::{Deserialize, Serialize};

/// The body of every management error answer: `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// Short machine code (`not_found`, `conflict`, `invalid_json`, …).
    pub error: String,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
}
