//! Whether the server can persist moves now: the outcome of the latest append, kept where the
//! rooms report it, so `/readyz` tells the truth when every write fails.

use std::sync::Mutex;

use serde::Serialize;

/// The storage's latest word.
#[derive(Default)]
pub struct StorageHealth {
    last_failure: Mutex<Option<String>>,
}

impl StorageHealth {
    /// An append became durable: the log is writable.
    pub fn succeeded(&self) {
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some() {
            *last = None;
        }
    }

    /// An append failed, for this reason.
    pub fn failed(&self, error: &impl std::fmt::Display) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    /// Why the log cannot take appends now, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.last_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The body of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Whether the server accepts and persists moves now.
    pub ready: bool,
    /// Why not, one line per reason (empty when ready).
    pub reasons: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::app::App;
    use crate::auth::{Claims, Keys};
    use crate::config::Config;
    use crate::metrics::Metrics;
    use crate::storage::stub::StubLog;
    use crate::storage::{Append, AppendError, AppendTicket};

    /// A log on a full disk: every append fails at once, and it holds nothing.
    fn full_disk() -> StubLog<impl Fn(Append) -> AppendTicket + Send + Sync + 'static> {
        StubLog(|_| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = tx.send(Err(AppendError::Storage("disk full".into())));
            rx
        })
    }

    async fn call(app: &Arc<App>, req: Request<Body>) -> (StatusCode, serde_json::Value) {
        let router = crate::http::routes(&app.config.games).with_state(app.clone());
        let response = router.oneshot(req).await.expect("the router answers");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a body");
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn readyz_says_why_when_appends_fail_and_healthz_still_answers() {
        let keys = Keys::new([3; 32]);
        let token = keys.issue(&Claims { sub: "p1".into(), name: "ada".into(), exp: u64::MAX });
        let app = App::new(
            Config::ephemeral(),
            Arc::new(full_disk()),
            keys,
            Arc::new(Metrics::default()),
        );
        let get = |path: &str| Request::get(path).body(Body::empty()).expect("a request");
        assert_eq!(call(&app, get("/readyz")).await.0, StatusCode::OK);
        let create = Request::post("/api/matches")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"game":"dots"}"#))
            .expect("a request");
        let (status, _) = call(&app, create).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "nothing could be recorded");
        let (status, body) = call(&app, get("/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["ready"], false);
        assert!(body["reasons"][0].as_str().is_some_and(|r| r.contains("disk full")), "{body}");
        let (status, body) = call(&app, get("/healthz")).await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("alive")));
    }

    #[test]
    fn the_latest_outcome_wins() {
        let health = StorageHealth::default();
        assert_eq!(health.failure(), None);
        health.failed(&"disk full");
        assert_eq!(health.failure().as_deref(), Some("disk full"));
        health.succeeded();
        assert_eq!(health.failure(), None);
    }
}
