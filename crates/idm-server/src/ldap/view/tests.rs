//! The compact view against the materialized view it replaced ([`super::reference`]) and
//! against the filter semantics of `idm-ldap`: the same entries with the same attributes and
//! values in the same order, the same access decisions and bind-name resolution, index answers
//! that contain the reference's, and planned searches equal to evaluating every reference
//! entry — on a hand-made directory and on random ones.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use idm_ldap::search::{search, select_attributes};
use idm_ldap::{BindOutcome, Directory, Filter, Timestamp};
use idm_model::access::IDM_ACCOUNT_READ_PRIV;
use idm_model::audit::Actor;
use idm_model::change::Change;
use idm_model::{Group, Person, PosixAccount, ServiceAccount};
use idm_store::StoreConfig;
use proptest::prelude::*;

use super::reference::ReferenceView;
use super::*;

const BASE: &str = "dc=example,dc=com";
const KEY: &str = "ssh-ed25519 \
    AAAAC3NzaC1lZDI1NTE5AAAAIK/N83WaKKzuXRiZYg9u6TH23zTlriq6wLp8I56TvoWE alice@laptop";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn actor() -> Actor {
    Actor {
        uuid: None,
        name: "tester".into(),
    }
}

fn store() -> Store {
    let s = Store::in_memory(StoreConfig::default()).unwrap();
    s.ensure_builtins(t0()).unwrap();
    s
}

fn apply(s: &Store, c: Change) {
    let _applied = s.apply(&c, &actor(), t0(), None).unwrap();
}

/// UUIDs spread over the whole range (so table order differs from creation order), with
/// `kind` keeping persons, services and groups apart.
fn uuid(kind: u128, i: usize) -> Uuid {
    Uuid::from_u128(
        ((kind << 120) | (i as u128 + 1)).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
    )
}

fn person(i: usize, name: &str, display: &str) -> Person {
    Person {
        uuid: uuid(1, i),
        name: name.into(),
        display_name: display.into(),
        legal_name: None,
        mails: vec![],
        valid_from: None,
        expire_at: None,
        lock: None,
        posix: None,
        ssh_keys: Default::default(),
        credentials: Default::default(),
        created_at: t0(),
        modified_at: t0(),
    }
}

fn posix(uid: u32, shell: &str, home: &str) -> Option<PosixAccount> {
    Some(PosixAccount {
        uid_number: uid,
        gid_number: uid,
        login_shell: shell.into(),
        home_directory: home.into(),
    })
}

fn service(i: usize, name: &str, description: Option<&str>) -> ServiceAccount {
    ServiceAccount {
        uuid: uuid(2, i),
        name: name.into(),
        display_name: format!("Service {name}"),
        description: description.map(str::to_owned),
        mails: vec![],
        valid_from: None,
        expire_at: None,
        lock: None,
        api_tokens: vec![],
        created_at: t0(),
        modified_at: t0(),
    }
}

fn group(i: usize, name: &str, gid: Option<u32>, members: &[Uuid]) -> Group {
    Group {
        uuid: uuid(3, i),
        name: name.into(),
        description: None,
        members: members.iter().copied().collect(),
        gid_number: gid,
        credential_policy: None,
        created_at: t0(),
        modified_at: t0(),
    }
}

fn builtin(s: &Store, name: &str) -> Uuid {
    s.get_by_name(name).unwrap().unwrap().uuid()
}

/// alice (POSIX, two mails, an SSH key) and svc in devs (POSIX) ⊂ staff (POSIX, with carol)
/// ⊂ everyone (no gid, with bob); reader in `idm_account_read_priv`; `empty` has a gid and
/// nobody.
fn fixture() -> Store {
    let s = store();
    let mut alice = person(1, "alice", "Alice Liddell");
    alice.mails = vec!["alice@example.com".into(), "Alice.L@Example.org".into()];
    alice.posix = posix(10_001, "/bin/bash", "/home/alice");
    alice.ssh_keys.insert("laptop".into(), KEY.into());
    let bob = person(2, "bob", "Bob");
    let mut carol = person(3, "carol", "Carol  van Dyke");
    carol.mails = vec!["carol@example.com".into()];
    carol.posix = posix(10_003, "/bin/zsh", "/home/carol");
    for p in [alice, bob, carol] {
        apply(&s, Change::CreatePerson(p));
    }
    apply(&s, Change::CreateServiceAccount(service(1, "reader", None)));
    apply(
        &s,
        Change::CreateServiceAccount(service(2, "svc", Some("a service"))),
    );
    let devs = group(1, "devs", Some(20_001), &[uuid(1, 1), uuid(2, 2)]);
    let staff = group(2, "staff", Some(20_002), &[devs.uuid, uuid(1, 3)]);
    let mut everyone = group(3, "everyone", None, &[staff.uuid, uuid(1, 2)]);
    everyone.description = Some("all of us".into());
    let empty = group(4, "empty", Some(20_003), &[]);
    for g in [devs, staff, everyone, empty] {
        apply(&s, Change::CreateGroup(g));
    }
    apply(
        &s,
        Change::AddMembers {
            group: builtin(&s, IDM_ACCOUNT_READ_PRIV),
            members: vec![uuid(2, 1)],
        },
    );
    s
}

