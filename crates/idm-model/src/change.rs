//! Every write to the identity store, as a value.
//!
//! The API, the CLI's offline subcommands and the importer all express writes as a [`Change`];
//! the store applies one in one transaction together with its audit entry. A future PostgreSQL
//! backend implements the same `apply`, which is what keeps the store's interface narrow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::credential::{BackupCodeSet, CredentialPolicy, TotpCredential, WebauthnCredential};
use crate::entry::{ApiToken, Group, PasswordCredential, Person, ServiceAccount};
use crate::error::ModelError;
use crate::validate;

/// `Option<Option<T>>` from JSON: absent → `None` (leave as is), `null` → `Some(None)` (clear),
/// a value → `Some(Some(v))`.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a person's descriptive attributes; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub legal_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mails: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<Option<DateTime<Utc>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire_at: Option<Option<DateTime<Utc>>>,
}

impl PersonPatch {
    /// Validates and normalises the fields that are present.
    pub fn normalised(&self) -> Result<PersonPatch, ModelError> {
        Ok(PersonPatch {
            name: self
                .name
                .as_deref()
                .map(|n| validate::name("name", n))
                .transpose()?,
            display_name: self
                .display_name
                .as_deref()
                .map(validate::display_name)
                .transpose()?,
            legal_name: match &self.legal_name {
                Some(Some(l)) => Some(Some(validate::text(
                    "legal_name",
                    l,
                    validate::DISPLAY_NAME_MAX,
                )?)),
                other => other.clone(),
            },
            mails: self.mails.as_deref().map(validate::mails).transpose()?,
            valid_from: self.valid_from,
            expire_at: self.expire_at,
        })
    }

    pub fn apply(&self, p: &mut Person) {
        if let Some(n) = &self.name {
            p.name.clone_from(n);
        }
        if let Some(d) = &self.display_name {
            p.display_name.clone_from(d);
        }
        if let Some(l) = &self.legal_name {
            p.legal_name.clone_from(l);
        }
        if let Some(m) = &self.mails {
            p.mails.clone_from(m);
        }
        if let Some(v) = self.valid_from {
            p.valid_from = v;
        }
        if let Some(v) = self.expire_at {
            p.expire_at = v;
        }
    }

    /// Field names present, for the audit summary (values may be personal data).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.name.is_some() {
            f.push("name");
        }
        if self.display_name.is_some() {
            f.push("display_name");
        }
        if self.legal_name.is_some() {
            f.push("legal_name");
        }
        if self.mails.is_some() {
            f.push("mails");
        }
        if self.valid_from.is_some() {
            f.push("valid_from");
        }
        if self.expire_at.is_some() {
            f.push("expire_at");
        }
        f
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire_at: Option<Option<DateTime<Utc>>>,
}

/// How a person's POSIX attributes change; absent numbers are allocated, absent paths keep
/// their value (or the defaults on first enable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosixPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid_number: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_shell: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_directory: Option<String>,
}

