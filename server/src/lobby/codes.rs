//! Join codes of private matches: six characters people can read aloud, kept in memory from
//! code to match, and rebuilt at start from the creation records of unfinished matches (the
//! log holds each code, so a restart loses none). `POST /api/join` seats a player by code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::{App, random_u64};
use crate::error::{ApiError, ErrorResponse};
use crate::extract::{Body, Player};
use crate::http::{INTERNAL, SeatTaken, UNAUTHORIZED, UNAVAILABLE, blocking, take_seat};
use crate::room::PlayerRef;
use crate::storage::{EventLog, MatchStatus, ReadError, Record};

/// The characters of a code: no 0/O or 1/I, which people confuse.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a code: 32^6, about a billion codes.
pub const CODE_LEN: usize = 6;

/// Why a code does not lead to a match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// It is not six characters of the code alphabet.
    #[error("a join code is {CODE_LEN} letters and digits")]
    Malformed,
    /// No unfinished match has it.
    #[error("no open match has this code")]
    Unknown,
    /// Every code the server keeps is taken (`--max-private-matches`).
    #[error("this server holds its maximum of {max} private matches; retry later")]
    Full {
        /// The cap.
        max: usize,
    },
}

impl CodeError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::Malformed => "bad_code",
            CodeError::Unknown => "unknown_code",
            CodeError::Full { .. } => "too_many_private_matches",
        }
    }
}

/// Codes of unfinished private matches, at most `max` of them.
pub struct JoinCodes {
    by_code: Mutex<HashMap<String, String>>,
    max: usize,
}

