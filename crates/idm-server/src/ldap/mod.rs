//! The LDAP directory: the `idm-ldap` session engine over a [`view::LdapView`] of the store,
//! on an LDAPS listener (and an optional StartTLS-only plain one).

pub mod listener;
pub mod view;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use idm_ldap::{BindOutcome, BoundIdentity, Directory, Dn, EntryId, RootDse, Timestamp};
use idm_mfa::Password;
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_model::token::{BearerToken, digest_eq};
use idm_model::{Entry, EntryKind};
use uuid::Uuid;

use crate::auth::password_check;
use crate::error::AppError;
use crate::state::AppState;
use view::{LdapView, ViewEntry};

/// Shared by every LDAP connection: the current view and what binds need.
pub struct LdapState {
    pub app: AppState,
    pub base: String,
    view: Mutex<Arc<LdapView>>,
    rebuild: Mutex<()>,
}

impl LdapState {
    pub fn new(app: AppState) -> Result<LdapState, AppError> {
        let base = app.config.ldap_base_dn();
        Dn::parse(&base)
            .map_err(|e| AppError::BadRequest(format!("ldap base DN {base:?}: {e}")))?;
        // Built on the first LDAP request, not here: rendering a large directory takes seconds
        // and memory that a server not (yet) asked over LDAP should not pay at start-up.
        let view = LdapView::unbuilt(&base);
        Ok(LdapState {
            app,
            base,
            view: Mutex::new(Arc::new(view)),
            rebuild: Mutex::new(()),
        })
    }

    /// The view if it is current, without touching the database.
    pub fn current_fast(&self) -> Option<Arc<LdapView>> {
        let v = self.view.lock().ok()?.clone();
        (v.generation == self.app.store.generation()).then_some(v)
    }

    /// The current view, rebuilding it first when the store changed (blocking).
    pub fn current(&self) -> Result<Arc<LdapView>, AppError> {
        if let Some(v) = self.current_fast() {
            return Ok(v);
        }
        let _one_builder = self
            .rebuild
            .lock()
            .map_err(|_| AppError::Internal("ldap view lock poisoned".into()))?;
        if let Some(v) = self.current_fast() {
            return Ok(v);
        }
        let started = std::time::Instant::now();
        let v = Arc::new(LdapView::build(&self.app.store, &self.base)?);
        tracing::debug!(
            entries = v.len(),
            bytes = v.heap_bytes(),
            ms = started.elapsed().as_millis() as u64,
            "rebuilt LDAP view"
        );
        // The old view goes when the last request holding it finishes; it is not kept here
        // while the new one is built, so a rebuild holds two views only for that moment.
        let old = match self.view.lock() {
            Ok(mut slot) => Some(std::mem::replace(&mut *slot, v.clone())),
            Err(_) => None,
        };
        drop(old);
        Ok(v)
    }
}

/// One request's view of the directory, as the session engine sees it.
pub struct Dir<'a> {
    pub view: Arc<LdapView>,
    pub app: &'a AppState,
    pub source: Option<IpAddr>,
}

impl Directory for Dir<'_> {
    type Entry<'e>
        = ViewEntry<'e>
    where
        Self: 'e;

    fn bind(&mut self, name: &str, password: &[u8], _now: Timestamp) -> BindOutcome {
        let resolved = self.view.resolve_bind_name(name);
        let dn_of = |id: u128| self.view.dn_of(id).unwrap_or_default();
        match resolved {
            Some((id, EntryKind::ServiceAccount, sa)) => {
                let r = token_bind(self.app, &sa, password, self.source);
                match r {
                    Ok(()) => BindOutcome::Success {
                        dn: dn_of(id),
                        id: EntryId(id),
                    },
                    Err(reason) => BindOutcome::InvalidCredentials { reason },
                }
            }
            other => {
                // Persons, and names that resolve to nothing: the password path does the same
                // argon2 work for both and audits the decision.
                let account = match &other {
                    Some((_, _, n)) => n.clone(),
                    None => name.chars().take(256).collect(),
                };
                let pw = Password::new(String::from_utf8_lossy(password).into_owned());
                match password_check(self.app, &account, &pw, self.source, "ldap") {
                    Ok(p) if !password_is_enough(self.app, &p, self.source) => {
                        BindOutcome::InvalidCredentials {
                            reason: "the credential policy needs more than a password".into(),
                        }
                    }
                    Ok(p) => BindOutcome::Success {
                        dn: dn_of(p.uuid.as_u128()),
                        id: EntryId(p.uuid.as_u128()),
                    },
                    Err(AppError::RateLimited) => BindOutcome::Unavailable {
                        reason: "too many attempts".into(),
                    },
                    Err(AppError::InvalidCredentials | AppError::AccountDisabled(_)) => {
                        BindOutcome::InvalidCredentials {
                            reason: "invalid credentials".into(),
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "ldap bind failed");
                        BindOutcome::Unavailable {
                            reason: "internal error".into(),
                        }
                    }
                }
            }
        }
    }

    fn root_dse(&self) -> RootDse {
        self.view.root_dse()
    }

    fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>> {
        self.view.lookup_eq(attr, value)
    }

    fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        self.view.count_eq(attr, value)
    }

    fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.view.lookup_dn(dn)
    }

    fn all_ids(&self) -> Vec<EntryId> {
        self.view.all_ids()
    }

    fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<ViewEntry<'_>> {
        self.view.entry(id, who)
    }

    fn deadline_passed(&self, deadline: Timestamp) -> bool {
        now_ts() >= deadline
    }
}

