//! What a browser meets: CORS on the API and the WebSocket upgrade under one origin policy, the
//! web client's files from `--web-dir`, and the page `/` shows when there is no client.

use std::path::Path;

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value as Json, json};
use tests::Instance;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The origin given with `--allow-origin`.
const CONFIGURED: &str = "https://play.example";

/// An instance that allows [`CONFIGURED`] and serves `web_dir` if given.
async fn instance(web_dir: Option<&Path>) -> Result<Instance> {
    let mut config = server::Config::ephemeral();
    config.limits.allowed_origins = vec![CONFIGURED.to_string()];
    config.web_dir = web_dir.map(Path::to_path_buf);
    Instance::with(config).await
}

/// `GET path`: status, headers and body.
async fn get(server: &Instance, path: &str) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
    let url = format!("{}{path}", server.http.base);
    let resp = reqwest::get(&url).await.with_context(|| format!("GET {path}"))?;
    let (status, headers) = (resp.status(), resp.headers().clone());
    Ok((status, headers, resp.bytes().await?.to_vec()))
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The error code of a JSON error body.
fn error_code(body: &[u8]) -> Result<String> {
    let json: Json = serde_json::from_slice(body).context("a JSON error body")?;
    json["error"]["code"].as_str().map(str::to_string).context("no error code")
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() -> Result<()> {
    let server = instance(None).await?;
    let client = reqwest::Client::new();
    let cases = [
        ("/api/auth/guest", "http://localhost:5173", true),
        ("/api/matches", "http://127.0.0.1:3000", true),
        ("/api/matches/abc/moves", CONFIGURED, true),
        ("/api/games", "https://evil.example", false),
        ("/api/auth/guest", "https://play.example.evil", false),
    ];
    for (path, origin, allowed) in cases {
        let resp = client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", server.http.base))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type")
            .send()
            .await?;
        let headers = resp.headers();
        let allow_origin = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        if !allowed {
            assert_eq!(allow_origin, None, "{origin} must not be allowed on {path}");
            continue;
        }
        assert!(resp.status().is_success(), "{origin} {path}: {}", resp.status());
        assert_eq!(allow_origin.and_then(|v| v.to_str().ok()), Some(origin), "{path}");
        let methods = header_of(headers, header::ACCESS_CONTROL_ALLOW_METHODS);
        assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");
        let allowed_headers = header_of(headers, header::ACCESS_CONTROL_ALLOW_HEADERS);
        assert!(allowed_headers.contains("authorization"), "{allowed_headers}");
        assert!(allowed_headers.contains("content-type"), "{allowed_headers}");
        assert_eq!(header_of(headers, header::ACCESS_CONTROL_MAX_AGE), "600");
    }
    server.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_cross_origin_request_carries_the_allow_origin_header() -> Result<()> {
    let server = instance(None).await?;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/auth/guest", server.http.base))
        .header(header::ORIGIN, "http://localhost:5173")
        .json(&json!({ "name": "ada" }))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let allow_origin = header_of(resp.headers(), header::ACCESS_CONTROL_ALLOW_ORIGIN).to_string();
    assert_eq!(allow_origin, "http://localhost:5173");
    let body: Json = resp.json().await?;
    assert!(body["token"].is_string(), "{body}");
    server.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_socket_upgrade_uses_the_same_origin_policy() -> Result<()> {
    let server = instance(None).await?;
    for origin in ["http://localhost:5173", CONFIGURED] {
        let mut request = server.ws_url().into_client_request()?;
        request.headers_mut().insert(header::ORIGIN, origin.parse()?);
        tokio_tungstenite::connect_async(request).await.with_context(|| origin.to_string())?;
    }
    let mut request = server.ws_url().into_client_request()?;
    request.headers_mut().insert(header::ORIGIN, "https://evil.example".parse()?);
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => bail!("expected a 403 refusal, got {other:?}"),
    }
    server.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn without_a_built_client_the_root_says_how_to_build_it() -> Result<()> {
    let empty = tempfile::tempdir()?;
    for web_dir in [None, Some(empty.path())] {
        let server = instance(web_dir).await?;
        let (status, headers, body) = get(&server, "/").await?;
        let page = String::from_utf8(body)?;
        assert_eq!(status, StatusCode::OK, "{web_dir:?}");
        assert!(header_of(&headers, header::CONTENT_TYPE).starts_with("text/html"));
        assert!(page.contains("not built") && page.contains("cargo xtask run"), "{page}");
        let (status, _, body) = get(&server, "/pkg/arbiter.js").await?;
        assert_eq!((status, error_code(&body)?.as_str()), (StatusCode::NOT_FOUND, "not_found"));
        server.server.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_web_dir_is_served_with_browser_types_and_no_caching() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let wasm = b"\0asm\x01\0\0\0";
    std::fs::create_dir(dir.path().join("pkg"))?;
    std::fs::write(dir.path().join("index.html"), "<title>client</title>")?;
    std::fs::write(dir.path().join("pkg/x.wasm"), wasm)?;
    std::fs::write(dir.path().join("pkg/arbiter.js"), "export {};")?;
    let server = instance(Some(dir.path())).await?;
    let files: [(&str, &str, &[u8]); 4] = [
        ("/", "text/html", b"<title>client</title>"),
        ("/index.html", "text/html", b"<title>client</title>"),
        ("/pkg/x.wasm", "application/wasm", wasm),
        ("/pkg/arbiter.js", "text/javascript", b"export {};"),
    ];
    for (path, content_type, expected) in files {
        let (status, headers, body) = get(&server, path).await?;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(header_of(&headers, header::CONTENT_TYPE).starts_with(content_type), "{path}");
        assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache", "{path}");
        assert_eq!(body, expected, "{path}");
    }
    for path in ["/api/nope", "/api", "/metrics/nope", "/missing.png"] {
        let (status, _, body) = get(&server, path).await?;
        assert_eq!((status, error_code(&body)?.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    }
    let (status, _, body) = get(&server, "/healthz").await?;
    let healthy = br#"{"status":"alive","log_damage":{"matches":[],"unattributed":[]}}"#;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, healthy.as_slice()));
    server.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_missing_web_dir_refuses_to_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing");
    match instance(Some(&missing)).await {
        Err(e) => match e.downcast_ref::<server::StartError>() {
            Some(server::StartError::WebDir { path, .. }) => {
                assert_eq!(Path::new(path), missing);
                assert!(e.to_string().contains("--web-dir"), "{e}");
            }
            _ => bail!("expected StartError::WebDir, got {e}"),
        },
        Ok(server) => {
            server.server.shutdown().await;
            bail!("started with a missing web dir");
        }
    }
    Ok(())
}
