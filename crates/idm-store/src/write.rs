//! Applying a [`Change`] inside one write transaction: validation against the current state,
//! the record, every index, and the audit entry — all or nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use idm_model::access::{self, ADMIN_UUID};
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_model::change::Change;
use idm_model::export::check_entry;
use idm_model::posix::IdRange;
use idm_model::{Entry, EntryKind, PosixAccount, Tombstone, validate};
use redb::{ReadableTable, WriteTransaction};
use uuid::Uuid;

use crate::audit::append;
use crate::error::{Result, StoreError};
use crate::read::{Reader, kind_code};
use crate::record;
use crate::tables::*;

pub const DEFAULT_SHELL: &str = "/bin/bash";
pub const HOME_BASE: &str = "/home";

/// What a committed change produced.
#[derive(Debug, Clone)]
#[must_use]
pub struct Applied {
    /// The entry after the change (`None` after a delete).
    pub entry: Option<Entry>,
    /// The audit sequence number of the change.
    pub seq: u64,
}

pub(crate) fn apply(
    txn: &WriteTransaction,
    change: &Change,
    actor: &Actor,
    now: DateTime<Utc>,
    source: Option<String>,
    range: &IdRange,
) -> Result<Applied> {
    let target_uuid = change.target();
    let (entry, summary) = apply_inner(txn, change, actor, now, range)?;
    let target_name = match &entry {
        Some(e) => e.name().to_owned(),
        None => txn
            .tombstone(target_uuid)?
            .map(|t| t.name)
            .unwrap_or_else(|| target_uuid.to_string()),
    };
    let seq = append(
        txn,
        AuditEvent {
            at: now,
            actor: actor.clone(),
            action: change.action().to_owned(),
            target: Some(Target {
                uuid: Some(target_uuid),
                name: target_name,
            }),
            outcome: Outcome::Success,
            summary,
            source,
        },
    )?;
    Ok(Applied { entry, seq })
}

