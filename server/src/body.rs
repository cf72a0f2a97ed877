//! Request bodies bounded in size and in time: a body announced over the size limit is refused
//! from its headers, and one that has not arrived in full by its deadline is cut off, so a
//! client can hold a connection only as long as it keeps sending what it promised.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::app::App;
use crate::error::ApiError;

/// Why a request body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is (or announces that it is) over the limit.
    #[error("the request body is over {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// The body did not arrive in full in time.
    #[error("the request body did not arrive within {ms} ms")]
    Timeout {
        /// The deadline, in ms.
        ms: u64,
    },
    /// The connection failed in the middle of the body.
    #[error("the request body could not be read")]
    Broken,
}

/// Reads the whole body under the size limit and the deadline before the request is routed,
/// then hands it on in memory. Every handler takes small JSON bodies, so nothing is lost by
/// buffering, and no handler can wait on a client that stopped sending.
pub async fn bound(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let limits = &app.config.limits;
    let (parts, body) = req.into_parts();
    let read = match announced_len(&parts.headers) {
        Some(len) if len > limits.max_body_bytes as u64 => {
            Err(BodyError::TooLarge { max: limits.max_body_bytes })
        }
        _ => read_within(body, limits.max_body_bytes, limits.body_timeout_ms).await,
    };
    match read {
        Ok(body) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The length a request announces in `Content-Length`, if it names one.
fn announced_len(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

async fn read_within(body: Body, max: usize, timeout_ms: u64) -> Result<Body, BodyError> {
    let deadline = Duration::from_millis(timeout_ms);
    tokio::time::timeout(deadline, read_at_most(body, max))
        .await
        .map_err(|_| BodyError::Timeout { ms: timeout_ms })?
}

async fn read_at_most(body: Body, max: usize) -> Result<Body, BodyError> {
    let mut chunks = body.into_data_stream();
    let mut read = BytesMut::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if read.len() + chunk.len() > max {
            return Err(BodyError::TooLarge { max });
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Body::from(read.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_is_read_whole_under_its_limit() {
        let read = read_within(Body::from("hello"), 5, 1000).await.map(|_| ());
        assert_eq!(read, Ok(()));
        let read = read_within(Body::from("hello!"), 5, 1000).await.map(|_| ());
        assert_eq!(read, Err(BodyError::TooLarge { max: 5 }));
    }

    #[tokio::test]
    async fn a_body_that_stops_coming_is_cut_at_its_deadline() {
        let stalled = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        let read = read_within(Body::from_stream(stalled), 5, 20).await.map(|_| ());
        assert_eq!(read, Err(BodyError::Timeout { ms: 20 }));
    }
}