/// The search engine's view of the compact directory (binds are the server's business).
struct TestDir<'a>(&'a LdapView);

impl Directory for TestDir<'_> {
    type Entry<'e>
        = ViewEntry<'e>
    where
        Self: 'e;

    fn bind(&mut self, _: &str, _: &[u8], _: Timestamp) -> BindOutcome {
        BindOutcome::InvalidCredentials {
            reason: "no binds here".into(),
        }
    }
    fn root_dse(&self) -> RootDse {
        self.0.root_dse()
    }
    fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>> {
        self.0.lookup_eq(attr, value)
    }
    fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        self.0.count_eq(attr, value)
    }
    fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.0.lookup_dn(dn)
    }
    fn all_ids(&self) -> Vec<EntryId> {
        self.0.all_ids()
    }
    fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<ViewEntry<'_>> {
        self.0.entry(id, who)
    }
}

fn as_user(u: Uuid) -> BoundIdentity {
    BoundIdentity::User {
        dn: String::new(),
        id: EntryId(u.as_u128()),
    }
}

fn reader() -> BoundIdentity {
    as_user(uuid(2, 1))
}

/// The built-in admin, in `idm_admins`.
fn admin() -> BoundIdentity {
    as_user(idm_model::access::ADMIN_UUID)
}

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap()
}

/// DNs of the entries `filter` finds from the suffix, as the reader.
fn find(v: &LdapView, filter: &str) -> BTreeSet<String> {
    find_in(v, BASE, SearchScope::WholeSubtree, filter)
}

fn find_in(v: &LdapView, base: &str, scope: SearchScope, filter: &str) -> BTreeSet<String> {
    let dir = TestDir(v);
    search(
        &dir,
        &reader(),
        &dn(base),
        scope,
        &Filter::parse(filter).unwrap(),
        usize::MAX,
    )
    .into_iter()
    .map(|e| e.dn_string().into_owned())
    .collect()
}

fn set(dns: &[&str]) -> BTreeSet<String> {
    dns.iter().map(|d| (*d).to_owned()).collect()
}

fn people(name: &str) -> String {
    format!("uid={name},ou=people,{BASE}")
}

fn grp(name: &str) -> String {
    format!("cn={name},ou=groups,{BASE}")
}

fn services(name: &str) -> String {
    format!("uid={name},ou=services,{BASE}")
}

/// The entry's attributes, as a search for `attrs` returns them.
fn attrs(v: &LdapView, id: Uuid, requested: &[&str]) -> Vec<Attribute> {
    let e = v.entry(EntryId(id.as_u128()), &admin()).unwrap();
    let requested: Vec<String> = requested.iter().map(|r| (*r).to_owned()).collect();
    select_attributes(e, &requested, false)
}

fn values(v: &LdapView, id: Uuid, attr: &str) -> Vec<String> {
    let e = v.entry(EntryId(id.as_u128()), &admin()).unwrap();
    e.attribute(attr).map_or_else(Vec::new, |a| {
        a.values
            .iter()
            .map(|x| String::from_utf8(x.clone()).unwrap())
            .collect()
    })
}

fn names(attributes: &[Attribute]) -> Vec<&str> {
    attributes.iter().map(|a| a.description.as_str()).collect()
}

// ---- the compact view on its own ----------------------------------------------------------

#[test]
fn a_person_without_posix() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let bob = uuid(1, 2);
    let all = attrs(&v, bob, &[]);
    assert_eq!(
        names(&all),
        ["objectClass", "uid", "cn", "sn", "displayName", "memberOf"]
    );
    assert_eq!(
        values(&v, bob, "objectclass"),
        ["top", "person", "organizationalPerson", "inetOrgPerson"]
    );
    assert_eq!(values(&v, bob, "uid"), ["bob"]);
    assert_eq!(values(&v, bob, "sn"), ["Bob"]);
    assert!(values(&v, bob, "uidNumber").is_empty());
    assert!(values(&v, bob, "mail").is_empty());
    assert_eq!(values(&v, bob, "memberOf"), [grp("everyone")]);
    assert_eq!(v.dn_of(bob.as_u128()).unwrap(), people("bob"));
}

