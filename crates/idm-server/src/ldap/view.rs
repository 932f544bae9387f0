//! The directory view: every identity kept once, in a compact form, and rendered as LDAP
//! attributes only when a search tests or returns them — what the `idm-ldap` planner searches.
//!
//! Layout (documented in README): the suffix (`dc=…`), `ou=people` (persons as `uid=NAME`),
//! `ou=groups` (groups as `cn=NAME`, plus each POSIX person's personal group), `ou=services`
//! (service accounts as `uid=NAME`). The view is rebuilt from one read transaction whenever the
//! store's generation moves, so a change made through the API is visible to the next LDAP
//! request. A rebuild makes the new view next to the old one, swaps it in and drops the old one
//! when the last request holding it finishes, so the peak is two views for a moment.
//!
//! Why it looks like this (issue #4): rendering every entry as an [`idm_ldap::Entry`] with an
//! equality index over every value cost ≈11 KB per person — each DN three times, one allocation
//! per value, and `memberOf`/`member`/`memberUid` lists spelled out in full, so that with nested
//! groups every top group listed everyone below it. Here instead:
//! - strings live in one arena (`text`) and records refer to them by offset and length;
//!   numbers, timestamps and UUIDs stay integers until a response needs their text;
//! - no DN is stored: an entry's DN is its name under its container, written when asked;
//! - group membership is kept as direct edges (`refs`: indices into the entry and group tables)
//!   plus each group's closure upwards (a handful of groups); `memberOf`, `member` and
//!   `memberUid` are expanded when an entry is returned or a filter tests them, and their
//!   indexes (like those of `objectClass` and `entryUUID`) are answered by walking this
//!   structure instead of being stored;
//! - the value indexes are sorted `(key, entry)` arrays: for strings the key is a hash of the
//!   normalized value (a collision only adds a candidate, which the full filter evaluation
//!   drops — the planner's contract), for `uidNumber`/`gidNumber` the number itself.
//!
//! Entry ids stay the UUIDs (containers 1–4, personal groups the person's UUID with the top bit
//! flipped), so a paged search parked across a rebuild still names the same entries. The
//! entry table is sorted by id, so an entry's position (`at`) orders like its id.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hasher};

use chrono::DateTime;
use idm_ldap::dn::escape_value;
use idm_ldap::proto::SearchScope;
use idm_ldap::schema::{Syntax, syntax_of};
use idm_ldap::search::in_scope;
use idm_ldap::{Attribute, BoundIdentity, Dn, EntryId, EntryView, Rdn, RootDse};
use idm_model::EntryKind;
use idm_store::{Reader, Store};
use uuid::Uuid;

use crate::error::AppError;

/// The attributes with an equality index (the planner asks; others are scanned).
pub const INDEXED: [&str; 11] = [
    "objectclass",
    "uid",
    "cn",
    "mail",
    "uidnumber",
    "gidnumber",
    "memberof",
    "member",
    "memberuid",
    "entryuuid",
    "sshpublickey",
];

/// Pseudo-ids of the container entries (real entries use their UUID).
const BASE_ID: u128 = 1;
const PEOPLE_ID: u128 = 2;
const GROUPS_ID: u128 = 3;
const SERVICES_ID: u128 = 4;
/// Personal groups get their person's UUID with this bit flipped (UUIDs v4 never set it in
/// a way that collides with another live entry's UUID in practice, and the build checks).
const PERSONAL_GROUP_MASK: u128 = 1 << 127;

/// The directory, compact. See the module documentation.
pub struct LdapView {
    pub generation: u64,
    /// The suffix as configured.
    pub base: String,
    /// The suffix as DNs are written (parsed and re-serialized).
    base_dn: String,
    /// The `dc` value of the suffix entry.
    first_dc: String,
    /// Normalized DNs of the suffix and of `ou=people`, `ou=groups`, `ou=services`.
    base_norm: Dn,
    ou_norm: [Dn; 3],
    /// Every string of every record, back to back.
    text: String,
    /// Multi-valued strings (mail addresses, SSH keys): runs of arena strings.
    strs: Vec<Str>,
    /// Lists of indices: group members (entry positions), the groups an entry is directly in
    /// and group closures (group-table positions).
    refs: Vec<u32>,
    /// Every entry's id, ascending; `slots` says what each is.
    ids: Vec<u128>,
    slots: Vec<Slot>,
    persons: Vec<PersonRec>,
    services: Vec<ServiceRec>,
    /// Ascending by UUID, like `ids`, so group-table order is entry order.
    groups: Vec<GroupRec>,
    /// The names of all persons and service accounts, sorted, and each entry's rank in that
    /// order ([`NONE`] for other entries): a group's `memberUid` (names, sorted) is collected
    /// as ranks, which sort as integers.
    by_name: Vec<Str>,
    rank_of: Vec<u32>,
    uid: KeyIndex,
    cn: KeyIndex,
    mail: KeyIndex,
    ssh_key: KeyIndex,
    uid_number: KeyIndex,
    gid_number: KeyIndex,
    /// How many entries carry each object class (what the planner's `count_eq` asks).
    class_counts: Vec<(&'static str, usize)>,
    /// Accounts that may read every entry (in `idm_account_read_priv` or `idm_admins`),
    /// ascending.
    readers: Vec<u128>,
}

/// A string in the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Str {
    at: u32,
    len: u32,
}

/// A run of items in `strs` or `refs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Run {
    at: u32,
    len: u32,
}

impl Run {
    fn range(self) -> std::ops::Range<usize> {
        self.at as usize..self.at as usize + self.len as usize
    }
}

/// What an entry is: a container or a position in one of the record tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Base,
    Ou(Ou),
    Person(u32),
    PersonalGroup(u32),
    Service(u32),
    Group(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ou {
    People = 0,
    Groups = 1,
    Services = 2,
}

impl Ou {
    fn name(self) -> &'static str {
        match self {
            Ou::People => "people",
            Ou::Groups => "groups",
            Ou::Services => "services",
        }
    }
}

/// Marks a position not (yet) assigned.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct PersonRec {
    /// Position in `ids`.
    at: u32,
    /// Position of the personal group in `ids`, or [`NONE`].
    personal_at: u32,
    name: Str,
    display_name: Str,
    mails: Run,
    ssh_keys: Run,
    posix: Option<PosixRec>,
    created: i64,
    modified: i64,
    /// The groups the person is directly in (group-table positions, ascending).
    groups: Run,
}

