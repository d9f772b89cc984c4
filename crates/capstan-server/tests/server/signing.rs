//! Signed bundles on the server: registered public keys, encrypted uploads opened and inspected
//! as a device would, "require signed bundles" on uploads and on every release path, key ids per
//! plugin line, and which keys the installed apps trust.

use capstan_core::progress::{CancelFlag, NoProgress};
use capstan_core::signing::{SigningKey, VerifyingKey, open_bundle, sign_sha256};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

use crate::support::*;

/// An unrelated key pair, never registered.
fn stranger() -> SigningKey {
    SigningKey::generate().unwrap()
}

fn refusal(answer: &Value) -> (&str, &str) {
    (answer["error"].as_str().unwrap_or_default(), answer["kind"].as_str().unwrap_or_default())
}

/// An app with the test key registered.
async fn app_with_key(server: &TestServer) -> SigningKey {
    server.create_app(APP).await;
    let signer = test_signer();
    let (status, body) = server.register_key(APP, signer.verifying_key().pem()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    signer
}

async fn bundles(server: &TestServer) -> Vec<String> {
    let (_, list) = server.api(Method::GET, &format!("/apps/{APP}/bundles"), None).await;
    list.as_array().unwrap().iter().map(|b| b["version"].as_str().unwrap().to_owned()).collect()
}

async fn channel(server: &TestServer, name: &str) -> Value {
    let (status, channel) = server.api(Method::GET, &format!("/apps/{APP}/channels/{name}"), None).await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    channel
}

async fn require_signed(server: &TestServer, on: bool) -> (StatusCode, Value) {
    server.api(Method::PATCH, &format!("/apps/{APP}/signing"), Some(json!({ "require_signed": on }))).await
}

#[tokio::test]
async fn keys_are_registered_by_admins_as_the_plugin_reads_them() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let public = key_fixture("rsa2048.public.pkcs1.pem");
    for role in [capstan_server::auth::Role::Viewer, capstan_server::auth::Role::Publisher] {
        let token = server.token(role).await;
        let body = json!({ "public_key": public });
        let (status, _) =
            server.send(Method::POST, &format!("/api/v1/apps/{APP}/signing/keys"), Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} may not register keys");
    }

    for (file, says) in [
        ("rsa4096.public.pkcs1.pem", "2048-bit"),
        ("rsa2048.pkcs8.pem", "private key"),
        ("rsa2048.public.spki.pem", "BEGIN RSA PUBLIC KEY"),
        ("ec.pkcs8.pem", "private key"),
    ] {
        let (status, body) = server.register_key(APP, &key_fixture(file)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{file}: {body}");
        assert_eq!(body["error"], "invalid_key", "{file}");
        assert!(body["message"].as_str().unwrap().contains(says), "{file}: {body}");
    }
    let (status, body) =
        server.register_key(APP, "-----BEGIN RSA PUBLIC KEY-----\nMIIB!!\n-----END RSA PUBLIC KEY-----").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_key")), "{body}");

    // Whitespace as pasted from a config file is fine; what is stored is the plugin's form.
    let (status, record) = server.register_key(APP, &format!("\n  {}\n\n", public.replace('\n', "\r\n"))).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    let expected = VerifyingKey::from_pem(&public).unwrap();
    assert_eq!(record["key_id"], expected.key_id());
    assert_eq!(record["public_key"], expected.pem());
    assert_eq!(record["created_by"], "test-admin (token 1)");
    let (status, body) = server.register_key(APP, &public).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, signing) = server.api(Method::GET, &format!("/apps/{APP}/signing"), None).await;
    assert_eq!(signing["require_signed"], false);
    assert_eq!(signing["keys"].as_array().unwrap().len(), 1);
    let key_id = expected.key_id();
    let (status, removed) = server.api(Method::DELETE, &format!("/apps/{APP}/signing/keys/{key_id}"), None).await;
    assert_eq!((status, removed["key_id"].as_str()), (StatusCode::OK, Some(key_id)));
    let (status, _) = server.api(Method::DELETE, &format!("/apps/{APP}/signing/keys/{key_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = server.api(Method::GET, &format!("/audit?app={APP}"), None).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"signing.key_register") && actions.contains(&"signing.key_remove"), "{actions:?}");
    server.stop().await;
}

#[tokio::test]
async fn encrypted_uploads_are_opened_like_a_device_and_inspected_like_plain_ones() {
    let server = TestServer::start().await;
    let signer = app_with_key(&server).await;
    let plain = bundle_zip("1.0.1");
    let (encrypted, fields) = encrypt_zip(&signer, &plain);
    let (status, stored) = server.upload_encrypted(APP, "1.0.1", encrypted.clone(), &fields).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["checksum"], fields.checksum.as_str(), "devices get the signed checksum");
    assert_eq!(stored["session_key"], fields.session_key.as_str());
    assert_eq!(stored["key_id"], signer.key_id());
    assert_eq!(stored["sha256"], sha256_hex(&encrypted), "the bytes devices download");
    assert_eq!(stored["file_count"], 2, "counted inside the decrypted zip");

    // A device with the app's key gets it, downloads it and opens it.
    server.publish(APP, "production", "1.0.1").await;
    let offer = server.updates(&device_with(APP, "d1", json!({ "key_id": signer.key_id() }))).await;
    assert_eq!(offer["checksum"], fields.checksum.as_str());
    let downloaded = server.client.get(offer["url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("download"), &downloaded).unwrap();
    let opened = open_bundle(
        signer.verifying_key(),
        &dir.path().join("download"),
        offer["session_key"].as_str().unwrap(),
        offer["checksum"].as_str().unwrap(),
        &dir.path().join("plain.zip"),
        &NoProgress,
        &CancelFlag::new(),
    )
    .unwrap();
    assert_eq!(opened.sha256, sha256_hex(&plain));
    assert_eq!(std::fs::read(dir.path().join("plain.zip")).unwrap(), plain);
    server.stop().await;
}

#[tokio::test]
async fn encrypted_uploads_that_do_not_open_or_inspect_are_refused_with_nothing_stored() {
    let server = TestServer::start().await;
    let signer = app_with_key(&server).await;
    let before = server.stored_files();
    let (good_bytes, good) = encrypt_zip(&signer, &bundle_zip("1.0.1"));

    // Five bytes with a real signed checksum and session key: once "accepted as encrypted".
    let five = b"12345".to_vec();
    let mut fields = good.clone();
    fields.checksum = sign_sha256(&signer, &sha2::Sha256::digest(&five).into()).unwrap();
    let (status, body) = server.upload_encrypted(APP, "1.0.1", five, &fields).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_signature")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("not whole 16-byte AES blocks"), "{body}");

    // One altered byte: the bytes no longer hash to the signed checksum (or do not unpad).
    let mut altered = good_bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 1;
    let (status, body) = server.upload_encrypted(APP, "1.0.1", altered, &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_signature")),
        "{body}"
    );

    // Signed by a key that is not registered: named as such, before the body is read.
    let stranger = stranger();
    let (foreign_bytes, foreign) = encrypt_zip(&stranger, &bundle_zip("1.0.1"));
    let (status, body) = server.upload_encrypted(APP, "1.0.1", foreign_bytes.clone(), &foreign).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unregistered_key")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains(stranger.key_id()), "{body}");
    // ...or claiming the registered key's id.
    let claimed = capstan_core::signing::EncryptedBundle { key_id: signer.key_id().to_owned(), ..foreign };
    let (status, body) = server.upload_encrypted(APP, "1.0.1", foreign_bytes, &claimed).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_signature")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("signed with another key"), "{body}");

    // Properly signed and encrypted, but the zip inside breaks the bundle rules.
    for (name, zip) in [
        ("zip-slip", zip_of(&[("index.html", b"<html>"), ("../../evil.js", b"pwned")])),
        ("no index.html", zip_of(&[("app.js", b"x")])),
        ("not a zip", b"plain text, signed and encrypted".to_vec()),
    ] {
        let (bytes, fields) = encrypt_zip(&signer, &zip);
        let (status, body) = server.upload_encrypted(APP, "1.0.1", bytes, &fields).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_bundle")),
            "{name}: {body}"
        );
    }

    // Incomplete or malformed encryption fields.
    for (drop, code) in [("key_id", "incomplete_encryption"), ("session_key", "incomplete_encryption")] {
        let query: Vec<(&str, &str)> =
            [("session_key", good.session_key.as_str()), ("checksum", &good.checksum), ("key_id", &good.key_id)]
                .into_iter()
                .filter(|(name, _)| *name != drop)
                .collect();
        let url = format!("{}/api/v1/apps/{APP}/bundles?version=1.0.1&sha256={}", server.base, sha256_hex(&good_bytes));
        let response = server
            .client
            .post(url)
            .query(&query)
            .bearer_auth(&server.admin)
            .body(good_bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], code, "without {drop}");
    }
    let unsigned = capstan_core::signing::EncryptedBundle { checksum: sha256_hex(b"x"), ..good.clone() };
    let (status, body) = server.upload_encrypted(APP, "1.0.1", good_bytes.clone(), &unsigned).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_checksum")), "{body}");

    assert!(bundles(&server).await.is_empty(), "no bundle row");
    assert_eq!(server.stored_files(), before, "no blob and no temporary file, encrypted or decrypted");
    let (status, _) = server.upload_encrypted(APP, "1.0.1", good_bytes, &good).await;
    assert_eq!(status, StatusCode::CREATED, "the good bundle still uploads");
    server.stop().await;
}

#[tokio::test]
async fn require_signed_refuses_unsigned_uploads_and_every_release_of_an_unsigned_bundle() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    server.create_channel(APP, json!({ "name": "beta" })).await;
    server.upload_ok(APP, "1.0.0", "").await;
    server.publish(APP, "production", "1.0.0").await;

    let (status, body) = require_signed(&server, true).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("no_signing_key")), "{body}");
    let signer = test_signer();
    server.register_key(APP, signer.verifying_key().pem()).await;
    let (status, body) = require_signed(&server, true).await;
    assert_eq!(status, StatusCode::CONFLICT, "production serves unsigned 1.0.0: {body}");
    assert!(body["message"].as_str().unwrap().contains("channel `production` serves 1.0.0"), "{body}");

    let (bytes, fields) = encrypt_zip(&signer, &bundle_zip("1.1.0"));
    let (status, body) = server.upload_encrypted(APP, "1.1.0", bytes, &fields).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.1.0").await;
    let (status, signing) = require_signed(&server, true).await;
    assert_eq!((status, signing["require_signed"].as_bool()), (StatusCode::OK, Some(true)), "{signing}");

    // A plain upload: refused in words, nothing stored, no channel changed.
    let production = channel(&server, "production").await;
    let files = server.stored_files();
    let (status, body) = server.upload(APP, "1.2.0", bundle_zip("1.2.0"), "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("signature_required")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("requires signed bundles"), "{body}");
    assert_eq!(bundles(&server).await, ["1.1.0", "1.0.0"]);
    assert_eq!(server.stored_files(), files);

    // The unsigned 1.0.0 from before cannot be served again by any release path.
    let ch = format!("/apps/{APP}/channels");
    for (path, body) in [
        (format!("{ch}/production/publish"), json!({ "version": "1.0.0", "force": true })),
        (format!("{ch}/beta/publish"), json!({ "version": "1.0.0" })),
        (format!("{ch}/beta/rollout"), json!({ "version": "1.0.0", "percent": 10 })),
        (format!("{ch}/production/rollback"), json!({})),
    ] {
        let (status, answer) = server.api(Method::POST, &path, Some(body)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("signature_required")),
            "{path}: {answer}"
        );
        assert!(answer["message"].as_str().unwrap().contains("bundle 1.0.0 is not signed"), "{answer}");
    }
    assert_eq!(channel(&server, "production").await, production, "production unchanged");
    assert_eq!(channel(&server, "beta").await["target"], Value::Null, "beta unchanged");

    // Signed bundles move freely. (Promote cannot bring an unsigned bundle in: while the rule
    // is on no channel serves one; the store test below covers a save that would.)
    server.publish(APP, "beta", "1.1.0").await;

    // The key signing what channels serve cannot be removed while the rule is on.
    let (status, body) =
        server.api(Method::DELETE, &format!("/apps/{APP}/signing/keys/{}", signer.key_id()), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "in_use");

    // Switched off, plain uploads are accepted again.
    let (status, _) = require_signed(&server, false).await;
    assert_eq!(status, StatusCode::OK);
    server.upload_ok(APP, "1.2.0", "").await;
    server.stop().await;
}

