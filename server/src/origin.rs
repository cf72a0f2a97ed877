//! Which browser origins may use this server: one policy, applied to WebSocket upgrades and,
//! as CORS, to the HTTP API.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Whether a page served from `origin` may talk to this server, reached at `host` (the request's
/// `Host` header). Its own origin, localhost on any port and the origins in `extra` may.
pub fn is_allowed(origin: &str, host: &str, extra: &[String]) -> bool {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let hostname = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(authority, |(h, _)| h),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    authority == host
        || matches!(hostname, "localhost" | "127.0.0.1" | "::1")
        || extra.iter().any(|o| o == origin)
}

/// The `Host` a request names, or "" when it names none.
pub fn host_of(headers: &HeaderMap) -> &str {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("")
}

/// CORS for pages on other allowed origins (a dev server on another localhost port, a
/// configured site). A refused origin's preflight is answered without `allow-origin`, so the
/// browser blocks the request. Tokens travel in `Authorization`, so no credentials are allowed.
pub fn cors(extra: &[String]) -> CorsLayer {
    let extra: Arc<[String]> = extra.into();
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, parts| {
        origin.to_str().is_ok_and(|o| is_allowed(o, host_of(&parts.headers), &extra))
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(PREFLIGHT_MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(origin: &str, host: &str, expect: bool) {
        let extra = ["https://play.example".to_string()];
        assert_eq!(is_allowed(origin, host, &extra), expect, "{origin} at {host}");
    }

    #[test]
    fn own_origin_localhost_and_configured_origins_are_allowed() {
        check("http://arbiter.example:8080", "arbiter.example:8080", true);
        check("http://localhost:5173", "arbiter.example", true);
        check("http://127.0.0.1:3000", "arbiter.example", true);
        check("http://[::1]:3000", "arbiter.example", true);
        check("http://[::1]", "arbiter.example", true);
        check("https://play.example", "arbiter.example", true);
    }

    #[test]
    fn other_origins_are_refused() {
        check("https://evil.example", "arbiter.example", false);
        check("http://arbiter.example:9090", "arbiter.example:8080", false);
        check("https://play.example:444", "arbiter.example", false);
        check("http://localhost.evil.example", "arbiter.example", false);
        check("null", "arbiter.example", false);
    }
}
