//! Authentication: passwords (with lockout and rate limits), bearer sessions and API tokens,
//! and the [`Principal`] every authorization decision is made for.
//!
//! Every decision is audited. An unknown name, a wrong password and a soft-locked account get
//! the same answer after the same argon2 work, so neither timing nor message tells them apart.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use idm_mfa::{FailureOutcome, LockoutDecision, LockoutState, Password};
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

/// The password login behind `POST /v1/auth`: checks the password, then opens a session.
pub async fn password_login(
    st: &AppState,
    name: String,
    password: Password,
    code: Option<String>,
    source: Option<IpAddr>,
) -> Result<LoginOk, AppError> {
    check_rate(st, &name, source, "api")?;
    let st2 = st.clone();
    let n2 = name.clone();
    let person = serialized(st, &name, move || {
        password_check(&st2, &n2, &password, source, "api")
    })
    .await??;
    // A second factor the person holds, or their policy needs, is part of API logins too.
    let (st2, p2) = (st.clone(), person.clone());
    let next = blocking(move || {
        crate::login::next_after(
            &st2,
            &p2,
            &[idm_mfa::Method::Password],
            idm_mfa::CredentialClass::Password,
        )
    })
    .await?;
    match next {
        crate::login::Next::Done(_) => {}
        crate::login::Next::Refused(msg) => return Err(AppError::MfaRequired(msg)),
        crate::login::Next::More { needed, factors } => {
            let codes = factors
                .iter()
                .any(|f| matches!(f, idm_mfa::MfaType::Totp | idm_mfa::MfaType::BackupCode));
            if needed == idm_mfa::CredentialClass::Passkey || !codes {
                return Err(AppError::MfaRequired(
                    "this account signs in with a passkey: use the browser".into(),
                ));
            }
            let Some(code) = code else {
                return Err(AppError::MfaRequired(
                    "this account needs a TOTP or backup code (`code`)".into(),
                ));
            };
            let (st2, uuid) = (st.clone(), person.uuid);
            let used = serialized(st, &name, move || {
                crate::login::check_code(&st2, uuid, &code, source, "api")
            })
            .await??;
            let Some(method) = used else {
                return Err(AppError::InvalidCredentials);
            };
            let (st2, p2) = (st.clone(), person.clone());
            let next = blocking(move || {
                crate::login::next_after(
                    &st2,
                    &p2,
                    &[idm_mfa::Method::Password, method],
                    idm_mfa::CredentialClass::Password,
                )
            })
            .await?;
            if !matches!(next, crate::login::Next::Done(_)) {
                return Err(AppError::MfaRequired(
                    "this login does not meet the account's credential policy".into(),
                ));
            }
        }
    }
    let now = Utc::now();
    let id = rng::uuid()?;
    let secret = rng::array::<32>()?;
    let token = BearerToken::new(id, &secret);
    let expires_at = now + Duration::seconds(st.config.session_ttl_secs);
    let session = Session {
        id,
        account: person.uuid,
        digest: digest_hex(&secret),
        created_at: now,
        expires_at,
    };
    let store = st.store.clone();
    blocking(move || Ok(store.put_session(&session)?)).await?;
    Ok(LoginOk { token, expires_at })
}

/// Hashes a new password with a fresh salt on the argon2 pool, holding an argon2 slot; the PHC
/// string to store.
pub async fn hash_new_password(st: &AppState, password: Password) -> Result<String, AppError> {
    let salt = rng::array::<16>()?;
    let params = st.config.password.hash;
    let permit = Arc::clone(&st.hashers)
        .acquire_owned()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let pool = st.hash_pool.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        pool.run(move |h| h.hash(&password, &salt, &params))
    })
    .await??
    .map_err(|e| AppError::Internal(e.to_string()))
}

/// Refuses an attempt (429) from an address or for an account that has used up its failures,
/// before any work is queued for it. Only failed attempts count ([`note_failure`]): an
/// application that binds for many users from one address is not throttled by their
/// successes, while a guesser is stopped after the burst. The argon2 cost of successful
/// attempts is bounded by the argon2 pool instead.
pub fn check_rate(
    st: &AppState,
    name: &str,
    source: Option<IpAddr>,
    via: &str,
) -> Result<(), AppError> {
    let now_i = std::time::Instant::now();
    if let Some(ip) = source {
        check_address(st, ip, via)?;
    }
    if !st.account_limiter.allows(&name.to_ascii_lowercase(), now_i) {
        tracing::warn!(account = %name, via, "authentication rate limit hit (account)");
        return Err(AppError::RateLimited);
    }
    Ok(())
}

/// The per-address half of [`check_rate`], for secrets that cannot be guessed per account
/// (API tokens): a service account used by many clients is never throttled by name.
pub fn check_address(st: &AppState, ip: IpAddr, via: &str) -> Result<(), AppError> {
    if !st.ip_limiter.allows(&ip, std::time::Instant::now()) {
        tracing::warn!(%ip, via, "authentication rate limit hit (address)");
        return Err(AppError::RateLimited);
    }
    Ok(())
}

/// Counts a failed attempt against the address and, when given, the account.
pub fn note_failure(st: &AppState, name: Option<&str>, source: Option<IpAddr>) {
    let now_i = std::time::Instant::now();
    if let Some(ip) = source {
        st.ip_limiter.check(&ip, now_i);
    }
    if let Some(name) = name {
        st.account_limiter.check(&name.to_ascii_lowercase(), now_i);
    }
}