fn apply_inner(
    txn: &WriteTransaction,
    change: &Change,
    actor: &Actor,
    now: DateTime<Utc>,
    range: &IdRange,
) -> Result<(Option<Entry>, String)> {
    match change {
        Change::CreatePerson(p) => {
            let mut e = Entry::Person(p.clone());
            create(txn, &mut e, now)?;
            Ok((Some(e), format!("created person {}", p.name)))
        }
        Change::CreateServiceAccount(s) => {
            let mut e = Entry::ServiceAccount(s.clone());
            create(txn, &mut e, now)?;
            Ok((Some(e), format!("created service account {}", s.name)))
        }
        Change::CreateGroup(g) => {
            let mut e = Entry::Group(g.clone());
            create(txn, &mut e, now)?;
            Ok((Some(e), format!("created group {}", g.name)))
        }
        Change::UpdatePerson { uuid, patch } => {
            let patch = patch.normalised()?;
            let old = txn.require(*uuid)?;
            let Entry::Person(mut p) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::Person));
            };
            if patch.name.as_ref().is_some_and(|n| *n != p.name) && access::is_builtin_uuid(*uuid) {
                return Err(StoreError::Refused(
                    "built-in entries cannot be renamed".into(),
                ));
            }
            patch.apply(&mut p);
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("updated {}", patch.fields().join(", "))))
        }
        Change::UpdateServiceAccount { uuid, patch } => {
            let old = txn.require(*uuid)?;
            let Entry::ServiceAccount(mut s) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::ServiceAccount));
            };
            let mut fields = Vec::new();
            if let Some(d) = &patch.display_name {
                s.display_name = validate::display_name(d)?;
                fields.push("display_name");
            }
            if let Some(d) = &patch.description {
                s.description = d
                    .as_deref()
                    .map(|d| validate::text("description", d, validate::DESCRIPTION_MAX))
                    .transpose()?;
                fields.push("description");
            }
            if let Some(x) = patch.expire_at {
                s.expire_at = x;
                fields.push("expire_at");
            }
            let new = replace(txn, &old, Entry::ServiceAccount(s), now)?;
            Ok((Some(new), format!("updated {}", fields.join(", "))))
        }
        Change::UpdateGroup { uuid, description } => {
            let old = txn.require(*uuid)?;
            let Entry::Group(mut g) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::Group));
            };
            g.description = description
                .as_deref()
                .map(|d| validate::text("description", d, validate::DESCRIPTION_MAX))
                .transpose()?;
            let new = replace(txn, &old, Entry::Group(g), now)?;
            Ok((Some(new), "updated description".into()))
        }
        Change::SetPassword {
            uuid,
            credential,
            reason,
        } => {
            let old = txn.require(*uuid)?;
            let Entry::Person(mut p) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::Person));
            };
            p.credentials.password = Some(credential.clone());
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("password set ({reason})")))
        }
        Change::SetPosix { uuid, patch } => {
            let patch = patch.normalised()?;
            let old = txn.require(*uuid)?;
            let (new, summary) = set_posix(txn, &old, &patch, range)?;
            let new = replace(txn, &old, new, now)?;
            retire_dropped_ids(txn, &old, &new)?;
            Ok((Some(new), summary))
        }
        Change::AddSshKey { uuid, label, key } => {
            let old = txn.require(*uuid)?;
            let Entry::Person(mut p) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::Person));
            };
            let label = validate::label("label", label)?;
            if p.ssh_keys.contains_key(&label) {
                return Err(StoreError::Conflict(format!(
                    "{} already has an SSH key labelled {label:?}",
                    p.name
                )));
            }
            if p.ssh_keys.values().any(|k| same_key(k, key)) {
                return Err(StoreError::Conflict(format!(
                    "{} already has this SSH key",
                    p.name
                )));
            }
            if p.ssh_keys.len() >= validate::SSH_KEYS_MAX {
                return Err(StoreError::Refused(format!(
                    "at most {} SSH keys per person",
                    validate::SSH_KEYS_MAX
                )));
            }
            p.ssh_keys.insert(label.clone(), key.clone());
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("added SSH key {label:?}")))
        }
        Change::RemoveSshKey { uuid, label } => {
            let old = txn.require(*uuid)?;
            let Entry::Person(mut p) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::Person));
            };
            if p.ssh_keys.remove(label).is_none() {
                return Err(StoreError::NotFound {
                    what: "SSH key",
                    key: label.clone(),
                });
            }
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("removed SSH key {label:?}")))
        }
        Change::Lock { uuid, reason } => {
            let reason = validate::text("reason", reason, validate::DESCRIPTION_MAX)?;
            let old = txn.require(*uuid)?;
            let lock = idm_model::Lock {
                reason: reason.clone(),
                actor: actor.name.clone(),
                at: now,
            };
            let mut new = old.clone();
            match &mut new {
                Entry::Person(p) => p.lock = Some(lock),
                Entry::ServiceAccount(s) => s.lock = Some(lock),
                Entry::Group(_) => return Err(wrong_kind(*uuid, EntryKind::Person)),
            }
            let new = replace(txn, &old, new, now)?;
            Ok((Some(new), format!("locked: {reason}")))
        }
        Change::Unlock { uuid } => {
            let old = txn.require(*uuid)?;
            let mut new = old.clone();
            match &mut new {
                Entry::Person(p) => p.lock = None,
                Entry::ServiceAccount(s) => s.lock = None,
                Entry::Group(_) => return Err(wrong_kind(*uuid, EntryKind::Person)),
            }
            let new = replace(txn, &old, new, now)?;
            // Unlocking also forgives recent password failures (the soft lockout).
            txn.open_table(AUTH_STATE)?.remove(uuid.as_u128())?;
            Ok((Some(new), "unlocked; failure count cleared".into()))
        }
        Change::AddApiToken { uuid, token } => {
            let old = txn.require(*uuid)?;
            let Entry::ServiceAccount(mut s) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::ServiceAccount));
            };
            let label = validate::label("label", &token.label)?;
            if s.api_tokens.len() >= validate::API_TOKENS_MAX {
                return Err(StoreError::Refused(format!(
                    "at most {} API tokens per service account",
                    validate::API_TOKENS_MAX
                )));
            }
            if token.digest.len() != 64 {
                return Err(StoreError::Refused(
                    "token digest must be SHA-256 hex".into(),
                ));
            }
            s.api_tokens.push(idm_model::ApiToken {
                label: label.clone(),
                ..token.clone()
            });
            let new = replace(txn, &old, Entry::ServiceAccount(s), now)?;
            Ok((
                Some(new),
                format!(
                    "generated {} token {} ({label})",
                    match token.access {
                        idm_model::TokenAccess::ReadOnly => "read-only",
                        idm_model::TokenAccess::ReadWrite => "read-write",
                    },
                    token.id
                ),
            ))
        }
        Change::RemoveApiToken { uuid, id } => {
            let old = txn.require(*uuid)?;
            let Entry::ServiceAccount(mut s) = old.clone() else {
                return Err(wrong_kind(*uuid, EntryKind::ServiceAccount));
            };
            let before = s.api_tokens.len();
            s.api_tokens.retain(|t| t.id != *id);
            if s.api_tokens.len() == before {
                return Err(StoreError::NotFound {
                    what: "API token",
                    key: id.to_string(),
                });
            }
            let new = replace(txn, &old, Entry::ServiceAccount(s), now)?;
            Ok((Some(new), format!("destroyed token {id}")))
        }
        Change::AddMembers { group, members } | Change::RemoveMembers { group, members } => {
            let adding = matches!(change, Change::AddMembers { .. });
            if members.len() > validate::MEMBERS_PER_CHANGE_MAX {
                return Err(StoreError::Refused(format!(
                    "at most {} members per change",
                    validate::MEMBERS_PER_CHANGE_MAX
                )));
            }
            let old = txn.require(*group)?;
            let Entry::Group(mut g) = old.clone() else {
                return Err(wrong_kind(*group, EntryKind::Group));
            };
            let mut names = Vec::new();
            for m in members {
                let me = txn.require(*m)?;
                names.push(me.name().to_owned());
                if adding {
                    g.members.insert(*m);
                } else {
                    if *group == access::BUILTIN_GROUPS[0].uuid && *m == ADMIN_UUID {
                        return Err(StoreError::Refused(
                            "the break-glass account admin stays in idm_admins".into(),
                        ));
                    }
                    g.members.remove(m);
                }
            }
            let new = replace(txn, &old, Entry::Group(g), now)?;
            let verb = if adding { "added" } else { "removed" };
            Ok((Some(new), format!("{verb} members {}", names.join(", "))))
        }
        Change::Delete { uuid } => {
            if access::is_builtin_uuid(*uuid) {
                return Err(StoreError::Refused(
                    "built-in entries cannot be deleted".into(),
                ));
            }
            let old = txn.require(*uuid)?;
            delete(txn, &old, now)?;
            Ok((None, format!("deleted {} {}", old.kind(), old.name())))
        }
        Change::SetTotp {
            uuid,
            credential,
            replace: replacing,
        } => {
            let (old, mut p) = person(txn, *uuid)?;
            let label = credential.label.clone();
            let at = p
                .credentials
                .totp
                .iter()
                .position(|t| same(&t.label, &label));
            match (at, replacing) {
                (Some(i), true) => p.credentials.totp[i] = credential.clone(),
                (Some(_), false) => {
                    return Err(StoreError::Conflict(format!(
                        "{} already has an authenticator labelled {label:?}",
                        p.name
                    )));
                }
                (None, _) => p.credentials.totp.push(credential.clone()),
            }
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("TOTP authenticator {label:?} set")))
        }
        Change::RemoveTotp { uuid, label } => {
            let (old, mut p) = person(txn, *uuid)?;
            let before = p.credentials.totp.len();
            p.credentials.totp.retain(|t| !same(&t.label, label));
            if p.credentials.totp.len() == before {
                return Err(StoreError::NotFound {
                    what: "TOTP authenticator",
                    key: label.clone(),
                });
            }
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("TOTP authenticator {label:?} removed")))
        }
        Change::SetWebauthn {
            uuid,
            credential,
            replace: replacing,
        } => {
            let (old, mut p) = person(txn, *uuid)?;
            let label = credential.label.clone();
            let at = p
                .credentials
                .webauthn
                .iter()
                .position(|w| same(&w.label, &label));
            match (at, replacing) {
                (Some(i), true) => p.credentials.webauthn[i] = credential.clone(),
                (Some(_), false) => {
                    return Err(StoreError::Conflict(format!(
                        "{} already has a passkey or security key labelled {label:?}",
                        p.name
                    )));
                }
                (None, _) => p.credentials.webauthn.push(credential.clone()),
            }
            let kind = match credential.kind {
                idm_model::credential::WebauthnKind::Passkey => "passkey",
                idm_model::credential::WebauthnKind::SecurityKey => "security key",
            };
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("{kind} {label:?} registered")))
        }
        Change::RemoveWebauthn { uuid, label } => {
            let (old, mut p) = person(txn, *uuid)?;
            let before = p.credentials.webauthn.len();
            p.credentials.webauthn.retain(|w| !same(&w.label, label));
            if p.credentials.webauthn.len() == before {
                return Err(StoreError::NotFound {
                    what: "passkey or security key",
                    key: label.clone(),
                });
            }
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((Some(new), format!("WebAuthn credential {label:?} removed")))
        }
        Change::RenameWebauthn {
            uuid,
            label,
            new_label,
        } => {
            let (old, mut p) = person(txn, *uuid)?;
            if !same(label, new_label)
                && p.credentials
                    .webauthn
                    .iter()
                    .any(|w| same(&w.label, new_label))
            {
                return Err(StoreError::Conflict(format!(
                    "{} already has a passkey or security key labelled {new_label:?}",
                    p.name
                )));
            }
            let Some(w) = p
                .credentials
                .webauthn
                .iter_mut()
                .find(|w| same(&w.label, label))
            else {
                return Err(StoreError::NotFound {
                    what: "passkey or security key",
                    key: label.clone(),
                });
            };
            w.label = new_label.clone();
            let new = replace(txn, &old, Entry::Person(p), now)?;
            Ok((
                Some(new),
                format!("WebAuthn credential {label:?} renamed to {new_label:?}"),
            ))
        }
        Change::SetBackupCodes { uuid, codes } => {
            let (old, mut p) = person(txn, *uuid)?;
            p.credentials.backup_codes = codes.clone();
            let new = replace(txn, &old, Entry::Person(p), now)?;
            let summary = match codes {
                Some(c) => format!("{} backup codes generated", c.digests.len()),
                None => "backup codes removed".to_owned(),
            };
            Ok((Some(new), summary))
        }
        Change::RecordCredentialUse {
            uuid,
            totp,
            webauthn,
            backup_codes,
        } => {
            let (_, mut p) = person(txn, *uuid)?;
            let mut used = Vec::new();
            if let Some((label, step)) = totp {
                let Some(t) = p
                    .credentials
                    .totp
                    .iter_mut()
                    .find(|t| same(&t.label, label))
                else {
                    return Err(StoreError::NotFound {
                        what: "TOTP authenticator",
                        key: label.clone(),
                    });
                };
                // Steps only move forward, whatever order concurrent logins commit in.
                t.last_step = Some(t.last_step.map_or(*step, |s| s.max(*step)));
                used.push(format!("TOTP {label:?}"));
            }
            if let Some(w) = webauthn {
                let Some(slot) = p
                    .credentials
                    .webauthn
                    .iter_mut()
                    .find(|x| x.credential_id == w.credential_id)
                else {
                    return Err(StoreError::NotFound {
                        what: "passkey or security key",
                        key: w.label.clone(),
                    });
                };
                slot.state = w.state.clone();
                slot.last_used = w.last_used;
                used.push(format!("WebAuthn {:?}", slot.label));
            }
            if let Some(b) = backup_codes {
                p.credentials.backup_codes = Some(b.clone());
                used.push(format!("backup code ({} left)", b.digests.len()));
            }
            let new = Entry::Person(p);
            check_entry(&new)?;
            write_record(txn, &new)?;
            Ok((Some(new), format!("used {}", used.join(", "))))
        }
        Change::SetCredentialPolicy { group, policy } => {
            let old = txn.require(*group)?;
            let Entry::Group(mut g) = old.clone() else {
                return Err(wrong_kind(*group, EntryKind::Group));
            };
            g.credential_policy = policy.clone();
            let new = replace(txn, &old, Entry::Group(g), now)?;
            let summary = match policy {
                Some(p) => format!("credential policy set: minimum {}", p.min_class.as_str()),
                None => "credential policy removed".to_owned(),
            };
            Ok((Some(new), summary))
        }
    }
}

