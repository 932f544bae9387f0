//! An in-memory [`Directory`] with configurable equality indexes.
//!
//! It exists for this crate's tests, for the benches and for fuzzing, and as a reference for
//! what the server's implementation must do: index keys normalized with the attribute's syntax,
//! bind names resolved three ways, access decided per identity.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::directory::{BindOutcome, BoundIdentity, Directory, EntryId, RootDse, Timestamp};
use crate::dn::Dn;
use crate::entry::Entry;
use crate::schema::syntax_of;

/// The attributes [`MemDirectory::new`] indexes, the ones NSS clients search by.
pub const DEFAULT_INDEXES: &[&str] = &[
    "uid",
    "cn",
    "mail",
    "uidnumber",
    "gidnumber",
    "memberof",
    "member",
    "memberuid",
    "entryuuid",
    "objectclass",
];

/// An in-memory directory.
#[derive(Debug, Clone)]
pub struct MemDirectory {
    entries: BTreeMap<EntryId, Entry>,
    by_dn: HashMap<Dn, EntryId>,
    indexes: HashMap<String, HashMap<Vec<u8>, Vec<EntryId>>>,
    passwords: HashMap<EntryId, Vec<u8>>,
    root_dse: RootDse,
    anonymous_read: bool,
    hidden: Vec<String>,
    clock: Option<Timestamp>,
    next_id: u128,
}

impl MemDirectory {
    /// An empty directory serving `naming_contexts`, with [`DEFAULT_INDEXES`], anonymous reads
    /// refused (anonymous clients see the root DSE only) and `userPassword` never returned.
    #[must_use]
    pub fn new(naming_contexts: &[&str]) -> Self {
        let mut d = Self {
            entries: BTreeMap::new(),
            by_dn: HashMap::new(),
            indexes: HashMap::new(),
            passwords: HashMap::new(),
            root_dse: RootDse::new(naming_contexts.iter().map(|s| (*s).to_owned()).collect()),
            anonymous_read: false,
            hidden: vec!["userpassword".to_owned()],
            clock: None,
            next_id: 1,
        };
        d.set_indexes(DEFAULT_INDEXES);
        d
    }

    /// Replaces the set of indexed attributes (and rebuilds the indexes).
    pub fn set_indexes(&mut self, attrs: &[&str]) {
        self.indexes = attrs
            .iter()
            .map(|a| (a.to_ascii_lowercase(), HashMap::new()))
            .collect();
        let entries: Vec<(EntryId, Entry)> =
            self.entries.iter().map(|(k, v)| (*k, v.clone())).collect();
        for (id, e) in &entries {
            self.index_entry(*id, e);
        }
    }

    /// Adds an entry and returns its id. An entry with the same (normalized) DN is replaced.
    pub fn insert(&mut self, entry: Entry) -> EntryId {
        if let Some(old) = self.by_dn.get(entry.normalized_dn()).copied() {
            self.remove(old);
        }
        let id = EntryId(self.next_id);
        self.next_id += 1;
        self.index_entry(id, &entry);
        self.by_dn.insert(entry.normalized_dn().clone(), id);
        self.entries.insert(id, entry);
        id
    }

    /// Removes an entry.
    pub fn remove(&mut self, id: EntryId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.by_dn.remove(entry.normalized_dn());
        for index in self.indexes.values_mut() {
            for ids in index.values_mut() {
                ids.retain(|i| *i != id);
            }
        }
        self.passwords.remove(&id);
        Some(entry)
    }

    /// Sets the password a simple bind as this entry must present.
    pub fn set_password(&mut self, id: EntryId, password: &[u8]) {
        self.passwords.insert(id, password.to_vec());
    }

    /// Whether anonymous clients may read entries (they always see the root DSE).
    pub fn set_anonymous_read(&mut self, allowed: bool) {
        self.anonymous_read = allowed;
    }

    /// A simulated clock for [`Directory::deadline_passed`]: with `Some(t)`, every deadline
    /// before or at `t` counts as passed.
    pub fn set_clock(&mut self, now: Option<Timestamp>) {
        self.clock = now;
    }

