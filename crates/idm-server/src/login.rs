//! The steps of an interactive login after its first factor: what the login must reach (the
//! person's credential policy, second factors they hold, a client's `acr_values`), checking a
//! TOTP or backup code or a WebAuthn assertion, and recording what each use consumed.
//!
//! A login between steps is a [`Ceremony`], kept server-side under the `__Host-idm_mfa` cookie
//! (the cookie holds only its id); it says what the login is for ([`Purpose`]): an OAuth2
//! authorization flow or the profile page.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use idm_mfa::credential_policy::{self as policy, Acr, AcrOutcome};
use idm_mfa::{
    AuthenticationOutcome, BackupCodes, CredentialClass, EffectivePolicy, LockoutDecision,
    LockoutState, Method, MfaType, TotpVerdict, UserVerification,
};
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_model::change::Change;
use idm_model::credential::BackupCodeSet;
use idm_model::{Entry, Person};
use idm_store::EphemeralKind;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;
use crate::mfa;
use crate::rng;
use crate::state::AppState;

/// The ceremony cookie.
pub const MFA_COOKIE: &str = "__Host-idm_mfa";
/// How long a ceremony may take.
pub const CEREMONY_SECS: i64 = 600;
/// TOTP codes one step either side of now are accepted (clock drift).
const TOTP_SKEW: u64 = 1;

/// What a login is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Purpose {
    /// The OAuth2 login flow with this id.
    Authorize { flow: String },
    /// The profile page.
    Profile,
}

/// A login between its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceremony {
    /// Who is logging in; `None` for a passkey login that has not said yet.
    pub subject: Option<Uuid>,
    /// The factors already proven.
    pub methods: Vec<Method>,
    /// What the login must reach.
    pub needed: CredentialClass,
    pub purpose: Purpose,
    pub csrf: String,
    /// A WebAuthn authentication in progress (`idm-mfa`'s pending state as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<String>,
}

impl Ceremony {
    pub fn csrf_matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

fn at(now: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    now + Duration::seconds(secs)
}

pub fn new_ceremony(
    st: &AppState,
    subject: Option<Uuid>,
    methods: Vec<Method>,
    needed: CredentialClass,
    purpose: Purpose,
) -> Result<(String, Ceremony), AppError> {
    let id = rng::token::<16>()?;
    let c = Ceremony {
        subject,
        methods,
        needed,
        purpose,
        csrf: rng::token::<24>()?,
        webauthn: None,
    };
    save_ceremony(st, &id, &c)?;
    Ok((id, c))
}

pub fn save_ceremony(st: &AppState, id: &str, c: &Ceremony) -> Result<(), AppError> {
    st.store.put_ephemeral(
        EphemeralKind::MfaCeremony,
        &format!("login:{id}"),
        c,
        at(Utc::now(), CEREMONY_SECS),
    )?;
    Ok(())
}

pub fn find_ceremony(st: &AppState, id: &str) -> Result<Option<Ceremony>, AppError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(st
        .store
        .get_ephemeral::<Ceremony>(
            EphemeralKind::MfaCeremony,
            &format!("login:{id}"),
            Utc::now(),
        )?
        .map(|r| r.value))
}

pub fn end_ceremony(st: &AppState, id: &str) -> Result<(), AppError> {
    st.store
        .delete_ephemeral(EphemeralKind::MfaCeremony, &format!("login:{id}"))?;
    Ok(())
}

/// The class an `acr_values` request asks for, if any of ours.
pub fn class_for_acr(requested: &[String]) -> CredentialClass {
    match policy::meets_acr(requested, None) {
        AcrOutcome::StepUp { needed } => match needed {
            Acr::Password => CredentialClass::Password,
            Acr::Mfa => CredentialClass::PasswordMfa,
            _ => CredentialClass::Passkey,
        },
        _ => CredentialClass::Password,
    }
}

