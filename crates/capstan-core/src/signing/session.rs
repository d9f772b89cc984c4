//! The `session_key`: one AES-128 key and IV per bundle, wrapped with the private key.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::aes_stream::{self, DecryptError, StreamError};
use super::errors::{EncryptError, OpenError, SignedField};
use super::keys::{SigningKey, VerifyingKey};
use super::output::Output;

/// Bytes in an AES-128 key and in its IV.
const AES_LEN: usize = 16;

/// The AES key and IV that encrypt one bundle (and every file of its delta manifest), with
/// the `session_key` string that carries them to devices: `base64(iv) + ":" +
/// base64(private-key encryption of the AES key)`. Anyone holding the public key can open it:
/// it proves who published, it does not hide the bundle.
pub struct SessionKey {
    aes_key: Zeroizing<[u8; AES_LEN]>,
    iv: [u8; AES_LEN],
    wire: String,
}

/// A file decrypted with a [`SessionKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedFile {
    /// SHA-256 of the plaintext, lowercase hex.
    pub sha256: String,
    /// Plaintext size in bytes.
    pub size: u64,
}

impl SessionKey {
    /// A fresh random AES key and IV, the key wrapped with `signer`.
    pub fn generate(signer: &SigningKey) -> Result<SessionKey, EncryptError> {
        let mut aes_key = Zeroizing::new([0u8; AES_LEN]);
        let mut iv = [0u8; AES_LEN];
        getrandom::fill(aes_key.as_mut()).map_err(|e| EncryptError::Random(e.to_string()))?;
        getrandom::fill(&mut iv).map_err(|e| EncryptError::Random(e.to_string()))?;
        let wrapped = signer.private_encrypt(aes_key.as_ref()).map_err(|e| EncryptError::Rsa(e.to_string()))?;
        let wire = format!("{}:{}", BASE64.encode(iv), BASE64.encode(wrapped));
        Ok(SessionKey { aes_key, iv, wire })
    }

    /// Opens a `session_key` string as a device does: split at the one `:`, base64-decode both
    /// halves (strictly, as iOS does), check the 16-byte IV, decrypt the wrapped key with the
    /// public key and check it is 16 bytes.
    pub fn open(key: &VerifyingKey, session_key: &str) -> Result<SessionKey, OpenError> {
        let (iv_b64, wrapped_b64) =
            session_key.split_once(':').ok_or(OpenError::MalformedSessionKey("no ':' between IV and key"))?;
        if wrapped_b64.contains(':') {
            // The plugins then ignore the session key entirely and treat the bundle as plain.
            return Err(OpenError::MalformedSessionKey("more than one ':'"));
        }
        let iv = BASE64.decode(iv_b64).map_err(|_| OpenError::MalformedSessionKey("the IV is not base64"))?;
        let iv: [u8; AES_LEN] = iv.try_into().map_err(|_| OpenError::MalformedSessionKey("the IV is not 16 bytes"))?;
        let wrapped =
            BASE64.decode(wrapped_b64).map_err(|_| OpenError::MalformedSessionKey("the wrapped key is not base64"))?;
        let recovered =
            Zeroizing::new(key.public_decrypt(&wrapped).ok_or(OpenError::NotSignedByKey(SignedField::SessionKey))?);
        if recovered.len() != AES_LEN {
            return Err(OpenError::WrongLength {
                field: SignedField::SessionKey,
                len: recovered.len(),
                expected: AES_LEN,
            });
        }
        let mut aes_key = Zeroizing::new([0u8; AES_LEN]);
        aes_key.copy_from_slice(&recovered);
        Ok(SessionKey { aes_key, iv, wire: session_key.to_owned() })
    }

    /// The `session_key` value to store with the bundle and send to devices.
    pub fn as_str(&self) -> &str {
        &self.wire
    }

    /// Encrypts one file with this key and IV, as the plugin expects each file of an encrypted
    /// delta manifest (for a `.br` entry, pass the Brotli-compressed file: devices decrypt
    /// first, then decode). Returns the encrypted size. Nothing is left at `out` on failure.
    pub fn encrypt_file(&self, plain: &Path, out: &Path) -> Result<u64, EncryptError> {
        let input = File::open(plain).map_err(|source| EncryptError::Io { path: plain.to_path_buf(), source })?;
        let output = Output::create(out).map_err(|source| EncryptError::Io { path: out.to_path_buf(), source })?;
        let mut writer = BufWriter::new(output.file());
        let written = self
            .encrypt_stream(&mut BufReader::new(input), &mut writer, &mut |_: &[u8], _| true)
            .map_err(|error| encrypt_error(error, plain, out))?;
        drop(writer);
        output.keep(out).map_err(|source| EncryptError::Io { path: out.to_path_buf(), source })?;
        Ok(written)
    }