#[test]
fn a_posix_person_with_mail_and_ssh_key() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let alice = uuid(1, 1);
    assert_eq!(
        names(&attrs(&v, alice, &["*"])),
        [
            "objectClass",
            "uid",
            "cn",
            "sn",
            "displayName",
            "mail",
            "uidNumber",
            "gidNumber",
            "homeDirectory",
            "loginShell",
            "gecos",
            "sshPublicKey",
            "memberOf"
        ]
    );
    assert_eq!(
        values(&v, alice, "objectClass"),
        [
            "top",
            "person",
            "organizationalPerson",
            "inetOrgPerson",
            "posixAccount",
            "ldapPublicKey"
        ]
    );
    assert_eq!(values(&v, alice, "cn"), ["Alice Liddell"]);
    assert_eq!(values(&v, alice, "sn"), ["Liddell"]);
    assert_eq!(
        values(&v, alice, "mail"),
        ["alice@example.com", "Alice.L@Example.org"]
    );
    assert_eq!(values(&v, alice, "uidNumber"), ["10001"]);
    assert_eq!(values(&v, alice, "gidNumber"), ["10001"]);
    assert_eq!(values(&v, alice, "homeDirectory"), ["/home/alice"]);
    assert_eq!(values(&v, alice, "loginShell"), ["/bin/bash"]);
    assert_eq!(values(&v, alice, "gecos"), ["Alice Liddell"]);
    assert_eq!(values(&v, alice, "sshPublicKey"), [KEY]);
    assert_eq!(values(&v, uuid(1, 3), "sn"), ["Dyke"]);
    assert_eq!(find(&v, "(sshPublicKey=*)"), set(&[&people("alice")]));
    assert_eq!(
        find(&v, &format!("(sshPublicKey={KEY})")),
        set(&[&people("alice")])
    );
    // Her personal group.
    let pg = Uuid::from_u128(alice.as_u128() ^ PERSONAL_GROUP_MASK);
    assert_eq!(v.dn_of(pg.as_u128()).unwrap(), grp("alice"));
    assert_eq!(values(&v, pg, "objectClass"), ["top", "posixGroup"]);
    assert_eq!(values(&v, pg, "gidNumber"), ["10001"]);
    assert_eq!(values(&v, pg, "memberUid"), ["alice"]);
    assert_eq!(values(&v, pg, "description"), ["personal group of alice"]);
}

#[test]
fn operational_attributes_only_when_asked() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let alice = uuid(1, 1);
    assert!(!names(&attrs(&v, alice, &["*"])).contains(&"entryUUID"));
    assert_eq!(
        names(&attrs(&v, alice, &["+"])),
        ["entryUUID", "createTimestamp", "modifyTimestamp"]
    );
    assert_eq!(
        names(&attrs(&v, alice, &["uid", "ENTRYUUID"])),
        ["uid", "entryUUID"]
    );
    assert_eq!(values(&v, alice, "entryUUID"), [alice.to_string()]);
    assert_eq!(values(&v, alice, "createTimestamp"), ["20270115080000Z"]);
    assert_eq!(
        names(&attrs(&v, uuid(3, 1), &["+"])),
        ["entryUUID", "createTimestamp", "modifyTimestamp"]
    );
    assert!(attrs(&v, alice, &["1.1"]).is_empty());
}

