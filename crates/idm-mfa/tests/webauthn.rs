//! WebAuthn ceremonies end to end in memory: webauthn-authenticator-rs's software
//! authenticators play the browser, the clock is an argument.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed step is a failed test"
)]

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use idm_mfa::credential_policy::{self, Acr, Method};
use idm_mfa::webauthn::{
    AttestationCaListBuilder, CreationChallengeResponse, RequestChallengeResponse,
};
use idm_mfa::{
    AuthenticationOutcome, AuthenticationResult, MfaError, PasskeyOrSecurityKey,
    PendingAuthentication, PendingRegistration, RegistrationOptions, StoredCredential,
    UserVerification, Webauthn, WebauthnFailure,
};
use proptest::prelude::*;
use url::Url;
use uuid::Uuid;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::softtoken::{AAGUID as SOFTTOKEN_AAGUID, SoftToken};
use webauthn_authenticator_rs::{AuthenticatorBackend, WebauthnAuthenticator};
use webauthn_rs_core::proto::{AllowCredentials, ResidentKeyRequirement, UserVerificationPolicy};

const RP_ID: &str = "idm.example.com";
const ORIGIN: &str = "https://idm.example.com";
const ALICE: Uuid = Uuid::from_u128(0xa11ce);
const BOB: Uuid = Uuid::from_u128(0xb0b);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap()
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn rp() -> Webauthn {
    Webauthn::new(RP_ID, ORIGIN).unwrap()
}

/// A browser with one authenticator. The software authenticators cannot store resident
/// keys, so the browser remembers, per credential created for a discoverable passkey, the
/// user handle — as a discoverable authenticator does — and for a username-less login offers
/// them itself and returns the handle (which is not signed: a real authenticator returns it
/// beside the signature the same way). What the relying party sees is the same.
struct Browser<A> {
    authenticator: A,
    origin: Url,
    resident: HashMap<Vec<u8>, Vec<u8>>,
}

impl<A: AuthenticatorBackend> Browser<A> {
    fn new(authenticator: A) -> Self {
        Self {
            authenticator,
            origin: Url::parse(ORIGIN).unwrap(),
            resident: HashMap::new(),
        }
    }

    /// `navigator.credentials.create()`: JSON in, JSON out.
    fn create(&mut self, challenge: &CreationChallengeResponse) -> String {
        let mut options: CreationChallengeResponse =
            serde_json::from_str(&serde_json::to_string(challenge).unwrap()).unwrap();
        let selection = options.public_key.authenticator_selection.as_mut().unwrap();
        let discoverable = selection.require_resident_key;
        selection.require_resident_key = false;
        selection.resident_key = Some(ResidentKeyRequirement::Discouraged);
        let user_id = options.public_key.user.id.clone();
        let response = self
            .authenticator
            .do_registration(self.origin.clone(), options)
            .unwrap();
        if discoverable {
            self.resident.insert(response.raw_id.clone(), user_id);
        }
        serde_json::to_string(&response).unwrap()
    }

    /// `navigator.credentials.get()`: JSON in, JSON out.
    fn get(&mut self, challenge: &RequestChallengeResponse) -> String {
        let mut options: RequestChallengeResponse =
            serde_json::from_str(&serde_json::to_string(challenge).unwrap()).unwrap();
        if options.public_key.allow_credentials.is_empty() {
            options.public_key.allow_credentials = self
                .resident
                .keys()
                .map(|id| AllowCredentials {
                    type_: "public-key".to_owned(),
                    id: id.clone(),
                    transports: None,
                })
                .collect();
        }
        let mut response = self
            .authenticator
            .do_authentication(self.origin.clone(), options)
            .unwrap();
        response.response.user_handle = self.resident.get(&response.raw_id).cloned();
        serde_json::to_string(&response).unwrap()
    }
}

/// Pending states go to storage and back between the two calls, as in the server.
fn stored<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

