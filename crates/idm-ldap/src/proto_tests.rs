//! Codec tests: bytes captured from OpenLDAP's `ldapsearch`/`ldapwhoami` 2.5, round trips of
//! every message type, and the framer's behaviour on short, long and hostile input.

use bytes::BytesMut;
use proptest::prelude::*;

use crate::control::{Control, PagedResults, oid};
use crate::filter::Filter;
use crate::proto::*;
use crate::{Attribute, LdapError, ResultCode};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode_one(bytes: &[u8]) -> LdapMessage {
    let (msg, used) = decode_message(bytes, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    msg
}

/// `ldapsearch -x -D uid=alice,ou=people,dc=example,dc=com -w secret …`
const LDAPSEARCH_BIND: &str = "3037020101603202010304257569643d616c6963652c6f753d70656f706c652c64633d6578616d706c652c64633d636f6d8006736563726574";
/// `… -b dc=example,dc=com "(&(objectClass=posixAccount)(uid=alice))" uid cn`
const LDAPSEARCH_SEARCH: &str = "305f020102635a041164633d6578616d706c652c64633d636f6d0a01020a0100020100020100010100a02ba31b040b6f626a656374436c617373040c706f7369784163636f756e74a30c04037569640405616c696365300904037569640402636e";
const LDAPSEARCH_UNBIND: &str = "30050201034200";
/// `ldapsearch -x -E pr=2/noprompt -s one "(|(cn=a*)(!(uidNumber>=1000)))"`
const LDAPSEARCH_PAGED: &str = "30700201026346041164633d6578616d706c652c64633d636f6d0a01010a0100020100020100010100a120a4090402636e3003800161a213a51104097569644e756d6265720404313030303000a02330210416312e322e3834302e3131333535362e312e342e333139040730050201020400";
/// `ldapwhoami -x` (after an anonymous bind).
const LDAPWHOAMI: &str = "301e02010277198017312e332e362e312e342e312e343230332e312e31312e33";
const ANONYMOUS_BIND: &str = "300c020101600702010304008000";

#[test]
fn decodes_ldapsearch_bind() {
    let msg = decode_one(&hex(LDAPSEARCH_BIND));
    assert_eq!(msg.message_id, 1);
    let ProtocolOp::BindRequest(b) = &msg.op else {
        panic!("{msg:?}")
    };
    assert_eq!(b.version, 3);
    assert_eq!(b.name, "uid=alice,ou=people,dc=example,dc=com");
    assert_eq!(b.authentication, Authentication::Simple("secret".into()));
    // The password never shows in Debug output.
    assert!(!format!("{msg:?}").contains("secret"));
    assert_eq!(&msg.to_bytes()[..], &hex(LDAPSEARCH_BIND)[..]);

    let anon = decode_one(&hex(ANONYMOUS_BIND));
    let ProtocolOp::BindRequest(b) = &anon.op else {
        panic!()
    };
    assert!(b.name.is_empty());
    assert_eq!(b.authentication, Authentication::Simple(Secret::default()));
}

#[test]
fn decodes_ldapsearch_search() {
    let msg = decode_one(&hex(LDAPSEARCH_SEARCH));
    assert_eq!(msg.message_id, 2);
    assert!(msg.controls.is_empty());
    let ProtocolOp::SearchRequest(s) = &msg.op else {
        panic!()
    };
    assert_eq!(s.base, "dc=example,dc=com");
    assert_eq!(s.scope, SearchScope::WholeSubtree);
    assert_eq!(s.deref_aliases, DerefAliases::Never);
    assert_eq!((s.size_limit, s.time_limit, s.types_only), (0, 0, false));
    assert_eq!(
        s.filter,
        Filter::parse("(&(objectClass=posixAccount)(uid=alice))").unwrap()
    );
    assert_eq!(s.attributes, vec!["uid".to_owned(), "cn".to_owned()]);
    assert_eq!(&msg.to_bytes()[..], &hex(LDAPSEARCH_SEARCH)[..]);

    let unbind = decode_one(&hex(LDAPSEARCH_UNBIND));
    assert_eq!(unbind, LdapMessage::new(3, ProtocolOp::UnbindRequest));
}

#[test]
fn decodes_ldapsearch_paged_search() {
    let msg = decode_one(&hex(LDAPSEARCH_PAGED));
    let ProtocolOp::SearchRequest(s) = &msg.op else {
        panic!()
    };
    assert_eq!(s.scope, SearchScope::SingleLevel);
    assert_eq!(s.filter.to_string(), "(|(cn=a*)(!(uidNumber>=1000)))");
    assert!(s.attributes.is_empty());
    let [control] = msg.controls.as_slice() else {
        panic!()
    };
    assert_eq!(control.oid, oid::PAGED_RESULTS);
    assert!(!control.criticality);
    assert_eq!(
        PagedResults::from_control(control).unwrap(),
        PagedResults {
            size: 2,
            cookie: vec![]
        }
    );
    assert_eq!(&msg.to_bytes()[..], &hex(LDAPSEARCH_PAGED)[..]);
}

#[test]
fn decodes_ldapwhoami() {
    let msg = decode_one(&hex(LDAPWHOAMI));
    assert_eq!(
        msg.op,
        ProtocolOp::ExtendedRequest(ExtendedRequest {
            name: oid::WHO_AM_I.into(),
            value: None
        })
    );
    assert_eq!(&msg.to_bytes()[..], &hex(LDAPWHOAMI)[..]);
}

#[test]
fn encodes_rfc_shaped_responses() {
    // SearchResultDone success for message 2, as slapd sends it.
    let done = LdapMessage::new(2, ProtocolOp::SearchResultDone(LdapResult::success()));
    assert_eq!(
        &done.to_bytes()[..],
        &hex("300c02010265070a010004000400")[..]
    );
    let bind = LdapMessage::new(
        1,
        ProtocolOp::BindResponse(BindResponse {
            result: LdapResult::new(ResultCode::InvalidCredentials, ""),
            server_sasl_creds: None,
        }),
    );
    assert_eq!(
        &bind.to_bytes()[..],
        &hex("300c02010161070a013104000400")[..]
    );
    let notice = LdapMessage::notice_of_disconnection(ResultCode::ProtocolError, "");
    let back = decode_one(&notice.to_bytes());
    assert_eq!(back, notice);
    assert_eq!(back.message_id, 0);
}

#[test]
fn several_messages_in_one_buffer() {
    let mut buf = hex(LDAPSEARCH_BIND);
    buf.extend(hex(LDAPSEARCH_SEARCH));
    buf.extend(hex(LDAPSEARCH_UNBIND));
    let mut ids = Vec::new();
    let mut rest = &buf[..];
    while let Some((msg, used)) = decode_message(rest, &Limits::default()).unwrap() {
        ids.push(msg.message_id);
        rest = &rest[used..];
    }
    assert_eq!(ids, [1, 2, 3]);
    assert!(rest.is_empty());
}

#[test]
fn truncations_need_more_bytes() {
    for msg in [
        LDAPSEARCH_BIND,
        LDAPSEARCH_SEARCH,
        LDAPSEARCH_PAGED,
        LDAPWHOAMI,
    ] {
        let bytes = hex(msg);
        for cut in 0..bytes.len() {
            assert_eq!(
                decode_message(&bytes[..cut], &Limits::default()).unwrap(),
                None,
                "{msg} cut at {cut}"
            );
        }
    }
}

#[test]
fn oversized_length_fails_from_the_header_alone() {
    // 0x30 0x84 0x7fffffff: 2 GiB announced, six bytes received.
    let err =
        decode_message(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff], &Limits::default()).unwrap_err();
    assert!(matches!(
        err,
        LdapError::MessageTooLarge {
            length: 0x7fff_ffff,
            ..
        }
    ));
    assert_eq!(err.result_code(), ResultCode::ProtocolError);
    // Just over the configured limit.
    let limits = Limits {
        max_message_size: 100,
        ..Limits::default()
    };
    assert!(matches!(
        decode_message(&[0x30, 0x65], &limits),
        Err(LdapError::MessageTooLarge { length: 101, .. })
    ));
    assert_eq!(decode_message(&[0x30, 0x64], &limits).unwrap(), None);
}

