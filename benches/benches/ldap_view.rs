//! idm-server's LDAP directory view (issue #4): searches over the server's own view of a store
//! with 10,000 persons, through `Session::handle` and encoded to bytes — what the LDAP listener
//! does for one request, minus TLS and IO — and the view's rebuild.
//!
//! Data: `idm_benches::dataset` (persons in 1–3 of 900 leaf groups nested under 90 middle and
//! 10 top groups, all POSIX), imported into a store on disk, built-in entries added; the
//! session is bound as the built-in admin (in `idm_admins`, so it reads everything). Users are
//! drawn in turn from a fixed pseudo-random sequence.
//!
//! - `ldap_view/build/N`: `LdapView::build`, the full rebuild that follows any change.
//! - `ldap_view/search_uid/N`: `(uid=userK)` → uid, cn, mail, memberOf: what
//!   `benches/ldap_load.sh` sends.
//! - `ldap_view/nss_passwd/N`: `(&(objectClass=posixAccount)(uid=userK))`, all attributes
//!   (nslcd's getpwnam).
//! - `ldap_view/nss_initgroups/N`: `(&(objectClass=posixGroup)(memberUid=userK))` → cn,
//!   gidNumber (nslcd's initgroups: the person's personal group and 3–9 nested groups).
//! - `ldap_view/nss_group_top/N`: `(&(objectClass=posixGroup)(cn=topK))`, all attributes: a
//!   top group, whose memberUid lists every person below it (≈ a fifth of N).
//!
//! Setup prints the view's resident cost: VmRSS after a build minus before it, with the
//! store's pages already read once (so the redb cache does not count), the view kept alive.
//! Run it with the server's allocator setting for comparable figures:
//! `MALLOC_MMAP_THRESHOLD_=131072 cargo bench -p idm-benches --bench ldap_view`.
//! `IDM_BENCH_PERSONS` changes the number of persons.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use idm_benches::dataset::{self, Dataset, SplitMix64};
use idm_ldap::bytes::BytesMut;
use idm_ldap::proto::{Authentication, BindRequest, DerefAliases, SearchRequest, SearchScope};
use idm_ldap::{
    BindOutcome, BoundIdentity, Directory, Dn, EntryId, Filter, LdapMessage, ProtocolOp, RootDse,
    Session, SessionConfig, Timestamp,
};
use idm_model::access::ADMIN_UUID;
use idm_model::audit::Actor;
use idm_server::ldap::view::{LdapView, ViewEntry};
use idm_store::{Reader, Store, StoreConfig};

const BASE: &str = "dc=example,dc=com";