/// Labels compare case-insensitively, as people type them.
fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

fn person(txn: &WriteTransaction, uuid: Uuid) -> Result<(Entry, idm_model::Person)> {
    let old = txn.require(uuid)?;
    match old.clone() {
        Entry::Person(p) => Ok((old, p)),
        _ => Err(wrong_kind(uuid, EntryKind::Person)),
    }
}

fn wrong_kind(uuid: Uuid, want: EntryKind) -> StoreError {
    StoreError::NotFound {
        what: match want {
            EntryKind::Person => "person",
            EntryKind::ServiceAccount => "service account",
            EntryKind::Group => "group",
        },
        key: uuid.to_string(),
    }
}

/// Two OpenSSH lines hold the same key when type and key material match (comments may differ).
fn same_key(a: &str, b: &str) -> bool {
    fn key(s: &str) -> Vec<&str> {
        s.split_whitespace().take(2).collect()
    }
    key(a) == key(b)
}

fn set_posix(
    txn: &WriteTransaction,
    old: &Entry,
    patch: &idm_model::change::PosixPatch,
    range: &IdRange,
) -> Result<(Entry, String)> {
    let mut new = old.clone();
    match &mut new {
        Entry::Person(p) => {
            let id = match (patch.gid_number, &p.posix) {
                (Some(n), Some(x)) if n == x.gid_number => n,
                (Some(n), _) => claim_explicit(txn, n, p.uuid)?,
                (None, Some(x)) => x.gid_number,
                (None, None) => allocate(txn, range)?,
            };
            let (uid, shell, home) = match &p.posix {
                Some(x) => (
                    if patch.gid_number.is_some() {
                        id
                    } else {
                        x.uid_number
                    },
                    x.login_shell.clone(),
                    x.home_directory.clone(),
                ),
                None => (
                    id,
                    DEFAULT_SHELL.to_owned(),
                    format!("{HOME_BASE}/{}", p.name),
                ),
            };
            let posix = PosixAccount {
                uid_number: uid,
                gid_number: id,
                login_shell: patch.login_shell.clone().unwrap_or(shell),
                home_directory: patch.home_directory.clone().unwrap_or(home),
            };
            let summary = format!(
                "POSIX uidNumber {} gidNumber {} shell {} home {}",
                posix.uid_number, posix.gid_number, posix.login_shell, posix.home_directory
            );
            p.posix = Some(posix);
            Ok((new, summary))
        }
        Entry::Group(g) => {
            if patch.login_shell.is_some() || patch.home_directory.is_some() {
                return Err(StoreError::Model(idm_model::ModelError::invalid(
                    "posix",
                    "groups have no shell or home directory",
                )));
            }
            let id = match (patch.gid_number, g.gid_number) {
                (Some(n), Some(cur)) if n == cur => n,
                (Some(n), _) => claim_explicit(txn, n, g.uuid)?,
                (None, Some(cur)) => cur,
                (None, None) => allocate(txn, range)?,
            };
            g.gid_number = Some(id);
            Ok((new, format!("POSIX gidNumber {id}")))
        }
        Entry::ServiceAccount(_) => Err(wrong_kind(old.uuid(), EntryKind::Person)),
    }
}

