//! Browser-side state (the single sign-on session and the login flow, each a cookie pointing at a
//! store record) and the small server-side caches the protocol needs (DPoP nonces, `jti` replay,
//! revoked access tokens, remembered consent).

use axum::http::HeaderMap;
use idm_mfa::Method;
use idm_mfa::credential_policy::{self as policy};
use idm_oidc::{Assurance, Authentication, AuthorizationRequest, RememberedConsent, ScopeSet};
use idm_store::{EphemeralKind, Store, Update};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::at;
use crate::error::AppError;
use crate::rng;

/// The single sign-on cookie: `<session id>.<secret>`; only the secret's SHA-256 is stored.
pub const SSO_COOKIE: &str = "__Host-idm_sso";
/// The login-flow cookie: the flow id, tying the login form to the browser that started it.
pub const FLOW_COOKIE: &str = "__Host-idm_flow";
/// How long a login flow (from the authorization request to the code) may take.
pub const FLOW_SECS: i64 = 600;
/// How long consent is remembered.
pub const CONSENT_SECS: i64 = 365 * 86_400;
/// A DPoP nonce is issued for this long; the previous one is still accepted for as long again.
pub const DPOP_NONCE_SECS: i64 = 300;
/// The longest a credential-reset session lives, however recently it was used.
pub const RESET_MAX_SECS: i64 = 1800;

/// A single sign-on session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoSession {
    /// Hex SHA-256 of the cookie's secret part.
    digest: String,
    pub subject: Uuid,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub assurance: Assurance,
    pub created_at: i64,
    pub last_seen: i64,
    /// What the login used (password, TOTP, passkey …): the source of `amr`, `acr` and
    /// `assurance`, and what a step-up adds to.
    #[serde(default)]
    pub methods: Vec<Method>,
    /// Opened by a credential-reset link: it only lets the person enrol credentials on the
    /// profile page, and signs in to nothing.
    #[serde(default)]
    pub reset: bool,
}

/// A live session found from the cookie.
#[derive(Debug, Clone)]
pub struct FoundSession {
    pub id: String,
    pub session: SsoSession,
    /// The cookie's secret (to derive the logout CSRF token).
    secret: String,
}

impl FoundSession {
    /// The login as the protocol crate sees it.
    pub fn authentication(&self) -> Authentication {
        Authentication {
            subject: self.session.subject.to_string(),
            auth_time: self.session.auth_time,
            amr: self.session.amr.clone(),
            acr: self.session.acr.clone(),
            assurance: self.session.assurance,
            session_id: self.id.clone(),
        }
    }

    /// A CSRF token for the logout confirmation, bound to this session's secret and to where the
    /// browser goes afterwards (stateless: only the session's browser can compute it).
    pub fn logout_csrf(&self, redirect: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"idm logout v1\0");
        h.update(self.secret.as_bytes());
        h.update(b"\0");
        h.update(redirect.as_bytes());
        hex::encode(h.finalize())
    }
}

/// Reads a cookie by name from every `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// `Set-Cookie` for a `__Host-` cookie: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain.
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// `Set-Cookie` that deletes a cookie.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn sso_expiry(s: &SsoSession, idle: i64, max: i64) -> i64 {
    s.last_seen
        .saturating_add(idle)
        .min(s.created_at.saturating_add(max))
}

/// The `amr`, `acr` and `assurance` a login with `methods` earns.
pub fn describe_login(methods: &[Method]) -> (Vec<String>, Option<String>, Assurance) {
    let amr = policy::amr(methods)
        .into_iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    let acr = policy::acr(methods).map(|a| a.as_str().to_owned());
    let assurance = match policy::assurance(methods) {
        Some(policy::Assurance::PhishingResistant) => Assurance::PhishingResistant,
        Some(policy::Assurance::Mfa) => Assurance::Mfa,
        _ => Assurance::Password,
    };
    (amr, acr, assurance)
}

