//! `GET /api/matches`: public matches by status and game, newest first, page by page behind
//! an opaque cursor. Private matches are never listed.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::App;
use crate::error::{ApiError, ErrorResponse};
use crate::extract::Params;
use crate::http::{INTERNAL, blocking};
use crate::storage::{EventLog, ListCursor, ListFilter, MatchStatus, MatchSummary, ReadError};

/// Store pages one listing reads at most while it skips private matches: a page may come back
/// short (with `next`), but a listing never scans the whole store.
const MAX_SCANS: usize = 8;

/// Which matches to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Only matches in this status.
    status: Option<MatchStatus>,
    /// Only matches of this game (an unknown id lists nothing).
    game: Option<String>,
    /// At most this many: default 50; more than 200 is taken as 200.
    limit: Option<usize>,
    /// The `next` of the previous page: list the matches after it.
    #[param(pattern = r"^[0-9]{1,20}\.[A-Za-z0-9_-]{1,64}$")]
    after: Option<String>,
}

/// A page of matches, newest first.
#[derive(Serialize, ToSchema)]
pub(super) struct MatchList {
    /// Their summaries.
    matches: Vec<MatchSummary>,
    /// Where the next page starts (pass it as `after`); absent on the last page. A page may
    /// hold fewer than `limit` matches and still have a `next`.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// Lists public matches, newest first, a page at a time.
#[utoipa::path(get, path = "/api/matches", tag = "matches", params(ListQuery), responses(
    (status = 200, description = "A page of matches.", body = MatchList),
    (status = 400, description = "`bad_cursor` (`after` is not a `next` this server gave), or \
        `bad_request`: an unknown or malformed parameter.", body = ErrorResponse),
    (status = 500, description = INTERNAL, body = ErrorResponse),
))]
pub(super) async fn list_matches(
    State(app): State<Arc<App>>,
    Params(q): Params<ListQuery>,
) -> Result<Json<MatchList>, ApiError> {
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    let filter =
        ListFilter { status: q.status, game: q.game, limit: q.limit.unwrap_or(50).min(200), after };
    let log = app.log.clone();
    let (matches, next) = blocking(move || public_page(log.as_ref(), filter)).await??;
    let next = next.map(|c| format!("{}.{}", c.created_at_ms, c.match_id));
    Ok(Json(MatchList { matches, next }))
}

/// Up to `filter.limit` public matches, and the cursor after the last one scanned when more
/// may follow.
fn public_page(
    log: &dyn EventLog,
    mut filter: ListFilter,
) -> Result<(Vec<MatchSummary>, Option<ListCursor>), ReadError> {
    let mut found = Vec::new();
    if filter.limit == 0 {
        return Ok((found, None));
    }
    for _ in 0..MAX_SCANS {
        let page = log.list(&filter)?;
        let exhausted = page.len() < filter.limit;
        for summary in page {
            if found.len() == filter.limit {
                return Ok((found, filter.after));
            }
            filter.after = Some(ListCursor::of(&summary));
            if !summary.private {
                found.push(summary);
            }
        }
        if exhausted {
            return Ok((found, None));
        }
    }
    Ok((found, filter.after))
}

/// Reads an `after` cursor: `CREATED_AT_MS.MATCH_ID`.
fn parse_cursor(text: &str) -> Result<ListCursor, ApiError> {
    let bad = || ApiError::new(StatusCode::BAD_REQUEST, "bad_cursor", "not a listing cursor");
    let (ms, id) = text.split_once('.').ok_or_else(bad)?;
    let created_at_ms = ms.parse().map_err(|_| bad())?;
    if !crate::app::valid_match_id(id) {
        return Err(bad());
    }
    Ok(ListCursor { created_at_ms, match_id: id.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Append, AppendError, MemoryLog};

    fn add(log: &MemoryLog, id: &str, at: u64, private: bool) {
        let summary = MatchSummary {
            match_id: id.into(),
            game: "dots".into(),
            status: MatchStatus::Open,
            seats: vec![None, None],
            head_seq: 0,
            created_at_ms: at,
            outcome: None,
            private,
            timer: None,
            forked_from: None,
        };
        let append = Append { match_id: id.into(), first_seq: 0, records: vec![vec![0]], summary };
        let ticket = log.append(append);
        assert_eq!(ticket.blocking_recv().unwrap_or(Err(AppendError::Closed)), Ok(()));
    }

    fn ids(page: &[MatchSummary]) -> Vec<&str> {
        page.iter().map(|s| s.match_id.as_str()).collect()
    }

    #[test]
    fn pages_skip_private_matches_and_end_without_a_cursor() {
        let log = MemoryLog::new();
        for (n, private) in [false, true, true, false, true, false].into_iter().enumerate() {
            add(&log, &format!("m{n}"), n as u64, private);
        }
        let first = ListFilter { limit: 2, ..ListFilter::default() };
        let (page, next) = public_page(&log, first).expect("lists");
        assert_eq!(ids(&page), ["m5", "m3"]);
        let next = next.expect("more may follow");
        assert_eq!(next, ListCursor { created_at_ms: 3, match_id: "m3".into() });
        let second = ListFilter { limit: 2, after: Some(next), ..ListFilter::default() };
        let (page, next) = public_page(&log, second).expect("lists");
        assert_eq!((ids(&page), next), (vec!["m0"], None));
    }

    #[test]
    fn a_long_private_run_answers_a_short_page_with_a_cursor() {
        let log = MemoryLog::new();
        add(&log, "a", 0, false);
        for n in 1..=(MAX_SCANS as u64 + 1) {
            add(&log, &format!("p{n:02}"), n, true);
        }
        let (page, next) =
            public_page(&log, ListFilter { limit: 1, ..ListFilter::default() }).expect("lists");
        assert!(page.is_empty());
        let next = next.expect("the scan stopped early");
        let rest = ListFilter { limit: 1, after: Some(next), ..ListFilter::default() };
        let (page, _) = public_page(&log, rest).expect("lists");
        assert_eq!(ids(&page), ["a"]);
    }

    #[test]
    fn cursors_are_read_back_or_refused() {
        let cursor = parse_cursor("17.m00ab").expect("a cursor");
        assert_eq!(cursor, ListCursor { created_at_ms: 17, match_id: "m00ab".into() });
        for bad in ["", "17", "x.m1", "17.", "17.a b"] {
            assert_eq!(parse_cursor(bad).map_err(|e| e.code), Err("bad_cursor".into()), "{bad}");
        }
    }
}