#[tokio::test]
async fn the_store_refuses_an_unsigned_target_even_past_the_handler() {
    // Two writers racing: the handler's check passed on a stale read. The store checks again
    // inside the transaction.
    let server = TestServer::start().await;
    let signer = app_with_key(&server).await;
    server.upload_ok(APP, "1.0.0", "").await;
    let (bytes, fields) = encrypt_zip(&signer, &bundle_zip("1.1.0"));
    server.upload_encrypted(APP, "1.1.0", bytes, &fields).await;
    server.publish(APP, "production", "1.1.0").await;
    require_signed(&server, true).await;

    let db = server.state.db();
    let before = db.get_channel(APP, "production").await.unwrap().unwrap();
    let mut after = before.clone();
    after.lane_mut(None).target = Some(capstan_core::api::Target::Bundle("1.0.0".into()));
    let audit = capstan_server::store::NewAudit {
        actor: "race".into(),
        app_id: Some(APP.into()),
        action: "channel.publish".into(),
        subject: "production".into(),
        before: None,
        after: None,
        at_ms: 1,
    };
    let error = db.save_channel(&before, &after, &[], &[], audit).await.unwrap_err();
    assert!(error.to_string().contains("not signed"), "{error}");
    assert_eq!(db.get_channel(APP, "production").await.unwrap().unwrap(), before);
    server.stop().await;
}

