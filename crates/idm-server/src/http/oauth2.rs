//! `/v1/oauth2`: OAuth2/OpenID Connect client registrations.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::{Duration, Utc};
use idm_model::access::{Op, Principal, authorize};
use idm_model::api::{ClaimMap, ClientSecret, OAuth2Create, OAuth2Patch, OAuth2View, ScopeMap};
use idm_model::oauth2::{self, ClientKind, Lifetimes, OAuth2Client, SigningAlg};
use idm_model::token::digest_hex;
use idm_model::{Entry, EntryKind, validate};
use idm_store::{EphemeralKind, Update};
use uuid::Uuid;

use super::extract::{ApiJson, Auth, ClientIp};
use crate::auth::{actor_of, blocking};
use crate::error::AppError;
use crate::rng;
use crate::state::AppState;

/// How long a new secret can still be shown with `show-basic-secret`.
const PENDING_SECRET_SECS: i64 = 15 * 60;

pub fn view(st: &AppState, c: &OAuth2Client) -> Result<OAuth2View, AppError> {
    let txn = st.store.read()?;
    let name_of = |u: &Uuid| -> Result<String, AppError> {
        use idm_store::Reader;
        Ok(txn
            .entry(*u)?
            .map_or_else(|| u.to_string(), |e| e.name().to_owned()))
    };
    let mut scope_maps = BTreeMap::new();
    for (g, scopes) in &c.scope_maps {
        scope_maps.insert(name_of(g)?, scopes.iter().cloned().collect());
    }
    let mut claim_maps = BTreeMap::new();
    for (claim, m) in &c.claim_maps {
        let mut inner = BTreeMap::new();
        for (g, vals) in m {
            inner.insert(name_of(g)?, vals.clone());
        }
        claim_maps.insert(claim.clone(), inner);
    }
    Ok(OAuth2View {
        uuid: c.uuid,
        name: c.name.clone(),
        display_name: c.display_name.clone(),
        kind: c.kind,
        origin: c.origin.clone(),
        redirect_uris: c.redirect_uris.iter().cloned().collect(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.iter().cloned().collect(),
        has_secret: !c.secret_digest.is_empty(),
        has_jwks: c.jwks.is_some(),
        scope_maps,
        claim_maps,
        require_par: c.require_par,
        require_dpop: c.require_dpop,
        require_pkce: c.require_pkce,
        require_offline_access: c.require_offline_access,
        signing_alg: c.signing_alg,
        first_party: c.first_party,
        lifetimes: c.lifetimes,
        groups_claim: c.groups_claim,
        service_account: c.service_account.map(|u| name_of(&u)).transpose()?,
        created_at: c.created_at,
        modified_at: c.modified_at,
    })
}

async fn load(st: &AppState, p: &Principal, id: String, op: Op) -> Result<OAuth2Client, AppError> {
    authorize(p, op)?;
    let store = st.store.clone();
    blocking(move || {
        store
            .oauth2_client(&id)?
            .ok_or_else(|| AppError::NotFound(format!("no OAuth2 client named {id:?}")))
    })
    .await
}

async fn save(
    st: &AppState,
    p: &Principal,
    c: OAuth2Client,
    create: bool,
    summary: String,
    ip: Option<std::net::IpAddr>,
) -> Result<OAuth2View, AppError> {
    let store = st.store.clone();
    let actor = actor_of(p);
    let c2 = c.clone();
    blocking(move || {
        store.put_oauth2_client(
            &c2,
            create,
            &summary,
            &actor,
            Utc::now(),
            ip.map(|i| i.to_string()),
        )?;
        Ok(())
    })
    .await?;
    let st2 = st.clone();
    blocking(move || view(&st2, &c)).await
}

/// Draws a new secret, keeps it showable for a while, and returns it with its digest.
async fn new_secret(st: &AppState, c: &OAuth2Client) -> Result<(String, String), AppError> {
    let secret = Base64UrlUnpadded::encode_string(&rng::array::<32>()?);
    let digest = digest_hex(secret.as_bytes());
    let store = st.store.clone();
    let (key, s2) = (c.uuid.to_string(), secret.clone());
    blocking(move || {
        store.put_ephemeral(
            EphemeralKind::PendingSecret,
            &key,
            &s2,
            Utc::now() + Duration::seconds(PENDING_SECRET_SECS),
        )?;
        Ok(())
    })
    .await?;
    Ok((secret, digest))
}

pub async fn list(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> Result<Json<Vec<OAuth2View>>, AppError> {
    authorize(&p, Op::ReadOAuth2)?;
    let st2 = st.clone();
    blocking(move || {
        let mut out = Vec::new();
        for c in st2.store.oauth2_clients()? {
            out.push(view(&st2, &c)?);
        }
        Ok(Json(out))
    })
    .await
}

pub async fn get(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<OAuth2View>, AppError> {
    let c = load(&st, &p, id, Op::ReadOAuth2).await?;
    let st2 = st.clone();
    Ok(Json(blocking(move || view(&st2, &c)).await?))
}

pub async fn create(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<OAuth2Create>,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    authorize(&p, Op::ManageOAuth2)?;
    let now = Utc::now();
    let mut c = OAuth2Client {
        uuid: rng::uuid()?,
        name: validate::name("name", &req.name)?,
        display_name: validate::display_name(&req.display_name)?,
        kind: if req.public {
            ClientKind::Public
        } else {
            ClientKind::Confidential
        },
        origin: oauth2::redirect_uri("origin", &req.origin)?,
        redirect_uris: Default::default(),
        post_logout_redirect_uris: Default::default(),
        secret_digest: String::new(),
        jwks: None,
        scope_maps: Default::default(),
        claim_maps: Default::default(),
        require_par: false,
        require_dpop: false,
        require_pkce: true,
        require_offline_access: false,
        signing_alg: SigningAlg::ES256,
        first_party: false,
        lifetimes: Lifetimes::default(),
        groups_claim: Default::default(),
        service_account: None,
        created_at: now,
        modified_at: now,
    };
    let secret = if req.public {
        None
    } else {
        let (secret, digest) = new_secret(&st, &c).await?;
        c.secret_digest = digest;
        Some(secret)
    };
    let kind = if req.public { "public" } else { "confidential" };
    let v = save(&st, &p, c, true, format!("created {kind} client"), ip).await?;
    let mut body = serde_json::to_value(&v).map_err(|e| AppError::Internal(e.to_string()))?;
    if let (Some(s), Some(obj)) = (secret, body.as_object_mut()) {
        obj.insert("secret".into(), serde_json::Value::String(s));
    }
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn update(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<OAuth2Patch>,
) -> Result<Json<OAuth2View>, AppError> {
    let mut c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let mut what: Vec<String> = Vec::new();
    if let Some(d) = &patch.display_name {
        c.display_name = validate::display_name(d)?;
        what.push("display_name".into());
    }
    if let Some(o) = &patch.origin {
        c.origin = oauth2::redirect_uri("origin", o)?;
        what.push("origin".into());
    }
    for u in &patch.add_redirect_uris {
        c.redirect_uris
            .insert(oauth2::redirect_uri("redirect_uri", u)?);
        what.push(format!("added redirect URL {u}"));
    }
    for u in &patch.remove_redirect_uris {
        if !c.redirect_uris.remove(u) {
            return Err(AppError::NotFound(format!(
                "{u} is not a redirect URL of {}",
                c.name
            )));
        }
        what.push(format!("removed redirect URL {u}"));
    }
    for u in &patch.add_post_logout_redirect_uris {
        c.post_logout_redirect_uris
            .insert(oauth2::redirect_uri("post_logout_redirect_uri", u)?);
        what.push(format!("added post-logout URL {u}"));
    }
    for u in &patch.remove_post_logout_redirect_uris {
        if !c.post_logout_redirect_uris.remove(u) {
            return Err(AppError::NotFound(format!(
                "{u} is not a post-logout URL of {}",
                c.name
            )));
        }
        what.push(format!("removed post-logout URL {u}"));
    }
    let mut flag = |name: &str, v: Option<bool>, field: &mut bool| {
        if let Some(v) = v {
            *field = v;
            what.push(format!("{name}={v}"));
        }
    };
    flag("require_par", patch.require_par, &mut c.require_par);
    flag("require_dpop", patch.require_dpop, &mut c.require_dpop);
    flag("require_pkce", patch.require_pkce, &mut c.require_pkce);
    flag(
        "require_offline_access",
        patch.require_offline_access,
        &mut c.require_offline_access,
    );
    flag("first_party", patch.first_party, &mut c.first_party);
    if c.kind == ClientKind::Public && !c.require_pkce {
        return Err(AppError::BadRequest(
            "public clients always use PKCE".into(),
        ));
    }
    if let Some(a) = &patch.signing_alg {
        c.signing_alg = SigningAlg::parse(a)?;
        what.push(format!("signing_alg={a}"));
    }
    if let Some(l) = patch.lifetimes {
        l.validate()?;
        c.lifetimes = l;
        what.push(format!(
            "lifetimes access={} id={} refresh={}",
            l.access_token, l.id_token, l.refresh_token
        ));
    }
    if let Some(g) = patch.groups_claim {
        c.groups_claim = g;
        what.push(format!("groups_claim={g:?}"));
    }
    if let Some(sa) = &patch.service_account {
        if sa.is_empty() {
            c.service_account = None;
        } else {
            let store = st.store.clone();
            let sa2 = sa.clone();
            let e = blocking(move || Ok(store.resolve(&sa2)?)).await?;
            match e {
                Some(Entry::ServiceAccount(s)) => c.service_account = Some(s.uuid),
                _ => {
                    return Err(AppError::NotFound(format!(
                        "no service account named {sa:?}"
                    )));
                }
            }
        }
        what.push(format!("service_account={sa}"));
    }
    if let Some(j) = &patch.jwks {
        if j.is_empty() {
            c.jwks = None;
        } else {
            let v: serde_json::Value = serde_json::from_str(j)
                .map_err(|e| AppError::BadRequest(format!("jwks is not JSON: {e}")))?;
            if !v.get("keys").is_some_and(serde_json::Value::is_array) || j.len() > 64 * 1024 {
                return Err(AppError::BadRequest(
                    "jwks must be {\"keys\": [...]}, at most 64 KiB".into(),
                ));
            }
            c.jwks = Some(j.clone());
        }
        what.push("jwks".into());
    }
    if what.is_empty() {
        return Err(AppError::BadRequest("nothing to change".into()));
    }
    c.modified_at = Utc::now();
    Ok(Json(save(&st, &p, c, false, what.join("; "), ip).await?))
}

pub async fn delete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let store = st.store.clone();
    let actor = actor_of(&p);
    blocking(move || {
        store.delete_oauth2_client(c.uuid, &actor, Utc::now(), ip.map(|i| i.to_string()))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_uuid(st: &AppState, name: String) -> Result<Uuid, AppError> {
    let store = st.store.clone();
    let e = blocking(move || Ok(store.resolve(&name)?)).await?;
    match e {
        Some(Entry::Group(g)) => Ok(g.uuid),
        Some(e) if e.kind() != EntryKind::Group => {
            Err(AppError::BadRequest(format!("{} is not a group", e.name())))
        }
        _ => Err(AppError::NotFound("no such group".into())),
    }
}

pub async fn put_scope_map(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, group)): Path<(String, String)>,
    ApiJson(req): ApiJson<ScopeMap>,
) -> Result<Json<OAuth2View>, AppError> {
    let mut c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let g = group_uuid(&st, group.clone()).await?;
    let scopes = req
        .scopes
        .iter()
        .map(|s| oauth2::scope("scopes", s))
        .collect::<Result<_, _>>()?;
    c.scope_maps.insert(g, scopes);
    c.modified_at = Utc::now();
    let summary = format!("scope map {group}: {}", req.scopes.join(" "));
    Ok(Json(save(&st, &p, c, false, summary, ip).await?))
}

pub async fn delete_scope_map(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, group)): Path<(String, String)>,
) -> Result<Json<OAuth2View>, AppError> {
    let mut c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let g = group_uuid(&st, group.clone()).await?;
    if c.scope_maps.remove(&g).is_none() {
        return Err(AppError::NotFound(format!(
            "{} has no scope map for {group}",
            c.name
        )));
    }
    c.modified_at = Utc::now();
    Ok(Json(
        save(&st, &p, c, false, format!("removed scope map {group}"), ip).await?,
    ))
}

pub async fn put_claim_map(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, claim, group)): Path<(String, String, String)>,
    ApiJson(req): ApiJson<ClaimMap>,
) -> Result<Json<OAuth2View>, AppError> {
    let mut c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let g = group_uuid(&st, group.clone()).await?;
    for v in &req.values {
        validate::text("values", v, 256)?;
    }
    c.claim_maps
        .entry(claim.clone())
        .or_default()
        .insert(g, req.values.clone());
    c.modified_at = Utc::now();
    let summary = format!("claim map {claim} for {group}: {}", req.values.join(" "));
    Ok(Json(save(&st, &p, c, false, summary, ip).await?))
}

