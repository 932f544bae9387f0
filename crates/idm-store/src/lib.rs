//! The idm identity model on the embedded database redb.
//!
//! One write transaction per change, holding the record, every index and the audit entry, so a
//! crash never leaves half a change; redb commits are durable (fsync) before `apply` returns.
//! The interface is domain-level — [`Change`]s in, model types out — and no redb type crosses
//! it, so a PostgreSQL backend for several server nodes can implement the same surface later.
//!
//! Calls block: async callers run them on a blocking thread and never hold a transaction
//! across an `.await`.

mod audit;
mod backup;
pub mod ephemeral;
pub mod error;
mod oauth2;
mod read;
mod record;
mod session;
mod tables;
mod verify;
mod write;

use std::path::Path;

use chrono::{DateTime, Utc};
use idm_model::access::{ADMIN, ADMIN_UUID, BUILTIN_GROUPS, IDM_ADMINS};
use idm_model::audit::{Actor, AuditEntry, AuditEvent};
use idm_model::change::Change;
use idm_model::export::Snapshot;
use idm_model::posix::IdRange;
use idm_model::{Entry, EntryKind, Group, Person};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use uuid::Uuid;

pub use audit::AuditFilter;
pub use backup::{BackupInfo, restore_file};
pub use ephemeral::{Kind as EphemeralKind, Record, Update};
pub use error::{Result, StoreError};
pub use read::Reader;
pub use session::Session;
pub use verify::VerifyReport;
pub use write::{Applied, DEFAULT_SHELL, HOME_BASE};

use crate::tables::*;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub id_range: IdRange,
    /// redb's page cache. Its default (1 GiB) lets the resident size grow with every page
    /// ever read; a small cache keeps memory flat at a small cost per cold read.
    pub cache_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            id_range: IdRange::default(),
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

pub struct Store {
    db: Database,
    config: StoreConfig,
    /// Bumped after every committed change to entries, so derived views (the LDAP directory)
    /// know when to rebuild without reading the database.
    generation: std::sync::atomic::AtomicU64,
    /// The same for OAuth2 client registrations (kept apart so that a client change does not
    /// rebuild the LDAP view).
    clients_generation: std::sync::atomic::AtomicU64,
}

/// An account's new opaque authentication state to store with an audit event (`None` inside
/// clears it), or nothing to change.
pub type AuthStateUpdate = Option<(Uuid, Option<Vec<u8>>)>;

/// The database file inside a data directory.
pub const DB_FILE: &str = "idm.redb";

impl Store {
    /// Opens (or creates) the store at `path`, creating tables and migrating old records.
    pub fn open(path: &Path, config: StoreConfig) -> Result<Store> {
        config.id_range.validate()?;
        let db = Database::builder()
            .set_cache_size(config.cache_bytes)
            .create(path)?;
        let s = Store {
            db,
            config,
            generation: Default::default(),
            clients_generation: Default::default(),
        };
        s.init()?;
        Ok(s)
    }

    /// A store in memory, for tests and benchmarks that want the real engine without a disk.
    pub fn in_memory(config: StoreConfig) -> Result<Store> {
        config.id_range.validate()?;
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        let s = Store {
            db,
            config,
            generation: Default::default(),
            clients_generation: Default::default(),
        };
        s.init()?;
        Ok(s)
    }

