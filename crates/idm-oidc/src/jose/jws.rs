//! JWS compact serialisation (RFC 7515 §7.1): parse, verify, sign.
//!
//! Parsing is bounded (the whole token against a byte limit, three parts exactly) and
//! refuses before any cryptography what can be refused from the header alone: `none`,
//! HMAC, unknown algorithms, `crit`.

use rand_core::CryptoRng;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::JwsAlg;
use super::jwk::Jwk;
use super::keys::{SigningKey, VerifyingKey};
use crate::b64;
use crate::error::{OidcError, Rejection};
use crate::params::Limits;

/// The header members this crate reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    /// The signing algorithm (only the profile's three parse).
    pub alg: JwsAlg,
    /// Key ID.
    pub kid: Option<String>,
    /// Media type of the whole JWS (`at+jwt`, `dpop+jwt`, `JWT`).
    pub typ: Option<String>,
    /// An embedded public key (DPoP proofs).
    pub jwk: Option<Jwk>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    jwk: Option<Jwk>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl CompactJws<'_> {
    /// The header.
    #[must_use]
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// Verifies the signature with `key` and returns the payload.
    pub fn verify(&self, key: &VerifyingKey) -> Result<&[u8], Rejection> {
        key.verify(
            self.header.alg,
            self.signing_input.as_bytes(),
            &self.signature,
        )?;
        Ok(&self.payload)
    }

    /// The payload before verification: only for choosing the key to verify with (the
    /// `iss` of a client assertion), never for decisions.
    #[must_use]
    pub fn payload_unverified(&self) -> &[u8] {
        &self.payload
    }
}

/// Parses a compact JWS within `limits.max_token_bytes`.
pub fn decode_compact<'a>(token: &'a str, limits: &Limits) -> Result<CompactJws<'a>, OidcError> {
    decode(token, limits.max_token_bytes).map_err(OidcError::Jws)
}

