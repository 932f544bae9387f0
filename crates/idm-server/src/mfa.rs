//! Second factors and credential policy, wired to the store: the model's stored values turned
//! into `idm-mfa` values and back, the policy that applies to a person, and one-time
//! credential-reset tokens.

use chrono::{DateTime, Duration, Utc};
use idm_mfa::credential_policy::{self, Subject};
use idm_mfa::{
    CredentialClass, EffectivePolicy, GroupPolicy, HeldCredential, MfaType, StoredCredential, Totp,
    TotpAlgorithm, TotpSecret, Webauthn,
};
use idm_model::access::{ADMIN_UUID, IDM_ADMINS_UUID};
use idm_model::credential::{
    self as model, CredentialPolicy, TotpCredential, WebauthnCredential, WebauthnKind,
};
use idm_model::{Entry, Person};
use idm_store::{EphemeralKind, Reader, Store, Update};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Config;
use crate::error::AppError;
use crate::rng;

/// Longest and default lifetime of a credential-reset token.
pub const RESET_TTL_MAX_SECS: i64 = 7 * 86_400;
pub const RESET_TTL_DEFAULT_SECS: i64 = 86_400;

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

pub fn class_to_mfa(c: model::CredentialClass) -> CredentialClass {
    match c {
        model::CredentialClass::Password => CredentialClass::Password,
        model::CredentialClass::PasswordMfa => CredentialClass::PasswordMfa,
        model::CredentialClass::Passkey => CredentialClass::Passkey,
    }
}

pub fn class_name(c: CredentialClass) -> &'static str {
    match c {
        CredentialClass::Password => "password",
        CredentialClass::PasswordMfa => "password_mfa",
        CredentialClass::Passkey => "passkey",
    }
}

fn mfa_type(t: model::MfaType) -> MfaType {
    match t {
        model::MfaType::Totp => MfaType::Totp,
        model::MfaType::Passkey => MfaType::Passkey,
        model::MfaType::SecurityKey => MfaType::SecurityKey,
        model::MfaType::BackupCode => MfaType::BackupCode,
    }
}

pub fn group_policy(p: &CredentialPolicy) -> GroupPolicy {
    let mut g = GroupPolicy {
        min_class: class_to_mfa(p.min_class),
        min_password_length: p.min_password_length,
        aaguid_allow_list: p.aaguid_allow_list.clone(),
        ..GroupPolicy::default()
    };
    if let Some(allowed) = &p.allowed_mfa {
        g.allowed_mfa = allowed.iter().map(|t| mfa_type(*t)).collect();
    }
    g
}

/// The rules for `person`: the strictest of every group they are in (directly or nested), with
/// the `idm_admins` floor; the break-glass `admin` is exempt.
pub fn effective_policy(store: &Store, person: &Person) -> Result<EffectivePolicy, AppError> {
    effective_with(&store.read()?, person.uuid, None)
}

/// [`effective_policy`] with one group's policy replaced (`Some((group, policy))`), to preview
/// a policy change before it is stored.
pub fn effective_with<R: Reader>(
    read: &R,
    person: Uuid,
    replace: Option<(Uuid, &CredentialPolicy)>,
) -> Result<EffectivePolicy, AppError> {
    let groups = read.member_of_transitive(person)?;
    let mut policies = Vec::new();
    for g in &groups {
        let policy = match replace {
            Some((u, p)) if u == *g => Some(p.clone()),
            _ => match read.entry(*g)? {
                Some(Entry::Group(g)) => g.credential_policy,
                _ => None,
            },
        };
        if let Some(p) = policy {
            policies.push(group_policy(&p));
        }
    }
    let subject = Subject {
        in_idm_admins: groups.contains(&IDM_ADMINS_UUID),
        is_break_glass_admin: person == ADMIN_UUID,
    };
    Ok(credential_policy::effective(policies.iter(), subject))
}

/// The policy's second-factor type of a registered WebAuthn credential.
pub fn webauthn_mfa_type(kind: WebauthnKind) -> MfaType {
    match kind {
        WebauthnKind::Passkey => MfaType::Passkey,
        WebauthnKind::SecurityKey => MfaType::SecurityKey,
    }
}

/// What holding a registered WebAuthn credential counts as, for
/// [`credential_policy::can_remove`].
pub fn webauthn_held(kind: WebauthnKind) -> HeldCredential {
    match kind {
        WebauthnKind::Passkey => HeldCredential::Passkey,
        WebauthnKind::SecurityKey => HeldCredential::SecurityKey,
    }
}

