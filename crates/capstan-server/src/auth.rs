//! API tokens and roles.
//!
//! A token is 256 random bits shown once; the server keeps only its SHA-256 (a token is not a
//! password: it has full entropy, so a fast hash is enough and argon2 would only slow every
//! request). The stored hash is compared in constant time after the lookup.
//!
//! Which role a route needs is stated once, in the route table (`api::table`): the table wraps
//! each route in [`require`], which authenticates the bearer token and checks the role before
//! the handler or its body extractor runs, and leaves the [`Caller`] for the handler.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use capstan_core::api::Role;

use crate::AppState;
use crate::error::AppError;

/// Prefix that makes Capstan tokens recognisable to secret scanners and people.
pub const TOKEN_PREFIX: &str = "capstan_";

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    hex::encode(bytes)
}

/// A new token: 256 random bits.
pub fn generate_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex(32))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller of a management request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Token id.
    pub token_id: i64,
    /// Token name.
    pub name: String,
    /// Token role.
    pub role: Role,
}

impl Caller {
    /// How the caller appears in audit entries and history.
    pub fn actor(&self) -> String {
        format!("{} (token {})", self.name, self.token_id)
    }
}

/// The bearer token of a request: the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer(parts: &Parts) -> Option<&str> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Looks up the bearer token of a request.
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller, AppError> {
    let token = bearer(parts).ok_or(AppError::Unauthorized)?;
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(AppError::Unauthorized);
    }
    let hash = hash_token(token);
    let stored = state.db().token_by_hash(&hash).await?.ok_or(AppError::Unauthorized)?;
    if !bool::from(stored.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(AppError::Unauthorized);
    }
    let record = stored.record;
    Ok(Caller { token_id: record.id, name: record.name, role: record.role })
}

/// The middleware the route table puts in front of every route that needs a role: 401 without
/// a valid token, 403 with a weaker role, else the handler runs with the [`Caller`] in the
/// request's extensions. It runs before the handler reads the body, so a viewer with a
/// malformed body gets 403, not 400.
pub async fn require(needed: Role, request: Request, next: Next) -> Response {
    let Some(state) = request.extensions().get::<AppState>().cloned() else {
        return AppError::Internal("the router was built without its state extension".into()).into_response();
    };
    let (mut parts, body) = request.into_parts();
    let caller = match authenticate(&state, &parts).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if caller.role < needed {
        return AppError::Forbidden { needed }.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// Handlers take the caller [`require`] authenticated.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only reachable without `require` if a route were mounted outside the route table.
        parts.extensions.get::<Caller>().cloned().ok_or(AppError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in ["Bearer capstan_x", "bearer capstan_x", "BEARER capstan_x", "BeArEr  capstan_x "] {
            let (parts, ()) =
                axum::http::Request::builder().header("authorization", header).body(()).unwrap().into_parts();
            assert_eq!(bearer(&parts), Some("capstan_x"), "{header}");
        }
        let (parts, ()) =
            axum::http::Request::builder().header("authorization", "Basic abc").body(()).unwrap().into_parts();
        assert_eq!(bearer(&parts), None);
    }
}
