//! The identity entries: persons, service accounts and groups, and what a deletion leaves.
//!
//! Memberships are held once, on the group (`Group::members`); a member's direct and transitive
//! `memberOf` are indexes the store derives from them, so the two can never disagree.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Person,
    ServiceAccount,
    Group,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Person => "person",
            EntryKind::ServiceAccount => "service_account",
            EntryKind::Group => "group",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why and by whom an account was locked; a locked account cannot authenticate anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub reason: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// POSIX identity of a person. `gid_number` is the person's own personal group's (the
/// user-private-group convention, as Kanidm and Fedora do), which by default equals
/// `uid_number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosixAccount {
    pub uid_number: u32,
    pub gid_number: u32,
    pub login_shell: String,
    pub home_directory: String,
}

/// A password credential as a PHC string (argon2id). It is a secret: exported only on request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordCredential {
    pub phc: String,
    pub set_at: DateTime<Utc>,
}

impl std::fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("phc", &"***")
            .field("set_at", &self.set_at)
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordCredential>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub totp: Vec<crate::credential::TotpCredential>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webauthn: Vec<crate::credential::WebauthnCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<crate::credential::BackupCodeSet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub uuid: Uuid,
    pub name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// The first address is the primary one.
    #[serde(default)]
    pub mails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posix: Option<PosixAccount>,
    /// Label → canonical OpenSSH public-key line (validated by `idm-ssh` before it gets here).
    #[serde(default)]
    pub ssh_keys: BTreeMap<String, String>,
    #[serde(default)]
    pub credentials: Credentials,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

/// Read-only tokens never write, whatever groups their account is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAccess {
    ReadOnly,
    ReadWrite,
}

/// An API token of a service account. Only the SHA-256 digest of its secret is kept: the secret
/// has 256 bits of entropy, so a slow hash would add cost without adding safety.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub label: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<DateTime<Utc>>,
    pub access: TokenAccess,
    /// Hex SHA-256 of the secret; empty in exports made without secrets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("expire_at", &self.expire_at)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// A non-interactive account: it authenticates with API tokens only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub uuid: Uuid,
    pub name: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub mails: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
    #[serde(default)]
    pub api_tokens: Vec<ApiToken>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub uuid: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Direct members: persons, service accounts and groups (nesting without cycles).
    #[serde(default)]
    pub members: BTreeSet<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid_number: Option<u32>,
    /// Credential rules for the members (direct and nested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_policy: Option<crate::credential::CredentialPolicy>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    Person(Person),
    ServiceAccount(ServiceAccount),
    Group(Group),
}

impl Entry {
    pub fn uuid(&self) -> Uuid {
        match self {
            Entry::Person(p) => p.uuid,
            Entry::ServiceAccount(s) => s.uuid,
            Entry::Group(g) => g.uuid,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Entry::Person(p) => &p.name,
            Entry::ServiceAccount(s) => &s.name,
            Entry::Group(g) => &g.name,
        }
    }

    pub fn kind(&self) -> EntryKind {
        match self {
            Entry::Person(_) => EntryKind::Person,
            Entry::ServiceAccount(_) => EntryKind::ServiceAccount,
            Entry::Group(_) => EntryKind::Group,
        }
    }

    pub fn mails(&self) -> &[String] {
        match self {
            Entry::Person(p) => &p.mails,
            Entry::ServiceAccount(s) => &s.mails,
            Entry::Group(_) => &[],
        }
    }

    /// Every POSIX number this entry holds (uid and personal gid, or group gid): all are
    /// unique across the directory and never reused.
    pub fn posix_ids(&self) -> Vec<u32> {
        let mut ids = match self {
            Entry::Person(p) => p
                .posix
                .as_ref()
                .map(|x| vec![x.uid_number, x.gid_number])
                .unwrap_or_default(),
            Entry::Group(g) => g.gid_number.into_iter().collect(),
            Entry::ServiceAccount(_) => Vec::new(),
        };
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn modified_at(&self) -> DateTime<Utc> {
        match self {
            Entry::Person(p) => p.modified_at,
            Entry::ServiceAccount(s) => s.modified_at,
            Entry::Group(g) => g.modified_at,
        }
    }

    pub fn set_modified_at(&mut self, at: DateTime<Utc>) {
        match self {
            Entry::Person(p) => p.modified_at = at,
            Entry::ServiceAccount(s) => s.modified_at = at,
            Entry::Group(g) => g.modified_at = at,
        }
    }

    pub fn lock(&self) -> Option<&Lock> {
        match self {
            Entry::Person(p) => p.lock.as_ref(),
            Entry::ServiceAccount(s) => s.lock.as_ref(),
            Entry::Group(_) => None,
        }
    }

    /// Whether the account may authenticate at `now`: not locked, inside its validity window.
    pub fn account_usable(&self, now: DateTime<Utc>) -> Result<(), AccountUnusable> {
        let (lock, from, until) = match self {
            Entry::Person(p) => (&p.lock, p.valid_from, p.expire_at),
            Entry::ServiceAccount(s) => (&s.lock, s.valid_from, s.expire_at),
            Entry::Group(_) => return Err(AccountUnusable::NotAnAccount),
        };
        if lock.is_some() {
            return Err(AccountUnusable::Locked);
        }
        if from.is_some_and(|f| now < f) {
            return Err(AccountUnusable::NotYetValid);
        }
        if until.is_some_and(|u| now >= u) {
            return Err(AccountUnusable::Expired);
        }
        Ok(())
    }

    /// The same entry without secrets (password hashes, token digests).
    pub fn without_secrets(&self) -> Entry {
        let mut e = self.clone();
        match &mut e {
            Entry::Person(p) => p.credentials = Credentials::default(),
            Entry::ServiceAccount(s) => {
                for t in &mut s.api_tokens {
                    t.digest.clear();
                }
            }
            Entry::Group(_) => {}
        }
        e
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountUnusable {
    #[error("account is locked")]
    Locked,
    #[error("account is not yet valid")]
    NotYetValid,
    #[error("account has expired")]
    Expired,
    #[error("not an account")]
    NotAnAccount,
}

/// What a deletion leaves behind so the name's history and the POSIX ids stay known: ids are
/// never handed out again, even after the entry is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub uuid: Uuid,
    pub kind: EntryKind,
    pub name: String,
    #[serde(default)]
    pub posix_ids: Vec<u32>,
    pub deleted_at: DateTime<Utc>,
}
