//! Signing and verifying keys, and the server's rotating key set.
//!
//! **ES256 signs with `ring`** (`EcdsaKeyPair`, P-256 fixed-length `r||s`): its `nistz256`
//! assembly signs in ≈ 13 µs where `p256` 0.14 took ≈ 50 µs, and signing is most of the cost
//! of a `client_credentials` grant. `p256` still generates keys (from the injected RNG),
//! imports and exports PKCS#8, writes the JWK and verifies.
//!
//! **The one place this crate draws its own randomness.** ring's ECDSA signing needs a
//! `ring::rand::SecureRandom`, a *sealed* trait whose only implementation for production use
//! is `ring::rand::SystemRandom` (the OS CSPRNG through `getrandom`), so a caller's
//! `CryptoRng` cannot be handed in. ES256 signing (and building the ring key pair) therefore
//! uses `SystemRandom` here, and only here; the `rng` argument of [`SigningKey::sign`] keeps
//! serving RSA blinding and PSS salts, and everything else still takes injected randomness.
//! That is acceptable at this spot because:
//! - ring hedges every nonce: it is a hash of a per-key secret (itself drawn once when the key
//!   pair is built), fresh OS randomness and the message digest, so even a weak or repeating
//!   random source cannot leak the key through nonce reuse (the failure that makes ECDSA
//!   randomness matter);
//! - a failure of the OS source is an `OidcError`, never a panic;
//! - nothing observable depends on the signature bytes: tests, fuzzers and benches verify
//!   signatures rather than compare them. What is lost is byte-for-byte reproducible ES256
//!   tokens under a seeded RNG (with `p256` they were deterministic, RFC 6979, and ignored
//!   the RNG too).
//!
//! **Zeroizing.** `p256::ecdsa::SigningKey` and `rsa::RsaPrivateKey` implement
//! `ZeroizeOnDrop`, the PKCS#8 PEM export returns `Zeroizing<String>`, and the scalar copied
//! into ring passes through a `Zeroizing` buffer. ring's `EcdsaKeyPair` itself is *not*
//! zeroized when dropped (ring implements no zeroizing, and `unsafe` is forbidden here), so
//! each P-256 key the process loads leaves one copy of its scalar in freed memory after the
//! key set drops it — the same as the TLS private key, which rustls holds in ring too. Key
//! sets are rebuilt only when keys rotate. `Debug` never prints key material.
//!
//! RSA uses the `rsa` 0.10 line, whose private-key operations run on constant-time
//! `crypto-bigint` arithmetic (the 0.9 line's Marvin timing leak is RUSTSEC-2023-0071);
//! signing additionally blinds with the injected RNG.

use p256::ecdsa::signature::Verifier;
use rand_core::CryptoRng;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::JwsAlg;
use super::jwk::{Jwk, JwkSet};
use crate::b64;
use crate::error::{OidcError, Rejection};
use crate::http::HttpResponse;

/// Smallest RSA modulus accepted anywhere, in bits (RFC 7518 §3.3 requires 2048).
const MIN_RSA_BITS: usize = 2048;

/// Longest `kid` accepted or minted.
const MAX_KID: usize = 128;

/// A public key that verifies JWS signatures, with its optional `kid` and `alg`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyingKey {
    kid: Option<String>,
    alg: Option<JwsAlg>,
    material: PublicMaterial,
}

#[derive(Debug, Clone, PartialEq)]
enum PublicMaterial {
    P256(p256::ecdsa::VerifyingKey),
    Rsa(Box<RsaPublicKey>),
}

