//! One error type for every RWS handler, rendered as the GWS envelope
//! `{"statusCode", "statusMessage"}`. A client's mistake is a 4xx with a
//! message that says what is wrong; internal failures are logged once and
//! reach the client as a generic 500.

use axum::Json;
use axum::http::StatusCode as Http;
use axum::response::{IntoResponse, Response};
use proto::{Envelope, StatusCode};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or names something that does not exist.
    #[error("{message}")]
    BadRequest {
        /// GWS code (1 missing parameter, 10 validation error).
        code: StatusCode,
        /// What is wrong.
        message: String,
    },
    /// 401: no or wrong credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: authenticated, not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// Any other status with a message (tus: 412, 415, 460, 410, 413).
    #[error("{1}")]
    Status(Http, String),
    /// 500: our fault; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with statusCode 10.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: StatusCode::ValidationError,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest { code, .. } => (Http::BAD_REQUEST, *code),
            ApiError::Unauthenticated(_) => (Http::UNAUTHORIZED, StatusCode::NotAuthenticated),
            ApiError::Forbidden(_) => (Http::FORBIDDEN, StatusCode::Forbidden),
            ApiError::NotFound(_) => (Http::NOT_FOUND, StatusCode::NotFound),
            ApiError::MethodNotAllowed => (Http::METHOD_NOT_ALLOWED, StatusCode::InvalidForState),
            ApiError::Conflict(_) => (Http::CONFLICT, StatusCode::InvalidForState),
            ApiError::Status(s, _) if s.is_server_error() => (*s, StatusCode::InternalError),
            ApiError::Status(s, _) => (*s, StatusCode::ValidationError),
            ApiError::Internal(_) => (Http::INTERNAL_SERVER_ERROR, StatusCode::InternalError),
        };
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut response = (status, Json(Envelope::error(code, message))).into_response();
        if status == Http::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"screenrec\""),
            );
        }
        response
    }
}