/// Runs a password decision for `name`: one at a time per account (so concurrent guesses are
/// counted one after another), then holding an argon2 slot, on a blocking thread. The waiting
/// happens in async land, so a login storm queues cheaply instead of filling the blocking
/// pool every store call needs, and waiting for one account never holds a slot others need.
pub async fn serialized<T: Send + 'static>(
    st: &AppState,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    let guard = st.account_locks.lock(name).await;
    let permit = Arc::clone(&st.hashers)
        .acquire_owned()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
    .await?;
    drop(guard);
    Ok(out)
}

/// Checks a person's password with soft lockout, audit and rehash — the one password decision
/// shared by the API, LDAP binds and (later) the login form. Blocking; call it through
/// [`serialized`] after [`check_rate`].
///
/// Unknown names, wrong passwords and soft-locked accounts all end in `InvalidCredentials`
/// after the same argon2 work; only someone who knows the password learns that an account is
/// locked or expired.
pub fn password_check(
    st: &AppState,
    name: &str,
    password: &Password,
    source: Option<IpAddr>,
    via: &str,
) -> Result<idm_model::Person, AppError> {
    let decided = password_decision(st, name, password, source, via);
    if matches!(decided, Err(AppError::InvalidCredentials)) {
        note_failure(st, Some(name), source);
    }
    decided
}

fn password_decision(
    st: &AppState,
    name: &str,
    password: &Password,
    source: Option<IpAddr>,
    via: &str,
) -> Result<idm_model::Person, AppError> {
    let src = source.map(|s| s.to_string());
    let store = &st.store;
    let cfg = &st.config;
    let params = cfg.password.hash;
    let now = Utc::now();
    // Every argon2 call runs on the argon2 threads (see `hashpool`).
    let dummy = |pw: &Password| {
        let pw = pw.clone();
        st.hash_pool.run(move |h| h.verify_dummy(&pw, &params))
    };
    let person = match store.get_by_name(name)? {
        Some(Entry::Person(p)) => p,
        _ => {
            dummy(password)?;
            let why = format!("{via}: unknown account");
            audit_auth(&st.audit, now, name, None, Outcome::Failure, &why, src)?;
            return Err(AppError::InvalidCredentials);
        }
    };
    let uuid = person.uuid;
    let mut lock_state: LockoutState = store
        .auth_state(uuid)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let LockoutDecision::Locked { until } = cfg.lockout.check(&lock_state, now) {
        dummy(password)?;
        let why = format!("{via}: refused, too many failures; locked until {until}");
        audit_auth(&st.audit, now, name, Some(uuid), Outcome::Denied, &why, src)?;
        return Err(AppError::InvalidCredentials);
    }
    let verified = match person.credentials.password.as_ref() {
        Some(c) => {
            let (pw, phc) = (password.clone(), c.phc.clone());
            st.hash_pool
                .run(move |h| h.verify(&pw, &phc, &params))?
                .map_err(|e| AppError::Internal(e.to_string()))?
        }
        None => {
            dummy(password)?;
            idm_mfa::Verified {
                ok: false,
                needs_rehash: false,
            }
        }
    };
    let now = Utc::now();
    if !verified.ok {
        let summary = match cfg.lockout.record_failure(&mut lock_state, now) {
            FailureOutcome::LockedNow { until } => {
                format!("{via}: wrong password; soft lockout until {until}")
            }
            FailureOutcome::Counted { remaining } => {
                format!("{via}: wrong password; {remaining} attempts left before lockout")
            }
            FailureOutcome::AlreadyLocked { until } => {
                format!("{via}: wrong password; locked until {until}")
            }
        };
        let state =
            serde_json::to_vec(&lock_state).map_err(|e| AppError::Internal(e.to_string()))?;
        let ev = auth_event(now, name, Some(uuid), Outcome::Failure, &summary, src);
        st.audit.record(ev, Some((uuid, Some(state))))?;
        return Err(AppError::InvalidCredentials);
    }
    if let Err(why) = Entry::Person(person.clone()).account_usable(now) {
        let summary = format!("{via}: refused, {why}");
        audit_auth(
            &st.audit,
            now,
            name,
            Some(uuid),
            Outcome::Denied,
            &summary,
            src,
        )?;
        return Err(AppError::AccountDisabled(why.to_string()));
    }
    let mut person = person;
    if verified.needs_rehash {
        let salt = rng::array::<16>()?;
        let pw = password.clone();
        let phc = st
            .hash_pool
            .run(move |h| h.hash(&pw, &salt, &params))?
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let actor = Actor {
            uuid: Some(uuid),
            name: name.to_owned(),
        };
        let applied = store.apply(
            &Change::SetPassword {
                uuid,
                credential: PasswordCredential { phc, set_at: now },
                reason: "rehash with current parameters".into(),
            },
            &actor,
            now,
            None,
        )?;
        if let Some(Entry::Person(p)) = applied.entry {
            person = p;
        }
    }
    let summary = if uuid == ADMIN_UUID {
        format!("{via}: password accepted (break-glass account admin)")
    } else {
        format!("{via}: password accepted")
    };
    let ev = auth_event(now, name, Some(uuid), Outcome::Success, &summary, src);
    let cleared = lock_state.failures > 0 || lock_state.locked_until.is_some();
    st.audit.record(ev, cleared.then_some((uuid, None)))?;
    Ok(person)
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

fn audit_auth(
    audit: &crate::audit::AuditWriter,
    now: DateTime<Utc>,
    name: &str,
    uuid: Option<Uuid>,
    outcome: Outcome,
    summary: &str,
    source: Option<String>,
) -> Result<(), AppError> {
    // Unknown names are cut short so that an attacker cannot fill the log with large strings.
    let shown: String = name.chars().take(64).collect();
    audit.record(
        auth_event(now, &shown, uuid, outcome, summary, source),
        None,
    )?;
    Ok(())
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
