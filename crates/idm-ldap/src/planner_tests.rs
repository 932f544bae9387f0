//! The planner may only narrow: planned search == naive evaluation over every entry, for random
//! directories, random index sets and random filters.

use std::borrow::Cow;
use std::cell::RefCell;

use proptest::prelude::*;

use crate::directory::{BoundIdentity, EntryId};
use crate::filter::Filter;
use crate::proto::SearchScope;
use crate::search::{Candidates, plan, search};
use crate::{Directory, Dn, Entry, MemDirectory};

const ATTRS: &[&str] = &[
    "uid",
    "cn",
    "uidNumber",
    "memberOf",
    "objectClass",
    "mail",
    "memberUid",
];

fn value_for(attr: &str, n: u8) -> Vec<u8> {
    match attr {
        "uidNumber" => format!("{}", 1000 + u32::from(n % 6)).into_bytes(),
        "memberOf" => format!("cn=G{},dc=x", n % 3).into_bytes(),
        "objectClass" => ["person", "posixAccount", "posixGroup"][usize::from(n % 3)]
            .as_bytes()
            .to_vec(),
        // Mixed case so that case-insensitive matching and normalized indexes are exercised.
        _ => format!("{}{}", if n.is_multiple_of(2) { "v" } else { "V" }, n % 5).into_bytes(),
    }
}

fn arb_entry(i: usize) -> impl Strategy<Value = Entry> {
    prop::collection::vec(
        (
            prop::sample::select(ATTRS),
            prop::collection::vec(any::<u8>(), 1..3),
        ),
        0..5,
    )
    .prop_map(move |attrs| {
        let mut e = Entry::new(Dn::parse(&format!("uid=e{i},ou=p,dc=x")).unwrap(), vec![]);
        for (a, ns) in attrs {
            e.add_values(a, ns.into_iter().map(|n| value_for(a, n)));
        }
        e
    })
}

