//! Key pairs: generating, reading and checking them with the plugin's constraints.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1::der::{Decode, pem};
use rsa::pkcs1::{self, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use rsa::pkcs8::{ObjectIdentifier, PrivateKeyInfoRef};
use rsa::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

use super::rsa_block::{private_encrypt, public_decrypt};

/// The only key size the plugin accepts: both platforms reject a signed checksum that is not
/// 256 bytes long.
pub const KEY_BITS: usize = 2048;

/// How a public key must start for the plugin to use it (Android skips decryption otherwise).
pub const PUBLIC_KEY_HEADER: &str = "-----BEGIN RSA PUBLIC KEY-----";
const PUBLIC_KEY_FOOTER: &str = "-----END RSA PUBLIC KEY-----";

/// How many characters of the public key body make a key id (plugins from 8.40.8, 7.50.1 and
/// 6.50.1; older 8.x plugins send only the first 4, which are the same for every 2048-bit key).
pub const KEY_ID_LEN: usize = 20;

/// Why a key cannot be used. Each message is one line, fit for a terminal or a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text holds no PEM block at all.
    #[error("not a PEM key: expected a block starting with -----BEGIN")]
    NotPem,
    /// A PEM block that does not decode, or whose numbers do not make a valid RSA key.
    #[error("the key is corrupted: {0}")]
    Corrupted(String),
    /// A well-formed key of another algorithm.
    #[error("{0}, not an RSA key: the plugin only verifies RSA-2048 signatures")]
    NotRsa(String),
    /// An RSA key of another size.
    #[error("a {0}-bit RSA key: the plugin accepts only 2048-bit keys")]
    WrongSize(usize),
    /// A key format that could hold an RSA key but needs converting first.
    #[error("unsupported key format: {0}")]
    UnsupportedFormat(String),
    /// A public key where the private key is needed.
    #[error("this is a public key: signing needs the private key")]
    PublicKeyGiven,
    /// A private key where the public key is needed.
    #[error("this is a private key: give the public key (-----BEGIN RSA PUBLIC KEY-----), never the private one")]
    PrivateKeyGiven,
    /// A public key in a form the plugin cannot read.
    #[error(
        "the public key must be PKCS#1 PEM starting with -----BEGIN RSA PUBLIC KEY----- (the only form the plugin reads)"
    )]
    NotPkcs1Public,
    /// The private key is not the pair of the public key registered for the app.
    #[error("this private key (key id {key_id}) does not belong to the registered public key (key id {registered})")]
    Mismatch {
        /// Key id of the private key's public half.
        key_id: String,
        /// Key id of the registered public key.
        registered: String,
    },
    /// The random generator or the RSA arithmetic failed while making a key.
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

