//! idm-ldap: codec and search costs.
//!
//! - `ldap/decode_search_request`: the search `ldapsearch` sends for an NSS user lookup.
//! - `ldap/search_uid_eq/{10000,100000}`: `(uid=userN)` through the planner and full filter
//!   evaluation over a `MemDirectory` (directory built once, outside the timing loop).
//! - `ldap/session_search_uid_eq/100000`: the same through `Session::handle`, encoded to bytes,
//!   i.e. what one NSS lookup costs the server minus IO.
//! - `ldap/encode_search_result_entry`: a person entry with 12 attributes.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use idm_ldap::bytes::BytesMut;
use idm_ldap::proto::{DerefAliases, SearchRequest, SearchResultEntry, SearchScope};
use idm_ldap::search::search;
use idm_ldap::{
    Attribute, BoundIdentity, Dn, Entry, Filter, LdapMessage, Limits, MemDirectory, ProtocolOp,
    Session, SessionConfig, Timestamp, decode_message, encode_message,
};

const SUFFIX: &str = "dc=example,dc=com";

/// `ldapsearch -x -b dc=example,dc=com "(&(objectClass=posixAccount)(uid=alice))" uid cn`
const SEARCH_REQUEST: &str = "305f020102635a041164633d6578616d706c652c64633d636f6d0a01020a0100020100020100010100a02ba31b040b6f626a656374436c617373040c706f7369784163636f756e74a30c04037569640405616c696365300904037569640402636e";

fn hex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect()
}

fn person(i: usize) -> Entry {
    let dn = Dn::parse(&format!("uid=user{i},ou=people,{SUFFIX}")).expect("valid DN");
    Entry::new(dn, vec![])
        .with(
            "objectClass",
            ["top", "person", "inetOrgPerson", "posixAccount"],
        )
        .with("uid", [format!("user{i}")])
        .with("cn", [format!("User Number {i}")])
        .with("sn", [format!("Number {i}")])
        .with("givenName", ["User"])
        .with("displayName", [format!("User Number {i}")])
        .with("mail", [format!("user{i}@example.com")])
        .with("uidNumber", [format!("{}", 10_000 + i)])
        .with("gidNumber", [format!("{}", 10_000 + i)])
        .with("homeDirectory", [format!("/home/user{i}")])
        .with("loginShell", ["/bin/bash"])
        .with(
            "memberOf",
            [format!("cn=group{},ou=groups,{SUFFIX}", i % 100)],
        )
}

fn directory(n: usize) -> MemDirectory {
    let mut d = MemDirectory::new(&[SUFFIX]);
    d.set_anonymous_read(true);
    d.insert(
        Entry::new(Dn::parse(SUFFIX).expect("valid DN"), vec![]).with("objectClass", ["domain"]),
    );
    d.insert(
        Entry::new(
            Dn::parse(&format!("ou=people,{SUFFIX}")).expect("valid DN"),
            vec![],
        )
        .with("objectClass", ["organizationalUnit"]),
    );
    for i in 0..n {
        d.insert(person(i));
    }
    d
}

fn bench_decode(c: &mut Criterion) {
    let bytes = hex(SEARCH_REQUEST);
    let limits = Limits::default();
    let mut g = c.benchmark_group("ldap");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode_search_request", |b| {
        b.iter(|| decode_message(black_box(&bytes), &limits))
    });
    g.finish();
}

fn bench_search(c: &mut Criterion) {
    let mut g = c.benchmark_group("ldap");
    let base = Dn::parse(SUFFIX).expect("valid DN");
    let who = BoundIdentity::Anonymous;
    for n in [10_000usize, 100_000] {
        let dir = directory(n);
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::new("search_uid_eq", n), &n, |b, &n| {
            b.iter(|| {
                i = (i + 7919) % n;
                let filter = Filter::eq("uid", format!("user{i}"));
                let found = search(&dir, &who, &base, SearchScope::WholeSubtree, &filter, 10);
                assert_eq!(found.len(), 1);
                black_box(found.len())
            })
        });
        if n == 100_000 {
            let mut dir = dir;
            let mut session = Session::new(SessionConfig::default());
            let mut out_buf = BytesMut::with_capacity(4096);
            let mut id = 0i32;
            g.bench_with_input(BenchmarkId::new("session_search_uid_eq", n), &n, |b, &n| {
                b.iter(|| {
                    id = id % 1_000_000 + 1;
                    let user = (id as usize * 7919) % n;
                    let msg = LdapMessage::new(
                        id,
                        ProtocolOp::SearchRequest(SearchRequest {
                            base: SUFFIX.to_owned(),
                            scope: SearchScope::WholeSubtree,
                            deref_aliases: DerefAliases::Never,
                            size_limit: 0,
                            time_limit: 0,
                            types_only: false,
                            filter: Filter::And(vec![
                                Filter::eq("objectClass", "posixAccount"),
                                Filter::eq("uid", format!("user{user}")),
                            ]),
                            attributes: vec![],
                        }),
                    );
                    let out = session.handle(msg, Timestamp::from_millis(0), &mut dir);
                    out_buf.clear();
                    out.encode(&mut out_buf);
                    assert_eq!(out.responses.len(), 2);
                    black_box(out_buf.len())
                })
            });
        }
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let entry = person(4242);
    let msg = LdapMessage::new(
        5,
        ProtocolOp::SearchResultEntry(SearchResultEntry {
            dn: entry.dn_string().to_owned(),
            attributes: entry.attributes().to_vec(),
        }),
    );
    let attrs: usize = entry
        .attributes()
        .iter()
        .map(|a: &Attribute| a.values.len())
        .sum();
    assert!(entry.attributes().len() >= 12 && attrs >= 12);
    let mut out = BytesMut::with_capacity(1024);
    let mut g = c.benchmark_group("ldap");
    g.bench_function("encode_search_result_entry", |b| {
        b.iter(|| {
            out.clear();
            encode_message(black_box(&msg), &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_search, bench_encode);
criterion_main!(benches);