    /// Replaces the root DSE information.
    pub fn set_root_dse(&mut self, root_dse: RootDse) {
        self.root_dse = root_dse;
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in id order (for naive evaluation in tests).
    pub fn iter(&self) -> impl Iterator<Item = (EntryId, &Entry)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    fn index_entry(&mut self, id: EntryId, entry: &Entry) {
        for a in entry.attributes() {
            let name = a.description.to_ascii_lowercase();
            let Some(index) = self.indexes.get_mut(&name) else {
                continue;
            };
            let syntax = syntax_of(&name);
            for v in &a.values {
                if let Some(key) = syntax.normalize(v) {
                    let ids = index.entry(key).or_default();
                    if ids.last() != Some(&id) {
                        ids.push(id);
                    }
                }
            }
        }
    }

    /// Resolves a bind name: an entry DN, `uid=NAME,<naming context>`, or a bare `NAME`.
    fn resolve(&self, name: &str) -> Option<EntryId> {
        let uid = match Dn::parse(name) {
            Ok(dn) if !dn.is_root() => {
                let normalized = dn.normalize();
                if let Some(id) = self.by_dn.get(&normalized) {
                    return Some(*id);
                }
                let rdn = normalized.rdn()?;
                let [ava] = rdn.avas() else {
                    return None;
                };
                let under_context = normalized.parent().is_some_and(|p| {
                    self.root_dse
                        .naming_contexts
                        .iter()
                        .filter_map(|c| Dn::parse(c).ok())
                        .any(|c| c.normalize() == p)
                });
                if ava.attr != "uid" || !under_context {
                    return None;
                }
                ava.value.clone()
            }
            _ => name.as_bytes().to_vec(),
        };
        let key = syntax_of("uid").normalize(&uid)?;
        let mut found = self.entries.iter().filter(|(_, e)| {
            e.get("uid").is_some_and(|a| {
                a.values
                    .iter()
                    .any(|v| syntax_of("uid").normalize(v).as_deref() == Some(&key[..]))
            })
        });
        let (id, _) = found.next()?;
        // An ambiguous bare name binds nobody.
        if found.next().is_some() {
            return None;
        }
        Some(*id)
    }
}

impl Directory for MemDirectory {
    type Entry<'a> = Cow<'a, Entry>;

    fn bind(&mut self, name: &str, password: &[u8], _now: Timestamp) -> BindOutcome {
        let Some(id) = self.resolve(name) else {
            return BindOutcome::InvalidCredentials {
                reason: "no such user".to_owned(),
            };
        };
        let Some(expected) = self.passwords.get(&id) else {
            return BindOutcome::InvalidCredentials {
                reason: "no password set".to_owned(),
            };
        };
        if !constant_time_eq(expected, password) {
            return BindOutcome::InvalidCredentials {
                reason: "wrong password".to_owned(),
            };
        }
        match self.entries.get(&id) {
            Some(e) => BindOutcome::Success {
                dn: e.dn_string().to_owned(),
                id,
            },
            None => BindOutcome::InvalidCredentials {
                reason: "no such user".to_owned(),
            },
        }
    }

    fn root_dse(&self) -> RootDse {
        self.root_dse.clone()
    }

    fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>> {
        let index = self.indexes.get(attr)?;
        Some(Cow::Borrowed(
            index.get(value).map_or(&[][..], Vec::as_slice),
        ))
    }

    fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        let index = self.indexes.get(attr)?;
        Some(index.get(value).map_or(0, Vec::len))
    }

    fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.by_dn.get(dn).copied()
    }

    fn all_ids(&self) -> Vec<EntryId> {
        self.entries.keys().copied().collect()
    }

    fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<Cow<'_, Entry>> {
        if *who == BoundIdentity::Anonymous && !self.anonymous_read {
            return None;
        }
        let e = self.entries.get(&id)?;
        let hidden = |a: &crate::entry::Attribute| self.hidden.iter().any(|h| a.is(h));
        if e.attributes().iter().any(hidden) {
            let attrs = e
                .attributes()
                .iter()
                .filter(|a| !hidden(a))
                .cloned()
                .collect();
            Some(Cow::Owned(Entry::new(e.dn().clone(), attrs)))
        } else {
            Some(Cow::Borrowed(e))
        }
    }

    fn deadline_passed(&self, deadline: Timestamp) -> bool {
        self.clock.is_some_and(|now| now >= deadline)
    }
}

/// Compares without an early exit, so timing does not reveal how much of a password matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
