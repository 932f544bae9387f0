//! `/v1/group`: groups, their members and POSIX gid.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use idm_model::access::{Op, Principal, authorize};
use idm_model::api::{EntryRef, GroupCreate, GroupPosix, GroupView, Members, PosixPatch};
use idm_model::change::Change;
use idm_model::{Entry, EntryKind, Group, validate};
use idm_store::Reader;

use super::extract::{ApiJson, Auth, ClientIp};
use super::{apply, target, views};
use crate::auth::blocking;
use crate::error::AppError;
use crate::rng;
use crate::state::AppState;

fn view(st: &AppState, e: Option<Entry>) -> Result<GroupView, AppError> {
    match e {
        Some(Entry::Group(g)) => views::group(&st.store.read()?, g),
        _ => Err(AppError::Internal("group change returned no group".into())),
    }
}

pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<GroupView>>, AppError> {
    authorize(&p, Op::List(EntryKind::Group))?;
    let store = st.store.clone();
    blocking(move || {
        let txn = store.read()?;
        let mut out = Vec::new();
        for e in store.list(EntryKind::Group)? {
            if let Entry::Group(g) = e {
                out.push(views::group(&txn, g)?);
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
    ApiJson(req): ApiJson<GroupCreate>,
) -> Result<(StatusCode, Json<GroupView>), AppError> {
    authorize(&p, Op::Create(EntryKind::Group))?;
    let now = Utc::now();
    let g = Group {
        credential_policy: None,
        uuid: rng::uuid()?,
        name: validate::name("name", &req.name)?,
        description: req
            .description
            .as_deref()
            .map(|d| validate::text("description", d, validate::DESCRIPTION_MAX))
            .transpose()?,
        members: Default::default(),
        gid_number: None,
        created_at: now,
        modified_at: now,
    };
    let e = apply(&st, &p, Change::CreateGroup(g), ip).await?;
    Ok((StatusCode::CREATED, Json(view(&st, e)?)))
}

pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<GroupView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Group)).await?;
    authorize(&p, Op::Read(info))?;
    Ok(Json(view(&st, Some(e))?))
}

pub async fn delete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Group)).await?;
    authorize(&p, Op::Delete(info))?;
    apply(&st, &p, Change::Delete { uuid: e.uuid() }, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_members(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<EntryRef>>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Group)).await?;
    authorize(&p, Op::Read(info))?;
    Ok(Json(view(&st, Some(e))?.members))
}

async fn change_members(
    st: &AppState,
    p: &Principal,
    ip: Option<std::net::IpAddr>,
    id: String,
    req: Members,
    add: bool,
) -> Result<Json<GroupView>, AppError> {
    let (g, info) = target(st, p, id, Some(EntryKind::Group)).await?;
    authorize(p, Op::Membership(info))?;
    if req.members.is_empty() {
        return Err(AppError::BadRequest("name at least one member".into()));
    }
    if req.members.len() > validate::MEMBERS_PER_CHANGE_MAX {
        return Err(AppError::BadRequest(format!(
            "at most {} members per request",
            validate::MEMBERS_PER_CHANGE_MAX
        )));
    }
    let store = st.store.clone();
    let names = req.members;
    let (members, privileged) = blocking(move || {
        let txn = store.read()?;
        let mut out = Vec::with_capacity(names.len());
        let mut privileged = false;
        for n in &names {
            let e = txn
                .resolve(n)?
                .ok_or_else(|| AppError::NotFound(format!("no entry named {n:?}")))?;
            privileged |= crate::auth::is_privileged(&store, &e)?;
            out.push(e.uuid());
        }
        Ok((out, privileged))
    })
    .await?;
    // Putting a privileged group under another group passes its rights on: admins only.
    if privileged {
        authorize(
            p,
            Op::Membership(idm_model::access::TargetInfo {
                builtin: true,
                ..info
            }),
        )?;
    }
    let change = if add {
        Change::AddMembers {
            group: g.uuid(),
            members,
        }
    } else {
        Change::RemoveMembers {
            group: g.uuid(),
            members,
        }
    };
    let e = apply(st, p, change, ip).await?;
    Ok(Json(view(st, e)?))
}

pub async fn add_members(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Members>,
) -> Result<Json<GroupView>, AppError> {
    change_members(&st, &p, ip, id, req, true).await
}

pub async fn remove_members(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Members>,
) -> Result<Json<GroupView>, AppError> {
    change_members(&st, &p, ip, id, req, false).await
}

pub async fn set_posix(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GroupPosix>,
) -> Result<Json<GroupView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Group)).await?;
    authorize(&p, Op::Modify(info))?;
    let patch = PosixPatch {
        gid_number: req.gid_number,
        ..Default::default()
    };
    let e = apply(
        &st,
        &p,
        Change::SetPosix {
            uuid: e.uuid(),
            patch,
        },
        ip,
    )
    .await?;
    Ok(Json(view(&st, e)?))
}