/// What a person holds, for [`credential_policy::can_remove`].
pub fn held(person: &Person) -> Vec<HeldCredential> {
    let c = &person.credentials;
    let mut out = Vec::new();
    if c.password.is_some() {
        out.push(HeldCredential::Password);
    }
    out.extend(c.totp.iter().map(|_| HeldCredential::Totp));
    if c.backup_codes
        .as_ref()
        .is_some_and(|b| !b.digests.is_empty())
    {
        out.push(HeldCredential::BackupCodes);
    }
    out.extend(c.webauthn.iter().map(|w| webauthn_held(w.kind)));
    out
}

pub fn totp_algorithm_name(a: TotpAlgorithm) -> &'static str {
    match a {
        TotpAlgorithm::Sha1 => "sha1",
        TotpAlgorithm::Sha256 => "sha256",
        TotpAlgorithm::Sha512 => "sha512",
    }
}

/// The authenticator behind a stored TOTP credential.
pub fn totp_of(t: &TotpCredential) -> Result<Totp, AppError> {
    let algorithm = match t.algorithm.as_str() {
        "sha1" => TotpAlgorithm::Sha1,
        "sha256" => TotpAlgorithm::Sha256,
        "sha512" => TotpAlgorithm::Sha512,
        other => return Err(internal(format!("unknown TOTP algorithm {other:?}"))),
    };
    let totp = Totp {
        secret: TotpSecret::from_base32(&t.secret).map_err(internal)?,
        algorithm,
        digits: t.digits,
        period: t.period,
    };
    totp.validate().map_err(internal)?;
    Ok(totp)
}

/// A TOTP credential to store for a freshly drawn secret.
pub fn totp_credential(label: &str, totp: &Totp, now: DateTime<Utc>) -> TotpCredential {
    TotpCredential {
        label: label.to_owned(),
        secret: totp.secret.to_base32(),
        algorithm: totp_algorithm_name(totp.algorithm).to_owned(),
        digits: totp.digits,
        period: totp.period,
        created_at: now,
        last_step: None,
    }
}

pub fn webauthn_stored(w: &WebauthnCredential) -> Result<StoredCredential, AppError> {
    StoredCredential::from_json(&w.state).map_err(internal)
}

/// The model's record of a verified registration or an updated credential.
pub fn webauthn_record(
    c: &StoredCredential,
    created_at: DateTime<Utc>,
) -> Result<WebauthnCredential, AppError> {
    Ok(WebauthnCredential {
        label: c.label.clone(),
        kind: match c.kind {
            idm_mfa::PasskeyOrSecurityKey::Passkey => WebauthnKind::Passkey,
            idm_mfa::PasskeyOrSecurityKey::SecurityKey => WebauthnKind::SecurityKey,
        },
        credential_id: c.credential_id.to_base64url(),
        aaguid: c.aaguid,
        created_at,
        last_used: c.last_used,
        state: c.to_json().map_err(internal)?,
    })
}

/// The relying party for this server's origin: the id is the origin's host.
pub fn relying_party(cfg: &Config) -> Result<Webauthn, AppError> {
    let host = cfg
        .origin_host()
        .ok_or_else(|| AppError::Internal("the origin has no host".into()))?;
    Webauthn::new(host, cfg.issuer())
        .and_then(|w| w.with_rp_name("idm"))
        .map_err(|e| AppError::Internal(format!("WebAuthn relying party: {e}")))
}

/// A pending credential reset: whose, and who made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetGrant {
    pub person: Uuid,
    pub created_by: String,
}

fn reset_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a one-time credential-reset token for `person`; only its digest is stored. Returns
/// the token and when it expires.
pub fn create_reset_token(
    store: &Store,
    person: Uuid,
    created_by: &str,
    ttl_secs: i64,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), AppError> {
    if !(60..=RESET_TTL_MAX_SECS).contains(&ttl_secs) {
        return Err(AppError::BadRequest(format!(
            "the lifetime must be 60 to {RESET_TTL_MAX_SECS} seconds"
        )));
    }
    let token = rng::token::<32>()?;
    let expires = now + Duration::seconds(ttl_secs);
    store.put_ephemeral(
        EphemeralKind::CredentialReset,
        &reset_key(&token),
        &ResetGrant {
            person,
            created_by: created_by.to_owned(),
        },
        expires,
    )?;
    Ok((token, expires))
}

/// Redeems a reset token (once): whose it was, or `None` when unknown, used or expired.
pub fn redeem_reset_token(
    store: &Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<ResetGrant>, AppError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(store.update_ephemeral::<ResetGrant, Option<ResetGrant>>(
        EphemeralKind::CredentialReset,
        &reset_key(token),
        now,
        |cur| match cur {
            Some(r) => (Update::Delete, Some(r.value)),
            None => (Update::Keep, None),
        },
    )?)
}
