//! DPoP (RFC 9449): sender-constrained tokens.
//!
//! [`verify_proof`] performs every check of RFC 9449 §4.3 that needs no state, and returns
//! the `jti` with the time until which the caller's replay cache must remember it — the
//! one check that needs state is the server's. Server-provided nonces (§8) are the
//! caller's too: pass the currently valid nonce as [`DpopCheck::expected_nonce`] and a
//! proof without it fails with [`OidcError::UseDpopNonce`].

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::b64;
use crate::error::{OidcError, Rejection};
use crate::jose::{self, SigningKey};

/// `typ` of a DPoP proof.
pub const DPOP_TYP: &str = "dpop+jwt";

/// Longest `jti` accepted.
const MAX_JTI: usize = 256;

/// How old (and how far in the future) a proof's `iat` may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Proofs older than this many seconds are stale (default 60).
    pub max_age: i64,
    /// Proofs up to this many seconds in the future are tolerated (default 5).
    pub future_skew: i64,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            max_age: 60,
            future_skew: 5,
        }
    }
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct DpopCheck<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The full request URL (query and fragment are ignored in the comparison).
    pub url: &'a str,
    /// At a resource endpoint, the presented access token (checked against `ath`).
    pub access_token: Option<&'a str>,
    /// The server nonce the proof must carry, if the server demands one.
    pub expected_nonce: Option<&'a str>,
}

/// A verified DPoP proof.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct DpopProof {
    /// RFC 7638 thumbprint of the proof key: `cnf.jkt` of tokens bound to it.
    pub jkt: String,
    /// The proof's `jti`: refuse a second proof with the same `jti` (per key) until
    /// `replay_until`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: i64,
    /// After this time the proof is stale anyway, so the replay cache may forget it.
    pub replay_until: i64,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Verifies a DPoP proof JWT. Most callers use [`crate::Provider::verify_dpop`], which
/// supplies the policy and limits; resource servers linking only this crate call this.
pub fn verify_proof(
    proof: &str,
    check: &DpopCheck<'_>,
    policy: &DpopPolicy,
    max_bytes: usize,
    now: i64,
) -> Result<DpopProof, OidcError> {
    let reject = OidcError::InvalidDpopProof;
    let jws = jose::decode(proof, max_bytes).map_err(reject)?;
    if !jose::typ_matches(jws.header().typ.as_deref(), DPOP_TYP) {
        return Err(reject(Rejection::WrongType));
    }
    let jwk = jws
        .header()
        .jwk
        .as_ref()
        .ok_or(reject(Rejection::MissingJwk))?;
    let key = jwk.to_verifying_key().map_err(reject)?;
    let payload = jws.verify(&key).map_err(reject)?;
    let claims: ProofClaims =
        serde_json::from_slice(payload).map_err(|_| reject(Rejection::Malformed))?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(reject(Rejection::MissingClaim));
    }
    if claims.htm != check.method {
        return Err(reject(Rejection::WrongMethod));
    }
    match (normalize_htu(&claims.htu), normalize_htu(check.url)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(reject(Rejection::WrongUri)),
    }
    if claims.iat > now + policy.future_skew {
        return Err(reject(Rejection::NotYetValid));
    }
    if claims.iat < now - policy.max_age {
        return Err(reject(Rejection::Stale));
    }
    if let Some(expected) = check.expected_nonce {
        let ok = claims
            .nonce
            .as_deref()
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(expected.as_bytes())));
        if !ok {
            return Err(OidcError::UseDpopNonce {
                nonce: expected.to_owned(),
            });
        }
    }
    if let Some(token) = check.access_token {
        let expected = b64::sha256(token.as_bytes());
        let ok = claims
            .ath
            .as_deref()
            .is_some_and(|a| bool::from(a.as_bytes().ct_eq(expected.as_bytes())));
        if !ok {
            return Err(reject(Rejection::WrongAccessTokenHash));
        }
    }
    Ok(DpopProof {
        jkt: key.thumbprint(),
        jti: claims.jti,
        iat: claims.iat,
        replay_until: claims.iat + policy.max_age + policy.future_skew,
    })
}

#[derive(Serialize)]
struct ProofOut<'a> {
    jti: &'a str,
    htm: &'a str,
    htu: &'a str,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// Creates a DPoP proof: the client side, for tests, benches and idm acting as a client.
