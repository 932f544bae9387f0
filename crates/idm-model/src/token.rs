//! Bearer secrets: API tokens of service accounts and login sessions.
//!
//! A token is `idm_<id>_<secret>`: the id (a UUID in hex) finds the record, and the secret
//! (32 random bytes, base64url) is checked against the stored SHA-256 digest in constant time.
//! The caller draws the bytes; this module never touches randomness.

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::ModelError;

const PREFIX: &str = "idm_";
pub const SECRET_BYTES: usize = 32;

/// A bearer secret in its wire form. Never logged: `Debug` prints `***`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

impl BearerToken {
    /// Builds a token from its id and freshly drawn secret bytes.
    pub fn new(id: Uuid, secret: &[u8; SECRET_BYTES]) -> Self {
        BearerToken(format!(
            "{PREFIX}{}_{}",
            id.simple(),
            Base64UrlUnpadded::encode_string(secret)
        ))
    }

    pub fn from_wire(s: &str) -> Self {
        BearerToken(s.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Splits into the id and the digest of the secret, refusing anything malformed (which
    /// then costs no lookup).
    pub fn parse(&self) -> Result<(Uuid, String), ModelError> {
        let rest = self
            .0
            .strip_prefix(PREFIX)
            .ok_or(ModelError::MalformedToken)?;
        let (id, secret) = rest.split_once('_').ok_or(ModelError::MalformedToken)?;
        if id.len() != 32 {
            return Err(ModelError::MalformedToken);
        }
        let id = Uuid::try_parse(id).map_err(|_| ModelError::MalformedToken)?;
        let mut bytes = [0u8; SECRET_BYTES];
        let decoded = Base64UrlUnpadded::decode(secret, &mut bytes)
            .map_err(|_| ModelError::MalformedToken)?;
        if decoded.len() != SECRET_BYTES {
            return Err(ModelError::MalformedToken);
        }
        let d = digest_hex(&bytes);
        bytes.zeroize();
        Ok((id, d))
    }
}

/// Hex SHA-256 of a secret.
pub fn digest_hex(secret: &[u8]) -> String {
    hex::encode(Sha256::digest(secret))
}

/// Compares two digests without leaking where they differ.
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let id = Uuid::from_u128(0x1234);
        let t = BearerToken::new(id, &[7u8; 32]);
        assert!(
            t.expose()
                .starts_with("idm_00000000000000000000000000001234_")
        );
        let (pid, d) = t.parse().unwrap();
        assert_eq!(pid, id);
        assert!(digest_eq(&d, &digest_hex(&[7u8; 32])));
        assert!(!digest_eq(&d, &digest_hex(&[8u8; 32])));
        assert_eq!(format!("{t:?}"), "BearerToken(***)");
    }

    #[test]
    fn malformed() {
        for s in [
            "",
            "idm_",
            "idm_x_y",
            "abc_00000000000000000000000000001234_AAAA",
        ] {
            assert!(BearerToken::from_wire(s).parse().is_err(), "{s}");
        }
        let short = format!("idm_{}_{}", Uuid::nil().simple(), "AAAA");
        assert!(BearerToken::from_wire(&short).parse().is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = BearerToken::from_wire(&s).parse();
        }
    }
}
