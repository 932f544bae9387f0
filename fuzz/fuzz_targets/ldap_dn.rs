//! `Dn::parse` on arbitrary text: it must never panic; a DN it accepts must print to a string
//! that parses back to the same DN, and normalization must be idempotent and stable through the
//! string form.
#![no_main]

use idm_ldap::Dn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(dn) = Dn::parse(text) else {
        return;
    };
    let printed = dn.to_string();
    let again =
        Dn::parse(&printed).unwrap_or_else(|e| panic!("printed DN {printed:?} refused: {e}"));
    assert_eq!(again, dn);

    let normalized = dn.normalize();
    assert_eq!(normalized.normalize(), normalized);
    let reparsed = Dn::parse(&normalized.to_string()).expect("normalized DN parses");
    assert_eq!(reparsed.normalize(), normalized);
    assert!(dn.equivalent(&again));
    if let Some(parent) = dn.parent() {
        assert!(dn.is_descendant_of(&parent));
    }
});