fn register<A: AuthenticatorBackend>(
    rp: &Webauthn,
    browser: &mut Browser<A>,
    user: Uuid,
    options: &RegistrationOptions,
) -> Result<StoredCredential, MfaError> {
    let (challenge, pending) = rp
        .start_registration(user, "alice", "Alice Example", &[], options, t0())
        .unwrap();
    let response = browser.create(&challenge);
    let pending: PendingRegistration = stored(&pending);
    rp.finish_registration(&pending, &response, "My key", t0() + secs(5))
}

fn authenticate<A: AuthenticatorBackend>(
    rp: &Webauthn,
    browser: &mut Browser<A>,
    credentials: &[StoredCredential],
    uv: UserVerification,
) -> Result<AuthenticationOutcome, MfaError> {
    let (challenge, pending) = rp.start_authentication(credentials, uv, t0()).unwrap();
    let pending: PendingAuthentication = stored(&pending);
    let response = rp
        .parse_authentication_response(&browser.get(&challenge))
        .unwrap();
    rp.finish_authentication(&pending, &response, credentials, t0() + secs(5))
}

fn verified(outcome: AuthenticationOutcome) -> AuthenticationResult {
    match outcome {
        AuthenticationOutcome::Verified(result) => *result,
        other => panic!("not verified: {other:?}"),
    }
}

#[test]
fn passkey_round_trip() {
    let rp = rp();
    let mut browser = Browser::new(SoftPasskey::new(true));
    let (challenge, _) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            &[],
            &RegistrationOptions::passkey(),
            t0(),
        )
        .unwrap();
    let options = serde_json::to_value(&challenge).unwrap();
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(options["publicKey"]["attestation"], "none");
    assert_eq!(options["publicKey"]["rp"]["id"], RP_ID);
    assert_eq!(options["publicKey"]["timeout"], 300_000);

    let credential = register(&rp, &mut browser, ALICE, &RegistrationOptions::passkey()).unwrap();
    assert_eq!(credential.label, "My key");
    assert_eq!(credential.kind, PasskeyOrSecurityKey::Passkey);
    assert_eq!(credential.user_handle, ALICE);
    assert_eq!(credential.aaguid, None, "self attestation names no model");
    assert!(!credential.attested);
    assert!(credential.user_verified);
    assert_eq!(credential.counter, 0);
    assert_eq!(credential.created, t0() + secs(5));
    assert_eq!(credential.last_used, None);
    assert!(credential.hardware_bound());
    let credential = stored(&credential);

    let result = verified(
        authenticate(
            &rp,
            &mut browser,
            std::slice::from_ref(&credential),
            UserVerification::Required,
        )
        .unwrap(),
    );
    assert_eq!(result.credential_id, credential.credential_id);
    assert_eq!(result.user_handle, ALICE);
    assert!(result.user_verified);
    assert!(result.needs_update, "the counter moved from 0 to 1");
    assert_eq!(result.credential.counter, 1);
    assert_eq!(result.credential.last_used, Some(t0() + secs(5)));
    assert_eq!(
        result.method(),
        Method::Passkey {
            hardware_bound: true
        }
    );
    let used = [result.method()];
    assert_eq!(
        credential_policy::acr(&used),
        Some(Acr::PhishingResistantHardware)
    );

    // The updated record is stored and the next login moves the counter again.
    let next = verified(
        authenticate(
            &rp,
            &mut browser,
            &[result.credential],
            UserVerification::Required,
        )
        .unwrap(),
    );
    assert_eq!(next.credential.counter, 2);
}