/// Second factors `person` holds that `effective` allows.
pub fn usable_factors(person: &Person, effective: &EffectivePolicy) -> Vec<MfaType> {
    let c = &person.credentials;
    let mut out = Vec::new();
    if !c.totp.is_empty() && effective.allows(MfaType::Totp) {
        out.push(MfaType::Totp);
    }
    if c.backup_codes
        .as_ref()
        .is_some_and(|b| !b.digests.is_empty())
        && effective.allows(MfaType::BackupCode)
    {
        out.push(MfaType::BackupCode);
    }
    for w in &c.webauthn {
        let t = mfa::webauthn_mfa_type(w.kind);
        if effective.allows(t) && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// What happens after a factor.
#[derive(Debug)]
pub enum Next {
    /// The login is complete with these methods.
    Done(Vec<Method>),
    /// Ask for more: what is needed, what is usable.
    More {
        needed: CredentialClass,
        factors: Vec<MfaType>,
    },
    /// This login cannot be completed; the message says why and what to do.
    Refused(String),
}

/// Decides the next step for `person` who has proven `methods`, for a request that asked for
/// `requested` (from `acr_values`; `Password` when none). Holding a second factor makes it
/// part of every password login: enrolling one must protect the account.
pub fn next_after(
    st: &AppState,
    person: &Person,
    methods: &[Method],
    requested: CredentialClass,
) -> Result<Next, AppError> {
    let effective = mfa::effective_policy(&st.store, person)?;
    let factors = usable_factors(person, &effective);
    let mut needed = effective.min_class.max(requested);
    if effective.exempt {
        needed = requested;
    }
    let holds_second = !factors.is_empty();
    if holds_second && needed < CredentialClass::PasswordMfa {
        needed = CredentialClass::PasswordMfa;
    }
    let achieved = policy::achieved_class(methods);
    if achieved.is_some_and(|a| a >= needed) && policy::satisfies(&effective, methods).is_ok() {
        return Ok(Next::Done(methods.to_vec()));
    }
    if needed == CredentialClass::Passkey {
        if !factors.contains(&MfaType::Passkey) {
            return Ok(Next::Refused(
                "This account must sign in with a passkey, and it has none. Ask an administrator for a credential reset link to register one."
                    .into(),
            ));
        }
        return Ok(Next::More {
            needed,
            factors: vec![MfaType::Passkey],
        });
    }
    if !holds_second {
        return Ok(Next::Refused(
            "This account needs a second factor (an authenticator app or a passkey), and it has none. Ask an administrator for a credential reset link to set one up."
                .into(),
        ));
    }
    Ok(Next::More { needed, factors })
}

fn event(
    person: &Person,
    action: &str,
    outcome: Outcome,
    summary: String,
    source: Option<IpAddr>,
) -> AuditEvent {
    AuditEvent {
        at: Utc::now(),
        actor: Actor {
            uuid: Some(person.uuid),
            name: person.name.clone(),
        },
        action: action.into(),
        target: Some(Target {
            uuid: Some(person.uuid),
            name: person.name.clone(),
        }),
        outcome,
        summary,
        source: source.map(|s| s.to_string()),
    }
}

fn lockout_state(st: &AppState, uuid: Uuid) -> Result<LockoutState, AppError> {
    Ok(st
        .store
        .auth_state(uuid)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// A failed factor: counted towards the soft lockout (every factor shares one count) and
/// audited in the same commit.
fn failed(
    st: &AppState,
    person: &Person,
    via: &str,
    why: &str,
    source: Option<IpAddr>,
) -> Result<(), AppError> {
    let now = Utc::now();
    let mut state = lockout_state(st, person.uuid)?;
    let _ = st.config.lockout.record_failure(&mut state, now);
    let bytes = serde_json::to_vec(&state).map_err(|e| AppError::Internal(e.to_string()))?;
    st.audit.record(
        event(
            person,
            "auth.mfa",
            Outcome::Failure,
            format!("{via}: {why}"),
            source,
        ),
        Some((person.uuid, Some(bytes))),
    )?;
    crate::auth::note_failure(st, Some(&person.name), source);
    Ok(())
}

fn succeeded(
    st: &AppState,
    person: &Person,
    via: &str,
    what: &str,
    source: Option<IpAddr>,
) -> Result<(), AppError> {
    let state = lockout_state(st, person.uuid)?;
    let cleared = state.failures > 0 || state.locked_until.is_some();
    st.audit.record(
        event(
            person,
            "auth.mfa",
            Outcome::Success,
            format!("{via}: {what} accepted"),
            source,
        ),
        cleared.then_some((person.uuid, None)),
    )?;
    Ok(())
}

/// Refuses a locked-out, locked, expired or not-yet-valid account before any factor is
/// checked (the message is the same as for a wrong code).
fn usable(st: &AppState, person: &Person) -> Result<bool, AppError> {
    let now = Utc::now();
    let state = lockout_state(st, person.uuid)?;
    if let LockoutDecision::Locked { .. } = st.config.lockout.check(&state, now) {
        return Ok(false);
    }
    Ok(Entry::Person(person.clone()).account_usable(now).is_ok())
}

fn actor(person: &Person) -> Actor {
    Actor {
        uuid: Some(person.uuid),
        name: person.name.clone(),
    }
}

/// Checks a TOTP or backup code for `person`. Blocking; run it one at a time per account
/// (`auth::serialized`), so two requests cannot both use one code.
pub fn check_code(
    st: &AppState,
    person_uuid: Uuid,
    code: &str,
    source: Option<IpAddr>,
    via: &str,
) -> Result<Option<Method>, AppError> {
    // Read again under the account lock: the last accepted step may have moved.
    let Some(Entry::Person(person)) = st.store.get(person_uuid)? else {
        return Ok(None);
    };
    if !usable(st, &person)? {
        failed(
            st,
            &person,
            via,
            "refused: account locked or not usable",
            source,
        )?;
        return Ok(None);
    }
    let effective = mfa::effective_policy(&st.store, &person)?;
    let now = Utc::now();
    let code = code.trim();
    if code.len() > 64 {
        failed(st, &person, via, "malformed code", source)?;
        return Ok(None);
    }
    let digits_only = !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit());
    if digits_only && effective.allows(MfaType::Totp) {
        let mut replayed = false;
        for t in &person.credentials.totp {
            let totp = mfa::totp_of(t)?;
            match totp.verify(code, now, t.last_step, TOTP_SKEW) {
                TotpVerdict::Accepted { step } => {
                    let _applied = st.store.apply(
                        &Change::RecordCredentialUse {
                            uuid: person.uuid,
                            totp: Some((t.label.clone(), step)),
                            webauthn: None,
                            backup_codes: None,
                        },
                        &actor(&person),
                        now,
                        source.map(|s| s.to_string()),
                    )?;
                    succeeded(st, &person, via, &format!("TOTP {:?}", t.label), source)?;
                    return Ok(Some(Method::Totp));
                }
                TotpVerdict::Replayed => replayed = true,
                TotpVerdict::Invalid => {}
            }
        }
        let why = if replayed {
            "TOTP code already used"
        } else {
            "wrong TOTP code"
        };
        failed(st, &person, via, why, source)?;
        return Ok(None);
    }
    if !digits_only
        && effective.allows(MfaType::BackupCode)
        && let Some(set) = &person.credentials.backup_codes
    {
        let mut codes = BackupCodes {
            digests: set.digests.clone(),
        };
        if codes.redeem(code) {
            let left = codes.digests.len();
            let _applied = st.store.apply(
                &Change::RecordCredentialUse {
                    uuid: person.uuid,
                    totp: None,
                    webauthn: None,
                    backup_codes: Some(BackupCodeSet {
                        digests: codes.digests,
                        generated_at: set.generated_at,
                    }),
                },
                &actor(&person),
                now,
                source.map(|s| s.to_string()),
            )?;
            succeeded(
                st,
                &person,
                via,
                &format!("backup code ({left} left)"),
                source,
            )?;
            return Ok(Some(Method::BackupCode));
        }
    }
    failed(st, &person, via, "wrong code", source)?;
    Ok(None)
}

/// Starts a WebAuthn authentication: for `subject`'s credentials (a second factor or step-up),
/// or, with `None`, a passkey login where the authenticator says who. Returns the options
/// for the browser (JSON) and the pending state to keep.
pub fn webauthn_start(
    st: &AppState,
    subject: Option<Uuid>,
    passkeys_only: bool,
) -> Result<(String, String), AppError> {
    let rp = mfa::relying_party(&st.config)?;
    let now = Utc::now();
    let (creds, uv) = match subject {
        Some(uuid) => {
            let Some(Entry::Person(p)) = st.store.get(uuid)? else {
                return Err(AppError::NotFound("no such person".into()));
            };
            let effective = mfa::effective_policy(&st.store, &p)?;
            let mut creds = Vec::new();
            for w in &p.credentials.webauthn {
                let t = mfa::webauthn_mfa_type(w.kind);
                if effective.allows(t) && (!passkeys_only || t == MfaType::Passkey) {
                    creds.push(mfa::webauthn_stored(w)?);
                }
            }
            if creds.is_empty() {
                return Err(AppError::BadRequest(
                    "no passkey or security key can be used here".into(),
                ));
            }
            let uv = if passkeys_only {
                UserVerification::Required
            } else {
                UserVerification::Discouraged
            };
            (creds, uv)
        }
        None => (Vec::new(), UserVerification::Required),
    };
    let (options, pending) = rp
        .start_authentication(&creds, uv, now)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let options = serde_json::to_string(&options).map_err(|e| AppError::Internal(e.to_string()))?;
    let pending = pending
        .to_json()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((options, pending))
}

/// Finishes a WebAuthn authentication. Blocking; one at a time per account. Returns who
/// authenticated and how, or `None` (audited) when refused.
pub fn webauthn_finish(
    st: &AppState,
    pending_json: &str,
    expected_subject: Option<Uuid>,
    response_json: &str,
    source: Option<IpAddr>,
    via: &str,
) -> Result<Option<(Person, Method)>, AppError> {
    let rp = mfa::relying_party(&st.config)?;
    let now = Utc::now();
    let pending = idm_mfa::PendingAuthentication::from_json(pending_json)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let Ok(response) = rp.parse_authentication_response(response_json) else {
        return Ok(None);
    };
    let who = match (expected_subject, response.user_handle()) {
        (Some(s), _) => s,
        (None, Some(h)) => h,
        (None, None) => return Ok(None),
    };
    let Some(Entry::Person(person)) = st.store.get(who)? else {
        return Ok(None);
    };
    if !usable(st, &person)? {
        failed(
            st,
            &person,
            via,
            "refused: account locked or not usable",
            source,
        )?;
        return Ok(None);
    }
    let creds: Vec<idm_mfa::StoredCredential> = person
        .credentials
        .webauthn
        .iter()
        .map(mfa::webauthn_stored)
        .collect::<Result<_, _>>()?;
    match rp.finish_authentication(&pending, &response, &creds, now) {
        Ok(AuthenticationOutcome::Verified(result)) => {
            let method = result.method();
            let effective = mfa::effective_policy(&st.store, &person)?;
            if let Some(t) = method.mfa_type()
                && !effective.allows(t)
            {
                failed(
                    st,
                    &person,
                    via,
                    "WebAuthn type not allowed by policy",
                    source,
                )?;
                return Ok(None);
            }
            // The person's record names the credential: a rename changes it there, not in
            // the library state that was saved at registration.
            let held = person
                .credentials
                .webauthn
                .iter()
                .find(|w| w.credential_id == result.credential_id.to_base64url());
            let mut record =
                mfa::webauthn_record(&result.credential, held.map_or(now, |w| w.created_at))?;
            if let Some(w) = held {
                record.label = w.label.clone();
            }
            let _applied = st.store.apply(
                &Change::RecordCredentialUse {
                    uuid: person.uuid,
                    totp: None,
                    webauthn: Some(record.clone()),
                    backup_codes: None,
                },
                &actor(&person),
                now,
                source.map(|s| s.to_string()),
            )?;
            succeeded(
                st,
                &person,
                via,
                &format!("WebAuthn {:?}", record.label),
                source,
            )?;
            Ok(Some((person, method)))
        }
        Ok(AuthenticationOutcome::CounterRegressed(r)) => {
            failed(
                st,
                &person,
                via,
                &format!(
                    "WebAuthn signature counter went back (stored {}, presented {:?}): possible cloned authenticator, credential {}",
                    r.stored_counter, r.presented_counter, r.credential_id
                ),
                source,
            )?;
            Ok(None)
        }
        Err(e) => {
            failed(st, &person, via, &format!("WebAuthn refused: {e}"), source)?;
            Ok(None)
        }
    }
}
