//! The role matrix: every management route × no token, a bad token and every role.

use capstan_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn every_route_enforces_its_role() {
    let server = TestServer::start().await;
    server.create_app(APP).await;
    let roles = [Role::Viewer, Role::Qa, Role::Publisher, Role::Admin];
    let mut tokens = Vec::new();
    for role in roles {
        tokens.push((role, server.token(role).await));
    }
    let mut checked = 0;
    for route in capstan_server::api::table().docs() {
        let path = route
            .path
            .replace("{app}", APP)
            .replace("{channel}", "production")
            .replace("{version}", "9.9.9")
            .replace("{device}", "dev-x")
            .replace("{id}", "999999")
            .replace("{key_id}", "MIIBCgKCAQEAnotakey0");
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        // Bodies that are well-formed but change nothing: the matrix must not mutate state.
        let body = matches!(route.method, "POST" | "PATCH" | "PUT").then(|| json!({}));
        let Some(min_role) = route.role else {
            let (status, _) = server.send(method, &path, None, body).await;
            assert_eq!(status, StatusCode::OK, "{} {path} is public", route.method);
            continue;
        };
        let (status, answer) = server.send(method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path} without a token", route.method);
        assert_eq!(answer["error"], "unauthorized");
        let (status, _) = server.send(method.clone(), &path, Some("capstan_0000"), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path} with a bad token", route.method);
        for (role, token) in &tokens {
            let (status, answer) = server.send(method.clone(), &path, Some(token), body.clone()).await;
            if *role >= min_role {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{} {path} as {role:?}: {status} {answer}",
                    route.method
                );
                assert!(!status.is_server_error(), "{} {path} as {role:?}: {status} {answer}", route.method);
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{} {path} as {role:?}", route.method);
                assert_eq!(answer["error"], "forbidden");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, (capstan_server::api::table().docs().len() - 1) * 4);
    // Nothing above changed the app.
    let (_, channels) = server.api(Method::GET, &format!("/apps/{APP}/channels"), None).await;
    assert_eq!(channels.as_array().unwrap().len(), 1);
    assert!(channels[0]["lanes"][0]["target"].is_null());
    server.stop().await;
}
