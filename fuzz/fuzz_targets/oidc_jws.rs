//! JWS compact parsing and verification on arbitrary text: never panics, under any of the
//! three algorithms; JWKs from headers re-serialise to the same key; JWK Sets parse safely.
#![no_main]

use std::sync::OnceLock;

use idm_oidc::jose::{Jwks, decode_compact};
use idm_oidc::{JwsAlg, Limits, SigningKey};
use libfuzzer_sys::fuzz_target;

const RSA_PEM: &str = include_str!("../../crates/idm-oidc/src/testdata/rsa2048-a.pem");

/// Loading the RSA key dominates an iteration otherwise.
fn keys() -> &'static [SigningKey; 3] {
    static KEYS: OnceLock<[SigningKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            SigningKey::es256_from_bytes("es", &[0x42; 32]).unwrap(),
            SigningKey::from_pkcs8_pem("rs", JwsAlg::RS256, RSA_PEM).unwrap(),
            SigningKey::from_pkcs8_pem("ps", JwsAlg::PS256, RSA_PEM).unwrap(),
        ]
    })
}

fuzz_target!(|text: &str| {
    if let Ok(jws) = decode_compact(text, &Limits::default()) {
        for key in keys() {
            let _ = jws.verify(key.verifying_key());
        }
        if let Some(jwk) = &jws.header().jwk {
            if let Ok(key) = jwk.to_verifying_key() {
                let _ = key.thumbprint();
                let _ = jws.verify(&key);
                let again = key.to_jwk().to_verifying_key().expect("own JWK re-parses");
                assert_eq!(again.thumbprint(), key.thumbprint());
            }
        }
    }
    let _ = Jwks::from_json(text);
});