#[test]
fn nested_groups_memberof_member_and_memberuid() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let (alice, svc, devs, staff, everyone) =
        (uuid(1, 1), uuid(2, 2), uuid(3, 1), uuid(3, 2), uuid(3, 3));
    // memberOf is transitive, in UUID order of the groups.
    let mut want = vec![
        (devs, grp("devs")),
        (staff, grp("staff")),
        (everyone, grp("everyone")),
    ];
    want.sort();
    let want: Vec<String> = want.into_iter().map(|(_, d)| d).collect();
    assert_eq!(values(&v, alice, "memberOf"), want);
    assert_eq!(values(&v, svc, "memberOf"), want);
    assert_eq!(values(&v, staff, "memberOf"), [grp("everyone")]);
    assert!(values(&v, everyone, "memberOf").is_empty());
    // member is direct only; memberUid lists every account below a POSIX group, sorted.
    let mut direct = vec![(staff, grp("staff")), (uuid(1, 2), people("bob"))];
    direct.sort();
    let direct: Vec<String> = direct.into_iter().map(|(_, d)| d).collect();
    assert_eq!(values(&v, everyone, "member"), direct);
    assert_eq!(values(&v, devs, "memberUid"), ["alice", "svc"]);
    assert_eq!(values(&v, staff, "memberUid"), ["alice", "carol", "svc"]);
    assert!(
        values(&v, everyone, "memberUid").is_empty(),
        "no gid, no memberUid"
    );
    assert!(values(&v, uuid(3, 4), "memberUid").is_empty());
    assert!(values(&v, uuid(3, 4), "member").is_empty());
    assert_eq!(
        values(&v, staff, "objectClass"),
        ["top", "groupOfNames", "posixGroup"]
    );
    assert_eq!(values(&v, everyone, "objectClass"), ["top", "groupOfNames"]);
    assert_eq!(values(&v, everyone, "description"), ["all of us"]);

    // Filters on them, through the indexes and through evaluation.
    assert_eq!(
        find(&v, &format!("(memberOf={})", grp("everyone"))),
        set(&[
            &people("alice"),
            &people("bob"),
            &people("carol"),
            &services("svc"),
            &grp("devs"),
            &grp("staff"),
        ])
    );
    assert_eq!(
        find(&v, "(memberOf=CN=Staff, OU=Groups, DC=Example, DC=Com)"),
        set(&[
            &people("alice"),
            &people("carol"),
            &services("svc"),
            &grp("devs")
        ])
    );
    assert!(find(&v, &format!("(!(memberOf={}))", grp("devs"))).contains(&people("carol")));
    assert!(find(&v, &format!("(memberOf={})", people("alice"))).is_empty());
    assert!(find(&v, "(memberOf=cn=nosuch,ou=groups,dc=example,dc=com)").is_empty());
    assert_eq!(
        find(&v, &format!("(member={})", people("alice"))),
        set(&[&grp("devs")])
    );
    assert_eq!(
        find(&v, &format!("(member={})", grp("devs"))),
        set(&[&grp("staff")])
    );
    assert_eq!(
        find(&v, "(&(objectClass=posixGroup)(memberUid=alice))"),
        set(&[&grp("alice"), &grp("devs"), &grp("staff")])
    );
    assert!(
        find(&v, "(memberUid=ALICE)").is_empty(),
        "memberUid is case-exact"
    );
    assert_eq!(
        find(&v, "(memberUid=svc)"),
        set(&[&grp("devs"), &grp("staff")])
    );
    assert_eq!(find(&v, "(memberUid=bob)"), set(&[]));
}

#[test]
fn filters_on_numbers_uuids_and_classes() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let alice = uuid(1, 1);
    assert_eq!(find(&v, "(uidNumber=010001)"), set(&[&people("alice")]));
    assert_eq!(find(&v, "(uidNumber>=10002)"), set(&[&people("carol")]));
    assert_eq!(
        find(&v, "(gidNumber=10001)"),
        set(&[&people("alice"), &grp("alice")])
    );
    assert_eq!(find(&v, "(gidNumber=20002)"), set(&[&grp("staff")]));
    assert!(find(&v, "(uidNumber=-1)").is_empty());
    assert!(find(&v, "(uidNumber=x)").is_empty());
    let upper = alice.to_string().to_ascii_uppercase();
    assert_eq!(
        find(&v, &format!("(entryUUID={upper})")),
        set(&[&people("alice")])
    );
    assert!(find(&v, "(entryUUID=not-a-uuid)").is_empty());
    let pg = Uuid::from_u128(alice.as_u128() ^ PERSONAL_GROUP_MASK);
    assert!(
        find(&v, &format!("(entryUUID={pg})")).is_empty(),
        "personal groups have no entryUUID"
    );
    assert_eq!(
        find(&v, "(objectClass=ldapPublicKey)"),
        set(&[&people("alice")])
    );
    assert_eq!(
        find(&v, "(&(objectClass=posixAccount)(uid=carol))"),
        set(&[&people("carol")])
    );
    assert_eq!(
        find(&v, "(objectClass=organizationalUnit)"),
        set(&[
            &format!("ou=people,{BASE}"),
            &format!("ou=groups,{BASE}"),
            &format!("ou=services,{BASE}")
        ])
    );
    assert_eq!(v.count_eq("objectclass", b"posixaccount"), Some(2));
    assert_eq!(v.count_eq("uid", b"alice"), Some(1));
    assert_eq!(v.count_eq("gidnumber", b"10001"), Some(2));
    assert_eq!(v.lookup_eq("givenname", b"x"), None);
}

