//! The HTTPS surface: `fn app(state) -> Router` and the handlers behind `/v1`.

mod accounts;
mod credential;
mod extract;
pub mod forwarded;
mod group;
pub mod oauth2;
mod person;
mod service_account;
mod system;
pub mod views;

use std::net::IpAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use chrono::Utc;
use idm_model::access::{Principal, TargetInfo};
use idm_model::change::Change;
use idm_model::{Entry, EntryKind, access};

use crate::auth::{actor_of, blocking, is_privileged};
use crate::error::AppError;
use crate::oidc::{endpoints, flow};
use crate::state::AppState;
use crate::ui::{factors, profile};

pub use extract::{ApiJson, Auth, ClientIp, OptionalJson};

pub fn app(state: AppState) -> Router {
    let limit = state.config.https.max_body_bytes;
    Router::new()
        .route("/v1/auth", post(system::auth))
        .route("/v1/logout", post(system::logout))
        .route("/v1/self", get(system::whoami))
        .route("/v1/audit", get(system::audit))
        .route("/v1/person", get(person::list).post(person::create))
        .route(
            "/v1/person/{id}",
            get(person::get)
                .patch(person::update)
                .delete(person::delete),
        )
        .route("/v1/person/{id}/password", put(person::set_password))
        .route("/v1/person/{id}/posix", put(person::set_posix))
        .route(
            "/v1/person/{id}/ssh",
            get(person::list_ssh).post(person::add_ssh),
        )
        .route("/v1/person/{id}/ssh/{label}", delete(person::delete_ssh))
        .route("/v1/person/{id}/credential", get(credential::status))
        .route(
            "/v1/person/{id}/credential/reset_token",
            post(credential::create_reset_token),
        )
        .route(
            "/v1/person/{id}/credential/totp/{label}",
            delete(credential::remove_totp),
        )
        .route(
            "/v1/person/{id}/credential/webauthn/{label}",
            delete(credential::remove_webauthn),
        )
        .route("/v1/account/{id}/lock", post(accounts::lock))
        .route("/v1/account/{id}/unlock", post(accounts::unlock))
        .route("/v1/group", get(group::list).post(group::create))
        .route("/v1/group/{id}", get(group::get).delete(group::delete))
        .route(
            "/v1/group/{id}/members",
            get(group::list_members).post(group::add_members),
        )
        .route("/v1/group/{id}/members/remove", post(group::remove_members))
        .route("/v1/group/{id}/posix", put(group::set_posix))
        .route(
            "/v1/group/{id}/credential_policy",
            put(credential::set_policy).delete(credential::clear_policy),
        )
        .route(
            "/v1/service_account",
            get(service_account::list).post(service_account::create),
        )
        .route(
            "/v1/service_account/{id}",
            get(service_account::get)
                .patch(service_account::update)
                .delete(service_account::delete),
        )
        .route(
            "/v1/service_account/{id}/api_token",
            get(service_account::list_tokens).post(service_account::generate_token),
        )
        .route(
            "/v1/service_account/{id}/api_token/{token}",
            delete(service_account::destroy_token),
        )
        .route("/v1/oauth2", get(oauth2::list).post(oauth2::create))
        .route(
            "/v1/oauth2/{id}",
            get(oauth2::get)
                .patch(oauth2::update)
                .delete(oauth2::delete),
        )
        .route("/v1/oauth2/{id}/secret", get(oauth2::show_secret))
        .route("/v1/oauth2/{id}/reset_secret", post(oauth2::reset_secret))
        .route(
            "/v1/oauth2/{id}/scope_map/{group}",
            put(oauth2::put_scope_map).delete(oauth2::delete_scope_map),
        )
        .route(
            "/v1/oauth2/{id}/claim_map/{claim}/{group}",
            put(oauth2::put_claim_map).delete(oauth2::delete_claim_map),
        )
        // OAuth2 / OpenID Connect (see crate::oidc).
        .route(
            "/.well-known/openid-configuration",
            get(endpoints::discovery),
        )
        .route(
            "/oauth2/authorize",
            get(flow::authorize_get).post(flow::authorize_post),
        )
        .route("/oauth2/par", post(endpoints::par))
        .route("/oauth2/token", post(endpoints::token))
        .route(
            "/oauth2/userinfo",
            get(endpoints::userinfo).post(endpoints::userinfo),
        )
        .route("/oauth2/jwks", get(endpoints::jwks))
        .route("/oauth2/revoke", post(endpoints::revoke))
        .route("/oauth2/introspect", post(endpoints::introspect))
        .route(
            "/oauth2/logout",
            get(flow::logout_get).post(flow::logout_post),
        )
        .route("/ui/login", get(flow::login_get).post(flow::login_post))
        .route("/ui/webauthn.js", get(crate::ui::webauthn_js))
        .route("/ui/login/webauthn/options", post(factors::passkey_options))
        .route("/ui/login/webauthn", post(factors::passkey_post))
        .route(
            "/ui/login/mfa",
            get(factors::mfa_get).post(factors::mfa_post),
        )
        .route(
            "/ui/login/mfa/webauthn/options",
            post(factors::mfa_webauthn_options),
        )
        .route("/ui/login/mfa/webauthn", post(factors::mfa_webauthn_post))
        .route(
            "/ui/profile/login",
            get(factors::profile_login_get).post(factors::profile_login_post),
        )
        .route(
            "/ui/profile/login/webauthn/options",
            post(factors::profile_passkey_options),
        )
        .route("/ui/profile/login/webauthn", post(factors::passkey_post))
        .route("/ui/profile", get(profile::get))
        .route("/ui/profile/password", post(profile::password))
        .route(
            "/ui/profile/totp",
            get(profile::totp_get).post(profile::totp_post),
        )
        .route("/ui/profile/totp/remove", post(profile::totp_remove))
        .route(
            "/ui/profile/passkey/options",
            post(profile::passkey_options),
        )
        .route("/ui/profile/passkey", post(profile::passkey_post))
        .route("/ui/profile/passkey/remove", post(profile::passkey_remove))
        .route("/ui/profile/passkey/rename", post(profile::passkey_rename))
        .route("/ui/profile/backup-codes", post(profile::backup_codes))
        .route(
            "/ui/reset",
            get(profile::reset_get).post(profile::reset_post),
        )
        .route("/ui/consent", post(flow::consent_post))
        .route(
            "/ui/logout",
            get(flow::ui_logout_get).post(flow::ui_logout_post),
        )
        .route("/health/live", get(system::live))
        .route("/health/ready", get(system::ready))
        .route("/status", get(system::status))
        .fallback(system::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            forwarded::forwarded,
        ))
        .layer(middleware::from_fn(log_and_harden))
        .with_state(state)
}

