//! Hostile and broken uploads are refused and leave nothing behind.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

async fn assert_nothing_stored(server: &TestServer) {
    let (_, bundles) = server.api(Method::GET, &format!("/apps/{APP}/bundles"), None).await;
    assert_eq!(bundles, Value::Array(vec![]), "no bundle row");
    assert_eq!(server.stored_files(), Vec::<String>::new(), "no blob and no temporary file");
}

#[tokio::test]
async fn hostile_uploads_are_rejected_with_nothing_stored() {
    let server = TestServer::start().await;
    server.create_app(APP).await;

    // Checksum mismatch: the announced hash is of other bytes.
    let zip = bundle_zip("1.0.1");
    let url = format!("{}/api/v1/apps/{APP}/bundles?version=1.0.1&sha256={}", server.base, sha256_hex(b"other"));
    let response = server.client.post(url).bearer_auth(&server.admin).body(zip).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "checksum_mismatch");
    assert_nothing_stored(&server).await;

    let bomb_payload = vec![0u8; 24 << 20];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zip-slip", zip_of(&[("index.html", b"<html>"), ("../../evil.js", b"pwned")])),
        ("absolute path", zip_of(&[("index.html", b"<html>"), ("/etc/cron.d/x", b"pwned")])),
        ("bomb", zip_of(&[("index.html", b"<html>"), ("zeros.bin", &bomb_payload)])),
        ("not a zip", b"this is not a zip archive at all".to_vec()),
        ("no index.html", zip_of(&[("app.js", b"x")])),
    ];
    for (name, bytes) in cases {
        let (status, body) = server.upload(APP, "1.0.1", bytes, "").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["error"], "invalid_bundle", "{name}");
        assert!(body["message"].as_str().unwrap().len() > 5);
        assert_nothing_stored(&server).await;
    }

    for (query, code) in [
        ("version=banana&sha256=00", "invalid_version"),
        ("version=1.0.1", "missing_sha256"),
        ("version=1.0.1&sha256=xyz", "invalid_sha256"),
    ] {
        let url = format!("{}/api/v1/apps/{APP}/bundles?{query}", server.base);
        let response =
            server.client.post(url).bearer_auth(&server.admin).body(bundle_zip("1.0.1")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], code);
    }
    assert_nothing_stored(&server).await;

    // The same version uploads fine once the bytes are good.
    server.upload_ok(APP, "1.0.1", "").await;
    server.stop().await;
}

#[tokio::test]
async fn oversized_uploads_are_refused_while_streaming() {
    let server = TestServer::start_with(|c| c.max_bundle_bytes = 64 * 1024).await;
    server.create_app(APP).await;
    let noise = noise(200_000);
    let zip = zip_of(&[("index.html", b"<html>"), ("noise.bin", &noise)]);
    assert!(zip.len() > 64 * 1024);
    let (status, body) = server.upload(APP, "1.0.1", zip.clone(), "").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    // Without a Content-Length the limit is enforced on the streamed bytes.
    let stream =
        futures_util::stream::iter(zip.chunks(8192).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let url = format!("{}/api/v1/apps/{APP}/bundles?version=1.0.1&sha256={}", server.base, sha256_hex(&zip));
    let response = server
        .client
        .post(url)
        .bearer_auth(&server.admin)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_nothing_stored(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn versions_are_unique_and_immutable() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let first = server.upload_ok(APP, "1.0.1", "&notes=first&min_native_version=1.0").await;
    let (status, body) = server.upload(APP, "1.0.1", bundle_zip("other bytes"), "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, bundle) = server.api(Method::GET, &format!("/apps/{APP}/bundles/1.0.1"), None).await;
    assert_eq!(bundle["sha256"], sha256_hex(&first));
    assert_eq!(bundle["size"], first.len());
    assert_eq!(bundle["notes"], "first");
    assert_eq!(bundle["min_native_version"], "1.0.0");
    assert_eq!(bundle["created_by"], "test-admin (token 1)");
    server.stop().await;
}
