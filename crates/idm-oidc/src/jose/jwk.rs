//! JSON Web Keys (RFC 7517) as they appear on the wire, and a client's registered JWK Set.
//!
//! `p256` 0.14 has no `jwk` feature, so the EC members `x`/`y` are written and read here
//! from the uncompressed SEC1 point; RSA `n`/`e` come from the `rsa` crate's big-endian
//! bytes without leading zeros (RFC 7518 §6.3.1.1).

use serde::{Deserialize, Serialize};

use super::JwsAlg;
use super::keys::VerifyingKey;
use crate::error::{OidcError, Rejection};

/// Most keys accepted in a registered JWK Set.
const MAX_KEYS: usize = 16;

/// A JWK as JSON. Only public members are ever serialised; private members are read only
/// so that their presence can be refused where a public key is expected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `EC` or `RSA`.
    pub kty: String,
    /// Curve (`P-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended use (`sig`).
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing)]
    d: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    p: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    q: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    dp: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    dq: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    qi: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    oth: Option<serde_json::Value>,
    #[serde(default, skip_serializing)]
    k: Option<serde_json::Value>,
}

impl Jwk {
    /// Whether the JSON carried private or symmetric key members.
    #[must_use]
    pub fn has_private_members(&self) -> bool {
        self.d.is_some()
            || self.p.is_some()
            || self.q.is_some()
            || self.dp.is_some()
            || self.dq.is_some()
            || self.qi.is_some()
            || self.oth.is_some()
            || self.k.is_some()
    }

    /// Converts to a usable public key, refusing private members, weak or unsupported
    /// keys, and an `alg` that does not fit the key type.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, Rejection> {
        VerifyingKey::from_jwk(self)
    }

    pub(crate) fn public_ec(x: String, y: String) -> Self {
        Self {
            kty: "EC".to_owned(),
            crv: Some("P-256".to_owned()),
            x: Some(x),
            y: Some(y),
            ..Self::default()
        }
    }

    pub(crate) fn public_rsa(n: String, e: String) -> Self {
        Self {
            kty: "RSA".to_owned(),
            n: Some(n),
            e: Some(e),
            ..Self::default()
        }
    }
}

/// A JWK Set document, `{"keys": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// A client's registered signing keys for `private_key_jwt`, validated: every key is a
/// usable public signing key. Keys marked `"use": "enc"` are skipped rather than refused,
/// since clients often publish one set for both purposes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "JwkSet", into = "JwkSet")]
pub struct Jwks {
    keys: Vec<VerifyingKey>,
}

impl Jwks {
    /// Parses and validates a JWK Set document.
    pub fn from_json(json: &str) -> Result<Self, OidcError> {
        let set: JwkSet = serde_json::from_str(json)
            .map_err(|_| OidcError::InvalidRegistration("JWKS is not a JWK Set"))?;
        Self::try_from(set)
    }

    /// Builds a set from keys already validated.
    #[must_use]
    pub fn from_keys(keys: Vec<VerifyingKey>) -> Self {
        Self { keys }
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The key for a JWS header: by `kid` when present; without a `kid`, the single key
    /// that can verify `alg` (ambiguity is refused rather than trying each key).
    pub fn select(&self, kid: Option<&str>, alg: JwsAlg) -> Result<&VerifyingKey, Rejection> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid() == Some(kid))
                .ok_or(Rejection::UnknownKid),
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Ok(k),
                    (None, _) => Err(Rejection::UnknownKid),
                    (Some(_), Some(_)) => Err(Rejection::MissingKid),
                }
            }
        }
    }
}

impl TryFrom<JwkSet> for Jwks {
    type Error = OidcError;
    fn try_from(set: JwkSet) -> Result<Self, Self::Error> {
        if set.keys.len() > MAX_KEYS {
            return Err(OidcError::InvalidRegistration("too many keys in JWKS"));
        }
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if jwk.use_.as_deref() == Some("enc") {
                continue;
            }
            let key = jwk
                .to_verifying_key()
                .map_err(|_| OidcError::InvalidRegistration("unusable key in JWKS"))?;
            if let Some(kid) = key.kid()
                && keys.iter().any(|k: &VerifyingKey| k.kid() == Some(kid))
            {
                return Err(OidcError::InvalidRegistration("duplicate kid in JWKS"));
            }
            keys.push(key);
        }
        Ok(Self { keys })
    }
}

impl From<Jwks> for JwkSet {
    fn from(j: Jwks) -> Self {
        Self {
            keys: j.keys.iter().map(VerifyingKey::to_jwk).collect(),
        }
    }
}
