//! `/v1/person/{id}/credential` and `/v1/group/{id}/credential_policy`: what administrators do
//! about second factors — see who can log in how, hand out a one-time reset link, remove a lost
//! device, set a group's credential policy. Enrolment itself happens in the browser (`ui/`).
//!
//! The policy arithmetic is `idm_mfa::credential_policy`'s; this module only asks it questions
//! ("can any login made from what alice holds satisfy her policy?") and words the answers for
//! people, because an administrator who just locked a whole team out should be told so plainly.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use idm_mfa::credential_policy::{self, Method, Subject};
use idm_mfa::{CredentialClass, EffectivePolicy, MfaType};
use idm_model::access::{ADMIN_UUID, IDM_ADMINS_UUID, Op, Principal, TargetInfo, authorize};
use idm_model::api::{
    BackupCodesView, CredentialPolicyChanged, CredentialStatus, EffectivePolicyView, EntryRef,
    ResetTokenCreate, ResetTokenCreated, TotpView, WebauthnView,
};
use idm_model::audit::{AuditEvent, Outcome, Target};
use idm_model::change::Change;
use idm_model::credential::{self as model, CredentialPolicy, WebauthnKind};
use idm_model::{Entry, EntryKind, ModelError, Person};
use idm_store::{Reader, Store};
use uuid::Uuid;

use super::extract::{ApiJson, Auth, ClientIp, OptionalJson};
use super::{apply, target, views};
use crate::auth::{actor_of, blocking};
use crate::config::Config;
use crate::error::AppError;
use crate::mfa;
use crate::state::AppState;

/// `GET /v1/person/{id}/credential`.
pub async fn status(
    State(st): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> Result<Json<CredentialStatus>, AppError> {
    let (person, info) = person_target(&st, &p, id).await?;
    authorize(&p, Op::Read(info))?;
    let (store, cfg) = (st.store.clone(), st.config.clone());
    Ok(Json(
        blocking(move || credential_status(&store, &cfg, person)).await?,
    ))
}

/// `POST /v1/person/{id}/credential/reset_token`: a one-time link to the page where the person
/// sets up their credentials. Only the token's digest is stored, and neither the token nor the
/// link is logged or audited.
pub async fn create_reset_token(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<ResetTokenCreate>,
) -> Result<(StatusCode, Json<ResetTokenCreated>), AppError> {
    let (person, info) = person_target(&st, &p, id).await?;
    authorize(&p, Op::Credential(info))?;
    if person.uuid == ADMIN_UUID {
        // Whoever held the link could take over the one account no policy applies to.
        return Err(AppError::BadRequest(
            "admin is the break-glass account: its password comes only from \
             `idm-server recover-account admin` on the server"
                .into(),
        ));
    }
    let ttl = req
        .and_then(|r| r.ttl_secs)
        .unwrap_or(mfa::RESET_TTL_DEFAULT_SECS);
    let store = st.store.clone();
    let actor = actor_of(&p);
    let origin = st.config.issuer().to_owned();
    blocking(move || {
        let now = Utc::now();
        let (token, expires_at) =
            mfa::create_reset_token(&store, person.uuid, &actor.name, ttl, now)?;
        store.record(
            AuditEvent {
                at: now,
                actor,
                action: "credential.reset_token.create".into(),
                target: Some(Target {
                    uuid: Some(person.uuid),
                    name: person.name.clone(),
                }),
                outcome: Outcome::Success,
                summary: format!(
                    "one-time credential-reset token created, valid {ttl} s until {}",
                    expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                source: ip.map(|i| i.to_string()),
            },
            None,
        )?;
        let url = format!("{origin}/ui/reset?token={token}");
        Ok((
            StatusCode::CREATED,
            Json(ResetTokenCreated {
                token,
                url,
                expires_at,
            }),
        ))
    })
    .await
}

/// `DELETE /v1/person/{id}/credential/totp/{label}`.
pub async fn remove_totp(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, label)): Path<(String, String)>,
) -> Result<Json<CredentialStatus>, AppError> {
    remove(&st, &p, ip, id, label, Removal::Totp).await
}

