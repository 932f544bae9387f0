//! Name, mail, path and token validation never panic, and what they accept is stable
//! (validating the normalised value again gives the same value).
#![no_main]

use idm_model::token::BearerToken;
use idm_model::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = validate::name("name", s) {
        assert_eq!(validate::name("name", &n).as_deref(), Ok(n.as_str()));
    }
    if let Ok(m) = validate::mail("mail", s) {
        assert_eq!(validate::mail("mail", &m).as_deref(), Ok(m.as_str()));
    }
    if let Ok(d) = validate::display_name(s) {
        assert_eq!(validate::display_name(&d).as_deref(), Ok(d.as_str()));
    }
    let _ = validate::posix_path("home", s);
    let _ = validate::label("label", s);
    let _ = BearerToken::from_wire(s).parse();
});
