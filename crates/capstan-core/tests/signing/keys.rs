//! Key pairs: what is generated, what is read, and every key the plugin could not use refused.

use capstan_core::signing::{KeyError, SigningKey, VerifyingKey, key_id};

use crate::fixtures::*;

#[test]
fn a_generated_pair_is_rsa_2048_in_the_plugins_formats() {
    let signer = signer();
    let public = signer.verifying_key().pem();
    assert!(public.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"), "{public}");
    assert!(public.ends_with("\n-----END RSA PUBLIC KEY-----"), "{public}");
    assert!(public.lines().all(|line| line.len() <= 64));
    // A 2048-bit PKCS#1 public key always starts like this; the next 8 characters tell keys apart.
    assert_eq!(signer.key_id().len(), 20);
    assert!(signer.key_id().starts_with("MIIBCgKCAQEA"), "{}", signer.key_id());
    assert_eq!(key_id(public), signer.key_id());
    assert_ne!(signer.key_id(), other_signer().key_id());

    let private = signer.to_pem().unwrap();
    assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    let reread = SigningKey::from_pem(&private).unwrap();
    assert_eq!(reread.key_id(), signer.key_id());
    reread.check_pairs_with(signer.verifying_key()).unwrap();
    assert_eq!(VerifyingKey::from_pem(public).unwrap(), *signer.verifying_key());
}

#[test]
fn reads_an_openssl_pkcs8_key_and_prints_the_same_public_key_as_openssl() {
    let signer = SigningKey::from_pem(&key_file("rsa2048.pkcs8.pem")).unwrap();
    let openssl_public = key_file("rsa2048.public.pkcs1.pem");
    assert_eq!(signer.verifying_key().pem(), openssl_public.trim_end());
    let registered = VerifyingKey::from_pem(&openssl_public).unwrap();
    signer.check_pairs_with(&registered).unwrap();
    assert_eq!(signer.key_id(), key_id(&openssl_public));

    // Converting to PKCS#1 for storage keeps the same key.
    let pkcs1 = SigningKey::from_pem(&signer.to_pem().unwrap()).unwrap();
    assert_eq!(pkcs1.key_id(), signer.key_id());
}

#[test]
fn refuses_private_keys_the_plugin_could_not_verify() {
    let cases = [
        ("rsa4096.pkcs1.pem", KeyError::WrongSize(4096)),
        ("rsa1024.pkcs1.pem", KeyError::WrongSize(1024)),
        ("ec.sec1.pem", KeyError::NotRsa("an EC key".into())),
        ("ec.pkcs8.pem", KeyError::NotRsa("an EC key".into())),
        ("ed25519.pkcs8.pem", KeyError::NotRsa("an Ed25519 key".into())),
        ("rsa2048.public.pkcs1.pem", KeyError::PublicKeyGiven),
        ("rsa2048.public.spki.pem", KeyError::PublicKeyGiven),
    ];
    for (file, expected) in cases {
        assert_eq!(SigningKey::from_pem(&key_file(file)).unwrap_err(), expected, "{file}");
    }
    assert!(matches!(
        SigningKey::from_pem(&key_file("rsa2048.encrypted.pem")),
        Err(KeyError::UnsupportedFormat(reason)) if reason.contains("passphrase")
    ));
    assert_eq!(SigningKey::from_pem("my key is in the keychain").unwrap_err(), KeyError::NotPem);
    assert_eq!(SigningKey::from_pem("").unwrap_err(), KeyError::NotPem);
}

#[test]
fn refuses_corrupted_key_files() {
    let good = signer().to_pem().unwrap().to_string();
    let lines: Vec<&str> = good.lines().collect();

    // Cut off in the middle, as a partial copy would be.
    let truncated = lines[..lines.len() / 2].join("\n");
    assert!(matches!(SigningKey::from_pem(&truncated), Err(KeyError::Corrupted(_))), "truncated");

    // A character that is not base64.
    let garbled = good.replacen(&lines[3][..4], "!!!!", 1);
    assert!(matches!(SigningKey::from_pem(&garbled), Err(KeyError::Corrupted(_))), "garbled");

    // Valid base64 and DER, but a private number altered: the halves no longer pair.
    let body: String = lines[1..lines.len() - 1].concat();
    use base64::Engine as _;
    let mut der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
    der[420] ^= 0x01; // inside the private exponent
    let altered = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    assert!(matches!(SigningKey::from_pem(&altered), Err(KeyError::Corrupted(_))), "altered");
}

#[test]
fn refuses_a_private_key_that_is_not_the_registered_ones_pair() {
    let error = signer().check_pairs_with(other_signer().verifying_key()).unwrap_err();
    assert_eq!(
        error,
        KeyError::Mismatch { key_id: signer().key_id().into(), registered: other_signer().key_id().into() }
    );
    let message = error.to_string();
    assert!(message.contains(signer().key_id()) && message.contains(other_signer().key_id()), "{message}");
}

#[test]
fn refuses_public_keys_the_plugin_could_not_read() {
    assert_eq!(VerifyingKey::from_pem(&key_file("rsa2048.public.spki.pem")).unwrap_err(), KeyError::NotPkcs1Public);
    assert_eq!(VerifyingKey::from_pem(&key_file("rsa4096.public.pkcs1.pem")).unwrap_err(), KeyError::WrongSize(4096));
    assert_eq!(VerifyingKey::from_pem(&key_file("rsa2048.pkcs8.pem")).unwrap_err(), KeyError::PrivateKeyGiven);
    assert_eq!(VerifyingKey::from_pem("MIIBCgKCAQEA").unwrap_err(), KeyError::NotPem);

    let good = signer().verifying_key().pem();
    let no_footer = good.replace("-----END RSA PUBLIC KEY-----", "");
    assert!(matches!(VerifyingKey::from_pem(&no_footer), Err(KeyError::Corrupted(_))));
    let bad_base64 = good.replacen("MIIB", "MI*B", 1);
    assert!(matches!(VerifyingKey::from_pem(&bad_base64), Err(KeyError::Corrupted(_))));
    let cut = good.replacen(&good.lines().nth(2).unwrap()[..8], "", 1);
    assert!(matches!(VerifyingKey::from_pem(&cut), Err(KeyError::Corrupted(_))));

    // Line breaks and surrounding blank lines do not matter, as for the plugin.
    let rewrapped = format!("\n{}\n", good.replace('\n', "\r\n"));
    assert_eq!(VerifyingKey::from_pem(&rewrapped).unwrap(), *signer().verifying_key());
}

#[test]
fn refusals_are_one_line_and_say_why() {
    let inputs = [
        key_file("rsa4096.pkcs1.pem"),
        key_file("ec.pkcs8.pem"),
        key_file("ed25519.pkcs8.pem"),
        key_file("rsa2048.encrypted.pem"),
        key_file("rsa2048.public.pkcs1.pem"),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n".to_owned(),
        "-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all\n".to_owned(),
        "hello".to_owned(),
    ];
    for input in &inputs {
        let message = SigningKey::from_pem(input).unwrap_err().to_string();
        assert!(!message.contains('\n') && !message.is_empty(), "{message:?}");
    }
    for input in [key_file("rsa2048.public.spki.pem"), key_file("rsa4096.public.pkcs1.pem"), key_file("ec.sec1.pem")] {
        let message = VerifyingKey::from_pem(&input).unwrap_err().to_string();
        assert!(!message.contains('\n') && !message.is_empty(), "{message:?}");
    }
    assert_eq!(
        SigningKey::from_pem(&key_file("rsa4096.pkcs1.pem")).unwrap_err().to_string(),
        "a 4096-bit RSA key: the plugin accepts only 2048-bit keys"
    );
    assert_eq!(
        SigningKey::from_pem(&key_file("ed25519.pkcs8.pem")).unwrap_err().to_string(),
        "an Ed25519 key, not an RSA key: the plugin only verifies RSA-2048 signatures"
    );
}
