//! OAuth2 client registrations: one transaction per change with its audit entry, like entries.

use chrono::{DateTime, Utc};
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_model::oauth2::OAuth2Client;
use idm_model::{Entry, EntryKind};
use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::read::Reader;
use crate::tables::{OAUTH2_CLIENT_NAMES, OAUTH2_CLIENTS};
use crate::{Store, audit};

impl Store {
    pub fn oauth2_clients(&self) -> Result<Vec<OAuth2Client>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(OAUTH2_CLIENTS)?;
        let mut out: Vec<OAuth2Client> = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// By client_id or UUID (see [`Reader::oauth2_client`]).
    pub fn oauth2_client(&self, id: &str) -> Result<Option<OAuth2Client>> {
        self.read()?.oauth2_client(id)
    }

    /// Creates (`create`) or replaces a client, with an audit entry saying `summary`.
    pub fn put_oauth2_client(
        &self,
        client: &OAuth2Client,
        create: bool,
        summary: &str,
        actor: &Actor,
        now: DateTime<Utc>,
        source: Option<String>,
    ) -> Result<u64> {
        let txn = self.db().begin_write()?;
        put_client(&txn, client, create)?;
        let seq = audit::append(
            &txn,
            event(
                now,
                actor,
                if create {
                    "oauth2.create"
                } else {
                    "oauth2.update"
                },
                client,
                summary,
                source,
            ),
        )?;
        txn.commit()?;
        self.bump_clients();
        Ok(seq)
    }

    pub fn delete_oauth2_client(
        &self,
        uuid: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
        source: Option<String>,
    ) -> Result<u64> {
        let txn = self.db().begin_write()?;
        let client: OAuth2Client = {
            let t = txn.open_table(OAUTH2_CLIENTS)?;
            let v = t.get(uuid.as_u128())?.ok_or_else(|| StoreError::NotFound {
                what: "OAuth2 client",
                key: uuid.to_string(),
            })?;
            serde_json::from_slice(v.value())?
        };
        txn.open_table(OAUTH2_CLIENTS)?.remove(uuid.as_u128())?;
        txn.open_table(OAUTH2_CLIENT_NAMES)?
            .remove(client.name.as_str())?;
        let seq = audit::append(
            &txn,
            event(now, actor, "oauth2.delete", &client, "deleted", source),
        )?;
        txn.commit()?;
        self.bump_clients();
        Ok(seq)
    }
}

fn event(
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    c: &OAuth2Client,
    summary: &str,
    source: Option<String>,
) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: actor.clone(),
        action: action.to_owned(),
        target: Some(Target {
            uuid: Some(c.uuid),
            name: c.name.clone(),
        }),
        outcome: Outcome::Success,
        summary: summary.to_owned(),
        source,
    }
}

/// Validates a client against the store (mapped groups and the service account exist) and
/// writes it with its name index.
pub(crate) fn put_client(txn: &WriteTransaction, c: &OAuth2Client, create: bool) -> Result<()> {
    c.validate()?;
    for g in c
        .scope_maps
        .keys()
        .chain(c.claim_maps.values().flat_map(|m| m.keys()))
    {
        match txn.entry(*g)? {
            Some(Entry::Group(_)) => {}
            _ => {
                return Err(StoreError::NotFound {
                    what: "group",
                    key: g.to_string(),
                });
            }
        }
    }
    if let Some(sa) = c.service_account
        && txn.entry(sa)?.map(|e| e.kind()) != Some(EntryKind::ServiceAccount)
    {
        return Err(StoreError::NotFound {
            what: "service account",
            key: sa.to_string(),
        });
    }
    let mut names = txn.open_table(OAUTH2_CLIENT_NAMES)?;
    let mut clients = txn.open_table(OAUTH2_CLIENTS)?;
    let existing: Option<OAuth2Client> = match clients.get(c.uuid.as_u128())? {
        Some(v) => Some(serde_json::from_slice(v.value())?),
        None => None,
    };
    match (&existing, create) {
        (Some(_), true) => {
            return Err(StoreError::Conflict(format!(
                "client uuid {} is taken",
                c.uuid
            )));
        }
        (None, false) => {
            return Err(StoreError::NotFound {
                what: "OAuth2 client",
                key: c.name.clone(),
            });
        }
        _ => {}
    }
    if let Some(other) = names.get(c.name.as_str())?
        && other.value() != c.uuid.as_u128()
    {
        return Err(StoreError::Conflict(format!(
            "an OAuth2 client named {:?} already exists",
            c.name
        )));
    }
    if let Some(old) = &existing
        && old.name != c.name
    {
        names.remove(old.name.as_str())?;
    }
    names.insert(c.name.as_str(), c.uuid.as_u128())?;
    let bytes = serde_json::to_vec(c)?;
    clients.insert(c.uuid.as_u128(), bytes.as_slice())?;
    Ok(())
}