#[test]
fn case_insensitive_names_and_dns() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let alice = uuid(1, 1);
    assert_eq!(find(&v, "(uid=ALICE)"), set(&[&people("alice")]));
    assert_eq!(find(&v, "(cn=alice   LIDDELL)"), set(&[&people("alice")]));
    assert_eq!(
        find(&v, "(mail=ALICE.l@example.ORG)"),
        set(&[&people("alice")])
    );
    assert_eq!(find(&v, "(cn=DEVS)"), set(&[&grp("devs")]));
    let id = Some(EntryId(alice.as_u128()));
    assert_eq!(
        v.lookup_dn(&dn("UID=Alice, OU=People, DC=Example, DC=Com").normalize()),
        id
    );
    assert_eq!(v.lookup_dn(&dn(&people("alice")).normalize()), id);
    assert_eq!(
        v.lookup_dn(&dn("uid=alice,ou=groups,dc=example,dc=com").normalize()),
        None
    );
    assert_eq!(
        v.lookup_dn(&dn("cn=alice,ou=people,dc=example,dc=com").normalize()),
        None
    );
    assert_eq!(
        v.lookup_dn(&dn("cn=Alice,ou=groups,dc=example,dc=com").normalize()),
        Some(EntryId(alice.as_u128() ^ PERSONAL_GROUP_MASK))
    );
    assert_eq!(
        v.lookup_dn(&dn("DC=EXAMPLE,DC=COM").normalize()),
        Some(EntryId(BASE_ID))
    );
    assert_eq!(
        v.lookup_dn(&dn("ou=Services,dc=example,dc=com").normalize()),
        Some(EntryId(SERVICES_ID))
    );
    assert_eq!(v.lookup_dn(&dn("dc=com").normalize()), None);
    // Bind names: the DN, uid=NAME under the suffix, or the bare name.
    let a = Some((alice.as_u128(), EntryKind::Person, "alice".to_owned()));
    assert_eq!(v.resolve_bind_name("ALICE"), a);
    assert_eq!(
        v.resolve_bind_name("uid=Alice,ou=people,dc=example,dc=com"),
        a
    );
    assert_eq!(v.resolve_bind_name("UID=alice,DC=example,DC=com"), a);
    assert_eq!(
        v.resolve_bind_name("cn=alice,ou=groups,dc=example,dc=com"),
        None
    );
    assert_eq!(v.resolve_bind_name("uid=alice,dc=other"), None);
    assert_eq!(
        v.resolve_bind_name("reader"),
        Some((
            uuid(2, 1).as_u128(),
            EntryKind::ServiceAccount,
            "reader".into()
        ))
    );
    assert_eq!(v.resolve_bind_name("devs"), None);
}

#[test]
fn scopes() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let alice = people("alice");
    assert_eq!(
        find_in(
            &v,
            &alice.to_uppercase(),
            SearchScope::BaseObject,
            "(objectClass=*)"
        ),
        set(&[&alice])
    );
    assert!(find_in(&v, &alice, SearchScope::SingleLevel, "(objectClass=*)").is_empty());
    assert!(
        find_in(
            &v,
            &alice,
            SearchScope::SubordinateSubtree,
            "(objectClass=*)"
        )
        .is_empty()
    );
    assert_eq!(
        find_in(&v, &alice, SearchScope::WholeSubtree, "(objectClass=*)"),
        set(&[&alice])
    );
    let under_people = find_in(
        &v,
        &format!("ou=people,{BASE}"),
        SearchScope::SingleLevel,
        "(objectClass=*)",
    );
    assert_eq!(under_people.len(), 4, "{under_people:?}"); // alice, bob, carol, admin
    assert!(under_people.contains(&alice));
    assert_eq!(
        find_in(&v, BASE, SearchScope::SingleLevel, "(objectClass=*)"),
        set(&[
            &format!("ou=people,{BASE}"),
            &format!("ou=groups,{BASE}"),
            &format!("ou=services,{BASE}")
        ])
    );
    assert_eq!(
        find_in(&v, BASE, SearchScope::BaseObject, "(objectClass=*)"),
        set(&[BASE])
    );
    let everything = find_in(&v, "dc=com", SearchScope::WholeSubtree, "(objectClass=*)");
    assert_eq!(everything.len(), v.len());
    assert!(find_in(&v, "dc=org", SearchScope::WholeSubtree, "(objectClass=*)").is_empty());
}

#[test]
fn who_sees_what() {
    let v = LdapView::build(&fixture(), BASE).unwrap();
    let (alice, bob) = (uuid(1, 1), uuid(1, 2));
    let id = |u: Uuid| EntryId(u.as_u128());
    assert!(v.entry(id(alice), &BoundIdentity::Anonymous).is_none());
    assert!(v.entry(id(alice), &as_user(alice)).is_some());
    assert!(v.entry(id(bob), &as_user(alice)).is_none());
    assert!(v.entry(EntryId(PEOPLE_ID), &as_user(alice)).is_some());
    assert!(v.entry(id(bob), &reader()).is_some());
    // idm_admins' members read everything too.
    let admin = idm_model::access::ADMIN_UUID;
    assert!(v.entry(id(bob), &as_user(admin)).is_some());
    assert!(v.entry(EntryId(12345), &reader()).is_none());
}