#[test]
fn username_less_login_finds_the_user() {
    let rp = rp();
    let mut alice_browser = Browser::new(SoftPasskey::new(true));
    let mut bob_browser = Browser::new(SoftPasskey::new(true));
    let alice = register(
        &rp,
        &mut alice_browser,
        ALICE,
        &RegistrationOptions::passkey(),
    )
    .unwrap();
    let bob = register(&rp, &mut bob_browser, BOB, &RegistrationOptions::passkey()).unwrap();
    // The server's "look the person up by user handle".
    let credentials_of = |user: Uuid| -> Vec<StoredCredential> {
        [&alice, &bob]
            .into_iter()
            .filter(|c| c.user_handle == user)
            .cloned()
            .collect()
    };

    let (challenge, pending) = rp
        .start_authentication(&[], UserVerification::Required, t0())
        .unwrap();
    assert!(pending.is_discoverable());
    let options = serde_json::to_value(&challenge).unwrap();
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        serde_json::json!([])
    );
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let json = alice_browser.get(&challenge);
    let response = rp.parse_authentication_response(&json).unwrap();
    assert_eq!(response.user_handle(), Some(ALICE));
    assert_eq!(response.credential_id(), &alice.credential_id);

    // Bob's credentials do not verify Alice's response.
    assert_eq!(
        rp.finish_authentication(&pending, &response, &credentials_of(BOB), t0())
            .unwrap_err(),
        MfaError::UnknownCredential
    );
    let result = verified(
        rp.finish_authentication(&pending, &response, &credentials_of(ALICE), t0())
            .unwrap(),
    );
    assert_eq!(result.user_handle, ALICE);

    // A response claiming Bob's handle for Alice's credential is refused, whichever
    // credentials the server then looks up.
    let mut forged: serde_json::Value = serde_json::from_str(&json).unwrap();
    forged["response"]["userHandle"] =
        serde_json::Value::String(data_encoding::BASE64URL_NOPAD.encode(BOB.as_bytes()));
    let forged = rp
        .parse_authentication_response(&forged.to_string())
        .unwrap();
    assert_eq!(forged.user_handle(), Some(BOB));
    assert_eq!(
        rp.finish_authentication(&pending, &forged, &credentials_of(BOB), t0())
            .unwrap_err(),
        MfaError::UnknownCredential
    );
    assert!(matches!(
        rp.finish_authentication(&pending, &forged, &credentials_of(ALICE), t0()),
        Err(MfaError::UserHandle(_))
    ));

    // Without a user handle a username-less login cannot name its user.
    let mut anonymous: serde_json::Value = serde_json::from_str(&json).unwrap();
    anonymous["response"]["userHandle"] = serde_json::Value::Null;
    let anonymous = rp
        .parse_authentication_response(&anonymous.to_string())
        .unwrap();
    assert!(matches!(
        rp.finish_authentication(&pending, &anonymous, &credentials_of(ALICE), t0()),
        Err(MfaError::UserHandle(_))
    ));

    // A user handle that is not a UUID is refused when parsing.
    let mut odd: serde_json::Value = serde_json::from_str(&json).unwrap();
    odd["response"]["userHandle"] = "AAEC".into();
    assert!(matches!(
        rp.parse_authentication_response(&odd.to_string()),
        Err(MfaError::UserHandle(_))
    ));

    // And a username-less login must verify the user.
    assert!(matches!(
        rp.start_authentication(&[], UserVerification::Discouraged, t0()),
        Err(MfaError::InvalidWebauthnRequest(_))
    ));
}