fn claim_explicit(txn: &WriteTransaction, id: u32, owner: Uuid) -> Result<u32> {
    if let Some(o) = txn.uuid_by_posix_id(id)?
        && o != owner
    {
        return Err(StoreError::Conflict(format!(
            "POSIX id {id} is already in use"
        )));
    }
    if txn.open_table(RETIRED_POSIX_IDS)?.get(id)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "POSIX id {id} belonged to a deleted entry and is never reused"
        )));
    }
    Ok(id)
}

fn allocate(txn: &WriteTransaction, range: &IdRange) -> Result<u32> {
    let counter = crate::meta_u32(txn, META_POSIX_NEXT)?.unwrap_or(range.first);
    let mut taken_err = None;
    let (id, next) = range.allocate(counter, |id| match txn.posix_id_ever_used(id) {
        Ok(t) => t,
        Err(e) => {
            taken_err = Some(e);
            true
        }
    })?;
    if let Some(e) = taken_err {
        return Err(e);
    }
    txn.open_table(META)?
        .insert(META_POSIX_NEXT, next.to_le_bytes().as_slice())?;
    Ok(id)
}

/// Ids an entry no longer holds after a POSIX change are retired, never handed out again.
fn retire_dropped_ids(txn: &WriteTransaction, old: &Entry, new: &Entry) -> Result<()> {
    let kept = new.posix_ids();
    let mut retired = txn.open_table(RETIRED_POSIX_IDS)?;
    for id in old.posix_ids() {
        if !kept.contains(&id) {
            retired.insert(id, old.uuid().as_u128())?;
        }
    }
    Ok(())
}

