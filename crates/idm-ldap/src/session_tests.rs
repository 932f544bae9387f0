//! Session tests: a harness plays the IO layer (every request and response goes through the
//! codec as bytes) against a [`MemDirectory`], with a simulated clock.

use crate::control::{Control, PagedResults, oid};
use crate::directory::{BoundIdentity, Timestamp};
use crate::filter::Filter;
use crate::proto::*;
use crate::session::{Action, Event, Output, READ_ONLY_MESSAGE, Session, SessionConfig};
use crate::{Attribute, Dn, Entry, LdapError, MemDirectory, ResultCode, decode_message};

const SUFFIX: &str = "dc=example,dc=com";
const READER: &str = "cn=reader,dc=example,dc=com";

fn directory() -> MemDirectory {
    let mut d = MemDirectory::new(&[SUFFIX]);
    let dn = |s: &str| Dn::parse(s).unwrap();
    d.insert(
        Entry::new(dn(SUFFIX), vec![])
            .with("objectClass", ["top", "domain"])
            .with("dc", ["example"]),
    );
    for ou in ["people", "groups"] {
        d.insert(
            Entry::new(dn(&format!("ou={ou},{SUFFIX}")), vec![])
                .with("objectClass", ["top", "organizationalUnit"])
                .with("ou", [ou]),
        );
    }
    let reader = d.insert(
        Entry::new(dn(READER), vec![])
            .with("objectClass", ["top", "person"])
            .with("cn", ["reader"])
            .with("sn", ["reader"]),
    );
    d.set_password(reader, b"reader-pw");
    for i in 0..10 {
        let id = d.insert(
            Entry::new(dn(&format!("uid=user{i},ou=people,{SUFFIX}")), vec![])
                .with(
                    "objectClass",
                    ["top", "person", "inetOrgPerson", "posixAccount"],
                )
                .with("uid", [format!("user{i}")])
                .with("cn", [format!("User {i}")])
                .with("sn", [format!("{i}")])
                .with("uidNumber", [format!("{}", 1000 + i)])
                .with("gidNumber", [format!("{}", 1000 + i)])
                .with("homeDirectory", [format!("/home/user{i}")])
                .with("loginShell", ["/bin/bash"])
                .with("entryUUID", [format!("00000000-0000-4000-8000-{i:012}")])
                .with(
                    "memberOf",
                    [format!("cn=group{},ou=groups,{SUFFIX}", i % 3)],
                )
                .with("userPassword", ["{ARGON2}hidden"]),
        );
        d.set_password(id, format!("pw{i}").as_bytes());
    }
    for g in 0..3 {
        let members: Vec<usize> = (0..10).filter(|i| i % 3 == g).collect();
        d.insert(
            Entry::new(dn(&format!("cn=group{g},ou=groups,{SUFFIX}")), vec![])
                .with("objectClass", ["top", "posixGroup", "groupOfNames"])
                .with("cn", [format!("group{g}")])
                .with("gidNumber", [format!("{}", 2000 + g)])
                .with(
                    "memberUid",
                    members
                        .iter()
                        .map(|i| format!("user{i}"))
                        .collect::<Vec<_>>(),
                )
                .with(
                    "member",
                    members
                        .iter()
                        .map(|i| format!("uid=user{i},ou=people,{SUFFIX}"))
                        .collect::<Vec<_>>(),
                ),
        );
    }
    d
}

struct Harness {
    session: Session,
    dir: MemDirectory,
    now: Timestamp,
    next_id: i32,
}

impl Harness {
    fn new(config: SessionConfig) -> Self {
        Self {
            session: Session::new(config),
            dir: directory(),
            now: Timestamp::from_millis(1_700_000_000_000),
            next_id: 1,
        }
    }

    /// LDAPS, the server's default listener.
    fn tls() -> Self {
        Self::new(SessionConfig {
            tls_active: true,
            ..SessionConfig::default()
        })
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_millis(ms);
    }

