//! The one place where errors become HTTP responses (DESIGN.md §4):
//! `{"error": {"code": "<snake_case>", "message": "<what and which field>"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sluice_engine::rtc::RtcError;
use sluice_engine::worker::SendError;

/// An error answer of the control API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message naming the field or id.
    pub message: String,
}

impl ApiError {
    /// 400: the request is malformed (syntax, type, missing field).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// 404: no such object.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("{kind} {id} not found"),
        }
    }

    /// 401: missing or wrong bearer token.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "missing or invalid bearer token (Authorization: Bearer <token>)".into(),
        }
    }

    /// 422: well-formed but unacceptable.
    pub fn unacceptable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "unacceptable",
            message: message.into(),
        }
    }

    /// 503: the worker that owns the object is not available.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "worker_unavailable",
            message: message.into(),
        }
    }
}

impl From<RtcError> for ApiError {
    fn from(e: RtcError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            RtcError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            RtcError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            RtcError::Unacceptable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unacceptable"),
            RtcError::Capacity(_) => (StatusCode::SERVICE_UNAVAILABLE, "capacity"),
        };
        Self {
            status,
            code,
            message,
        }
    }
}

impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Dead(_) => Self::unavailable(e.to_string()),
            SendError::Full(_) => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "worker_busy",
                message: e.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, axum::Json(body)).into_response()
    }
}
