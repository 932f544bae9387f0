//! `/v1/person`: persons, their passwords, POSIX attributes and SSH keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use idm_mfa::Password;
use idm_model::access::{Op, authorize};
use idm_model::api::{
    AddSshKey, PersonCreate, PersonPatch, PersonView, PosixPatch, SetPassword, SshKeyView,
};
use idm_model::change::Change;
use idm_model::{Entry, EntryKind, PasswordCredential, Person, validate};
use idm_ssh::{KeyPolicy, SshPublicKey};

use super::extract::{ApiJson, Auth, ClientIp};
use super::{apply, target, views};
use crate::auth::blocking;
use crate::error::AppError;
use crate::rng;
use crate::state::AppState;

fn view(st: &AppState, e: Option<Entry>) -> Result<PersonView, AppError> {
    match e {
        Some(Entry::Person(p)) => views::person(&st.store.read()?, p),
        _ => Err(AppError::Internal(
            "person change returned no person".into(),
        )),
    }
}

pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<PersonView>>, AppError> {
    authorize(&p, Op::List(EntryKind::Person))?;
    let store = st.store.clone();
    blocking(move || {
        let txn = store.read()?;
        let mut out = Vec::new();
        for e in store.list(EntryKind::Person)? {
            if let Entry::Person(p) = e {
                out.push(views::person(&txn, p)?);
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
    ApiJson(req): ApiJson<PersonCreate>,
) -> Result<(StatusCode, Json<PersonView>), AppError> {
    authorize(&p, Op::Create(EntryKind::Person))?;
    let now = Utc::now();
    let person = Person {
        uuid: rng::uuid()?,
        name: validate::name("name", &req.name)?,
        display_name: validate::display_name(&req.display_name)?,
        legal_name: req
            .legal_name
            .as_deref()
            .map(|l| validate::text("legal_name", l, validate::DISPLAY_NAME_MAX))
            .transpose()?,
        mails: validate::mails(&req.mails)?,
        valid_from: None,
        expire_at: None,
        lock: None,
        posix: None,
        ssh_keys: Default::default(),
        credentials: Default::default(),
        created_at: now,
        modified_at: now,
    };
    let e = apply(&st, &p, Change::CreatePerson(person), ip).await?;
    Ok((StatusCode::CREATED, Json(view(&st, e)?)))
}

pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<PersonView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    authorize(&p, Op::Read(info))?;
    Ok(Json(view(&st, Some(e))?))
}

pub async fn update(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<PersonPatch>,
) -> Result<Json<PersonView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    authorize(&p, Op::Modify(info))?;
    let patch = patch.normalised()?;
    let e = apply(
        &st,
        &p,
        Change::UpdatePerson {
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
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    authorize(&p, Op::Delete(info))?;
    apply(&st, &p, Change::Delete { uuid: e.uuid() }, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn set_password(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SetPassword>,
) -> Result<StatusCode, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    // Changing one's own password is always allowed (for `admin` too: it is its own recovery).
    if !info.is_self {
        authorize(&p, Op::Credential(info))?;
    }
    let Entry::Person(person) = &e else {
        return Err(AppError::NotFound("no such person".into()));
    };
    let password = Password::new(req.password);
    let mut inputs: Vec<&str> = vec![person.name.as_str(), person.display_name.as_str()];
    inputs.extend(person.mails.iter().map(String::as_str));
    st.config
        .password
        .policy
        .check(&password, &inputs)
        .map_err(|v| AppError::PasswordPolicy(v.to_string()))?;
    // A group's credential policy may ask for a longer password than the server's own rule.
    let (st2, p2) = (st.clone(), person.clone());
    let min_len =
        blocking(move || Ok(crate::mfa::effective_policy(&st2.store, &p2)?.min_password_length))
            .await?;
    if let Some(n) = min_len
        && password.expose_secret().chars().count() < n
    {
        return Err(AppError::PasswordPolicy(format!(
            "the credential policy of this person's groups requires at least {n} characters"
        )));
    }
    let phc = crate::auth::hash_new_password(&st, password).await?;
    let reason = if info.is_self {
        "self"
    } else {
        "set by an administrator"
    };
    apply(
        &st,
        &p,
        Change::SetPassword {
            uuid: e.uuid(),
            credential: PasswordCredential {
                phc,
                set_at: Utc::now(),
            },
            reason: reason.into(),
        },
        ip,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn set_posix(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<PosixPatch>,
) -> Result<Json<PersonView>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    authorize(&p, Op::Modify(info))?;
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

pub async fn list_ssh(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<SshKeyView>>, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    authorize(&p, Op::Read(info))?;
    let Entry::Person(person) = e else {
        return Err(AppError::NotFound("no such person".into()));
    };
    Ok(Json(
        person
            .ssh_keys
            .iter()
            .map(|(l, k)| views::ssh_key_view(l, k))
            .collect(),
    ))
}

pub async fn add_ssh(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AddSshKey>,
) -> Result<(StatusCode, Json<SshKeyView>), AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    if !info.is_self {
        authorize(&p, Op::Credential(info))?;
    }
    let label = validate::label("label", &req.label)?;
    let key = SshPublicKey::parse(&req.key, &KeyPolicy::default())
        .map_err(|e| AppError::SshKey(e.to_string()))?;
    let line = key.to_openssh();
    apply(
        &st,
        &p,
        Change::AddSshKey {
            uuid: e.uuid(),
            label: label.clone(),
            key: line.clone(),
        },
        ip,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(views::ssh_key_view(&label, &line)),
    ))
}

pub async fn delete_ssh(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, label)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let (e, info) = target(&st, &p, id, Some(EntryKind::Person)).await?;
    if !info.is_self {
        authorize(&p, Op::Credential(info))?;
    }
    apply(
        &st,
        &p,
        Change::RemoveSshKey {
            uuid: e.uuid(),
            label,
        },
        ip,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