impl VerifyingKey {
    /// Reads a public JWK. See [`Jwk::to_verifying_key`].
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, Rejection> {
        if jwk.has_private_members() {
            return Err(Rejection::PrivateKeyMaterial);
        }
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(Rejection::UnsupportedKey);
        }
        if jwk.kid.as_ref().is_some_and(|k| k.len() > MAX_KID) {
            return Err(Rejection::UnsupportedKey);
        }
        let material = match jwk.kty.as_str() {
            "EC" => {
                if jwk.crv.as_deref() != Some("P-256") {
                    return Err(Rejection::UnsupportedKey);
                }
                let x = decode_coordinate(jwk.x.as_deref())?;
                let y = decode_coordinate(jwk.y.as_deref())?;
                let mut sec1 = Vec::with_capacity(65);
                sec1.push(0x04);
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                PublicMaterial::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                        .map_err(|_| Rejection::UnsupportedKey)?,
                )
            }
            "RSA" => {
                let n = jwk
                    .n
                    .as_deref()
                    .and_then(b64::decode)
                    .ok_or(Rejection::Malformed)?;
                let e = jwk
                    .e
                    .as_deref()
                    .and_then(b64::decode)
                    .ok_or(Rejection::Malformed)?;
                if n.first() == Some(&0) || e.is_empty() || e.len() > 8 {
                    return Err(Rejection::Malformed);
                }
                let key = RsaPublicKey::new(
                    rsa::BoxedUint::from_be_slice_vartime(&n),
                    rsa::BoxedUint::from_be_slice_vartime(&e),
                )
                .map_err(|_| Rejection::UnsupportedKey)?;
                if key.size() * 8 < MIN_RSA_BITS {
                    return Err(Rejection::UnsupportedKey);
                }
                PublicMaterial::Rsa(Box::new(key))
            }
            _ => return Err(Rejection::UnsupportedKey),
        };
        let alg = match jwk.alg.as_deref() {
            None => None,
            Some(a) => Some(JwsAlg::parse(a)?),
        };
        let key = Self {
            kid: jwk.kid.clone(),
            alg,
            material,
        };
        if let Some(a) = alg
            && !key.fits(a)
        {
            return Err(Rejection::AlgKeyMismatch);
        }
        Ok(key)
    }

    /// The public JWK, with `kid`, `use: sig` and `alg` when known.
    #[must_use]
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = self.bare_jwk();
        jwk.kid = self.kid.clone();
        jwk.use_ = Some("sig".to_owned());
        jwk.alg = self.alg.map(|a| a.as_str().to_owned());
        jwk
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, base64url: the hash of the required members
    /// in lexicographic order with no whitespace. Used as DPoP `jkt`.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        let jwk = self.bare_jwk();
        // Required members only, sorted; values are base64url so need no JSON escaping.
        let canonical = match &self.material {
            PublicMaterial::P256(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk.x.unwrap_or_default(),
                jwk.y.unwrap_or_default()
            ),
            PublicMaterial::Rsa(_) => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                jwk.e.unwrap_or_default(),
                jwk.n.unwrap_or_default()
            ),
        };
        b64::sha256(canonical.as_bytes())
    }

    /// The `kid`.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The registered `alg`, if the key is restricted to one.
    #[must_use]
    pub fn alg(&self) -> Option<JwsAlg> {
        self.alg
    }

    /// Whether this key may verify `alg`: the key type fits and, if the key is restricted
    /// to one algorithm, it is that one.
    #[must_use]
    pub fn fits(&self, alg: JwsAlg) -> bool {
        let type_fits = match self.material {
            PublicMaterial::P256(_) => alg == JwsAlg::ES256,
            PublicMaterial::Rsa(_) => alg.is_rsa(),
        };
        type_fits && self.alg.is_none_or(|a| a == alg)
    }

    /// Verifies `signature` over `message` with `alg`.
    pub fn verify(&self, alg: JwsAlg, message: &[u8], signature: &[u8]) -> Result<(), Rejection> {
        if !self.fits(alg) {
            return Err(Rejection::AlgKeyMismatch);
        }
        match (&self.material, alg) {
            (PublicMaterial::P256(vk), JwsAlg::ES256) => {
                // JWS ECDSA signatures are the fixed 64-byte r||s (RFC 7518 §3.4), not DER.
                let sig = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| Rejection::BadSignature)?;
                vk.verify(message, &sig)
                    .map_err(|_| Rejection::BadSignature)
            }
            (PublicMaterial::Rsa(pk), JwsAlg::RS256) => pk
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .map_err(|_| Rejection::BadSignature),
            (PublicMaterial::Rsa(pk), JwsAlg::PS256) => pk
                .verify(Pss::<Sha256>::new(), &Sha256::digest(message), signature)
                .map_err(|_| Rejection::BadSignature),
            _ => Err(Rejection::AlgKeyMismatch),
        }
    }

    fn bare_jwk(&self) -> Jwk {
        match &self.material {
            PublicMaterial::P256(vk) => {
                let point = vk.to_sec1_point(false);
                let bytes = point.as_bytes();
                Jwk::public_ec(
                    b64::encode(bytes.get(1..33).unwrap_or_default()),
                    b64::encode(bytes.get(33..65).unwrap_or_default()),
                )
            }
            PublicMaterial::Rsa(pk) => {
                Jwk::public_rsa(b64::encode(&pk.n_bytes()), b64::encode(&pk.e_bytes()))
            }
        }
    }
}