    /// Sends a request through the codec and returns the output with responses re-decoded from
    /// their encoding, as the client would see them.
    fn send_with(&mut self, op: ProtocolOp, controls: Vec<Control>) -> (i32, Output) {
        let id = self.next_id;
        self.next_id += 1;
        let msg = LdapMessage {
            message_id: id,
            op,
            controls,
        };
        let bytes = msg.to_bytes();
        let (decoded, _) = decode_message(&bytes, &Limits::default()).unwrap().unwrap();
        let mut out = self.session.handle(decoded, self.now, &mut self.dir);
        let mut wire = bytes::BytesMut::new();
        out.encode(&mut wire);
        let mut back = Vec::new();
        let mut rest = &wire[..];
        while let Some((m, used)) = decode_message(rest, &Limits::default()).unwrap() {
            back.push(m);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(back, out.responses);
        out.responses = back;
        (id, out)
    }

    fn send(&mut self, op: ProtocolOp) -> Output {
        self.send_with(op, vec![]).1
    }

    fn bind(&mut self, name: &str, password: &str) -> Output {
        self.send(ProtocolOp::BindRequest(BindRequest {
            version: 3,
            name: name.to_owned(),
            authentication: Authentication::Simple(password.into()),
        }))
    }

    /// Binds as the read-only service account and checks it worked.
    fn login(&mut self) {
        let out = self.bind(READER, "reader-pw");
        assert_eq!(single_result(&out).code, ResultCode::Success);
    }

    fn search_with(
        &mut self,
        base: &str,
        scope: SearchScope,
        filter: &str,
        attrs: &[&str],
        controls: Vec<Control>,
    ) -> (Vec<SearchResultEntry>, LdapMessage) {
        let (_, out) = self.send_with(
            ProtocolOp::SearchRequest(search_request(base, scope, filter, attrs)),
            controls,
        );
        split_search(out)
    }

    fn search(
        &mut self,
        base: &str,
        scope: SearchScope,
        filter: &str,
    ) -> (Vec<SearchResultEntry>, LdapResult) {
        let (entries, done) = self.search_with(base, scope, filter, &[], vec![]);
        (entries, done_result(&done))
    }
}

fn search_request(base: &str, scope: SearchScope, filter: &str, attrs: &[&str]) -> SearchRequest {
    SearchRequest {
        base: base.to_owned(),
        scope,
        deref_aliases: DerefAliases::Never,
        size_limit: 0,
        time_limit: 0,
        types_only: false,
        filter: Filter::parse(filter).unwrap(),
        attributes: attrs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn split_search(out: Output) -> (Vec<SearchResultEntry>, LdapMessage) {
    let mut responses = out.responses;
    let done = responses.pop().expect("a SearchResultDone");
    assert!(
        matches!(done.op, ProtocolOp::SearchResultDone(_)),
        "{done:?}"
    );
    let entries = responses
        .into_iter()
        .map(|m| match m.op {
            ProtocolOp::SearchResultEntry(e) => e,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    (entries, done)
}

fn done_result(done: &LdapMessage) -> LdapResult {
    match &done.op {
        ProtocolOp::SearchResultDone(r) => r.clone(),
        other => panic!("{other:?}"),
    }
}

fn single_result(out: &Output) -> &LdapResult {
    let [msg] = out.responses.as_slice() else {
        panic!("expected one response: {out:?}")
    };
    match &msg.op {
        ProtocolOp::BindResponse(b) => &b.result,
        ProtocolOp::ExtendedResponse(e) => &e.result,
        ProtocolOp::SearchResultDone(r)
        | ProtocolOp::ModifyResponse(r)
        | ProtocolOp::AddResponse(r)
        | ProtocolOp::DelResponse(r)
        | ProtocolOp::ModifyDnResponse(r)
        | ProtocolOp::CompareResponse(r) => r,
        other => panic!("{other:?}"),
    }
}

fn paged(size: u32, cookie: &[u8]) -> Vec<Control> {
    vec![
        PagedResults {
            size,
            cookie: cookie.to_vec(),
        }
        .to_control(true),
    ]
}

fn response_cookie(done: &LdapMessage) -> Vec<u8> {
    let c = done
        .controls
        .iter()
        .find(|c| c.oid == oid::PAGED_RESULTS)
        .expect("paged results response control");
    PagedResults::from_control(c).unwrap().cookie
}

fn attr<'a>(e: &'a SearchResultEntry, name: &str) -> Option<&'a Attribute> {
    e.attributes.iter().find(|a| a.is(name))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn simple_bind_success_and_failure() {
    let mut h = Harness::tls();
    let dn = format!("uid=user1,ou=people,{SUFFIX}");
    let out = h.bind(&dn, "pw1");
    assert_eq!(single_result(&out).code, ResultCode::Success);
    assert_eq!(
        out.events,
        vec![Event::BindSucceeded {
            name: dn.clone(),
            dn: dn.clone()
        }]
    );
    assert!(matches!(h.session.bound(), BoundIdentity::User { dn: d, .. } if *d == dn));

    let out = h.bind(&dn, "wrong");
    assert_eq!(single_result(&out).code, ResultCode::InvalidCredentials);
    assert!(matches!(
        &out.events[..],
        [Event::BindFailed { code: ResultCode::InvalidCredentials, reason, .. }] if reason == "wrong password"
    ));
    // A failed bind leaves the connection anonymous.
    assert_eq!(h.session.bound(), &BoundIdentity::Anonymous);

    let out = h.bind("uid=nobody,ou=people,dc=example,dc=com", "x");
    assert_eq!(single_result(&out).code, ResultCode::InvalidCredentials);
    assert!(
        matches!(&out.events[..], [Event::BindFailed { reason, .. }] if reason == "no such user")
    );
}

#[test]
fn bind_names_resolve_three_ways() {
    let mut h = Harness::tls();
    for name in [
        "uid=user2,ou=people,dc=example,dc=com",
        "UID=User2, OU=People, DC=Example, DC=Com",
        "uid=user2,dc=example,dc=com",
        "user2",
    ] {
        let out = h.bind(name, "pw2");
        assert_eq!(single_result(&out).code, ResultCode::Success, "{name}");
        let out = h.send(ProtocolOp::ExtendedRequest(ExtendedRequest {
            name: oid::WHO_AM_I.into(),
            value: None,
        }));
        let ProtocolOp::ExtendedResponse(r) = &out.responses[0].op else {
            panic!()
        };
        assert_eq!(
            r.value.as_deref(),
            Some(&b"dn:uid=user2,ou=people,dc=example,dc=com"[..])
        );
    }
}

#[test]
fn who_am_i_when_anonymous_is_empty() {
    let mut h = Harness::tls();
    let out = h.send(ProtocolOp::ExtendedRequest(ExtendedRequest {
        name: oid::WHO_AM_I.into(),
        value: None,
    }));
    let ProtocolOp::ExtendedResponse(r) = &out.responses[0].op else {
        panic!()
    };
    assert_eq!(r.result.code, ResultCode::Success);
    assert_eq!(r.value.as_deref(), Some(&b""[..]));
}

#[test]
fn bind_policy() {
    // Plain LDAP with TLS required: password binds are refused, anonymous binds are fine.
    let mut h = Harness::new(SessionConfig::default());
    let out = h.bind(READER, "reader-pw");
    assert_eq!(
        single_result(&out).code,
        ResultCode::ConfidentialityRequired
    );
    let out = h.bind("", "");
    assert_eq!(single_result(&out).code, ResultCode::Success);
    assert_eq!(out.events, vec![Event::AnonymousBind]);

    let mut h = Harness::tls();
    let out = h.bind(READER, "");
    assert_eq!(single_result(&out).code, ResultCode::UnwillingToPerform);
    let out = h.bind("", "secret");
    assert_eq!(single_result(&out).code, ResultCode::InvalidCredentials);
    let out = h.send(ProtocolOp::BindRequest(BindRequest {
        version: 2,
        name: READER.into(),
        authentication: Authentication::Simple("reader-pw".into()),
    }));
    assert_eq!(single_result(&out).code, ResultCode::ProtocolError);
    let out = h.send(ProtocolOp::BindRequest(BindRequest {
        version: 3,
        name: String::new(),
        authentication: Authentication::Sasl {
            mechanism: "EXTERNAL".into(),
            credentials: None,
        },
    }));
    assert_eq!(single_result(&out).code, ResultCode::AuthMethodNotSupported);

    // TLS not required (a trusted socket): password binds work in clear.
    let mut h = Harness::new(SessionConfig {
        require_tls_for_bind: false,
        ..SessionConfig::default()
    });
    assert_eq!(
        single_result(&h.bind(READER, "reader-pw")).code,
        ResultCode::Success
    );
}

#[test]
fn anonymous_sees_only_the_root_dse() {
    let mut h = Harness::new(SessionConfig {
        start_tls_available: true,
        ..SessionConfig::default()
    });
    let (entries, done) = h.search_with(
        "",
        SearchScope::BaseObject,
        "(objectClass=*)",
        &["*", "+"],
        vec![],
    );
    assert_eq!(done_result(&done).code, ResultCode::Success);
    let [dse] = entries.as_slice() else { panic!() };
    assert_eq!(dse.dn, "");
    let values = |n: &str| -> Vec<String> {
        attr(dse, n)
            .unwrap()
            .values
            .iter()
            .map(|v| String::from_utf8(v.clone()).unwrap())
            .collect()
    };
    assert_eq!(values("namingContexts"), vec![SUFFIX]);
    assert_eq!(values("supportedLDAPVersion"), vec!["3"]);
    assert!(values("supportedControl").contains(&oid::PAGED_RESULTS.to_owned()));
    assert!(values("supportedExtension").contains(&oid::WHO_AM_I.to_owned()));
    assert!(values("supportedExtension").contains(&oid::START_TLS.to_owned()));
    assert_eq!(values("vendorName"), vec!["idm"]);
    assert_eq!(values("subschemaSubentry"), vec!["cn=subschema"]);

    // Only the requested attributes when named.
    let (entries, _) = h.search_with(
        "",
        SearchScope::BaseObject,
        "(objectClass=*)",
        &["namingContexts"],
        vec![],
    );
    assert_eq!(entries[0].attributes.len(), 1);

    // The subschema entry is readable too.
    let (entries, done) = h.search_with(
        "cn=Subschema",
        SearchScope::BaseObject,
        "(objectClass=subschema)",
        &["attributeTypes"],
        vec![],
    );
    assert_eq!(done_result(&done).code, ResultCode::Success);
    assert!(attr(&entries[0], "attributeTypes").is_some());

    // The tree is invisible to anonymous clients (the directory decides).
    let (entries, result) = h.search(SUFFIX, SearchScope::WholeSubtree, "(objectClass=*)");
    assert!(entries.is_empty());
    assert_eq!(result.code, ResultCode::NoSuchObject);

    // After binding it is visible.
    let mut h = Harness::tls();
    h.login();
    let (entries, result) = h.search(SUFFIX, SearchScope::WholeSubtree, "(objectClass=*)");
    assert_eq!(result.code, ResultCode::Success);
    assert_eq!(entries.len(), 1 + 2 + 1 + 10 + 3);
}

#[test]
fn nss_client_searches() {
    let mut h = Harness::tls();
    h.login();
    let mut uids = |filter: &str| -> Vec<String> {
        let (entries, result) = h.search(SUFFIX, SearchScope::WholeSubtree, filter);
        assert_eq!(result.code, ResultCode::Success, "{filter}");
        entries.into_iter().map(|e| e.dn).collect()
    };
    assert_eq!(
        uids("(&(objectClass=posixAccount)(uid=user3))"),
        vec!["uid=user3,ou=people,dc=example,dc=com"]
    );
    assert_eq!(
        uids("(&(objectClass=posixGroup)(gidNumber=2001))"),
        vec!["cn=group1,ou=groups,dc=example,dc=com"]
    );
    assert_eq!(
        uids("(&(objectClass=posixGroup)(memberUid=user4))"),
        vec!["cn=group1,ou=groups,dc=example,dc=com"]
    );
    assert_eq!(
        uids(
            "(&(objectClass=posixGroup)(|(memberUid=user5)(member=UID=user5,OU=people,DC=example,DC=com)))"
        ),
        vec!["cn=group2,ou=groups,dc=example,dc=com"]
    );
    assert_eq!(
        uids("(&(uid=user6)(objectClass=posixAccount)(uidNumber=*)(!(uidNumber=0)))").len(),
        1
    );
    assert_eq!(uids("(&(objectClass=shadowAccount)(uid=user6))").len(), 0);
    assert_eq!(
        uids("(memberOf=cn=group0,ou=groups,dc=example,dc=com)").len(),
        4
    );
    assert_eq!(uids("(uidNumber>=1005)").len(), 5);
}

#[test]
fn scopes_and_missing_bases() {
    let mut h = Harness::tls();
    h.login();
    let people = format!("ou=people,{SUFFIX}");
    let (e, r) = h.search(&people, SearchScope::BaseObject, "(objectClass=*)");
    assert_eq!((e.len(), r.code), (1, ResultCode::Success));
    let (e, _) = h.search(&people, SearchScope::SingleLevel, "(objectClass=*)");
    assert_eq!(e.len(), 10);
    let (e, _) = h.search(SUFFIX, SearchScope::SingleLevel, "(objectClass=*)");
    assert_eq!(e.len(), 3);
    let (e, _) = h.search(&people, SearchScope::WholeSubtree, "(objectClass=*)");
    assert_eq!(e.len(), 11);
    let (e, _) = h.search(&people, SearchScope::SubordinateSubtree, "(objectClass=*)");
    assert_eq!(e.len(), 10);
    let (_, r) = h.search(
        "ou=nope,dc=example,dc=com",
        SearchScope::WholeSubtree,
        "(objectClass=*)",
    );
    assert_eq!(r.code, ResultCode::NoSuchObject);
    let (_, r) = h.search("not a dn", SearchScope::WholeSubtree, "(objectClass=*)");
    assert_eq!(r.code, ResultCode::InvalidDnSyntax);
}

#[test]
fn attribute_selection() {
    let mut h = Harness::tls();
    h.login();
    let base = format!("uid=user1,ou=people,{SUFFIX}");
    let one = |h: &mut Harness, attrs: &[&str]| {
        let (e, _) = h.search_with(
            &base,
            SearchScope::BaseObject,
            "(objectClass=*)",
            attrs,
            vec![],
        );
        e.into_iter().next().unwrap()
    };
    let all = one(&mut h, &[]);
    assert!(attr(&all, "uid").is_some());
    assert!(
        attr(&all, "entryUUID").is_none(),
        "operational attributes need '+'"
    );
    assert!(
        attr(&all, "userPassword").is_none(),
        "the directory hides it"
    );
    let plus = one(&mut h, &["+"]);
    assert!(attr(&plus, "entryUUID").is_some());
    assert!(attr(&plus, "uid").is_none());
    let named = one(&mut h, &["UID", "entryuuid"]);
    assert_eq!(named.attributes.len(), 2);
    assert!(one(&mut h, &["1.1"]).attributes.is_empty());

    let mut req = search_request(
        &base,
        SearchScope::BaseObject,
        "(objectClass=*)",
        &["uid", "cn"],
    );
    req.types_only = true;
    let (e, _) = split_search(h.send(ProtocolOp::SearchRequest(req)));
    assert_eq!(e[0].attributes.len(), 2);
    assert!(e[0].attributes.iter().all(|a| a.values.is_empty()));
}

#[test]
fn paged_search_across_three_pages() {
    let mut h = Harness::tls();
    h.login();
    let people = format!("ou=people,{SUFFIX}");
    let filter = "(objectClass=posixAccount)";
    let mut seen = Vec::new();
    let mut cookie = Vec::new();
    let mut pages = Vec::new();
    loop {
        let (entries, done) = h.search_with(
            &people,
            SearchScope::WholeSubtree,
            filter,
            &["uid"],
            paged(4, &cookie),
        );
        assert_eq!(done_result(&done).code, ResultCode::Success);
        pages.push(entries.len());
        seen.extend(entries.into_iter().map(|e| e.dn));
        cookie = response_cookie(&done);
        if cookie.is_empty() {
            break;
        }
        assert_eq!(h.session.open_paged_searches(), 1);
        h.advance(1_000);
    }
    assert_eq!(pages, vec![4, 4, 2]);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    assert_eq!(h.session.open_paged_searches(), 0);
}

#[test]
fn paged_cookie_errors_and_abandon() {
    let mut h = Harness::tls();
    h.login();
    let people = format!("ou=people,{SUFFIX}");
    let filter = "(objectClass=posixAccount)";

    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(3, b"bogus"),
    );
    assert_eq!(done_result(&done).code, ResultCode::UnwillingToPerform);

    // A cookie only continues the search it came from.
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(3, &[]),
    );
    let cookie = response_cookie(&done);
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        "(uid=*)",
        &[],
        paged(3, &cookie),
    );
    assert_eq!(done_result(&done).code, ResultCode::UnwillingToPerform);

    // Page size 0 with a cookie abandons the paged search.
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(3, &[]),
    );
    let cookie = response_cookie(&done);
    let (e, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(0, &cookie),
    );
    assert!(e.is_empty());
    assert!(response_cookie(&done).is_empty());
    assert_eq!(h.session.open_paged_searches(), 0);