/// Opens a session after a successful login with `methods`; returns the session and the
/// cookie value.
pub fn create_sso(
    store: &Store,
    subject: Uuid,
    methods: &[Method],
    now: i64,
    idle: i64,
    max: i64,
) -> Result<(FoundSession, String), AppError> {
    let id = rng::token::<16>()?;
    let secret = rng::token::<32>()?;
    let (amr, acr, assurance) = describe_login(methods);
    let s = SsoSession {
        digest: digest(&secret),
        subject,
        auth_time: now,
        amr,
        acr,
        assurance,
        created_at: now,
        last_seen: now,
        methods: methods.to_vec(),
        reset: methods.is_empty(),
    };
    store.put_ephemeral(
        EphemeralKind::SsoSession,
        &id,
        &s,
        at(sso_expiry(&s, idle, max)),
    )?;
    let cookie = format!("{id}.{secret}");
    Ok((
        FoundSession {
            id,
            session: s,
            secret,
        },
        cookie,
    ))
}

/// The live session the request's cookie points at (its idle timer restarted, at most once a
/// minute to spare writes), or `None`.
pub fn find_sso(
    store: &Store,
    headers: &HeaderMap,
    now: i64,
    idle: i64,
    max: i64,
) -> Result<Option<FoundSession>, AppError> {
    let Some(value) = cookie(headers, SSO_COOKIE) else {
        return Ok(None);
    };
    let Some((id, secret)) = value.split_once('.') else {
        return Ok(None);
    };
    if id.len() > 64 || secret.len() > 128 {
        return Ok(None);
    }
    let presented = digest(secret);
    let valid = |s: &SsoSession| ct_eq(&s.digest, &presented);
    // A read first: most requests find a session seen within the last minute and write nothing.
    let Some(current) = store
        .get_ephemeral::<SsoSession>(EphemeralKind::SsoSession, id, at(now))?
        .map(|r| r.value)
        .filter(|s| valid(s))
    else {
        return Ok(None);
    };
    let found = if now - current.last_seen < 60 {
        Some(current)
    } else {
        store.update_ephemeral::<SsoSession, Option<SsoSession>>(
            EphemeralKind::SsoSession,
            id,
            at(now),
            |cur| match cur {
                Some(r) if valid(&r.value) => {
                    let mut s = r.value;
                    s.last_seen = now;
                    // The cap a reset session was opened with, not the login sessions' one.
                    let max = if s.reset {
                        max.min(RESET_MAX_SECS)
                    } else {
                        max
                    };
                    let exp = at(sso_expiry(&s, idle, max));
                    (Update::Put(s.clone(), exp), Some(s))
                }
                _ => (Update::Keep, None),
            },
        )?
    };
    Ok(found.map(|session| FoundSession {
        id: id.to_owned(),
        session,
        secret: secret.to_owned(),
    }))
}

/// Ends a session.
pub fn end_sso(store: &Store, id: &str) -> Result<bool, AppError> {
    Ok(store.delete_ephemeral(EphemeralKind::SsoSession, id)?)
}

/// Where a login flow stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the login form.
    Login,
    /// Waiting for the consent form of `subject`.
    Consent {
        subject: Uuid,
        ask: ScopeSet,
        scopes: ScopeSet,
    },
}

/// A login flow: the validated authorization request between `/oauth2/authorize` and the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginFlow {
    pub request: AuthorizationRequest,
    /// The client's UUID (its registration is looked up again at each step).
    pub client: Uuid,
    pub csrf: String,
    pub stage: Stage,
}

impl LoginFlow {
    /// Whether the form's CSRF token is this flow's (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        ct_eq(&self.csrf, presented)
    }
}

/// Starts a flow; returns its id (the cookie value and the `flow` form field).
pub fn create_flow(
    store: &Store,
    request: AuthorizationRequest,
    client: Uuid,
    stage: Stage,
    now: i64,
) -> Result<(String, LoginFlow), AppError> {
    let id = rng::token::<16>()?;
    let flow = LoginFlow {
        request,
        client,
        csrf: rng::token::<24>()?,
        stage,
    };
    store.put_ephemeral(EphemeralKind::LoginFlow, &id, &flow, at(now + FLOW_SECS))?;
    Ok((id, flow))
}

/// The flow named by both the cookie and the form (they must agree).
pub fn find_flow(
    store: &Store,
    headers: &HeaderMap,
    form_flow: &str,
    now: i64,
) -> Result<Option<LoginFlow>, AppError> {
    let Some(from_cookie) = cookie(headers, FLOW_COOKIE) else {
        return Ok(None);
    };
    if form_flow.is_empty() || form_flow.len() > 64 || !ct_eq(&from_cookie, form_flow) {
        return Ok(None);
    }
    Ok(store
        .get_ephemeral::<LoginFlow>(EphemeralKind::LoginFlow, form_flow, at(now))?
        .map(|r| r.value))
}

