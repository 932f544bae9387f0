//! WebAuthn browser responses on arbitrary text, against a ceremony recorded with a software
//! passkey (`crates/idm-mfa/tests/fixtures/webauthn/`, good seeds for the corpus): the
//! registration and authentication parsers and verifiers never panic, and an authentication
//! that verifies names the recorded credential and its owner.
#![no_main]

use std::sync::OnceLock;

use idm_mfa::{
    AuthenticationOutcome, PendingAuthentication, PendingRegistration, StoredCredential, Webauthn,
};
use libfuzzer_sys::fuzz_target;

const FIXTURES: [&str; 3] = [
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/pending_registration.json"),
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/registration_response.json"),
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/pending_authentication.json"),
];

struct Fixed {
    rp: Webauthn,
    registration: PendingRegistration,
    authentication: PendingAuthentication,
    credential: StoredCredential,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let [registration, registration_response, authentication] = FIXTURES;
        let rp = Webauthn::new("idm.example.com", "https://idm.example.com").unwrap();
        let registration = PendingRegistration::from_json(registration).unwrap();
        let authentication = PendingAuthentication::from_json(authentication).unwrap();
        let credential = rp
            .finish_registration(
                &registration,
                registration_response,
                "fuzz",
                authentication.issued_at(),
            )
            .unwrap();
        Fixed {
            rp,
            registration,
            authentication,
            credential,
        }
    })
}

fuzz_target!(|text: &str| {
    let f = fixed();
    // Inside the recorded ceremonies' lifetime.
    let now = f.authentication.issued_at();
    let _ = f.rp.finish_registration(&f.registration, text, "fuzz", now);
    if let Ok(response) = f.rp.parse_authentication_response(text) {
        let outcome = f.rp.finish_authentication(
            &f.authentication,
            &response,
            std::slice::from_ref(&f.credential),
            now,
        );
        if let Ok(AuthenticationOutcome::Verified(result)) = outcome {
            assert_eq!(result.credential_id, f.credential.credential_id);
            assert_eq!(result.user_handle, f.credential.user_handle);
        }
    }
});
