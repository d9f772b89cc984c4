//! API tokens and roles.
//!
//! A token is 256 random bits shown once; the server keeps only its SHA-256 (a token is not a
//! password: it has full entropy, so a fast hash is enough and argon2 would only slow every
//! request). The stored hash is compared in constant time after the lookup.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::AppError;

/// What a token may do; each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also sets and clears device channel overrides.
    Qa,
    /// Also uploads, publishes, rolls out, promotes and rolls back.
    Publisher,
    /// Also manages apps and tokens.
    Admin,
}

/// A role name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected admin, publisher, qa or viewer")]
pub struct UnknownRole(pub String);

impl Role {
    /// Stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Qa => "qa",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "qa" => Ok(Role::Qa),
            "publisher" => Ok(Role::Publisher),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

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

/// Looks up the bearer token of a request.
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller, AppError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AppError::Unauthorized)?;
    let token =
        header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or(AppError::Unauthorized)?.trim();
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(AppError::Unauthorized);
    }
    let hash = hash_token(token);
    let record = state.db().token_by_hash(&hash).await?.ok_or(AppError::Unauthorized)?;
    if !bool::from(record.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(AppError::Unauthorized);
    }
    Ok(Caller { token_id: record.id, name: record.name, role: record.role })
}

/// A minimum role, at the type level, so routes declare it in their signature and the check
/// runs before the body is read (a viewer with a malformed body gets 403, not 400).
pub trait MinRole: Send + Sync + 'static {
    /// The role required.
    const ROLE: Role;
}

/// Requires [`Role::Viewer`].
#[derive(Debug)]
pub struct Viewer;
/// Requires [`Role::Qa`].
#[derive(Debug)]
pub struct Qa;
/// Requires [`Role::Publisher`].
#[derive(Debug)]
pub struct Publisher;
/// Requires [`Role::Admin`].
#[derive(Debug)]
pub struct Admin;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Qa {
    const ROLE: Role = Role::Qa;
}
impl MinRole for Publisher {
    const ROLE: Role = Role::Publisher;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller holding at least role `R`: 401 without a valid token, 403 with a weaker role.
#[derive(Debug)]
pub struct Authorized<R: MinRole>(pub Caller, pub PhantomData<R>);

impl<R: MinRole> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = authenticate(state, parts).await?;
        if caller.role < R::ROLE {
            return Err(AppError::Forbidden { needed: R::ROLE });
        }
        Ok(Authorized(caller, PhantomData))
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
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Qa && Role::Qa < Role::Publisher && Role::Publisher < Role::Admin);
        for role in [Role::Viewer, Role::Qa, Role::Publisher, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