/// Replaces a flow's stage (keeping its expiry window from now).
pub fn save_flow(store: &Store, id: &str, flow: &LoginFlow, now: i64) -> Result<(), AppError> {
    store.put_ephemeral(EphemeralKind::LoginFlow, id, flow, at(now + FLOW_SECS))?;
    Ok(())
}

/// Ends a flow (single use).
pub fn end_flow(store: &Store, id: &str) -> Result<bool, AppError> {
    Ok(store.delete_ephemeral(EphemeralKind::LoginFlow, id)?)
}

fn consent_key(person: Uuid, client: Uuid) -> String {
    format!("{person}:{client}")
}

/// What `person` agreed to release to `client`.
pub fn remembered_consent(
    store: &Store,
    person: Uuid,
    client: Uuid,
    now: i64,
) -> Result<Option<RememberedConsent>, AppError> {
    Ok(store
        .get_ephemeral::<RememberedConsent>(
            EphemeralKind::Consent,
            &consent_key(person, client),
            at(now),
        )?
        .map(|r| r.value))
}

/// Adds an approval to what is remembered.
pub fn remember_consent(
    store: &Store,
    person: Uuid,
    client: Uuid,
    client_id: &str,
    approved: &ScopeSet,
    now: i64,
) -> Result<(), AppError> {
    store.update_ephemeral::<RememberedConsent, ()>(
        EphemeralKind::Consent,
        &consent_key(person, client),
        at(now),
        |cur| {
            let next = RememberedConsent::after_approval(
                client_id,
                cur.as_ref().map(|r| &r.value),
                approved,
            );
            (Update::Put(next, at(now + CONSENT_SECS)), ())
        },
    )?;
    Ok(())
}

/// Records a `jti` (of a DPoP proof or client assertion) until `until`; `false` if it was
/// already there (a replay). One transaction: two concurrent uses cannot both pass.
pub fn first_use(store: &Store, key: &str, until: i64, now: i64) -> Result<bool, AppError> {
    Ok(store.update_ephemeral::<u8, bool>(
        EphemeralKind::ReplayJti,
        key,
        at(now),
        |cur| match cur {
            Some(_) => (Update::Keep, false),
            None => (Update::Put(1, at(until.max(now + 1))), true),
        },
    )?)
}

/// Marks an access token's `jti` revoked until the token expires anyway.
pub fn revoke_access(store: &Store, jti: &str, expires_at: i64, now: i64) -> Result<(), AppError> {
    store.put_ephemeral(
        EphemeralKind::RevokedToken,
        &format!("at:{jti}"),
        &1u8,
        at(expires_at.max(now + 1)),
    )?;
    Ok(())
}

/// Whether an access token's `jti` was revoked.
pub fn access_revoked(store: &Store, jti: &str, now: i64) -> Result<bool, AppError> {
    Ok(store
        .get_ephemeral::<u8>(EphemeralKind::RevokedToken, &format!("at:{jti}"), at(now))?
        .is_some())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Nonces {
    current: String,
    previous: Option<String>,
    issued_at: i64,
}

/// The DPoP nonces the server accepts now: the current one (sent back in `DPoP-Nonce`) and the
/// one before it. Rotated every [`DPOP_NONCE_SECS`], shared by all nodes through the store.
pub fn dpop_nonces(store: &Store, now: i64) -> Result<(String, Option<String>), AppError> {
    if let Some(r) = store.get_ephemeral::<Nonces>(EphemeralKind::DpopNonce, "current", at(now))?
        && now - r.value.issued_at < DPOP_NONCE_SECS
    {
        return Ok((r.value.current, r.value.previous));
    }
    let fresh = rng::token::<16>()?;
    let n = store.update_ephemeral::<Nonces, Nonces>(
        EphemeralKind::DpopNonce,
        "current",
        at(now),
        |cur| match cur {
            Some(r) if now - r.value.issued_at < DPOP_NONCE_SECS => {
                let v = r.value;
                (Update::Keep, v)
            }
            cur => {
                let n = Nonces {
                    current: fresh,
                    previous: cur.map(|r| r.value.current),
                    issued_at: now,
                };
                (Update::Put(n.clone(), at(now + 2 * DPOP_NONCE_SECS)), n)
            }
        },
    )?;
    Ok((n.current, n.previous))
}