fn decode_coordinate(v: Option<&str>) -> Result<Vec<u8>, Rejection> {
    let bytes = v.and_then(b64::decode).ok_or(Rejection::Malformed)?;
    // RFC 7518 §6.2.1.2: the full 32 octets, leading zeros kept.
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(Rejection::Malformed)
    }
}

/// A private signing key with its `kid` and the one algorithm it signs with.
pub struct SigningKey {
    kid: String,
    alg: JwsAlg,
    secret: SecretMaterial,
    public: VerifyingKey,
}

enum SecretMaterial {
    P256(Box<P256Secret>),
    Rsa(Box<RsaPrivateKey>),
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("secret", &"***")
            .finish()
    }
}

impl SigningKey {
    /// Generates a P-256 key for ES256 from the injected RNG.
    pub fn generate_es256<R: CryptoRng + ?Sized>(
        kid: &str,
        rng: &mut R,
    ) -> Result<Self, OidcError> {
        use p256::elliptic_curve::Generate;
        Self::from_p256(kid, p256::ecdsa::SigningKey::generate_from_rng(rng))
    }

    /// A P-256 key from its 32-byte scalar (as stored by the server).
    pub fn es256_from_bytes(kid: &str, scalar: &[u8]) -> Result<Self, OidcError> {
        let sk = p256::ecdsa::SigningKey::from_slice(scalar)
            .map_err(|_| OidcError::Key("invalid P-256 scalar"))?;
        Self::from_p256(kid, sk)
    }

    /// Generates an RSA key (at least 2048 bits) for RS256 or PS256. Slow: seconds, not
    /// microseconds — the server should do it off the request path.
    pub fn generate_rsa<R: CryptoRng + ?Sized>(
        kid: &str,
        alg: JwsAlg,
        bits: usize,
        rng: &mut R,
    ) -> Result<Self, OidcError> {
        if bits < MIN_RSA_BITS {
            return Err(OidcError::Key("RSA key below 2048 bits"));
        }
        let key =
            RsaPrivateKey::new(rng, bits).map_err(|_| OidcError::Key("RSA key generation"))?;
        Self::from_rsa(kid, alg, key)
    }

    /// Loads a PKCS#8 PEM private key: P-256 for ES256, RSA for RS256/PS256.
    pub fn from_pkcs8_pem(kid: &str, alg: JwsAlg, pem: &str) -> Result<Self, OidcError> {
        use rsa::pkcs8::DecodePrivateKey;
        match alg {
            JwsAlg::ES256 => {
                let sk = p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                    .map_err(|_| OidcError::Key("not a P-256 PKCS#8 key"))?;
                Self::from_p256(kid, sk)
            }
            JwsAlg::RS256 | JwsAlg::PS256 => {
                let key = RsaPrivateKey::from_pkcs8_pem(pem)
                    .map_err(|_| OidcError::Key("not an RSA PKCS#8 key"))?;
                Self::from_rsa(kid, alg, key)
            }
        }
    }

