//! The management API's one error shape: `{"error": code, "message": text}`.
//!
//! Internal details (database errors, I/O) are logged and never returned: a client learns the
//! code and a sentence, an operator reads the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use capstan_core::api::ErrorBody;

use crate::auth::Role;
use crate::store::{BlobError, StoreError};

/// Every way a management (or device HTTP-level) request can fail.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No token, or not a valid one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The token's role is too weak.
    #[error("this needs the {} role or higher", needed.as_str())]
    Forbidden {
        /// The role the route needs.
        needed: Role,
    },
    /// The addressed thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Input the server will not take; the code says which rule.
    #[error("{message}")]
    BadRequest {
        /// Short machine code.
        code: &'static str,
        /// Sentence for people.
        message: String,
    },
    /// Clashes with existing state (duplicate version, concurrent edit).
    #[error("{0}")]
    Conflict(String),
    /// The thing is referenced and cannot be removed.
    #[error("{0}")]
    InUse(String),
    /// The uploaded bundle failed a check.
    #[error("{message}")]
    InvalidBundle {
        /// Short machine code.
        code: &'static str,
        /// Sentence for people.
        message: String,
    },
    /// Body over the limit.
    #[error("request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Overloaded for now; retry.
    #[error("{0}")]
    Unavailable(String),
    /// Something broke on our side; details are in the log.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// A 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadRequest { code, message: message.into() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::InUse(_) => (StatusCode::CONFLICT, "in_use"),
            AppError::InvalidBundle { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            AppError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("resource".into()),
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::InUse(m) => AppError::InUse(m),
            StoreError::Backend(source) => AppError::Internal(source),
        }
    }
}

impl From<capstan_core::release::Refusal> for AppError {
    fn from(refusal: capstan_core::release::Refusal) -> Self {
        if refusal.is_conflict() {
            AppError::Conflict(refusal.to_string())
        } else {
            AppError::BadRequest { code: refusal.code(), message: refusal.to_string() }
        }
    }
}

impl From<BlobError> for AppError {
    fn from(e: BlobError) -> Self {
        AppError::Internal(Box::new(e))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        crate::metrics::outcome(code);
        if let AppError::Internal(source) = &self {
            tracing::error!(error = %source, "request failed");
        }
        let body = ErrorBody { error: code.to_owned(), message: self.to_string() };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, AppError::Unauthorized) {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        if matches!(self, AppError::Unavailable(_)) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}