    // AbandonRequest on the search's message id drops it, with no response.
    let (id, out) = h.send_with(
        ProtocolOp::SearchRequest(search_request(
            &people,
            SearchScope::WholeSubtree,
            filter,
            &[],
        )),
        paged(3, &[]),
    );
    let (_, done) = split_search(out);
    let cookie = response_cookie(&done);
    let out = h.send(ProtocolOp::AbandonRequest(id));
    assert!(out.responses.is_empty() && out.action.is_none());
    assert_eq!(h.session.open_paged_searches(), 0);
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(3, &cookie),
    );
    assert_eq!(done_result(&done).code, ResultCode::UnwillingToPerform);

    // Abandoning something unknown is silently fine.
    assert!(
        h.send(ProtocolOp::AbandonRequest(12345))
            .responses
            .is_empty()
    );
}

#[test]
fn paged_searches_expire_and_are_bounded() {
    let mut h = Harness::tls();
    h.login();
    let people = format!("ou=people,{SUFFIX}");
    let filter = "(objectClass=posixAccount)";
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(2, &[]),
    );
    let cookie = response_cookie(&done);
    let expiry = h.session.poll_timeout().unwrap();
    assert_eq!(
        expiry,
        h.now
            .plus_millis(SessionConfig::default().paged_idle_timeout_ms)
    );
    h.advance(SessionConfig::default().paged_idle_timeout_ms);
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(2, &cookie),
    );
    assert_eq!(done_result(&done).code, ResultCode::UnwillingToPerform);
    assert_eq!(h.session.poll_timeout(), None);

    // The fifth parked search evicts the least recently used one.
    let mut cookies = Vec::new();
    for _ in 0..5 {
        let (_, done) = h.search_with(
            &people,
            SearchScope::WholeSubtree,
            filter,
            &[],
            paged(2, &[]),
        );
        cookies.push(response_cookie(&done));
        h.advance(10);
    }
    assert_eq!(h.session.open_paged_searches(), 4);
    let (_, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(2, &cookies[0]),
    );
    assert_eq!(done_result(&done).code, ResultCode::UnwillingToPerform);
    let (e, done) = h.search_with(
        &people,
        SearchScope::WholeSubtree,
        filter,
        &[],
        paged(2, &cookies[4]),
    );
    assert_eq!((e.len(), done_result(&done).code), (2, ResultCode::Success));
}

