//! The HTTP API from a page: thin `fetch` calls that resolve to plain objects and reject with
//! `{status, code, message}`, the server's error body (docs/PROTOCOL.md §9).

use js_sys::{JSON, Reflect};
use protocol::v1::Event;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// Most events asked for per page (the server's own cap).
const EVENTS_PAGE: u32 = 1000;

/// A rejection: a JavaScript `Error` whose `message` is the server's, with its HTTP `status`
/// and stable `code` as properties.
pub fn api_error(status: u16, code: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    let _ = Reflect::set(&error, &"status".into(), &JsValue::from(status));
    let _ = Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn network_error(e: JsValue) -> JsValue {
    let message = e
        .as_string()
        .or_else(|| Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()));
    api_error(0, "network_error", &message.unwrap_or_else(|| "the request failed".into()))
}

/// The server's base URL with no trailing slash (`""`: this page's origin).
pub fn base(server: &str) -> &str {
    server.trim_end_matches('/')
}

/// Sends a request and returns the body of a 2xx answer as text.
pub async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&JsValue>,
) -> Result<String, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new()?;
    if let Some(token) = token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    if let Some(body) = body {
        headers.set("content-type", "application/json")?;
        init.set_body(&JSON::stringify(body)?.into());
    }
    init.set_headers(&headers);
    let request = Request::new_with_str_and_init(url, &init)?;
    let window =
        web_sys::window().ok_or_else(|| api_error(0, "no_window", "fetch needs a page"))?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(network_error)?
        .dyn_into()?;
    let text = JsFuture::from(response.text()?)
        .await
        .map_err(network_error)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        return Ok(text);
    }
    Err(error_from_body(response.status(), &text))
}

fn error_from_body(status: u16, text: &str) -> JsValue {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        code: String,
        message: String,
    }
    match serde_json::from_str::<Body>(text) {
        Ok(Body { error }) => api_error(status, &error.code, &error.message),
        Err(_) => api_error(status, "http_error", text),
    }
}

/// A request whose JSON answer goes to the page as is.
pub async fn request_json(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&JsValue>,
) -> Result<JsValue, JsValue> {
    let text = request(method, url, token, body).await?;
    JSON::parse(&text)
}

/// Every event of a match, page by page.
pub async fn all_events(
    server: &str,
    match_id: &str,
    token: Option<&str>,
) -> Result<Vec<Event>, JsValue> {
    #[derive(Deserialize)]
    struct Page {
        events: Vec<Event>,
        next_from: Option<u64>,
    }
    let id = String::from(js_sys::encode_uri_component(match_id));
    let mut events = Vec::new();
    let mut from = Some(0);
    while let Some(at) = from {
        let url = format!("{}/api/matches/{id}/events?from={at}&limit={EVENTS_PAGE}", base(server));
        let text = request("GET", &url, token, None).await?;
        let page: Page = serde_json::from_str(&text)
            .map_err(|e| api_error(200, "malformed_response", &e.to_string()))?;
        events.extend(page.events);
        from = page.next_from;
    }
    Ok(events)
}