fn arb_directory() -> impl Strategy<Value = MemDirectory> {
    (
        (0usize..25).prop_flat_map(|n| (0..n).map(arb_entry).collect::<Vec<_>>()),
        prop::sample::subsequence(ATTRS, 0..ATTRS.len()),
    )
        .prop_map(|(entries, indexed)| {
            let mut d = MemDirectory::new(&["dc=x"]);
            let lower: Vec<String> = indexed.iter().map(|a| a.to_ascii_lowercase()).collect();
            d.set_indexes(&lower.iter().map(String::as_str).collect::<Vec<_>>());
            d.set_anonymous_read(true);
            for e in entries {
                d.insert(e);
            }
            d
        })
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let term = (prop::sample::select(ATTRS), any::<u8>()).prop_map(|(a, n)| {
        let mut value = value_for(a, n);
        if n % 7 == 0 {
            value.make_ascii_uppercase();
        }
        (a.to_owned(), value)
    });
    let leaf = prop_oneof![
        4 => term.clone().prop_map(|(attr, value)| Filter::Equality { attr, value }),
        1 => term.clone().prop_map(|(attr, value)| Filter::Approx { attr, value }),
        1 => term.clone().prop_map(|(attr, value)| Filter::GreaterOrEqual { attr, value }),
        1 => prop::sample::select(ATTRS).prop_map(|a| Filter::Present(a.to_owned())),
        1 => Just(Filter::eq("uidNumber", "not a number")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

fn naive(dir: &MemDirectory, filter: &Filter) -> Vec<EntryId> {
    dir.iter()
        .filter(|(_, e)| filter.matches(e))
        .map(|(id, _)| id)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn planned_search_equals_naive_evaluation(dir in arb_directory(), filter in arb_filter()) {
        let who = BoundIdentity::Anonymous;
        let base = Dn::parse("dc=x").unwrap();
        let planned: Vec<EntryId> = search(&dir, &who, &base, SearchScope::WholeSubtree, &filter, usize::MAX)
            .into_iter()
            .map(|e| dir.lookup_dn(e.normalized_dn()).unwrap())
            .collect();
        prop_assert_eq!(planned, naive(&dir, &filter), "{}", filter);
        // And the plan, when it narrows, contains every match.
        if let Candidates::Ids(ids) = plan(&filter, &dir) {
            for id in naive(&dir, &filter) {
                prop_assert!(ids.binary_search(&id).is_ok());
            }
        }
    }
}

#[test]
fn planner_uses_indexes_and_falls_back() {
    let mut d = MemDirectory::new(&["dc=x"]);
    d.set_anonymous_read(true);
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            d.insert(
                Entry::new(Dn::parse(&format!("uid=u{i},dc=x")).unwrap(), vec![])
                    .with("uid", [format!("u{i}")])
                    .with("objectClass", ["posixAccount"])
                    .with("gecos", [format!("G{i}")]),
            ),
        );
    }
    let p = |f: &str| plan(&Filter::parse(f).unwrap(), &d);
    assert_eq!(p("(uid=U7)"), Candidates::Ids(vec![ids[7]]));
    assert_eq!(
        p("(&(objectClass=posixAccount)(uid=u7))"),
        Candidates::Ids(vec![ids[7]])
    );
    assert_eq!(
        p("(|(uid=u7)(uid=u8))"),
        Candidates::Ids(vec![ids[7], ids[8]])
    );
    // gecos is not indexed; in an AND the indexed term still narrows, in an OR nothing can.
    assert_eq!(p("(&(gecos=G7)(uid=u7))"), Candidates::Ids(vec![ids[7]]));
    assert_eq!(p("(|(gecos=G7)(uid=u7))"), Candidates::All);
    assert_eq!(p("(!(uid=u7))"), Candidates::All);
    assert_eq!(p("(uid=*)"), Candidates::All);
    assert_eq!(p("(uidNumber=abc)"), Candidates::Ids(vec![]));
    // Once one term leaves few candidates the rest are not fetched; evaluation does the rest.
    assert_eq!(p("(&(uid=u1)(uid=u2))"), Candidates::Ids(vec![ids[1]]));
    let both = |f: &str| {
        search(
            &d,
            &BoundIdentity::Anonymous,
            &Dn::root(),
            SearchScope::WholeSubtree,
            &Filter::parse(f).unwrap(),
            10,
        )
        .len()
    };
    assert_eq!(both("(&(uid=u1)(uid=u2))"), 0);
    assert_eq!(both("(&(uid=u1)(objectClass=posixAccount))"), 1);

    // The big objectClass posting list is counted, never fetched.
    let spy = Spy {
        inner: &d,
        fetched: RefCell::new(Vec::new()),
    };
    let f = Filter::parse("(&(objectClass=posixAccount)(uid=u7))").unwrap();
    assert_eq!(plan(&f, &spy), Candidates::Ids(vec![ids[7]]));
    assert_eq!(*spy.fetched.borrow(), vec!["uid".to_owned()]);
}

/// Records which posting lists the planner fetches.
struct Spy<'a> {
    inner: &'a MemDirectory,
    fetched: RefCell<Vec<String>>,
}

impl Directory for Spy<'_> {
    type Entry<'b>
        = Cow<'b, Entry>
    where
        Self: 'b;

    fn bind(&mut self, _: &str, _: &[u8], _: crate::Timestamp) -> crate::BindOutcome {
        unreachable!()
    }
    fn root_dse(&self) -> crate::RootDse {
        self.inner.root_dse()
    }
    fn lookup_eq(&self, attr: &str, value: &[u8]) -> Option<Cow<'_, [EntryId]>> {
        self.fetched.borrow_mut().push(attr.to_owned());
        self.inner.lookup_eq(attr, value)
    }
    fn count_eq(&self, attr: &str, value: &[u8]) -> Option<usize> {
        self.inner.count_eq(attr, value)
    }
    fn lookup_dn(&self, dn: &Dn) -> Option<EntryId> {
        self.inner.lookup_dn(dn)
    }
    fn all_ids(&self) -> Vec<EntryId> {
        self.inner.all_ids()
    }
    fn entry(&self, id: EntryId, who: &BoundIdentity) -> Option<Cow<'_, Entry>> {
        self.inner.entry(id, who)
    }
}