/// Logs each request (method, path, status, time — never the query, headers or bodies, which
/// may carry secrets) and adds the security headers every response gets. The line is at `debug`
/// level (`IDM_LOG=debug`): at `info` a busy server would write hundreds of bytes per request
/// (≈ 15% of the CPU of a JWKS request); server errors (5xx) are logged at `warn`, and what is
/// worth keeping about a request (logins, grants, refusals) is in the audit log.
async fn log_and_harden(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // A reference-counted copy, not a new string: only logged if at all.
    let uri = req.uri().clone();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // Only the JWKS and discovery documents set their own (public, short) caching.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    let status = res.status().as_u16();
    let micros = started.elapsed().as_micros() as u64;
    let path = uri.path();
    if res.status().is_server_error() {
        tracing::warn!(%method, path, status, micros, "request");
    } else {
        tracing::debug!(%method, path, status, micros, "request");
    }
    res
}

/// Resolves `{id}` (name or UUID) to an entry of `kind`, and what authorization needs to know.
pub(crate) async fn target(
    st: &AppState,
    p: &Principal,
    id: String,
    kind: Option<EntryKind>,
) -> Result<(Entry, TargetInfo), AppError> {
    let store = st.store.clone();
    let me = p.uuid;
    blocking(move || {
        let e = store
            .resolve(&id)?
            .filter(|e| kind.is_none_or(|k| e.kind() == k))
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "no {} named {id:?}",
                    kind.map_or("entry", |k| match k {
                        EntryKind::Person => "person",
                        EntryKind::Group => "group",
                        EntryKind::ServiceAccount => "service account",
                    })
                ))
            })?;
        let info = TargetInfo {
            kind: e.kind(),
            privileged: is_privileged(&store, &e)?,
            builtin: access::is_builtin_uuid(e.uuid()),
            is_self: e.uuid() == me,
        };
        Ok((e, info))
    })
    .await
}

/// Applies a change as `p` and returns the entry after it.
pub(crate) async fn apply(
    st: &AppState,
    p: &Principal,
    change: Change,
    ip: Option<IpAddr>,
) -> Result<Option<Entry>, AppError> {
    let store = st.store.clone();
    let actor = actor_of(p);
    blocking(move || {
        Ok(store
            .apply(&change, &actor, Utc::now(), ip.map(|i| i.to_string()))?
            .entry)
    })
    .await
}
