//! `capstan webhook`: add (the secret printed once), list, the delivery log, remove, and a bad
//! URL refused in one line, against a real server.

use serde_json::json;

use crate::web_build;
use capstan_testkit::Server;

const APP: &str = "com.example.hooks";

#[test]
fn webhooks_are_added_listed_logged_and_removed() {
    let server = Server::start();
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    web_build(cwd);
    server.json(cwd, &["app", "create", APP]);
    // Nothing listens on the discard port: deliveries fail and wait for their retry.
    let url = "http://127.0.0.1:9/hook";

    let created = server.json(cwd, &["webhook", "add", url, "--events", "publish,rollback", "--app", APP]);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["webhook"]["events"], json!(["publish", "rollback"]));
    let id = created["webhook"]["id"].as_i64().unwrap().to_string();

    let text = server.capstan(cwd, &["webhook", "add", "http://127.0.0.1:9/other", "--app", APP]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("shown once") && text.contains("whsec_"), "{text}");

    let listed = server.json(cwd, &["webhook", "list", "--app", APP]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&secret), "never listed again");

    server.json(cwd, &["publish", "dist", "--channel", "production", "--version", "1.0.0", "--app", APP]);
    let log = server.json(cwd, &["webhook", "deliveries", "--webhook", &id, "--app", APP]);
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["event"]["kind"], "publish");
    assert_eq!(log[0]["event"]["version"], "1.0.0");
    let table = server.capstan(cwd, &["webhook", "deliveries", "--app", APP]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("publish") && table.contains("1.0.0"), "{table}");

    let removed = server.json(cwd, &["webhook", "remove", &id, "--app", APP]);
    assert_eq!(removed["url"], url);
    assert_eq!(server.json(cwd, &["webhook", "list", "--app", APP]).as_array().unwrap().len(), 1);

    let refused = server.capstan(cwd, &["webhook", "add", "ftp://example.com/hook", "--app", APP]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("http"), "{stderr}");
    let unknown = server.capstan(cwd, &["webhook", "add", url, "--events", "deploy", "--app", APP]);
    assert_eq!(unknown.status.code(), Some(2), "a usage error");
}
