//! Authentication: passwords (with lockout and rate limits), bearer sessions and API tokens,
//! and the [`Principal`] every authorization decision is made for.
//!
//! Every decision is audited. An unknown name, a wrong password and a soft-locked account get
//! the same answer after the same argon2 work, so neither timing nor message tells them apart.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use idm_mfa::{
    FailureOutcome, LockoutDecision, LockoutState, Password, hash_password, verify_dummy,
    verify_password,
};
use idm_model::access::{ADMIN_UUID, Principal};
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_model::change::Change;
use idm_model::token::{BearerToken, digest_eq, digest_hex};
use idm_model::{Entry, EntryKind, PasswordCredential, TokenAccess};
use idm_store::{Reader, Session, Store};
use uuid::Uuid;

use crate::error::AppError;
use crate::rng;
use crate::state::AppState;

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await?
}

/// The account as an audit actor.
pub fn actor_of(p: &Principal) -> Actor {
    Actor {
        uuid: Some(p.uuid),
        name: p.name.clone(),
    }
}

/// Builds the principal of an account: its nested group names.
pub fn principal(store: &Store, e: &Entry, access: TokenAccess) -> Result<Principal, AppError> {
    let txn = store.read()?;
    let mut groups = BTreeSet::new();
    for g in txn.member_of_transitive(e.uuid())? {
        if let Some(ge) = txn.entry(g)? {
            groups.insert(ge.name().to_owned());
        }
    }
    Ok(Principal {
        uuid: e.uuid(),
        name: e.name().to_owned(),
        kind: e.kind(),
        groups,
        access,
    })
}

