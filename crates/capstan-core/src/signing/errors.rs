//! Why encrypting or opening a bundle failed.

use std::io;
use std::path::PathBuf;

/// Why a bundle or file could not be encrypted and signed. Nothing is left at the output path.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    /// Reading the input or writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The OS random generator failed (no AES key or IV could be drawn).
    #[error("the system random generator failed: {0}")]
    Random(String),
    /// The RSA private-key operation failed.
    #[error("RSA signing failed: {0}")]
    Rsa(String),
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// A signed field of an encrypted bundle, named as the protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedField {
    /// The AES key inside `session_key`.
    SessionKey,
    /// The bundle's `checksum`.
    Checksum,
    /// A delta manifest entry's `file_hash`.
    FileHash,
}

impl std::fmt::Display for SignedField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignedField::SessionKey => "session_key",
            SignedField::Checksum => "checksum",
            SignedField::FileHash => "file_hash",
        })
    }
}

/// Why an encrypted bundle does not open the way a device would open it. Every case is one a
/// device would refuse (or, for Android with a malformed `session_key`, silently mishandle).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Reading the input or writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// `session_key` is not `base64(iv):base64(wrapped key)` with a 16-byte IV.
    #[error("malformed session_key: {0}")]
    MalformedSessionKey(&'static str),
    /// A signed value is not in the signed format (512 hex characters for a checksum).
    #[error("malformed {field}: {reason}")]
    MalformedSigned {
        /// Which value.
        field: SignedField,
        /// What is wrong with it.
        reason: String,
    },
    /// RSA public-key decryption failed: signed by another key pair, or altered.
    #[error("the {0} does not open with this public key: it was signed with another key, or altered")]
    NotSignedByKey(SignedField),
    /// The signed value opened but holds the wrong number of bytes.
    #[error("the {field} holds {len} bytes once opened, expected {expected}")]
    WrongLength {
        /// Which value.
        field: SignedField,
        /// How many bytes it held.
        len: usize,
        /// How many the plugin needs (16 for the AES key, 32 for a SHA-256).
        expected: usize,
    },
    /// The encrypted file is empty.
    #[error("the encrypted data is empty")]
    Empty,
    /// The encrypted file is not whole AES blocks.
    #[error("the encrypted data is {0} bytes, not whole 16-byte AES blocks: truncated, or not encrypted")]
    NotBlockAligned(u64),
    /// The AES padding is invalid.
    #[error("AES decryption failed (bad padding): the session key does not match these bytes, or they were altered")]
    BadPadding,
    /// Decryption produced nothing (the plugin refuses an empty result).
    #[error("the decrypted data is empty")]
    EmptyPlain,
    /// The decrypted bytes do not hash to the signed checksum.
    #[error("checksum mismatch: the signed {field} is {expected}, the decrypted data hashes to {actual}")]
    ChecksumMismatch {
        /// Which signed value was compared.
        field: SignedField,
        /// The SHA-256 the publisher signed, lowercase hex.
        expected: String,
        /// The SHA-256 of what decrypted, lowercase hex.
        actual: String,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}