    /// Exports the private key as PKCS#8 PEM for the server's key store. Zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, OidcError> {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        match &self.secret {
            SecretMaterial::P256(p) => p.key.to_pkcs8_pem(LineEnding::LF),
            SecretMaterial::Rsa(key) => key.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|_| OidcError::Key("PKCS#8 encoding"))
    }

    /// The key ID published in the JWKS and put in every JWS header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    /// The public half, with `kid` and `alg`.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Signs `message` (the JWS signing input). ES256 ignores `rng` and signs with ring, whose
    /// nonce comes from the OS (see the module documentation); RSA uses `rng` for blinding
    /// (RS256) and the PSS salt (PS256).
    pub fn sign<R: CryptoRng + ?Sized>(
        &self,
        message: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, OidcError> {
        match (&self.secret, self.alg) {
            (SecretMaterial::P256(p), _) => p.sign(message),
            (SecretMaterial::Rsa(key), JwsAlg::PS256) => key
                .sign_with_rng(rng, Pss::<Sha256>::new(), &Sha256::digest(message))
                .map_err(|_| OidcError::Internal("RSA signing")),
            (SecretMaterial::Rsa(key), _) => key
                .sign_with_rng(rng, Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
                .map_err(|_| OidcError::Internal("RSA signing")),
        }
    }

    fn from_p256(kid: &str, sk: p256::ecdsa::SigningKey) -> Result<Self, OidcError> {
        check_kid(kid)?;
        let public = VerifyingKey {
            kid: Some(kid.to_owned()),
            alg: Some(JwsAlg::ES256),
            material: PublicMaterial::P256(*sk.verifying_key()),
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg: JwsAlg::ES256,
            secret: SecretMaterial::P256(Box::new(P256Secret::new(sk)?)),
            public,
        })
    }

    fn from_rsa(kid: &str, alg: JwsAlg, key: RsaPrivateKey) -> Result<Self, OidcError> {
        check_kid(kid)?;
        if !alg.is_rsa() {
            return Err(OidcError::Key("RSA key for a non-RSA alg"));
        }
        if key.size() * 8 < MIN_RSA_BITS {
            return Err(OidcError::Key("RSA key below 2048 bits"));
        }
        let public = VerifyingKey {
            kid: Some(kid.to_owned()),
            alg: Some(alg),
            material: PublicMaterial::Rsa(Box::new(key.to_public_key())),
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            secret: SecretMaterial::Rsa(Box::new(key)),
            public,
        })
    }
}

fn check_kid(kid: &str) -> Result<(), OidcError> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_KID
        && kid
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(OidcError::Key("kid must be 1-128 visible ASCII characters"))
    }
}

/// One P-256 private key in the two libraries' forms: `p256`'s (zeroized on drop; exports
/// PKCS#8) and ring's key pair (signs). See the module documentation.
struct P256Secret {
    key: p256::ecdsa::SigningKey,
    ring: ring::signature::EcdsaKeyPair,
}