impl PosixPatch {
    pub fn normalised(&self) -> Result<PosixPatch, ModelError> {
        Ok(PosixPatch {
            gid_number: self
                .gid_number
                .map(|g| crate::posix::explicit_id("gid_number", g))
                .transpose()?,
            login_shell: self
                .login_shell
                .as_deref()
                .map(|s| validate::posix_path("login_shell", s))
                .transpose()?,
            home_directory: self
                .home_directory
                .as_deref()
                .map(|s| validate::posix_path("home_directory", s))
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    CreatePerson(Person),
    CreateServiceAccount(ServiceAccount),
    CreateGroup(Group),
    UpdatePerson {
        uuid: Uuid,
        patch: PersonPatch,
    },
    UpdateServiceAccount {
        uuid: Uuid,
        patch: ServiceAccountPatch,
    },
    UpdateGroup {
        uuid: Uuid,
        description: Option<String>,
    },
    SetPassword {
        uuid: Uuid,
        credential: PasswordCredential,
        /// Why: `set` by an admin, `self` by the person, `recover`, or `rehash` on login.
        reason: String,
    },
    SetPosix {
        uuid: Uuid,
        patch: PosixPatch,
    },
    AddSshKey {
        uuid: Uuid,
        label: String,
        key: String,
    },
    RemoveSshKey {
        uuid: Uuid,
        label: String,
    },
    Lock {
        uuid: Uuid,
        reason: String,
    },
    Unlock {
        uuid: Uuid,
    },
    AddApiToken {
        uuid: Uuid,
        token: ApiToken,
    },
    RemoveApiToken {
        uuid: Uuid,
        id: Uuid,
    },
    AddMembers {
        group: Uuid,
        members: Vec<Uuid>,
    },
    RemoveMembers {
        group: Uuid,
        members: Vec<Uuid>,
    },
    Delete {
        uuid: Uuid,
    },
    /// Adds (or, with `replace`, replaces) the TOTP authenticator with this label.
    SetTotp {
        uuid: Uuid,
        credential: TotpCredential,
        replace: bool,
    },
    RemoveTotp {
        uuid: Uuid,
        label: String,
    },
    /// Adds (or, with `replace`, replaces) the WebAuthn credential with this label.
    SetWebauthn {
        uuid: Uuid,
        credential: WebauthnCredential,
        replace: bool,
    },
    RemoveWebauthn {
        uuid: Uuid,
        label: String,
    },
    RenameWebauthn {
        uuid: Uuid,
        label: String,
        new_label: String,
    },
    /// New backup codes, or none.
    SetBackupCodes {
        uuid: Uuid,
        codes: Option<BackupCodeSet>,
    },
    /// What a login with a second factor consumed: the TOTP step, the WebAuthn counter, the
    /// backup code. Bookkeeping, not a credential change: the entry's modification time stays.
    RecordCredentialUse {
        uuid: Uuid,
        totp: Option<(String, u64)>,
        webauthn: Option<WebauthnCredential>,
        backup_codes: Option<BackupCodeSet>,
    },
    SetCredentialPolicy {
        group: Uuid,
        policy: Option<CredentialPolicy>,
    },
}

impl Change {
    /// Whether the change can alter what directory views (LDAP) show. A login's bookkeeping
    /// cannot (it leaves the modification time alone), so views need not be rebuilt for it.
    pub fn affects_directory(&self) -> bool {
        !matches!(self, Change::RecordCredentialUse { .. })
    }

    /// The dotted audit action.
    pub fn action(&self) -> &'static str {
        match self {
            Change::CreatePerson(_) => "person.create",
            Change::CreateServiceAccount(_) => "service_account.create",
            Change::CreateGroup(_) => "group.create",
            Change::UpdatePerson { .. } => "person.update",
            Change::UpdateServiceAccount { .. } => "service_account.update",
            Change::UpdateGroup { .. } => "group.update",
            Change::SetPassword { .. } => "credential.set_password",
            Change::SetPosix { .. } => "posix.set",
            Change::AddSshKey { .. } => "ssh.add_publickey",
            Change::RemoveSshKey { .. } => "ssh.delete_publickey",
            Change::Lock { .. } => "account.lock",
            Change::Unlock { .. } => "account.unlock",
            Change::AddApiToken { .. } => "api_token.generate",
            Change::RemoveApiToken { .. } => "api_token.destroy",
            Change::AddMembers { .. } => "group.add_members",
            Change::RemoveMembers { .. } => "group.remove_members",
            Change::Delete { .. } => "entry.delete",
            Change::SetTotp { .. } => "credential.totp.set",
            Change::RemoveTotp { .. } => "credential.totp.remove",
            Change::SetWebauthn { .. } => "credential.webauthn.set",
            Change::RemoveWebauthn { .. } => "credential.webauthn.remove",
            Change::RenameWebauthn { .. } => "credential.webauthn.rename",
            Change::SetBackupCodes { .. } => "credential.backup_codes.set",
            Change::RecordCredentialUse { .. } => "credential.use",
            Change::SetCredentialPolicy { .. } => "group.set_credential_policy",
        }
    }

    /// The entry the change is about.
    pub fn target(&self) -> Uuid {
        match self {
            Change::CreatePerson(p) => p.uuid,
            Change::CreateServiceAccount(s) => s.uuid,
            Change::CreateGroup(g) => g.uuid,
            Change::UpdatePerson { uuid, .. }
            | Change::UpdateServiceAccount { uuid, .. }
            | Change::UpdateGroup { uuid, .. }
            | Change::SetPassword { uuid, .. }
            | Change::SetPosix { uuid, .. }
            | Change::AddSshKey { uuid, .. }
            | Change::RemoveSshKey { uuid, .. }
            | Change::Lock { uuid, .. }
            | Change::Unlock { uuid }
            | Change::AddApiToken { uuid, .. }
            | Change::RemoveApiToken { uuid, .. }
            | Change::Delete { uuid }
            | Change::SetTotp { uuid, .. }
            | Change::RemoveTotp { uuid, .. }
            | Change::SetWebauthn { uuid, .. }
            | Change::RemoveWebauthn { uuid, .. }
            | Change::RenameWebauthn { uuid, .. }
            | Change::SetBackupCodes { uuid, .. }
            | Change::RecordCredentialUse { uuid, .. } => *uuid,
            Change::AddMembers { group, .. }
            | Change::RemoveMembers { group, .. }
            | Change::SetCredentialPolicy { group, .. } => *group,
        }
    }
}