/// Inserts a new entry with every index; refuses a reused UUID or a taken name, mail or id.
pub(crate) fn create(txn: &WriteTransaction, e: &mut Entry, now: DateTime<Utc>) -> Result<()> {
    check_entry(e)?;
    if txn.entry(e.uuid())?.is_some() || txn.tombstone(e.uuid())?.is_some() {
        return Err(StoreError::Conflict(format!("uuid {} is taken", e.uuid())));
    }
    e.set_modified_at(now);
    let members = match e {
        Entry::Group(g) => std::mem::take(&mut g.members),
        _ => BTreeSet::new(),
    };
    index_add(txn, e)?;
    write_record(txn, e)?;
    if !members.is_empty() {
        let old = e.clone();
        if let Entry::Group(g) = e {
            g.members = members;
        }
        set_members(txn, &old, e)?;
        write_record(txn, e)?;
    }
    Ok(())
}

/// Replaces an entry, moving every index that changed.
pub(crate) fn replace(
    txn: &WriteTransaction,
    old: &Entry,
    mut new: Entry,
    now: DateTime<Utc>,
) -> Result<Entry> {
    check_entry(&new)?;
    new.set_modified_at(now);
    index_remove(txn, old)?;
    index_add(txn, &new)?;
    set_members(txn, old, &new)?;
    write_record(txn, &new)?;
    Ok(new)
}

