//! The first, materialized LDAP view (until issue #4's compact one replaced it), kept for the
//! tests as the reference the compact view must agree with: every identity rendered once as
//! an LDAP entry, with equality indexes keyed by normalized values. Kept as it was, so some of
//! it is unused.

#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use idm_ldap::schema::syntax_of;
use idm_ldap::{BoundIdentity, Dn, EntryId};
use idm_model::access::{IDM_ACCOUNT_READ_PRIV, IDM_ADMINS};
use idm_model::{Entry, EntryKind, Group, Person, ServiceAccount};
use idm_store::{Reader, Store, StoreError};
use uuid::Uuid;

/// The attributes with an equality index (the planner asks; others are scanned).
const INDEXED: [&str; 11] = [
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
/// a way that collides with another live entry's UUID in practice, and the view checks).
const PERSONAL_GROUP_MASK: u128 = 1 << 127;

pub struct ReferenceView {
    pub generation: u64,
    pub base: String,
    entries: HashMap<u128, idm_ldap::Entry>,
    by_dn: HashMap<Dn, u128>,
    index: HashMap<&'static str, HashMap<Vec<u8>, Vec<EntryId>>>,
    /// Accounts that may read every entry.
    readers: HashSet<u128>,
    /// The account behind each bindable DN (persons and service accounts).
    accounts: HashMap<u128, (EntryKind, String)>,
}

fn gentime(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%SZ").to_string()
}

impl ReferenceView {
    /// Renders every entry from one consistent read.
    pub fn build(store: &Store, base: &str) -> Result<ReferenceView, StoreError> {
        let generation = store.generation();
        let txn = store.read()?;
        let mut names: HashMap<Uuid, (EntryKind, String)> = HashMap::new();
        let mut all = Vec::new();
        for kind in [
            EntryKind::Person,
            EntryKind::ServiceAccount,
            EntryKind::Group,
        ] {
            for u in txn.uuids_of_kind(kind)? {
                let e = txn.require(u)?;
                names.insert(u, (kind, e.name().to_owned()));
                all.push(e);
            }
        }
        let dn_of = |u: &Uuid| -> Option<String> {
            names.get(u).map(|(k, n)| match k {
                EntryKind::Person => format!("uid={n},ou=people,{base}"),
                EntryKind::ServiceAccount => format!("uid={n},ou=services,{base}"),
                EntryKind::Group => format!("cn={n},ou=groups,{base}"),
            })
        };
        let readers_groups: HashSet<Uuid> = all
            .iter()
            .filter(|e| matches!(e.name(), IDM_ACCOUNT_READ_PRIV | IDM_ADMINS))
            .map(Entry::uuid)
            .collect();
        let mut v = ReferenceView {
            generation,
            base: base.to_owned(),
            entries: HashMap::new(),
            by_dn: HashMap::new(),
            index: INDEXED.iter().map(|a| (*a, HashMap::new())).collect(),
            readers: HashSet::new(),
            accounts: HashMap::new(),
        };
        v.containers();
        for e in &all {
            let transitive = txn.member_of_transitive(e.uuid())?;
            let member_of: Vec<String> = transitive.iter().filter_map(dn_of).collect();
            if transitive.iter().any(|g| readers_groups.contains(g)) {
                v.readers.insert(e.uuid().as_u128());
            }
            match e {
                Entry::Person(p) => {
                    v.accounts
                        .insert(p.uuid.as_u128(), (EntryKind::Person, p.name.clone()));
                    let entry = person(p, base, &member_of);
                    v.insert(p.uuid.as_u128(), entry);
                    if let Some(x) = &p.posix {
                        let g = personal_group(p, x.gid_number, base);
                        v.insert(p.uuid.as_u128() ^ PERSONAL_GROUP_MASK, g);
                    }
                }
                Entry::ServiceAccount(s) => {
                    v.accounts.insert(
                        s.uuid.as_u128(),
                        (EntryKind::ServiceAccount, s.name.clone()),
                    );
                    v.insert(s.uuid.as_u128(), service(s, base, &member_of));
                }
                Entry::Group(g) => {
                    let members: Vec<String> = g.members.iter().filter_map(dn_of).collect();
                    let mut uids = BTreeSet::new();
                    for m in txn.members_transitive(g.uuid)? {
                        if let Some((EntryKind::Person | EntryKind::ServiceAccount, n)) =
                            names.get(&m)
                        {
                            uids.insert(n.clone());
                        }
                    }
                    let entry = group(g, base, &members, &uids, &member_of);
                    v.insert(g.uuid.as_u128(), entry);
                }
            }
        }
        Ok(v)
    }

    fn containers(&mut self) {
        let first_dc = self
            .base
            .split(',')
            .next()
            .and_then(|r| r.split_once('='))
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        let base = self.base.clone();
        let top = ldap_entry(&base)
            .with("objectClass", ["top", "domain"])
            .with("dc", [first_dc]);
        self.insert(BASE_ID, top);
        for (id, ou) in [
            (PEOPLE_ID, "people"),
            (GROUPS_ID, "groups"),
            (SERVICES_ID, "services"),
        ] {
            let e = ldap_entry(&format!("ou={ou},{base}"))
                .with("objectClass", ["top", "organizationalUnit"])
                .with("ou", [ou]);
            self.insert(id, e);
        }
    }

    fn insert(&mut self, id: u128, e: idm_ldap::Entry) {
        for a in e.attributes() {
            let key = a.description.to_ascii_lowercase();
            if let Some(idx) = self.index.get_mut(key.as_str()) {
                let syntax = syntax_of(&a.description);
                for val in &a.values {
                    if let Some(n) = syntax.normalize(val) {
                        idx.entry(n).or_default().push(EntryId(id));
                    }
                }
            }
        }
        self.by_dn.insert(e.dn().normalize(), id);
        self.entries.insert(id, e);
    }

    pub fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>> {
        let idx = self.index.get(attr.to_ascii_lowercase().as_str())?;
        Some(match idx.get(value) {
            Some(ids) => Cow::Borrowed(ids.as_slice()),
            None => Cow::Owned(Vec::new()),
        })
    }

    pub fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.by_dn.get(&dn.normalize()).map(|u| EntryId(*u))
    }

    pub fn all_ids(&self) -> Vec<EntryId> {
        self.entries.keys().map(|u| EntryId(*u)).collect()
    }

    /// Readers (`idm_account_read_priv`, `idm_admins`) see everything; anyone else bound sees
    /// only their own entry and the containers above it; anonymous sees nothing (the root DSE
    /// is answered elsewhere).
    pub fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<Cow<'_, idm_ldap::Entry>> {
        let BoundIdentity::User { id: me, .. } = who else {
            return None;
        };
        let container = matches!(id.0, BASE_ID | PEOPLE_ID | GROUPS_ID | SERVICES_ID);
        if container || self.readers.contains(&me.0) || me.0 == id.0 {
            self.entries.get(&id.0).map(Cow::Borrowed)
        } else {
            None
        }
    }

    /// The account a bind name means: its DN, `uid=NAME,<suffix>`, or the bare name.
    pub fn resolve_bind_name(&self, name: &str) -> Option<(u128, EntryKind, String)> {
        let account = |id: u128| self.accounts.get(&id).map(|(k, n)| (id, *k, n.clone()));
        if let Ok(dn) = Dn::parse(name)
            && !dn.is_root()
        {
            if let Some(id) = self.by_dn.get(&dn.normalize()) {
                return account(*id);
            }
            let n = dn.normalize();
            let rdn = n.rdn()?;
            let [ava] = rdn.avas() else {
                return None;
            };
            let base = Dn::parse(&self.base).ok()?.normalize();
            if ava.attr != "uid" || n.parent().as_ref() != Some(&base) {
                return None;
            }
            let uid = String::from_utf8(ava.value.clone()).ok()?;
            return self.account_by_name(&uid);
        }
        self.account_by_name(name)
    }

    fn account_by_name(&self, name: &str) -> Option<(u128, EntryKind, String)> {
        let key = syntax_of("uid").normalize(name.as_bytes())?;
        let ids = self.index.get("uid")?.get(&key)?;
        ids.iter()
            .find_map(|id| self.accounts.get(&id.0).map(|(k, n)| (id.0, *k, n.clone())))
    }

    pub fn dn_of(&self, id: u128) -> Option<&str> {
        self.entries.get(&id).map(|e| e.dn_string())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry with its id.
    pub fn entries(&self) -> impl Iterator<Item = (u128, &idm_ldap::Entry)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }
}

