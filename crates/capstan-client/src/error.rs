//! The one error type of the client, with a short [`ErrorCode`] a UI can branch on.
//!
//! Messages are sentences for a release manager ("the keychain is locked: unlock it…"); the
//! code is what a console decides on (offer to log in again, show a retry button). Callers
//! never match on message text.

use std::path::PathBuf;

use serde::Serialize;

use crate::keychain::KeychainError;
use crate::profiles::ProfileError;

/// What a UI branches on. Add a code only when a caller needs to tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No server or token configured yet: log in (or set `CAPSTAN_SERVER`/`CAPSTAN_TOKEN`).
    NotConnected,
    /// The profile file or a profile is wrong.
    Config,
    /// The OS keychain cannot be reached or is locked.
    Keychain,
    /// The server could not be reached (DNS, refused, TLS, timeout).
    Network,
    /// The token was refused: expired, revoked or mistyped.
    Unauthorized,
    /// The token's role is too weak for this action.
    Forbidden,
    /// The app, channel, bundle or device does not exist.
    NotFound,
    /// The change clashes with the current state (version exists, rollout running, race).
    Conflict,
    /// The server or the client refused the input.
    Invalid,
    /// The bundle (folder or zip) cannot be shipped.
    InvalidBundle,
    /// The server's checksum differs from the local one.
    ChecksumMismatch,
    /// The version is refused by the publish rules (exists, or not newer than the channel's).
    VersionRefused,
    /// The project changed natively and MIN_NATIVE_VERSION was not raised: raise it (a
    /// suggested value is in the message), or force it.
    NativeChanged,
    /// The user cancelled.
    Cancelled,
    /// The server failed; retry later.
    Server,
    /// A local file could not be read or written.
    Io,
}

impl ErrorCode {
    /// The code as text.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotConnected => "not_connected",
            ErrorCode::Config => "config",
            ErrorCode::Keychain => "keychain",
            ErrorCode::Network => "network",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Invalid => "invalid",
            ErrorCode::InvalidBundle => "invalid_bundle",
            ErrorCode::ChecksumMismatch => "checksum_mismatch",
            ErrorCode::VersionRefused => "version_refused",
            ErrorCode::NativeChanged => "native_changed",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Server => "server",
            ErrorCode::Io => "io",
        }
    }
}