pub(crate) fn write_record(txn: &WriteTransaction, e: &Entry) -> Result<()> {
    let bytes = record::encode_entry(e)?;
    txn.open_table(ENTRIES)?
        .insert(e.uuid().as_u128(), bytes.as_slice())?;
    Ok(())
}

fn index_add(txn: &WriteTransaction, e: &Entry) -> Result<()> {
    let u = e.uuid().as_u128();
    {
        let mut names = txn.open_table(NAMES)?;
        if let Some(other) = names.get(e.name())?
            && other.value() != u
        {
            return Err(StoreError::Conflict(format!(
                "the name {:?} is already taken",
                e.name()
            )));
        }
        names.insert(e.name(), u)?;
    }
    {
        let mut mails = txn.open_table(MAILS)?;
        for m in e.mails() {
            let key = validate::mail_key(m);
            if let Some(other) = mails.get(key.as_str())?
                && other.value() != u
            {
                return Err(StoreError::Conflict(format!(
                    "the mail address {m:?} is already in use"
                )));
            }
            mails.insert(key.as_str(), u)?;
        }
    }
    {
        let retired = txn.open_table(RETIRED_POSIX_IDS)?;
        let mut ids = txn.open_table(POSIX_IDS)?;
        for id in e.posix_ids() {
            if let Some(other) = ids.get(id)?
                && other.value() != u
            {
                return Err(StoreError::Conflict(format!(
                    "POSIX id {id} is already in use"
                )));
            }
            if retired.get(id)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "POSIX id {id} belonged to a deleted entry and is never reused"
                )));
            }
            ids.insert(id, u)?;
        }
    }
    txn.open_table(KINDS)?
        .insert((kind_code(e.kind()), u), ())?;
    if let Entry::ServiceAccount(s) = e {
        let mut t = txn.open_table(API_TOKEN_IDS)?;
        for tok in &s.api_tokens {
            t.insert(tok.id.as_u128(), u)?;
        }
    }
    Ok(())
}