#[test]
fn security_key_as_second_factor() {
    let rp = rp();
    // A plain key without user verification.
    let mut browser = Browser::new(SoftPasskey::new(false));
    let (challenge, _) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            &[],
            &RegistrationOptions::security_key(),
            t0(),
        )
        .unwrap();
    let options = serde_json::to_value(&challenge).unwrap();
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "discouraged");
    assert_eq!(selection["requireResidentKey"], false);
    assert_eq!(selection["authenticatorAttachment"], "cross-platform");

    let key = register(
        &rp,
        &mut browser,
        ALICE,
        &RegistrationOptions::security_key(),
    )
    .unwrap();
    assert_eq!(key.kind, PasskeyOrSecurityKey::SecurityKey);
    assert!(!key.user_verified);
    let result = verified(
        authenticate(
            &rp,
            &mut browser,
            std::slice::from_ref(&key),
            UserVerification::Discouraged,
        )
        .unwrap(),
    );
    assert!(!result.user_verified);
    assert_eq!(
        result.method(),
        Method::SecurityKey {
            hardware_bound: true
        }
    );
    // Demanding verification from a key that does not do it fails (the key ignores the
    // request: the challenge it signs is the one the server issued).
    let keys = std::slice::from_ref(&key);
    let (challenge, pending) = rp
        .start_authentication(keys, UserVerification::Required, t0())
        .unwrap();
    let mut ignored = challenge.clone();
    ignored.public_key.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
    let response = rp
        .parse_authentication_response(&browser.get(&ignored))
        .unwrap();
    let err = rp
        .finish_authentication(&pending, &response, keys, t0())
        .unwrap_err();
    assert!(
        matches!(
            err,
            MfaError::WebauthnRejected {
                kind: WebauthnFailure::UserVerification,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn counter_regression_from_a_cloned_authenticator() {
    let rp = rp();
    let (token, _ca) = SoftToken::new(true).unwrap();
    let mut browser = Browser::new(token);
    let credential = register(&rp, &mut browser, ALICE, &RegistrationOptions::passkey()).unwrap();
    let login = |browser: &mut Browser<SoftToken>, credential: &StoredCredential| {
        authenticate(
            &rp,
            browser,
            std::slice::from_ref(credential),
            UserVerification::Required,
        )
        .unwrap()
    };
    let first = verified(login(&mut browser, &credential)).credential;
    assert_eq!(first.counter, 1);
    // Someone copies the authenticator's secrets after the first login...
    let mut clone = Browser {
        authenticator: SoftToken::from_cbor(&browser.authenticator.to_cbor().unwrap()).unwrap(),
        origin: browser.origin.clone(),
        resident: browser.resident.clone(),
    };
    // ...the owner logs in again...
    let second = verified(login(&mut browser, &first)).credential;
    assert_eq!(second.counter, 2);
    // ...and the copy's next assertion carries 2 again: not beyond what is stored.
    match login(&mut clone, &second) {
        AuthenticationOutcome::CounterRegressed(regression) => {
            assert_eq!(regression.credential_id, credential.credential_id);
            assert_eq!(regression.user_handle, ALICE);
            assert_eq!(regression.stored_counter, 2);
            assert_eq!(regression.presented_counter, Some(2));
        }
        other => panic!("a clone went unnoticed: {other:?}"),
    }
}

#[test]
fn counter_regression_from_a_stored_counter_ahead() {
    let rp = rp();
    let mut browser = Browser::new(SoftPasskey::new(true));
    let mut credential =
        register(&rp, &mut browser, ALICE, &RegistrationOptions::passkey()).unwrap();
    credential.counter = 1000;
    let outcome = authenticate(
        &rp,
        &mut browser,
        std::slice::from_ref(&credential),
        UserVerification::Required,
    )
    .unwrap();
    let AuthenticationOutcome::CounterRegressed(regression) = outcome else {
        panic!("a counter below the stored one was accepted");
    };
    assert_eq!(regression.stored_counter, 1000);
    assert_eq!(regression.presented_counter, Some(1));
}

#[test]
fn expired_ceremonies_are_refused() {
    let rp = rp().with_timeout(Duration::from_secs(60)).unwrap();
    let mut browser = Browser::new(SoftPasskey::new(true));
    let (challenge, pending) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            &[],
            &RegistrationOptions::passkey(),
            t0(),
        )
        .unwrap();
    assert_eq!(pending.issued_at(), t0());
    assert_eq!(pending.expires_at(), t0() + secs(60));
    let response = browser.create(&challenge);
    assert_eq!(
        rp.finish_registration(&pending, &response, "key", t0() + secs(60))
            .unwrap_err(),
        MfaError::CeremonyExpired {
            expired_at: t0() + secs(60)
        }
    );
    let credential = rp
        .finish_registration(&pending, &response, "key", t0() + secs(59))
        .unwrap();

    let (challenge, pending) = rp
        .start_authentication(
            std::slice::from_ref(&credential),
            UserVerification::Required,
            t0(),
        )
        .unwrap();
    let response = rp
        .parse_authentication_response(&browser.get(&challenge))
        .unwrap();
    let creds = std::slice::from_ref(&credential);
    assert!(matches!(
        rp.finish_authentication(&pending, &response, creds, t0() + secs(3600)),
        Err(MfaError::CeremonyExpired { .. })
    ));
    verified(
        rp.finish_authentication(&pending, &response, creds, t0() + secs(59))
            .unwrap(),
    );
}

#[test]
fn replayed_and_misdirected_responses_are_refused() {
    let rp = rp();
    let mut browser = Browser::new(SoftPasskey::new(true));
    let credential = register(&rp, &mut browser, ALICE, &RegistrationOptions::passkey()).unwrap();
    let creds = std::slice::from_ref(&credential);

    // An assertion answers one challenge only.
    let (challenge, _) = rp
        .start_authentication(creds, UserVerification::Required, t0())
        .unwrap();
    let old = rp
        .parse_authentication_response(&browser.get(&challenge))
        .unwrap();
    let (_, pending) = rp
        .start_authentication(creds, UserVerification::Required, t0())
        .unwrap();
    let err = rp
        .finish_authentication(&pending, &old, creds, t0())
        .unwrap_err();
    assert!(
        matches!(
            err,
            MfaError::WebauthnRejected {
                kind: WebauthnFailure::Challenge,
                ..
            }
        ),
        "{err:?}"
    );

    // A credential that was not offered is refused before anything else.
    let mut other = Browser::new(SoftPasskey::new(true));
    let other_credential =
        register(&rp, &mut other, ALICE, &RegistrationOptions::passkey()).unwrap();
    let (challenge, pending) = rp
        .start_authentication(creds, UserVerification::Required, t0())
        .unwrap();
    let mut offered: RequestChallengeResponse = challenge.clone();
    offered.public_key.allow_credentials[0].id = other_credential.credential_id.as_bytes().to_vec();
    let response = rp
        .parse_authentication_response(&other.get(&offered))
        .unwrap();
    let both = [credential.clone(), other_credential];
    assert_eq!(
        rp.finish_authentication(&pending, &response, &both, t0())
            .unwrap_err(),
        MfaError::UnknownCredential
    );

    // A phishing site on a sibling host: the authenticator signs for the relying-party id,
    // the origin gives it away.
    let rp = Webauthn::new("example.com", "https://idm.example.com").unwrap();
    let mut victim = Browser::new(SoftPasskey::new(true));
    let credential = register(&rp, &mut victim, ALICE, &RegistrationOptions::passkey()).unwrap();
    victim.origin = Url::parse("https://idm-login.example.com").unwrap();
    let err =
        authenticate(&rp, &mut victim, &[credential], UserVerification::Required).unwrap_err();
    assert!(
        matches!(
            err,
            MfaError::WebauthnRejected {
                kind: WebauthnFailure::Origin,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_authenticator_is_not_registered_twice() {
    let rp = rp();
    let mut browser = Browser::new(SoftPasskey::new(true));
    let (challenge, pending) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            &[],
            &RegistrationOptions::passkey(),
            t0(),
        )
        .unwrap();
    let response = browser.create(&challenge);
    let first = rp
        .finish_registration(&pending, &response, "key", t0())
        .unwrap();
    let (challenge, pending) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            std::slice::from_ref(&first),
            &RegistrationOptions::passkey(),
            t0(),
        )
        .unwrap();
    let options = serde_json::to_value(&challenge).unwrap();
    assert_eq!(
        options["publicKey"]["excludeCredentials"][0]["id"],
        first.credential_id.to_base64url()
    );
    // The same authenticator answering again (here: the same response replayed).
    assert_eq!(
        rp.finish_registration(&pending, &response, "key", t0())
            .unwrap_err(),
        MfaError::CredentialAlreadyRegistered
    );
    // Labels are checked.
    for label in ["", "   ", "a\nb", &"x".repeat(65)] {
        assert!(matches!(
            rp.finish_registration(&pending, &response, label, t0()),
            Err(MfaError::InvalidWebauthnRequest(_))
        ));
    }
}

#[test]
fn aaguid_allow_list() {
    let other_model = Uuid::from_u128(0x1234);
    let (token, ca) = SoftToken::new(true).unwrap();
    let mut builder = AttestationCaListBuilder::new();
    builder
        .insert_device_x509(
            ca,
            SOFTTOKEN_AAGUID,
            "softtoken".to_owned(),
            Default::default(),
        )
        .unwrap();
    let trusted = rp().with_attestation_cas(builder.build());
    let untrusted = rp();
    let mut browser = Browser::new(token);

    // With an allow-list, attestation is asked for.
    let only_other = RegistrationOptions::passkey().with_aaguid_allow_list(vec![other_model]);
    let (challenge, _) = trusted
        .start_registration(ALICE, "alice", "Alice", &[], &only_other, t0())
        .unwrap();
    assert_eq!(
        serde_json::to_value(&challenge).unwrap()["publicKey"]["attestation"],
        "direct"
    );

    // A model not on the list is refused, with or without trust anchors.
    for rp in [&trusted, &untrusted] {
        assert_eq!(
            register(rp, &mut browser, ALICE, &only_other).unwrap_err(),
            MfaError::AaguidNotAllowed {
                aaguid: Some(SOFTTOKEN_AAGUID)
            }
        );
    }
    // A listed model is accepted; with trust anchors its AAGUID is attested.
    let listed = RegistrationOptions::passkey().with_aaguid_allow_list(vec![SOFTTOKEN_AAGUID]);
    let credential = register(&trusted, &mut browser, ALICE, &listed).unwrap();
    assert_eq!(credential.aaguid, Some(SOFTTOKEN_AAGUID));
    assert!(credential.attested);
    let credential = register(&untrusted, &mut browser, ALICE, &listed).unwrap();
    assert_eq!(credential.aaguid, Some(SOFTTOKEN_AAGUID));
    assert!(!credential.attested);
    // Without a list, anything registers (and the model is still recorded when attested).
    let credential = register(
        &untrusted,
        &mut browser,
        ALICE,
        &RegistrationOptions::passkey(),
    )
    .unwrap();
    assert_eq!(credential.aaguid, Some(SOFTTOKEN_AAGUID));

    // An authenticator that names no model cannot be on a list...
    let mut passkey = Browser::new(SoftPasskey::new(true));
    assert_eq!(
        register(&untrusted, &mut passkey, ALICE, &listed).unwrap_err(),
        MfaError::AaguidNotAllowed { aaguid: None }
    );
    // ...and with trust anchors its self-attestation fails before the list is looked at.
    let err = register(&trusted, &mut passkey, ALICE, &listed).unwrap_err();
    assert!(
        matches!(
            err,
            MfaError::WebauthnRejected {
                kind: WebauthnFailure::Attestation,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_browser_json_is_refused_clearly() {
    let rp = rp();
    let (_, registration) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            &[],
            &RegistrationOptions::passkey(),
            t0(),
        )
        .unwrap();
    let huge = format!("{{\"id\":\"{}\"}}", "A".repeat(70 * 1024));
    // Deep nesting in a field that is skipped: serde_json skips it without recursing.
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let table: [(&str, &str); 10] = [
        ("", "EOF while parsing"),
        ("{", "EOF while parsing"),
        ("null", "invalid type"),
        ("[]", "invalid"),
        ("{\"id\":\"x\"}", "missing field"),
        (&huge, "more than the"),
        (&deep, "missing field"),
        (
            r#"{"id":"AA","rawId":"AA","type":"password","response":{"attestationObject":"","clientDataJSON":"","authenticatorData":"","signature":""}}"#,
            "\"public-key\"",
        ),
        (
            r#"{"id":"","rawId":"","type":"public-key","response":{"attestationObject":"","clientDataJSON":"","authenticatorData":"","signature":""}}"#,
            "credential id has 1 to 1023 bytes",
        ),
        (
            r#"{"id":"AA","rawId":"!!","type":"public-key","response":{"attestationObject":"","clientDataJSON":"","authenticatorData":"","signature":""}}"#,
            "",
        ),
    ];
    for (input, message) in table {
        let shown = input.get(..40).unwrap_or(input);
        let err = rp
            .finish_registration(&registration, input, "key", t0())
            .unwrap_err();
        let MfaError::MalformedWebauthnResponse(text) = &err else {
            panic!("{shown}: {err:?}");
        };
        assert!(text.contains(message), "{shown}: {text}");
        assert!(text.len() < 300, "error text stays short: {text}");
        let err = rp.parse_authentication_response(input).unwrap_err();
        assert!(
            matches!(err, MfaError::MalformedWebauthnResponse(_)),
            "{shown}: {err:?}"
        );
    }
    // Well-formed JSON with garbage inside reaches webauthn-rs and is refused there.
    let garbage = r#"{"id":"AA","rawId":"AA","type":"public-key","response":{"attestationObject":"AAAA","clientDataJSON":"AAAA"}}"#;
    assert!(matches!(
        rp.finish_registration(&registration, garbage, "key", t0()),
        Err(MfaError::WebauthnRejected { .. })
    ));
}

#[test]
fn relying_party_configuration_is_checked() {
    let table: [(&str, &str, bool); 14] = [
        ("idm.example.com", "https://idm.example.com", true),
        ("example.com", "https://idm.example.com", true),
        ("idm.example.com", "https://idm.example.com:8443", true),
        ("localhost", "http://localhost:8080", true),
        ("idm.example.com", "http://idm.example.com", false),
        ("idm.example.com", "https://example.com", false),
        ("example.com", "https://badexample.com", false),
        ("idm.example.com", "https://idm.example.com/login", false),
        ("idm.example.com", "https://idm.example.com/?x=1", false),
        ("https://idm.example.com", "https://idm.example.com", false),
        ("IDM.example.com", "https://idm.example.com", false),
        ("", "https://idm.example.com", false),
        ("127.0.0.1", "https://127.0.0.1", false),
        ("idm.example.com", "not a url", false),
    ];
    for (rp_id, origin, ok) in table {
        let result = Webauthn::new(rp_id, origin);
        assert_eq!(result.is_ok(), ok, "{rp_id} {origin}: {result:?}");
        if let Err(e) = result {
            assert!(matches!(e, MfaError::InvalidWebauthnConfig(_)));
        }
    }
    let rp = rp();
    assert!(rp.clone().with_timeout(Duration::from_secs(1)).is_err());
    assert!(
        rp.clone()
            .with_timeout(Duration::from_secs(86_400))
            .is_err()
    );
    assert!(rp.clone().with_rp_name("").is_err());
    assert_eq!(rp.with_rp_name("Example IdM").unwrap().rp_id(), RP_ID);
}

/// A ceremony recorded once (with `print_fixture`) for the fuzz target and the bench.
struct Recorded {
    pending_registration: PendingRegistration,
    registration_response: &'static str,
    pending_authentication: PendingAuthentication,
    authentication_response: &'static str,
}

fn recorded() -> Recorded {
    Recorded {
        pending_registration: PendingRegistration::from_json(include_str!(
            "fixtures/webauthn/pending_registration.json"
        ))
        .unwrap(),
        registration_response: include_str!("fixtures/webauthn/registration_response.json"),
        pending_authentication: PendingAuthentication::from_json(include_str!(
            "fixtures/webauthn/pending_authentication.json"
        ))
        .unwrap(),
        authentication_response: include_str!("fixtures/webauthn/authentication_response.json"),
    }
}

/// The recorded ceremony still verifies, as often as wanted (the stored counter is not
/// moved), at the instant it was recorded.
#[test]
fn recorded_ceremony_verifies() {
    let rp = rp();
    let r = recorded();
    let now = r.pending_authentication.issued_at();
    let credential = rp
        .finish_registration(
            &r.pending_registration,
            r.registration_response,
            "fixture",
            now,
        )
        .unwrap();
    assert_eq!(
        StoredCredential::from_json(&credential.to_json().unwrap())
            .unwrap()
            .credential_id,
        credential.credential_id
    );
    let response = rp
        .parse_authentication_response(r.authentication_response)
        .unwrap();
    for _ in 0..2 {
        let result = verified(
            rp.finish_authentication(
                &r.pending_authentication,
                &response,
                std::slice::from_ref(&credential),
                now,
            )
            .unwrap(),
        );
        assert_eq!(result.user_handle, ALICE);
    }
    assert!(matches!(
        PendingAuthentication::from_json("{}"),
        Err(MfaError::InvalidStoredState(_))
    ));
}

/// Record a new ceremony into `fixtures/webauthn/`:
/// `cargo nextest run -p idm-mfa --run-ignored only print_fixture --no-capture`, then copy
/// each part into its file.
#[test]
#[ignore = "prints a fixture; run by hand"]
fn print_fixture() {
    let rp = rp();
    let mut browser = Browser::new(SoftPasskey::new(true));
    let (challenge, registration) = rp
        .start_registration(
            ALICE,
            "alice",
            "Alice",
            &[],
            &RegistrationOptions::passkey(),
            t0(),
        )
        .unwrap();
    let registration_response = browser.create(&challenge);
    let credential = rp
        .finish_registration(&registration, &registration_response, "fixture", t0())
        .unwrap();
    let (challenge, authentication) = rp
        .start_authentication(&[credential], UserVerification::Required, t0())
        .unwrap();
    let authentication_response = browser.get(&challenge);
    println!(
        "pending_registration.json:\n{}",
        registration.to_json().unwrap()
    );
    println!("registration_response.json:\n{registration_response}");
    println!(
        "pending_authentication.json:\n{}",
        authentication.to_json().unwrap()
    );
    println!("authentication_response.json:\n{authentication_response}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary strings never panic either parser, and are refused.
    #[test]
    fn arbitrary_strings_never_panic(input in "\\PC{0,300}") {
        let rp = rp();
        let (_, registration) = rp
            .start_registration(ALICE, "alice", "Alice", &[], &RegistrationOptions::passkey(), t0())
            .unwrap();
        prop_assert!(rp.finish_registration(&registration, &input, "key", t0()).is_err());
        prop_assert!(rp.parse_authentication_response(&input).is_err());
    }

    /// Mutations of a recorded response (one character replaced) never panic.
    #[test]
    fn mutated_responses_never_panic(position in 0usize..2000, replacement in "[A-Za-z0-9_\\-\"{}:,]") {
        let rp = rp();
        let r = recorded();
        let now = r.pending_authentication.issued_at();
        let credential = rp
            .finish_registration(&r.pending_registration, r.registration_response, "key", now)
            .unwrap();
        let mutate = |original: &str| -> String {
            let mut chars: Vec<char> = original.chars().collect();
            let at = position % chars.len();
            chars[at] = replacement.chars().next().unwrap();
            chars.into_iter().collect()
        };
        let _ = rp.finish_registration(&r.pending_registration, &mutate(r.registration_response), "key", now);
        if let Ok(response) = rp.parse_authentication_response(&mutate(r.authentication_response)) {
            let _ = rp.finish_authentication(&r.pending_authentication, &response, std::slice::from_ref(&credential), now);
        }
    }
}
