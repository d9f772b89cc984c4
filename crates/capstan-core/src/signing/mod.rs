//! Signed and encrypted bundles: the plugin's end-to-end scheme, in pure Rust.
//!
//! The release manager holds an RSA-2048 [`SigningKey`]; the app ships the matching
//! [`VerifyingKey`] as its `publicKey` (PKCS#1 PEM). Publishing encrypts the plain zip with a
//! fresh AES-128 key and IV ([`SessionKey`], [`encrypt_bundle`]) and signs its SHA-256;
//! [`open_bundle`] opens the result with only the public key, exactly as a device does, for
//! the publisher's check and for a server that holds only public keys.
//!
//! This authenticates bundles; it does not hide them. The AES key is wrapped with the
//! *private* key, so anyone holding the public key (anyone holding the app) can open a bundle.
//!
//! # What the plugin does (read in `Cap-go/capacitor-updater`, 8.x sources)
//!
//! - **RSA is used "backwards".** The publisher encrypts with the private key and devices
//!   decrypt with the public key: Android `CryptoCipher.decryptRSA` runs
//!   `Cipher.getInstance("RSA/ECB/PKCS1Padding")` in `DECRYPT_MODE` with the `PublicKey`; iOS
//!   `RSA.swift` / `CapgoRawRsa.swift` apply the raw public operation and strip "00 01, at least
//!   eight FF bytes, 00". That is PKCS#1 v1.5 block type 1 without a DigestInfo, i.e. Node's
//!   `privateEncrypt(RSA_PKCS1_PADDING)` in the hosted CLI (`src/api/crypto*.ts`), i.e. the
//!   unprefixed PKCS#1 v1.5 signature primitive (see `rsa_block`).
//! - **`session_key`** = `base64(iv) + ":" + base64(RSA(aes_key))`. Android
//!   `CryptoCipher.decryptFile` ignores the value unless it splits into exactly two parts at
//!   `:` and the `publicKey` starts with `-----BEGIN RSA PUBLIC KEY-----`; it requires a 16-byte
//!   IV and a 16-byte decrypted key, then streams `AES/CBC/PKCS5Padding` and refuses empty input
//!   or output. iOS `CryptoCipher.swift` checks the same lengths (`Data(base64Encoded:)` is
//!   strict, so we decode strictly).
//! - **`checksum`** = `hex(RSA(sha256(plain zip)))`: `CryptoCipher.decryptChecksum` (both
//!   platforms) accepts hex (either case) or the old base64 form, refuses anything that does not
//!   decode to exactly 256 bytes, decrypts with the public key and compares the hex of the
//!   result with the SHA-256 of the decrypted zip. Hence RSA-2048 only. Android checks this only
//!   when `session_key` is present; iOS whenever the app has a `publicKey`.
//! - **Key id** (`calcKeyId`, both platforms): the PEM without the header and footer lines and
//!   whitespace, first 20 characters ([`key_id`]).
//! - **Encrypted delta manifests** (Android `DownloadService.handleManifestDownload` and
//!   `downloadAndVerify`): when `publicKey` and `session_key` are both set, every entry's
//!   `file_hash` goes through the same `decryptChecksum`, so it must be the *signed* SHA-256 of
//!   the original file ([`manifest_file_hash`]; the hosted CLI's `prepareBundlePartialFiles`
//!   uses `encryptChecksumV3` for plugins ≥ 5.30 / 6.30 / 7.30). Each downloaded file is then
//!   decrypted with `decryptFile` using the bundle's `session_key`, i.e. each file separately with
//!   the same AES key and IV ([`SessionKey::encrypt_file`]), Brotli-decoded if its name ends in
//!   `.br`, and its SHA-256 compared with the opened `file_hash`. So a packer writes
//!   `encrypt(brotli(file))` and signs `sha256(file)`.

mod aes_stream;
mod bundle;
mod checksum;
mod errors;
mod keys;
mod output;
mod rsa_block;
mod session;

pub use bundle::{EncryptedBundle, OpenedBundle, encrypt_bundle, open_bundle, verify_bundle};
pub use checksum::{manifest_file_hash, open_signed_sha256, sign_sha256};
pub use errors::{EncryptError, OpenError, SignedField};
pub use keys::{KEY_BITS, KEY_ID_LEN, KeyError, PUBLIC_KEY_HEADER, SigningKey, VerifyingKey, key_id};
pub use session::{DecryptedFile, SessionKey};