impl P256Secret {
    #[allow(
        clippy::disallowed_methods,
        reason = "ring's SecureRandom is sealed: see the module documentation"
    )]
    fn new(key: p256::ecdsa::SigningKey) -> Result<Self, OidcError> {
        let scalar = Zeroizing::new(<[u8; 32]>::from(key.to_bytes()));
        let public = key.verifying_key().to_sec1_point(false);
        let ring = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            scalar.as_slice(),
            public.as_bytes(),
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|_| OidcError::Key("P-256 key refused by ring"))?;
        Ok(Self { key, ring })
    }

    /// The fixed-length 64-byte `r||s` JWS wants (RFC 7518 §3.4), with a hedged random
    /// nonce from the OS (see the module documentation for why not the injected RNG).
    #[allow(
        clippy::disallowed_methods,
        reason = "ring's SecureRandom is sealed: see the module documentation"
    )]
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, OidcError> {
        let sig = self
            .ring
            .sign(&ring::rand::SystemRandom::new(), message)
            .map_err(|_| OidcError::Internal("ECDSA signing"))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// The server's signing keys: one active key per algorithm, optional next keys (published
/// before use so relying parties have cached them when rotation happens), and retired
/// public keys (still published and accepted so tokens signed before a rotation verify
/// until they expire). The server decides when to rotate and when to drop retired keys;
/// this type only keeps the roles straight.
#[derive(Debug)]
pub struct KeySet {
    active: Vec<SigningKey>,
    next: Vec<SigningKey>,
    retired: Vec<VerifyingKey>,
}

impl KeySet {
    /// A key set with these active keys: at least one, at most one per algorithm, unique
    /// `kid`s.
    pub fn new(active: Vec<SigningKey>) -> Result<Self, OidcError> {
        if active.is_empty() {
            return Err(OidcError::Key("key set needs an active key"));
        }
        let set = Self {
            active: Vec::new(),
            next: Vec::new(),
            retired: Vec::new(),
        };
        active.into_iter().try_fold(set, |mut set, key| {
            if set.active.iter().any(|k| k.alg == key.alg) {
                return Err(OidcError::Key("two active keys for one alg"));
            }
            set.check_new_kid(&key.kid)?;
            set.active.push(key);
            Ok(set)
        })
    }

    /// Adds a next key: published in the JWKS now, used for signing after [`KeySet::rotate`].
    pub fn add_next(&mut self, key: SigningKey) -> Result<(), OidcError> {
        if self.next.iter().any(|k| k.alg == key.alg) {
            return Err(OidcError::Key("two next keys for one alg"));
        }
        self.check_new_kid(&key.kid)?;
        self.next.push(key);
        Ok(())
    }

    /// Adds a retired public key (published, accepted for verification, never signing).
    pub fn add_retired(&mut self, key: VerifyingKey) -> Result<(), OidcError> {
        let kid = key.kid().ok_or(OidcError::Key("retired key needs a kid"))?;
        self.check_new_kid(kid)?;
        self.retired.push(key);
        Ok(())
    }

    /// Makes the next key for `alg` active; the previously active key of that alg becomes
    /// retired (its private half is dropped and zeroized).
    pub fn rotate(&mut self, alg: JwsAlg) -> Result<(), OidcError> {
        let pos = self
            .next
            .iter()
            .position(|k| k.alg == alg)
            .ok_or(OidcError::Key("no next key for alg"))?;
        let incoming = self.next.remove(pos);
        if let Some(old) = self.active.iter().position(|k| k.alg == alg) {
            let outgoing = self.active.remove(old);
            self.retired.push(outgoing.public.clone());
        }
        self.active.push(incoming);
        Ok(())
    }

    /// Stops publishing and accepting a retired key.
    pub fn drop_retired(&mut self, kid: &str) {
        self.retired.retain(|k| k.kid() != Some(kid));
    }

    /// The active key for `alg`.
    pub fn signing_key(&self, alg: JwsAlg) -> Result<&SigningKey, OidcError> {
        self.active
            .iter()
            .find(|k| k.alg == alg)
            .ok_or(OidcError::Key("no active key for the client's alg"))
    }

    /// Any published key (active, next or retired) by `kid`.
    #[must_use]
    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.active
            .iter()
            .chain(self.next.iter())
            .map(|k| &k.public)
            .chain(self.retired.iter())
            .find(|k| k.kid() == Some(kid))
    }

    /// The algorithms there is an active key for, in advertising order.
    #[must_use]
    pub fn algs(&self) -> Vec<JwsAlg> {
        super::SUPPORTED_ALGS
            .into_iter()
            .filter(|a| self.active.iter().any(|k| k.alg == *a))
            .collect()
    }

    /// The public JWK Set: active, next and retired keys.
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .active
                .iter()
                .chain(self.next.iter())
                .map(|k| k.public.to_jwk())
                .chain(self.retired.iter().map(VerifyingKey::to_jwk))
                .collect(),
        }
    }

    /// The `jwks_uri` response. Cacheable for a few minutes: next keys are published ahead
    /// of rotation precisely so that caching is safe.
    pub fn jwks_response(&self) -> HttpResponse {
        let mut r = HttpResponse::json(200, &self.jwks());
        r.headers.retain(|(n, _)| *n == "Content-Type");
        r.push_header("Cache-Control", "public, max-age=300".to_owned());
        r
    }

    fn check_new_kid(&self, kid: &str) -> Result<(), OidcError> {
        if self.find(kid).is_some() {
            Err(OidcError::Key("duplicate kid in key set"))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::super::test_keys::*;
    use super::*;

    #[test]
    fn rfc7638_rsa_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        let key = jwk.to_verifying_key().unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // And the JWK round-trips n and e exactly.
        let back = key.to_jwk();
        assert_eq!(back.n, jwk.n);
        assert_eq!(back.e, jwk.e);
    }

    #[test]
    fn rfc9449_ec_thumbprint() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#,
        )
        .unwrap();
        let key = jwk.to_verifying_key().unwrap();
        assert_eq!(
            key.thumbprint(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        assert_eq!(key.to_jwk().x, jwk.x);
        assert_eq!(key.to_jwk().y, jwk.y);
    }

    #[test]
    fn private_members_refused() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","d":"AAAA"}"#,
        )
        .unwrap();
        assert_eq!(jwk.to_verifying_key(), Err(Rejection::PrivateKeyMaterial));
        let oct: Jwk = serde_json::from_str(r#"{"kty":"oct","k":"AAAA"}"#).unwrap();
        assert_eq!(oct.to_verifying_key(), Err(Rejection::PrivateKeyMaterial));
    }

    #[test]
    fn jwk_alg_must_fit_key_type() {
        let mut jwk = es256("k", 1).verifying_key().to_jwk();
        jwk.alg = Some("RS256".to_owned());
        assert_eq!(jwk.to_verifying_key(), Err(Rejection::AlgKeyMismatch));
        jwk.alg = Some("HS256".to_owned());
        assert_eq!(jwk.to_verifying_key(), Err(Rejection::AlgHmac));
    }

    #[test]
    fn off_curve_point_refused() {
        let mut jwk = es256("k", 1).verifying_key().to_jwk();
        jwk.y = jwk.x.clone();
        assert!(jwk.to_verifying_key().is_err());
    }

    #[test]
    fn sign_verify_all_algs() {
        let mut rng = rng();
        for key in [
            es256("e", 1),
            rsa("r", JwsAlg::RS256),
            rsa("p", JwsAlg::PS256),
        ] {
            let sig = key.sign(b"input", &mut rng).unwrap();
            let vk = key.verifying_key();
            vk.verify(key.alg(), b"input", &sig).unwrap();
            assert_eq!(
                vk.verify(key.alg(), b"inpuT", &sig),
                Err(Rejection::BadSignature)
            );
        }
    }

    #[test]
    fn es256_signed_by_ring_verifies_with_p256_and_ring() {
        let mut rng = rng();
        let key = es256("e", 5);
        let msg = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0";
        let sig = key.sign(msg, &mut rng).unwrap();
        assert_eq!(sig.len(), 64, "fixed-length r||s, not DER");
        // p256 directly, not through this crate's verifier.
        let scalar = {
            let mut s = [0x11u8; 32];
            s[31] = 5;
            s
        };
        let vk = *p256::ecdsa::SigningKey::from_slice(&scalar)
            .unwrap()
            .verifying_key();
        let p256_sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        vk.verify(msg, &p256_sig).unwrap();
        // ring's verifier, with the public point from the JWK.
        let jwk = key.verifying_key().to_jwk();
        let mut point = vec![0x04];
        point.extend(b64::decode(jwk.x.as_deref().unwrap()).unwrap());
        point.extend(b64::decode(jwk.y.as_deref().unwrap()).unwrap());
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
            .verify(msg, &sig)
            .unwrap();
        // ring's key pair holds the same public key as p256's.
        let SecretMaterial::P256(secret) = &key.secret else {
            panic!("an ES256 key")
        };
        use ring::signature::KeyPair;
        assert_eq!(secret.ring.public_key().as_ref(), point.as_slice());
    }

    #[test]
    fn es256_nonces_are_random_and_every_signature_verifies() {
        // ring signs with a hedged random nonce: the same input signs differently each time
        // (p256's RFC 6979 signatures were identical), and each verifies.
        let mut rng = rng();
        let key = es256("e", 1);
        let a = key.sign(b"m", &mut rng).unwrap();
        let b = key.sign(b"m", &mut rng).unwrap();
        assert_ne!(a, b);
        for sig in [&a, &b] {
            key.verifying_key()
                .verify(JwsAlg::ES256, b"m", sig)
                .unwrap();
        }
        // A key loaded from its PEM export signs what the original's public key verifies.
        let pem = key.to_pkcs8_pem().unwrap();
        let back = SigningKey::from_pkcs8_pem("e", JwsAlg::ES256, &pem).unwrap();
        let sig = back.sign(b"m", &mut rng).unwrap();
        key.verifying_key()
            .verify(JwsAlg::ES256, b"m", &sig)
            .unwrap();
        // So does a freshly generated one, with its own public key.
        let fresh = SigningKey::generate_es256("g", &mut rng).unwrap();
        let sig = fresh.sign(b"m", &mut rng).unwrap();
        fresh
            .verifying_key()
            .verify(JwsAlg::ES256, b"m", &sig)
            .unwrap();
        assert_eq!(
            key.verifying_key().verify(JwsAlg::ES256, b"m", &sig),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn rsa_key_does_not_verify_other_rsa_alg_when_restricted() {
        let mut rng = rng();
        let key = rsa("r", JwsAlg::RS256);
        let sig = key.sign(b"m", &mut rng).unwrap();
        assert_eq!(
            key.verifying_key().verify(JwsAlg::PS256, b"m", &sig),
            Err(Rejection::AlgKeyMismatch)
        );
        assert_eq!(
            key.verifying_key().verify(JwsAlg::ES256, b"m", &sig),
            Err(Rejection::AlgKeyMismatch)
        );
    }

    #[test]
    fn pem_round_trip() {
        let key = es256("e", 3);
        let pem = key.to_pkcs8_pem().unwrap();
        let back = SigningKey::from_pkcs8_pem("e", JwsAlg::ES256, &pem).unwrap();
        assert_eq!(back.verifying_key(), key.verifying_key());
        assert!(SigningKey::from_pkcs8_pem("x", JwsAlg::ES256, RSA_A_PEM).is_err());
        assert!(format!("{key:?}").contains("***"));
    }

    #[test]
    fn key_set_rotation() {
        let mut set = KeySet::new(vec![es256("k1", 1), rsa("r1", JwsAlg::RS256)]).unwrap();
        assert!(KeySet::new(vec![es256("a", 1), es256("b", 2)]).is_err());
        set.add_next(es256("k2", 2)).unwrap();
        assert!(set.add_next(es256("k1", 3)).is_err(), "duplicate kid");
        assert_eq!(set.signing_key(JwsAlg::ES256).unwrap().kid(), "k1");
        assert_eq!(set.jwks().keys.len(), 3);
        set.rotate(JwsAlg::ES256).unwrap();
        assert_eq!(set.signing_key(JwsAlg::ES256).unwrap().kid(), "k2");
        assert!(set.find("k1").is_some(), "retired key still verifies");
        set.drop_retired("k1");
        assert!(set.find("k1").is_none());
        assert!(set.signing_key(JwsAlg::PS256).is_err());
        assert_eq!(set.algs(), vec![JwsAlg::ES256, JwsAlg::RS256]);
        let jwks: serde_json::Value = serde_json::from_str(&set.jwks_response().body).unwrap();
        let first = &jwks["keys"][0];
        assert_eq!(first["use"], "sig");
        assert!(first.get("d").is_none());
    }
}
