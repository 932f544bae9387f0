//! PKCE (RFC 7636), S256 only.
//!
//! `plain` is refused: it protects nothing against an attacker who can read the
//! authorization request, which is the case PKCE exists for (OAuth 2.0 Security BCP §2.1.1,
//! FAPI 2.0). A `code_challenge` without `code_challenge_method` means `plain` (RFC 7636
//! §4.3) and is refused the same way.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::b64;
use crate::error::{ErrorClass, ErrorCode, OidcError};

/// A validated S256 code challenge: base64url(SHA-256(verifier)), 43 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates `code_challenge` and `code_challenge_method` from an authorization
    /// request. `Ok(None)` when neither is present (the caller decides whether PKCE was
    /// required).
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<Self>, OidcError> {
        match (challenge, method) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(OidcError::MissingParameter("code_challenge")),
            (Some(_), None | Some("plain")) => Err(OidcError::OutsideProfile {
                code: ErrorCode::InvalidRequest,
                class: ErrorClass::RejectedForProfileSafety,
                feature: "pkce_plain",
            }),
            (Some(c), Some("S256")) => {
                if c.len() == 43 && b64::is_b64url(c) {
                    Ok(Some(Self(c.to_owned())))
                } else {
                    Err(OidcError::InvalidParameter("code_challenge"))
                }
            }
            (Some(_), Some(_)) => Err(OidcError::InvalidParameter("code_challenge_method")),
        }
    }

    /// The challenge for a verifier (what a client computes; used by tests and benches).
    #[must_use]
    pub fn s256(verifier: &str) -> Self {
        Self(b64::sha256(verifier.as_bytes()))
    }

    /// The challenge string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks a `code_verifier` at the token endpoint: 43–128 characters of
    /// `[A-Za-z0-9-._~]` (RFC 7636 §4.1), and its S256 hash equal to the challenge
    /// (compared in constant time). A malformed verifier is `invalid_request`, a wrong one
    /// `invalid_grant` (RFC 7636 §4.6).
    pub fn verify(&self, verifier: &str) -> Result<(), OidcError> {
        if !is_verifier(verifier) {
            return Err(OidcError::InvalidParameter("code_verifier"));
        }
        let computed = b64::sha256(verifier.as_bytes());
        if bool::from(computed.as_bytes().ct_eq(self.0.as_bytes())) {
            Ok(())
        } else {
            Err(OidcError::InvalidGrant("PKCE verification failed"))
        }
    }
}

fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(CodeChallenge::s256(VERIFIER).as_str(), CHALLENGE);
        let c = CodeChallenge::from_request(Some(CHALLENGE), Some("S256"))
            .unwrap()
            .unwrap();
        c.verify(VERIFIER).unwrap();
    }

    #[test]
    fn wrong_verifier_is_invalid_grant() {
        let c = CodeChallenge::s256(VERIFIER);
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert!(matches!(c.verify(wrong), Err(OidcError::InvalidGrant(_))));
    }

    #[test]
    fn malformed_verifier_is_invalid_request() {
        let c = CodeChallenge::s256(VERIFIER);
        assert!(matches!(
            c.verify("short"),
            Err(OidcError::InvalidParameter(_))
        ));
        assert!(matches!(
            c.verify(&"a".repeat(129)),
            Err(OidcError::InvalidParameter(_))
        ));
        let bad_chars = format!("{}+", &VERIFIER[..42]);
        assert!(matches!(
            c.verify(&bad_chars),
            Err(OidcError::InvalidParameter(_))
        ));
    }

    #[test]
    fn plain_refused_with_invalid_request_and_class() {
        for method in [Some("plain"), None] {
            let e = CodeChallenge::from_request(Some(VERIFIER), method).unwrap_err();
            assert_eq!(e.wire().code, ErrorCode::InvalidRequest);
            assert_eq!(e.wire().class, Some(ErrorClass::RejectedForProfileSafety));
        }
        assert!(CodeChallenge::from_request(Some(CHALLENGE), Some("S512")).is_err());
        assert!(CodeChallenge::from_request(Some("short"), Some("S256")).is_err());
        assert!(CodeChallenge::from_request(None, Some("S256")).is_err());
        assert_eq!(CodeChallenge::from_request(None, None).unwrap(), None);
    }
}