/// The key id the plugin computes for a `publicKey`: the first 20 characters of the PEM body,
/// after removing the header and footer lines and all whitespace.
pub fn key_id(public_key_pem: &str) -> String {
    let body: String = public_key_pem
        .replace(PUBLIC_KEY_HEADER, "")
        .replace(PUBLIC_KEY_FOOTER, "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    body.chars().take(KEY_ID_LEN).collect()
}

/// A private key that signs bundles. Stays on the release manager's machine.
pub struct SigningKey {
    key: PrivateKey,
    public: VerifyingKey,
}

impl SigningKey {
    /// A new RSA-2048 key pair. Its public key has been printed and parsed back the way the
    /// plugin parses it, so it will not crash an app at launch.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let key = PrivateKey::new(&mut getrandom::SysRng, KEY_BITS).map_err(|e| KeyError::Generate(e.to_string()))?;
        let signing = SigningKey::from_rsa(key)?;
        let reread = VerifyingKey::from_pem(signing.public.pem())?;
        if reread.key != signing.public.key {
            return Err(KeyError::Generate("the printed public key does not parse back to the same key".into()));
        }
        Ok(signing)
    }

    /// Reads a private key from PEM: PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`) or unencrypted
    /// PKCS#8 (`-----BEGIN PRIVATE KEY-----`). Refuses anything the plugin could not verify:
    /// another algorithm, another size, a damaged key.
    pub fn from_pem(text: &str) -> Result<SigningKey, KeyError> {
        let (label, der) = decode_pem(text)?;
        let der = Zeroizing::new(der);
        let pkcs1_der: &[u8] = match label.as_str() {
            "RSA PRIVATE KEY" => &der,
            "PRIVATE KEY" => {
                let info = PrivateKeyInfoRef::from_der(&der).map_err(|e| KeyError::Corrupted(e.to_string()))?;
                if info.algorithm.oid != RSA_ENCRYPTION {
                    return Err(KeyError::NotRsa(algorithm_name(info.algorithm.oid)));
                }
                info.private_key.as_bytes()
            }
            other => return Err(refuse_label(other)),
        };
        let parsed = pkcs1::RsaPrivateKeyRef::from_der(pkcs1_der).map_err(|e| KeyError::Corrupted(e.to_string()))?;
        let bits = bit_length(parsed.modulus.as_bytes());
        if bits != KEY_BITS {
            return Err(KeyError::WrongSize(bits));
        }
        let key = PrivateKey::try_from(parsed).map_err(|e| KeyError::Corrupted(e.to_string()))?;
        SigningKey::from_rsa(key)
    }

    /// The private key as PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), for the keychain or an
    /// explicit export. Wiped from memory when dropped.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.key.to_pkcs1_pem(LineEnding::LF).map_err(|e| KeyError::Corrupted(e.to_string()))
    }

    /// The public half: what the app ships and the server registers.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The key id devices report for this key pair.
    pub fn key_id(&self) -> &str {
        self.public.key_id()
    }

    /// Refuses a private key that is not the pair of the app's registered public key.
    pub fn check_pairs_with(&self, registered: &VerifyingKey) -> Result<(), KeyError> {
        if self.public.key == registered.key {
            Ok(())
        } else {
            Err(KeyError::Mismatch { key_id: self.key_id().to_owned(), registered: registered.key_id().to_owned() })
        }
    }

    /// The plugin's "private-key encryption" of a short payload (an AES key, a SHA-256): 256 bytes.
    pub(crate) fn private_encrypt(&self, payload: &[u8]) -> Result<Vec<u8>, rsa::Error> {
        private_encrypt(&self.key, payload)
    }

    /// Wraps an RSA key after a pairwise check: a file whose private numbers were altered can
    /// still parse, but what it signs would not open with its own public key.
    fn from_rsa(key: PrivateKey) -> Result<SigningKey, KeyError> {
        let public = VerifyingKey::from_rsa(key.to_public_key())?;
        let probe = [0x5A; 32];
        let signed = private_encrypt(&key, &probe).map_err(|e| KeyError::Corrupted(e.to_string()))?;
        if public_decrypt(&public.key, &signed).as_deref() != Some(&probe[..]) {
            return Err(KeyError::Corrupted("the private and public halves do not match".into()));
        }
        Ok(SigningKey { key, public })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id()).finish_non_exhaustive()
    }
}

/// A public key: opens and verifies what the matching [`SigningKey`] signed. Safe to share.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    key: PublicKey,
    pem: String,
    key_id: String,
}

impl VerifyingKey {
    /// Reads a public key the way the plugin reads its `publicKey`: PKCS#1 PEM, header and
    /// footer removed, whitespace ignored. Refuses what the plugin cannot use (an X.509
    /// `PUBLIC KEY`, a private key, another size, damaged base64 or DER).
    pub fn from_pem(text: &str) -> Result<VerifyingKey, KeyError> {
        let text = text.trim();
        if !text.starts_with(PUBLIC_KEY_HEADER) {
            return Err(match decode_pem(text) {
                Ok((label, _)) if label == "PUBLIC KEY" => KeyError::NotPkcs1Public,
                Ok((label, _)) => refuse_label(&label),
                Err(error) => error,
            });
        }
        if !text.ends_with(PUBLIC_KEY_FOOTER) {
            return Err(KeyError::Corrupted(format!("the key does not end with {PUBLIC_KEY_FOOTER}")));
        }
        let body: String = text[PUBLIC_KEY_HEADER.len()..text.len() - PUBLIC_KEY_FOOTER.len()]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = BASE64.decode(body).map_err(|e| KeyError::Corrupted(format!("bad base64: {e}")))?;
        let parsed = pkcs1::RsaPublicKeyRef::from_der(&der).map_err(|e| KeyError::Corrupted(e.to_string()))?;
        let bits = bit_length(parsed.modulus.as_bytes());
        if bits != KEY_BITS {
            return Err(KeyError::WrongSize(bits));
        }
        let key = PublicKey::from_pkcs1_der(&der).map_err(|e| KeyError::Corrupted(e.to_string()))?;
        VerifyingKey::from_rsa(key)
    }