#[test]
fn the_view_is_small() {
    // 2,000 POSIX persons with a mail address in 20 groups nested two deep.
    let s = store();
    let n = 2_000;
    for i in 0..n {
        let mut p = person(i, &format!("user{i}"), &format!("User {i}"));
        p.mails = vec![format!("user{i}@example.com")];
        p.posix = posix(10_000 + i as u32, "/bin/bash", &format!("/home/user{i}"));
        apply(&s, Change::CreatePerson(p));
    }
    for g in 0..20 {
        let members: Vec<Uuid> = (0..n).filter(|i| i % 20 == g).map(|i| uuid(1, i)).collect();
        apply(
            &s,
            Change::CreateGroup(group(
                g,
                &format!("group{g}"),
                Some(20_000 + g as u32),
                &members,
            )),
        );
    }
    let top: Vec<Uuid> = (0..20).map(|g| uuid(3, g)).collect();
    apply(
        &s,
        Change::CreateGroup(group(20, "top", Some(30_000), &top)),
    );
    let v = LdapView::build(&s, BASE).unwrap();
    let per_person = v.heap_bytes() / n;
    // The materialized view took ≈11 KB per person; this one, about a tenth of a kilobyte
    // plus the strings.
    assert!(per_person < 400, "{per_person} bytes per person");
    // Both ways of sorting memberUid (few names among many accounts, or most of them).
    let mut want: Vec<String> = (0..n).map(|i| format!("user{i}")).collect();
    want.sort();
    assert_eq!(values(&v, uuid(3, 20), "memberUid"), want);
    want.retain(|u| u.trim_start_matches("user").parse::<usize>().unwrap() % 20 == 7);
    assert_eq!(values(&v, uuid(3, 7), "memberUid"), want);
    assert_eq!(v.count_eq("memberof", grp("top").as_bytes()), Some(n + 20));
}

#[test]
fn ids_stay_the_same_across_rebuilds() {
    let s = fixture();
    let a = LdapView::build(&s, BASE).unwrap();
    apply(&s, Change::CreatePerson(person(9, "zed", "Zed")));
    let b = LdapView::build(&s, BASE).unwrap();
    assert!(b.generation > a.generation);
    for id in a.all_ids() {
        assert_eq!(a.dn_of(id.0), b.dn_of(id.0));
    }
    assert_eq!(b.len(), a.len() + 1);
    let unbuilt = LdapView::unbuilt(BASE);
    assert_eq!(unbuilt.generation, u64::MAX);
    assert!(unbuilt.is_empty());
}

// ---- against the reference ---------------------------------------------------------------

