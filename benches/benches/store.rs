//! idm-store: read and write costs on a directory of 100,000 persons and 1,000 nested groups.
//!
//! The directory (`idm_benches::dataset`: persons in 1–3 of 900 leaf groups, nested under 90
//! middle and 10 top groups) is built once, outside every timing loop, by `Store::import` into a
//! `Store::open` on a temporary file on disk; the build times are printed to stderr.
//!
//! - `store_lookup_by_name/{store_read_per_op,store_long_read}`: `Reader::entry_by_name` for a
//!   name drawn in turn from a fixed list of 1,024 random names, opening `store.read()` for every
//!   lookup (what a request handler does) or reusing one long-lived read transaction.
//! - `store_lookup_by_name/{btreemap_clone,btreemap_ref}`: the same names in a
//!   `BTreeMap<String, Person>` holding the same persons, returning an owned clone (as the store
//!   does) or only a reference.
//! - `store_member_of_transitive/…`: `Reader::member_of_transitive` of one person (3–9 groups)
//!   from the maintained index, the same two ways, against `BTreeMap<Uuid, Vec<Uuid>>` holding the
//!   same closures (get + clone of the `Vec`).
//! - `store_create_person/disk_durable`: one `store.apply(CreatePerson)` per iteration into the
//!   same 100k store on disk: validation, the indexes, the hash-chained audit entry and a durable
//!   (fsync'd) redb commit. Runs last because it adds persons.
//! - `store_create_person/in_memory`: the same into a `Store::in_memory` holding the same
//!   directory, i.e. the cost of a create without the disk.
//!
//! `IDM_BENCH_PERSONS` overrides the number of persons (for quick trials only; the figures in
//! README.md are for 100,000). `benches/criterion_medians.py` prints the medians and the
//! store/BTreeMap ratios of the last run.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use idm_benches::dataset::{self, Dataset, SplitMix64};
use idm_model::Person;
use idm_model::access::ADMIN_UUID;
use idm_model::audit::Actor;
use idm_model::change::Change;
use idm_model::export::Snapshot;
use idm_store::{Reader, Store, StoreConfig};
use uuid::Uuid;

const DEFAULT_PERSONS: usize = 100_000;
/// How many random names / persons the read benches cycle through.
const SAMPLE: usize = 1024;