/// Resolves `Authorization: Bearer …` to a principal: a session first, then an API token.
pub fn authenticate_bearer(
    store: &Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Principal, AppError> {
    let (id, digest) = BearerToken::from_wire(token)
        .parse()
        .map_err(|_| AppError::Unauthenticated)?;
    if let Some(s) = store.session(id)? {
        if !digest_eq(&s.digest, &digest) || s.expires_at <= now {
            return Err(AppError::Unauthenticated);
        }
        let e = store.get(s.account)?.ok_or(AppError::Unauthenticated)?;
        e.account_usable(now)
            .map_err(|_| AppError::Unauthenticated)?;
        return principal(store, &e, TokenAccess::ReadWrite);
    }
    if let Some(owner) = store.api_token_owner(id)? {
        let Entry::ServiceAccount(sa) = &owner else {
            return Err(AppError::Unauthenticated);
        };
        let Some(t) = sa.api_tokens.iter().find(|t| t.id == id) else {
            return Err(AppError::Unauthenticated);
        };
        if !digest_eq(&t.digest, &digest) || t.expire_at.is_some_and(|x| x <= now) {
            return Err(AppError::Unauthenticated);
        }
        owner
            .account_usable(now)
            .map_err(|_| AppError::Unauthenticated)?;
        return principal(store, &owner, t.access);
    }
    Err(AppError::Unauthenticated)
}

pub struct LoginOk {
    pub token: BearerToken,
    pub expires_at: DateTime<Utc>,
}

/// The password login behind `POST /v1/auth` (and, later, the login form and LDAP binds).
pub async fn password_login(
    st: &AppState,
    name: String,
    password: Password,
    source: Option<IpAddr>,
) -> Result<LoginOk, AppError> {
    let now_i = std::time::Instant::now();
    if let Some(ip) = source
        && !st.ip_limiter.check(&ip, now_i)
    {
        tracing::warn!(%ip, "authentication rate limit hit (address)");
        return Err(AppError::RateLimited);
    }
    if !st.account_limiter.check(&name, now_i) {
        tracing::warn!(account = %name, "authentication rate limit hit (account)");
        return Err(AppError::RateLimited);
    }
    let src = source.map(|s| s.to_string());
    let store = st.store.clone();
    let lookup_name = name.clone();
    let entry = blocking(move || Ok(store.get_by_name(&lookup_name)?)).await?;
    let now = Utc::now();
    let cfg = st.config.clone();
    let params = cfg.password.hash;

    // Only persons log in with a password.
    let person = match entry {
        Some(Entry::Person(p)) => p,
        _ => {
            hash_work(st, move || verify_dummy(&password, &params)).await?;
            audit_auth(
                st,
                now,
                &name,
                None,
                Outcome::Failure,
                "unknown account",
                src,
            )
            .await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    let store = st.store.clone();
    let uuid = person.uuid;
    let mut lock_state: LockoutState = blocking(move || {
        Ok(store
            .auth_state(uuid)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default())
    })
    .await?;
    if let LockoutDecision::Locked { until } = cfg.lockout.check(&lock_state, now) {
        hash_work(st, move || verify_dummy(&password, &params)).await?;
        audit_auth(
            st,
            now,
            &name,
            Some(uuid),
            Outcome::Denied,
            &format!("refused: too many failures, locked until {until}"),
            src,
        )
        .await?;
        return Err(AppError::InvalidCredentials);
    }
    let phc = person.credentials.password.as_ref().map(|c| c.phc.clone());
    let pw = password.clone();
    let verified = hash_work(st, move || match phc {
        Some(phc) => {
            verify_password(&pw, &phc, &params).map_err(|e| AppError::Internal(e.to_string()))
        }
        None => {
            verify_dummy(&pw, &params);
            Ok(idm_mfa::Verified {
                ok: false,
                needs_rehash: false,
            })
        }
    })
    .await??;
    let now = Utc::now();
    if !verified.ok {
        let outcome = cfg.lockout.record_failure(&mut lock_state, now);
        let summary = match outcome {
            FailureOutcome::LockedNow { until } => {
                format!("wrong password; soft lockout until {until}")
            }
            FailureOutcome::Counted { remaining } => {
                format!("wrong password; {remaining} attempts left before lockout")
            }
            FailureOutcome::AlreadyLocked { until } => {
                format!("wrong password; locked until {until}")
            }
        };
        let state =
            serde_json::to_vec(&lock_state).map_err(|e| AppError::Internal(e.to_string()))?;
        let store = st.store.clone();
        let ev = auth_event(now, &name, Some(uuid), Outcome::Failure, &summary, src);
        blocking(move || Ok(store.record(ev, Some((uuid, Some(state))))?)).await?;
        return Err(AppError::InvalidCredentials);
    }
    let e = Entry::Person(person);
    if let Err(why) = e.account_usable(now) {
        audit_auth(
            st,
            now,
            &name,
            Some(uuid),
            Outcome::Denied,
            &format!("refused: {why}"),
            src,
        )
        .await?;
        return Err(AppError::AccountDisabled(why.to_string()));
    }
    if verified.needs_rehash {
        let salt = rng::array::<16>()?;
        let pw = password.clone();
        let phc = hash_work(st, move || {
            hash_password(&pw, &salt, &params).map_err(|e| AppError::Internal(e.to_string()))
        })
        .await??;
        let store = st.store.clone();
        let actor = Actor {
            uuid: Some(uuid),
            name: name.clone(),
        };
        blocking(move || {
            let _ = store.apply(
                &Change::SetPassword {
                    uuid,
                    credential: PasswordCredential { phc, set_at: now },
                    reason: "rehash with current parameters".into(),
                },
                &actor,
                now,
                None,
            )?;
            Ok(())
        })
        .await?;
    }
    let id = rng::uuid()?;
    let secret = rng::array::<32>()?;
    let token = BearerToken::new(id, &secret);
    let expires_at = now + Duration::seconds(cfg.session_ttl_secs);
    let session = Session {
        id,
        account: uuid,
        digest: digest_hex(&secret),
        created_at: now,
        expires_at,
    };
    let store = st.store.clone();
    let summary = if uuid == ADMIN_UUID {
        "password accepted (break-glass account admin)".to_owned()
    } else {
        "password accepted".to_owned()
    };
    let ev = auth_event(now, &name, Some(uuid), Outcome::Success, &summary, src);
    let cleared = lock_state.failures > 0 || lock_state.locked_until.is_some();
    blocking(move || {
        store.put_session(&session)?;
        store.record(ev, cleared.then_some((uuid, None)))?;
        Ok(())
    })
    .await?;
    Ok(LoginOk { token, expires_at })
}

/// Runs argon2 work on a blocking thread, at most one per core at a time.
async fn hash_work<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let _permit = Arc::clone(&st.hashers)
        .acquire_owned()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(tokio::task::spawn_blocking(f).await?)
}

fn auth_event(
    now: DateTime<Utc>,
    name: &str,
    uuid: Option<Uuid>,
    outcome: Outcome,
    summary: &str,
    source: Option<String>,
) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: Actor {
            uuid,
            name: name.to_owned(),
        },
        action: "auth.password".into(),
        target: Some(Target {
            uuid,
            name: name.to_owned(),
        }),
        outcome,
        summary: summary.to_owned(),
        source,
    }
}

async fn audit_auth(
    st: &AppState,
    now: DateTime<Utc>,
    name: &str,
    uuid: Option<Uuid>,
    outcome: Outcome,
    summary: &str,
    source: Option<String>,
) -> Result<(), AppError> {
    // Unknown names are cut short so that an attacker cannot fill the log with large strings.
    let shown: String = name.chars().take(64).collect();
    let ev = auth_event(now, &shown, uuid, outcome, summary, source);
    let store = st.store.clone();
    blocking(move || {
        store.record(ev, None)?;
        Ok(())
    })
    .await
}

/// Whether the target holds write rights (or is `admin`), for [`idm_model::access::TargetInfo`].
pub fn is_privileged(store: &Store, e: &Entry) -> Result<bool, AppError> {
    if e.uuid() == ADMIN_UUID {
        return Ok(true);
    }
    let txn = store.read()?;
    let mut groups = txn.member_of_transitive(e.uuid())?;
    if e.kind() == EntryKind::Group {
        groups.push(e.uuid());
    }
    for g in groups {
        if let Some(ge) = txn.entry(g)?
            && idm_model::access::WRITE_PRIVILEGED.contains(&ge.name())
        {
            return Ok(true);
        }
    }
    Ok(false)
}
