//! `SshPublicKey::parse` on arbitrary text: it must never panic, and a key it accepts must
//! survive the trip through its canonical line unchanged.
#![no_main]

use idm_ssh::{KeyPolicy, SshPublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    let policy = KeyPolicy::default();
    if let Ok(key) = SshPublicKey::parse(line, &policy) {
        let canonical = key.to_openssh();
        let again = SshPublicKey::parse(&canonical, &policy)
            .unwrap_or_else(|e| panic!("canonical line {canonical:?} refused: {e}"));
        assert_eq!(again, key);
        assert_eq!(again.to_openssh(), canonical);
        assert_eq!(again.fingerprint(), key.fingerprint());
        let _ = key.authorized_keys_line(&["restrict"]);
    }
});
