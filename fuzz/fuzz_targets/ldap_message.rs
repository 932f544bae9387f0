//! `decode_message` on arbitrary bytes: it must never panic; a message it accepts must re-encode
//! and decode to the same value; and the session must answer it without panicking.
#![no_main]

use std::sync::OnceLock;

use idm_ldap::{
    Dn, Entry, Limits, MemDirectory, Session, SessionConfig, Timestamp, decode_message,
};
use libfuzzer_sys::fuzz_target;

fn directory() -> &'static MemDirectory {
    static DIR: OnceLock<MemDirectory> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut d = MemDirectory::new(&["dc=example,dc=com"]);
        d.set_anonymous_read(true);
        d.insert(
            Entry::new(Dn::parse("dc=example,dc=com").unwrap(), vec![])
                .with("objectClass", ["domain"]),
        );
        for i in 0..20 {
            let id = d.insert(
                Entry::new(
                    Dn::parse(&format!("uid=u{i},dc=example,dc=com")).unwrap(),
                    vec![],
                )
                .with("objectClass", ["posixAccount"])
                .with("uid", [format!("u{i}")])
                .with("uidNumber", [format!("{}", 1000 + i)])
                .with("memberOf", ["cn=g,dc=example,dc=com"]),
            );
            d.set_password(id, b"pw");
        }
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut session = Session::new(SessionConfig::default());
    let mut dir = directory().clone();
    let mut rest = data;
    // Several messages may be packed in one input, as on a stream.
    for _ in 0..8 {
        let Ok(Some((msg, used))) = decode_message(rest, &limits) else {
            break;
        };
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
        let bytes = msg.to_bytes();
        let (again, again_used) = decode_message(&bytes, &limits)
            .expect("re-encoded message decodes")
            .expect("re-encoded message is complete");
        assert_eq!(again_used, bytes.len());
        assert_eq!(again, msg);
        let out = session.handle(msg, Timestamp::from_millis(0), &mut dir);
        let mut wire = idm_ldap::bytes::BytesMut::new();
        out.encode(&mut wire);
    }
});
