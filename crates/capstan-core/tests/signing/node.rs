//! The hosted CLI signs with Node's `crypto.privateEncrypt(RSA_PKCS1_PADDING)`: our signatures
//! must be the same bytes (PKCS#1 v1.5 type 1 is deterministic), and Node's `publicDecrypt` must
//! open ours.

use std::fs;
use std::process::Command;

use capstan_core::signing::{SignedField, open_signed_sha256, sign_sha256};

use tempfile::tempdir;

use crate::fixtures::*;

const SIGN_AND_OPEN: &str = r#"
const crypto = require('crypto');
const fs = require('fs');
const [privateFile, publicFile, digestHex, oursHex] = process.argv.slice(1);
const privatePem = fs.readFileSync(privateFile, 'utf8');
const publicPem = fs.readFileSync(publicFile, 'utf8');
const padding = crypto.constants.RSA_PKCS1_PADDING;
const theirs = crypto.privateEncrypt({ key: privatePem, padding }, Buffer.from(digestHex, 'hex'));
const opened = crypto.publicDecrypt({ key: publicPem, padding }, Buffer.from(oursHex, 'hex'));
console.log(theirs.toString('hex') + ' ' + opened.toString('hex'));
"#;

#[test]
fn node_signs_the_same_bytes_and_opens_ours() {
    let signer = signer();
    let digest: [u8; 32] = noise(32, 11).try_into().unwrap();
    let ours = sign_sha256(signer, &digest).unwrap();
    // Files, not arguments: a failing test then prints paths, not the key.
    let dir = tempdir().unwrap();
    let private_file = dir.path().join("private.pem");
    let public_file = dir.path().join("public.pem");
    fs::write(&private_file, signer.to_pem().unwrap().as_bytes()).unwrap();
    fs::write(&public_file, signer.verifying_key().pem()).unwrap();
    let stdout = run(Command::new("node")
        .arg("-e")
        .arg(SIGN_AND_OPEN)
        .arg(&private_file)
        .arg(&public_file)
        .arg(hex::encode(digest))
        .arg(&ours));
    let (theirs, opened) = stdout.trim().split_once(' ').unwrap();
    assert_eq!(theirs, ours, "Node's privateEncrypt and ours differ");
    assert_eq!(opened, hex::encode(digest));
    assert_eq!(open_signed_sha256(signer.verifying_key(), theirs, SignedField::Checksum).unwrap(), hex::encode(digest));
}
