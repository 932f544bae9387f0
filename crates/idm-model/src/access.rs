//! Who may do what: built-in groups and the default-deny authorization rule.
//!
//! Rights come only from membership (direct or nested) in the built-in groups. Two rules keep
//! delegation from turning into escalation: changing an account that itself holds write rights,
//! or the membership of a built-in group or of a group nested into one that holds write rights,
//! needs `idm_admins`; and a read-only API token never writes, whatever its account's groups.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entry::{EntryKind, TokenAccess};

pub const ADMIN: &str = "admin";
pub const IDM_ADMINS: &str = "idm_admins";
pub const IDM_PEOPLE_ADMINS: &str = "idm_people_admins";
pub const IDM_GROUP_ADMINS: &str = "idm_group_admins";
pub const IDM_SERVICE_ACCOUNT_ADMINS: &str = "idm_service_account_admins";
pub const IDM_ACCOUNT_READ_PRIV: &str = "idm_account_read_priv";
pub const IDM_OAUTH2_ADMINS: &str = "idm_oauth2_admins";

/// Fixed UUIDs so that built-ins are the same entries on every installation and in exports.
pub const ADMIN_UUID: Uuid = Uuid::from_u128(0x00000000_0000_4000_8000_000000000001);

pub struct BuiltinGroup {
    pub name: &'static str,
    pub uuid: Uuid,
    pub description: &'static str,
}

/// The UUID of `idm_admins` (its members get the `password_mfa` credential floor).
pub const IDM_ADMINS_UUID: Uuid = Uuid::from_u128(0x00000000_0000_4000_8000_000000000101);

pub const BUILTIN_GROUPS: [BuiltinGroup; 6] = [
    BuiltinGroup {
        name: IDM_ADMINS,
        uuid: IDM_ADMINS_UUID,
        description: "Full administration of idm",
    },
    BuiltinGroup {
        name: IDM_PEOPLE_ADMINS,
        uuid: Uuid::from_u128(0x00000000_0000_4000_8000_000000000102),
        description: "Create, change and delete persons and their credentials",
    },
    BuiltinGroup {
        name: IDM_GROUP_ADMINS,
        uuid: Uuid::from_u128(0x00000000_0000_4000_8000_000000000103),
        description: "Create and delete groups and manage their members",
    },
    BuiltinGroup {
        name: IDM_SERVICE_ACCOUNT_ADMINS,
        uuid: Uuid::from_u128(0x00000000_0000_4000_8000_000000000104),
        description: "Create and delete service accounts and their API tokens",
    },
    BuiltinGroup {
        name: IDM_ACCOUNT_READ_PRIV,
        uuid: Uuid::from_u128(0x00000000_0000_4000_8000_000000000105),
        description: "Read every account (for example LDAP readers)",
    },
    BuiltinGroup {
        name: IDM_OAUTH2_ADMINS,
        uuid: Uuid::from_u128(0x00000000_0000_4000_8000_000000000106),
        description: "Register and change OAuth2/OpenID Connect clients",
    },
];

/// The groups whose members hold write rights; changing such a member needs `idm_admins`.
pub const WRITE_PRIVILEGED: [&str; 5] = [
    IDM_ADMINS,
    IDM_PEOPLE_ADMINS,
    IDM_GROUP_ADMINS,
    IDM_SERVICE_ACCOUNT_ADMINS,
    IDM_OAUTH2_ADMINS,
];

pub fn is_builtin_name(name: &str) -> bool {
    name == ADMIN || BUILTIN_GROUPS.iter().any(|g| g.name == name)
}

pub fn is_builtin_uuid(uuid: Uuid) -> bool {
    uuid == ADMIN_UUID || BUILTIN_GROUPS.iter().any(|g| g.uuid == uuid)
}

/// The authenticated caller of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub uuid: Uuid,
    pub name: String,
    pub kind: EntryKind,
    /// Names of every group the principal is in, nested membership included.
    pub groups: BTreeSet<String>,
    /// Sessions of persons are read-write; API tokens say.
    pub access: TokenAccess,
}

impl Principal {
    fn in_group(&self, g: &str) -> bool {
        self.groups.contains(g)
    }

    fn is_admin(&self) -> bool {
        self.in_group(IDM_ADMINS)
    }
}

/// What the target of a write looks like, as far as authorization cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetInfo {
    pub kind: EntryKind,
    /// The target holds write rights (it is, or nests into, one of [`WRITE_PRIVILEGED`]), or
    /// is the built-in `admin`.
    pub privileged: bool,
    /// The target is a built-in entry.
    pub builtin: bool,
    /// The target is the caller.
    pub is_self: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read(TargetInfo),
    List(EntryKind),
    Create(EntryKind),
    Modify(TargetInfo),
    /// Setting a password, an SSH key or an API token: changes how the target authenticates.
    Credential(TargetInfo),
    Delete(TargetInfo),
    /// Adding or removing members of a group.
    Membership(TargetInfo),
    ReadAudit,
    /// Reading OAuth2 client registrations.
    ReadOAuth2,
    /// Registering, changing and deleting OAuth2 clients.
    ManageOAuth2,
    /// Backup, export, import and other whole-store operations.
    System,
    /// Setting a group's credential policy: it decides how members (possibly admins) log in.
    CredentialPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The one authorization decision. Default deny: every arm names who may.