pub(crate) fn decode(token: &str, max_bytes: usize) -> Result<CompactJws<'_>, Rejection> {
    if token.len() > max_bytes {
        return Err(Rejection::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let header_json = b64::decode(h).ok_or(Rejection::Malformed)?;
    let raw: RawHeader = serde_json::from_slice(&header_json).map_err(|_| Rejection::Malformed)?;
    let alg = JwsAlg::parse(&raw.alg)?;
    if raw.crit.is_some() {
        return Err(Rejection::CritUnsupported);
    }
    let payload = b64::decode(p).ok_or(Rejection::Malformed)?;
    let signature = b64::decode(s).ok_or(Rejection::Malformed)?;
    let signing_input = token
        .get(..h.len() + 1 + p.len())
        .ok_or(Rejection::Malformed)?;
    Ok(CompactJws {
        header: JwsHeader {
            alg,
            kid: raw.kid,
            typ: raw.typ,
            jwk: raw.jwk,
        },
        signing_input,
        payload,
        signature,
    })
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
    kid: &'a str,
}

/// Signs `payload` with `key`, putting `alg`, `kid` and `typ` in the header.
pub fn sign_compact<R: CryptoRng + ?Sized>(
    key: &SigningKey,
    typ: Option<&str>,
    payload: &[u8],
    rng: &mut R,
) -> Result<String, OidcError> {
    let header = serde_json::to_vec(&HeaderOut {
        alg: key.alg().as_str(),
        typ,
        kid: key.kid(),
    })
    .map_err(|_| OidcError::Internal("JWS header"))?;
    finish(key, &header, payload, rng)
}

/// Signs `payload` with `key` under a caller-built header, used as given. For the client
/// side of the protocol (DPoP proofs with a `jwk` header, client assertions) and tests.
pub fn sign_compact_with_header<R: CryptoRng + ?Sized>(
    key: &SigningKey,
    header: &serde_json::Value,
    payload: &[u8],
    rng: &mut R,
) -> Result<String, OidcError> {
    let header = serde_json::to_vec(header).map_err(|_| OidcError::Internal("JWS header"))?;
    finish(key, &header, payload, rng)
}

/// Serialises `claims` and signs them as a JWT with `typ` (ID tokens, access tokens, and
/// any other JWT the server mints).
pub fn sign_jwt<T: Serialize, R: CryptoRng + ?Sized>(
    key: &SigningKey,
    typ: &str,
    claims: &T,
    rng: &mut R,
) -> Result<String, OidcError> {
    let payload = serde_json::to_vec(claims).map_err(|_| OidcError::Internal("JWT claims"))?;
    sign_compact(key, Some(typ), &payload, rng)
}

fn finish<R: CryptoRng + ?Sized>(
    key: &SigningKey,
    header: &[u8],
    payload: &[u8],
    rng: &mut R,
) -> Result<String, OidcError> {
    let mut out = b64::encode(header);
    out.push('.');
    out.push_str(&b64::encode(payload));
    let signature = key.sign(out.as_bytes(), rng)?;
    out.push('.');
    out.push_str(&b64::encode(&signature));
    Ok(out)
}

/// Compares a `typ` header with the expected media type: case-insensitively, with the
/// `application/` prefix optional (RFC 7515 §4.1.9).
pub(crate) fn typ_matches(actual: Option<&str>, expected: &str) -> bool {
    let Some(actual) = actual else {
        return false;
    };
    let strip = |s: &str| -> String {
        let lower = s.to_ascii_lowercase();
        match lower.strip_prefix("application/") {
            Some(rest) => rest.to_owned(),
            None => lower,
        }
    };
    strip(actual) == strip(expected)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::super::test_keys::*;
    use super::*;
    use proptest::prelude::*;

    fn forge(header: &str, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(payload.as_bytes()),
            b64::encode(sig)
        )
    }

    #[test]
    fn round_trip_es256_rs256_ps256() {
        let mut rng = rng();
        for key in [
            es256("e", 1),
            rsa("r", JwsAlg::RS256),
            rsa("p", JwsAlg::PS256),
        ] {
            let token = sign_compact(&key, Some("at+jwt"), b"{\"a\":1}", &mut rng).unwrap();
            let jws = decode(&token, 8192).unwrap();
            assert_eq!(jws.header().alg, key.alg());
            assert_eq!(jws.header().kid.as_deref(), Some(key.kid()));
            assert!(typ_matches(
                jws.header().typ.as_deref(),
                "application/at+jwt"
            ));
            assert_eq!(jws.verify(key.verifying_key()).unwrap(), b"{\"a\":1}");
        }
    }

    #[test]
    fn alg_none_and_hmac_refused_before_crypto() {
        let none = forge(r#"{"alg":"none"}"#, "{}", b"");
        assert_eq!(decode(&none, 8192).err(), Some(Rejection::AlgNone));
        let none_upper = forge(r#"{"alg":"NONE"}"#, "{}", b"");
        assert_eq!(decode(&none_upper, 8192).err(), Some(Rejection::AlgNone));
        let hs = forge(r#"{"alg":"HS256","kid":"e"}"#, "{}", b"mac");
        assert_eq!(decode(&hs, 8192).err(), Some(Rejection::AlgHmac));
        let es512 = forge(r#"{"alg":"ES512"}"#, "{}", b"x");
        assert_eq!(decode(&es512, 8192).err(), Some(Rejection::AlgUnsupported));
    }

    #[test]
    fn crit_refused() {
        let t = forge(r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, "{}", b"x");
        assert_eq!(decode(&t, 8192).err(), Some(Rejection::CritUnsupported));
    }

    #[test]
    fn tampered_payload_refused() {
        let mut rng = rng();
        let key = es256("e", 1);
        let token = sign_compact(&key, None, b"{\"sub\":\"a\"}", &mut rng).unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let evil = b64::encode(b"{\"sub\":\"b\"}");
        parts[1] = &evil;
        let tampered = parts.join(".");
        let jws = decode(&tampered, 8192).unwrap();
        assert_eq!(
            jws.verify(key.verifying_key()),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn key_type_mismatch_refused() {
        // An RS256 header verified with an EC key, and an ES256 header with an RSA key.
        let mut rng = rng();
        let ec = es256("e", 1);
        let rs = rsa("r", JwsAlg::RS256);
        let t = sign_compact_with_header(&rs, &serde_json::json!({"alg":"RS256"}), b"{}", &mut rng)
            .unwrap();
        assert_eq!(
            decode(&t, 8192).unwrap().verify(ec.verifying_key()),
            Err(Rejection::AlgKeyMismatch)
        );
        let t = sign_compact_with_header(&ec, &serde_json::json!({"alg":"ES256"}), b"{}", &mut rng)
            .unwrap();
        assert_eq!(
            decode(&t, 8192).unwrap().verify(rs.verifying_key()),
            Err(Rejection::AlgKeyMismatch)
        );
    }

    #[test]
    fn wrong_key_refused() {
        let mut rng = rng();
        let t = sign_compact(&es256("e", 1), None, b"{}", &mut rng).unwrap();
        assert_eq!(
            decode(&t, 8192)
                .unwrap()
                .verify(es256("e", 2).verifying_key()),
            Err(Rejection::BadSignature)
        );
        let t = sign_compact(&rsa("r", JwsAlg::RS256), None, b"{}", &mut rng).unwrap();
        assert_eq!(
            decode(&t, 8192)
                .unwrap()
                .verify(rsa_b("r", JwsAlg::RS256).verifying_key()),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn structure_refused() {
        for bad in ["", "a", "a.b", "a.b.c.d", "..", "e30.e30.!!", "e30.e30.e30"] {
            assert!(decode(bad, 8192).is_err(), "{bad}");
        }
        let huge = "a".repeat(9000);
        assert_eq!(decode(&huge, 8192).err(), Some(Rejection::TooLarge));
        // Duplicate header members are refused by serde.
        let dup = forge(r#"{"alg":"ES256","alg":"none"}"#, "{}", b"x");
        assert_eq!(decode(&dup, 8192).err(), Some(Rejection::Malformed));
    }

    proptest! {
        #[test]
        fn decode_never_panics(s in "\\PC{0,300}") {
            let _ = decode(&s, 8192);
        }

        #[test]
        fn decode_never_panics_on_dotted_b64(a in "[A-Za-z0-9_-]{0,80}", b in "[A-Za-z0-9_-]{0,80}", c in "[A-Za-z0-9_-]{0,120}") {
            let _ = decode(&format!("{a}.{b}.{c}"), 8192);
        }
    }
}
