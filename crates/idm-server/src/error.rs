//! The one error type of the HTTP layer and its mapping to status + problem JSON — the only
//! place where a failure gets its wire code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use idm_model::ModelError;
use idm_model::access::Denied;
use idm_model::api::Problem;
use idm_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not authenticated")]
    Unauthenticated,
    #[error("invalid name or password")]
    InvalidCredentials,
    #[error("{0}")]
    AccountDisabled(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(ModelError),
    #[error("{0}")]
    PasswordPolicy(String),
    #[error("invalid SSH public key: {0}")]
    SshKey(String),
    #[error("too many attempts, try again later")]
    RateLimited,
    #[error("{0}")]
    MfaRequired(String),
    #[error("request body too large")]
    TooLarge,
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AppError::AccountDisabled(_) => (StatusCode::UNAUTHORIZED, "account_disabled"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            AppError::PasswordPolicy(_) => (StatusCode::UNPROCESSABLE_ENTITY, "password_policy"),
            AppError::SshKey(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_ssh_key"),
            AppError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::MfaRequired(_) => (StatusCode::UNAUTHORIZED, "mfa_required"),
            AppError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let violations = match &self {
            AppError::Invalid(ModelError::Invalid(v)) => vec![v.clone()],
            _ => vec![],
        };
        if let AppError::Internal(detail) = &self {
            // The detail is for the operator's log, never for the client.
            tracing::error!(%detail, "internal error");
        }
        let body = Problem {
            code: code.into(),
            message: self.to_string(),
            violations,
        };
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Model(m) => AppError::from(m),
            StoreError::NotFound { .. } => AppError::NotFound(e.to_string()),
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::Refused(m) => AppError::Conflict(m),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<ModelError> for AppError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Invalid(_) => AppError::Invalid(e),
            ModelError::Inconsistent(m) => AppError::Conflict(m),
            ModelError::Json(m) => AppError::BadRequest(m),
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl From<Denied> for AppError {
    fn from(e: Denied) -> Self {
        AppError::Forbidden(e.0)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::Internal(e.to_string())
    }
}