#[test]
fn rejects_bad_envelopes() {
    let cases: &[(&str, &str)] = &[
        ("indefinite length", "30 80 02 01 01 42 00 00 00"),
        ("not a sequence", "31 05 02 01 01 42 00"),
        ("negative message id", "30 05 02 01 ff 42 00"),
        ("trailing data in message", "30 07 02 01 01 42 00 05 00"),
        ("context tag as op", "30 05 02 01 01 80 00"),
        ("unbind with contents", "30 06 02 01 01 42 01 00"),
        ("constructed unbind", "30 05 02 01 01 62 00"),
        ("truncated inner element", "30 06 02 01 01 04 02 42"),
        (
            "bind version 0",
            "30 0c 02 01 01 60 07 02 01 00 04 00 80 00",
        ),
        ("modify DN without names", "30 08 02 01 01 6c 03 01 01 00"),
    ];
    for (what, h) in cases {
        let bytes = hex(&h.replace(' ', ""));
        assert!(
            decode_message(&bytes, &Limits::default()).is_err(),
            "{what}"
        );
    }
}

#[test]
fn unknown_application_tags_keep_the_envelope() {
    // [APPLICATION 21] constructed, message id 7, with contents and a critical control.
    let mut buf = BytesMut::new();
    let msg = LdapMessage {
        message_id: 7,
        op: ProtocolOp::Unknown(UnknownOp {
            tag: 21,
            constructed: true,
            contents: vec![0x04, 0x01, 0x61],
        }),
        controls: vec![Control {
            oid: "1.2".into(),
            criticality: true,
            value: Some(b"hi".to_vec()),
        }],
    };
    encode_message(&msg, &mut buf);
    assert_eq!(decode_one(&buf), msg);
    // High tag numbers are unknown operations too.
    let msg = LdapMessage::new(
        9,
        ProtocolOp::Unknown(UnknownOp {
            tag: 1000,
            constructed: false,
            contents: vec![1, 2, 3],
        }),
    );
    assert_eq!(decode_one(&msg.to_bytes()), msg);
}