/// `DELETE /v1/person/{id}/credential/webauthn/{label}`: a passkey or a security key.
pub async fn remove_webauthn(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path((id, label)): Path<(String, String)>,
) -> Result<Json<CredentialStatus>, AppError> {
    remove(&st, &p, ip, id, label, Removal::Webauthn).await
}

/// `PUT /v1/group/{id}/credential_policy`.
pub async fn set_policy(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    ApiJson(policy): ApiJson<CredentialPolicy>,
) -> Result<Json<CredentialPolicyChanged>, AppError> {
    let (g, _) = target(&st, &p, id, Some(EntryKind::Group)).await?;
    authorize(&p, Op::CredentialPolicy)?;
    policy
        .check()
        .map_err(|m| ModelError::invalid("credential_policy", m))?;
    let alone = credential_policy::effective([&mfa::group_policy(&policy)], Subject::default());
    if let Some(why) = unmeetable(&alone) {
        return Err(ModelError::invalid("credential_policy", why).into());
    }
    let store = st.store.clone();
    let (group, new) = (g.uuid(), policy.clone());
    let locked_out = blocking(move || newly_unmeetable(&store, group, &new)).await?;
    if !locked_out.is_empty() {
        return Err(AppError::Conflict(format!(
            "together with the policies of their other groups this policy could never be met \
             by {}: they could not log in at all; change the other groups' policies first",
            locked_out.join(", ")
        )));
    }
    change_policy(&st, &p, ip, g.uuid(), Some(policy)).await
}

