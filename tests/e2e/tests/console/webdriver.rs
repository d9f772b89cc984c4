//! A small W3C WebDriver client: just the commands these tests use, over plain HTTP to
//! tauri-driver on loopback. (thirtyfour 0.38 hung in session creation against tauri-driver
//! here while the same request by hand succeeded; the protocol is small enough to speak directly.)

use std::time::Duration;

use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session.
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// An element of the page.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

impl Session {
    /// Starts a session with `capabilities` (the W3C `alwaysMatch` object).
    pub async fn start(driver_url: &str, capabilities: Value) -> Session {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let response: Value = http
            .post(format!("{driver_url}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": capabilities } }))
            .send()
            .await
            .expect("tauri-driver answers")
            .json()
            .await
            .unwrap();
        let id = response["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {response}")).to_owned();
        Session { http, base: format!("{driver_url}/session/{id}") }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.expect("WebDriver answers").json().await.unwrap();
        response["value"].clone()
    }

    /// The first element matching now, without waiting.
    pub async fn try_find(&self, using: &str, selector: &str) -> Option<Element<'_>> {
        let found =
            self.command(reqwest::Method::POST, "/element", Some(json!({ "using": using, "value": selector }))).await;
        found.get(ELEMENT_KEY).and_then(Value::as_str).map(|id| Element { session: self, id: id.to_owned() })
    }

    /// Whether an element matches `css` now.
    pub async fn exists(&self, css: &str) -> bool {
        self.try_find("css selector", css).await.is_some()
    }

    /// Finds the first element matching `css`, waiting up to 30 s for it to appear.
    pub async fn find(&self, using: &str, selector: &str) -> Element<'_> {
        for _ in 0..300 {
            if let Some(element) = self.try_find(using, selector).await {
                return element;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Say what the window showed instead: the visible text is usually the explanation.
        let text = self
            .command(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({
                    "script": "return document.body ? document.body.innerText : document.documentElement.outerHTML;",
                    "args": []
                })),
            )
            .await;
        panic!("no element `{selector}` within 30 s; the window shows:\n{}", text.as_str().unwrap_or_default());
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(encoded.as_str().expect("base64 PNG")).unwrap()
    }

    /// Ends the session (the app quits).
    pub async fn quit(&self) {
        self.http.delete(&self.base).send().await.expect("session ends");
    }
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    /// Clicks it.
    pub async fn click(&self) {
        self.session.command(reqwest::Method::POST, &self.path("/click"), Some(json!({}))).await;
    }

    /// Empties an input.
    pub async fn clear(&self) {
        self.session.command(reqwest::Method::POST, &self.path("/clear"), Some(json!({}))).await;
    }

    /// Types `text` into it.
    pub async fn send_keys(&self, text: &str) {
        self.session.command(reqwest::Method::POST, &self.path("/value"), Some(json!({ "text": text }))).await;
    }

    /// Its visible text.
    pub async fn text(&self) -> String {
        self.session
            .command(reqwest::Method::GET, &self.path("/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The current value of an input, select or textarea.
    pub async fn value(&self) -> String {
        let value = self.session.command(reqwest::Method::GET, &self.path("/property/value"), None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Whether it is enabled.
    pub async fn is_enabled(&self) -> bool {
        self.session.command(reqwest::Method::GET, &self.path("/enabled"), None).await.as_bool().unwrap_or(false)
    }
}
