//! The one place errors become HTTP responses: `{"error": {"code", "message"}}` with a stable
//! code. Internal causes are logged, not shown.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::v1::ErrorBody;

use crate::admin::AdminRefusal;
use crate::auth::AuthError;
use crate::body::BodyError;
use crate::listener::Refusal;
use crate::lobby::{CodeError, QuickError};
use crate::ratelimit::RateLimited;
use crate::replay::ReplayError;
use crate::room::RoomError;
use crate::rooms::RoomsError;
use crate::storage::ReadError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: String,
    /// For people.
    pub message: String,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after_s: Option<u64>,
    /// Whether the connection closes after this answer (sent as `Connection: close`): the
    /// request was not read in full, so nothing after it on the connection can be trusted.
    pub close: bool,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after_s: None,
            close: false,
        }
    }

    /// The same error, with a `Retry-After` of this many seconds.
    pub fn retry_after(self, seconds: u64) -> ApiError {
        ApiError { retry_after_s: Some(seconds), ..self }
    }

    /// The same error, closing the connection after it is sent.
    pub fn closing(self) -> ApiError {
        ApiError { close: true, ..self }
    }

    /// 404 for a match that does not exist.
    pub fn unknown_match() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_match", "no such match")
    }

    /// 500 whose cause is logged but not shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorBody,
}

impl ApiError {
    /// The `WWW-Authenticate` challenge a 401 carries (RFC 6750): a token that was given but
    /// refused is named `invalid_token`; a missing one gets the bare scheme.
    fn challenge(&self) -> Option<HeaderValue> {
        if self.status != StatusCode::UNAUTHORIZED {
            return None;
        }
        // The admin token's refusals follow the same rule as a player's.
        let missing = [AuthError::Missing.code(), "admin_token_required"];
        let value = if missing.contains(&self.code.as_str()) {
            "Bearer"
        } else {
            "Bearer error=\"invalid_token\""
        };
        Some(HeaderValue::from_static(value))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = self.challenge();
        let body = ErrorResponse { error: ErrorBody { code: self.code, message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(e: Refusal) -> ApiError {
        match e {
            Refusal::ServerFull { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_full", e.to_string())
                    .retry_after(1)
            }
            Refusal::TooManyFromAddress { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_connections", e.to_string())
            }
        }
        .closing()
    }
}

impl From<RateLimited> for ApiError {
    fn from(e: RateLimited) -> ApiError {
        // Rounded up, and never 0: a client told to wait 0 s would come straight back.
        let seconds = e.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
            .retry_after(seconds)
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        let (status, code) = match e {
            BodyError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            BodyError::Timeout { .. } => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
            BodyError::Broken => (StatusCode::BAD_REQUEST, "bad_request"),
        };
        ApiError::new(status, code, e.to_string()).closing()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
    }
}

impl From<AdminRefusal> for ApiError {
    fn from(e: AdminRefusal) -> ApiError {
        // Without an admin token there is no admin API to authenticate to: its routes do not
        // exist, as far as clients can tell.
        let status = match e {
            AdminRefusal::Disabled => StatusCode::NOT_FOUND,
            AdminRefusal::Missing | AdminRefusal::Wrong => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<RoomsError> for ApiError {
    fn from(e: RoomsError) -> ApiError {
        let status = match e {
            RoomsError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            RoomsError::UnknownMatch => StatusCode::NOT_FOUND,
            RoomsError::Config(_) => StatusCode::BAD_REQUEST,
            RoomsError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            RoomsError::Busy { .. } => {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
                    .retry_after(1);
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        match e {
            // Damage is the operator's to repair, and saying which match and where helps them;
            // the match's events before the damage are still served.
            ReadError::Damaged { .. } => {
                tracing::error!(error = %e, "a read met a damaged record");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "match_damaged", e.to_string())
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> ApiError {
        ApiError::internal(&e)
    }
}

impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> ApiError {
        let status = match e {
            CodeError::Malformed => StatusCode::BAD_REQUEST,
            CodeError::Unknown => StatusCode::NOT_FOUND,
            CodeError::Full { .. } => {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
                    .retry_after(1);
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<QuickError> for ApiError {
    fn from(e: QuickError) -> ApiError {
        match e {
            QuickError::AlreadyQueued => {
                ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string())
            }
            QuickError::Full { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string())
                    .retry_after(1)
            }
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> ApiError {
        let status = match e {
            RoomError::MatchFull
            | RoomError::MatchOver
            | RoomError::SeatTaken
            | RoomError::NotSeated
            | RoomError::MatchStarted
            | RoomError::NotStarted => StatusCode::CONFLICT,
            RoomError::NotCreator => StatusCode::FORBIDDEN,
            RoomError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}