    /// Encrypts everything `input` yields into `out`, as [`SessionKey::encrypt_file`] does a
    /// file (for bytes produced on the fly, such as a Brotli stream). Returns the encrypted
    /// size. Nothing is left at `out` on failure.
    pub fn encrypt_reader(&self, input: &mut dyn std::io::Read, out: &Path) -> Result<u64, EncryptError> {
        let output = Output::create(out).map_err(|source| EncryptError::Io { path: out.to_path_buf(), source })?;
        let mut writer = BufWriter::new(output.file());
        let written = self
            .encrypt_stream(&mut BufReader::new(input), &mut writer, &mut |_: &[u8], _| true)
            .map_err(|error| encrypt_error(error, Path::new("(input)"), out))?;
        drop(writer);
        output.keep(out).map_err(|source| EncryptError::Io { path: out.to_path_buf(), source })?;
        Ok(written)
    }

    /// Decrypts one file encrypted with this key and IV (a delta manifest entry as downloaded).
    /// Nothing is left at `out` on failure.
    pub fn decrypt_file(&self, encrypted: &Path, out: &Path) -> Result<DecryptedFile, OpenError> {
        let input = File::open(encrypted).map_err(|source| OpenError::Io { path: encrypted.to_path_buf(), source })?;
        let output = Output::create(out).map_err(|source| OpenError::Io { path: out.to_path_buf(), source })?;
        let mut hasher = Sha256::new();
        let mut writer = BufWriter::new(output.file());
        let size = self
            .decrypt_stream(&mut BufReader::new(input), &mut writer, &mut |plain: &[u8], _| {
                hasher.update(plain);
                true
            })
            .map_err(|error| open_error(error, encrypted, out))?;
        drop(writer);
        if size == 0 {
            return Err(OpenError::EmptyPlain);
        }
        output.keep(out).map_err(|source| OpenError::Io { path: out.to_path_buf(), source })?;
        Ok(DecryptedFile { sha256: hex::encode(hasher.finalize()), size })
    }

    pub(crate) fn encrypt_stream(
        &self,
        input: &mut impl std::io::Read,
        output: &mut impl std::io::Write,
        observer: &mut impl aes_stream::Observer,
    ) -> Result<u64, StreamError> {
        aes_stream::encrypt(&self.aes_key, &self.iv, input, output, observer)
    }

    pub(crate) fn decrypt_stream(
        &self,
        input: &mut impl std::io::Read,
        output: &mut impl std::io::Write,
        observer: &mut impl aes_stream::Observer,
    ) -> Result<u64, DecryptError> {
        aes_stream::decrypt(&self.aes_key, &self.iv, input, output, observer)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey").finish_non_exhaustive()
    }
}

/// Maps a stream failure while encrypting `input` into `output`.
pub(crate) fn encrypt_error(error: StreamError, input: &Path, output: &Path) -> EncryptError {
    match error {
        StreamError::Read(source) => EncryptError::Io { path: input.to_path_buf(), source },
        StreamError::Write(source) => EncryptError::Io { path: output.to_path_buf(), source },
        StreamError::Stopped => EncryptError::Cancelled,
    }
}

/// Maps a stream failure while decrypting `input` into `output`.
pub(crate) fn open_error(error: DecryptError, input: &Path, output: &Path) -> OpenError {
    match error {
        DecryptError::Stream(StreamError::Read(source)) => OpenError::Io { path: input.to_path_buf(), source },
        DecryptError::Stream(StreamError::Write(source)) => OpenError::Io { path: output.to_path_buf(), source },
        DecryptError::Stream(StreamError::Stopped) => OpenError::Cancelled,
        DecryptError::Empty => OpenError::Empty,
        DecryptError::NotBlockAligned(len) => OpenError::NotBlockAligned(len),
        DecryptError::BadPadding => OpenError::BadPadding,
    }
}
