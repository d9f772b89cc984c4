//! Encrypting a bundle and opening it as a device does; every alteration refused.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use capstan_core::bundle::{InspectLimits, inspect_zip};
use capstan_core::progress::{CancelFlag, NoProgress, Progress};
use capstan_core::signing::{
    EncryptedBundle, OpenError, OpenedBundle, SessionKey, SignedField, SigningKey, VerifyingKey, encrypt_bundle,
    open_bundle, sign_sha256, verify_bundle,
};
use tempfile::tempdir;

use crate::fixtures::*;

/// Packs a web build, encrypts it with `signer`; returns (plain zip bytes, encrypted path, fields).
fn encrypted_bundle(dir: &Path, signer: &SigningKey) -> (Vec<u8>, std::path::PathBuf, EncryptedBundle) {
    let (plain, _) = plain_bundle(dir);
    let encrypted = dir.join("bundle.enc");
    let session = SessionKey::generate(signer).unwrap();
    let fields = encrypt_bundle(signer, &session, &plain, &encrypted, &NoProgress, &CancelFlag::new()).unwrap();
    (fs::read(plain).unwrap(), encrypted, fields)
}

fn open(key: &VerifyingKey, encrypted: &Path, fields: &EncryptedBundle, out: &Path) -> Result<OpenedBundle, OpenError> {
    open_bundle(key, encrypted, &fields.session_key, &fields.checksum, out, &NoProgress, &CancelFlag::new())
}

