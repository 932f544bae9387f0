//! Authentication, self, audit, health and status.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use idm_mfa::Password;
use idm_model::EntryKind;
use idm_model::access::{Op, authorize};
use idm_model::api::{AuditList, AuditQuery, AuthRequest, AuthResponse, Status, WhoAmI};
use idm_model::token::BearerToken;
use idm_store::AuditFilter;

use super::extract::{ApiJson, Auth, ClientIp, MaybeAuth, bearer};
use crate::auth::{blocking, password_login};
use crate::error::AppError;
use crate::state::AppState;

pub async fn auth(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<AuthRequest>,
) -> Result<Json<AuthResponse>, AppError> {
    let ok = password_login(&st, req.name, Password::new(req.password), req.code, ip).await?;
    Ok(Json(AuthResponse {
        token: ok.token.expose().to_owned(),
        expires_at: ok.expires_at,
    }))
}

pub async fn logout(
    State(st): State<AppState>,
    Auth(_): Auth,
    req: axum::http::Request<axum::body::Body>,
) -> Result<StatusCode, AppError> {
    let (parts, _) = req.into_parts();
    if let Some(t) = bearer(&parts)
        && let Ok((id, _)) = BearerToken::from_wire(&t).parse()
    {
        let store = st.store.clone();
        blocking(move || Ok(store.delete_session(id)?)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn whoami(Auth(p): Auth) -> Json<WhoAmI> {
    Json(WhoAmI {
        uuid: p.uuid,
        name: p.name,
        kind: p.kind,
        groups: p.groups.into_iter().collect(),
    })
}

pub async fn audit(
    State(st): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditList>, AppError> {
    authorize(&p, Op::ReadAudit)?;
    let f = AuditFilter {
        since: q.since,
        until: q.until,
        actor: q.actor,
        target: q.target,
        limit: q.limit.unwrap_or(100),
    };
    let (store, writer) = (st.store.clone(), st.audit.clone());
    let entries = blocking(move || {
        // Queued events (token binds) first, so the answer includes every earlier decision.
        writer.flush()?;
        Ok(store.audit(&f)?)
    })
    .await?;
    Ok(Json(AuditList { entries }))
}

pub async fn live() -> &'static str {
    "ok"
}

pub async fn ready(State(st): State<AppState>) -> Result<&'static str, AppError> {
    let store = st.store.clone();
    blocking(move || {
        store.ping()?;
        Ok(())
    })
    .await?;
    Ok("ok")
}

/// Public: version and uptime. Counts only for callers who may list accounts.
pub async fn status(
    State(st): State<AppState>,
    MaybeAuth(p): MaybeAuth,
) -> Result<Json<Status>, AppError> {
    let allowed = p.is_some_and(|p| authorize(&p, Op::List(EntryKind::Person)).is_ok());
    let store = st.store.clone();
    let counts = if allowed {
        Some(blocking(move || Ok(store.counts()?)).await?)
    } else {
        None
    };
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        persons: counts.map_or(0, |c| c.persons),
        service_accounts: counts.map_or(0, |c| c.service_accounts),
        groups: counts.map_or(0, |c| c.groups),
        audit_entries: counts.map_or(0, |c| c.audit_entries),
        uptime_secs: st.started.elapsed().as_secs(),
    }))
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no such endpoint".into())
}