pub fn authorize(p: &Principal, op: Op) -> Result<(), Denied> {
    let writes = !matches!(
        op,
        Op::Read(_) | Op::List(_) | Op::ReadAudit | Op::ReadOAuth2
    );
    if writes && p.access == TokenAccess::ReadOnly {
        return Err(Denied("this token is read-only".into()));
    }
    if p.is_admin() {
        return Ok(());
    }
    let manager_of = |kind: EntryKind| match kind {
        EntryKind::Person => p.in_group(IDM_PEOPLE_ADMINS),
        EntryKind::Group => p.in_group(IDM_GROUP_ADMINS),
        EntryKind::ServiceAccount => p.in_group(IDM_SERVICE_ACCOUNT_ADMINS),
    };
    let reader = p.in_group(IDM_ACCOUNT_READ_PRIV)
        || p.in_group(IDM_PEOPLE_ADMINS)
        || p.in_group(IDM_GROUP_ADMINS)
        || p.in_group(IDM_SERVICE_ACCOUNT_ADMINS);
    let allowed = match op {
        Op::Read(t) => t.is_self || reader,
        Op::List(_) => reader,
        Op::Create(kind) => manager_of(kind),
        Op::Modify(t) | Op::Credential(t) | Op::Delete(t) => {
            if t.privileged || t.builtin {
                return Err(Denied(format!(
                    "changing a privileged or built-in {} needs {IDM_ADMINS}",
                    t.kind
                )));
            }
            manager_of(t.kind)
        }
        Op::Membership(t) => {
            if t.builtin {
                return Err(Denied(format!(
                    "changing the members of a built-in group needs {IDM_ADMINS}"
                )));
            }
            // A group nested into a privileged one passes those rights on to its members.
            if t.privileged {
                return Err(Denied(format!(
                    "changing the members of a group that holds write rights needs {IDM_ADMINS}"
                )));
            }
            p.in_group(IDM_GROUP_ADMINS)
        }
        Op::ReadOAuth2 | Op::ManageOAuth2 => p.in_group(IDM_OAUTH2_ADMINS),
        Op::ReadAudit | Op::System | Op::CredentialPolicy => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied("not permitted".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(groups: &[&str], access: TokenAccess) -> Principal {
        Principal {
            uuid: Uuid::from_u128(9),
            name: "p".into(),
            kind: EntryKind::Person,
            groups: groups.iter().map(|s| s.to_string()).collect(),
            access,
        }
    }

    fn person(privileged: bool, is_self: bool) -> TargetInfo {
        TargetInfo {
            kind: EntryKind::Person,
            privileged,
            builtin: false,
            is_self,
        }
    }

    #[test]
    fn default_deny() {
        let nobody = principal(&[], TokenAccess::ReadWrite);
        assert!(authorize(&nobody, Op::List(EntryKind::Person)).is_err());
        assert!(authorize(&nobody, Op::Create(EntryKind::Group)).is_err());
        assert!(authorize(&nobody, Op::Read(person(false, false))).is_err());
        assert!(authorize(&nobody, Op::Read(person(false, true))).is_ok());
        assert!(authorize(&nobody, Op::ReadAudit).is_err());
    }

    #[test]
    fn delegated_admins_cannot_escalate() {
        let pa = principal(&[IDM_PEOPLE_ADMINS], TokenAccess::ReadWrite);
        assert!(authorize(&pa, Op::Credential(person(false, false))).is_ok());
        assert!(authorize(&pa, Op::Credential(person(true, false))).is_err());
        assert!(authorize(&pa, Op::Create(EntryKind::Group)).is_err());
        let ga = principal(&[IDM_GROUP_ADMINS], TokenAccess::ReadWrite);
        let builtin_group = TargetInfo {
            kind: EntryKind::Group,
            privileged: false,
            builtin: true,
            is_self: false,
        };
        assert!(authorize(&ga, Op::Membership(builtin_group)).is_err());
        assert!(
            authorize(
                &ga,
                Op::Membership(TargetInfo {
                    builtin: false,
                    ..builtin_group
                })
            )
            .is_ok()
        );
        // A custom group nested into idm_admins is as good as idm_admins itself.
        let nested_admin_group = TargetInfo {
            privileged: true,
            builtin: false,
            ..builtin_group
        };
        assert!(authorize(&ga, Op::Membership(nested_admin_group)).is_err());
        let admin = principal(&[IDM_ADMINS], TokenAccess::ReadWrite);
        assert!(authorize(&admin, Op::Membership(nested_admin_group)).is_ok());
    }

    #[test]
    fn read_only_tokens_never_write() {
        let ro = principal(&[IDM_ADMINS], TokenAccess::ReadOnly);
        assert!(authorize(&ro, Op::List(EntryKind::Person)).is_ok());
        assert!(authorize(&ro, Op::Create(EntryKind::Person)).is_err());
        assert!(authorize(&ro, Op::System).is_err());
        let reader = principal(&[IDM_ACCOUNT_READ_PRIV], TokenAccess::ReadWrite);
        assert!(authorize(&reader, Op::Read(person(true, false))).is_ok());
        assert!(authorize(&reader, Op::Modify(person(false, false))).is_err());
    }
}