#[test]
fn size_limit_returns_entries_up_to_the_limit() {
    let mut h = Harness::tls();
    h.login();
    let mut req = search_request(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(objectClass=posixAccount)",
        &["uid"],
    );
    req.size_limit = 3;
    let (entries, done) = split_search(h.send(ProtocolOp::SearchRequest(req.clone())));
    assert_eq!(entries.len(), 3);
    assert_eq!(done_result(&done).code, ResultCode::SizeLimitExceeded);
    // Exactly as many matches as the limit is not an error.
    req.size_limit = 10;
    let (entries, done) = split_search(h.send(ProtocolOp::SearchRequest(req)));
    assert_eq!(
        (entries.len(), done_result(&done).code),
        (10, ResultCode::Success)
    );

    // The administrative limit applies when the client asks for no limit.
    let mut h = Harness::new(SessionConfig {
        tls_active: true,
        max_size_limit: 5,
        ..SessionConfig::default()
    });
    h.login();
    let (entries, result) = h.search(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(objectClass=posixAccount)",
    );
    assert_eq!(
        (entries.len(), result.code),
        (5, ResultCode::SizeLimitExceeded)
    );
}

#[test]
fn time_limit_uses_the_directory_deadline() {
    let mut h = Harness::tls();
    h.login();
    let mut req = search_request(SUFFIX, SearchScope::WholeSubtree, "(objectClass=*)", &[]);
    req.time_limit = 5;
    // The directory's clock says the deadline (now + 5 s) has passed.
    h.dir.set_clock(Some(h.now.plus_millis(5_000)));
    let (_, done) = split_search(h.send(ProtocolOp::SearchRequest(req.clone())));
    assert_eq!(done_result(&done).code, ResultCode::TimeLimitExceeded);
    h.dir.set_clock(Some(h.now.plus_millis(4_999)));
    let (_, done) = split_search(h.send(ProtocolOp::SearchRequest(req)));
    assert_eq!(done_result(&done).code, ResultCode::Success);
}