fn ldap_entry(dn: &str) -> idm_ldap::Entry {
    // Every DN here is made of validated names (a-z0-9._-) and the configured suffix, which was
    // checked at start-up, so parsing cannot fail; an unparsable one becomes the root DN and
    // is simply never found.
    idm_ldap::Entry::new(Dn::parse(dn).unwrap_or_default(), Vec::new())
}

fn person(p: &Person, base: &str, member_of: &[String]) -> idm_ldap::Entry {
    let mut oc = vec!["top", "person", "organizationalPerson", "inetOrgPerson"];
    if p.posix.is_some() {
        oc.push("posixAccount");
    }
    if !p.ssh_keys.is_empty() {
        oc.push("ldapPublicKey");
    }
    let sn = p
        .display_name
        .split_whitespace()
        .last()
        .unwrap_or(&p.name)
        .to_owned();
    let mut e = ldap_entry(&format!("uid={},ou=people,{base}", p.name))
        .with("objectClass", oc)
        .with("uid", [&p.name])
        .with("cn", [&p.display_name])
        .with("sn", [sn])
        .with("displayName", [&p.display_name])
        .with("entryUUID", [p.uuid.to_string()])
        .with("createTimestamp", [gentime(p.created_at)])
        .with("modifyTimestamp", [gentime(p.modified_at)]);
    if !p.mails.is_empty() {
        e.add_values("mail", &p.mails);
    }
    if let Some(x) = &p.posix {
        e.add_values("uidNumber", [x.uid_number.to_string()]);
        e.add_values("gidNumber", [x.gid_number.to_string()]);
        e.add_values("homeDirectory", [&x.home_directory]);
        e.add_values("loginShell", [&x.login_shell]);
        e.add_values("gecos", [&p.display_name]);
    }
    if !p.ssh_keys.is_empty() {
        e.add_values("sshPublicKey", p.ssh_keys.values());
    }
    if !member_of.is_empty() {
        e.add_values("memberOf", member_of);
    }
    e
}