/// Which plugin lines send which key id (protocol.md §1).
fn on_plugin(version: &str, key_id: &str) -> Value {
    device_with(APP, "d1", json!({ "plugin_version": version, "key_id": key_id }))
}

#[tokio::test]
async fn key_ids_are_compared_only_when_a_plugin_names_a_key() {
    let server = TestServer::start().await;
    let signer = app_with_key(&server).await;
    let (bytes, fields) = encrypt_zip(&signer, &bundle_zip("1.0.1"));
    server.upload_encrypted(APP, "1.0.1", bytes, &fields).await;
    server.publish(APP, "production", "1.0.1").await;
    let ours = signer.key_id();
    let foreign = stranger();
    assert_eq!(ours.len(), 20);
    assert_eq!(&ours[..12], &foreign.key_id()[..12], "the first 12 characters are the same for every 2048-bit key");

    // 8.2.0–8.40.7 send `MIIB`, the same for every key: they must get the bundle (they were
    // refused every signed bundle before).
    let answer = server.updates(&on_plugin("8.30.0", &ours[..4])).await;
    assert_eq!(answer["version"], "1.0.1", "{answer}");
    assert_eq!(answer["checksum"], fields.checksum.as_str());
    for line in ["8.51.14", "8.40.8", "7.50.1", "6.50.1"] {
        let answer = server.updates(&on_plugin(line, ours)).await;
        assert_eq!(answer["session_key"], fields.session_key.as_str(), "{line}: {answer}");
        let answer = server.updates(&on_plugin(line, foreign.key_id())).await;
        assert_eq!(refusal(&answer), ("key_id_mismatch", "blocked"), "{line}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(ours) && message.contains(foreign.key_id()), "{line}: in words: {message}");
        assert_eq!(answer["version"], "1.0.1");
    }
    server.stop().await;
}

#[tokio::test]
async fn coverage_counts_active_devices_by_the_key_they_trust() {
    let server = TestServer::start().await;
    let signer = app_with_key(&server).await;
    let retired = stranger();
    let devices = [
        ("a", "2.0.0", Some(signer.key_id().to_owned())),
        ("b", "2.0.0", Some(signer.key_id().to_owned())),
        ("c", "2.0.0", Some(retired.key_id().to_owned())),
        ("d", "1.0.0", Some(retired.key_id().to_owned())),
        ("e", "1.0.0", Some("MIIB".to_owned())),
        ("f", "1.0.0", None),
    ];
    for (id, native, key_id) in &devices {
        let mut info =
            device_with(APP, &format!("{id}0000000-0000-4000-8000-000000000000"), json!({ "version_build": native }));
        if let Some(key_id) = key_id {
            info["key_id"] = json!(key_id);
        }
        server.updates(&info).await;
    }
    let (status, coverage) =
        server.api(Method::GET, &format!("/apps/{APP}/signing/coverage?active_days=7"), None).await;
    assert_eq!(status, StatusCode::OK, "{coverage}");
    assert_eq!(coverage["active_devices"], 6);
    let rows = |list: &Value| -> Vec<(Value, String, Value, i64)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["native_version"].clone(),
                    r["trust"].as_str().unwrap().to_owned(),
                    r["key_id"].clone(),
                    r["devices"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let ours = json!(signer.key_id());
    let old = json!(retired.key_id());
    assert_eq!(
        rows(&coverage["by_native"]),
        vec![
            (json!("2.0.0"), "registered".into(), ours.clone(), 2),
            (json!("2.0.0"), "unregistered".into(), old.clone(), 1),
            (json!("1.0.0"), "unregistered".into(), old.clone(), 1),
            (json!("1.0.0"), "unknown".into(), Value::Null, 1),
            (json!("1.0.0"), "no_key".into(), Value::Null, 1),
        ]
    );
    assert_eq!(coverage["totals"][0]["percent"], 33.3);
    server.stop().await;
}
