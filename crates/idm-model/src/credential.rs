//! Second factors held by a person and the credential policy a group sets.
//!
//! These are stored values only: verification, enrolment ceremonies and the policy arithmetic
//! live in `idm-mfa`, which the server calls with these values converted. Keeping the model free
//! of `idm-mfa` keeps the CLI and the model's users away from WebAuthn and argon2.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most TOTP authenticators and WebAuthn credentials one person may hold (each).
pub const MAX_TOTP: usize = 4;
pub const MAX_WEBAUTHN: usize = 16;
/// Longest credential label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// An authenticator app (RFC 6238). The secret is base32 and is a secret: it leaves the server
/// only at enrolment and in exports made with secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpCredential {
    pub label: String,
    /// Base32 (RFC 4648, no padding) shared secret.
    pub secret: String,
    /// `sha1`, `sha256` or `sha512`.
    pub algorithm: String,
    pub digits: u32,
    pub period: u32,
    pub created_at: DateTime<Utc>,
    /// The last time step accepted: a code is accepted once (replay refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<u64>,
}

impl std::fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCredential")
            .field("label", &self.label)
            .field("secret", &"***")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

/// Passkey (discoverable, user verification) or security key (a second factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebauthnKind {
    Passkey,
    SecurityKey,
}

/// A registered WebAuthn credential. `state` is `idm-mfa`'s stored credential (public key,
/// counter, flags) as JSON, opaque here; the other fields are copies for listing and indexing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebauthnCredential {
    pub label: String,
    pub kind: WebauthnKind,
    /// Base64url credential id.
    pub credential_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<DateTime<Utc>>,
    pub state: String,
}

/// Single-use backup codes, kept as hex SHA-256 digests of the unused ones.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodeSet {
    pub digests: Vec<String>,
    pub generated_at: DateTime<Utc>,
}

impl std::fmt::Debug for BackupCodeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupCodeSet")
            .field("remaining", &self.digests.len())
            .field("generated_at", &self.generated_at)
            .finish()
    }
}

/// What kind of login a member's credentials must amount to, weakest first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CredentialClass {
    #[default]
    Password,
    PasswordMfa,
    Passkey,
}

impl CredentialClass {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialClass::Password => "password",
            CredentialClass::PasswordMfa => "password_mfa",
            CredentialClass::Passkey => "passkey",
        }
    }
}

/// The second factors a policy may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaType {
    Totp,
    Passkey,
    SecurityKey,
    BackupCode,
}

impl MfaType {
    pub const ALL: [MfaType; 4] = [
        MfaType::Totp,
        MfaType::Passkey,
        MfaType::SecurityKey,
        MfaType::BackupCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MfaType::Totp => "totp",
            MfaType::Passkey => "passkey",
            MfaType::SecurityKey => "security_key",
            MfaType::BackupCode => "backup_code",
        }
    }
}

/// A group's credential rules; for a member of several groups the strictest wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialPolicy {
    #[serde(default)]
    pub min_class: CredentialClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_password_length: Option<usize>,
    /// `None`: every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_mfa: Option<BTreeSet<MfaType>>,
    /// `None`: any authenticator model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aaguid_allow_list: Option<Vec<Uuid>>,
}

/// Checks a credential label: 1 to [`MAX_LABEL_CHARS`] printable characters.
pub fn check_label(label: &str) -> Result<(), String> {
    let n = label.chars().count();
    if label.trim().is_empty() || n > MAX_LABEL_CHARS {
        return Err(format!("a label has 1 to {MAX_LABEL_CHARS} characters"));
    }
    if label.chars().any(char::is_control) {
        return Err("a label has no control characters".into());
    }
    Ok(())
}

impl CredentialPolicy {
    /// Checks the limits that keep a policy meaningful.
    pub fn check(&self) -> Result<(), String> {
        if let Some(n) = self.min_password_length
            && !(1..=256).contains(&n)
        {
            return Err("min_password_length must be 1-256".into());
        }
        if let Some(list) = &self.aaguid_allow_list
            && list.len() > 256
        {
            return Err("at most 256 AAGUIDs".into());
        }
        Ok(())
    }
}
