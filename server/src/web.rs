//! The browser client's static files, served from `--web-dir` at `/` and at every path the API
//! does not own; without a built client, `/` says how to build one.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::http::{method_not_allowed, not_found};

/// First path segments the server owns: an unknown path under them is a JSON 404, never a file.
const RESERVED: [&str; 4] = ["api", "ws", "healthz", "metrics"];

/// What `/` shows when there is no client to serve.
const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Arbiter</title></head>
<body><h1>Arbiter is running</h1>
<p>The web client is not built. <code>cargo xtask run</code> builds it and serves it here
(or pass <code>--web-dir</code> a directory holding a built client).</p>
<p>The HTTP API is under <code>/api</code>; WebSockets connect to <code>/ws</code>.</p>
</body></html>
";

/// The static files of one server, if it was given a directory.
#[derive(Clone)]
pub struct WebClient {
    files: Option<(PathBuf, ServeDir)>,
}

impl WebClient {
    /// Serves `dir` if given. A directory that does not exist (or is a file) is an error, so a
    /// typo fails at start-up; one without `index.html` is served as it is, since the client may
    /// be built while the server runs.
    pub fn open(dir: Option<&Path>) -> std::io::Result<WebClient> {
        let Some(dir) = dir else {
            return Ok(WebClient { files: None });
        };
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"));
        }
        if !dir.join("index.html").is_file() {
            tracing::warn!(dir = %dir.display(), "the web directory has no index.html yet");
        }
        let files = ServeDir::new(dir);
        Ok(WebClient { files: Some((dir.to_path_buf(), files)) })
    }

    /// Whether it serves a directory.
    pub fn is_served(&self) -> bool {
        self.files.is_some()
    }

    /// Answers a request no API route matched.
    pub async fn serve(self, req: Request) -> Response {
        let path = req.uri().path();
        if is_reserved(path) {
            return not_found().await.into_response();
        }
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return method_not_allowed().await.into_response();
        }
        let root = path == "/" || path == "/index.html";
        match self.files {
            Some((dir, files)) if !root || has_index(&dir).await => send_file(files, req).await,
            _ if root => (StatusCode::OK, Html(NOT_BUILT)).into_response(),
            _ => not_found().await.into_response(),
        }
    }
}

fn is_reserved(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    RESERVED.contains(&first)
}

async fn has_index(dir: &Path) -> bool {
    tokio::fs::metadata(dir.join("index.html")).await.is_ok_and(|m| m.is_file())
}

/// One file from the directory. A rebuilt client must be picked up at once, so browsers are
/// told to revalidate every time (a cheap 304 when nothing changed).
async fn send_file(files: ServeDir, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let Ok(response) = files.oneshot(req).await;
    if response.status() == StatusCode::NOT_FOUND {
        return not_found().await.into_response();
    }
    let mut response = response.map(axum::body::Body::new);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(kind) = content_type(&path) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    response
}

/// The types browsers insist on: `instantiateStreaming` needs `application/wasm`, and module
/// scripts need a JavaScript type. Other files keep the type guessed from their extension.
fn content_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.').map(|(_, e)| e)?;
    match extension {
        "wasm" => Some("application/wasm"),
        "js" | "mjs" => Some("text/javascript"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_paths_are_reserved_and_nothing_else() {
        for path in ["/api", "/api/", "/api/nope", "/ws", "/healthz", "/metrics/x"] {
            assert!(is_reserved(path), "{path}");
        }
        for path in ["/", "/index.html", "/pkg/arbiter.js", "/apidocs", "/wsx"] {
            assert!(!is_reserved(path), "{path}");
        }
    }

    #[test]
    fn a_missing_directory_or_a_file_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("a temp file");
        assert!(WebClient::open(Some(&dir.path().join("missing"))).is_err());
        assert!(WebClient::open(Some(&file)).is_err());
        assert!(WebClient::open(Some(dir.path())).is_ok_and(|w| w.is_served()));
        assert!(WebClient::open(None).is_ok_and(|w| !w.is_served()));
    }
}