fn main() -> ExitCode {
    let persons = std::env::var("IDM_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PERSONS);
    let fixture = match Fixture::build(persons) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("store bench: building the fixture failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut c = Criterion::default().configure_from_args();
    lookup_by_name(&mut c, &fixture);
    member_of_transitive(&mut c, &fixture);
    create_person(&mut c, &fixture);
    c.final_summary();
    ExitCode::SUCCESS
}

fn lookup_by_name(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("store_lookup_by_name");
    g.bench_function("store_read_per_op", |b| {
        let mut names = f.names.iter().cycle();
        b.iter(|| {
            let name = names.next().map_or("", String::as_str);
            let txn = f.store.read().expect("read transaction");
            black_box(txn.entry_by_name(black_box(name)).expect("lookup"))
        });
    });
    g.bench_function("store_long_read", |b| {
        let txn = f.store.read().expect("read transaction");
        let mut names = f.names.iter().cycle();
        b.iter(|| {
            let name = names.next().map_or("", String::as_str);
            black_box(txn.entry_by_name(black_box(name)).expect("lookup"))
        });
    });
    g.bench_function("btreemap_clone", |b| {
        let mut names = f.names.iter().cycle();
        b.iter(|| {
            let name = names.next().map_or("", String::as_str);
            black_box(f.by_name.get(black_box(name)).cloned())
        });
    });
    g.bench_function("btreemap_ref", |b| {
        let mut names = f.names.iter().cycle();
        b.iter(|| {
            let name = names.next().map_or("", String::as_str);
            black_box(f.by_name.get(black_box(name)).map(|p| p.uuid))
        });
    });
    g.finish();
}

fn member_of_transitive(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("store_member_of_transitive");
    g.bench_function("store_read_per_op", |b| {
        let mut uuids = f.uuids.iter().cycle();
        b.iter(|| {
            let u = uuids.next().copied().unwrap_or_default();
            let txn = f.store.read().expect("read transaction");
            black_box(txn.member_of_transitive(black_box(u)).expect("memberOf"))
        });
    });
    g.bench_function("store_long_read", |b| {
        let txn = f.store.read().expect("read transaction");
        let mut uuids = f.uuids.iter().cycle();
        b.iter(|| {
            let u = uuids.next().copied().unwrap_or_default();
            black_box(txn.member_of_transitive(black_box(u)).expect("memberOf"))
        });
    });
    g.bench_function("btreemap_clone", |b| {
        let mut uuids = f.uuids.iter().cycle();
        b.iter(|| {
            let u = uuids.next().copied().unwrap_or_default();
            black_box(f.member_of.get(&black_box(u)).cloned().unwrap_or_default())
        });
    });
    g.finish();
}

fn create_person(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("store_create_person");
    // Each durable iteration is an fsync'd commit (milliseconds): few, equal-sized samples.
    g.sampling_mode(SamplingMode::Flat).sample_size(20);
    let mut rng = SplitMix64::new(0xc0ffee);
    let mut next = 0usize;
    g.bench_function("disk_durable", |b| {
        b.iter_custom(|iters| time_creates(&f.store, iters, &mut rng, &mut next));
    });
    // The same work minus the disk: what the CPU part of a create costs.
    match in_memory_copy(f) {
        Ok(mem) => {
            g.bench_function("in_memory", |b| {
                b.iter_custom(|iters| time_creates(&mem, iters, &mut rng, &mut next));
            });
        }
        Err(e) => eprintln!("store bench: in-memory store not built, skipping: {e}"),
    }
    g.finish();
}

/// Applies `iters` fresh `CreatePerson` changes (names and UUIDs made outside the timing).
fn time_creates(store: &Store, iters: u64, rng: &mut SplitMix64, next: &mut usize) -> Duration {
    let actor = Actor {
        uuid: Some(ADMIN_UUID),
        name: "admin".into(),
    };
    let changes: Vec<Change> = (0..iters)
        .map(|_| {
            *next += 1;
            Change::CreatePerson(new_person(*next, rng.uuid()))
        })
        .collect();
    let start = Instant::now();
    for ch in &changes {
        let applied = store
            .apply(ch, &actor, dataset::epoch(), None)
            .expect("create person");
        black_box(applied.seq);
    }
    start.elapsed()
}

/// The fixture's data imported into `Store::in_memory` (redb's in-memory backend).
fn in_memory_copy(f: &Fixture) -> Result<Store, Box<dyn std::error::Error>> {
    let store = Store::in_memory(StoreConfig::default())?;
    store.import(&f.snapshot, &Actor::system("bench"), dataset::epoch())?;
    Ok(store)
}

fn new_person(k: usize, uuid: Uuid) -> Person {
    let at = dataset::epoch();
    Person {
        uuid,
        name: format!("new{k}"),
        display_name: format!("New Person {k}"),
        legal_name: None,
        mails: vec![format!("new{k}@example.org")],
        valid_from: None,
        expire_at: None,
        lock: None,
        posix: None,
        ssh_keys: Default::default(),
        credentials: Default::default(),
        created_at: at,
        modified_at: at,
    }
}

/// The store on disk and the same data in plain maps, plus the sampled keys.
struct Fixture {
    snapshot: Snapshot,
    store: Store,
    _dir: tempfile::TempDir,
    by_name: BTreeMap<String, Person>,
    member_of: BTreeMap<Uuid, Vec<Uuid>>,
    names: Vec<String>,
    uuids: Vec<Uuid>,
}

impl Fixture {
    fn build(persons: usize) -> Result<Fixture, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let data = Dataset::generate(persons, 1);
        let snap = data.snapshot();
        let generated = t.elapsed();
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(idm_store::DB_FILE);
        let store = Store::open(&path, StoreConfig::default())?;
        let t = Instant::now();
        store.import(&snap, &Actor::system("bench"), dataset::epoch())?;
        let imported = t.elapsed();
        eprintln!(
            "store bench fixture: {persons} persons + {} groups generated in {}, imported in {} \
             ({:.1} µs/entry), {} MiB on disk at {}",
            dataset::GROUPS,
            secs(generated),
            secs(imported),
            imported.as_secs_f64() * 1e6 / (persons + dataset::GROUPS) as f64,
            std::fs::metadata(&path)?.len() >> 20,
            path.display(),
        );

        let mut rng = SplitMix64::new(42);
        let picks: Vec<usize> = (0..SAMPLE).map(|_| rng.below(persons)).collect();
        let names: Vec<String> = picks
            .iter()
            .map(|&i| data.persons[i].name.clone())
            .collect();
        let uuids: Vec<Uuid> = picks.iter().map(|&i| data.persons[i].uuid).collect();
        let member_of = data.member_of_transitive;
        let by_name: BTreeMap<String, Person> = data
            .persons
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();

        // The store must answer exactly what the maps hold, or the comparison means nothing.
        let txn = store.read()?;
        for (name, u) in names.iter().zip(&uuids) {
            let found = txn.entry_by_name(name)?.map(|e| e.uuid());
            let groups = txn.member_of_transitive(*u)?;
            if found != Some(*u) || Some(&groups) != member_of.get(u) {
                return Err(format!("store and reference disagree about {name}").into());
            }
        }
        drop(txn);
        Ok(Fixture {
            snapshot: snap,
            store,
            _dir: dir,
            by_name,
            member_of,
            names,
            uuids,
        })
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
