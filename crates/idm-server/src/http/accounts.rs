//! `/v1/account`: lock and unlock persons and service accounts alike.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use idm_model::EntryKind;
use idm_model::access::{Op, authorize};
use idm_model::api::LockRequest;
use idm_model::change::Change;

use super::extract::{ApiJson, Auth, ClientIp};
use super::{apply, target};
use crate::error::AppError;
use crate::state::AppState;

async fn account(
    st: &AppState,
    p: &idm_model::access::Principal,
    id: String,
) -> Result<uuid::Uuid, AppError> {
    let (e, info) = target(st, p, id, None).await?;
    if e.kind() == EntryKind::Group {
        return Err(AppError::NotFound(format!(
            "{} is a group, not an account",
            e.name()
        )));
    }
    if info.is_self {
        return Err(AppError::Forbidden(
            "you cannot lock or unlock yourself".into(),
        ));
    }
    authorize(p, Op::Modify(info))?;
    Ok(e.uuid())
}

pub async fn lock(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<LockRequest>,
) -> Result<StatusCode, AppError> {
    let uuid = account(&st, &p, id).await?;
    apply(
        &st,
        &p,
        Change::Lock {
            uuid,
            reason: req.reason,
        },
        ip,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unlock(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let uuid = account(&st, &p, id).await?;
    apply(&st, &p, Change::Unlock { uuid }, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
