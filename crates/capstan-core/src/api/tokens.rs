//! Roles, API tokens and the caller's identity.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Qa, Role::Publisher, Role::Admin];

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

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// `GET /api/v1/me`: who the calling token is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Me {
    /// Token name.
    pub name: String,
    /// Token role.
    pub role: Role,
    /// Token id.
    pub token_id: i64,
}

/// An API token as the server lists it: never its secret, nor the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TokenRecord {
    /// Id used to revoke it.
    pub id: i64,
    /// Who or what uses it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Revocation time, epoch ms; `null` while it works.
    pub revoked_at_ms: Option<i64>,
}

/// `POST /api/v1/tokens` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Who or what will use it.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// `POST /api/v1/tokens` answer: the record, and the secret shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreatedToken {
    /// The stored token.
    pub record: TokenRecord,
    /// The secret: the server keeps only its hash.
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Qa && Role::Qa < Role::Publisher && Role::Publisher < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert!("root".parse::<Role>().is_err());
    }
}
