//! The authorization endpoint on arbitrary query strings: parsing and validation never
//! panic, errors are only ever redirected to the registered redirect URI, and an accepted
//! request yields a code response to that URI.
#![no_main]

use idm_oidc::{
    Assurance, Authentication, Authorize, AuthorizeError, AuthorizeInput, ClientRegistration,
    Limits, Provider, ProviderConfig, SecretDigest,
};
use libfuzzer_sys::fuzz_target;

const REDIRECT: &str = "https://app.example.com/cb";

fuzz_target!(|query: &[u8]| {
    let Ok(input) = AuthorizeInput::parse(query, &Limits::default()) else {
        return;
    };
    let provider =
        Provider::new(ProviderConfig::new("https://idm.example.com", "t").unwrap()).unwrap();
    let mut client = ClientRegistration::confidential(
        "app",
        SecretDigest::from_bytes([0; 32]),
        vec![REDIRECT.to_owned(), "http://127.0.0.1/cb".to_owned()],
    );
    client.allowed_scopes =
        idm_oidc::ScopeSet::from_tokens(["openid", "email", "profile"]).unwrap();
    let _ = input.client_id();
    let _ = input.pushed_request_uri();
    match provider.authorize(&input, Some(&client), None, 1000) {
        Authorize::Proceed(request) => {
            assert!(client.redirect_uri_allowed(&request.redirect_uri));
            let authn = Authentication {
                subject: "s".to_owned(),
                auth_time: 1000,
                amr: vec![],
                acr: None,
                assurance: Assurance::Password,
                session_id: "x".to_owned(),
            };
            let issued = provider
                .issue_code(&request, &client, &authn, &request.scopes, [1; 32], 1000)
                .expect("issuing for a validated request");
            if let Some(location) = issued.response.header("Location") {
                assert!(location.starts_with(&request.redirect_uri));
            }
        }
        Authorize::Error(AuthorizeError::Redirect(r)) => {
            assert!(client.redirect_uri_allowed(&r.redirect_uri));
            let response = r.response();
            if let Some(location) = response.header("Location") {
                assert!(location.starts_with(&r.redirect_uri));
            }
        }
        Authorize::Error(AuthorizeError::ShowToUser(e)) => {
            let _ = e.wire();
        }
    }
});