pub async fn delete_claim_map(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, claim, group)): Path<(String, String, String)>,
) -> Result<Json<OAuth2View>, AppError> {
    let mut c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let g = group_uuid(&st, group.clone()).await?;
    let removed = c
        .claim_maps
        .get_mut(&claim)
        .and_then(|m| m.remove(&g))
        .is_some();
    if !removed {
        return Err(AppError::NotFound(format!(
            "no claim map {claim} for {group}"
        )));
    }
    c.claim_maps.retain(|_, m| !m.is_empty());
    c.modified_at = Utc::now();
    Ok(Json(
        save(
            &st,
            &p,
            c,
            false,
            format!("removed claim map {claim} for {group}"),
            ip,
        )
        .await?,
    ))
}

pub async fn reset_secret(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<ClientSecret>, AppError> {
    let mut c = load(&st, &p, id, Op::ManageOAuth2).await?;
    if c.kind == ClientKind::Public {
        return Err(AppError::BadRequest("public clients have no secret".into()));
    }
    let (secret, digest) = new_secret(&st, &c).await?;
    c.secret_digest = digest;
    c.modified_at = Utc::now();
    let client_id = c.name.clone();
    save(&st, &p, c, false, "secret reset".into(), ip).await?;
    Ok(Json(ClientSecret { client_id, secret }))
}

/// Shows a secret made in the last 15 minutes, once; afterwards only `reset-secret` helps,
/// because only the digest is kept.
pub async fn show_secret(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<ClientSecret>, AppError> {
    let c = load(&st, &p, id, Op::ManageOAuth2).await?;
    let store = st.store.clone();
    let key = c.uuid.to_string();
    let secret = blocking(move || {
        Ok(store.update_ephemeral::<String, Option<String>>(
            EphemeralKind::PendingSecret,
            &key,
            Utc::now(),
            |cur| (Update::Delete, cur.map(|r| r.value)),
        )?)
    })
    .await?;
    match secret {
        Some(secret) => Ok(Json(ClientSecret {
            client_id: c.name,
            secret,
        })),
        None => Err(AppError::NotFound(
            "the secret was already shown or is older than 15 minutes; only its digest is stored: run reset-secret"
                .into(),
        )),
    }
}