/// Everything a use-case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing tells us which server to talk to, or with which token.
    #[error("{0}")]
    NotConnected(String),
    /// The profile file could not be read or written, or names no such profile.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The keychain failed.
    #[error(transparent)]
    Keychain(#[from] KeychainError),
    /// The HTTP request did not get an answer.
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// What was requested.
        url: String,
        /// Why, in words (the reqwest error chain).
        reason: String,
    },
    /// The server answered with an error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The server's `error` code (`unauthorized`, `conflict`, `invalid_version`, …).
        code: String,
        /// The server's `message`.
        message: String,
    },
    /// The server answered something that is not what the API promises.
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse {
        /// What was requested.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The input given to a use-case is not usable (bad version, bad percentage, …).
    #[error("{0}")]
    Invalid(String),
    /// The bundle could not be packed.
    #[error("cannot pack {}: {source}", dir.display())]
    Pack {
        /// The build folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: capstan_core::bundle::PackError,
    },
    /// The zip is not a usable bundle.
    #[error("{} is not a usable bundle: {source}", zip.display())]
    Inspect {
        /// The zip.
        zip: PathBuf,
        /// Why.
        #[source]
        source: capstan_core::bundle::InspectError,
    },
    /// The server stored bytes with another checksum than the ones we sent.
    #[error("the server's checksum {server} differs from the local {local}: the upload was corrupted; publish again")]
    ChecksumMismatch {
        /// SHA-256 computed here.
        local: String,
        /// SHA-256 the server reports.
        server: String,
    },
    /// The publish rules refuse this version.
    #[error("{0}")]
    VersionRefused(String),
    /// The native surface changed and MIN_NATIVE_VERSION was not raised.
    #[error("{0}")]
    NativeChanged(String),
    /// A signing key cannot be used (corrupted, another size or algorithm, not the app's).
    #[error("{context}: {source}")]
    Key {
        /// Which key: a file, `CAPSTAN_SIGNING_KEY`, the keychain's.
        context: String,
        /// Why.
        #[source]
        source: capstan_core::signing::KeyError,
    },
    /// What the server stores does not open the way a device opens it.
    #[error(
        "the bundle the server stores does not open as a device would open it ({reason}): it was not assigned to any channel"
    )]
    NotOpenable {
        /// What failed, in words.
        reason: String,
    },
    /// The change clashes with the channel's current state (e.g. a rollout is running).
    #[error("{0}")]
    Conflict(String),
    /// The user cancelled the operation.
    #[error("cancelled")]
    Cancelled,
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// The code a UI branches on.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::NotConnected(_) => ErrorCode::NotConnected,
            ClientError::Profile(ProfileError::NoSuchProfile(_)) => ErrorCode::NotConnected,
            ClientError::Profile(_) => ErrorCode::Config,
            ClientError::Keychain(KeychainError::NoToken { .. }) => ErrorCode::NotConnected,
            ClientError::Keychain(_) => ErrorCode::Keychain,
            ClientError::Network { .. } => ErrorCode::Network,
            ClientError::Api { status, code, .. } => match (*status, code.as_str()) {
                (401, _) => ErrorCode::Unauthorized,
                (403, _) => ErrorCode::Forbidden,
                (404, _) => ErrorCode::NotFound,
                (409, _) => ErrorCode::Conflict,
                (400, "native_changed") => ErrorCode::NativeChanged,
                (422, "checksum_mismatch") => ErrorCode::ChecksumMismatch,
                (422, _) => ErrorCode::InvalidBundle,
                (400..=499, _) => ErrorCode::Invalid,
                _ => ErrorCode::Server,
            },
            ClientError::BadResponse { .. } => ErrorCode::Server,
            ClientError::Invalid(_) | ClientError::Key { .. } => ErrorCode::Invalid,
            ClientError::NotOpenable { .. } => ErrorCode::ChecksumMismatch,
            ClientError::Pack { .. } | ClientError::Inspect { .. } => ErrorCode::InvalidBundle,
            ClientError::ChecksumMismatch { .. } => ErrorCode::ChecksumMismatch,
            ClientError::VersionRefused(_) => ErrorCode::VersionRefused,
            ClientError::NativeChanged(_) => ErrorCode::NativeChanged,
            ClientError::Conflict(_) => ErrorCode::Conflict,
            ClientError::Cancelled => ErrorCode::Cancelled,
            ClientError::Io { .. } => ErrorCode::Io,
        }
    }
}

/// Shorthand for client results.
pub type ClientResult<T> = Result<T, ClientError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ClientError {
        ClientError::Api { status, code: code.into(), message: String::new() }
    }

    #[test]
    fn server_answers_map_to_codes_a_ui_branches_on() {
        assert_eq!(api(401, "unauthorized").code(), ErrorCode::Unauthorized);
        assert_eq!(api(403, "forbidden").code(), ErrorCode::Forbidden);
        assert_eq!(api(404, "not_found").code(), ErrorCode::NotFound);
        assert_eq!(api(409, "conflict").code(), ErrorCode::Conflict);
        assert_eq!(api(422, "checksum_mismatch").code(), ErrorCode::ChecksumMismatch);
        assert_eq!(api(422, "invalid_bundle").code(), ErrorCode::InvalidBundle);
        assert_eq!(api(400, "invalid_version").code(), ErrorCode::Invalid);
        assert_eq!(api(503, "unavailable").code(), ErrorCode::Server);
        let no_token = ClientError::Keychain(KeychainError::NoToken { profile: "p".into() });
        assert_eq!(no_token.code(), ErrorCode::NotConnected, "a missing token means: log in");
        let locked = ClientError::Keychain(KeychainError::Locked { detail: String::new() });
        assert_eq!(locked.code().as_str(), "keychain");
    }
}