#[test]
fn limits_bound_counts() {
    let limits = Limits {
        max_attributes: 2,
        max_controls: 1,
        ..Limits::default()
    };
    let search = |attrs: Vec<String>| {
        LdapMessage::new(
            1,
            ProtocolOp::SearchRequest(SearchRequest {
                base: String::new(),
                scope: SearchScope::BaseObject,
                deref_aliases: DerefAliases::Never,
                size_limit: 0,
                time_limit: 0,
                types_only: false,
                filter: Filter::match_all(),
                attributes: attrs,
            }),
        )
    };
    let ok = search(vec!["a".into(), "b".into()]).to_bytes();
    assert!(decode_message(&ok, &limits).unwrap().is_some());
    let too_many = search(vec!["a".into(), "b".into(), "c".into()]).to_bytes();
    assert!(matches!(
        decode_message(&too_many, &limits),
        Err(LdapError::LimitExceeded {
            what: "requested attributes",
            ..
        })
    ));
    let mut two_controls = search(vec![]);
    let c = PagedResults {
        size: 1,
        cookie: vec![],
    }
    .to_control(false);
    two_controls.controls = vec![c.clone(), c];
    assert!(matches!(
        decode_message(&two_controls.to_bytes(), &limits),
        Err(LdapError::LimitExceeded {
            what: "controls",
            ..
        })
    ));
}

