//! Bundle downloads: exact lengths, single ranges, raw bytes (protocol.md §6).

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, RANGE};

use crate::support::*;

#[tokio::test]
async fn full_and_ranged_downloads_return_the_exact_bytes() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    // Incompressible content so the zip is large enough for meaningful ranges.
    let noise = noise(300_000);
    let zip = zip_of(&[("index.html", b"<html></html>"), ("noise.bin", &noise)]);
    let (status, body) = server.upload(APP, "1.0.1", zip.clone(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.publish(APP, "production", "1.0.1").await;
    let url = server.updates(&device(APP, "d1")).await["url"].as_str().unwrap().to_owned();

    let full = server.client.get(&url).header(ACCEPT_ENCODING, "gzip, br").send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert!(full.headers().get(CONTENT_ENCODING).is_none(), "zips are served raw");
    assert_eq!(full.headers()[CONTENT_LENGTH], zip.len().to_string().as_str());
    assert_eq!(full.bytes().await.unwrap().as_ref(), zip.as_slice());

    let start = 123_457;
    let part = server
        .client
        .get(&url)
        .header(RANGE, format!("bytes={start}-"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[CONTENT_RANGE], format!("bytes {start}-{}/{}", zip.len() - 1, zip.len()).as_str());
    assert_eq!(part.headers()[CONTENT_LENGTH], (zip.len() - start).to_string().as_str());
    assert!(part.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(part.bytes().await.unwrap().as_ref(), &zip[start..]);

    let missing = server.client.get(format!("{}/dl/{APP}/9.9.9/nothing.zip", server.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let escape = server.client.get(format!("{}/dl/..%2F..%2Fetc%2Fpasswd", server.base)).send().await.unwrap();
    assert_eq!(escape.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}
