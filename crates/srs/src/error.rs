//! Errors of the loopback API, rendered as the GWS envelope with the HTTP
//! status the contract names (`srs-local-api.md`).

use axum::Json;
use axum::http::StatusCode as Http;
use axum::response::{IntoResponse, Response};
use proto::{Envelope, StatusCode};

/// An error answered to the desktop.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: Http,
    /// GWS status code.
    pub code: StatusCode,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: Http, code: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400, statusCode 1: a parameter is missing (or an operation unknown).
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new(Http::BAD_REQUEST, StatusCode::MissingParameter, message)
    }

    /// 400, statusCode 10: the request is malformed or names unknown things.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Http::BAD_REQUEST, StatusCode::ValidationError, message)
    }

    /// 401, statusCode 20.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Http::UNAUTHORIZED, StatusCode::NotAuthenticated, message)
    }

    /// 403, statusCode 3.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Http::FORBIDDEN, StatusCode::Forbidden, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %proto::logsafe::escape(&self.message), "request failed");
        }
        (self.status, Json(Envelope::error(self.code, self.message))).into_response()
    }
}

/// An error with its causes (`error sending request: … : invalid peer
/// certificate: UnknownIssuer`): reqwest's own message hides the reason.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