/// The user-private group of a POSIX person, so that `id` and `ls -l` show a name for the
/// primary gid (as Kanidm and FreeIPA do).
fn personal_group(p: &Person, gid: u32, base: &str) -> idm_ldap::Entry {
    ldap_entry(&format!("cn={},ou=groups,{base}", p.name))
        .with("objectClass", ["top", "posixGroup"])
        .with("cn", [&p.name])
        .with("gidNumber", [gid.to_string()])
        .with("memberUid", [&p.name])
        .with("description", [format!("personal group of {}", p.name)])
}

fn service(s: &ServiceAccount, base: &str, member_of: &[String]) -> idm_ldap::Entry {
    let mut e = ldap_entry(&format!("uid={},ou=services,{base}", s.name))
        .with("objectClass", ["top", "account"])
        .with("uid", [&s.name])
        .with("cn", [&s.display_name])
        .with("entryUUID", [s.uuid.to_string()])
        .with("createTimestamp", [gentime(s.created_at)])
        .with("modifyTimestamp", [gentime(s.modified_at)]);
    if let Some(d) = &s.description {
        e.add_values("description", [d]);
    }
    if !member_of.is_empty() {
        e.add_values("memberOf", member_of);
    }
    e
}

fn group(
    g: &Group,
    base: &str,
    members: &[String],
    uids: &BTreeSet<String>,
    member_of: &[String],
) -> idm_ldap::Entry {
    let mut oc = vec!["top", "groupOfNames"];
    if g.gid_number.is_some() {
        oc.push("posixGroup");
    }
    let mut e = ldap_entry(&format!("cn={},ou=groups,{base}", g.name))
        .with("objectClass", oc)
        .with("cn", [&g.name])
        .with("entryUUID", [g.uuid.to_string()])
        .with("createTimestamp", [gentime(g.created_at)])
        .with("modifyTimestamp", [gentime(g.modified_at)]);
    if let Some(d) = &g.description {
        e.add_values("description", [d]);
    }
    if !members.is_empty() {
        e.add_values("member", members);
    }
    if let Some(gid) = g.gid_number {
        e.add_values("gidNumber", [gid.to_string()]);
        if !uids.is_empty() {
            e.add_values("memberUid", uids);
        }
    }
    if !member_of.is_empty() {
        e.add_values("memberOf", member_of);
    }
    e
}
