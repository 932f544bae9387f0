//! `Filter::parse` on arbitrary text: it must never panic; a filter it accepts must print to a
//! string that parses back to the same filter, survive the BER codec, and evaluate.
#![no_main]

use idm_ldap::proto::{DerefAliases, SearchRequest, SearchScope};
use idm_ldap::{Dn, Entry, Filter, LdapMessage, Limits, ProtocolOp, decode_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(filter) = Filter::parse(text) else {
        return;
    };
    let printed = filter.to_string();
    let again = Filter::parse(&printed)
        .unwrap_or_else(|e| panic!("printed filter {printed:?} refused: {e}"));
    assert_eq!(again, filter);

    let msg = LdapMessage::new(
        1,
        ProtocolOp::SearchRequest(SearchRequest {
            base: String::new(),
            scope: SearchScope::WholeSubtree,
            deref_aliases: DerefAliases::Never,
            size_limit: 0,
            time_limit: 0,
            types_only: false,
            filter: filter.clone(),
            attributes: vec![],
        }),
    );
    let limits = Limits::default();
    let (decoded, _) = decode_message(&msg.to_bytes(), &limits)
        .expect("encoded filter decodes")
        .expect("complete");
    assert_eq!(decoded, msg);

    let entry = Entry::new(Dn::parse("uid=a,dc=x").unwrap(), vec![])
        .with("uid", ["a"])
        .with("cn", ["Alice A"])
        .with("uidNumber", ["1000"])
        .with("member", ["uid=b,dc=x"]);
    let _ = filter.validate();
    let _ = filter.evaluate(&entry);
});