#[derive(Debug, Clone, Copy)]
struct PosixRec {
    uid_number: u32,
    gid_number: u32,
    home_directory: Str,
    login_shell: Str,
}

#[derive(Debug, Clone)]
struct ServiceRec {
    at: u32,
    name: Str,
    display_name: Str,
    description: Option<Str>,
    created: i64,
    modified: i64,
    groups: Run,
}

#[derive(Debug, Clone)]
struct GroupRec {
    at: u32,
    name: Str,
    description: Option<Str>,
    gid_number: Option<u32>,
    created: i64,
    modified: i64,
    /// Direct members (entry positions, ascending: UUID order).
    members: Run,
    /// The groups among them (group-table positions), for walking down without looking at
    /// every member.
    subgroups: Run,
    /// The groups this group is directly in (group-table positions, ascending).
    parents: Run,
    /// Every group this group is in, nesting included (group-table positions, ascending).
    closure: Run,
    /// Members below this group counted along every path: an upper bound of how many entries
    /// have it in their `memberOf` (the planner's estimate).
    below: u32,
    /// Whether some person or service account is below: `memberUid` is present.
    has_accounts: bool,
}

/// A sorted `(key, entry position)` index. Duplicate keys (several entries, or hash
/// collisions) sit next to each other, positions ascending.
#[derive(Debug, Default)]
struct KeyIndex {
    keys: Vec<u64>,
    at: Vec<u32>,
}

impl KeyIndex {
    fn from_pairs(mut pairs: Vec<(u64, u32)>) -> KeyIndex {
        pairs.sort_unstable();
        pairs.dedup();
        let (keys, at) = pairs.into_iter().unzip();
        KeyIndex { keys, at }
    }

    fn get(&self, key: u64) -> &[u32] {
        let start = self.keys.partition_point(|k| *k < key);
        let end = self.keys.partition_point(|k| *k <= key);
        self.at.get(start..end).unwrap_or_default()
    }

    fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.at.capacity() * 4
    }
}

/// The index key of a normalized string value.
fn key_of(normalized: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(normalized);
    h.finish()
}

/// The index key of a string under `syntax`.
fn key_as(syntax: Syntax, value: &str) -> Option<u64> {
    syntax.normalize(value.as_bytes()).map(|n| key_of(&n))
}

/// An LDAP attribute this view can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    ObjectClass,
    Uid,
    Cn,
    Sn,
    DisplayName,
    EntryUuid,
    CreateTimestamp,
    ModifyTimestamp,
    Mail,
    UidNumber,
    GidNumber,
    HomeDirectory,
    LoginShell,
    Gecos,
    SshPublicKey,
    Member,
    MemberUid,
    Description,
    MemberOf,
    Dc,
    Ou,
}

impl Attr {
    const ALL: [Attr; 21] = [
        Attr::ObjectClass,
        Attr::Uid,
        Attr::Cn,
        Attr::Sn,
        Attr::DisplayName,
        Attr::EntryUuid,
        Attr::CreateTimestamp,
        Attr::ModifyTimestamp,
        Attr::Mail,
        Attr::UidNumber,
        Attr::GidNumber,
        Attr::HomeDirectory,
        Attr::LoginShell,
        Attr::Gecos,
        Attr::SshPublicKey,
        Attr::Member,
        Attr::MemberUid,
        Attr::Description,
        Attr::MemberOf,
        Attr::Dc,
        Attr::Ou,
    ];

    /// The description as returned to clients.
    fn name(self) -> &'static str {
        match self {
            Attr::ObjectClass => "objectClass",
            Attr::Uid => "uid",
            Attr::Cn => "cn",
            Attr::Sn => "sn",
            Attr::DisplayName => "displayName",
            Attr::EntryUuid => "entryUUID",
            Attr::CreateTimestamp => "createTimestamp",
            Attr::ModifyTimestamp => "modifyTimestamp",
            Attr::Mail => "mail",
            Attr::UidNumber => "uidNumber",
            Attr::GidNumber => "gidNumber",
            Attr::HomeDirectory => "homeDirectory",
            Attr::LoginShell => "loginShell",
            Attr::Gecos => "gecos",
            Attr::SshPublicKey => "sshPublicKey",
            Attr::Member => "member",
            Attr::MemberUid => "memberUid",
            Attr::Description => "description",
            Attr::MemberOf => "memberOf",
            Attr::Dc => "dc",
            Attr::Ou => "ou",
        }
    }

    /// The attribute a description names (ASCII case-insensitive; options name nothing).
    fn parse(description: &str) -> Option<Attr> {
        Attr::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(description))
    }
}

/// Each kind's attributes, in the order entries list them.
const PERSON_ATTRS: &[Attr] = &[
    Attr::ObjectClass,
    Attr::Uid,
    Attr::Cn,
    Attr::Sn,
    Attr::DisplayName,
    Attr::EntryUuid,
    Attr::CreateTimestamp,
    Attr::ModifyTimestamp,
    Attr::Mail,
    Attr::UidNumber,
    Attr::GidNumber,
    Attr::HomeDirectory,
    Attr::LoginShell,
    Attr::Gecos,
    Attr::SshPublicKey,
    Attr::MemberOf,
];
const PERSONAL_GROUP_ATTRS: &[Attr] = &[
    Attr::ObjectClass,
    Attr::Cn,
    Attr::GidNumber,
    Attr::MemberUid,
    Attr::Description,
];
const SERVICE_ATTRS: &[Attr] = &[
    Attr::ObjectClass,
    Attr::Uid,
    Attr::Cn,
    Attr::EntryUuid,
    Attr::CreateTimestamp,
    Attr::ModifyTimestamp,
    Attr::Description,
    Attr::MemberOf,
];
const GROUP_ATTRS: &[Attr] = &[
    Attr::ObjectClass,
    Attr::Cn,
    Attr::EntryUuid,
    Attr::CreateTimestamp,
    Attr::ModifyTimestamp,
    Attr::Description,
    Attr::Member,
    Attr::GidNumber,
    Attr::MemberUid,
    Attr::MemberOf,
];
const BASE_ATTRS: &[Attr] = &[Attr::ObjectClass, Attr::Dc];
const OU_ATTRS: &[Attr] = &[Attr::ObjectClass, Attr::Ou];