/// `DELETE /v1/group/{id}/credential_policy`.
pub async fn clear_policy(
    State(st): State<AppState>,
    Auth(p): Auth,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> Result<Json<CredentialPolicyChanged>, AppError> {
    let (g, _) = target(&st, &p, id, Some(EntryKind::Group)).await?;
    authorize(&p, Op::CredentialPolicy)?;
    change_policy(&st, &p, ip, g.uuid(), None).await
}

/// A person's credentials and policy as the API shows them.
pub fn credential_status(
    store: &Store,
    cfg: &Config,
    person: Person,
) -> Result<CredentialStatus, AppError> {
    let policy = mfa::effective_policy(store, &person)?;
    let from_groups = policy_groups(store, &person)?;
    let (policy_met, notes) = assess(&person, &policy);
    let c = person.credentials;
    Ok(CredentialStatus {
        policy: EffectivePolicyView {
            min_class: class_to_model(policy.min_class),
            min_password_length: policy.password_policy(cfg.password.policy).min_length,
            allowed_mfa: policy
                .allowed_mfa
                .iter()
                .map(|t| mfa_to_model(*t))
                .collect(),
            aaguid_allow_list: policy.aaguid_allow_list.clone(),
            exempt: policy.exempt,
            from_groups,
            satisfiable: unmeetable(&policy).is_none(),
        },
        policy_met,
        notes,
        password_set_at: c.password.map(|pw| pw.set_at),
        totp: c
            .totp
            .iter()
            .map(|t| TotpView {
                label: t.label.clone(),
                created_at: t.created_at,
            })
            .collect(),
        webauthn: c
            .webauthn
            .iter()
            .map(|w| WebauthnView {
                label: w.label.clone(),
                kind: w.kind,
                aaguid: w.aaguid,
                created_at: w.created_at,
                last_used: w.last_used,
            })
            .collect(),
        backup_codes: c.backup_codes.map(|b| BackupCodesView {
            remaining: b.digests.len(),
            generated_at: b.generated_at,
        }),
        uuid: person.uuid,
        name: person.name,
    })
}

#[derive(Debug, Clone, Copy)]
enum Removal {
    Totp,
    Webauthn,
}

/// Removes a second factor as an administrator would for a lost device: allowed even when the
/// person is left unable to meet their policy (the answer's `policy_met` and `notes` say so),
/// because keeping a lost authenticator registered is the worse outcome.
async fn remove(
    st: &AppState,
    p: &Principal,
    ip: Option<std::net::IpAddr>,
    id: String,
    label: String,
    what: Removal,
) -> Result<Json<CredentialStatus>, AppError> {
    let (person, info) = person_target(st, p, id).await?;
    authorize(p, Op::Credential(info))?;
    let c = &person.credentials;
    let (noun, labels): (&str, Vec<&str>) = match what {
        Removal::Totp => (
            "TOTP authenticator",
            c.totp.iter().map(|t| t.label.as_str()).collect(),
        ),
        Removal::Webauthn => (
            "passkey or security key",
            c.webauthn.iter().map(|w| w.label.as_str()).collect(),
        ),
    };
    if !labels.iter().any(|l| same_label(l, &label)) {
        let has = if labels.is_empty() {
            "none".to_owned()
        } else {
            labels.join(", ")
        };
        return Err(AppError::NotFound(format!(
            "{} has no {noun} labelled {label:?} (has: {has})",
            person.name
        )));
    }
    let uuid = person.uuid;
    let change = match what {
        Removal::Totp => Change::RemoveTotp { uuid, label },
        Removal::Webauthn => Change::RemoveWebauthn { uuid, label },
    };
    let after = match apply(st, p, change, ip).await? {
        Some(Entry::Person(after)) => after,
        _ => {
            return Err(AppError::Internal(
                "credential removal returned no person".into(),
            ));
        }
    };
    let (store, cfg) = (st.store.clone(), st.config.clone());
    Ok(Json(
        blocking(move || credential_status(&store, &cfg, after)).await?,
    ))
}

async fn change_policy(
    st: &AppState,
    p: &Principal,
    ip: Option<std::net::IpAddr>,
    group: Uuid,
    policy: Option<CredentialPolicy>,
) -> Result<Json<CredentialPolicyChanged>, AppError> {
    let e = apply(st, p, Change::SetCredentialPolicy { group, policy }, ip).await?;
    let Some(Entry::Group(g)) = e else {
        return Err(AppError::Internal("policy change returned no group".into()));
    };
    let store = st.store.clone();
    blocking(move || {
        let group = views::group(&store.read()?, g)?;
        let members_policy_not_met = members_not_met(&store, group.uuid)?;
        Ok(Json(CredentialPolicyChanged {
            group,
            members_policy_not_met,
        }))
    })
    .await
}

/// Resolves `{id}` to a person; other kinds are refused plainly rather than "not found", since
/// the entry exists — it just has no credentials of this sort.
async fn person_target(
    st: &AppState,
    p: &Principal,
    id: String,
) -> Result<(Person, TargetInfo), AppError> {
    let (e, info) = target(st, p, id, None).await?;
    match e {
        Entry::Person(person) => Ok((person, info)),
        Entry::ServiceAccount(s) => Err(AppError::BadRequest(format!(
            "{} is a service account: only persons have passwords and second factors \
             (service accounts use API tokens)",
            s.name
        ))),
        Entry::Group(g) => Err(AppError::BadRequest(format!(
            "{} is a group: only persons have credentials (a group's credential policy is \
             under /v1/group/{{id}}/credential_policy)",
            g.name
        ))),
    }
}

/// Labels compare case-insensitively, as the store compares them.
fn same_label(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The names of the groups (direct or nested) whose policies apply to `person`.
fn policy_groups(store: &Store, person: &Person) -> Result<Vec<String>, AppError> {
    if person.uuid == ADMIN_UUID {
        return Ok(Vec::new());
    }
    let read = store.read()?;
    let mut out = Vec::new();
    for g in read.member_of_transitive(person.uuid)? {
        if let Some(Entry::Group(g)) = read.entry(g)?
            && (g.credential_policy.is_some() || g.uuid == IDM_ADMINS_UUID)
        {
            out.push(g.name);
        }
    }
    out.sort();
    Ok(out)
}

/// Persons (direct or nested members of `group`) whose policy is not met by what they hold.
fn members_not_met(store: &Store, group: Uuid) -> Result<Vec<EntryRef>, AppError> {
    let read = store.read()?;
    let mut out = Vec::new();
    for m in read.members_transitive(group)? {
        let Some(Entry::Person(person)) = read.entry(m)? else {
            continue;
        };
        let policy = mfa::effective_policy(store, &person)?;
        if !assess(&person, &policy).0 {
            out.push(EntryRef {
                uuid: person.uuid,
                name: person.name,
                kind: EntryKind::Person,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Members of `group` whose combined policy can be met today but could not be with `new` in
/// place of the group's current policy.
fn newly_unmeetable(
    store: &Store,
    group: Uuid,
    new: &CredentialPolicy,
) -> Result<Vec<String>, AppError> {
    let read = store.read()?;
    let mut out = Vec::new();
    for m in read.members_transitive(group)? {
        let Some(Entry::Person(person)) = read.entry(m)? else {
            continue;
        };
        let before = mfa::effective_with(&read, person.uuid, None)?;
        let after = mfa::effective_with(&read, person.uuid, Some((group, new)))?;
        if unmeetable(&before).is_none() && unmeetable(&after).is_some() {
            out.push(person.name);
        }
    }
    out.sort();
    Ok(out)
}

/// Why no credentials at all could meet `policy`, if so: its class needs a second factor or a
/// passkey that its allowed types (or an empty authenticator allow list) rule out.
fn unmeetable(policy: &EffectivePolicy) -> Option<String> {
    if policy.exempt {
        return None;
    }
    let webauthn_possible = policy
        .aaguid_allow_list
        .as_ref()
        .is_none_or(|l| !l.is_empty());
    let usable = |t: MfaType| policy.allows(t) && (t == MfaType::Totp || webauthn_possible);
    match policy.min_class {
        CredentialClass::Passkey if !usable(MfaType::Passkey) => Some(
            "min_class passkey needs passkey among allowed_mfa and an aaguid_allow_list that \
             is not empty"
                .into(),
        ),
        CredentialClass::PasswordMfa
            if !(usable(MfaType::Totp)
                || usable(MfaType::Passkey)
                || usable(MfaType::SecurityKey)) =>
        {
            Some(
                "min_class password_mfa needs totp, passkey or security_key among allowed_mfa \
                 (backup codes are a way back in, not a second factor of their own)"
                    .into(),
            )
        }
        _ if !policy.is_satisfiable() => Some("no credentials can meet these rules".into()),
        _ => None,
    }
}

/// The complete logins a person could make with what they hold (one of each kind).
fn possible_logins(p: &Person) -> Vec<Vec<Method>> {
    let c = &p.credentials;
    let mut out = Vec::new();
    let has = |k: WebauthnKind| c.webauthn.iter().any(|w| w.kind == k);
    if c.password.is_some() {
        out.push(vec![Method::Password]);
        if !c.totp.is_empty() {
            out.push(vec![Method::Password, Method::Totp]);
        }
        if has(WebauthnKind::SecurityKey) {
            out.push(vec![
                Method::Password,
                Method::SecurityKey {
                    hardware_bound: false,
                },
            ]);
        }
        if backup_codes_left(p) > 0 {
            out.push(vec![Method::Password, Method::BackupCode]);
        }
    }
    if has(WebauthnKind::Passkey) {
        out.push(vec![Method::Passkey {
            hardware_bound: false,
        }]);
    }
    out
}

fn backup_codes_left(p: &Person) -> usize {
    p.credentials
        .backup_codes
        .as_ref()
        .map_or(0, |b| b.digests.len())
}

/// Whether `person` can log in as `policy` requires with what they hold, and sentences that
/// explain it to an administrator.
fn assess(person: &Person, policy: &EffectivePolicy) -> (bool, Vec<String>) {
    let name = &person.name;
    let mut notes = Vec::new();
    if policy.exempt {
        notes.push(format!(
            "{name} is the break-glass account: no credential policy applies"
        ));
    }
    if let Some(why) = unmeetable(policy) {
        notes.push(format!(
            "{name} cannot log in: the credential policies of their groups contradict each \
             other ({why}); change those policies or {name}'s groups"
        ));
        return (false, notes);
    }
    let logins = possible_logins(person);
    if logins.is_empty() {
        notes.push(format!(
            "{name} has no password or passkey and cannot log in: create a reset token so \
             they can set one up"
        ));
        return (false, notes);
    }
    let ok = |l: &Vec<Method>| credential_policy::satisfies(policy, l).is_ok();
    let met = logins.iter().any(ok);
    if !met {
        notes.push(format!(
            "{name} cannot log in until they enrol: their policy requires {} and they hold {}; \
             they need {} (create a reset token so they can enrol)",
            class_name(policy.min_class),
            held_words(person),
            needed_words(policy),
        ));
    } else if !logins
        .iter()
        .filter(|l| !l.contains(&Method::BackupCode))
        .any(ok)
    {
        notes.push(format!(
            "{name} meets the policy only with backup codes ({} left): they should enrol {}",
            backup_codes_left(person),
            needed_words(policy),
        ));
    }
    if !policy.exempt {
        let c = &person.credentials;
        let mut disallowed = BTreeSet::new();
        if !c.totp.is_empty() && !policy.allows(MfaType::Totp) {
            disallowed.insert("TOTP authenticators");
        }
        for w in &c.webauthn {
            match w.kind {
                WebauthnKind::Passkey if !policy.allows(MfaType::Passkey) => {
                    disallowed.insert("passkeys");
                }
                WebauthnKind::SecurityKey if !policy.allows(MfaType::SecurityKey) => {
                    disallowed.insert("security keys");
                }
                _ => {}
            }
        }
        if backup_codes_left(person) > 0 && !policy.allows(MfaType::BackupCode) {
            disallowed.insert("backup codes");
        }
        if !disallowed.is_empty() {
            notes.push(format!(
                "{name}'s {} are not allowed by their policy and cannot be used",
                disallowed.into_iter().collect::<Vec<_>>().join(" and ")
            ));
        }
    }
    (met, notes)
}

fn class_name(c: CredentialClass) -> String {
    let what = match c {
        CredentialClass::Password => "a password",
        CredentialClass::PasswordMfa => "a password and a second factor",
        CredentialClass::Passkey => "a passkey",
    };
    format!("{} ({what})", mfa::class_name(c))
}

/// "only a password", "a password and 2 TOTP authenticators", "nothing".
fn held_words(p: &Person) -> String {
    let c = &p.credentials;
    let count = |n: usize, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("a {one}")),
        n => Some(format!("{n} {many}")),
    };
    let kind = |k| c.webauthn.iter().filter(|w| w.kind == k).count();
    let parts: Vec<String> = [
        c.password.as_ref().map(|_| "a password".to_owned()),
        count(c.totp.len(), "TOTP authenticator", "TOTP authenticators"),
        count(kind(WebauthnKind::Passkey), "passkey", "passkeys"),
        count(
            kind(WebauthnKind::SecurityKey),
            "security key",
            "security keys",
        ),
        (backup_codes_left(p) > 0).then(|| format!("{} backup codes", backup_codes_left(p))),
    ]
    .into_iter()
    .flatten()
    .collect();
    match parts.as_slice() {
        [] => "nothing".to_owned(),
        [one] if c.password.is_some() => format!("only {one}"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What would let the person meet `policy`.
fn needed_words(policy: &EffectivePolicy) -> String {
    match policy.min_class {
        CredentialClass::Passkey => "a passkey".to_owned(),
        CredentialClass::Password => "a password".to_owned(),
        CredentialClass::PasswordMfa => {
            let types: Vec<&str> = [
                (MfaType::Totp, "a TOTP authenticator"),
                (MfaType::Passkey, "a passkey"),
                (MfaType::SecurityKey, "a security key"),
            ]
            .into_iter()
            .filter(|(t, _)| policy.allows(*t))
            .map(|(_, w)| w)
            .collect();
            match types.as_slice() {
                [] => "a second factor".to_owned(),
                [one] => (*one).to_owned(),
                [init @ .., last] => format!("{} or {last}", init.join(", ")),
            }
        }
    }
}

fn class_to_model(c: CredentialClass) -> model::CredentialClass {
    match c {
        CredentialClass::Password => model::CredentialClass::Password,
        CredentialClass::PasswordMfa => model::CredentialClass::PasswordMfa,
        CredentialClass::Passkey => model::CredentialClass::Passkey,
    }
}

fn mfa_to_model(t: MfaType) -> model::MfaType {
    match t {
        MfaType::Totp => model::MfaType::Totp,
        MfaType::Passkey => model::MfaType::Passkey,
        MfaType::SecurityKey => model::MfaType::SecurityKey,
        MfaType::BackupCode => model::MfaType::BackupCode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use idm_model::PasswordCredential;
    use idm_model::credential::{BackupCodeSet, TotpCredential, WebauthnCredential};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn alice(password: bool, totp: usize, webauthn: &[WebauthnKind], codes: usize) -> Person {
        let mut p = Person {
            uuid: Uuid::from_u128(0x1234),
            name: "alice".into(),
            display_name: "Alice".into(),
            legal_name: None,
            mails: vec![],
            valid_from: None,
            expire_at: None,
            lock: None,
            posix: None,
            ssh_keys: Default::default(),
            credentials: Default::default(),
            created_at: t0(),
            modified_at: t0(),
        };
        let c = &mut p.credentials;
        if password {
            c.password = Some(PasswordCredential {
                phc: "$argon2id$x".into(),
                set_at: t0(),
            });
        }
        for i in 0..totp {
            c.totp.push(TotpCredential {
                label: format!("totp{i}"),
                secret: "JBSWY3DPEHPK3PXP".into(),
                algorithm: "sha1".into(),
                digits: 6,
                period: 30,
                created_at: t0(),
                last_step: None,
            });
        }
        for (i, k) in webauthn.iter().enumerate() {
            c.webauthn.push(WebauthnCredential {
                label: format!("key{i}"),
                kind: *k,
                credential_id: format!("id{i}"),
                aaguid: None,
                created_at: t0(),
                last_used: None,
                state: "{}".into(),
            });
        }
        if codes > 0 {
            c.backup_codes = Some(BackupCodeSet {
                digests: vec!["00".into(); codes],
                generated_at: t0(),
            });
        }
        p
    }

    fn policy(
        min_class: model::CredentialClass,
        allowed: Option<&[model::MfaType]>,
    ) -> EffectivePolicy {
        let p = CredentialPolicy {
            min_class,
            min_password_length: None,
            allowed_mfa: allowed.map(|a| a.iter().copied().collect()),
            aaguid_allow_list: None,
        };
        credential_policy::effective([&mfa::group_policy(&p)], Subject::default())
    }

    #[test]
    fn policy_met_table() {
        use WebauthnKind::{Passkey as PK, SecurityKey as SK};
        use model::CredentialClass as C;
        use model::MfaType as T;
        let open = policy(C::Password, None);
        let mfa = policy(C::PasswordMfa, None);
        let passkey = policy(C::Passkey, None);
        let no_totp = policy(C::PasswordMfa, Some(&[T::Passkey, T::SecurityKey]));
        let table: Vec<(Person, &EffectivePolicy, bool, &str)> = vec![
            (alice(true, 0, &[], 0), &open, true, ""),
            (
                alice(false, 0, &[], 0),
                &open,
                false,
                "has no password or passkey",
            ),
            (
                alice(true, 0, &[], 0),
                &mfa,
                false,
                "alice cannot log in until they enrol: their policy requires password_mfa \
                 (a password and a second factor) and they hold only a password; they need a \
                 TOTP authenticator, a passkey or a security key",
            ),
            (alice(true, 1, &[], 0), &mfa, true, ""),
            (alice(true, 0, &[SK], 0), &mfa, true, ""),
            (alice(false, 0, &[PK], 0), &mfa, true, ""),
            (
                alice(true, 0, &[], 5),
                &mfa,
                true,
                "only with backup codes (5 left)",
            ),
            (
                alice(true, 1, &[], 0),
                &passkey,
                false,
                "they hold a password and a TOTP authenticator; they need a passkey",
            ),
            (alice(true, 0, &[PK, PK], 0), &passkey, true, ""),
            (
                alice(true, 1, &[], 0),
                &no_totp,
                false,
                "alice's TOTP authenticators are not allowed by their policy",
            ),
            (
                alice(true, 1, &[SK], 0),
                &no_totp,
                true,
                "TOTP authenticators are not allowed",
            ),
        ];
        for (i, (person, policy, met, note)) in table.into_iter().enumerate() {
            let (got, notes) = assess(&person, policy);
            assert_eq!(got, met, "row {i}: {notes:?}");
            let all = notes.join("\n");
            assert!(all.contains(note), "row {i}: {note:?} not in {all:?}");
            if note.is_empty() {
                assert!(notes.is_empty(), "row {i}: {notes:?}");
            }
        }
    }

    #[test]
    fn exempt_admin_is_said_so() {
        let mut admin = alice(true, 0, &[], 0);
        admin.name = "admin".into();
        let (met, notes) = assess(&admin, &EffectivePolicy::exempt());
        assert!(met);
        assert_eq!(
            notes,
            ["admin is the break-glass account: no credential policy applies"]
        );
    }

    #[test]
    fn unmeetable_policies_are_named() {
        use model::CredentialClass as C;
        use model::MfaType as T;
        assert!(unmeetable(&policy(C::Passkey, Some(&[T::Totp]))).is_some());
        assert!(unmeetable(&policy(C::PasswordMfa, Some(&[T::BackupCode]))).is_some());
        assert!(unmeetable(&policy(C::PasswordMfa, Some(&[]))).is_some());
        assert!(unmeetable(&policy(C::Password, Some(&[]))).is_none());
        assert!(unmeetable(&policy(C::PasswordMfa, Some(&[T::Totp]))).is_none());
        let mut no_models = policy(C::PasswordMfa, Some(&[T::Passkey, T::SecurityKey]));
        no_models.aaguid_allow_list = Some(vec![]);
        assert!(unmeetable(&no_models).is_some());
        no_models.allowed_mfa.insert(MfaType::Totp);
        assert!(unmeetable(&no_models).is_none());
        assert!(unmeetable(&EffectivePolicy::exempt()).is_none());
        let (met, notes) = assess(
            &alice(true, 1, &[], 0),
            &policy(C::Passkey, Some(&[T::Totp])),
        );
        assert!(!met);
        assert!(notes[0].contains("contradict"), "{notes:?}");
    }

    #[test]
    fn held_credentials_in_words() {
        use WebauthnKind::{Passkey as PK, SecurityKey as SK};
        assert_eq!(held_words(&alice(false, 0, &[], 0)), "nothing");
        assert_eq!(held_words(&alice(true, 0, &[], 0)), "only a password");
        assert_eq!(held_words(&alice(false, 0, &[PK], 0)), "a passkey");
        assert_eq!(
            held_words(&alice(true, 2, &[PK, SK, SK], 8)),
            "a password, 2 TOTP authenticators, a passkey, 2 security keys and 8 backup codes"
        );
    }
}
