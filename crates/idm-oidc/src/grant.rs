//! Grants as values: authorization codes and refresh-token families.
//!
//! The server stores these records and hands them back; this crate decides. Codes and
//! refresh tokens are high-entropy random strings the server draws; only their SHA-256
//! is ever a storage key, so a leaked database dump holds no usable code or token.
//!
//! A refresh token is `base64url(family id) "." base64url(secret)`. The family id lets
//! the server find the family in one lookup; the family stores the hash of its one
//! current token. Presenting any other token of a live family — an already rotated one —
//! is reuse (OAuth 2.0 Security BCP §4.14.2): the whole family is revoked.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::b64;
use crate::claims::Assurance;
use crate::error::OidcError;
use crate::pkce::CodeChallenge;
use crate::scope::ScopeSet;

/// Longest code accepted at the token endpoint.
const MAX_CODE: usize = 128;

/// An authorization code, in the clear only in the redirect and the token request.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode(Zeroizing<String>);

impl AuthorizationCode {
    /// A new code from 32 random bytes.
    #[must_use]
    pub fn generate(random: [u8; 32]) -> Self {
        Self(Zeroizing::new(b64::encode(&random)))
    }

    /// A code as presented at the token endpoint (bounded, base64url characters).
    pub fn from_request(code: &str) -> Result<Self, OidcError> {
        if code.len() > MAX_CODE || !b64::is_b64url(code) {
            return Err(OidcError::InvalidGrant("malformed authorization code"));
        }
        Ok(Self(Zeroizing::new(code.to_owned())))
    }

    /// The code text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key under which the server stores the [`CodeGrant`].
    #[must_use]
    pub fn storage_key(&self) -> CodeKey {
        CodeKey(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl core::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AuthorizationCode(***)")
    }
}

macro_rules! digest_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({})", stringify!($name), b64::encode(&self.0))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&b64::encode(&self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                b64::decode(&s)
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .map(Self)
                    .ok_or_else(|| serde::de::Error::custom("expected 32 bytes base64url"))
            }
        }
    };
}

digest_newtype!(
    /// SHA-256 of an authorization code: the storage key of a [`CodeGrant`].
    CodeKey
);
digest_newtype!(
    /// SHA-256 of a refresh token.
    TokenHash
);

impl TokenHash {
    fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// What the server stores under [`AuthorizationCode::storage_key`] for at most
/// `expires_at`: everything the token endpoint needs to check the exchange and build the
/// tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI of the authorization request (must be repeated exactly).
    pub redirect_uri: String,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// The request's nonce, for the ID token.
    pub nonce: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: Option<CodeChallenge>,
    /// The user (UUID string).
    pub subject: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// Assurance of the login.
    pub assurance: Assurance,
    /// Login session ID.
    pub session_id: String,
    /// DPoP key bound at the authorization request (`dpop_jkt`, RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// Issued at.
    pub issued_at: i64,
    /// Expires at (issued_at + the client's code lifetime, 60 s by default).
    pub expires_at: i64,
}

/// The ID of a refresh-token family: 16 random bytes, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FamilyId(String);

impl FamilyId {
    /// From 16 random bytes.
    #[must_use]
    pub fn generate(random: [u8; 16]) -> Self {
        Self(b64::encode(&random))
    }

    /// The ID text (the server's storage key).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    pub(crate) fn mint(family: &FamilyId, secret: [u8; 32]) -> Self {
        let secret = Zeroizing::new(secret);
        Self(Zeroizing::new(format!(
            "{}.{}",
            family.0,
            b64::encode(secret.as_ref())
        )))
    }

    /// Parses a presented refresh token; anything not shaped like ours is `invalid_grant`.
    pub fn parse(token: &str) -> Result<Self, OidcError> {
        let bad = OidcError::InvalidGrant("unknown refresh token");
        let (family, secret) = token.split_once('.').ok_or(bad.clone())?;
        if family.len() != 22
            || secret.len() != 43
            || !b64::is_b64url(family)
            || !b64::is_b64url(secret)
        {
            return Err(bad);
        }
        Ok(Self(Zeroizing::new(token.to_owned())))
    }

    /// The family to look up.
    #[must_use]
    pub fn family_id(&self) -> FamilyId {
        FamilyId(self.0.split('.').next().unwrap_or_default().to_owned())
    }

    /// The hash the family records.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The token text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RefreshToken({}.***)", self.family_id().0)
    }
}

/// A refresh-token family: one login's chain of rotated refresh tokens. The server stores
/// it under [`FamilyId`] and replaces it with the value in [`crate::TokenIssued`] after
/// each rotation — as a compare-and-swap on `generation`, so that two concurrent uses of
/// one token cannot both succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Family ID.
    pub id: FamilyId,
    /// Client the family belongs to.
    pub client_id: String,
    /// User.
    pub subject: String,
    /// Scopes granted at the code exchange (a refresh may narrow, never widen).
    pub scopes: ScopeSet,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: Option<String>,
    /// Assurance of the login.
    pub assurance: Assurance,
    /// Login session ID.
    pub session_id: String,
    /// DPoP key binding, kept across rotations.
    pub dpop_jkt: Option<String>,
    /// Created at.
    pub created_at: i64,
    /// Absolute expiry of the family.
    pub expires_at: i64,
    /// Number of rotations so far.
    pub generation: u64,
    /// Hash of the one valid token.
    pub current_hash: TokenHash,
    /// When the current token expires unless used (idle timeout).
    pub current_expires_at: i64,
    /// Revoked (logout, reuse, admin action); kept so that reuse is still recognised.
    pub revoked: bool,
}

impl RefreshFamily {
    /// Whether the family belongs to `client_id` (for revocation and introspection).
    #[must_use]
    pub fn owned_by(&self, client_id: &str) -> bool {
        self.client_id == client_id
    }

    /// Whether `token` is the family's current token (constant-time comparison).
    #[must_use]
    pub fn is_current(&self, token: &RefreshToken) -> bool {
        self.current_hash.ct_eq(&token.hash())
    }

    /// Whether a current token would be accepted at `now`.
    #[must_use]
    pub fn is_active(&self, now: i64) -> bool {
        !self.revoked && now < self.expires_at && now < self.current_expires_at
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn refresh_token_format() {
        let fam = FamilyId::generate([3; 16]);
        let t = RefreshToken::mint(&fam, [4; 32]);
        let parsed = RefreshToken::parse(t.as_str()).unwrap();
        assert_eq!(parsed.family_id(), fam);
        assert_eq!(parsed.hash(), t.hash());
        assert!(!format!("{t:?}").contains(&t.as_str()[23..]));
        for bad in [
            "",
            "x",
            "a.b",
            &format!("{}.{}", fam.as_str(), "!".repeat(43)),
        ] {
            assert!(RefreshToken::parse(bad).is_err());
        }
    }

    #[test]
    fn code_storage_key_is_hash() {
        let c = AuthorizationCode::generate([9; 32]);
        assert_ne!(c.storage_key().0.to_vec(), c.as_str().as_bytes().to_vec());
        assert_eq!(
            AuthorizationCode::from_request(c.as_str())
                .unwrap()
                .storage_key(),
            c.storage_key()
        );
        assert!(AuthorizationCode::from_request("a b").is_err());
        assert!(AuthorizationCode::from_request(&"a".repeat(200)).is_err());
        let j = serde_json::to_string(&c.storage_key()).unwrap();
        assert_eq!(
            serde_json::from_str::<CodeKey>(&j).unwrap(),
            c.storage_key()
        );
    }
}