/// Every object class the view hands out (for the planner's counts).
const CLASSES: [&str; 12] = [
    "top",
    "person",
    "organizationalPerson",
    "inetOrgPerson",
    "posixAccount",
    "ldapPublicKey",
    "posixGroup",
    "groupOfNames",
    "account",
    "domain",
    "organizationalUnit",
    "extensibleObject",
];

fn gentime(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y%m%d%H%M%SZ").to_string())
        .unwrap_or_default()
}

fn too_large() -> AppError {
    AppError::Internal("the LDAP view does not fit 32-bit offsets".into())
}

fn to_u32(n: usize) -> Result<u32, AppError> {
    u32::try_from(n).map_err(|_| too_large())
}

/// Whether `normalized` is the case-ignore form of the ASCII object class `class`.
fn is_class(class: &str, normalized: &[u8]) -> bool {
    class.len() == normalized.len()
        && class
            .bytes()
            .zip(normalized)
            .all(|(c, n)| c.to_ascii_lowercase() == *n)
}

impl LdapView {
    /// Reads every person, service account and group from one consistent read and keeps them
    /// compactly; the model entries are dropped as soon as they are recorded.
    pub fn build(store: &Store, base: &str) -> Result<LdapView, AppError> {
        let generation = store.generation();
        let txn = store.read()?;
        let mut b = build::Builder::new(base, generation);
        for kind in [
            EntryKind::Person,
            EntryKind::ServiceAccount,
            EntryKind::Group,
        ] {
            for u in txn.uuids_of_kind(kind)? {
                b.add(txn.require(u)?)?;
            }
        }
        drop(txn);
        b.finish()
    }

    /// A placeholder whose generation never matches the store's, so the first request builds
    /// the real view.
    pub fn unbuilt(base: &str) -> LdapView {
        let mut v = LdapView::empty(base);
        v.generation = u64::MAX;
        v.ids.clear();
        v.slots.clear();
        v
    }

    /// Just the containers (also the starting point of a build).
    fn empty(base: &str) -> LdapView {
        let parsed = Dn::parse(base).unwrap_or_default();
        let base_dn = parsed.to_string();
        let first_dc = base
            .split(',')
            .next()
            .and_then(|r| r.split_once('='))
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        let under = |ou: &str| {
            let mut rdns = vec![Rdn::new("ou", ou)];
            rdns.extend(parsed.rdns().iter().cloned());
            Dn::from_rdns(rdns).normalize()
        };
        LdapView {
            generation: 0,
            base: base.to_owned(),
            base_dn,
            first_dc,
            base_norm: parsed.normalize(),
            ou_norm: [under("people"), under("groups"), under("services")],
            text: String::new(),
            strs: Vec::new(),
            refs: Vec::new(),
            ids: vec![BASE_ID, PEOPLE_ID, GROUPS_ID, SERVICES_ID],
            slots: vec![
                Slot::Base,
                Slot::Ou(Ou::People),
                Slot::Ou(Ou::Groups),
                Slot::Ou(Ou::Services),
            ],
            persons: Vec::new(),
            services: Vec::new(),
            groups: Vec::new(),
            by_name: Vec::new(),
            rank_of: Vec::new(),
            uid: KeyIndex::default(),
            cn: KeyIndex::default(),
            mail: KeyIndex::default(),
            ssh_key: KeyIndex::default(),
            uid_number: KeyIndex::default(),
            gid_number: KeyIndex::default(),
            class_counts: Vec::new(),
            readers: Vec::new(),
        }
    }

    pub fn root_dse(&self) -> RootDse {
        let mut r = RootDse::new(vec![self.base.clone()]);
        r.vendor_version = env!("CARGO_PKG_VERSION").to_owned();
        r
    }

    /// Candidates for the lower-cased `attr` equal to the normalized `value`, ascending (see
    /// [`idm_ldap::Directory::lookup_eq`]); `None` for attributes without an index.
    pub fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>> {
        let at = self.candidates(attr, value)?;
        Some(Cow::Owned(
            at.into_iter()
                .filter_map(|a| self.ids.get(a as usize).map(|u| EntryId(*u)))
                .collect(),
        ))
    }

