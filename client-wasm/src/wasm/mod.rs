//! The browser shell: wasm-bindgen exports that drive the core with a `WebSocket`,
//! `setTimeout` and `fetch`. These exports, and the TypeScript types wasm-bindgen writes for
//! them, are the JavaScript SDK (docs/CLIENT.md).

mod client;
mod http;
mod lobby;
mod types;

use protocol::v1::{Event, Value};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::replay::Replay as ReplayCore;
use http::{base, request_json};

/// Serializes for a page: maps as plain objects, 64-bit numbers as numbers.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&serializer).map_err(|e| JsValue::from(e.to_string()))
}

/// A game value (move, config) from a page, as the wire carries it.
fn value_from_js(value: JsValue) -> Result<Value, JsValue> {
    let json: serde_json::Value =
        serde_wasm_bindgen::from_value(value).map_err(|e| JsValue::from(e.to_string()))?;
    let bytes = rmp_serde::to_vec_named(&json).map_err(|e| JsValue::from(e.to_string()))?;
    Ok(protocol::replica::decode_value(&bytes))
}

fn url_id(id: &str) -> String {
    js_sys::encode_uri_component(id).into()
}

/// A guest token: `{token, player_id, name, expires_at}`.
#[wasm_bindgen(unchecked_return_type = "Guest")]
pub async fn guest(server: String, name: String) -> Result<JsValue, JsValue> {
    let body = to_js(&serde_json::json!({ "name": name }))?;
    request_json("POST", &format!("{}/api/auth/guest", base(&server)), None, Some(&body)).await
}

/// A fresh token for the same player (before the old one expires): `{token, player_id, name,
/// expires_at}`.
#[wasm_bindgen(unchecked_return_type = "Guest")]
pub async fn refresh(server: String, token: String) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/auth/refresh", base(&server));
    request_json("POST", &url, Some(&token), None).await
}

/// The registered games.
#[wasm_bindgen(js_name = listGames, unchecked_return_type = "GameInfo[]")]
pub async fn list_games(server: String) -> Result<JsValue, JsValue> {
    let answer = request_json("GET", &format!("{}/api/games", base(&server)), None, None).await?;
    js_sys::Reflect::get(&answer, &"games".into())
}

/// Public matches, newest first, filtered by `{status?, game?, limit?}`: the first page
/// (`listMatchesPage` reads the pages after it).
#[wasm_bindgen(js_name = listMatches, unchecked_return_type = "MatchSummary[]")]
pub async fn list_matches(
    server: String,
    #[wasm_bindgen(unchecked_param_type = "{status?: string, game?: string, limit?: number}")]
    filter: JsValue,
) -> Result<JsValue, JsValue> {
    let mut query = Vec::new();
    for key in ["status", "game", "limit"] {
        let value = js_sys::Reflect::get(&filter, &key.into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(text) = value.as_string().or_else(|| value.as_f64().map(|n| n.to_string())) {
            query.push(format!("{key}={}", String::from(js_sys::encode_uri_component(&text))));
        }
    }
    let url = format!("{}/api/matches?{}", base(&server), query.join("&"));
    let answer = request_json("GET", &url, None, None).await?;
    js_sys::Reflect::get(&answer, &"matches".into())
}

/// Creates a match: `{game, config?, bots?}`; resolves to `{match_id, bot_seats}`.
#[wasm_bindgen(js_name = createMatch, unchecked_return_type = "Created")]
pub async fn create_match(
    server: String,
    token: String,
    #[wasm_bindgen(unchecked_param_type = "CreateMatch")] request: JsValue,
) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/matches", base(&server));
    request_json("POST", &url, Some(&token), Some(&request)).await
}

/// One match's summary: `{match_id, game, status, seats, head_seq, created_at_ms, outcome}`.
#[wasm_bindgen(js_name = fetchMatch, unchecked_return_type = "MatchSummary")]
pub async fn fetch_match(server: String, match_id: String) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/matches/{}", base(&server), url_id(&match_id));
    request_json("GET", &url, None, None).await
}

/// Takes a free seat; resolves to `{match_id, seat}`.
#[wasm_bindgen(js_name = takeSeat, unchecked_return_type = "{match_id: string, seat: number}")]
pub async fn take_seat(
    server: String,
    token: String,
    match_id: String,
) -> Result<JsValue, JsValue> {
    let url = format!("{}/api/matches/{}/join", base(&server), url_id(&match_id));
    request_json("POST", &url, Some(&token), None).await
}

/// Every event of a match.
#[wasm_bindgen(js_name = fetchEvents, unchecked_return_type = "Event[]")]
pub async fn fetch_events(
    server: String,
    match_id: String,
    token: Option<String>,
) -> Result<JsValue, JsValue> {
    to_js(&http::all_events(&server, &match_id, token.as_deref()).await?)
}

/// The state after event `at` (the head when absent), as the server computes it.
#[wasm_bindgen(js_name = fetchState, unchecked_return_type = "Snapshot")]
pub async fn fetch_state(
    server: String,
    match_id: String,
    at: Option<u32>,
    token: Option<String>,
) -> Result<JsValue, JsValue> {
    let at = at.map(|at| format!("?at={at}")).unwrap_or_default();
    let url = format!("{}/api/matches/{}/state{at}", base(&server), url_id(&match_id));
    request_json("GET", &url, token.as_deref(), None).await
}

/// A match's history to step through.
#[wasm_bindgen]
pub struct Replay {
    core: ReplayCore,
}

#[wasm_bindgen]
impl Replay {
    /// A replay of `events` (from event 0, no gaps).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Event[]")] events: JsValue,
    ) -> Result<Replay, JsValue> {
        let events: Vec<Event> =
            serde_wasm_bindgen::from_value(events).map_err(|e| JsValue::from(e.to_string()))?;
        let core = ReplayCore::new(builtin_games::games(), events)
            .map_err(|e| JsValue::from(e.to_string()))?;
        Ok(Replay { core })
    }

    /// A replay of every event of a match so far.
    pub async fn fetch(
        server: String,
        match_id: String,
        token: Option<String>,
    ) -> Result<Replay, JsValue> {
        let events = http::all_events(&server, &match_id, token.as_deref()).await?;
        let core = ReplayCore::new(builtin_games::games(), events)
            .map_err(|e| JsValue::from(e.to_string()))?;
        Ok(Replay { core })
    }

    /// The last seq held.
    pub fn head(&self) -> f64 {
        self.core.head() as f64
    }

    /// Appends a later event of a live match (one already held is ignored).
    pub fn push(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Event")] event: JsValue,
    ) -> Result<(), JsValue> {
        let event: Event =
            serde_wasm_bindgen::from_value(event).map_err(|e| JsValue::from(e.to_string()))?;
        self.core.push(event).map_err(|e| JsValue::from(e.to_string()))
    }

    /// The state after event `seq`, rebuilt by the rules and checked against its hash.
    #[wasm_bindgen(unchecked_return_type = "StateView")]
    pub fn at(&mut self, seq: f64) -> Result<JsValue, JsValue> {
        let state = self.core.at(seq.max(0.0) as u64).map_err(|e| JsValue::from(e.to_string()))?;
        to_js(&state)
    }

    /// The events held.
    #[wasm_bindgen(unchecked_return_type = "Event[]")]
    pub fn events(&self) -> Result<JsValue, JsValue> {
        to_js(&self.core.events())
    }
}