/// Everything observable agrees with the materialized view of the same store.
fn assert_agrees(s: &Store, filters: &[Filter]) {
    let new = LdapView::build(s, BASE).unwrap();
    let old = ReferenceView::build(s, BASE).unwrap();
    let everyone = admin();
    assert_eq!(new.all_ids(), {
        let mut ids = old.all_ids();
        ids.sort();
        ids
    });
    assert_eq!(new.len(), old.len());
    let who: Vec<BoundIdentity> = old
        .all_ids()
        .into_iter()
        .map(|id| BoundIdentity::User {
            dn: String::new(),
            id,
        })
        .chain([BoundIdentity::Anonymous])
        .collect();
    for (id, want) in old.entries() {
        let id = EntryId(id);
        let got = new.entry(id, &everyone).unwrap();
        let dn_string = want.dn_string();
        assert_eq!(got.dn_string(), dn_string);
        assert_eq!(got.dn().as_ref(), want.dn());
        assert_eq!(got.select(&mut |_| true), want.attributes(), "{dn_string}");
        for a in want.attributes() {
            assert_eq!(
                got.attribute(&a.description.to_uppercase()).as_deref(),
                Some(a)
            );
            assert!(got.has_attribute(&a.description));
        }
        for a in Attr::ALL {
            assert_eq!(got.has_attribute(a.name()), want.get(a.name()).is_some());
        }
        assert_eq!(new.lookup_dn(want.normalized_dn()), Some(id), "{dn_string}");
        assert_eq!(new.dn_of(id.0).as_deref(), old.dn_of(id.0), "{dn_string}");
        for w in &who {
            assert_eq!(
                new.entry(id, w).is_some(),
                old.entry(id, w).is_some(),
                "{dn_string} as {w:?}"
            );
        }
        for scope in [
            SearchScope::BaseObject,
            SearchScope::SingleLevel,
            SearchScope::WholeSubtree,
            SearchScope::SubordinateSubtree,
        ] {
            for base in [
                want.normalized_dn().clone(),
                want.normalized_dn().parent().unwrap_or_default(),
                Dn::parse(BASE).unwrap().normalize(),
                Dn::parse("dc=com").unwrap().normalize(),
                Dn::root(),
            ] {
                assert_eq!(
                    got.in_scope(&base, scope),
                    want.in_scope(&base, scope),
                    "{dn_string} {scope:?} {base}"
                );
            }
        }
        // Every value the reference indexed is found by the compact index.
        for a in want.attributes() {
            let attr = a.description.to_ascii_lowercase();
            if !INDEXED.contains(&attr.as_str()) {
                continue;
            }
            for value in &a.values {
                let Some(key) = syntax_of(&attr).normalize(value) else {
                    continue;
                };
                let found = new.lookup_eq(&attr, &key).unwrap();
                assert!(found.contains(&id), "{dn_string}: {attr}");
                assert!(found.is_sorted_by(|a, b| a < b));
                assert!(new.count_eq(&attr, &key).unwrap() >= found.len().min(1));
                let reference = old.lookup_eq(&attr, &key).unwrap();
                for r in reference.iter() {
                    assert!(found.contains(r), "{attr}={key:?}");
                }
            }
        }
        // Bind names resolve alike.
        for name in [
            dn_string.to_owned(),
            dn_string.to_uppercase(),
            want.get("uid")
                .and_then(|a| a.values.first())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default(),
        ] {
            assert_eq!(
                new.resolve_bind_name(&name),
                old.resolve_bind_name(&name),
                "{name}"
            );
        }
    }
    // Filters: the same truth on every entry, and planned search == scan of the reference.
    let dir = TestDir(&new);
    let base = Dn::parse(BASE).unwrap();
    for filter in filters {
        let mut expected = Vec::new();
        for (id, want) in old.entries() {
            let got = new.entry(EntryId(id), &everyone).unwrap();
            let truth = filter.evaluate(want);
            assert_eq!(
                got_truth(filter, &got),
                truth,
                "{filter} on {}",
                want.dn_string()
            );
            if truth == idm_ldap::eval::Truth::True {
                expected.push(EntryId(id));
            }
        }
        expected.sort();
        let planned: Vec<EntryId> = search(
            &dir,
            &everyone,
            &base,
            SearchScope::WholeSubtree,
            filter,
            usize::MAX,
        )
        .into_iter()
        .map(|e| e.id())
        .collect();
        assert_eq!(planned, expected, "{filter}");
    }
}

fn got_truth(filter: &Filter, e: &ViewEntry<'_>) -> idm_ldap::eval::Truth {
    filter.evaluate(e)
}

#[test]
fn agrees_with_the_materialized_view() {
    let filters: Vec<Filter> = [
        "(objectClass=*)",
        "(memberOf=cn=staff,ou=groups,dc=example,dc=com)",
        "(memberOf=uid=alice,ou=people,dc=example,dc=com)",
        "(member=uid=alice,ou=people,dc=example,dc=com)",
        "(member=cn=nobody,ou=groups,dc=example,dc=com)",
        "(memberUid=alice)",
        "(memberUid=Alice)",
        "(|(uid=bob)(cn=devs)(mail=carol@example.com))",
        "(&(objectClass=posixGroup)(gidNumber=20001))",
        "(!(objectClass=posixAccount))",
        "(cn=*a*)",
        "(uid:dn:=alice)",
        "(ou:dn:=groups)",
        "(:caseExactMatch:=alice)",
        "(description=*)",
    ]
    .iter()
    .map(|f| Filter::parse(f).unwrap())
    .collect();
    assert_agrees(&fixture(), &filters);
}

/// A random directory: persons (some POSIX, with mails and keys), service accounts and groups
/// nested without cycles (group `i` may contain groups `< i`), plus readers.
#[derive(Debug, Clone)]
struct Plan {
    persons: Vec<(bool, u8, bool)>,
    services: Vec<bool>,
    groups: Vec<(bool, bool, Vec<usize>)>,
    readers: Vec<usize>,
}

fn arb_plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec((any::<bool>(), 0u8..3, any::<bool>()), 0..8),
        prop::collection::vec(any::<bool>(), 0..3),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<bool>(),
                prop::collection::vec(any::<usize>(), 0..6),
            ),
            0..6,
        ),
        prop::collection::vec(any::<usize>(), 0..2),
    )
        .prop_map(|(persons, services, groups, readers)| Plan {
            persons,
            services,
            groups,
            readers,
        })
}