#[test]
fn a_bundle_opens_to_the_same_zip_with_the_public_key_alone() {
    let dir = tempdir().unwrap();
    let (plain, encrypted, fields) = encrypted_bundle(dir.path(), signer());

    assert_eq!(fields.checksum.len(), 512);
    assert!(fields.checksum.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(fields.key_id, signer().key_id());
    assert_eq!(fields.plain_sha256, sha256_hex(&plain));
    assert_eq!(fields.plain_size, plain.len() as u64);
    let (iv, wrapped) = fields.session_key.split_once(':').unwrap();
    assert_eq!(iv.len(), 24, "16 bytes in padded base64");
    assert_eq!(wrapped.len(), 344, "256 bytes in padded base64");
    let encrypted_bytes = fs::read(&encrypted).unwrap();
    assert_eq!(fields.encrypted_size, encrypted_bytes.len() as u64);
    assert_eq!(encrypted_bytes.len(), (plain.len() / 16 + 1) * 16);
    assert!(encrypted_bytes.windows(4).all(|w| w != b"PK\x03\x04"), "no zip header survives encryption");

    // The device side knows only the public key, as printed for the app's config.
    let public = VerifyingKey::from_pem(signer().verifying_key().pem()).unwrap();
    let out = dir.path().join("opened.zip");
    let opened = open(&public, &encrypted, &fields, &out).unwrap();
    assert_eq!(fs::read(&out).unwrap(), plain);
    assert_eq!(opened, OpenedBundle { sha256: fields.plain_sha256.clone(), size: plain.len() as u64 });
    inspect_zip(&out, &InspectLimits::default(), &NoProgress, &CancelFlag::new()).unwrap();

    let verified =
        verify_bundle(&public, &encrypted, &fields.session_key, &fields.checksum, &NoProgress, &CancelFlag::new());
    assert_eq!(verified.unwrap(), opened);

    // Plugins accept the hex in either case.
    let upper = EncryptedBundle { checksum: fields.checksum.to_uppercase(), ..fields.clone() };
    open(&public, &encrypted, &upper, &dir.path().join("upper.zip")).unwrap();
}

#[test]
fn every_bundle_gets_its_own_aes_key_and_iv() {
    let dir = tempdir().unwrap();
    let (plain, _) = plain_bundle(dir.path());
    let first = SessionKey::generate(signer()).unwrap();
    let second = SessionKey::generate(signer()).unwrap();
    assert_ne!(first.as_str(), second.as_str());
    let a = encrypt_bundle(signer(), &first, &plain, &dir.path().join("a"), &NoProgress, &CancelFlag::new()).unwrap();
    let b = encrypt_bundle(signer(), &second, &plain, &dir.path().join("b"), &NoProgress, &CancelFlag::new()).unwrap();
    assert_ne!(fs::read(dir.path().join("a")).unwrap(), fs::read(dir.path().join("b")).unwrap());
    // PKCS#1 v1.5 signatures are deterministic: the same zip gets the same signed checksum.
    assert_eq!(a.checksum, b.checksum);
}

#[test]
fn another_key_pair_cannot_open_it() {
    let dir = tempdir().unwrap();
    let (_, encrypted, fields) = encrypted_bundle(dir.path(), signer());
    let out = dir.path().join("out.zip");
    let stranger = other_signer().verifying_key();
    assert!(matches!(open(stranger, &encrypted, &fields, &out), Err(OpenError::NotSignedByKey(SignedField::Checksum))));

    // A checksum signed by the right key does not rescue a session key wrapped by another.
    let foreign_session = SessionKey::generate(other_signer()).unwrap();
    let mixed = EncryptedBundle { session_key: foreign_session.as_str().into(), ..fields };
    assert!(matches!(
        open(signer().verifying_key(), &encrypted, &mixed, &out),
        Err(OpenError::NotSignedByKey(SignedField::SessionKey))
    ));
    assert!(!out.exists(), "nothing is written when a bundle does not open");
}

#[test]
fn altered_bytes_are_refused() {
    let dir = tempdir().unwrap();
    let (_, encrypted, fields) = encrypted_bundle(dir.path(), signer());
    let key = signer().verifying_key();
    let original = fs::read(&encrypted).unwrap();
    let out = dir.path().join("out.zip");
    let altered = dir.path().join("altered.enc");

    // One bit in the middle: AES still decrypts, the SHA-256 no longer matches.
    let mut bytes = original.clone();
    bytes[original.len() / 2] ^= 0x01;
    fs::write(&altered, &bytes).unwrap();
    match open(key, &altered, &fields, &out) {
        Err(OpenError::ChecksumMismatch { field: SignedField::Checksum, expected, actual }) => {
            assert_eq!(expected, fields.plain_sha256);
            assert_ne!(actual, expected);
        }
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }

    // The last byte of the next-to-last block flips the padding length out of range.
    let mut bytes = original.clone();
    bytes[original.len() - 17] ^= 0x80;
    fs::write(&altered, &bytes).unwrap();
    assert!(matches!(open(key, &altered, &fields, &out), Err(OpenError::BadPadding)));

    fs::write(&altered, &original[..original.len() - 5]).unwrap();
    assert!(
        matches!(open(key, &altered, &fields, &out), Err(OpenError::NotBlockAligned(n)) if n == original.len() as u64 - 5)
    );
    fs::write(&altered, &original[..original.len() - 16]).unwrap();
    assert!(matches!(
        open(key, &altered, &fields, &out),
        Err(OpenError::BadPadding | OpenError::ChecksumMismatch { .. })
    ));
    fs::write(&altered, b"").unwrap();
    assert!(matches!(open(key, &altered, &fields, &out), Err(OpenError::Empty)));

    // A plain zip uploaded as if it were encrypted.
    let (plain, _) = plain_bundle(&dir.path().join("plain"));
    assert!(matches!(
        open(key, &plain, &fields, &out),
        Err(OpenError::NotBlockAligned(_) | OpenError::BadPadding | OpenError::ChecksumMismatch { .. })
    ));
    assert!(!out.exists());
}

#[test]
fn a_checksum_signed_for_other_bytes_is_refused() {
    let dir = tempdir().unwrap();
    let (_, encrypted, fields) = encrypted_bundle(dir.path(), signer());
    let other = sign_sha256(signer(), &[7u8; 32]).unwrap();
    let swapped = EncryptedBundle { checksum: other, ..fields };
    match open(signer().verifying_key(), &encrypted, &swapped, &dir.path().join("out")) {
        Err(OpenError::ChecksumMismatch { expected, .. }) => assert_eq!(expected, hex::encode([7u8; 32])),
        other => panic!("expected a checksum mismatch, got {other:?}"),
    }
}

#[test]
fn malformed_fields_are_refused_in_words() {
    let dir = tempdir().unwrap();
    let (_, encrypted, fields) = encrypted_bundle(dir.path(), signer());
    let key = signer().verifying_key();
    let out = dir.path().join("out");
    let with_session = |session_key: &str| EncryptedBundle { session_key: session_key.into(), ..fields.clone() };
    let with_checksum = |checksum: &str| EncryptedBundle { checksum: checksum.into(), ..fields.clone() };
    let (iv, wrapped) = fields.session_key.split_once(':').unwrap();

    for session_key in [
        wrapped.to_owned(),
        format!("{iv}:{wrapped}:extra"),
        format!("not base64!:{wrapped}"),
        format!("AAAAAAAAAAA=:{wrapped}"), // an 8-byte IV
        format!("{iv}:####"),
        String::new(),
    ] {
        let error = open(key, &encrypted, &with_session(&session_key), &out).unwrap_err();
        assert!(matches!(error, OpenError::MalformedSessionKey(_)), "{session_key}: {error}");
        assert!(!error.to_string().contains('\n'));
    }

    for checksum in [
        fields.plain_sha256.clone(), // an unsigned SHA-256: devices with a public key refuse it
        fields.checksum[..511].to_owned(),
        format!("{}zz", &fields.checksum[..510]),
        String::new(),
    ] {
        let error = open(key, &encrypted, &with_checksum(&checksum), &out).unwrap_err();
        assert!(
            matches!(error, OpenError::MalformedSigned { field: SignedField::Checksum, .. }),
            "{checksum}: {error}"
        );
    }

    // Validly signed values of the wrong size: a SHA-256 where the AES key belongs, and back.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let signed_sha256 = b64.encode(hex::decode(&fields.checksum).unwrap());
    assert!(matches!(
        open(key, &encrypted, &with_session(&format!("{iv}:{signed_sha256}")), &out),
        Err(OpenError::WrongLength { field: SignedField::SessionKey, len: 32, expected: 16 })
    ));
    let signed_aes_key = hex::encode(b64.decode(wrapped).unwrap());
    assert!(matches!(
        open(key, &encrypted, &with_checksum(&signed_aes_key), &out),
        Err(OpenError::WrongLength { field: SignedField::Checksum, len: 16, expected: 32 })
    ));

    // A well-formed block that was not made by the private key.
    let forged = hex::encode(noise(256, 9));
    assert!(matches!(
        open(key, &encrypted, &with_checksum(&forged), &out),
        Err(OpenError::NotSignedByKey(SignedField::Checksum))
    ));
    assert!(!out.exists());
}

struct Counted {
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for Counted {
    fn start(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[test]
fn progress_covers_the_file_and_cancel_leaves_nothing() {
    let dir = tempdir().unwrap();
    let plain = dir.path().join("big.zip");
    fs::write(&plain, noise(3 << 20, 4)).unwrap();
    let session = SessionKey::generate(signer()).unwrap();
    let encrypted = dir.path().join("big.enc");

    let progress = Counted { total: AtomicU64::new(0), done: AtomicU64::new(0) };
    let fields = encrypt_bundle(signer(), &session, &plain, &encrypted, &progress, &CancelFlag::new()).unwrap();
    assert_eq!(progress.total.load(Ordering::Relaxed), 3 << 20);
    assert_eq!(progress.done.load(Ordering::Relaxed), 3 << 20);

    let progress = Counted { total: AtomicU64::new(0), done: AtomicU64::new(0) };
    let out = dir.path().join("opened");
    let key = signer().verifying_key();
    open_bundle(key, &encrypted, &fields.session_key, &fields.checksum, &out, &progress, &CancelFlag::new()).unwrap();
    assert_eq!(progress.done.load(Ordering::Relaxed), fields.encrypted_size);
    assert_eq!(progress.total.load(Ordering::Relaxed), fields.encrypted_size);

    let cancelled = CancelFlag::new();
    cancelled.cancel();
    let elsewhere = dir.path().join("cancelled.enc");
    let result = encrypt_bundle(signer(), &session, &plain, &elsewhere, &NoProgress, &cancelled);
    assert!(matches!(result, Err(capstan_core::signing::EncryptError::Cancelled)));
    let result =
        open_bundle(key, &encrypted, &fields.session_key, &fields.checksum, &elsewhere, &NoProgress, &cancelled);
    assert!(matches!(result, Err(OpenError::Cancelled)));
    assert!(!elsewhere.exists());
    // Only the files this test kept: no temporary files left behind.
    let mut names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["big.enc", "big.zip", "opened"]);
}

#[test]
fn a_missing_input_is_an_error_naming_it() {
    let dir = tempdir().unwrap();
    let session = SessionKey::generate(signer()).unwrap();
    let missing = dir.path().join("missing.zip");
    let error = encrypt_bundle(signer(), &session, &missing, &dir.path().join("out"), &NoProgress, &CancelFlag::new())
        .unwrap_err();
    assert!(error.to_string().contains("missing.zip"), "{error}");
    assert!(!dir.path().join("out").exists());
}
