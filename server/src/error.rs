//! The one place errors become HTTP responses: `{"error": {"code", "message"}}` with a stable
//! code. Internal causes are logged, not shown.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::v1::ErrorBody;

use crate::auth::AuthError;
use crate::replay::ReplayError;
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
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_string(), message: message.into() }
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
        let value = if self.code == AuthError::Missing.code() {
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
        if let Some(challenge) = challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
    }
}

impl From<RoomsError> for ApiError {
    fn from(e: RoomsError) -> ApiError {
        let status = match e {
            RoomsError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            RoomsError::UnknownMatch => StatusCode::NOT_FOUND,
            RoomsError::Config(_) => StatusCode::BAD_REQUEST,
            RoomsError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        ApiError::internal(&e)
    }
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> ApiError {
        ApiError::internal(&e)
    }
}
