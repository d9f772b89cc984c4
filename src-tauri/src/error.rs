//! The one error shape the UI receives: `{ code, message }`.
//!
//! `code` is a short enum the UI branches on (mirrored in TypeScript through ts-rs); `message`
//! is for people. A code is added only when the UI treats it differently.

use capstan_client::{ClientError, ErrorCode};
use capstan_core::bundle::PackError;
use serde::Serialize;
use ts_rs::TS;

/// A failed command, as the UI sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiError {
    /// What kind of failure, for the UI to branch on.
    pub code: UiErrorCode,
    /// What happened, in words a release manager understands.
    pub message: String,
}

/// The kinds of failure the UI handles differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UiErrorCode {
    /// The user cancelled: show nothing alarming.
    Cancelled,
    /// Something the user typed or picked is wrong: show it next to the input.
    InvalidInput,
    /// No server connected yet: open the Connect screen.
    NotConnected,
    /// The server refused the token (expired, revoked): ask for a new one.
    Unauthorized,
    /// The token's role may not do this.
    Forbidden,
    /// The server cannot be reached: offer to retry.
    Network,
    /// The OS keychain is locked or missing: say how to unlock it.
    Keychain,
    /// Anything else: show it as an error banner.
    Internal,
}

impl UiError {
    /// An error of `code` with `message`.
    pub fn new(code: UiErrorCode, message: impl Into<String>) -> Self {
        UiError { code, message: message.into() }
    }
}

impl From<PackError> for UiError {
    fn from(error: PackError) -> Self {
        let code = match error {
            PackError::Cancelled => UiErrorCode::Cancelled,
            PackError::NotAFolder(_)
            | PackError::NoIndexHtml(_)
            | PackError::SymlinkEscapes(_)
            | PackError::BadName { .. }
            | PackError::NonUtf8Name(_)
            | PackError::Walk(_)
            | PackError::Read { .. } => UiErrorCode::InvalidInput,
            PackError::Write { .. } => UiErrorCode::Internal,
        };
        UiError::new(code, error.to_string())
    }
}

impl From<ClientError> for UiError {
    fn from(error: ClientError) -> Self {
        let code = match error.code() {
            ErrorCode::Cancelled => UiErrorCode::Cancelled,
            ErrorCode::NotConnected => UiErrorCode::NotConnected,
            ErrorCode::Unauthorized => UiErrorCode::Unauthorized,
            ErrorCode::Forbidden => UiErrorCode::Forbidden,
            ErrorCode::Network => UiErrorCode::Network,
            ErrorCode::Keychain => UiErrorCode::Keychain,
            ErrorCode::Invalid
            | ErrorCode::InvalidBundle
            | ErrorCode::VersionRefused
            | ErrorCode::NativeChanged
            | ErrorCode::Conflict
            | ErrorCode::NotFound
            | ErrorCode::Config => UiErrorCode::InvalidInput,
            ErrorCode::ChecksumMismatch | ErrorCode::Server | ErrorCode::Io => UiErrorCode::Internal,
        };
        UiError::new(code, error.to_string())
    }
}

impl From<tauri::Error> for UiError {
    fn from(error: tauri::Error) -> Self {
        UiError::new(UiErrorCode::Internal, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let error: UiError = PackError::Cancelled.into();
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            serde_json::json!({"code": "cancelled", "message": "cancelled"})
        );
        let error: UiError = PackError::NoIndexHtml("dist".into()).into();
        assert_eq!(error.code, UiErrorCode::InvalidInput);
        assert!(error.message.starts_with("no index.html in dist"));
    }
}