#[allow(clippy::too_many_arguments)]
pub fn create_proof<R: CryptoRng + ?Sized>(
    key: &SigningKey,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    nonce: Option<&str>,
    jti: &str,
    iat: i64,
    rng: &mut R,
) -> Result<String, OidcError> {
    let mut jwk = serde_json::to_value(key.verifying_key().to_jwk())
        .map_err(|_| OidcError::Internal("DPoP jwk"))?;
    if let Some(obj) = jwk.as_object_mut() {
        obj.remove("kid");
        obj.remove("use");
        obj.remove("alg");
    }
    let header = serde_json::json!({"typ": DPOP_TYP, "alg": key.alg().as_str(), "jwk": jwk});
    let claims = ProofOut {
        jti,
        htm: method,
        htu: url,
        iat,
        ath: access_token.map(|t| b64::sha256(t.as_bytes())),
        nonce,
    };
    let payload = serde_json::to_vec(&claims).map_err(|_| OidcError::Internal("DPoP claims"))?;
    jose::sign_compact_with_header(key, &header, &payload, rng)
}

/// Normalises an `htu` for comparison (RFC 9449 §4.3 with RFC 3986 §6.2.2–6.2.3): query
/// and fragment dropped, scheme and host lower-cased, default port removed, empty path
/// made `/`. Only `http`/`https` URLs without userinfo are accepted.
fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at_checked(i)?,
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::jose::JwsAlg;
    use crate::jose::test_keys::*;

    /// RFC 9449 §4.1, Figure 4: a real proof that verifies.
    const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA";
    const RFC_IAT: i64 = 1_562_265_296;

    fn check<'a>(method: &'a str, url: &'a str) -> DpopCheck<'a> {
        DpopCheck {
            method,
            url,
            access_token: None,
            expected_nonce: None,
        }
    }

    fn verify(proof: &str, c: &DpopCheck<'_>, now: i64) -> Result<DpopProof, OidcError> {
        verify_proof(proof, c, &DpopPolicy::default(), 8192, now)
    }

    #[test]
    fn rfc9449_example_proof() {
        let p = verify(
            RFC_PROOF,
            &check("POST", "https://server.example.com/token"),
            RFC_IAT,
        )
        .unwrap();
        assert_eq!(p.jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
        assert_eq!(p.jti, "-BwC3ESc6acc2lTc");
        assert_eq!(p.replay_until, RFC_IAT + 65);
        // The same URL with a query, upper-case host and explicit default port matches.
        assert!(
            verify(
                RFC_PROOF,
                &check("POST", "https://SERVER.example.com:443/token?x=1#f"),
                RFC_IAT
            )
            .is_ok()
        );
    }

    #[test]
    fn wrong_method_uri_and_time_refused() {
        let bad = |c: &DpopCheck<'_>, now| verify(RFC_PROOF, c, now).unwrap_err();
        assert_eq!(
            bad(&check("GET", "https://server.example.com/token"), RFC_IAT),
            OidcError::InvalidDpopProof(Rejection::WrongMethod)
        );
        assert_eq!(
            bad(&check("post", "https://server.example.com/token"), RFC_IAT),
            OidcError::InvalidDpopProof(Rejection::WrongMethod)
        );
        assert_eq!(
            bad(&check("POST", "https://server.example.com/token/"), RFC_IAT),
            OidcError::InvalidDpopProof(Rejection::WrongUri)
        );
        assert_eq!(
            bad(
                &check("POST", "https://server.example.com:8443/token"),
                RFC_IAT
            ),
            OidcError::InvalidDpopProof(Rejection::WrongUri)
        );
        assert_eq!(
            bad(&check("POST", "http://server.example.com/token"), RFC_IAT),
            OidcError::InvalidDpopProof(Rejection::WrongUri)
        );
        assert_eq!(
            bad(
                &check("POST", "https://server.example.com/token"),
                RFC_IAT + 61
            ),
            OidcError::InvalidDpopProof(Rejection::Stale)
        );
        assert_eq!(
            bad(
                &check("POST", "https://server.example.com/token"),
                RFC_IAT - 6
            ),
            OidcError::InvalidDpopProof(Rejection::NotYetValid)
        );
    }

    #[test]
    fn nonce_required_when_expected() {
        let mut c = check("POST", "https://server.example.com/token");
        c.expected_nonce = Some("server-nonce");
        assert_eq!(
            verify(RFC_PROOF, &c, RFC_IAT),
            Err(OidcError::UseDpopNonce {
                nonce: "server-nonce".to_owned()
            })
        );
        let key = es256("k", 4);
        let url = "https://idm.example/token";
        let proof = create_proof(
            &key,
            "POST",
            url,
            None,
            Some("server-nonce"),
            "j",
            100,
            &mut rng(),
        )
        .unwrap();
        let mut c = check("POST", url);
        c.expected_nonce = Some("server-nonce");
        assert!(verify(&proof, &c, 100).is_ok());
        c.expected_nonce = Some("newer-nonce");
        assert!(matches!(
            verify(&proof, &c, 100),
            Err(OidcError::UseDpopNonce { .. })
        ));
    }

    #[test]
    fn replay_returns_same_jti() {
        // The cache is the caller's: verifying twice yields the same jti to look up.
        let c = check("POST", "https://server.example.com/token");
        let a = verify(RFC_PROOF, &c, RFC_IAT).unwrap();
        let b = verify(RFC_PROOF, &c, RFC_IAT + 1).unwrap();
        assert_eq!(a.jti, b.jti);
        assert_eq!(a.jkt, b.jkt);
    }

    #[test]
    fn ath_checked_at_resource() {
        let key = rsa("k", JwsAlg::PS256);
        let url = "https://idm.example/userinfo";
        let proof = create_proof(
            &key,
            "GET",
            url,
            Some("the-token"),
            None,
            "j2",
            50,
            &mut rng(),
        )
        .unwrap();
        let mut c = check("GET", url);
        c.access_token = Some("the-token");
        let p = verify(&proof, &c, 50).unwrap();
        assert_eq!(p.jkt, key.verifying_key().thumbprint());
        c.access_token = Some("other-token");
        assert_eq!(
            verify(&proof, &c, 50),
            Err(OidcError::InvalidDpopProof(Rejection::WrongAccessTokenHash))
        );
    }

    #[test]
    fn header_rules() {
        let key = es256("k", 5);
        let url = "https://idm.example/token";
        let claims = serde_json::json!({"jti":"j","htm":"POST","htu":url,"iat":10}).to_string();
        let jwk = serde_json::to_value(key.verifying_key().to_jwk()).unwrap();
        let sign = |header: serde_json::Value| {
            jose::sign_compact_with_header(&key, &header, claims.as_bytes(), &mut rng()).unwrap()
        };
        let c = check("POST", url);
        // Wrong typ.
        let p = sign(serde_json::json!({"typ":"JWT","alg":"ES256","jwk":jwk}));
        assert_eq!(
            verify(&p, &c, 10),
            Err(OidcError::InvalidDpopProof(Rejection::WrongType))
        );
        // No jwk.
        let p = sign(serde_json::json!({"typ":"dpop+jwt","alg":"ES256"}));
        assert_eq!(
            verify(&p, &c, 10),
            Err(OidcError::InvalidDpopProof(Rejection::MissingJwk))
        );
        // Private key in the header.
        let mut private = jwk.clone();
        private["d"] = "AAAA".into();
        let p = sign(serde_json::json!({"typ":"dpop+jwt","alg":"ES256","jwk":private}));
        assert_eq!(
            verify(&p, &c, 10),
            Err(OidcError::InvalidDpopProof(Rejection::PrivateKeyMaterial))
        );
        // alg that does not fit the key.
        let p = sign(serde_json::json!({"typ":"dpop+jwt","alg":"RS256","jwk":jwk}));
        assert!(verify(&p, &c, 10).is_err());
        // HS256.
        let p = sign(serde_json::json!({"typ":"dpop+jwt","alg":"HS256","jwk":jwk}));
        assert_eq!(
            verify(&p, &c, 10),
            Err(OidcError::InvalidDpopProof(Rejection::AlgHmac))
        );
        // Signed by another key than the header's.
        let other = es256("o", 6);
        let p = jose::sign_compact_with_header(
            &other,
            &serde_json::json!({"typ":"dpop+jwt","alg":"ES256","jwk":jwk}),
            claims.as_bytes(),
            &mut rng(),
        )
        .unwrap();
        assert_eq!(
            verify(&p, &c, 10),
            Err(OidcError::InvalidDpopProof(Rejection::BadSignature))
        );
    }

    #[test]
    fn htu_normalisation() {
        assert_eq!(
            normalize_htu("HTTPS://A.example:443"),
            Some("https://a.example/".to_owned())
        );
        assert_eq!(
            normalize_htu("http://a:80/x?y#z"),
            Some("http://a/x".to_owned())
        );
        assert_eq!(
            normalize_htu("https://a:8443/X"),
            Some("https://a:8443/X".to_owned())
        );
        assert_eq!(normalize_htu("https://u@a/x"), None);
        assert_eq!(normalize_htu("ftp://a/x"), None);
        assert_eq!(normalize_htu("https:///x"), None);
    }
}