    /// How many candidates [`LdapView::lookup_eq`] would return, or an upper bound where
    /// counting would mean walking a group tree.
    pub fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        match index_name(attr)? {
            "uid" => Some(self.uid.get(key_of(value)).len()),
            "cn" => Some(self.cn.get(key_of(value)).len()),
            "mail" => Some(self.mail.get(key_of(value)).len()),
            "sshpublickey" => Some(self.ssh_key.get(key_of(value)).len()),
            "uidnumber" => Some(number_key(value).map_or(0, |k| self.uid_number.get(k).len())),
            "gidnumber" => Some(number_key(value).map_or(0, |k| self.gid_number.get(k).len())),
            "objectclass" => Some(
                self.class_counts
                    .iter()
                    .find(|(c, _)| is_class(c, value))
                    .map_or(0, |(_, n)| *n),
            ),
            "memberof" => Some(match self.group_of_dn_value(value) {
                Some(g) => self.groups.get(g as usize).map_or(0, |r| r.below as usize),
                None => 0,
            }),
            "entryuuid" => Some(usize::from(self.entry_of_uuid(value).is_some())),
            _ => self.candidates(attr, value).map(|c| c.len()),
        }
    }

    /// The entry with the normalized DN `dn`.
    pub fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.find_dn(dn)
            .and_then(|at| self.ids.get(at as usize))
            .map(|u| EntryId(*u))
    }

    pub fn all_ids(&self) -> Vec<EntryId> {
        self.ids.iter().map(|u| EntryId(*u)).collect()
    }

    /// Readers (`idm_account_read_priv`, `idm_admins`) see everything; anyone else bound sees
    /// only their own entry and the containers above it; anonymous sees nothing (the root DSE
    /// is answered elsewhere).
    pub fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<ViewEntry<'_>> {
        let BoundIdentity::User { id: me, .. } = who else {
            return None;
        };
        let at = self.ids.binary_search(&id.0).ok()?;
        let slot = *self.slots.get(at)?;
        let container = matches!(slot, Slot::Base | Slot::Ou(_));
        if container || me.0 == id.0 || self.readers.binary_search(&me.0).is_ok() {
            Some(ViewEntry {
                view: self,
                at,
                slot,
            })
        } else {
            None
        }
    }

    /// The account a bind name means: its DN, `uid=NAME,<suffix>`, or the bare name.
    pub fn resolve_bind_name(&self, name: &str) -> Option<(u128, EntryKind, String)> {
        if let Ok(dn) = Dn::parse(name)
            && !dn.is_root()
        {
            let n = dn.normalize();
            if let Some(at) = self.find_dn(&n) {
                return self.account(at);
            }
            let rdn = n.rdn()?;
            let [ava] = rdn.avas() else {
                return None;
            };
            if ava.attr != "uid" || n.parent().as_ref() != Some(&self.base_norm) {
                return None;
            }
            let uid = String::from_utf8(ava.value.clone()).ok()?;
            return self.account_by_name(&uid);
        }
        self.account_by_name(name)
    }

    /// The DN of the entry with id `id`.
    pub fn dn_of(&self, id: u128) -> Option<String> {
        let at = self.ids.binary_search(&id).ok()?;
        let slot = *self.slots.get(at)?;
        Some(self.dn(slot))
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bytes the view holds on the heap (capacities of its tables; the allocator's own
    /// overhead comes on top). For the rebuild log line and the memory tests.
    pub fn heap_bytes(&self) -> usize {
        self.base.capacity()
            + self.base_dn.capacity()
            + self.first_dc.capacity()
            + self.text.capacity()
            + self.strs.capacity() * std::mem::size_of::<Str>()
            + self.refs.capacity() * 4
            + self.ids.capacity() * 16
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.persons.capacity() * std::mem::size_of::<PersonRec>()
            + self.services.capacity() * std::mem::size_of::<ServiceRec>()
            + self.groups.capacity() * std::mem::size_of::<GroupRec>()
            + self.by_name.capacity() * std::mem::size_of::<Str>()
            + self.rank_of.capacity() * 4
            + [
                &self.uid,
                &self.cn,
                &self.mail,
                &self.ssh_key,
                &self.uid_number,
                &self.gid_number,
            ]
            .iter()
            .map(|i| i.heap_bytes())
            .sum::<usize>()
            + self.class_counts.capacity() * std::mem::size_of::<(&str, usize)>()
            + self.readers.capacity() * 16
    }

    // ---- lookups ---------------------------------------------------------------------------

    /// Entry positions for an indexed equality term, ascending without duplicates.
    fn candidates(&self, attr: &str, value: &[u8]) -> Option<Vec<u32>> {
        let mut at = match index_name(attr)? {
            "uid" => self.uid.get(key_of(value)).to_vec(),
            "cn" => self.cn.get(key_of(value)).to_vec(),
            "mail" => self.mail.get(key_of(value)).to_vec(),
            "sshpublickey" => self.ssh_key.get(key_of(value)).to_vec(),
            "uidnumber" => {
                number_key(value).map_or_else(Vec::new, |k| self.uid_number.get(k).to_vec())
            }
            "gidnumber" => {
                number_key(value).map_or_else(Vec::new, |k| self.gid_number.get(k).to_vec())
            }
            "objectclass" => (0..self.slots.len())
                .filter(|&at| {
                    self.slots
                        .get(at)
                        .is_some_and(|s| self.classes(*s).iter().any(|c| is_class(c, value)))
                })
                .filter_map(|at| u32::try_from(at).ok())
                .collect(),
            "entryuuid" => self.entry_of_uuid(value).into_iter().collect(),
            "memberof" => match self.group_of_dn_value(value) {
                Some(g) => self.below(g),
                None => Vec::new(),
            },
            "member" => {
                let Some(at) = dn_value(value).and_then(|dn| self.find_dn(&dn)) else {
                    return Some(Vec::new());
                };
                let groups = match self.slots.get(at as usize) {
                    Some(Slot::Person(p)) => self.persons.get(*p as usize).map(|r| r.groups),
                    Some(Slot::Service(s)) => self.services.get(*s as usize).map(|r| r.groups),
                    Some(Slot::Group(g)) => self.groups.get(*g as usize).map(|r| r.parents),
                    _ => None,
                };
                groups.map_or_else(Vec::new, |run| self.group_ats(self.refs_of(run)))
            }
            "memberuid" => {
                let mut out = Vec::new();
                for account in self.accounts_named_exactly(value) {
                    match self.slots.get(account as usize) {
                        Some(Slot::Person(p)) => {
                            let Some(r) = self.persons.get(*p as usize) else {
                                continue;
                            };
                            if r.personal_at != NONE {
                                out.push(r.personal_at);
                            }
                            out.extend(self.posix_group_ats(&self.member_of_account(r.groups)));
                        }
                        Some(Slot::Service(s)) => {
                            let Some(r) = self.services.get(*s as usize) else {
                                continue;
                            };
                            out.extend(self.posix_group_ats(&self.member_of_account(r.groups)));
                        }
                        _ => {}
                    }
                }
                out
            }
            _ => return None,
        };
        at.sort_unstable();
        at.dedup();
        Some(at)
    }

    /// The position of the entry with the normalized DN `dn`.
    fn find_dn(&self, dn: &Dn) -> Option<u32> {
        let base_len = self.base_norm.len();
        if dn.len() == base_len {
            return (*dn == self.base_norm).then_some(0);
        }
        if dn.len() == base_len + 1 {
            return self
                .ou_norm
                .iter()
                .position(|o| o == dn)
                .and_then(|i| u32::try_from(i + 1).ok());
        }
        if dn.len() != base_len + 2 {
            return None;
        }
        let (rdn, parent) = dn.rdns().split_first()?;
        let ou = [Ou::People, Ou::Groups, Ou::Services]
            .into_iter()
            .find(|o| self.ou_norm[*o as usize].rdns() == parent)?;
        let [ava] = rdn.avas() else {
            return None;
        };
        if ava.ber {
            return None;
        }
        let want = match ou {
            Ou::People | Ou::Services => "uid",
            Ou::Groups => "cn",
        };
        if ava.attr != want {
            return None;
        }
        let index = if ou == Ou::Groups {
            &self.cn
        } else {
            &self.uid
        };
        index.get(key_of(&ava.value)).iter().copied().find(|&at| {
            let name = match (ou, self.slots.get(at as usize)) {
                (Ou::People, Some(Slot::Person(p)))
                | (Ou::Groups, Some(Slot::PersonalGroup(p))) => {
                    self.persons.get(*p as usize).map(|r| r.name)
                }
                (Ou::Services, Some(Slot::Service(s))) => {
                    self.services.get(*s as usize).map(|r| r.name)
                }
                (Ou::Groups, Some(Slot::Group(g))) => self.groups.get(*g as usize).map(|r| r.name),
                _ => None,
            };
            name.is_some_and(|n| {
                syntax_of(want).normalize(self.str(n).as_bytes()).as_deref() == Some(&ava.value[..])
            })
        })
    }

    /// The group (table position) a normalized DN value names, if it names one.
    fn group_of_dn_value(&self, value: &[u8]) -> Option<u32> {
        let at = self.find_dn(&dn_value(value)?)?;
        match self.slots.get(at as usize) {
            Some(Slot::Group(g)) => Some(*g),
            _ => None,
        }
    }

    /// The position of the person, service account or group whose entryUUID is the
    /// normalized `value`.
    fn entry_of_uuid(&self, value: &[u8]) -> Option<u32> {
        let s = std::str::from_utf8(value).ok()?;
        let u = Uuid::try_parse(s).ok()?;
        // Only the canonical form is a stored value; anything else matches nothing.
        if u.to_string().as_bytes() != value {
            return None;
        }
        let at = self.ids.binary_search(&u.as_u128()).ok()?;
        match self.slots.get(at)? {
            Slot::Person(_) | Slot::Service(_) | Slot::Group(_) => u32::try_from(at).ok(),
            _ => None,
        }
    }

    /// Persons and service accounts whose name has the case-exact normalized form `value`
    /// (what `memberUid` compares): found through the case-ignore `uid` index, then checked.
    fn accounts_named_exactly(&self, value: &[u8]) -> Vec<u32> {
        let Some(folded) = std::str::from_utf8(value)
            .ok()
            .and_then(|s| key_as(Syntax::CaseIgnoreString, s))
        else {
            return Vec::new();
        };
        self.uid
            .get(folded)
            .iter()
            .copied()
            .filter(|&at| {
                self.account_name(at).is_some_and(|n| {
                    Syntax::CaseExactString.normalize(n.as_bytes()).as_deref() == Some(value)
                })
            })
            .collect()
    }

    fn account_name(&self, at: u32) -> Option<&str> {
        match self.slots.get(at as usize)? {
            Slot::Person(p) => self.persons.get(*p as usize).map(|r| self.str(r.name)),
            Slot::Service(s) => self.services.get(*s as usize).map(|r| self.str(r.name)),
            _ => None,
        }
    }

    fn account(&self, at: u32) -> Option<(u128, EntryKind, String)> {
        let id = *self.ids.get(at as usize)?;
        let kind = match self.slots.get(at as usize)? {
            Slot::Person(_) => EntryKind::Person,
            Slot::Service(_) => EntryKind::ServiceAccount,
            _ => return None,
        };
        Some((id, kind, self.account_name(at)?.to_owned()))
    }

    fn account_by_name(&self, name: &str) -> Option<(u128, EntryKind, String)> {
        let key = syntax_of("uid").normalize(name.as_bytes())?;
        self.uid.get(key_of(&key)).iter().find_map(|&at| {
            let n = self.account_name(at)?;
            if syntax_of("uid").normalize(n.as_bytes())? == key {
                self.account(at)
            } else {
                None
            }
        })
    }

    // ---- membership ------------------------------------------------------------------------

    fn refs_of(&self, run: Run) -> &[u32] {
        self.refs.get(run.range()).unwrap_or_default()
    }

    /// Every group an account is in, nesting included (group-table positions, ascending),
    /// from the groups it is directly in.
    fn member_of_account(&self, direct: Run) -> Vec<u32> {
        let mut out = Vec::new();
        for &g in self.refs_of(direct) {
            out.push(g);
            if let Some(r) = self.groups.get(g as usize) {
                out.extend_from_slice(self.refs_of(r.closure));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every group an entry is in (group-table positions, ascending): its `memberOf`.
    fn member_of(&self, slot: Slot) -> Vec<u32> {
        match slot {
            Slot::Person(p) => self
                .persons
                .get(p as usize)
                .map_or_else(Vec::new, |r| self.member_of_account(r.groups)),
            Slot::Service(s) => self
                .services
                .get(s as usize)
                .map_or_else(Vec::new, |r| self.member_of_account(r.groups)),
            Slot::Group(g) => self
                .groups
                .get(g as usize)
                .map_or_else(Vec::new, |r| self.refs_of(r.closure).to_vec()),
            _ => Vec::new(),
        }
    }

    /// Whether the entry in `slot` is in group `g`, nesting included.
    fn is_member_of(&self, slot: Slot, g: u32) -> bool {
        let in_closure = |h: &u32| {
            *h == g
                || self
                    .groups
                    .get(*h as usize)
                    .is_some_and(|r| self.refs_of(r.closure).binary_search(&g).is_ok())
        };
        match slot {
            Slot::Person(p) => self
                .persons
                .get(p as usize)
                .is_some_and(|r| self.refs_of(r.groups).iter().any(in_closure)),
            Slot::Service(s) => self
                .services
                .get(s as usize)
                .is_some_and(|r| self.refs_of(r.groups).iter().any(in_closure)),
            Slot::Group(h) => self
                .groups
                .get(h as usize)
                .is_some_and(|r| self.refs_of(r.closure).binary_search(&g).is_ok()),
            _ => false,
        }
    }

    /// Entry positions of groups given by table position.
    fn group_ats(&self, groups: &[u32]) -> Vec<u32> {
        groups
            .iter()
            .filter_map(|g| self.groups.get(*g as usize).map(|r| r.at))
            .collect()
    }

    /// Entry positions of the POSIX groups (those with `memberUid`) among `groups`.
    fn posix_group_ats(&self, groups: &[u32]) -> Vec<u32> {
        groups
            .iter()
            .filter_map(|g| self.groups.get(*g as usize))
            .filter(|r| r.gid_number.is_some())
            .map(|r| r.at)
            .collect()
    }

    /// Visits group `g` and every group below it once.
    fn walk_down(&self, g: u32, mut visit: impl FnMut(&GroupRec)) {
        let mut seen = vec![false; self.groups.len()];
        let mut todo = vec![g];
        while let Some(g) = todo.pop() {
            match seen.get_mut(g as usize) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            let Some(r) = self.groups.get(g as usize) else {
                continue;
            };
            visit(r);
            todo.extend_from_slice(self.refs_of(r.subgroups));
        }
    }

    /// Entry positions of everything below group `g` (its members, nesting included).
    fn below(&self, g: u32) -> Vec<u32> {
        let mut out = Vec::new();
        self.walk_down(g, |r| out.extend_from_slice(self.refs_of(r.members)));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Names of the persons and service accounts below group `g`, sorted: its `memberUid`.
    fn member_uids(&self, g: u32) -> Vec<Vec<u8>> {
        // `below` bounds the count: one allocation, and none of the growth steps that make
        // malloc consolidate the many small value buffers of the previous response.
        let bound = self.groups.get(g as usize).map_or(0, |r| r.below as usize);
        let mut ranks = Vec::with_capacity(bound.min(self.by_name.len()));
        self.walk_down(g, |r| {
            ranks.extend(
                self.refs_of(r.members)
                    .iter()
                    .filter_map(|&m| self.rank_of.get(m as usize))
                    .filter(|k| **k != NONE),
            );
        });
        if ranks.len() < self.by_name.len() / 16 {
            ranks.sort_unstable();
            ranks.dedup();
        } else {
            // Many names: one bit per account, read back in order.
            let mut bits = vec![0u64; self.by_name.len().div_ceil(64)];
            for k in &ranks {
                if let Some(w) = bits.get_mut(*k as usize / 64) {
                    *w |= 1u64 << (k % 64);
                }
            }
            ranks.clear();
            for (i, mut w) in (0u32..).zip(bits) {
                while w != 0 {
                    ranks.push(i * 64 + w.trailing_zeros());
                    w &= w - 1;
                }
            }
        }
        let mut values = Vec::with_capacity(ranks.len());
        for k in ranks {
            if let Some(n) = self.by_name.get(k as usize) {
                values.push(self.str(*n).as_bytes().to_vec());
            }
        }
        values
    }

    // ---- rendering -------------------------------------------------------------------------

    fn str(&self, s: Str) -> &str {
        self.text
            .get(s.at as usize..s.at as usize + s.len as usize)
            .unwrap_or_default()
    }

    fn strs_of(&self, run: Run) -> impl Iterator<Item = &str> {
        self.strs
            .get(run.range())
            .unwrap_or_default()
            .iter()
            .map(|s| self.str(*s))
    }

    /// The DN of the entry in `slot`, as clients see it.
    fn dn(&self, slot: Slot) -> String {
        let (attr, name, ou) = match slot {
            Slot::Base => return self.base_dn.clone(),
            Slot::Ou(o) => return self.under(None, o),
            Slot::Person(p) => (
                "uid",
                self.persons.get(p as usize).map(|r| r.name),
                Ou::People,
            ),
            Slot::PersonalGroup(p) => (
                "cn",
                self.persons.get(p as usize).map(|r| r.name),
                Ou::Groups,
            ),
            Slot::Service(s) => (
                "uid",
                self.services.get(s as usize).map(|r| r.name),
                Ou::Services,
            ),
            Slot::Group(g) => (
                "cn",
                self.groups.get(g as usize).map(|r| r.name),
                Ou::Groups,
            ),
        };
        self.under(
            Some((attr, name.map(|n| self.str(n)).unwrap_or_default())),
            ou,
        )
    }

    /// `attr=name,ou=OU,<suffix>` (or the container's DN without a leaf), written as `Dn`'s
    /// string form would write it: names are escaped (validated names never need it).
    fn under(&self, leaf: Option<(&str, &str)>, ou: Ou) -> String {
        let mut out = String::with_capacity(64 + self.base_dn.len());
        if let Some((attr, name)) = leaf {
            out.push_str(attr);
            out.push('=');
            let plain = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if plain {
                out.push_str(name);
            } else {
                out.push_str(&escape_value(name.as_bytes()));
            }
            out.push(',');
        }
        out.push_str("ou=");
        out.push_str(ou.name());
        if !self.base_dn.is_empty() {
            out.push(',');
            out.push_str(&self.base_dn);
        }
        out
    }

    /// The DN of the entry at position `at`.
    fn dn_at(&self, at: u32) -> Option<String> {
        self.slots.get(at as usize).map(|s| self.dn(*s))
    }

    fn attrs_of(slot: Slot) -> &'static [Attr] {
        match slot {
            Slot::Base => BASE_ATTRS,
            Slot::Ou(_) => OU_ATTRS,
            Slot::Person(_) => PERSON_ATTRS,
            Slot::PersonalGroup(_) => PERSONAL_GROUP_ATTRS,
            Slot::Service(_) => SERVICE_ATTRS,
            Slot::Group(_) => GROUP_ATTRS,
        }
    }

    fn classes(&self, slot: Slot) -> &'static [&'static str] {
        const PERSON: [&str; 4] = ["top", "person", "organizationalPerson", "inetOrgPerson"];
        match slot {
            Slot::Base => &["top", "domain"],
            Slot::Ou(_) => &["top", "organizationalUnit"],
            Slot::Person(p) => {
                let r = self.persons.get(p as usize);
                match (
                    r.is_some_and(|r| r.posix.is_some()),
                    r.is_some_and(|r| r.ssh_keys.len > 0),
                ) {
                    (false, false) => &PERSON,
                    (true, false) => &[PERSON[0], PERSON[1], PERSON[2], PERSON[3], "posixAccount"],
                    (false, true) => &[PERSON[0], PERSON[1], PERSON[2], PERSON[3], "ldapPublicKey"],
                    (true, true) => &[
                        PERSON[0],
                        PERSON[1],
                        PERSON[2],
                        PERSON[3],
                        "posixAccount",
                        "ldapPublicKey",
                    ],
                }
            }
            Slot::PersonalGroup(_) => &["top", "posixGroup"],
            Slot::Service(_) => &["top", "account"],
            Slot::Group(g) => {
                if self
                    .groups
                    .get(g as usize)
                    .is_some_and(|r| r.gid_number.is_some())
                {
                    &["top", "groupOfNames", "posixGroup"]
                } else {
                    &["top", "groupOfNames"]
                }
            }
        }
    }

    /// Whether the entry has the attribute (`attr` is one of its kind's); cheap.
    fn present(&self, slot: Slot, attr: Attr) -> bool {
        if !Self::attrs_of(slot).contains(&attr) {
            return false;
        }
        match slot {
            Slot::Person(p) => {
                let Some(r) = self.persons.get(p as usize) else {
                    return false;
                };
                match attr {
                    Attr::Mail => r.mails.len > 0,
                    Attr::UidNumber
                    | Attr::GidNumber
                    | Attr::HomeDirectory
                    | Attr::LoginShell
                    | Attr::Gecos => r.posix.is_some(),
                    Attr::SshPublicKey => r.ssh_keys.len > 0,
                    Attr::MemberOf => r.groups.len > 0,
                    _ => true,
                }
            }
            Slot::Service(s) => {
                let Some(r) = self.services.get(s as usize) else {
                    return false;
                };
                match attr {
                    Attr::Description => r.description.is_some(),
                    Attr::MemberOf => r.groups.len > 0,
                    _ => true,
                }
            }
            Slot::Group(g) => {
                let Some(r) = self.groups.get(g as usize) else {
                    return false;
                };
                match attr {
                    Attr::Description => r.description.is_some(),
                    Attr::Member => r.members.len > 0,
                    Attr::GidNumber => r.gid_number.is_some(),
                    Attr::MemberUid => r.gid_number.is_some() && r.has_accounts,
                    Attr::MemberOf => r.closure.len > 0,
                    _ => true,
                }
            }
            Slot::Base | Slot::Ou(_) | Slot::PersonalGroup(_) => true,
        }
    }

    /// The values of `attr` on the entry in `slot`, or `None` if it has none.
    fn values(&self, slot: Slot, attr: Attr) -> Option<Vec<Vec<u8>>> {
        if !self.present(slot, attr) {
            return None;
        }
        let one = |s: &str| vec![s.as_bytes().to_vec()];
        let dns = |groups: Vec<u32>| {
            groups
                .iter()
                .filter_map(|g| self.groups.get(*g as usize))
                .filter_map(|r| self.dn_at(r.at))
                .map(String::into_bytes)
                .collect::<Vec<_>>()
        };
        let values = match (slot, attr) {
            (_, Attr::ObjectClass) => self
                .classes(slot)
                .iter()
                .map(|c| c.as_bytes().to_vec())
                .collect(),
            (_, Attr::MemberOf) => dns(self.member_of(slot)),
            (Slot::Base, Attr::Dc) => one(&self.first_dc),
            (Slot::Ou(o), Attr::Ou) => one(o.name()),
            (Slot::Person(p), _) => {
                let r = self.persons.get(p as usize)?;
                let display = self.str(r.display_name);
                let posix = r.posix.as_ref();
                match attr {
                    Attr::Uid => one(self.str(r.name)),
                    Attr::Cn | Attr::DisplayName => one(display),
                    Attr::Sn => one(display
                        .split_whitespace()
                        .last()
                        .unwrap_or(self.str(r.name))),
                    Attr::EntryUuid => {
                        one(&Uuid::from_u128(*self.ids.get(r.at as usize)?).to_string())
                    }
                    Attr::CreateTimestamp => one(&gentime(r.created)),
                    Attr::ModifyTimestamp => one(&gentime(r.modified)),
                    Attr::Mail => self
                        .strs_of(r.mails)
                        .map(|s| s.as_bytes().to_vec())
                        .collect(),
                    Attr::UidNumber => one(&posix?.uid_number.to_string()),
                    Attr::GidNumber => one(&posix?.gid_number.to_string()),
                    Attr::HomeDirectory => one(self.str(posix?.home_directory)),
                    Attr::LoginShell => one(self.str(posix?.login_shell)),
                    Attr::Gecos => one(display),
                    Attr::SshPublicKey => self
                        .strs_of(r.ssh_keys)
                        .map(|s| s.as_bytes().to_vec())
                        .collect(),
                    _ => return None,
                }
            }
            (Slot::PersonalGroup(p), _) => {
                let r = self.persons.get(p as usize)?;
                let name = self.str(r.name);
                match attr {
                    Attr::Cn | Attr::MemberUid => one(name),
                    Attr::GidNumber => one(&r.posix.as_ref()?.gid_number.to_string()),
                    Attr::Description => one(&format!("personal group of {name}")),
                    _ => return None,
                }
            }
            (Slot::Service(s), _) => {
                let r = self.services.get(s as usize)?;
                match attr {
                    Attr::Uid => one(self.str(r.name)),
                    Attr::Cn => one(self.str(r.display_name)),
                    Attr::EntryUuid => {
                        one(&Uuid::from_u128(*self.ids.get(r.at as usize)?).to_string())
                    }
                    Attr::CreateTimestamp => one(&gentime(r.created)),
                    Attr::ModifyTimestamp => one(&gentime(r.modified)),
                    Attr::Description => one(self.str(r.description?)),
                    _ => return None,
                }
            }
            (Slot::Group(g), _) => {
                let r = self.groups.get(g as usize)?;
                match attr {
                    Attr::Cn => one(self.str(r.name)),
                    Attr::EntryUuid => {
                        one(&Uuid::from_u128(*self.ids.get(r.at as usize)?).to_string())
                    }
                    Attr::CreateTimestamp => one(&gentime(r.created)),
                    Attr::ModifyTimestamp => one(&gentime(r.modified)),
                    Attr::Description => one(self.str(r.description?)),
                    Attr::Member => self
                        .refs_of(r.members)
                        .iter()
                        .filter_map(|m| self.dn_at(*m))
                        .map(String::into_bytes)
                        .collect(),
                    Attr::GidNumber => one(&r.gid_number?.to_string()),
                    Attr::MemberUid => self.member_uids(g),
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(values)
    }

    /// Equality without rendering, for the attributes where rendering is what costs: whether
    /// some value of `attr` on the entry has the normalized form `assertion`.
    fn has_value(&self, slot: Slot, attr: Attr, assertion: &[u8]) -> Option<bool> {
        if !self.present(slot, attr) {
            return Some(false);
        }
        match attr {
            Attr::ObjectClass => Some(self.classes(slot).iter().any(|c| is_class(c, assertion))),
            // Every memberOf/member value is the DN of an entry of this view, so an assertion
            // that names no entry matches none; one that does matches exactly that entry's DN.
            Attr::MemberOf => {
                let target = dn_value(assertion)?;
                Some(
                    match self.find_dn(&target).map(|at| self.slots.get(at as usize)) {
                        Some(Some(Slot::Group(g))) => self.is_member_of(slot, *g),
                        _ => false,
                    },
                )
            }
            Attr::Member => {
                let Slot::Group(g) = slot else {
                    return Some(false);
                };
                let target = dn_value(assertion)?;
                let members = self.groups.get(g as usize).map(|r| r.members)?;
                Some(
                    self.find_dn(&target)
                        .is_some_and(|at| self.refs_of(members).binary_search(&at).is_ok()),
                )
            }
            Attr::MemberUid => match slot {
                Slot::PersonalGroup(p) => {
                    let name = self.persons.get(p as usize).map(|r| self.str(r.name))?;
                    Some(
                        Syntax::CaseExactString
                            .normalize(name.as_bytes())
                            .as_deref()
                            == Some(assertion),
                    )
                }
                Slot::Group(g) => Some(
                    self.accounts_named_exactly(assertion)
                        .into_iter()
                        .filter_map(|at| self.slots.get(at as usize))
                        .any(|s| self.is_member_of(*s, g)),
                ),
                _ => Some(false),
            },
            _ => None,
        }
    }
}

/// The lower-cased name of an indexed attribute, if `attr` is one.
fn index_name(attr: &str) -> Option<&'static str> {
    INDEXED.into_iter().find(|a| a.eq_ignore_ascii_case(attr))
}

/// The key of a normalized integer in the number indexes; `None` when no stored number can
/// equal it (negative or too large).
fn number_key(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value)
        .ok()?
        .parse::<u32>()
        .ok()
        .map(u64::from)
}

/// A normalized DN-syntax value back as a (normalized) DN.
fn dn_value(value: &[u8]) -> Option<Dn> {
    Dn::parse(std::str::from_utf8(value).ok()?)
        .ok()
        .map(|d| d.normalize())
}

/// One entry of a [`LdapView`], rendered on demand.
#[derive(Clone, Copy)]
pub struct ViewEntry<'a> {
    view: &'a LdapView,
    at: usize,
    slot: Slot,
}

impl std::fmt::Debug for ViewEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewEntry")
            .field("dn", &self.view.dn(self.slot))
            .finish()
    }
}

impl ViewEntry<'_> {
    /// The entry's id.
    pub fn id(&self) -> EntryId {
        EntryId(self.view.ids.get(self.at).copied().unwrap_or_default())
    }

    /// The parent's normalized DN and the RDN's attribute and name, for leaf entries.
    fn leaf(&self) -> Option<(&Dn, &'static str, &str)> {
        let v = self.view;
        let (ou, attr, name) = match self.slot {
            Slot::Base | Slot::Ou(_) => return None,
            Slot::Person(p) => (Ou::People, "uid", v.persons.get(p as usize)?.name),
            Slot::PersonalGroup(p) => (Ou::Groups, "cn", v.persons.get(p as usize)?.name),
            Slot::Service(s) => (Ou::Services, "uid", v.services.get(s as usize)?.name),
            Slot::Group(g) => (Ou::Groups, "cn", v.groups.get(g as usize)?.name),
        };
        Some((&v.ou_norm[ou as usize], attr, v.str(name)))
    }
}

