//! The crate's errors: [`Error`] for the store and the commands, [`AppError`] for HTTP answers,
//! and [`Json`], the JSON extractor whose rejections come back in the same error format.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// Everything below the HTTP layer that can fail: the database, migrations, documents, input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),

    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// The database was migrated by a newer Lastmile: running this build on it could corrupt it.
    #[error(
        "the database has schema version(s) {unknown:?} that this Lastmile does not know (it knows \
         up to {known}): it was upgraded by a newer Lastmile. Run that version, or restore a backup \
         taken before the upgrade."
    )]
    NewerDatabase { unknown: Vec<i64>, known: i64 },

    #[error("work-order document: {0}")]
    Document(#[from] sync_core::Error),

    #[error("configuration: {0}")]
    Config(String),

    #[error("{0}")]
    Io(#[from] std::io::Error),

    /// Bad input from a caller (a command-line argument, a request field).
    #[error("{0}")]
    Invalid(String),

    #[error("{0} not found")]
    NotFound(&'static str),

    /// A unique constraint or a stale write.
    #[error("{0}")]
    Conflict(String),

    #[error("password hashing: {0}")]
    Password(String),

    /// A malformed, truncated, oversized or wrong-version sync message.
    #[error("sync protocol: {0}")]
    Protocol(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is a unique-constraint violation, on either backend.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, snake_case, for programs: `unauthorized`, `device_revoked`, `forbidden`,
    /// `not_found`, `conflict`, `invalid_json`, `invalid_input`, `transition_not_allowed`,
    /// `payload_too_large`, `unsupported_media_type`, `rate_limited`, `organisation_required`,
    /// `method_not_allowed`, `invalid_query`, `internal`.
    pub code: String,
    /// For people. Never contains personal data or internals.
    pub message: String,
}

/// An HTTP error answer: a status, a stable code and a message.
#[derive(Debug)]
pub enum AppError {
    /// 401 `unauthorized`: no token, or an unknown, expired or revoked session token.
    Unauthorized,
    /// 401 `device_revoked`: the device token was revoked; the phone wipes its data.
    DeviceRevoked,
    /// 403 `forbidden`: authenticated, but the role may not do this.
    Forbidden,
    /// 404 `not_found` (also for things of another organisation or outside the caller's scope).
    NotFound(&'static str),
    /// 409 `conflict`.
    Conflict(String),
    /// 409 `transition_not_allowed`.
    Transition(String),
    /// 400/413/415 for a body that cannot be read as JSON.
    Json {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// 422 `invalid_input`: well-formed but unacceptable.
    Invalid(String),
    /// 400 with a specific code.
    BadRequest { code: &'static str, message: String },
    /// 429 `rate_limited` with `Retry-After`.
    RateLimited { retry_after_secs: u64 },
    /// 503 `busy` with `Retry-After`: the server is overloaded (no database connection came free
    /// in time). Nothing was changed; the client retries later, a phone in the background.
    Busy { retry_after_secs: u64 },
    /// 500 `internal`: logged in full (with the request id of the current span), answered
    /// generically.
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized | AppError::DeviceRevoked => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::Transition(_) => StatusCode::CONFLICT,
            AppError::Json { status, .. } => *status,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::DeviceRevoked => "device_revoked",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Transition(_) => "transition_not_allowed",
            AppError::Json { code, .. } | AppError::BadRequest { code, .. } => code,
            AppError::Invalid(_) => "invalid_input",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Busy { .. } => "busy",
            AppError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            AppError::Unauthorized => "missing, unknown or expired credentials".into(),
            AppError::DeviceRevoked => "this device was revoked; sign in again".into(),
            AppError::Forbidden => "your role may not do this".into(),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Conflict(m)
            | AppError::Transition(m)
            | AppError::Invalid(m)
            | AppError::Json { message: m, .. }
            | AppError::BadRequest { message: m, .. } => m.clone(),
            AppError::RateLimited { retry_after_secs } => {
                format!("too many failed attempts; retry in {retry_after_secs} s")
            }
            AppError::Busy { retry_after_secs } => {
                format!("the server is busy; nothing was changed, retry in {retry_after_secs} s")
            }
            AppError::Internal(_) => {
                "internal error; the x-request-id header identifies it in the logs".into()
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            // Runs inside the request span, so the log line carries the request id.
            tracing::error!(error = %detail, "internal error");
        }
        let status = self.status();
        let body = ErrorBody {
            code: self.code().into(),
            message: self.message(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let AppError::RateLimited { retry_after_secs } | AppError::Busy { retry_after_secs } =
            self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        if e.is_unique_violation() {
            return AppError::Conflict("it already exists".into());
        }
        match e {
            Error::Document(e) => e.into(),
            Error::Invalid(m) => AppError::Invalid(m),
            Error::NotFound(what) => AppError::NotFound(what),
            Error::Conflict(m) => AppError::Conflict(m),
            Error::Protocol(m) => AppError::BadRequest {
                code: "sync_protocol",
                message: m,
            },
            Error::Database(sqlx::Error::RowNotFound) => AppError::NotFound("record"),
            Error::Database(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("no database connection came free in time: answering 503");
                AppError::Busy {
                    retry_after_secs: 1,
                }
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Error::from(e).into()
    }
}

impl From<sync_core::Error> for AppError {
    fn from(e: sync_core::Error) -> Self {
        use sync_core::Error as E;
        match e {
            E::InvalidInput(m) => AppError::Invalid(m),
            e @ E::TransitionNotAllowed { .. } => AppError::Transition(e.to_string()),
            E::NotAllowed(_) => AppError::Forbidden,
            E::NotFound(_) => AppError::NotFound("document"),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let (status, code) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (status, "payload_too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type"),
            _ => (StatusCode::BAD_REQUEST, "invalid_json"),
        };
        AppError::Json {
            status,
            code,
            message: rejection.body_text(),
        }
    }
}

/// `axum::Json`, except that a body that cannot be read answers in the [`ErrorBody`] format:
/// 400 `invalid_json`, 413 `payload_too_large` or 415 `unsupported_media_type`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(value))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query`, except that a malformed query string answers 400 `invalid_query` in
/// the [`ErrorBody`] format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(AppError::BadRequest {
                code: "invalid_query",
                message: QueryRejection::body_text(&rejection),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_pool_is_503_busy_with_retry_after_not_500() {
        let response = AppError::from(Error::Database(sqlx::Error::PoolTimedOut)).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(1u64))
        );
        let other = AppError::from(Error::Database(sqlx::Error::PoolClosed)).into_response();
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
