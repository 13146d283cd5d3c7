//! The one error type of the HTTP API.
//!
//! Every failure leaves the server as `{"error": code, "message": text, ...}`: `code` is a
//! stable machine code that clients translate, `message` is readable Chinese. Internal errors
//! are logged whole and answered with an opaque 500 so no detail of the database leaks.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

/// An error answered to an API caller.
#[derive(Debug)]
pub enum ApiError {
    /// A failure the caller can act on: shown as it is.
    Http {
        status: StatusCode,
        code: &'static str,
        message: String,
        /// Extra members of the JSON body (`field`, `expected`, …).
        extra: Map<String, Value>,
        /// Seconds for a `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// A bug or an outage: logged, answered opaquely.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A client error with a machine code and a Chinese message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Http {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// 400 with a machine code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `invalid_value` naming the field at fault.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::bad_request("invalid_value", message).with("field", field)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "没有权限执行此操作")
    }

    /// 404 for a thing the caller may not know about.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 with a machine code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 413: the request body is over the configured limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("请求内容过大（上限 {} KB），请分批提交", limit / 1024),
        )
    }

    /// 429 with a `Retry-After` in seconds.
    pub fn too_many(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError::Http {
            status: StatusCode::TOO_MANY_REQUESTS,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: Some(retry_after.max(1)),
        }
    }

    /// 503 with `Retry-After`: the server is saturated; nothing was changed.
    pub fn busy() -> Self {
        ApiError::Http {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "server_busy",
            message: "服务器繁忙，数据已保存在手机上，稍后会自动重试".into(),
            extra: Map::new(),
            retry_after: Some(2),
        }
    }

    /// Adds a member to the JSON body, e.g. `field`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let ApiError::Http { extra, .. } = &mut self {
            extra.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The machine code (for tests and logs).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Http { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Http { code, message, .. } => write!(f, "{code}: {message}"),
            ApiError::Internal(e) => write!(f, "internal error: {e:#}"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Http { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Http {
                status,
                code,
                message,
                extra,
                retry_after,
            } => {
                let mut body = Map::new();
                body.insert("error".into(), json!(code));
                body.insert("message".into(), json!(message));
                for (k, v) in extra {
                    body.insert(k.clone(), v.clone());
                }
                let mut resp = HttpResponse::build(*status);
                if let Some(secs) = retry_after {
                    resp.insert_header(("Retry-After", secs.to_string()));
                }
                resp.json(Value::Object(body))
            }
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                HttpResponse::InternalServerError().json(json!({
                    "error": "internal_error",
                    "message": "服务器内部错误，请稍后重试；问题已记录",
                }))
            }
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        // SQLite's write lock still held after busy_timeout: overload, not a bug. The
        // client retries (pushes are idempotent), so say when instead of a 500.
        if let diesel::result::Error::DatabaseError(_, info) = &e
            && info.message().contains("database is locked")
        {
            tracing::warn!("database busy: {}", info.message());
            return ApiError::busy();
        }
        // PostgreSQL text cannot hold NUL (SQLite can): a caller's "\0" in an id, a query
        // or a name is bad input, not a server fault. Nothing was written (the statement
        // failed, its transaction rolls back).
        if let diesel::result::Error::DatabaseError(_, info) = &e
            && info.message().contains("invalid byte sequence")
            && info.message().contains("0x00")
        {
            return ApiError::bad_request("invalid_text", "内容中含有不允许的空字符（\\0）");
        }
        ApiError::Internal(e.into())
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        // No connection within the pool's wait: the server is saturated (or the database
        // is down, which /healthz reports). Either way a retry later is the right move.
        tracing::warn!(error = %e, "no database connection available");
        ApiError::busy()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// Result of API services and handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn a_locked_database_is_503_with_retry_after_and_other_errors_stay_opaque_500s() {
        let locked = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database is locked".to_owned()),
        );
        let e = ApiError::from(locked);
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "server_busy");
        let resp = e.error_response();
        assert_eq!(resp.headers().get("retry-after").unwrap(), "2");

        let other = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("disk I/O error".to_owned()),
        );
        let e = ApiError::from(other);
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "internal_error");

        let nul = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("invalid byte sequence for encoding \"UTF8\": 0x00".to_owned()),
        );
        let e = ApiError::from(nul);
        assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(e.code(), "invalid_text");
    }
}