#[test]
fn try_from_requires_exactly_one_message() {
    let bytes = hex(LDAPSEARCH_UNBIND);
    assert!(LdapMessage::try_from(&bytes[..]).is_ok());
    assert!(LdapMessage::try_from(&bytes[..4]).is_err());
    let mut two = bytes.clone();
    two.extend(&bytes);
    assert!(matches!(
        LdapMessage::try_from(&two[..]),
        Err(LdapError::TrailingData(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Property tests

fn arb_string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..16)
}

fn arb_attribute() -> impl Strategy<Value = Attribute> {
    (arb_string(), prop::collection::vec(arb_bytes(), 0..4)).prop_map(|(description, values)| {
        Attribute {
            description,
            values,
        }
    })
}

fn arb_result() -> impl Strategy<Value = LdapResult> {
    (
        any::<u32>(),
        arb_string(),
        arb_string(),
        prop::collection::vec(arb_string(), 0..3),
    )
        .prop_map(
            |(code, matched_dn, diagnostic_message, referral)| LdapResult {
                code: ResultCode::from(code % 200),
                matched_dn,
                diagnostic_message,
                referral,
            },
        )
}

fn arb_scope() -> impl Strategy<Value = SearchScope> {
    prop_oneof![
        Just(SearchScope::BaseObject),
        Just(SearchScope::SingleLevel),
        Just(SearchScope::WholeSubtree),
        Just(SearchScope::SubordinateSubtree),
    ]
}

fn arb_deref() -> impl Strategy<Value = DerefAliases> {
    prop_oneof![
        Just(DerefAliases::Never),
        Just(DerefAliases::InSearching),
        Just(DerefAliases::FindingBaseObj),
        Just(DerefAliases::Always),
    ]
}

/// Any filter the BER form can carry (not only the string-expressible ones).
fn arb_ber_filter() -> impl Strategy<Value = Filter> {
    use crate::filter::{ExtensibleMatch, Substrings};
    let leaf = prop_oneof![
        (arb_string(), arb_bytes()).prop_map(|(attr, value)| Filter::Equality { attr, value }),
        (arb_string(), arb_bytes())
            .prop_map(|(attr, value)| Filter::GreaterOrEqual { attr, value }),
        (arb_string(), arb_bytes()).prop_map(|(attr, value)| Filter::LessOrEqual { attr, value }),
        (arb_string(), arb_bytes()).prop_map(|(attr, value)| Filter::Approx { attr, value }),
        arb_string().prop_map(Filter::Present),
        (
            arb_string(),
            prop::option::of(arb_bytes()),
            prop::collection::vec(arb_bytes(), 0..3),
            prop::option::of(arb_bytes())
        )
            .prop_filter("at least one piece", |(_, i, a, f)| {
                i.is_some() || !a.is_empty() || f.is_some()
            })
            .prop_map(
                |(attr, initial, any, final_)| Filter::Substrings(Substrings {
                    attr,
                    initial,
                    any,
                    final_
                })
            ),
        (
            prop::option::of(arb_string()),
            prop::option::of(arb_string()),
            arb_bytes(),
            any::<bool>()
        )
            .prop_map(|(rule, attr, value, dn_attributes)| Filter::Extensible(
                ExtensibleMatch {
                    rule,
                    attr,
                    value,
                    dn_attributes
                }
            )),
    ];
    leaf.prop_recursive(5, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

fn arb_op() -> impl Strategy<Value = ProtocolOp> {
    let opt_bytes = || prop::option::of(arb_bytes());
    prop_oneof![
        (1u8..=127, arb_string(), arb_bytes()).prop_map(|(version, name, pw)| {
            ProtocolOp::BindRequest(BindRequest {
                version,
                name,
                authentication: Authentication::Simple(pw.into()),
            })
        }),
        (arb_string(), arb_string(), opt_bytes()).prop_map(|(name, mechanism, creds)| {
            ProtocolOp::BindRequest(BindRequest {
                version: 3,
                name,
                authentication: Authentication::Sasl {
                    mechanism,
                    credentials: creds.map(Into::into),
                },
            })
        }),
        (arb_result(), opt_bytes()).prop_map(|(result, server_sasl_creds)| {
            ProtocolOp::BindResponse(BindResponse {
                result,
                server_sasl_creds,
            })
        }),
        Just(ProtocolOp::UnbindRequest),
        (
            arb_string(),
            arb_scope(),
            arb_deref(),
            0..=i32::MAX as u32,
            0..=i32::MAX as u32,
            any::<bool>(),
            arb_ber_filter(),
            prop::collection::vec(arb_string(), 0..4)
        )
            .prop_map(
                |(
                    base,
                    scope,
                    deref_aliases,
                    size_limit,
                    time_limit,
                    types_only,
                    filter,
                    attributes,
                )| {
                    ProtocolOp::SearchRequest(SearchRequest {
                        base,
                        scope,
                        deref_aliases,
                        size_limit,
                        time_limit,
                        types_only,
                        filter,
                        attributes,
                    })
                }
            ),
        (arb_string(), prop::collection::vec(arb_attribute(), 0..4)).prop_map(
            |(dn, attributes)| ProtocolOp::SearchResultEntry(SearchResultEntry { dn, attributes })
        ),
        arb_result().prop_map(ProtocolOp::SearchResultDone),
        prop::collection::vec(arb_string(), 1..3).prop_map(ProtocolOp::SearchResultReference),
        (
            arb_string(),
            prop::collection::vec(
                (0..4u8, arb_attribute()).prop_map(|(op, modification)| Change {
                    operation: match op {
                        0 => ModifyOperation::Add,
                        1 => ModifyOperation::Delete,
                        2 => ModifyOperation::Replace,
                        _ => ModifyOperation::Increment,
                    },
                    modification,
                }),
                0..3
            )
        )
            .prop_map(|(dn, changes)| ProtocolOp::ModifyRequest(ModifyRequest { dn, changes })),
        arb_result().prop_map(ProtocolOp::ModifyResponse),
        (arb_string(), prop::collection::vec(arb_attribute(), 0..3))
            .prop_map(|(dn, attributes)| ProtocolOp::AddRequest(AddRequest { dn, attributes })),
        arb_result().prop_map(ProtocolOp::AddResponse),
        arb_string().prop_map(ProtocolOp::DelRequest),
        arb_result().prop_map(ProtocolOp::DelResponse),
        (
            arb_string(),
            arb_string(),
            any::<bool>(),
            prop::option::of(arb_string())
        )
            .prop_map(|(dn, new_rdn, delete_old_rdn, new_superior)| {
                ProtocolOp::ModifyDnRequest(ModifyDnRequest {
                    dn,
                    new_rdn,
                    delete_old_rdn,
                    new_superior,
                })
            }),
        arb_result().prop_map(ProtocolOp::ModifyDnResponse),
        (arb_string(), arb_string(), arb_bytes()).prop_map(|(dn, attr, value)| {
            ProtocolOp::CompareRequest(CompareRequest { dn, attr, value })
        }),
        arb_result().prop_map(ProtocolOp::CompareResponse),
        (0..=i32::MAX).prop_map(ProtocolOp::AbandonRequest),
        (arb_string(), opt_bytes())
            .prop_map(|(name, value)| ProtocolOp::ExtendedRequest(ExtendedRequest { name, value })),
        (arb_result(), prop::option::of(arb_string()), opt_bytes()).prop_map(
            |(result, name, value)| ProtocolOp::ExtendedResponse(ExtendedResponse {
                result,
                name,
                value
            })
        ),
        (prop::option::of(arb_string()), opt_bytes()).prop_map(|(name, value)| {
            ProtocolOp::IntermediateResponse(IntermediateResponse { name, value })
        }),
        (
            prop_oneof![17u32..=18, 20u32..=22, 26u32..5000],
            any::<bool>(),
            arb_bytes()
        )
            .prop_map(
                |(tag, constructed, contents)| ProtocolOp::Unknown(UnknownOp {
                    tag,
                    constructed,
                    contents
                })
            ),
    ]
}

fn arb_message() -> impl Strategy<Value = LdapMessage> {
    (
        0..=i32::MAX,
        arb_op(),
        prop::collection::vec(
            (arb_string(), any::<bool>(), prop::option::of(arb_bytes())).prop_map(
                |(oid, criticality, value)| Control {
                    oid,
                    criticality,
                    value,
                },
            ),
            0..3,
        ),
    )
        .prop_map(|(message_id, op, controls)| LdapMessage {
            message_id,
            op,
            controls,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(msg in arb_message()) {
        let bytes = msg.to_bytes();
        let (back, used) = decode_message(&bytes, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&back, &msg);
        // Encoding is deterministic: re-encoding gives the same bytes.
        prop_assert_eq!(&back.to_bytes()[..], &bytes[..]);
    }

    #[test]
    fn every_truncation_needs_more_bytes(msg in arb_message(), cut in any::<prop::sample::Index>()) {
        let bytes = msg.to_bytes();
        let cut = cut.index(bytes.len());
        prop_assert_eq!(decode_message(&bytes[..cut], &Limits::default()).unwrap(), None);
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(Some((msg, used))) = decode_message(&bytes, &Limits::default()) {
            prop_assert!(used <= bytes.len());
            let again = msg.to_bytes();
            prop_assert_eq!(decode_one(&again), msg);
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(
        msg in arb_message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = msg.to_bytes().to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(Some((msg, _))) = decode_message(&bytes, &Limits::default()) {
            prop_assert_eq!(decode_one(&msg.to_bytes()), msg);
        }
    }
}
