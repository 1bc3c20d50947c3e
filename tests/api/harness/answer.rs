//! An admin API answer read whole, for tests of statuses and error shapes.

use reqwest::StatusCode;
use serde_json::Value;

use super::TestApp;

/// The app read through whole [`Answer`]s (status, headers, JSON body),
/// for tests of the admin API's statuses and error shapes: its own `get`,
/// `post`… and everything of the [`TestApp`] it wraps.
pub struct Answering(pub TestApp);

impl std::ops::Deref for Answering {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Answering {
    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.at(path))).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.http.delete(self.at(path))).await
    }

    /// POST without a body.
    pub async fn post(&self, path: &str) -> Answer {
        self.send(self.http.post(self.at(path))).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.raw(reqwest::Method::POST, path, body.to_string())
            .await
    }

    pub async fn put_json(&self, path: &str, body: Value) -> Answer {
        self.raw(reqwest::Method::PUT, path, body.to_string()).await
    }

    /// `method` with a JSON content type and `body` as it is.
    pub async fn raw(&self, method: reqwest::Method, path: &str, body: String) -> Answer {
        self.send(
            self.http
                .request(method, self.at(path))
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }
}

/// A status and the JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the one error shape and returns (code, field).
    pub fn error(&self) -> (String, Option<String>) {
        let e = &self.body["error"];
        assert!(
            e["code"].is_string() && e["message"].is_string(),
            "not the error shape: {}",
            self.body
        );
        assert!(
            e.as_object().unwrap().contains_key("field"),
            "field is always present: {}",
            self.body
        );
        (
            e["code"].as_str().unwrap().to_string(),
            e["field"].as_str().map(str::to_string),
        )
    }

    pub fn field(&self) -> Option<String> {
        self.error().1
    }

    pub fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }
}

/// Reads a response whole; an error status must come with a JSON body.
pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(
            headers
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
            "error {status} is JSON: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Answer {
        status,
        headers,
        body,
    }
}

impl TestApp {
    /// Sends `request` with the token (if any) and reads the [`Answer`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        answer(self.authed(request).send().await.unwrap()).await
    }
}
