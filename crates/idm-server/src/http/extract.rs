//! Request extractors: JSON bodies whose rejections become problem JSON, the authenticated
//! principal, and the client's address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::Utc;
use idm_model::access::Principal;
use serde::de::DeserializeOwned;

use crate::auth::{authenticate_bearer, blocking};
use crate::error::AppError;
use crate::state::AppState;

/// `axum::Json`, but a malformed body answers with our problem JSON and a precise message.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(match rej {
                JsonRejection::BytesRejection(ref b)
                    if b.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    AppError::TooLarge
                }
                JsonRejection::JsonDataError(e) => AppError::BadRequest(e.body_text()),
                JsonRejection::JsonSyntaxError(e) => AppError::BadRequest(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => {
                    AppError::BadRequest("expected Content-Type: application/json".into())
                }
                other => AppError::BadRequest(other.body_text()),
            }),
        }
    }
}

/// [`ApiJson`] for a body that may be left out: no `Content-Type` and an empty (or blank) body
/// is `None`, so `curl -X POST` works where every field has a default.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            let ApiJson(v) = ApiJson::<T>::from_request(req, state).await?;
            return Ok(OptionalJson(Some(v)));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rej| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::TooLarge
                } else {
                    AppError::BadRequest(rej.body_text())
                }
            })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(OptionalJson(None))
        } else {
            Err(AppError::BadRequest(
                "expected Content-Type: application/json".into(),
            ))
        }
    }
}

/// The authenticated caller; 401 without a valid bearer token.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        let token = bearer(parts).ok_or(AppError::Unauthenticated)?;
        let store = st.store.clone();
        let p = blocking(move || authenticate_bearer(&store, &token, Utc::now())).await?;
        Ok(Auth(p))
    }
}

/// The caller when a valid bearer token is present, otherwise nobody (for public endpoints that
/// show more to authenticated readers).
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, AppError> {
        match Auth::from_request_parts(parts, st).await {
            Ok(Auth(p)) => Ok(MaybeAuth(Some(p))),
            Err(_) => Ok(MaybeAuth(None)),
        }
    }
}

pub fn bearer(parts: &Parts) -> Option<String> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The client's address: as a trusted reverse proxy reported it (see `http::forwarded`), else
/// the peer address of the connection (absent in in-process tests).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(f) = parts.extensions.get::<super::forwarded::ForwardedFor>() {
            return Ok(ClientIp(Some(f.0)));
        }
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