impl JoinCodes {
    /// An empty table holding at most `max` codes.
    pub fn new(max: usize) -> JoinCodes {
        JoinCodes { by_code: Mutex::default(), max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.by_code.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new code for `match_id`, drawn from `draw` until it is unused.
    pub fn reserve(
        &self,
        match_id: &str,
        mut draw: impl FnMut() -> u64,
    ) -> Result<String, CodeError> {
        let mut codes = self.lock();
        if codes.len() >= self.max {
            return Err(CodeError::Full { max: self.max });
        }
        loop {
            let bits = draw();
            let code: String = (0..CODE_LEN)
                .map(|i| char::from(ALPHABET[(bits >> (5 * i)) as usize % 32]))
                .collect();
            if let std::collections::hash_map::Entry::Vacant(slot) = codes.entry(code.clone()) {
                slot.insert(match_id.to_string());
                return Ok(code);
            }
        }
    }

    /// Records a code found in the log.
    pub fn restore(&self, code: &str, match_id: &str) {
        self.lock().insert(code.to_string(), match_id.to_string());
    }

    /// The match a code (in any case) belongs to.
    pub fn find(&self, code: &str) -> Result<String, CodeError> {
        let code = normalize(code).ok_or(CodeError::Malformed)?;
        self.lock().get(&code).cloned().ok_or(CodeError::Unknown)
    }

    /// Forgets a code: its match failed to be created, or is no longer open.
    pub fn forget(&self, code: &str) {
        if let Some(code) = normalize(code) {
            self.lock().remove(&code);
        }
    }

    /// Every code and its match.
    fn all(&self) -> Vec<(String, String)> {
        self.lock().iter().map(|(c, m)| (c.clone(), m.clone())).collect()
    }
}

/// A code in upper case, if it is one.
fn normalize(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    (code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// A code for a new private match. When the table is full, the codes of matches that are no
/// longer open are forgotten first, and the reservation tried once more.
pub(super) async fn reserve(app: &Arc<App>, match_id: &str) -> Result<String, ApiError> {
    match app.codes.reserve(match_id, random_u64) {
        Err(CodeError::Full { .. }) => {
            let app2 = app.clone();
            blocking(move || prune(&app2)).await??;
            Ok(app.codes.reserve(match_id, random_u64)?)
        }
        other => Ok(other?),
    }
}

/// Forgets the codes of matches that are no longer open (or gone).
fn prune(app: &App) -> Result<(), ReadError> {
    for (code, match_id) in app.codes.all() {
        let open = app.log.summary(&match_id)?.is_some_and(|s| s.status == MatchStatus::Open);
        if !open {
            app.codes.forget(&code);
        }
    }
    Ok(())
}

/// Refills the table from the log: the code in each unfinished match's creation record.
pub fn rebuild_codes(log: &dyn EventLog, codes: &JoinCodes) -> Result<usize, ReadError> {
    let mut restored = 0;
    for match_id in log.unfinished()? {
        let Some(first) = log.read(&match_id, 0, 1)?.into_iter().next() else { continue };
        // A record that does not decode is the room's to report when the match loads.
        if let Ok(Record::Created { lobby, .. }) = Record::decode(0, &first.bytes)
            && let Some(code) = lobby.code
        {
            codes.restore(&code, &match_id);
            restored += 1;
        }
    }
    Ok(restored)
}

/// A seat wanted by code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "K7Q2MX", "game": "dots"}))]
pub(super) struct JoinByCode {
    /// The private match's code (any case).
    #[schema(example = "K7Q2MX")]
    code: String,
    /// The game the caller expects; refused with `wrong_game` if the match is of another.
    #[serde(default)]
    game: Option<String>,
}

/// Takes the lowest free seat of the private match with this code (or answers the seat the
/// caller holds).
#[utoipa::path(post, path = "/api/join", tag = "matches", request_body = JoinByCode,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's seat, once durable.", body = SeatTaken),
        (status = 400, description = "`bad_code`: not six letters and digits, or \
            `bad_request` (the body is not an object of these fields).", body = ErrorResponse),
        (status = 401, description = UNAUTHORIZED, body = ErrorResponse),
        (status = 404, description = "`unknown_code`: no open match has it.",
            body = ErrorResponse),
        (status = 409, description = "`match_full`, `match_over`, or `wrong_game` (the match is \
            not of the `game` given).", body = ErrorResponse),
        (status = 413, description = "`body_too_large`.", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON.", body = ErrorResponse),
        (status = 500, description = INTERNAL, body = ErrorResponse),
        (status = 503, description = UNAVAILABLE, body = ErrorResponse),
    ))]
pub(super) async fn join_by_code(
    State(app): State<Arc<App>>,
    Player(who): Player,
    Body(req): Body<JoinByCode>,
) -> Result<Json<SeatTaken>, ApiError> {
    let match_id = app.codes.find(&req.code)?;
    if let Some(game) = req.game {
        let summary = crate::http::summary_of(&app, &match_id).await?;
        if summary.game != game {
            let message = format!("this match plays {:?}, not {game:?}", summary.game);
            return Err(ApiError::new(StatusCode::CONFLICT, "wrong_game", message));
        }
    }
    let player = PlayerRef { player_id: who.sub, name: who.name };
    let taken = take_seat(&app, match_id, player).await;
    if taken.as_ref().is_err_and(|e| e.code == "match_over") {
        app.codes.forget(&req.code);
    }
    Ok(Json(taken?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_readable_and_found_in_any_case() {
        let codes = JoinCodes::new(3);
        let mut draws = [7u64, 7, 8].into_iter();
        let first = codes.reserve("m1", || draws.next().unwrap_or(9)).expect("room");
        let second = codes.reserve("m2", || draws.next().unwrap_or(9)).expect("room");
        assert_ne!(first, second, "a drawn code in use is drawn again");
        assert_eq!(first.len(), CODE_LEN);
        assert!(first.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(codes.find(&first.to_lowercase()), Ok("m1".to_string()));
        assert_eq!(codes.find("ZZZZZZ"), Err(CodeError::Unknown));
        assert_eq!(codes.find("O0O0O0"), Err(CodeError::Malformed));
        assert_eq!(codes.find("ABC"), Err(CodeError::Malformed));
        codes.forget(&second);
        assert_eq!(codes.find(&second), Err(CodeError::Unknown));
    }

    #[test]
    fn a_full_table_refuses_new_codes() {
        let codes = JoinCodes::new(1);
        codes.reserve("m1", || 1).expect("room");
        assert_eq!(codes.reserve("m2", || 2), Err(CodeError::Full { max: 1 }));
    }
}
