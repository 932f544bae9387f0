//! A deterministic synthetic directory for benches and the RSS script: `n` persons and 1,000
//! groups nested three deep.
//!
//! - 10 top groups `top0..top9`, each holding 9 middle groups (`mid0..mid89`), each holding 10
//!   leaf groups (`leaf0..leaf899`); every group has a POSIX gid.
//! - persons `user0..user{n-1}`, each with one mail address and a POSIX account, directly in 1–3
//!   leaf groups (so transitively in 3–9 groups).
//!
//! UUIDs, memberships and sample choices come from a seeded SplitMix64, so every run and every
//! tool builds the same data without a `rand` dependency.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use idm_model::entry::Credentials;
use idm_model::export::Snapshot;
use idm_model::{Entry, Group, Person, PosixAccount};
use uuid::Uuid;

pub const TOP_GROUPS: usize = 10;
pub const MIDDLE_PER_TOP: usize = 9;
pub const LEAVES_PER_MIDDLE: usize = 10;
pub const LEAF_GROUPS: usize = TOP_GROUPS * MIDDLE_PER_TOP * LEAVES_PER_MIDDLE;
pub const GROUPS: usize = LEAF_GROUPS + TOP_GROUPS * MIDDLE_PER_TOP + TOP_GROUPS;

/// First uidNumber of the persons (clear of the allocator's default range start and of
/// `nobody` = 65534 for any `n` up to 1.8 million).
pub const FIRST_UID: u32 = 100_000;
/// First gidNumber of the groups.
pub const FIRST_GID: u32 = 20_000;

/// The instant every generated entry was created at.
pub fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// SplitMix64: small, fast and good enough to spread keys and memberships.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for bench data (n is far below 2^64).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A version-4-shaped UUID, so keys spread over the B-trees like real ones.
    pub fn uuid(&mut self) -> Uuid {
        let bytes =
            ((u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// The generated directory: the entries, plus the direct and transitive memberships as plain
/// maps for reference implementations and checks.
pub struct Dataset {
    pub persons: Vec<Person>,
    pub groups: Vec<Group>,
    /// Person UUID → every group it is in, nesting included (sorted).
    pub member_of_transitive: BTreeMap<Uuid, Vec<Uuid>>,
}

impl Dataset {
    pub fn generate(n_persons: usize, seed: u64) -> Dataset {
        let mut rng = SplitMix64::new(seed);
        let at = epoch();
        let mut groups: Vec<Group> = (0..GROUPS)
            .map(|i| {
                let name = if i < TOP_GROUPS {
                    format!("top{i}")
                } else if i < TOP_GROUPS * (1 + MIDDLE_PER_TOP) {
                    format!("mid{}", i - TOP_GROUPS)
                } else {
                    format!("leaf{}", i - TOP_GROUPS * (1 + MIDDLE_PER_TOP))
                };
                Group {
                    credential_policy: None,
                    uuid: rng.uuid(),
                    name,
                    description: None,
                    members: BTreeSet::new(),
                    gid_number: Some(FIRST_GID + i as u32),
                    created_at: at,
                    modified_at: at,
                }
            })
            .collect();
        // Index ranges of the three levels inside `groups`.
        let top = 0..TOP_GROUPS;
        let middle = TOP_GROUPS..TOP_GROUPS * (1 + MIDDLE_PER_TOP);
        let leaf = middle.end..GROUPS;
        // Parent of each group, and the nesting edges on the parents.
        let mut parent: Vec<Option<usize>> = vec![None; GROUPS];
        for m in middle.clone() {
            parent[m] = Some(top.start + (m - middle.start) / MIDDLE_PER_TOP);
        }
        for l in leaf.clone() {
            parent[l] = Some(middle.start + (l - leaf.start) / LEAVES_PER_MIDDLE);
        }
        for g in 0..GROUPS {
            if let Some(p) = parent[g] {
                let child = groups[g].uuid;
                groups[p].members.insert(child);
            }
        }

        let mut persons = Vec::with_capacity(n_persons);
        let mut member_of_transitive = BTreeMap::new();
        for i in 0..n_persons {
            let uuid = rng.uuid();
            let uid = FIRST_UID + i as u32;
            let name = format!("user{i}");
            persons.push(Person {
                uuid,
                display_name: format!("User Number {i}"),
                legal_name: None,
                mails: vec![format!("{name}@example.com")],
                valid_from: None,
                expire_at: None,
                lock: None,
                posix: Some(PosixAccount {
                    uid_number: uid,
                    gid_number: uid,
                    login_shell: "/bin/bash".into(),
                    home_directory: format!("/home/{name}"),
                }),
                ssh_keys: BTreeMap::new(),
                credentials: Credentials::default(),
                created_at: at,
                modified_at: at,
                name,
            });
            let k = 1 + rng.below(3);
            let mut closure = BTreeSet::new();
            for _ in 0..k {
                let mut g = leaf.start + rng.below(LEAF_GROUPS);
                groups[g].members.insert(uuid);
                closure.insert(groups[g].uuid);
                while let Some(p) = parent[g] {
                    closure.insert(groups[p].uuid);
                    g = p;
                }
            }
            member_of_transitive.insert(uuid, closure.into_iter().collect());
        }
        Dataset {
            persons,
            groups,
            member_of_transitive,
        }
    }

    /// The canonical snapshot `Store::import` and `idm-server import` take.
    pub fn snapshot(&self) -> Snapshot {
        let entries = self
            .persons
            .iter()
            .cloned()
            .map(Entry::Person)
            .chain(self.groups.iter().cloned().map(Entry::Group));
        let posix_next = FIRST_UID + self.persons.len() as u32;
        Snapshot::new(entries, Vec::new(), posix_next, false)
    }
}