#[test]
fn start_tls() {
    let c = SessionConfig {
        start_tls_available: true,
        ..SessionConfig::default()
    };
    let mut h = Harness::new(c.clone());
    let start = || {
        ProtocolOp::ExtendedRequest(ExtendedRequest {
            name: oid::START_TLS.into(),
            value: None,
        })
    };
    let out = h.send(start());
    assert_eq!(out.action, Some(Action::StartTls));
    let ProtocolOp::ExtendedResponse(r) = &out.responses[0].op else {
        panic!()
    };
    assert_eq!(r.result.code, ResultCode::Success);
    assert_eq!(r.name.as_deref(), Some(oid::START_TLS));
    h.session.tls_established();
    assert!(h.session.tls_active());
    // Binding now works, and a second StartTLS is refused.
    assert_eq!(
        single_result(&h.bind(READER, "reader-pw")).code,
        ResultCode::Success
    );
    let out = h.send(start());
    assert_eq!(single_result(&out).code, ResultCode::OperationsError);
    assert_eq!(out.action, None);

    // A request sent before the handshake completes ends the session.
    let mut h = Harness::new(c.clone());
    let _ = h.send(start());
    let out = h.bind("", "");
    assert_eq!(out.action, Some(Action::Close));
    assert_eq!(out.responses[0].message_id, 0);

    // Refused while a paged search is parked.
    let mut h = Harness::new(SessionConfig {
        require_tls_for_bind: false,
        ..c
    });
    h.login();
    let (_, done) = h.search_with(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(objectClass=*)",
        &[],
        paged(2, &[]),
    );
    assert!(!response_cookie(&done).is_empty());
    let out = h.send(start());
    assert_eq!(single_result(&out).code, ResultCode::OperationsError);
    assert_eq!(out.action, None);

    // Not offered at all.
    let mut h = Harness::new(SessionConfig::default());
    let out = h.send(start());
    assert_eq!(single_result(&out).code, ResultCode::ProtocolError);
}