pub fn now_ts() -> Timestamp {
    Timestamp::from_millis(u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0))
}

/// LDAP cannot ask for a second factor, so a person whose credential policy needs more than a
/// password cannot bind (audited). Holding a second factor voluntarily does not stop binds: the
/// policy is what the organisation decided.
fn password_is_enough(app: &AppState, p: &idm_model::Person, source: Option<IpAddr>) -> bool {
    let effective = match crate::mfa::effective_policy(&app.store, p) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "credential policy lookup failed");
            return false;
        }
    };
    if effective.exempt || effective.min_class == idm_mfa::CredentialClass::Password {
        return true;
    }
    let ev = AuditEvent {
        at: Utc::now(),
        actor: Actor {
            uuid: Some(p.uuid),
            name: p.name.clone(),
        },
        action: "auth.password".into(),
        target: Some(Target {
            uuid: Some(p.uuid),
            name: p.name.clone(),
        }),
        outcome: Outcome::Denied,
        summary: format!(
            "ldap: refused, the credential policy requires {}",
            crate::mfa::class_name(effective.min_class)
        ),
        source: source.map(|s| s.to_string()),
    };
    if let Err(e) = app.audit.record(ev, None) {
        tracing::error!(error = %e, "cannot audit an LDAP bind");
    }
    false
}

/// A service account binds with one of its API tokens as the password (digest compared in
/// constant time); audited either way.
fn token_bind(
    app: &AppState,
    name: &str,
    password: &[u8],
    source: Option<IpAddr>,
) -> Result<(), String> {
    let now = Utc::now();
    let decide = || -> Result<Uuid, (Option<Uuid>, String)> {
        let entry = app
            .store
            .get_by_name(name)
            .map_err(|e| (None, format!("store: {e}")))?;
        let Some(Entry::ServiceAccount(sa)) = entry else {
            return Err((None, "unknown account".into()));
        };
        let token = std::str::from_utf8(password)
            .map_err(|_| (Some(sa.uuid), "malformed token".to_owned()))?;
        let (id, digest) = BearerToken::from_wire(token)
            .parse()
            .map_err(|_| (Some(sa.uuid), "malformed token".to_owned()))?;
        let Some(t) = sa.api_tokens.iter().find(|t| t.id == id) else {
            return Err((Some(sa.uuid), "no such token on this account".into()));
        };
        if !digest_eq(&t.digest, &digest) {
            return Err((Some(sa.uuid), "wrong token secret".into()));
        }
        if t.expire_at.is_some_and(|x| x <= now) {
            return Err((Some(sa.uuid), "token expired".into()));
        }
        let uuid = sa.uuid;
        Entry::ServiceAccount(sa)
            .account_usable(now)
            .map_err(|e| (Some(uuid), e.to_string()))?;
        Ok(uuid)
    };
    let (outcome, uuid, summary) = match decide() {
        Ok(u) => (
            Outcome::Success,
            Some(u),
            "ldap: API token accepted".to_owned(),
        ),
        Err((u, why)) => (Outcome::Failure, u, format!("ldap: {why}")),
    };
    let ev = AuditEvent {
        at: now,
        actor: Actor {
            uuid,
            name: name.to_owned(),
        },
        action: "auth.token".into(),
        target: Some(Target {
            uuid,
            name: name.to_owned(),
        }),
        outcome,
        summary: summary.clone(),
        source: source.map(|s| s.to_string()),
    };
    // Queued, not waited for: a token bind changes nothing, and its audit event joins the
    // next group commit (see `audit`).
    app.audit.submit(ev);
    match outcome {
        Outcome::Success => Ok(()),
        _ => {
            crate::auth::note_failure(app, None, source);
            Err(summary)
        }
    }
}