fn index_remove(txn: &WriteTransaction, e: &Entry) -> Result<()> {
    txn.open_table(NAMES)?.remove(e.name())?;
    {
        let mut mails = txn.open_table(MAILS)?;
        for m in e.mails() {
            mails.remove(validate::mail_key(m).as_str())?;
        }
    }
    {
        let mut ids = txn.open_table(POSIX_IDS)?;
        for id in e.posix_ids() {
            ids.remove(id)?;
        }
    }
    txn.open_table(KINDS)?
        .remove((kind_code(e.kind()), e.uuid().as_u128()))?;
    if let Entry::ServiceAccount(s) = e {
        let mut t = txn.open_table(API_TOKEN_IDS)?;
        for tok in &s.api_tokens {
            t.remove(tok.id.as_u128())?;
        }
    }
    Ok(())
}

/// Moves the membership indexes from `old`'s members to `new`'s, refusing cycles, and rebuilds
/// the transitive `memberOf` of everything below the changed edges.
fn set_members(txn: &WriteTransaction, old: &Entry, new: &Entry) -> Result<()> {
    let (Entry::Group(og), Entry::Group(ng)) = (old, new) else {
        return Ok(());
    };
    if og.members == ng.members {
        return Ok(());
    }
    let g = ng.uuid;
    let added: Vec<Uuid> = ng.members.difference(&og.members).copied().collect();
    let removed: Vec<Uuid> = og.members.difference(&ng.members).copied().collect();
    if !added.is_empty() {
        let ancestors: BTreeSet<Uuid> = txn.member_of_transitive(g)?.into_iter().collect();
        for m in &added {
            let me = txn.require(*m)?;
            if *m == g || (me.kind() == EntryKind::Group && ancestors.contains(m)) {
                return Err(StoreError::Conflict(format!(
                    "adding group {:?} to {:?} would make a cycle",
                    me.name(),
                    ng.name
                )));
            }
        }
    }
    {
        let mut members = txn.open_multimap_table(MEMBERS)?;
        let mut member_of = txn.open_multimap_table(MEMBER_OF)?;
        for m in &added {
            members.insert(g.as_u128(), m.as_u128())?;
            member_of.insert(m.as_u128(), g.as_u128())?;
        }
        for m in &removed {
            members.remove(g.as_u128(), m.as_u128())?;
            member_of.remove(m.as_u128(), g.as_u128())?;
        }
    }
    let mut affected: BTreeSet<Uuid> = BTreeSet::new();
    for m in added.iter().chain(removed.iter()) {
        affected.insert(*m);
        affected.extend(txn.members_transitive(*m)?);
    }
    for a in affected {
        rebuild_transitive(txn, a)?;
    }
    Ok(())
}

