//! The lobby from a page: listing pages, private matches' codes, quick match, and leaving,
//! cancelling or resigning a match, and forking one (docs/PROTOCOL.md §9.7, §9.17–9.22).

use wasm_bindgen::prelude::*;

use super::http::{base, request_json};
use super::{to_js, url_id};

/// One page of public matches, newest first: `{matches, next?}`. `filter` is `{status?, game?,
/// limit?, after?}`; pass a page's `next` as `after` for the page after it.
#[wasm_bindgen(js_name = listMatchesPage, unchecked_return_type = "MatchPage")]
pub async fn list_matches_page(
    server: String,
    #[wasm_bindgen(
        unchecked_param_type = "{status?: string, game?: string, limit?: number, after?: string}"
    )]
    filter: JsValue,
) -> Result<JsValue, JsValue> {
    let mut query = Vec::new();
    for key in ["status", "game", "limit", "after"] {
        let value = js_sys::Reflect::get(&filter, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(text) = value.as_string().or_else(|| value.as_f64().map(|n| n.to_string())) {
            query.push(format!("{key}={}", String::from(js_sys::encode_uri_component(&text))));
        }
    }
    let url = format!("{}/api/matches?{}", base(&server), query.join("&"));
    request_json("GET", &url, None, None).await
}

/// Takes a seat in the private match with this code (any case); with `game`, only if the match
/// is of that game. Resolves to `{match_id, seat}`.
#[wasm_bindgen(js_name = joinByCode, unchecked_return_type = "{match_id: string, seat: number}")]
pub async fn join_by_code(
    server: String,
    token: String,
    code: String,
    game: Option<String>,
) -> Result<JsValue, JsValue> {
    let body = to_js(&serde_json::json!({ "code": code, "game": game }))?;
    request_json("POST", &format!("{}/api/join", base(&server)), Some(&token), Some(&body)).await
}

/// Waits for a seat in a new match of `{game, config?}`, with other players or (after the
/// server's wait) bots. Resolves to `{match_id, seat}` once seated; rejects with
/// `quickmatch_timeout` when nobody came in time.
#[wasm_bindgen(js_name = quickMatch, unchecked_return_type = "{match_id: string, seat: number}")]
pub async fn quick_match(
    server: String,
    token: String,
    #[wasm_bindgen(unchecked_param_type = "QuickMatch")] request: JsValue,
) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/quickmatch", base(&server));
    request_json("POST", &url, Some(&token), Some(&request)).await
}

/// Gives up the caller's seat of a match not yet started: `{match_id, seq}`.
#[wasm_bindgen(js_name = leaveMatch, unchecked_return_type = "ActDone")]
pub async fn leave_match(
    server: String,
    token: String,
    match_id: String,
) -> Result<JsValue, JsValue> {
    act(&server, &token, &match_id, "leave").await
}

/// Ends a match not yet started, as its creator: `{match_id, seq}`.
#[wasm_bindgen(js_name = cancelMatch, unchecked_return_type = "ActDone")]
pub async fn cancel_match(
    server: String,
    token: String,
    match_id: String,
) -> Result<JsValue, JsValue> {
    act(&server, &token, &match_id, "cancel").await
}

/// Resigns the caller's seat of a live match (every other seat wins): `{match_id, seq}`.
#[wasm_bindgen(js_name = resignMatch, unchecked_return_type = "ActDone")]
pub async fn resign_match(
    server: String,
    token: String,
    match_id: String,
) -> Result<JsValue, JsValue> {
    act(&server, &token, &match_id, "resign").await
}

/// Forks a match at event `at`: a new match whose history is events `0..=at` of this one,
/// with every seat open. Resolves to `{match_id, forked_from: {match_id, seq}}`.
#[wasm_bindgen(js_name = forkMatch, unchecked_return_type = "Forked")]
pub async fn fork_match(
    server: String,
    token: String,
    match_id: String,
    at: f64,
) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/matches/{}/fork", base(&server), url_id(&match_id));
    let body = to_js(&serde_json::json!({ "at": at.max(0.0) as u64 }))?;
    request_json("POST", &url, Some(&token), Some(&body)).await
}

async fn act(server: &str, token: &str, match_id: &str, what: &str) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/matches/{}/{what}", base(server), url_id(match_id));
    request_json("POST", &url, Some(token), None).await
}
