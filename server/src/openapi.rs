//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`: the machine-
//! readable contract. Its operations come from each handler's `#[utoipa::path]`, collected
//! together with the router by [`crate::http::api`]; its schemas from the types the handlers
//! take and return.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document as the router serves it.
pub type Document = Arc<utoipa::openapi::OpenApi>;

/// What the document says besides its operations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Arbiter",
        description = "The HTTP API of an Arbiter game server. docs/PROTOCOL.md section 9 \
            describes each route in prose, and the WebSocket and QUIC protocol besides. Every \
            error answers `{\"error\":{\"code\",\"message\"}}` with a stable code."
    ),
    modifiers(&BearerToken, &EveryRequest),
    tags(
        (name = "server", description = "Health and metrics."),
        (name = "auth", description = "Guest tokens."),
        (name = "games", description = "The games this server plays."),
        (name = "matches", description = "Creating, joining, reading and playing matches."),
        (name = "transport", description = "The WebSocket and QUIC transports."),
        (name = "admin", description = "The operator's view and actions, behind the admin token."),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that operations name in their `security`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A token from `POST /api/auth/guest`; the scheme in any case."))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// What any request may meet before its handler runs, added to every operation in one place:
/// the rate budgets (all but the monitoring routes) and the body's size and deadline (every
/// operation that takes a body).
struct EveryRequest;

impl Modify for EveryRequest {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder};
        let error = |text: &str| {
            let body = utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorResponse")))
                .build();
            RefOr::T(
                ResponseBuilder::new().description(text).content("application/json", body).build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let free = matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics");
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for (n, operation) in operations.into_iter().enumerate() {
                let Some(operation) = operation.as_mut() else { continue };
                let responses = &mut operation.responses.responses;
                if !free {
                    let text =
                        "`rate_limited`: over a request budget; `Retry-After` says when to retry.";
                    responses.entry("429".into()).or_insert_with(|| error(text));
                }
                if n == 1 {
                    let text =
                        "`body_too_large`: over `--max-body-bytes` (also from `Content-Length`).";
                    responses.entry("413".into()).or_insert_with(|| error(text));
                    let text =
                        "`body_timeout`: the body did not arrive within `--body-timeout-ms`.";
                    responses.entry("408".into()).or_insert_with(|| error(text));
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "server", responses(
    (status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object),
))]
pub async fn document(Extension(doc): Extension<Document>) -> Json<utoipa::openapi::OpenApi> {
    Json(doc.as_ref().clone())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    use crate::app::App;
    use crate::auth::Keys;
    use crate::config::Config;
    use crate::metrics::Metrics;
    use crate::storage::MemoryLog;
    use crate::web::WebClient;

    /// Methods a route could answer; HEAD follows GET and OPTIONS is CORS's.
    const METHODS: [Method; 5] =
        [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

    /// The paths of a router's routes. axum has no API to list them, but its `Debug` output
    /// names every path of the path router (`paths: {RouteId(1): "/healthz", ...}`, the only
    /// `: "` in it) before the fallback router, whose catch-all is not a route.
    fn routed_paths(router: &axum::Router) -> BTreeSet<String> {
        let debug = format!("{router:?}");
        let path_router = debug.split("fallback_router").next().unwrap_or_default();
        let quoted = path_router.split(": \"").skip(1);
        quoted.filter_map(|s| s.split('"').next()).map(str::to_string).collect()
    }

    /// Sends `method path` with no body through `router`.
    async fn call(router: &axum::Router, method: Method, path: &str) -> axum::response::Response {
        let request = Request::builder().method(method).uri(path).body(Body::empty());
        let mut request = request.expect("a valid request");
        // The accept loop gives every request its peer; the rate limits read it.
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        router.clone().oneshot(request).await.expect("routers are infallible")
    }

    /// Every route the server's router answers, with every method it takes, is an operation
    /// of the document it serves, and the document has no other: a route without its
    /// `#[utoipa::path]` fails here. Methods are probed: a method a path does not take answers
    /// 405.
    #[tokio::test]
    async fn the_document_lists_every_route_and_method_the_router_serves() {
        let app = App::new(
            Config::ephemeral(),
            std::sync::Arc::new(MemoryLog::new()),
            Keys::new([7; 32]),
            std::sync::Arc::new(Metrics::default()),
        );
        let web = WebClient::open(None).expect("no directory to open");
        let router = crate::server::router(app, web);
        let served = call(&router, Method::GET, "/api/openapi.json").await;
        let bytes = axum::body::to_bytes(served.into_body(), usize::MAX).await.expect("a body");
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let documented: BTreeSet<String> = paths.keys().cloned().collect();
        let routed = routed_paths(&router);
        assert!(routed.contains("/healthz"), "the router's paths were not found in {router:?}");
        assert_eq!(routed, documented, "routed paths (left) and documented paths (right)");
        for path in &routed {
            for method in METHODS {
                let response = call(&router, method.clone(), &path.replace("{id}", "m0")).await;
                let served = response.status() != StatusCode::METHOD_NOT_ALLOWED;
                let operation = &paths[path][method.as_str().to_lowercase()];
                assert_eq!(served, operation.is_object(), "{method} {path}");
            }
        }
    }
}
