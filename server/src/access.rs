//! What each HTTP request leaves behind: one log line (method, route, player, status, latency)
//! through tower-http's trace layer, and the request counters and latency histogram in
//! `/metrics`. Routes are their patterns (`/api/matches/{id}`), so ids never become labels.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::LatencyUnit;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::{Level, Span};

use crate::app::{App, unix_s};
use crate::extract::bearer;

/// The route label of a request: its pattern, or `static` for what no route matched (the web
/// client's files and unknown paths).
fn route(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "static".to_string(), |p| p.as_str().to_string())
}

/// The method label: the standard methods by name, any other as `other`, so a client cannot
/// make a new series per made-up method.
fn method(req: &Request) -> &'static str {
    use axum::http::Method;
    match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts the request and its latency, by method, route and status.
pub async fn count(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let (method, route) = (method(&req), route(&req));
    let started = Instant::now();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    app.metrics.count_http(method, &route, response.status().as_u16(), seconds);
    response
}

/// A span per request naming its method, route and player (`-` without a token, the refusal's
/// code for a bad one, and `admin` for the admin token on an admin route).
#[derive(Clone)]
pub struct RequestSpan {
    app: Arc<App>,
}

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        let route = req.extensions().get::<MatchedPath>().map_or("static", MatchedPath::as_str);
        let player = match bearer(req.headers()) {
            Ok(Some(token)) if route.starts_with("/api/admin/") => self
                .app
                .admin
                .check(Some(token))
                .map_or_else(|e| e.code(), |()| "admin")
                .to_string(),
            Ok(Some(token)) => self
                .app
                .keys
                .verify(token, unix_s())
                .map_or_else(|e| e.code().to_string(), |c| c.sub),
            _ => "-".to_string(),
        };
        tracing::info_span!("http", method = %req.method(), route, player)
    }
}

/// The request log: one line per response, at INFO, with its status and latency in ms.
pub fn trace_layer(
    app: Arc<App>,
) -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), DefaultOnResponse> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan { app })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Millis))
}