    fn init(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            // Opening creates the table when it is missing.
            txn.open_table(ENTRIES)?;
            txn.open_table(KINDS)?;
            txn.open_table(NAMES)?;
            txn.open_table(MAILS)?;
            txn.open_table(POSIX_IDS)?;
            txn.open_table(RETIRED_POSIX_IDS)?;
            txn.open_multimap_table(MEMBERS)?;
            txn.open_multimap_table(MEMBER_OF)?;
            txn.open_multimap_table(MEMBER_OF_TRANSITIVE)?;
            txn.open_table(TOMBSTONES)?;
            txn.open_table(API_TOKEN_IDS)?;
            txn.open_table(AUDIT)?;
            txn.open_multimap_table(AUDIT_BY_ACTOR)?;
            txn.open_multimap_table(AUDIT_BY_TARGET)?;
            txn.open_table(AUDIT_BY_TIME)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(AUTH_STATE)?;
            txn.open_table(OAUTH2_CLIENTS)?;
            txn.open_table(OAUTH2_CLIENT_NAMES)?;
            txn.open_table(EPHEMERAL)?;
        }
        let found = meta_u32(&txn, META_SCHEMA)?;
        match found {
            Some(v) if v > record::SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooNew {
                    found: v,
                    supported: record::SCHEMA_VERSION,
                });
            }
            Some(v) if v == record::SCHEMA_VERSION => {}
            _ => {
                // New database, or records to bring up to date: all in this transaction.
                let mut upgrades = Vec::new();
                {
                    let t = txn.open_table(ENTRIES)?;
                    for row in t.iter()? {
                        let (k, v) = row?;
                        if let Some(new) = record::upgrade(v.value(), record::MIGRATIONS)? {
                            upgrades.push((k.value(), new));
                        }
                    }
                }
                let mut t = txn.open_table(ENTRIES)?;
                for (k, v) in upgrades {
                    t.insert(k, v.as_slice())?;
                }
            }
        }
        txn.open_table(META)?
            .insert(META_SCHEMA, record::SCHEMA_VERSION.to_le_bytes().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Changes whenever an entry changed since the last call saw it (see [`Store::generation`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Changes whenever an OAuth2 client registration was written or deleted since the last
    /// call saw it. A client also changes with entries (a deleted group leaves its scope maps),
    /// so caches of registrations key on both this and [`Store::generation`]. Read it *before*
    /// the read transaction the cached value comes from: it is bumped after the commit.
    pub fn clients_generation(&self) -> u64 {
        self.clients_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn bump_clients(&self) {
        self.clients_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Creates the built-in `admin` account and groups where they are missing. `admin` has no
    /// password until `recover-account` gives it one.
    pub fn ensure_builtins(&self, now: DateTime<Utc>) -> Result<()> {
        let txn = self.db.begin_write()?;
        let actor = Actor::system("bootstrap");
        let mut changed = false;
        if txn.entry(ADMIN_UUID)?.is_none() {
            let p = Person {
                uuid: ADMIN_UUID,
                name: ADMIN.into(),
                display_name: "Administrator".into(),
                legal_name: None,
                mails: vec![],
                valid_from: None,
                expire_at: None,
                lock: None,
                posix: None,
                ssh_keys: Default::default(),
                credentials: Default::default(),
                created_at: now,
                modified_at: now,
            };
            let _ = write::apply(
                &txn,
                &Change::CreatePerson(p),
                &actor,
                now,
                None,
                &self.config.id_range,
            )?;
            changed = true;
        }
        for b in &BUILTIN_GROUPS {
            if txn.entry(b.uuid)?.is_none() {
                let members = if b.name == IDM_ADMINS {
                    [ADMIN_UUID].into_iter().collect()
                } else {
                    Default::default()
                };
                let g = Group {
                    credential_policy: None,
                    uuid: b.uuid,
                    name: b.name.into(),
                    description: Some(b.description.into()),
                    members,
                    gid_number: None,
                    created_at: now,
                    modified_at: now,
                };
                let _ = write::apply(
                    &txn,
                    &Change::CreateGroup(g),
                    &actor,
                    now,
                    None,
                    &self.config.id_range,
                )?;
                changed = true;
            }
        }
        if changed {
            txn.commit()?;
            self.bump();
        }
        Ok(())
    }

    /// Applies one change and its audit entry in one durable transaction.
    pub fn apply(
        &self,
        change: &Change,
        actor: &Actor,
        now: DateTime<Utc>,
        source: Option<String>,
    ) -> Result<Applied> {
        let txn = self.db.begin_write()?;
        let applied = write::apply(&txn, change, actor, now, source, &self.config.id_range)?;
        txn.commit()?;
        if change.affects_directory() {
            self.bump();
        }
        Ok(applied)
    }

    /// Records an event that changes no entry (an authentication decision, a refused request),
    /// optionally together with the account's new authentication state.
    pub fn record(&self, event: AuditEvent, auth_state: AuthStateUpdate) -> Result<u64> {
        let seqs = self.record_many(vec![(event, auth_state)])?;
        seqs.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("audit append returned nothing".into()))
    }

    /// Appends several audit events (each with an optional authentication-state update) in
    /// one durable transaction, in order: a group commit, so a burst of authentication
    /// decisions costs one fsync instead of one each. Returns their sequence numbers.
    pub fn record_many(&self, items: Vec<(AuditEvent, AuthStateUpdate)>) -> Result<Vec<u64>> {
        let txn = self.db.begin_write()?;
        let mut seqs = Vec::with_capacity(items.len());
        for (event, auth_state) in items {
            seqs.push(audit::append(&txn, event)?);
            if let Some((uuid, state)) = auth_state {
                let mut t = txn.open_table(AUTH_STATE)?;
                match state {
                    Some(s) => {
                        t.insert(uuid.as_u128(), s.as_slice())?;
                    }
                    None => {
                        t.remove(uuid.as_u128())?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(seqs)
    }

    /// The opaque authentication state (lockout counters) the server keeps for an account.
    pub fn auth_state(&self, uuid: Uuid) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(AUTH_STATE)?;
        Ok(t.get(uuid.as_u128())?.map(|v| v.value().to_vec()))
    }

    /// A consistent read view: several lookups that see the same committed state.
    pub fn read(&self) -> Result<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    pub fn get(&self, uuid: Uuid) -> Result<Option<Entry>> {
        self.read()?.entry(uuid)
    }

    pub fn get_by_name(&self, name: &str) -> Result<Option<Entry>> {
        self.read()?.entry_by_name(name)
    }

    /// By name or UUID.
    pub fn resolve(&self, id: &str) -> Result<Option<Entry>> {
        self.read()?.resolve(id)
    }

    pub fn list(&self, kind: EntryKind) -> Result<Vec<Entry>> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for u in txn.uuids_of_kind(kind)? {
            out.push(txn.require(u)?);
        }
        out.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(out)
    }

    /// The service account holding API token `id`, if any.
    pub fn api_token_owner(&self, id: Uuid) -> Result<Option<Entry>> {
        let txn = self.read()?;
        let owner = txn
            .open_table(API_TOKEN_IDS)?
            .get(id.as_u128())?
            .map(|v| Uuid::from_u128(v.value()));
        match owner {
            Some(o) => txn.entry(o),
            None => Ok(None),
        }
    }

    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        audit::query(&self.read()?, filter)
    }

    /// A cheap liveness check of the database (for `/health/ready`).
    pub fn ping(&self) -> Result<()> {
        let txn = self.read()?;
        txn.meta(META_SCHEMA)?;
        Ok(())
    }

    pub fn counts(&self) -> Result<Counts> {
        let txn = self.read()?;
        let count = |k| -> Result<u64> { Ok(txn.uuids_of_kind(k)?.len() as u64) };
        Ok(Counts {
            persons: count(EntryKind::Person)?,
            service_accounts: count(EntryKind::ServiceAccount)?,
            groups: count(EntryKind::Group)?,
            audit_entries: txn.open_table(AUDIT)?.len()?,
        })
    }

    /// The whole model as canonical JSON structure, from one consistent read.
    pub fn snapshot(&self, include_secrets: bool) -> Result<Snapshot> {
        let txn = self.read()?;
        snapshot_in(&txn, include_secrets, self.config.id_range.first)
    }

    /// Upserts every entry of a validated snapshot in one transaction (see `backup::import`).
    pub fn import(&self, snap: &Snapshot, actor: &Actor, now: DateTime<Utc>) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let seq = backup::import(&txn, snap, actor, now)?;
        txn.commit()?;
        self.bump();
        Ok(seq)
    }

    /// Writes a consistent backup of everything (secrets and audit log included) to `out`.
    pub fn backup(&self, out: &mut dyn std::io::Write, now: DateTime<Utc>) -> Result<BackupInfo> {
        let txn = self.read()?;
        backup::write(&txn, out, now, self.config.id_range.first)
    }

    /// Checks that every index agrees with the entries and that the audit chain is unbroken.
    pub fn verify(&self) -> Result<VerifyReport> {
        verify::verify(&self.read()?)
    }

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub persons: u64,
    pub service_accounts: u64,
    pub groups: u64,
    pub audit_entries: u64,
}

pub(crate) fn snapshot_in(
    txn: &ReadTransaction,
    include_secrets: bool,
    first_id: u32,
) -> Result<Snapshot> {
    let mut entries = Vec::new();
    for row in txn.open_table(ENTRIES)?.iter()? {
        let (_, v) = row?;
        entries.push(record::decode_entry(v.value())?);
    }
    let mut tombstones = Vec::new();
    for row in txn.open_table(TOMBSTONES)?.iter()? {
        let (_, v) = row?;
        tombstones.push(serde_json::from_slice(v.value())?);
    }
    let posix_next = meta_u32(txn, META_POSIX_NEXT)?.unwrap_or(first_id);
    let mut clients = Vec::new();
    for row in txn.open_table(OAUTH2_CLIENTS)?.iter()? {
        let (_, v) = row?;
        clients.push(serde_json::from_slice(v.value())?);
    }
    let mut retired = std::collections::BTreeMap::new();
    for row in txn.open_table(RETIRED_POSIX_IDS)?.iter()? {
        let (k, v) = row?;
        retired.insert(k.value(), Uuid::from_u128(v.value()));
    }
    Ok(
        Snapshot::new(entries, tombstones, posix_next, include_secrets)
            .with_oauth2_clients(clients)
            .with_retired_posix_ids(retired),
    )
}

pub(crate) fn meta_u32<R: Reader>(r: &R, key: &str) -> Result<Option<u32>> {
    match r.meta(key)? {
        Some(b) => {
            let arr: [u8; 4] = b
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("meta {key}")))?;
            Ok(Some(u32::from_le_bytes(arr)))
        }
        None => Ok(None),
    }
}
