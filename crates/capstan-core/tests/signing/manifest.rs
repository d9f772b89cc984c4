//! Encrypted delta manifests: each file encrypted on its own with the bundle's key and IV, and
//! a signed `file_hash` of the original file.

use std::fs;

use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{
    OpenError, SessionKey, SignedField, encrypt_bundle, manifest_file_hash, open_signed_sha256,
};
use sha2::{Digest, Sha256};
use tempfile::tempdir;

use crate::fixtures::*;

#[test]
fn a_manifest_file_opens_with_the_bundles_session_key_and_its_signed_hash() {
    let dir = tempdir().unwrap();
    let original = noise(100_000, 6);
    let plain = dir.path().join("app.js");
    fs::write(&plain, &original).unwrap();
    let session = SessionKey::generate(signer()).unwrap();
    let encrypted = dir.path().join("app.js.enc");
    let size = session.encrypt_file(&plain, &encrypted).unwrap();
    assert_eq!(size, fs::metadata(&encrypted).unwrap().len());
    let file_hash = manifest_file_hash(signer(), &Sha256::digest(&original).into()).unwrap();
    assert_eq!(file_hash.len(), 512);

    // The device: opens the session key and the file hash with the public key, decrypts, compares.
    let key = signer().verifying_key();
    let device_session = SessionKey::open(key, session.as_str()).unwrap();
    let expected = open_signed_sha256(key, &file_hash, SignedField::FileHash).unwrap();
    let out = dir.path().join("app.js.out");
    let decrypted = device_session.decrypt_file(&encrypted, &out).unwrap();
    assert_eq!(decrypted.sha256, expected);
    assert_eq!(fs::read(&out).unwrap(), original);

    assert!(matches!(
        open_signed_sha256(other_signer().verifying_key(), &file_hash, SignedField::FileHash),
        Err(OpenError::NotSignedByKey(SignedField::FileHash))
    ));
}

#[test]
fn each_file_is_encrypted_from_the_start_with_the_same_key_and_iv() {
    let dir = tempdir().unwrap();
    let (zip, _) = plain_bundle(dir.path());
    let session = SessionKey::generate(signer()).unwrap();
    let as_bundle = dir.path().join("bundle.enc");
    let as_file = dir.path().join("file.enc");
    encrypt_bundle(signer(), &session, &zip, &as_bundle, &NoProgress, &CancelFlag::new()).unwrap();
    session.encrypt_file(&zip, &as_file).unwrap();
    assert_eq!(fs::read(as_bundle).unwrap(), fs::read(as_file).unwrap());
}

#[test]
fn an_altered_or_empty_manifest_file_is_refused() {
    let dir = tempdir().unwrap();
    let session = SessionKey::generate(signer()).unwrap();
    let plain = dir.path().join("empty.txt");
    fs::write(&plain, b"").unwrap();
    let encrypted = dir.path().join("empty.enc");
    // An empty file still encrypts to one padding block...
    assert_eq!(session.encrypt_file(&plain, &encrypted).unwrap(), 16);
    // ...but the plugin refuses an empty decryption result, and so do we.
    let out = dir.path().join("out");
    assert!(matches!(session.decrypt_file(&encrypted, &out), Err(OpenError::EmptyPlain)));
    assert!(!out.exists());

    fs::write(&plain, noise(1000, 3)).unwrap();
    session.encrypt_file(&plain, &encrypted).unwrap();
    let mut bytes = fs::read(&encrypted).unwrap();
    let last = bytes.len() - 17;
    bytes[last] ^= 0x80;
    fs::write(&encrypted, bytes).unwrap();
    assert!(matches!(session.decrypt_file(&encrypted, &out), Err(OpenError::BadPadding)));
    assert!(!out.exists());
}
