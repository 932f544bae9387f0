//! `otpauth://totp/` URI parsing on arbitrary text never panics; an accepted URI re-encodes
//! to one that parses to the same credential, issuer and account (unless the issuer holds the
//! label's `:` separator, or re-encoding outgrows the length limits).
#![no_main]

use idm_mfa::Totp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok((totp, issuer, account)) = Totp::parse_otpauth_uri(text) else {
        return;
    };
    let _ = totp.code_for_step(text.len() as u64);
    let issuer = issuer.unwrap_or_default();
    if issuer.contains(':') {
        return;
    }
    let uri = totp.otpauth_uri(&issuer, &account);
    match Totp::parse_otpauth_uri(&uri) {
        Ok((again, again_issuer, again_account)) => {
            assert_eq!(again, totp);
            assert_eq!(again_issuer.unwrap_or_default(), issuer);
            assert_eq!(again_account, account);
        }
        Err(e) => assert!(
            uri.len() > 2048 || issuer.chars().count() + account.chars().count() + 1 > 256,
            "own URI refused: {uri}: {e}"
        ),
    }
});