#[test]
fn write_operations_are_refused() {
    let mut h = Harness::tls();
    h.login();
    let dn = format!("uid=user1,ou=people,{SUFFIX}");
    let ops = [
        ProtocolOp::AddRequest(AddRequest {
            dn: dn.clone(),
            attributes: vec![Attribute::new("cn", ["x"])],
        }),
        ProtocolOp::ModifyRequest(ModifyRequest {
            dn: dn.clone(),
            changes: vec![Change {
                operation: ModifyOperation::Replace,
                modification: Attribute::new("cn", ["y"]),
            }],
        }),
        ProtocolOp::DelRequest(dn.clone()),
        ProtocolOp::ModifyDnRequest(ModifyDnRequest {
            dn,
            new_rdn: "uid=z".into(),
            delete_old_rdn: true,
            new_superior: None,
        }),
    ];
    for op in ops {
        let name = op.name();
        let out = h.send(op);
        let r = single_result(&out);
        assert_eq!(r.code, ResultCode::UnwillingToPerform, "{name}");
        assert_eq!(r.diagnostic_message, READ_ONLY_MESSAGE);
        assert_eq!(out.action, None);
    }
}

#[test]
fn controls() {
    let mut h = Harness::tls();
    h.login();
    let unknown = |critical| Control {
        oid: "1.3.6.1.4.1.42.2.27.8.5.1".into(),
        criticality: critical,
        value: None,
    };
    let (e, done) = h.search_with(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(uid=user1)",
        &[],
        vec![unknown(false)],
    );
    assert_eq!((e.len(), done_result(&done).code), (1, ResultCode::Success));
    let (e, done) = h.search_with(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(uid=user1)",
        &[],
        vec![unknown(true)],
    );
    assert!(e.is_empty());
    assert_eq!(
        done_result(&done).code,
        ResultCode::UnavailableCriticalExtension
    );
    // On a bind too, with the matching response type.
    let (_, out) = h.send_with(
        ProtocolOp::BindRequest(BindRequest {
            version: 3,
            name: READER.into(),
            authentication: Authentication::Simple("reader-pw".into()),
        }),
        vec![unknown(true)],
    );
    assert!(
        matches!(&out.responses[0].op, ProtocolOp::BindResponse(b) if b.result.code == ResultCode::UnavailableCriticalExtension)
    );
    // ManageDsaIT is understood (and meaningless here), even when critical.
    let manage = Control {
        oid: oid::MANAGE_DSA_IT.into(),
        criticality: true,
        value: None,
    };
    let (_, done) = h.search_with(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(uid=user1)",
        &[],
        vec![manage],
    );
    assert_eq!(done_result(&done).code, ResultCode::Success);
    // A paged-results control with a broken value is a protocol error for that search.
    let broken = Control {
        oid: oid::PAGED_RESULTS.into(),
        criticality: false,
        value: Some(vec![1, 2, 3]),
    };
    let (_, done) = h.search_with(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(uid=user1)",
        &[],
        vec![broken],
    );
    assert_eq!(done_result(&done).code, ResultCode::ProtocolError);
}

