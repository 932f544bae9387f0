//! Turning stored entries into API views: secrets dropped, references named.

use idm_model::api::{
    ApiTokenView, EntryRef, GroupView, PersonView, ServiceAccountView, SshKeyView,
};
use idm_model::{Entry, Group, Person, ServiceAccount, access};
use idm_ssh::{KeyPolicy, SshPublicKey};
use idm_store::{Reader, Store};
use uuid::Uuid;

use crate::error::AppError;

fn refs<R: Reader>(txn: &R, uuids: Vec<Uuid>) -> Result<Vec<EntryRef>, AppError> {
    let mut out = Vec::with_capacity(uuids.len());
    for u in uuids {
        if let Some(e) = txn.entry(u)? {
            out.push(EntryRef {
                uuid: u,
                name: e.name().to_owned(),
                kind: e.kind(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub fn ssh_key_view(label: &str, line: &str) -> SshKeyView {
    // Keys were validated on the way in; a key the current policy would refuse still shows.
    let lenient = KeyPolicy { min_rsa_bits: 1024 };
    match SshPublicKey::parse(line, &lenient) {
        Ok(k) => SshKeyView {
            label: label.to_owned(),
            algorithm: k.algorithm().to_owned(),
            fingerprint: k.fingerprint(),
            comment: k.comment().map(str::to_owned),
            key: k.to_openssh(),
        },
        Err(_) => SshKeyView {
            label: label.to_owned(),
            algorithm: "unknown".into(),
            fingerprint: String::new(),
            comment: None,
            key: line.to_owned(),
        },
    }
}

pub fn person<R: Reader>(txn: &R, p: Person) -> Result<PersonView, AppError> {
    let groups = refs(txn, txn.member_of(p.uuid)?)?;
    let groups_transitive = refs(txn, txn.member_of_transitive(p.uuid)?)?;
    Ok(PersonView {
        ssh_keys: p.ssh_keys.iter().map(|(l, k)| ssh_key_view(l, k)).collect(),
        password_set: p.credentials.password.is_some(),
        uuid: p.uuid,
        name: p.name,
        display_name: p.display_name,
        legal_name: p.legal_name,
        mails: p.mails,
        valid_from: p.valid_from,
        expire_at: p.expire_at,
        lock: p.lock,
        posix: p.posix,
        groups,
        groups_transitive,
        created_at: p.created_at,
        modified_at: p.modified_at,
    })
}

pub fn group<R: Reader>(txn: &R, g: Group) -> Result<GroupView, AppError> {
    Ok(GroupView {
        members: refs(txn, g.members.iter().copied().collect())?,
        groups: refs(txn, txn.member_of(g.uuid)?)?,
        builtin: access::is_builtin_uuid(g.uuid),
        uuid: g.uuid,
        name: g.name,
        description: g.description,
        gid_number: g.gid_number,
        credential_policy: g.credential_policy,
        created_at: g.created_at,
        modified_at: g.modified_at,
    })
}

pub fn token_view(t: &idm_model::ApiToken) -> ApiTokenView {
    ApiTokenView {
        id: t.id,
        label: t.label.clone(),
        created_at: t.created_at,
        expire_at: t.expire_at,
        access: t.access,
    }
}

pub fn service_account<R: Reader>(
    txn: &R,
    s: ServiceAccount,
) -> Result<ServiceAccountView, AppError> {
    Ok(ServiceAccountView {
        api_tokens: s.api_tokens.iter().map(token_view).collect(),
        groups: refs(txn, txn.member_of(s.uuid)?)?,
        groups_transitive: refs(txn, txn.member_of_transitive(s.uuid)?)?,
        uuid: s.uuid,
        name: s.name,
        display_name: s.display_name,
        description: s.description,
        expire_at: s.expire_at,
        lock: s.lock,
        created_at: s.created_at,
        modified_at: s.modified_at,
    })
}

/// Any entry as its view, from one consistent read.
pub fn any(store: &Store, e: Entry) -> Result<serde_json::Value, AppError> {
    let txn = store.read()?;
    let v = match e {
        Entry::Person(p) => serde_json::to_value(person(&txn, p)?),
        Entry::Group(g) => serde_json::to_value(group(&txn, g)?),
        Entry::ServiceAccount(s) => serde_json::to_value(service_account(&txn, s)?),
    };
    v.map_err(|e| AppError::Internal(e.to_string()))
}