    /// The public key exactly as the app's `publicKey` setting expects it: PKCS#1 PEM, 64-column
    /// lines, `\n` line ends, no trailing newline.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The key id devices report for this key (see [`key_id`]).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The plugin's "public-key decryption" of one 256-byte block; `None` when the block was
    /// not made by the matching private key or was altered.
    pub(crate) fn public_decrypt(&self, block: &[u8]) -> Option<Vec<u8>> {
        public_decrypt(&self.key, block)
    }

    fn from_rsa(key: PublicKey) -> Result<VerifyingKey, KeyError> {
        let pem = key.to_pkcs1_pem(LineEnding::LF).map_err(|e| KeyError::Corrupted(e.to_string()))?;
        let pem = pem.trim_end().to_owned();
        let key_id = key_id(&pem);
        Ok(VerifyingKey { key, pem, key_id })
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

const RSA_ENCRYPTION: ObjectIdentifier = pkcs1::ALGORITHM_OID;

/// Splits a PEM block into its label and DER bytes.
fn decode_pem(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let text = text.trim();
    if !text.starts_with("-----BEGIN ") {
        return Err(KeyError::NotPem);
    }
    match pem::decode_vec(text.as_bytes()) {
        Ok((label, der)) => Ok((label.to_owned(), der)),
        Err(error) => Err(KeyError::Corrupted(error.to_string())),
    }
}

/// The refusal for a PEM label that is not a private RSA key.
fn refuse_label(label: &str) -> KeyError {
    match label {
        "RSA PUBLIC KEY" | "PUBLIC KEY" => KeyError::PublicKeyGiven,
        "RSA PRIVATE KEY" | "PRIVATE KEY" => KeyError::PrivateKeyGiven,
        "EC PRIVATE KEY" => KeyError::NotRsa("an EC key".into()),
        "DSA PRIVATE KEY" => KeyError::NotRsa("a DSA key".into()),
        "ENCRYPTED PRIVATE KEY" => {
            KeyError::UnsupportedFormat("the key is passphrase-protected; export it without a passphrase".into())
        }
        "OPENSSH PRIVATE KEY" => KeyError::UnsupportedFormat(
            "an OpenSSH key; convert it to PEM first (ssh-keygen -p -m PEM -f KEYFILE)".into(),
        ),
        other => KeyError::UnsupportedFormat(format!("a PEM block labelled {other:?}, not an RSA private key")),
    }
}

/// A readable name for the algorithm of a PKCS#8 key that is not plain RSA.
fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "an EC key".into(),
        "1.3.101.112" => "an Ed25519 key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        "1.3.101.110" => "an X25519 key".into(),
        "1.3.101.111" => "an X448 key".into(),
        "1.2.840.10040.4.1" => "a DSA key".into(),
        "1.2.840.113549.1.1.10" => "an RSA-PSS-only key".into(),
        other => format!("a key of algorithm {other}"),
    }
}

/// Bit length of a big-endian unsigned integer.
fn bit_length(be_bytes: &[u8]) -> usize {
    let significant = be_bytes.iter().position(|&b| b != 0).map_or(&[][..], |first| &be_bytes[first..]);
    match significant.first() {
        Some(top) => significant.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_ignores_header_footer_and_whitespace() {
        let pem = "-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEAabc\r\ndefgh ijklmnop\n-----END RSA PUBLIC KEY-----\n";
        assert_eq!(key_id(pem), "MIIBCgKCAQEAabcdefgh");
        assert_eq!(key_id("-----BEGIN RSA PUBLIC KEY-----\nMIIB\n"), "MIIB");
    }

    #[test]
    fn bit_length_counts_from_the_top_set_bit() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01, 0xFF]), 9);
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
    }
}