#[test]
fn filters_the_engine_cannot_evaluate() {
    let mut h = Harness::tls();
    h.login();
    let (_, r) = h.search(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(cn:1.2.840.113556.1.4.803:=2)",
    );
    assert_eq!(r.code, ResultCode::InappropriateMatching);
    let (e, r) = h.search(
        SUFFIX,
        SearchScope::WholeSubtree,
        "(cn:caseExactMatch:=User 1)",
    );
    assert_eq!((e.len(), r.code), (1, ResultCode::Success));
}

#[test]
fn compare() {
    let mut h = Harness::tls();
    h.login();
    let dn = format!("uid=user1,ou=people,{SUFFIX}");
    let mut cmp = |dn: &str, attr: &str, value: &str| {
        let out = h.send(ProtocolOp::CompareRequest(CompareRequest {
            dn: dn.into(),
            attr: attr.into(),
            value: value.as_bytes().to_vec(),
        }));
        single_result(&out).code
    };
    assert_eq!(cmp(&dn, "uid", "USER1"), ResultCode::CompareTrue);
    assert_eq!(cmp(&dn, "uidNumber", "01001"), ResultCode::CompareTrue);
    assert_eq!(cmp(&dn, "uid", "user2"), ResultCode::CompareFalse);
    assert_eq!(cmp(&dn, "mail", "x"), ResultCode::NoSuchAttribute);
    assert_eq!(
        cmp(&dn, "uidNumber", "abc"),
        ResultCode::InvalidAttributeSyntax
    );
    assert_eq!(
        cmp("uid=ghost,dc=example,dc=com", "uid", "x"),
        ResultCode::NoSuchObject
    );
    assert_eq!(cmp("===", "uid", "x"), ResultCode::InvalidDnSyntax);
    // userPassword is invisible, so it cannot be probed with compare either.
    assert_eq!(
        cmp(&dn, "userPassword", "{ARGON2}hidden"),
        ResultCode::NoSuchAttribute
    );
}

