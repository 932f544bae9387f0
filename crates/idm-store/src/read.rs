//! Queries that run the same inside a read or a write transaction.

use std::collections::BTreeSet;

use idm_model::oauth2::OAuth2Client;
use idm_model::{Entry, EntryKind, Tombstone};
use redb::{
    MultimapTableDefinition, ReadTransaction, ReadableMultimapTable, ReadableTable,
    WriteTransaction,
};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::record;
use crate::tables::*;

pub(crate) fn kind_code(k: EntryKind) -> u8 {
    match k {
        EntryKind::Person => 1,
        EntryKind::ServiceAccount => 2,
        EntryKind::Group => 3,
    }
}

/// Lookups shared by read and write transactions, so a write validates against exactly what a
/// read would see.
pub trait Reader {
    fn entry(&self, uuid: Uuid) -> Result<Option<Entry>>;
    fn uuid_by_name(&self, name: &str) -> Result<Option<Uuid>>;
    fn uuid_by_mail(&self, mail_key: &str) -> Result<Option<Uuid>>;
    fn uuid_by_posix_id(&self, id: u32) -> Result<Option<Uuid>>;
    fn posix_id_ever_used(&self, id: u32) -> Result<bool>;
    fn multimap(&self, def: MultimapTableDefinition<u128, u128>, key: Uuid) -> Result<Vec<Uuid>>;
    fn uuids_of_kind(&self, kind: EntryKind) -> Result<Vec<Uuid>>;
    fn tombstone(&self, uuid: Uuid) -> Result<Option<Tombstone>>;
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// An OAuth2 client by `client_id` or UUID.
    fn oauth2_client(&self, id: &str) -> Result<Option<OAuth2Client>>;

    /// Groups the entry is directly in.
    fn member_of(&self, uuid: Uuid) -> Result<Vec<Uuid>> {
        self.multimap(MEMBER_OF, uuid)
    }

    /// Every group the entry is in, nesting included (read from the maintained index).
    fn member_of_transitive(&self, uuid: Uuid) -> Result<Vec<Uuid>> {
        self.multimap(MEMBER_OF_TRANSITIVE, uuid)
    }

    fn members(&self, group: Uuid) -> Result<Vec<Uuid>> {
        self.multimap(MEMBERS, group)
    }

    /// The transitive closure of `uuid`'s direct memberships, walked from the direct index
    /// (used to rebuild and to verify the transitive index).
    fn closure(&self, uuid: Uuid) -> Result<BTreeSet<Uuid>> {
        let mut out = BTreeSet::new();
        let mut todo = self.member_of(uuid)?;
        while let Some(g) = todo.pop() {
            if out.insert(g) {
                todo.extend(self.member_of(g)?);
            }
        }
        Ok(out)
    }

    /// Every entry below a group, nesting included.
    fn members_transitive(&self, group: Uuid) -> Result<BTreeSet<Uuid>> {
        let mut out = BTreeSet::new();
        let mut todo = self.members(group)?;
        while let Some(m) = todo.pop() {
            if out.insert(m) {
                todo.extend(self.members(m)?);
            }
        }
        Ok(out)
    }

    fn entry_by_name(&self, name: &str) -> Result<Option<Entry>> {
        match self.uuid_by_name(name)? {
            Some(u) => self.entry(u),
            None => Ok(None),
        }
    }

    /// An entry by name or by UUID (the API accepts both wherever it names an entry).
    fn resolve(&self, id: &str) -> Result<Option<Entry>> {
        if let Some(e) = self.entry_by_name(id)? {
            return Ok(Some(e));
        }
        match Uuid::try_parse(id) {
            Ok(u) => self.entry(u),
            Err(_) => Ok(None),
        }
    }

    fn require(&self, uuid: Uuid) -> Result<Entry> {
        self.entry(uuid)?
            .ok_or_else(|| StoreError::not_found("entry", uuid))
    }
}

macro_rules! impl_reader {
    ($t:ty) => {
        impl Reader for $t {
            fn entry(&self, uuid: Uuid) -> Result<Option<Entry>> {
                let t = self.open_table(ENTRIES)?;
                match t.get(uuid.as_u128())? {
                    Some(v) => Ok(Some(record::decode_entry(v.value())?)),
                    None => Ok(None),
                }
            }

            fn uuid_by_name(&self, name: &str) -> Result<Option<Uuid>> {
                let t = self.open_table(NAMES)?;
                Ok(t.get(name)?.map(|v| Uuid::from_u128(v.value())))
            }

            fn uuid_by_mail(&self, mail_key: &str) -> Result<Option<Uuid>> {
                let t = self.open_table(MAILS)?;
                Ok(t.get(mail_key)?.map(|v| Uuid::from_u128(v.value())))
            }

            fn uuid_by_posix_id(&self, id: u32) -> Result<Option<Uuid>> {
                let t = self.open_table(POSIX_IDS)?;
                Ok(t.get(id)?.map(|v| Uuid::from_u128(v.value())))
            }

            fn posix_id_ever_used(&self, id: u32) -> Result<bool> {
                if self.open_table(POSIX_IDS)?.get(id)?.is_some() {
                    return Ok(true);
                }
                Ok(self.open_table(RETIRED_POSIX_IDS)?.get(id)?.is_some())
            }

            fn multimap(
                &self,
                def: MultimapTableDefinition<u128, u128>,
                key: Uuid,
            ) -> Result<Vec<Uuid>> {
                let t = self.open_multimap_table(def)?;
                let mut out = Vec::new();
                for v in t.get(key.as_u128())? {
                    out.push(Uuid::from_u128(v?.value()));
                }
                Ok(out)
            }

            fn uuids_of_kind(&self, kind: EntryKind) -> Result<Vec<Uuid>> {
                let t = self.open_table(KINDS)?;
                let k = kind_code(kind);
                let mut out = Vec::new();
                for row in t.range((k, 0u128)..=(k, u128::MAX))? {
                    let (key, _) = row?;
                    out.push(Uuid::from_u128(key.value().1));
                }
                Ok(out)
            }

            fn tombstone(&self, uuid: Uuid) -> Result<Option<Tombstone>> {
                let t = self.open_table(TOMBSTONES)?;
                match t.get(uuid.as_u128())? {
                    Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
                    None => Ok(None),
                }
            }

            fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
                let t = self.open_table(META)?;
                Ok(t.get(key)?.map(|v| v.value().to_vec()))
            }

            fn oauth2_client(&self, id: &str) -> Result<Option<OAuth2Client>> {
                let names = self.open_table(OAUTH2_CLIENT_NAMES)?;
                let uuid = match names.get(id)? {
                    Some(u) => u.value(),
                    None => match Uuid::try_parse(id) {
                        Ok(u) => u.as_u128(),
                        Err(_) => return Ok(None),
                    },
                };
                let t = self.open_table(OAUTH2_CLIENTS)?;
                match t.get(uuid)? {
                    Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
                    None => Ok(None),
                }
            }
        }
    };
}

impl_reader!(ReadTransaction);
impl_reader!(WriteTransaction);