fn build_plan(plan: &Plan) -> Store {
    let s = store();
    let mut accounts = Vec::new();
    for (i, (is_posix, mails, key)) in plan.persons.iter().enumerate() {
        let display = match i % 3 {
            0 => format!("Person {i}"),
            1 => format!("p{i}"),
            _ => format!("Ünïcode  Name {i}"),
        };
        let mut p = person(i, &format!("p{i}"), &display);
        p.mails = (0..*mails)
            .map(|m| format!("P{i}.m{m}@Example.com"))
            .collect();
        if *is_posix {
            p.posix = posix(10_000 + i as u32, "/bin/sh", &format!("/home/p{i}"));
        }
        if *key {
            p.ssh_keys.insert("k".into(), KEY.into());
        }
        accounts.push(p.uuid);
        apply(&s, Change::CreatePerson(p));
    }
    for (i, description) in plan.services.iter().enumerate() {
        let sa = service(i, &format!("s{i}"), description.then_some("Some Service"));
        accounts.push(sa.uuid);
        apply(&s, Change::CreateServiceAccount(sa));
    }
    let mut groups = Vec::new();
    for (i, (gid, description, picks)) in plan.groups.iter().enumerate() {
        let choices: Vec<Uuid> = accounts.iter().chain(groups.iter()).copied().collect();
        let members: Vec<Uuid> = if choices.is_empty() {
            vec![]
        } else {
            picks.iter().map(|p| choices[p % choices.len()]).collect()
        };
        let mut g = group(
            i,
            &format!("g{i}"),
            gid.then_some(20_000 + i as u32),
            &members,
        );
        g.description = description.then(|| format!("Group {i}"));
        groups.push(g.uuid);
        apply(&s, Change::CreateGroup(g));
    }
    if !accounts.is_empty() && !plan.readers.is_empty() {
        apply(
            &s,
            Change::AddMembers {
                group: builtin(&s, IDM_ACCOUNT_READ_PRIV),
                members: plan
                    .readers
                    .iter()
                    .map(|r| accounts[r % accounts.len()])
                    .collect(),
            },
        );
    }
    s
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let n = 0usize..9;
    let term = prop_oneof![
        n.clone().prop_map(|i| Filter::eq("uid", format!("P{i}"))),
        n.clone().prop_map(|i| Filter::eq("uid", format!("s{i}"))),
        n.clone().prop_map(|i| Filter::eq("cn", format!("g{i}"))),
        n.clone()
            .prop_map(|i| Filter::eq("cn", format!("PERSON   {i}"))),
        n.clone()
            .prop_map(|i| Filter::eq("memberOf", grp(&format!("G{i}")))),
        n.clone()
            .prop_map(|i| Filter::eq("memberOf", people(&format!("p{i}")))),
        n.clone()
            .prop_map(|i| Filter::eq("member", people(&format!("p{i}")))),
        n.clone()
            .prop_map(|i| Filter::eq("member", services(&format!("s{i}")))),
        n.clone()
            .prop_map(|i| Filter::eq("member", format!("cn = g{i}, ou=groups,{BASE}"))),
        n.clone()
            .prop_map(|i| Filter::eq("memberUid", format!("p{i}"))),
        n.clone()
            .prop_map(|i| Filter::eq("memberUid", format!("s{i}"))),
        n.clone()
            .prop_map(|i| Filter::eq("memberUid", format!("P{i}"))),
        n.clone()
            .prop_map(|i| Filter::eq("uidNumber", format!("0{}", 10_000 + i))),
        n.clone()
            .prop_map(|i| Filter::eq("gidNumber", format!("{}", 20_000 + i))),
        n.clone()
            .prop_map(|i| Filter::eq("gidNumber", format!("{}", 10_000 + i))),
        n.clone().prop_map(|i| Filter::eq(
            "entryUUID",
            uuid(1 + i as u128 % 3, i / 3 + 1)
                .to_string()
                .to_uppercase()
        )),
        n.clone()
            .prop_map(|i| Filter::eq("mail", format!("p{i}.M0@example.COM"))),
        n.clone().prop_map(|i| Filter::GreaterOrEqual {
            attr: "uidNumber".into(),
            value: format!("{}", 10_000 + i).into_bytes()
        }),
        prop::sample::select(CLASSES.to_vec())
            .prop_map(|c| Filter::eq("objectClass", c.to_uppercase())),
        prop::sample::select(Attr::ALL.map(Attr::name).to_vec())
            .prop_map(|a| Filter::Present(a.to_owned())),
        Just(Filter::eq("sshPublicKey", KEY)),
        Just(Filter::eq("uidNumber", "nope")),
        Just(Filter::eq("memberOf", "not a dn")),
        Just(Filter::parse("(cn=p*)").unwrap()),
    ];
    term.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_directories_agree(plan in arb_plan(), filters in prop::collection::vec(arb_filter(), 8)) {
        assert_agrees(&build_plan(&plan), &filters);
    }
}