pub(crate) fn rebuild_transitive(txn: &WriteTransaction, uuid: Uuid) -> Result<()> {
    let closure = txn.closure(uuid)?;
    let mut t = txn.open_multimap_table(MEMBER_OF_TRANSITIVE)?;
    t.remove_all(uuid.as_u128())?;
    for g in closure {
        t.insert(uuid.as_u128(), g.as_u128())?;
    }
    Ok(())
}

/// Removes an entry everywhere and leaves a tombstone; its POSIX ids are retired.
fn delete(txn: &WriteTransaction, e: &Entry, now: DateTime<Utc>) -> Result<()> {
    // Out of every group it is in: the parent groups' member lists are rewritten.
    for parent in txn.member_of(e.uuid())? {
        let old = txn.require(parent)?;
        let mut new = old.clone();
        if let Entry::Group(g) = &mut new {
            g.members.remove(&e.uuid());
        }
        replace(txn, &old, new, now)?;
    }
    // A group lets go of its members, and OAuth2 scope and claim maps forget it.
    if let Entry::Group(g) = e {
        let mut empty = g.clone();
        empty.members.clear();
        set_members(txn, e, &Entry::Group(empty))?;
        forget_group_in_clients(txn, g.uuid)?;
    }
    index_remove(txn, e)?;
    txn.open_multimap_table(MEMBER_OF_TRANSITIVE)?
        .remove_all(e.uuid().as_u128())?;
    txn.open_table(ENTRIES)?.remove(e.uuid().as_u128())?;
    txn.open_table(AUTH_STATE)?.remove(e.uuid().as_u128())?;
    let posix_ids = e.posix_ids();
    {
        let mut retired = txn.open_table(RETIRED_POSIX_IDS)?;
        for id in &posix_ids {
            retired.insert(*id, e.uuid().as_u128())?;
        }
    }
    let t = Tombstone {
        uuid: e.uuid(),
        kind: e.kind(),
        name: e.name().to_owned(),
        posix_ids,
        deleted_at: now,
    };
    let bytes = serde_json::to_vec(&t)?;
    txn.open_table(TOMBSTONES)?
        .insert(e.uuid().as_u128(), bytes.as_slice())?;
    Ok(())
}

fn forget_group_in_clients(txn: &WriteTransaction, group: Uuid) -> Result<()> {
    let mut t = txn.open_table(OAUTH2_CLIENTS)?;
    let mut changed = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        let mut c: idm_model::oauth2::OAuth2Client = serde_json::from_slice(v.value())?;
        let before = (
            c.scope_maps.len(),
            c.claim_maps.values().map(|m| m.len()).sum::<usize>(),
        );
        c.scope_maps.remove(&group);
        for m in c.claim_maps.values_mut() {
            m.remove(&group);
        }
        // A claim mapped for no group is gone, as when its last map is deleted by hand.
        c.claim_maps.retain(|_, m| !m.is_empty());
        let after = (
            c.scope_maps.len(),
            c.claim_maps.values().map(|m| m.len()).sum::<usize>(),
        );
        if before != after {
            changed.push((k.value(), serde_json::to_vec(&c)?));
        }
    }
    for (k, bytes) in changed {
        t.insert(k, bytes.as_slice())?;
    }
    Ok(())
}