impl EntryView for ViewEntry<'_> {
    fn dn_string(&self) -> Cow<'_, str> {
        Cow::Owned(self.view.dn(self.slot))
    }

    fn dn(&self) -> Cow<'_, Dn> {
        Cow::Owned(Dn::parse(&self.view.dn(self.slot)).unwrap_or_default())
    }

    /// Decided on the parts: the container's normalized DN and the entry's own RDN, which is
    /// only normalized when the search base is the entry itself.
    fn in_scope(&self, base: &Dn, scope: SearchScope) -> bool {
        let v = self.view;
        let (parent, attr, name) = match self.slot {
            Slot::Base => return in_scope(&v.base_norm, base, scope),
            Slot::Ou(o) => return in_scope(&v.ou_norm[o as usize], base, scope),
            _ => match self.leaf() {
                Some(l) => l,
                None => return false,
            },
        };
        let below_base = parent.ends_with(base);
        let is_base = || {
            base.len() == parent.len() + 1
                && base.ends_with(parent)
                && base.rdn().is_some_and(|rdn| match rdn.avas() {
                    [ava] => {
                        !ava.ber
                            && ava.attr == attr
                            && syntax_of(attr).normalize(name.as_bytes()).as_deref()
                                == Some(&ava.value[..])
                    }
                    _ => false,
                })
        };
        match scope {
            SearchScope::BaseObject => is_base(),
            SearchScope::SingleLevel => parent.len() == base.len() && below_base,
            SearchScope::WholeSubtree => below_base || is_base(),
            SearchScope::SubordinateSubtree => below_base,
        }
    }

    fn attribute(&self, description: &str) -> Option<Cow<'_, Attribute>> {
        let attr = Attr::parse(description)?;
        let values = self.view.values(self.slot, attr)?;
        Some(Cow::Owned(Attribute {
            description: attr.name().to_owned(),
            values,
        }))
    }

    fn has_attribute(&self, description: &str) -> bool {
        Attr::parse(description).is_some_and(|a| self.view.present(self.slot, a))
    }

    fn has_value(&self, description: &str, assertion: &[u8]) -> Option<bool> {
        let Some(attr) = Attr::parse(description) else {
            // Not an attribute of this view: absent, so no value equals anything.
            return Some(false);
        };
        self.view.has_value(self.slot, attr, assertion)
    }

    fn select(&self, wanted: &mut dyn FnMut(&str) -> bool) -> Vec<Attribute> {
        LdapView::attrs_of(self.slot)
            .iter()
            .filter(|a| wanted(a.name()))
            .filter_map(|a| {
                self.view.values(self.slot, *a).map(|values| Attribute {
                    description: a.name().to_owned(),
                    values,
                })
            })
            .collect()
    }
}

mod build;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
