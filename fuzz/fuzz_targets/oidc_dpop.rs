//! DPoP proof verification on arbitrary text: never panics, and a proof accepted for one
//! method and URL carries the claims it was checked against.
#![no_main]

use idm_oidc::dpop::{DpopCheck, DpopPolicy, verify_proof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let check = DpopCheck {
        method: "POST",
        url: "https://server.example.com/token",
        access_token: None,
        expected_nonce: None,
    };
    if let Ok(proof) = verify_proof(text, &check, &DpopPolicy::default(), 8192, 1_562_265_296) {
        assert_eq!(proof.jkt.len(), 43);
        assert!(!proof.jti.is_empty());
    }
    let with_token = DpopCheck {
        access_token: Some("token"),
        expected_nonce: Some("nonce"),
        ..check
    };
    let _ = verify_proof(
        text,
        &with_token,
        &DpopPolicy::default(),
        8192,
        1_562_265_296,
    );
});
