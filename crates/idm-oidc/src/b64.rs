//! base64url without padding (RFC 7515 §2), the encoding of every JOSE member and of the
//! opaque values this crate mints. `base64ct` is constant-time and refuses non-canonical
//! input, so two different strings never decode to the same bytes.

use base64ct::{Base64UrlUnpadded, Encoding};

pub(crate) fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(s).ok()
}

/// Whether `s` is made only of base64url characters (for values compared as strings).
pub(crate) fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// base64url(SHA-256(input)), used by PKCE S256, `at_hash` (ES256/RS256/PS256 all hash
/// with SHA-256), DPoP `ath` and RFC 7638 thumbprints.
pub(crate) fn sha256(input: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    encode(&Sha256::digest(input))
}