fn main() {
    let n: usize = std::env::var("IDM_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = fixture(n, &dir.path().join(idm_store::DB_FILE));
    let view = LdapView::build(&store, BASE)
        .map_err(|e| e.to_string())
        .expect("view");
    let mut c = Criterion::default().configure_from_args();
    searches(&mut c, &view, n);
    build(&mut c, &store, n);
    c.final_summary();
}

/// The store, with every page the build reads read once, and the view's resident cost.
fn fixture(n: usize, path: &std::path::Path) -> Store {
    let t = Instant::now();
    let snap = Dataset::generate(n, 1).snapshot();
    let store = Store::open(path, StoreConfig::default()).expect("store");
    store
        .import(&snap, &Actor::system("bench"), dataset::epoch())
        .expect("import");
    store.ensure_builtins(dataset::epoch()).expect("built-ins");
    drop(snap);
    eprintln!("ldap_view bench: {n} persons imported in {:?}", t.elapsed());
    {
        let txn = store.read().expect("read");
        for kind in [
            idm_model::EntryKind::Person,
            idm_model::EntryKind::ServiceAccount,
            idm_model::EntryKind::Group,
        ] {
            for u in txn.uuids_of_kind(kind).expect("kinds") {
                black_box(txn.require(u).expect("entry"));
                black_box(txn.member_of_transitive(u).expect("closure"));
                black_box(txn.members_transitive(u).expect("members"));
            }
        }
    }
    let before = rss_kib();
    let t = Instant::now();
    let view = LdapView::build(&store, BASE)
        .map_err(|e| e.to_string())
        .expect("view");
    let took = t.elapsed();
    let after = rss_kib();
    eprintln!(
        "ldap_view bench: view of {} entries built in {took:?}; VmRSS {before} → {after} KiB \
         (+{} KiB, {} bytes per person)",
        view.len(),
        after.saturating_sub(before),
        after.saturating_sub(before) * 1024 / n.max(1) as u64,
    );
    eprintln!(
        "ldap_view bench: the view's tables hold {} bytes ({} per person)",
        view.heap_bytes(),
        view.heap_bytes() / n.max(1)
    );
    drop(view);
    store
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn searches(c: &mut Criterion, view: &LdapView, n: usize) {
    let mut dir = ViewDir {
        view,
        admin: EntryId(ADMIN_UUID.as_u128()),
    };
    let mut config = SessionConfig::default();
    config.tls_active = true;
    let mut session = Session::new(config);
    let bind = LdapMessage::new(
        1,
        ProtocolOp::BindRequest(BindRequest {
            version: 3,
            name: "admin".into(),
            authentication: Authentication::Simple(b"bench".to_vec().into()),
        }),
    );
    let out = session.handle(bind, Timestamp::from_millis(0), &mut dir);
    assert!(
        matches!(session.bound(), BoundIdentity::User { .. }),
        "{out:?}"
    );

    let mut g = c.benchmark_group("ldap_view");
    let mut out_buf = BytesMut::with_capacity(64 * 1024);
    let mut rng = SplitMix64::new(7);
    let mut id = 1i32;
    let mut run = |b: &mut criterion::Bencher<'_>,
                   make: &dyn Fn(usize) -> (Filter, Vec<String>),
                   entries: usize| {
        b.iter(|| {
            id = id % 1_000_000 + 1;
            let (filter, attributes) = make(rng.below(n));
            let msg = LdapMessage::new(
                id + 1,
                ProtocolOp::SearchRequest(SearchRequest {
                    base: BASE.to_owned(),
                    scope: SearchScope::WholeSubtree,
                    deref_aliases: DerefAliases::Never,
                    size_limit: 0,
                    time_limit: 0,
                    types_only: false,
                    filter,
                    attributes,
                }),
            );
            let out = session.handle(msg, Timestamp::from_millis(0), &mut dir);
            out_buf.clear();
            out.encode(&mut out_buf);
            assert!(out.responses.len() > entries, "{:?}", out.responses.last());
            black_box(out_buf.len())
        })
    };
    let attrs = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    g.bench_with_input(BenchmarkId::new("search_uid", n), &n, |b, _| {
        run(
            b,
            &|k| {
                (
                    Filter::eq("uid", format!("user{k}")),
                    attrs(&["uid", "cn", "mail", "memberOf"]),
                )
            },
            1,
        )
    });
    g.bench_with_input(BenchmarkId::new("nss_passwd", n), &n, |b, _| {
        run(
            b,
            &|k| {
                (
                    Filter::And(vec![
                        Filter::eq("objectClass", "posixAccount"),
                        Filter::eq("uid", format!("user{k}")),
                    ]),
                    vec![],
                )
            },
            1,
        )
    });
    g.bench_with_input(BenchmarkId::new("nss_initgroups", n), &n, |b, _| {
        run(
            b,
            &|k| {
                (
                    Filter::And(vec![
                        Filter::eq("objectClass", "posixGroup"),
                        Filter::eq("memberUid", format!("user{k}")),
                    ]),
                    attrs(&["cn", "gidNumber"]),
                )
            },
            4,
        )
    });
    g.bench_with_input(BenchmarkId::new("nss_group_top", n), &n, |b, _| {
        run(
            b,
            &|k| {
                (
                    Filter::And(vec![
                        Filter::eq("objectClass", "posixGroup"),
                        Filter::eq("cn", format!("top{}", k % dataset::TOP_GROUPS)),
                    ]),
                    vec![],
                )
            },
            1,
        )
    });
    g.finish();
}

fn build(c: &mut Criterion, store: &Store, n: usize) {
    let mut g = c.benchmark_group("ldap_view");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.bench_with_input(BenchmarkId::new("build", n), &n, |b, _| {
        b.iter(|| {
            let v = LdapView::build(store, BASE)
                .map_err(|e| e.to_string())
                .expect("view");
            black_box(v.len())
        })
    });
    g.finish();
}

/// The session's view of `LdapView` (as `idm_server::ldap::Dir`, minus the store-backed binds:
/// every bind succeeds as the admin).
struct ViewDir<'a> {
    view: &'a LdapView,
    admin: EntryId,
}

impl Directory for ViewDir<'_> {
    type Entry<'e>
        = ViewEntry<'e>
    where
        Self: 'e;

    fn bind(&mut self, _: &str, _: &[u8], _: Timestamp) -> BindOutcome {
        BindOutcome::Success {
            dn: format!("uid=admin,ou=people,{BASE}"),
            id: self.admin,
        }
    }

    fn root_dse(&self) -> RootDse {
        self.view.root_dse()
    }

    fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<std::borrow::Cow<'_, [EntryId]>> {
        self.view.lookup_eq(attr, value)
    }

    fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        self.view.count_eq(attr, value)
    }

    fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.view.lookup_dn(dn)
    }

    fn all_ids(&self) -> Vec<EntryId> {
        self.view.all_ids()
    }

    fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<ViewEntry<'_>> {
        self.view.entry(id, who)
    }
}