#[test]
fn unknown_operations_get_a_protocol_error_and_the_session_continues() {
    let mut h = Harness::tls();
    let out = h.send(ProtocolOp::Unknown(UnknownOp {
        tag: 21,
        constructed: true,
        contents: vec![],
    }));
    let r = single_result(&out);
    assert_eq!(r.code, ResultCode::ProtocolError);
    assert_eq!(out.action, None);
    assert!(!h.session.is_closed());
    let out = h.send(ProtocolOp::ExtendedRequest(ExtendedRequest {
        name: "1.2.3.4".into(),
        value: None,
    }));
    assert_eq!(single_result(&out).code, ResultCode::ProtocolError);
    // A client sending a response is broken: disconnect.
    let out = h.send(ProtocolOp::SearchResultDone(LdapResult::success()));
    assert_eq!(out.action, Some(Action::Close));
    assert!(h.session.is_closed());
}

#[test]
fn unbind_and_fatal_errors_close() {
    let mut h = Harness::tls();
    let out = h.send(ProtocolOp::UnbindRequest);
    assert!(out.responses.is_empty());
    assert_eq!(out.action, Some(Action::Close));
    let out = h.bind("", "");
    assert!(out.responses.is_empty());
    assert_eq!(out.action, Some(Action::Close));

    let mut session = Session::new(SessionConfig::default());
    let out = session.decode_error(&LdapError::IndefiniteLength);
    assert_eq!(out.action, Some(Action::Close));
    let [notice] = out.responses.as_slice() else {
        panic!()
    };
    assert_eq!(notice.message_id, 0);
    let ProtocolOp::ExtendedResponse(r) = &notice.op else {
        panic!()
    };
    assert_eq!(r.result.code, ResultCode::ProtocolError);
    assert_eq!(r.name.as_deref(), Some(oid::NOTICE_OF_DISCONNECTION));

    let mut h = Harness::tls();
    h.next_id = 0;
    let out = h.bind("", "");
    assert_eq!(out.action, Some(Action::Close));
}

#[test]
fn search_events_describe_the_search() {
    let mut h = Harness::tls();
    h.login();
    let (_, out) = h.send_with(
        ProtocolOp::SearchRequest(search_request(
            SUFFIX,
            SearchScope::WholeSubtree,
            "(uid=user1)",
            &[],
        )),
        vec![],
    );
    assert_eq!(
        out.events,
        vec![Event::Search {
            base: SUFFIX.into(),
            scope: SearchScope::WholeSubtree,
            filter: "(uid=user1)".into(),
            entries: 1,
            code: ResultCode::Success,
        }]
    );
}
