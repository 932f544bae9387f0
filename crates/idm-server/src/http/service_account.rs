//! `/v1/service_account`: non-interactive accounts and their API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use idm_model::access::{Op, authorize};
use idm_model::api::{
    ApiTokenCreate, ApiTokenCreated, ApiTokenView, ServiceAccountCreate, ServiceAccountPatch,
    ServiceAccountView,
};
use idm_model::change::Change;
use idm_model::token::{BearerToken, digest_hex};
use idm_model::{ApiToken, Entry, EntryKind, ServiceAccount, TokenAccess, validate};

use super::extract::{ApiJson, Auth, ClientIp};
use super::{apply, target, views};
use crate::auth::blocking;
use crate::error::AppError;
use crate::rng;
use crate::state::AppState;

fn view(st: &AppState, e: Option<Entry>) -> Result<ServiceAccountView, AppError> {
    match e {
        Some(Entry::ServiceAccount(s)) => views::service_account(&st.store.read()?, s),
        _ => Err(AppError::Internal(
            "change returned no service account".into(),
        )),
    }
}

pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<ServiceAccountView>>, AppError> {
    authorize(&p, Op::List(EntryKind::ServiceAccount))?;
    let store = st.store.clone();
    blocking(move || {
        let txn = store.read()?;
        let mut out = Vec::new();
        for e in store.list(EntryKind::ServiceAccount)? {
            if let Entry::ServiceAccount(s) = e {
                out.push(views::service_account(&txn, s)?);
            }
        }
        Ok(Json(out))
    })
    .await
}

pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ServiceAccountCreate>,
) -> Result<(StatusCode, Json<ServiceAccountView>), AppError> {
    authorize(&p, Op::Create(EntryKind::ServiceAccount))?;
    let now = Utc::now();
    let s = ServiceAccount {
        uuid: rng::uuid()?,
        name: validate::name("name", &req.name)?,
        display_name: validate::display_name(&req.display_name)?,
        description: req
            .description
            .as_deref()
            .map(|d| validate::text("description", d, validate::DESCRIPTION_MAX))
            .transpose()?,
        mails: vec![],
        valid_from: None,
        expire_at: None,
        lock: None,
        api_tokens: vec![],
        created_at: now,
        modified_at: now,
    };
    let e = apply(&st, &p, Change::CreateServiceAccount(s), ip).await?;
    Ok((StatusCode::CREATED, Json(view(&st, e)?)))
}

pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<ServiceAccountView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::ServiceAccount)).await?;
    authorize(&p, Op::Read(info))?;
    Ok(Json(view(&st, Some(e))?))
}

pub async fn update(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ServiceAccountPatch>,
) -> Result<Json<ServiceAccountView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::ServiceAccount)).await?;
    authorize(&p, Op::Modify(info))?;
    let e = apply(
        &st,
        &p,
        Change::UpdateServiceAccount {
            uuid: e.uuid(),
            patch,
        },
        ip,
    )
    .await?;
    Ok(Json(view(&st, e)?))
}

pub async fn delete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::ServiceAccount)).await?;
    authorize(&p, Op::Delete(info))?;
    apply(&st, &p, Change::Delete { uuid: e.uuid() }, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tokens(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<ApiTokenView>>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::ServiceAccount)).await?;
    authorize(&p, Op::Read(info))?;
    let Entry::ServiceAccount(s) = e else {
        return Err(AppError::NotFound("no such service account".into()));
    };
    Ok(Json(s.api_tokens.iter().map(views::token_view).collect()))
}

pub async fn generate_token(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ApiTokenCreate>,
) -> Result<(StatusCode, Json<ApiTokenCreated>), AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::ServiceAccount)).await?;
    authorize(&p, Op::Credential(info))?;
    let now = Utc::now();
    if req.expire_at.is_some_and(|x| x <= now) {
        return Err(AppError::BadRequest("expiry must be in the future".into()));
    }
    let token_id = rng::uuid()?;
    let secret = rng::array::<32>()?;
    let token = BearerToken::new(token_id, &secret);
    let record = ApiToken {
        id: token_id,
        label: validate::label("label", &req.label)?,
        created_at: now,
        expire_at: req.expire_at,
        access: if req.read_write {
            TokenAccess::ReadWrite
        } else {
            TokenAccess::ReadOnly
        },
        digest: digest_hex(&secret),
    };
    apply(
        &st,
        &p,
        Change::AddApiToken {
            uuid: e.uuid(),
            token: record,
        },
        ip,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiTokenCreated {
            id: token_id,
            token: token.expose().to_owned(),
        }),
    ))
}

pub async fn destroy_token(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, token)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::ServiceAccount)).await?;
    authorize(&p, Op::Credential(info))?;
    let token_id = uuid::Uuid::try_parse(&token)
        .map_err(|_| AppError::BadRequest(format!("{token:?} is not a token id")))?;
    apply(
        &st,
        &p,
        Change::RemoveApiToken {
            uuid: e.uuid(),
            id: token_id,
        },
        ip,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
