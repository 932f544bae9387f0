//! JOSE: JWS compact serialisation (RFC 7515), the three algorithms of the profile
//! (RFC 7518 §3.3, §3.4, §3.5), JWK public keys and JWK Sets (RFC 7517), JWK thumbprints
//! (RFC 7638), and the server's rotating [`KeySet`].
//!
//! What is refused and why:
//! - `alg: none` and the HMAC algorithms, always: a verifier that accepts them lets an
//!   attacker sign with nothing, or with the RSA public key as an HMAC secret.
//! - An `alg` that does not fit the key's type (or the key's registered `alg`).
//! - Any `crit` header: no extension is understood, and RFC 7515 §4.1.11 says a JWS with an
//!   unknown critical extension must be rejected.
//! - RSA keys below 2048 bits, EC curves other than P-256, JWKs carrying private members
//!   where a public key is expected.

mod jwk;
mod jws;
mod keys;

use serde::{Deserialize, Serialize};

use crate::error::Rejection;

pub use jwk::{Jwk, JwkSet, Jwks};
pub use jws::{
    CompactJws, JwsHeader, decode_compact, sign_compact, sign_compact_with_header, sign_jwt,
};
pub use keys::{KeySet, SigningKey, VerifyingKey};

pub(crate) use jws::{decode, typ_matches};

/// The JWS algorithms of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256: the default — small keys, small signatures, fast signing.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for relying parties that only do RSA.
    RS256,
    /// RSASSA-PSS with SHA-256 and a 32-byte salt (FAPI 2.0 allows PS256 and ES256).
    PS256,
}

/// The algorithms the server will verify, in the order it advertises them.
pub const SUPPORTED_ALGS: [JwsAlg; 3] = [JwsAlg::ES256, JwsAlg::PS256, JwsAlg::RS256];

impl JwsAlg {
    /// The `alg` header value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
        }
    }

    /// Parses an `alg` value, naming the refusal precisely.
    pub fn parse(s: &str) -> Result<Self, Rejection> {
        match s {
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "PS256" => Ok(Self::PS256),
            _ if s.eq_ignore_ascii_case("none") => Err(Rejection::AlgNone),
            "HS256" | "HS384" | "HS512" => Err(Rejection::AlgHmac),
            _ => Err(Rejection::AlgUnsupported),
        }
    }

    /// Whether the algorithm uses an RSA key.
    #[must_use]
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::RS256 | Self::PS256)
    }
}

impl core::fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
pub(crate) mod test_keys {
    //! Keys for tests: P-256 from fixed scalars, RSA-2048 from embedded PEM (generating
    //! RSA keys is far too slow for a unit test).
    use super::*;

    pub const RSA_A_PEM: &str = include_str!("../testdata/rsa2048-a.pem");
    pub const RSA_B_PEM: &str = include_str!("../testdata/rsa2048-b.pem");

    pub fn es256(kid: &str, seed: u8) -> SigningKey {
        let mut scalar = [0x11u8; 32];
        scalar[31] = seed;
        SigningKey::es256_from_bytes(kid, &scalar).unwrap()
    }

    pub fn rsa(kid: &str, alg: JwsAlg) -> SigningKey {
        SigningKey::from_pkcs8_pem(kid, alg, RSA_A_PEM).unwrap()
    }

    pub fn rsa_b(kid: &str, alg: JwsAlg) -> SigningKey {
        SigningKey::from_pkcs8_pem(kid, alg, RSA_B_PEM).unwrap()
    }

    pub fn rng() -> rand::rngs::StdRng {
        use rand::SeedableRng;
        rand::rngs::StdRng::seed_from_u64(7)
    }
}
