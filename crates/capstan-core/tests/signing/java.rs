//! An independent opener: Java's `javax.crypto` used the way Android's plugin uses it
//! (tests/java/OpenEncrypted.java), then `ZipInputStream` as Android extracts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{EncryptedBundle, SessionKey, SigningKey, encrypt_bundle, manifest_file_hash};
use sha2::{Digest, Sha256};
use tempfile::tempdir;

use crate::fixtures::*;

fn open_encrypted_java() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/java/OpenEncrypted.java")
}

/// Runs the Java opener; `public_pem` is written to a file as an app's config would hold it.
fn java_open(dir: &Path, public_pem: &str, encrypted: &Path, fields: &EncryptedBundle, out: &Path) -> Command {
    let key_file = dir.join("public.pem");
    fs::write(&key_file, public_pem).unwrap();
    let mut command = Command::new("java");
    command
        .arg(open_encrypted_java())
        .arg(&key_file)
        .arg(encrypted)
        .arg(&fields.session_key)
        .arg(&fields.checksum)
        .arg(out);
    command
}

fn encrypt(dir: &Path, signer: &SigningKey) -> (PathBuf, PathBuf, EncryptedBundle, Vec<(String, Vec<u8>)>) {
    let (plain, files) = plain_bundle(dir);
    let encrypted = dir.join("bundle.enc");
    let session = SessionKey::generate(signer).unwrap();
    let fields = encrypt_bundle(signer, &session, &plain, &encrypted, &NoProgress, &CancelFlag::new()).unwrap();
    (plain, encrypted, fields, files)
}

#[test]
fn java_opens_the_bundle_like_android_and_extracts_every_file() {
    let dir = tempdir().unwrap();
    let (plain, encrypted, fields, files) = encrypt(dir.path(), signer());
    let out = dir.path().join("java.zip");

    let stdout = run(java_open(dir.path(), signer().verifying_key().pem(), &encrypted, &fields, &out).arg("zip"));
    let mut lines = stdout.lines();
    assert_eq!(lines.next().unwrap(), format!("sha256 {} size {}", fields.plain_sha256, fields.plain_size));
    assert_eq!(fs::read(&out).unwrap(), fs::read(&plain).unwrap());

    let mut from_java: Vec<(String, String)> = lines
        .map(|line| {
            let (hash, name) = line.split_once(' ').unwrap();
            (name.to_owned(), hash.to_owned())
        })
        .collect();
    from_java.sort();
    let mut expected: Vec<(String, String)> =
        files.iter().map(|(name, bytes)| (name.clone(), sha256_hex(bytes))).collect();
    expected.sort();
    assert_eq!(from_java, expected);
}

#[test]
fn java_opens_a_bundle_signed_with_an_openssl_key() {
    let dir = tempdir().unwrap();
    let signer = SigningKey::from_pem(&key_file("rsa2048.pkcs8.pem")).unwrap();
    let (plain, encrypted, fields, _) = encrypt(dir.path(), &signer);
    let out = dir.path().join("java.zip");
    // The public key exactly as OpenSSL prints it, as a team with an existing key would paste it.
    run(&mut java_open(dir.path(), &key_file("rsa2048.public.pkcs1.pem"), &encrypted, &fields, &out));
    assert_eq!(fs::read(&out).unwrap(), fs::read(&plain).unwrap());
}

#[test]
fn java_refuses_what_we_refuse() {
    let dir = tempdir().unwrap();
    let (_, encrypted, fields, _) = encrypt(dir.path(), signer());
    let out = dir.path().join("java.zip");

    // Another key pair: RSA/ECB/PKCS1Padding rejects the padding.
    let result = output(&mut java_open(dir.path(), other_signer().verifying_key().pem(), &encrypted, &fields, &out));
    assert_eq!(result.status.code(), Some(1), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(String::from_utf8_lossy(&result.stderr).contains("BadPaddingException"));

    // One altered bit: AES decrypts, the checksum does not match.
    let mut bytes = fs::read(&encrypted).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let altered = dir.path().join("altered.enc");
    fs::write(&altered, bytes).unwrap();
    let result = output(&mut java_open(dir.path(), signer().verifying_key().pem(), &altered, &fields, &out));
    assert_eq!(result.status.code(), Some(2), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(String::from_utf8_lossy(&result.stderr).contains("Checksum verification failed"));
}

#[test]
fn java_opens_an_encrypted_manifest_file_with_its_signed_hash() {
    let dir = tempdir().unwrap();
    let original = noise(70_000, 8);
    let plain = dir.path().join("vendor.js");
    fs::write(&plain, &original).unwrap();
    let session = SessionKey::generate(signer()).unwrap();
    let encrypted = dir.path().join("vendor.js.enc");
    session.encrypt_file(&plain, &encrypted).unwrap();
    let file_hash = manifest_file_hash(signer(), &Sha256::digest(&original).into()).unwrap();
    let fields = EncryptedBundle {
        checksum: file_hash,
        session_key: session.as_str().into(),
        key_id: String::new(),
        plain_sha256: String::new(),
        plain_size: 0,
        encrypted_size: 0,
    };
    let out = dir.path().join("vendor.js.out");
    let stdout = run(&mut java_open(dir.path(), signer().verifying_key().pem(), &encrypted, &fields, &out));
    assert_eq!(stdout.trim(), format!("sha256 {} size {}", sha256_hex(&original), original.len()));
    assert_eq!(fs::read(out).unwrap(), original);
}
