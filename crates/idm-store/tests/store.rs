//! The store against its contract: indexes, ids, memberships, audit, backup and restore.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use idm_model::audit::{Actor, AuditEvent, Outcome};
use idm_model::change::{Change, PersonPatch, PosixPatch};
use idm_model::{Entry, EntryKind, Group, Person};
use idm_store::{AuditFilter, Reader, Store, StoreConfig, StoreError};
use proptest::prelude::*;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn person(n: u128, name: &str) -> Person {
    Person {
        uuid: Uuid::from_u128(n),
        name: name.into(),
        display_name: format!("Person {name}"),
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

fn group(n: u128, name: &str) -> Group {
    Group {
        credential_policy: None,
        uuid: Uuid::from_u128(n),
        name: name.into(),
        description: None,
        members: BTreeSet::new(),
        gid_number: None,
        created_at: t0(),
        modified_at: t0(),
    }
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

fn apply(s: &Store, c: Change) -> Result<Option<Entry>, StoreError> {
    s.apply(&c, &actor(), t0(), None).map(|a| a.entry)
}

fn add(s: &Store, g: u128, m: &[u128]) -> Result<Option<Entry>, StoreError> {
    apply(
        s,
        Change::AddMembers {
            group: Uuid::from_u128(g),
            members: m.iter().map(|x| Uuid::from_u128(*x)).collect(),
        },
    )
}

#[test]
fn builtins_exist_once() {
    let s = store();
    s.ensure_builtins(t0()).unwrap();
    let admins = s.get_by_name("idm_admins").unwrap().unwrap();
    let Entry::Group(g) = admins else { panic!() };
    assert!(g.members.contains(&idm_model::access::ADMIN_UUID));
    assert_eq!(s.counts().unwrap().groups, 6);
    assert!(matches!(
        apply(&s, Change::Delete { uuid: g.uuid }),
        Err(StoreError::Refused(_))
    ));
    assert!(s.verify().unwrap().problems.is_empty());
}

#[test]
fn names_and_mails_are_unique_across_kinds() {
    let s = store();
    let mut p = person(1, "alice");
    p.mails = vec!["Alice@Example.com".into()];
    apply(&s, Change::CreatePerson(p)).unwrap();
    let e = apply(&s, Change::CreateGroup(group(2, "alice"))).unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let mut p2 = person(3, "bob");
    p2.mails = vec!["alice@EXAMPLE.com".into()];
    let e = apply(&s, Change::CreatePerson(p2)).unwrap_err();
    assert!(e.to_string().contains("already in use"), "{e}");
    let bad = person(4, "Bad Name");
    assert!(matches!(
        apply(&s, Change::CreatePerson(bad)),
        Err(StoreError::Model(_))
    ));
    // Renaming frees the old name.
    apply(
        &s,
        Change::UpdatePerson {
            uuid: Uuid::from_u128(1),
            patch: PersonPatch {
                name: Some("alicia".into()),
                ..Default::default()
            },
        },
    )
    .unwrap();
    assert!(s.get_by_name("alice").unwrap().is_none());
    apply(&s, Change::CreateGroup(group(2, "alice"))).unwrap();
    assert!(s.verify().unwrap().problems.is_empty());
}

#[test]
fn posix_ids_are_monotonic_and_never_reused() {
    let s = store();
    let posix = |s: &Store, u: u128| {
        let e = apply(
            s,
            Change::SetPosix {
                uuid: Uuid::from_u128(u),
                patch: PosixPatch::default(),
            },
        )
        .unwrap()
        .unwrap();
        match e {
            Entry::Person(p) => p.posix.unwrap().uid_number,
            Entry::Group(g) => g.gid_number.unwrap(),
            _ => unreachable!(),
        }
    };
    apply(&s, Change::CreatePerson(person(1, "a"))).unwrap();
    apply(&s, Change::CreatePerson(person(2, "b"))).unwrap();
    apply(&s, Change::CreateGroup(group(3, "g"))).unwrap();
    assert_eq!(posix(&s, 1), 10_000);
    assert_eq!(posix(&s, 3), 10_001);
    apply(
        &s,
        Change::Delete {
            uuid: Uuid::from_u128(1),
        },
    )
    .unwrap();
    assert_eq!(posix(&s, 2), 10_002);
    // The deleted person's id cannot be claimed by hand either.
    let e = apply(
        &s,
        Change::SetPosix {
            uuid: Uuid::from_u128(2),
            patch: PosixPatch {
                gid_number: Some(10_000),
                ..Default::default()
            },
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("never reused"), "{e}");
    // Person gets defaults for shell and home.
    let Entry::Person(b) = s.get(Uuid::from_u128(2)).unwrap().unwrap() else {
        panic!()
    };
    let x = b.posix.unwrap();
    assert_eq!((x.uid_number, x.gid_number), (10_002, 10_002));
    assert_eq!(x.home_directory, "/home/b");
    assert_eq!(x.login_shell, "/bin/bash");
    // Survives a restart of the counter: a fresh person still gets a new id.
    apply(&s, Change::CreatePerson(person(5, "c"))).unwrap();
    assert_eq!(posix(&s, 5), 10_003);
    assert!(s.verify().unwrap().problems.is_empty());
}

#[test]
fn nested_groups_and_cycles() {
    let s = store();
    apply(&s, Change::CreatePerson(person(1, "alice"))).unwrap();
    for (n, name) in [(10, "devs"), (11, "eng"), (12, "staff")] {
        apply(&s, Change::CreateGroup(group(n, name))).unwrap();
    }
    add(&s, 10, &[1]).unwrap();
    add(&s, 11, &[10]).unwrap();
    add(&s, 12, &[11]).unwrap();
    let txn = s.read().unwrap();
    let t: BTreeSet<Uuid> = txn
        .member_of_transitive(Uuid::from_u128(1))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(t, [10, 11, 12].into_iter().map(Uuid::from_u128).collect());
    drop(txn);
    let e = add(&s, 10, &[12]).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
    let e = add(&s, 10, &[10]).unwrap_err();
    assert!(
        matches!(e, StoreError::Model(_) | StoreError::Conflict(_)),
        "{e}"
    );
    // Deleting the middle group cuts the chain.
    apply(
        &s,
        Change::Delete {
            uuid: Uuid::from_u128(11),
        },
    )
    .unwrap();
    let txn = s.read().unwrap();
    assert_eq!(
        txn.member_of_transitive(Uuid::from_u128(1)).unwrap(),
        vec![Uuid::from_u128(10)]
    );
    assert!(txn.member_of(Uuid::from_u128(10)).unwrap().is_empty());
    drop(txn);
    assert!(s.verify().unwrap().problems.is_empty());
}

#[test]
fn audit_is_chained_and_queryable() {
    let s = store();
    apply(&s, Change::CreatePerson(person(1, "alice"))).unwrap();
    let later = t0() + Duration::hours(1);
    let _ = s
        .apply(
            &Change::Lock {
                uuid: Uuid::from_u128(1),
                reason: "left".into(),
            },
            &Actor {
                uuid: None,
                name: "bob".into(),
            },
            later,
            Some("127.0.0.1".into()),
        )
        .unwrap();
    let by_target = s
        .audit(&AuditFilter {
            target: Some("alice".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_target.len(), 2);
    assert_eq!(by_target[0].event.action, "account.lock");
    let by_actor = s
        .audit(&AuditFilter {
            actor: Some("bob".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_actor.len(), 1);
    assert_eq!(by_actor[0].event.source.as_deref(), Some("127.0.0.1"));
    let since = s
        .audit(&AuditFilter {
            since: Some(later),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since.len(), 1);
    let r = s.verify().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.audit_entries as u64, s.counts().unwrap().audit_entries);
}

/// A group commit appends in order, continues the chain, and writes each event's
/// authentication state; the chain still verifies.
#[test]
fn record_many_appends_a_chained_batch_with_auth_state() {
    let s = store();
    let ev = |name: &str| AuditEvent {
        at: t0(),
        actor: Actor {
            uuid: None,
            name: name.into(),
        },
        action: "auth.token".into(),
        target: None,
        outcome: Outcome::Success,
        summary: format!("{name} bound"),
        source: None,
    };
    let first = s.record(ev("a"), None).unwrap();
    let (u1, u2) = (Uuid::from_u128(7), Uuid::from_u128(8));
    s.record(ev("pre"), Some((u2, Some(b"old".to_vec()))))
        .unwrap();
    let seqs = s
        .record_many(vec![
            (ev("b"), Some((u1, Some(b"state".to_vec())))),
            (ev("c"), None),
            (ev("d"), Some((u2, None))),
        ])
        .unwrap();
    assert_eq!(seqs, vec![first + 2, first + 3, first + 4]);
    assert_eq!(s.auth_state(u1).unwrap().as_deref(), Some(&b"state"[..]));
    assert_eq!(s.auth_state(u2).unwrap(), None);
    let names: Vec<String> = s
        .audit(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .take(4)
        .map(|e| e.event.actor.name)
        .collect();
    assert_eq!(names, ["d", "c", "b", "pre"], "newest first");
    let r = s.verify().unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
}

#[test]
fn backup_restore_export_round_trip_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("a.redb"), StoreConfig::default()).unwrap();
    s.ensure_builtins(t0()).unwrap();
    let mut p = person(1, "alice");
    p.mails = vec!["alice@example.com".into()];
    apply(&s, Change::CreatePerson(p)).unwrap();
    apply(&s, Change::CreateGroup(group(10, "devs"))).unwrap();
    add(&s, 10, &[1]).unwrap();
    apply(&s, Change::CreatePerson(person(2, "gone"))).unwrap();
    apply(
        &s,
        Change::SetPosix {
            uuid: Uuid::from_u128(2),
            patch: PosixPatch::default(),
        },
    )
    .unwrap();
    apply(
        &s,
        Change::Delete {
            uuid: Uuid::from_u128(2),
        },
    )
    .unwrap();

    let mut buf = Vec::new();
    let info = s.backup(&mut buf, t0()).unwrap();
    assert!(info.audit_entries > 5);

    let target = dir.path().join("b.redb");
    idm_store::restore_file(&target, &mut buf.as_slice(), StoreConfig::default()).unwrap();
    let r = Store::open(&target, StoreConfig::default()).unwrap();
    assert_eq!(
        r.snapshot(true).unwrap().to_json().unwrap(),
        s.snapshot(true).unwrap().to_json().unwrap()
    );
    assert!(r.verify().unwrap().problems.is_empty());
    assert_eq!(r.counts().unwrap(), s.counts().unwrap());
    // The retired id stays retired after restore.
    apply(&r, Change::CreatePerson(person(3, "new"))).unwrap();
    let e = apply(
        &r,
        Change::SetPosix {
            uuid: Uuid::from_u128(3),
            patch: PosixPatch {
                gid_number: Some(10_000),
                ..Default::default()
            },
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("never reused"));

    // Truncated, corrupt, garbage: refused, nothing left behind.
    let t2 = dir.path().join("c.redb");
    for (bad, why) in [
        (buf[..buf.len() - 10].to_vec(), "truncated"),
        (
            {
                let mut b = buf.clone();
                let n = b.len() - 20;
                b[n] ^= 1;
                b
            },
            "checksum",
        ),
        (b"hello\n".to_vec(), "not an idm backup"),
    ] {
        let e =
            idm_store::restore_file(&t2, &mut bad.as_slice(), StoreConfig::default()).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
        assert!(!t2.exists());
        assert!(!t2.with_extension("restore-tmp").exists());
    }
    // Restore never overwrites.
    let e =
        idm_store::restore_file(&target, &mut buf.as_slice(), StoreConfig::default()).unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)));
}

#[test]
fn import_into_fresh_store_reproduces_export() {
    let s = store();
    apply(&s, Change::CreatePerson(person(1, "alice"))).unwrap();
    apply(&s, Change::CreateGroup(group(10, "devs"))).unwrap();
    apply(&s, Change::CreateGroup(group(11, "eng"))).unwrap();
    add(&s, 10, &[1]).unwrap();
    add(&s, 11, &[10]).unwrap();
    let snap = s.snapshot(true).unwrap();
    let json = snap.to_json().unwrap();
    let parsed = idm_model::export::Snapshot::from_json(json.as_bytes()).unwrap();

    let fresh = Store::in_memory(StoreConfig::default()).unwrap();
    fresh.import(&parsed, &actor(), t0()).unwrap();
    assert_eq!(fresh.snapshot(true).unwrap().to_json().unwrap(), json);
    assert!(fresh.verify().unwrap().problems.is_empty());
    // Importing again is idempotent.
    fresh.import(&parsed, &actor(), t0()).unwrap();
    assert_eq!(fresh.snapshot(true).unwrap().to_json().unwrap(), json);
}

#[test]
fn reopen_keeps_data_and_refuses_second_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.redb");
    {
        let s = Store::open(&path, StoreConfig::default()).unwrap();
        s.ensure_builtins(t0()).unwrap();
        apply(&s, Change::CreatePerson(person(1, "alice"))).unwrap();
        let e = Store::open(&path, StoreConfig::default()).err().unwrap();
        assert!(matches!(e, StoreError::InUse), "{e}");
    }
    let s = Store::open(&path, StoreConfig::default()).unwrap();
    assert!(s.get_by_name("alice").unwrap().is_some());
    assert!(s.verify().unwrap().problems.is_empty());
}

// ---- Random sequences against a naive reference model ----

#[derive(Debug, Clone)]
enum Op {
    Person(u8),
    Group(u8),
    Add(u8, u8),
    Remove(u8, u8),
    Delete(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12).prop_map(Op::Person),
        (0u8..8).prop_map(Op::Group),
        (0u8..8, 0u8..20).prop_map(|(g, m)| Op::Add(g, m)),
        (0u8..8, 0u8..20).prop_map(|(g, m)| Op::Remove(g, m)),
        (0u8..20).prop_map(Op::Delete),
    ]
}

/// Persons are ids 0..12 (uuid 100+i), groups 0..8 (uuid 200+i); member index m < 12 is a
/// person, else group m-12.
fn member_uuid(m: u8) -> u128 {
    if m < 12 {
        100 + m as u128
    } else {
        200 + (m - 12) as u128
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn indexes_match_a_naive_model(ops in proptest::collection::vec(op(), 1..60)) {
        let s = store();
        let mut live: BTreeSet<u128> = BTreeSet::new();
        let mut deleted: BTreeSet<u128> = BTreeSet::new();
        let mut members: BTreeMap<u128, BTreeSet<u128>> = BTreeMap::new();
        for o in ops {
            match o {
                Op::Person(i) => {
                    let u = 100 + i as u128;
                    let r = apply(&s, Change::CreatePerson(person(u, &format!("p{i}"))));
                    // A UUID is never reused: not while live, not after deletion.
                    prop_assert_eq!(r.is_ok(), !live.contains(&u) && !deleted.contains(&u));
                    if r.is_ok() { live.insert(u); }
                }
                Op::Group(i) => {
                    let u = 200 + i as u128;
                    let r = apply(&s, Change::CreateGroup(group(u, &format!("g{i}"))));
                    prop_assert_eq!(r.is_ok(), !live.contains(&u) && !deleted.contains(&u));
                    if r.is_ok() {
                        live.insert(u);
                        members.insert(u, BTreeSet::new());
                    }
                }
                Op::Add(g, m) => {
                    let gu = 200 + g as u128;
                    let mu = member_uuid(m);
                    let r = add(&s, gu, &[mu]);
                    // Reference: would it make a cycle?
                    let mut cyc = gu == mu;
                    if !cyc && members.contains_key(&mu) {
                        let mut todo = vec![mu];
                        let mut seen = BTreeSet::new();
                        while let Some(x) = todo.pop() {
                            if x == gu { cyc = true; break; }
                            if seen.insert(x) {
                                todo.extend(members.get(&x).into_iter().flatten().copied());
                            }
                        }
                    }
                    let ok = live.contains(&gu) && live.contains(&mu) && !cyc;
                    prop_assert_eq!(r.is_ok(), ok, "add {} to {}: {:?}", mu, gu, r.err());
                    if ok { members.entry(gu).or_default().insert(mu); }
                }
                Op::Remove(g, m) => {
                    let gu = 200 + g as u128;
                    let mu = member_uuid(m);
                    let r = apply(&s, Change::RemoveMembers { group: Uuid::from_u128(gu), members: vec![Uuid::from_u128(mu)] });
                    let ok = live.contains(&gu) && live.contains(&mu);
                    prop_assert_eq!(r.is_ok(), ok);
                    if ok { members.entry(gu).or_default().remove(&mu); }
                }
                Op::Delete(m) => {
                    let u = member_uuid(m);
                    let r = apply(&s, Change::Delete { uuid: Uuid::from_u128(u) });
                    prop_assert_eq!(r.is_ok(), live.contains(&u));
                    if r.is_ok() {
                        live.remove(&u);
                        deleted.insert(u);
                        members.remove(&u);
                        for set in members.values_mut() { set.remove(&u); }
                    }
                }
            }
        }
        // Compare direct and transitive memberOf of every live entry with the reference.
        let mut direct_up: BTreeMap<Uuid, BTreeSet<Uuid>> = BTreeMap::new();
        for (g, ms) in &members {
            for m in ms {
                direct_up.entry(Uuid::from_u128(*m)).or_default().insert(Uuid::from_u128(*g));
            }
        }
        let txn = s.read().unwrap();
        for u in &live {
            let u = Uuid::from_u128(*u);
            let d: BTreeSet<Uuid> = txn.member_of(u).unwrap().into_iter().collect();
            prop_assert_eq!(&d, &direct_up.get(&u).cloned().unwrap_or_default());
            let t: BTreeSet<Uuid> = txn.member_of_transitive(u).unwrap().into_iter().collect();
            prop_assert_eq!(t, idm_model::export::closure(&direct_up, u));
        }
        let persons = s.list(EntryKind::Person).unwrap().len();
        prop_assert_eq!(persons, 1 + live.iter().filter(|u| **u < 200).count());
        let r = s.verify().unwrap();
        prop_assert!(r.problems.is_empty(), "{:?}", r.problems);
    }
}

#[test]
fn ephemeral_records_expire_and_update_atomically() {
    use idm_store::{EphemeralKind, Update};
    let s = store();
    let t = t0();
    s.put_ephemeral(
        EphemeralKind::AuthorizationCode,
        "c1",
        &"grant",
        t + Duration::seconds(60),
    )
    .unwrap();
    let r = s
        .get_ephemeral::<String>(EphemeralKind::AuthorizationCode, "c1", t)
        .unwrap()
        .unwrap();
    assert_eq!(r.value, "grant");
    // Another kind does not see it; after expiry nobody does.
    assert!(
        s.get_ephemeral::<String>(EphemeralKind::SsoSession, "c1", t)
            .unwrap()
            .is_none()
    );
    assert!(
        s.get_ephemeral::<String>(
            EphemeralKind::AuthorizationCode,
            "c1",
            t + Duration::seconds(61)
        )
        .unwrap()
        .is_none()
    );
    // Use once: the first taker wins, the second sees it used.
    let take = |s: &Store| {
        s.update_ephemeral::<String, bool>(EphemeralKind::AuthorizationCode, "c1", t, |cur| {
            match cur {
                Some(r) if r.value == "grant" => (Update::Put("used".into(), r.expires_at), true),
                _ => (Update::Keep, false),
            }
        })
        .unwrap()
    };
    assert!(take(&s));
    assert!(!take(&s));
    assert_eq!(s.sweep_ephemeral(t + Duration::seconds(120)).unwrap(), 1);
    assert!(
        !s.delete_ephemeral(EphemeralKind::AuthorizationCode, "c1")
            .unwrap()
    );
}

#[test]
fn sweeps_commit_only_when_something_expired() {
    use idm_store::{EphemeralKind, Session};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.redb");
    let s = Store::open(&path, StoreConfig::default()).unwrap();
    let t = t0();
    s.put_ephemeral(
        EphemeralKind::ReplayJti,
        "j1",
        &"x",
        t + Duration::seconds(60),
    )
    .unwrap();
    s.put_session(&Session {
        id: Uuid::from_u128(5),
        account: Uuid::from_u128(6),
        digest: "00".repeat(32),
        created_at: t,
        expires_at: t + Duration::seconds(60),
    })
    .unwrap();
    let stamp = || {
        let m = std::fs::metadata(&path).unwrap();
        (m.modified().unwrap(), m.len())
    };
    let before = stamp();
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert_eq!(s.sweep_ephemeral(t).unwrap(), 0);
    assert_eq!(s.sweep_sessions(t).unwrap(), 0);
    assert_eq!(stamp(), before, "nothing expired: no write transaction");
    let later = t + Duration::seconds(61);
    assert_eq!(s.sweep_ephemeral(later).unwrap(), 1);
    assert_eq!(s.sweep_sessions(later).unwrap(), 1);
    assert_ne!(stamp(), before);
    assert!(s.session(Uuid::from_u128(5)).unwrap().is_none());
    assert!(!s.delete_ephemeral(EphemeralKind::ReplayJti, "j1").unwrap());
}

#[test]
fn oauth2_clients_are_validated_audited_exported_and_forget_deleted_groups() {
    use idm_model::oauth2::{ClientKind, Lifetimes, OAuth2Client, SigningAlg};
    let s = store();
    apply(&s, Change::CreateGroup(group(10, "app_users"))).unwrap();
    let mut c = OAuth2Client {
        uuid: Uuid::from_u128(77),
        name: "wiki".into(),
        display_name: "Wiki".into(),
        kind: ClientKind::Confidential,
        origin: "https://wiki.example.com".into(),
        redirect_uris: ["https://wiki.example.com/cb".to_owned()].into(),
        post_logout_redirect_uris: Default::default(),
        secret_digest: "ab".repeat(32),
        jwks: None,
        scope_maps: [(Uuid::from_u128(10), ["openid".to_owned()].into())].into(),
        claim_maps: Default::default(),
        require_par: false,
        require_dpop: false,
        require_pkce: true,
        require_offline_access: false,
        signing_alg: SigningAlg::ES256,
        first_party: false,
        lifetimes: Lifetimes::default(),
        groups_claim: Default::default(),
        service_account: None,
        created_at: t0(),
        modified_at: t0(),
    };
    let (entries_gen, clients_gen) = (s.generation(), s.clients_generation());
    s.put_oauth2_client(&c, true, "created", &actor(), t0(), None)
        .unwrap();
    // A client change moves the clients' generation only (the LDAP view does not rebuild).
    assert_ne!(s.clients_generation(), clients_gen);
    assert_eq!(s.generation(), entries_gen);
    let clients_gen = s.clients_generation();
    assert!(matches!(
        s.put_oauth2_client(&c, true, "again", &actor(), t0(), None),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.clients_generation(), clients_gen, "nothing committed");
    c.redirect_uris.insert("http://evil.example.com/cb".into());
    assert!(matches!(
        s.put_oauth2_client(&c, false, "bad", &actor(), t0(), None),
        Err(StoreError::Model(_))
    ));
    assert_eq!(
        s.oauth2_client("wiki")
            .unwrap()
            .unwrap()
            .redirect_uris
            .len(),
        1
    );
    let snap = s.snapshot(false).unwrap();
    assert_eq!(snap.oauth2_clients.len(), 1);
    assert!(snap.oauth2_clients[0].secret_digest.is_empty());
    assert_eq!(
        s.snapshot(true).unwrap().oauth2_clients[0]
            .secret_digest
            .len(),
        64
    );
    apply(
        &s,
        Change::Delete {
            uuid: Uuid::from_u128(10),
        },
    )
    .unwrap();
    assert!(
        s.oauth2_client("wiki")
            .unwrap()
            .unwrap()
            .scope_maps
            .is_empty()
    );
    // By UUID too, inside any transaction.
    assert_eq!(
        s.read()
            .unwrap()
            .oauth2_client(&Uuid::from_u128(77).to_string())
            .unwrap()
            .unwrap()
            .name,
        "wiki"
    );
    let clients_gen = s.clients_generation();
    s.delete_oauth2_client(Uuid::from_u128(77), &actor(), t0(), None)
        .unwrap();
    assert_ne!(s.clients_generation(), clients_gen);
    assert!(s.oauth2_client("wiki").unwrap().is_none());
    let audit = s
        .audit(&AuditFilter {
            target: Some("wiki".into()),
            ..Default::default()
        })
        .unwrap();
    // Newest first.
    assert_eq!(audit[0].event.action, "oauth2.delete");
    assert_eq!(audit.last().unwrap().event.action, "oauth2.create");
    c.redirect_uris.remove("http://evil.example.com/cb");
    c.scope_maps.clear();
    s.put_oauth2_client(&c, true, "created again", &actor(), t0(), None)
        .unwrap();
    // Export → import into a fresh store keeps the client.
    let json = s.snapshot(true).unwrap().to_json().unwrap();
    let fresh = Store::in_memory(StoreConfig::default()).unwrap();
    fresh
        .import(
            &idm_model::export::Snapshot::from_json(json.as_bytes()).unwrap(),
            &actor(),
            t0(),
        )
        .unwrap();
    assert_eq!(
        fresh
            .oauth2_client("wiki")
            .unwrap()
            .unwrap()
            .secret_digest
            .len(),
        64
    );
}

#[test]
fn ids_given_up_by_live_entries_stay_retired_after_restore() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("a.redb"), StoreConfig::default()).unwrap();
    s.ensure_builtins(t0()).unwrap();
    apply(&s, Change::CreateGroup(group(10, "g"))).unwrap();
    apply(&s, Change::CreateGroup(group(11, "h"))).unwrap();
    let set = |s: &Store, u: u128, gid: Option<u32>| {
        apply(
            s,
            Change::SetPosix {
                uuid: Uuid::from_u128(u),
                patch: PosixPatch {
                    gid_number: gid,
                    ..Default::default()
                },
            },
        )
    };
    set(&s, 10, None).unwrap();
    set(&s, 10, Some(50_000)).unwrap();
    assert!(set(&s, 11, Some(10_000)).is_err());
    assert_eq!(s.snapshot(false).unwrap().retired_posix_ids.len(), 1);
    let mut buf = Vec::new();
    let _ = s.backup(&mut buf, t0()).unwrap();
    let target = dir.path().join("b.redb");
    idm_store::restore_file(&target, &mut buf.as_slice(), StoreConfig::default()).unwrap();
    let r = Store::open(&target, StoreConfig::default()).unwrap();
    let e = set(&r, 11, Some(10_000)).unwrap_err();
    assert!(e.to_string().contains("never reused"), "{e}");
}
