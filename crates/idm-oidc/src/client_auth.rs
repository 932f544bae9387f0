//! Client authentication at the token, PAR, introspection and revocation endpoints.
//!
//! Credentials are first extracted from the request without knowing the client
//! ([`ClientCredentials::extract`]), which yields the `client_id` the server looks up;
//! then checked against the registration ([`crate::Provider::authenticate_client`]).
//!
//! - Secrets are server-generated (≥ 256 bits, [`ClientSecret::generate`]) so a plain
//!   SHA-256 digest is the right storage: there is nothing to brute-force, and a slow
//!   password hash would only make every token request slow. Digests compare in constant
//!   time.
//! - `client_secret_basic` form-urlencodes id and secret before base64 (RFC 6749 §2.3.1),
//!   so they are form-urldecoded after; many servers forget this and break clients whose
//!   secret contains `+`, `%` or `:`.
//! - A request using two methods at once is refused (RFC 6749 §2.3).
//! - `private_key_jwt` (RFC 7523 §3): `iss` = `sub` = `client_id`, `aud` one of the
//!   server's identifiers, `exp` required and near, `jti` required and returned so that the
//!   server can refuse its reuse until `exp`.

use base64ct::Encoding;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::b64;
use crate::client::{ClientAuthMethod, ClientRegistration};
use crate::error::{OidcError, Rejection};
use crate::http::RequestHeaders;
use crate::jose;
use crate::params::{Limits, Params, decode_component};

/// The only `client_assertion_type` (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client secret in the clear: only between generation and showing it once to the
/// administrator, and while checking a request. Zeroized on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// A new secret from 32 random bytes (256 bits), base64url.
    #[must_use]
    pub fn generate(random: [u8; 32]) -> Self {
        let random = Zeroizing::new(random);
        Self(Zeroizing::new(b64::encode(random.as_ref())))
    }

    /// Wraps a presented secret.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret text, to show once or to send as a client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest to store.
    #[must_use]
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl core::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// SHA-256 of a client secret, as stored. Serialised as base64url.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// From stored bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `secret` hashes to this digest, in constant time.
    #[must_use]
    pub fn matches(&self, secret: &ClientSecret) -> bool {
        secret.digest().0.ct_eq(&self.0).into()
    }
}

impl core::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

impl Serialize for SecretDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b64::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        b64::decode(&s)
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("secret digest is 32 bytes base64url"))
    }
}

/// The credentials a request presented, before the client is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `Authorization: Basic`.
    Basic {
        /// The client_id.
        client_id: String,
        /// The secret.
        secret: ClientSecret,
    },
    /// `client_id` + `client_secret` in the body.
    Post {
        /// The client_id.
        client_id: String,
        /// The secret.
        secret: ClientSecret,
    },
    /// `client_assertion` (`private_key_jwt`).
    Assertion {
        /// From `client_id`, or the assertion's `sub` when `client_id` is absent.
        client_id: String,
        /// The JWT.
        assertion: String,
    },
    /// `client_id` only: a public client.
    None {
        /// The client_id.
        client_id: String,
    },
}

impl ClientCredentials {
    /// Extracts credentials from a form body and the request headers.
    pub fn extract(
        params: &Params,
        headers: &RequestHeaders,
        limits: &Limits,
    ) -> Result<Self, OidcError> {
        let body_id = params.get("client_id");
        let body_secret = params.get("client_secret");
        let assertion = params.get("client_assertion");
        let assertion_type = params.get("client_assertion_type");
        if let Some(auth) = headers.authorization.as_deref() {
            let (client_id, secret) = parse_basic(auth, limits)?;
            if body_secret.is_some() || assertion.is_some() || assertion_type.is_some() {
                return Err(OidcError::Malformed(
                    "more than one client authentication method",
                ));
            }
            if body_id.is_some_and(|id| id != client_id) {
                return Err(OidcError::ClientAuthentication { basic: true });
            }
            return Ok(Self::Basic { client_id, secret });
        }
        match (assertion_type, assertion) {
            (Some(JWT_BEARER_ASSERTION), Some(assertion)) => {
                if body_secret.is_some() {
                    return Err(OidcError::Malformed(
                        "more than one client authentication method",
                    ));
                }
                let sub = assertion_subject(assertion, limits)?;
                if body_id.is_some_and(|id| id != sub) {
                    return Err(OidcError::InvalidClientAssertion(Rejection::WrongSubject));
                }
                return Ok(Self::Assertion {
                    client_id: sub,
                    assertion: assertion.to_owned(),
                });
            }
            (Some(JWT_BEARER_ASSERTION), None) => {
                return Err(OidcError::MissingParameter("client_assertion"));
            }
            (Some(_), _) => return Err(OidcError::InvalidParameter("client_assertion_type")),
            (None, Some(_)) => return Err(OidcError::MissingParameter("client_assertion_type")),
            (None, None) => {}
        }
        let client_id = body_id
            .ok_or(OidcError::ClientAuthentication { basic: false })?
            .to_owned();
        Ok(match body_secret {
            Some(secret) => Self::Post {
                client_id,
                secret: ClientSecret::new(secret.to_owned()),
            },
            None => Self::None { client_id },
        })
    }

    /// The `client_id` to look up.
    #[must_use]
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::Assertion { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    /// Whether the client used HTTP Basic (decides 401 versus 400 on failure).
    #[must_use]
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }

    /// The error for "no such client", shaped by how the client tried to authenticate.
    #[must_use]
    pub fn unknown_client_error(&self) -> OidcError {
        OidcError::ClientAuthentication {
            basic: self.used_basic(),
        }
    }
}

/// A client that passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct AuthenticatedClient {
    /// The client.
    pub client_id: String,
    /// The method used (`client_secret_basic`, ...).
    pub method: &'static str,
    /// For `private_key_jwt`: the assertion's `jti` and `exp`. The server must refuse a
    /// second use of the same `jti` (per client) until `exp`.
    pub assertion: Option<AssertionUse>,
}

/// A used client assertion, for the server's single-use check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionUse {
    /// `jti`.
    pub jti: String,
    /// `exp`: the server may forget the `jti` after this.
    pub expires_at: i64,
}

/// Accepted `aud` values and time rules for client assertions.
pub(crate) struct AssertionPolicy<'a> {
    pub audiences: &'a [&'a str],
    pub max_lifetime: i64,
    pub skew: i64,
    pub max_bytes: usize,
}

pub(crate) fn authenticate(
    creds: &ClientCredentials,
    client: &ClientRegistration,
    policy: &AssertionPolicy<'_>,
    now: i64,
) -> Result<AuthenticatedClient, OidcError> {
    let fail = OidcError::ClientAuthentication {
        basic: creds.used_basic(),
    };
    if creds.client_id() != client.client_id {
        return Err(fail);
    }
    let ok = |method: &'static str, assertion| AuthenticatedClient {
        client_id: client.client_id.clone(),
        method,
        assertion,
    };
    match (&client.auth_method, creds) {
        // A client with a secret may send it either way (as Keycloak and most providers
        // allow): the secret is the credential, the transport is the client library's choice.
        (
            ClientAuthMethod::ClientSecretBasic { secret_digest }
            | ClientAuthMethod::ClientSecretPost { secret_digest },
            ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. },
        ) => {
            if secret_digest.matches(secret) {
                let method = if creds.used_basic() {
                    "client_secret_basic"
                } else {
                    "client_secret_post"
                };
                Ok(ok(method, None))
            } else {
                Err(fail)
            }
        }
        (
            ClientAuthMethod::PrivateKeyJwt { jwks },
            ClientCredentials::Assertion { assertion, .. },
        ) => {
            let used = verify_assertion(assertion, &client.client_id, jwks, policy, now)
                .map_err(OidcError::InvalidClientAssertion)?;
            Ok(ok("private_key_jwt", Some(used)))
        }
        (ClientAuthMethod::None, ClientCredentials::None { .. }) => Ok(ok("none", None)),
        _ => Err(fail),
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

/// `aud` as a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains_any(&self, accepted: &[&str]) -> bool {
        match self {
            Self::One(a) => accepted.contains(&a.as_str()),
            Self::Many(v) => v.iter().any(|a| accepted.contains(&a.as_str())),
        }
    }
}

/// Longest `jti` accepted (bounds the server's replay cache entries).
const MAX_JTI: usize = 256;

fn verify_assertion(
    assertion: &str,
    client_id: &str,
    jwks: &jose::Jwks,
    policy: &AssertionPolicy<'_>,
    now: i64,
) -> Result<AssertionUse, Rejection> {
    let jws = jose::decode(assertion, policy.max_bytes)?;
    let key = jwks.select(jws.header().kid.as_deref(), jws.header().alg)?;
    let payload = jws.verify(key)?;
    let claims: AssertionClaims =
        serde_json::from_slice(payload).map_err(|_| Rejection::Malformed)?;
    if claims.iss != client_id || claims.sub != client_id {
        return Err(Rejection::WrongSubject);
    }
    if !claims.aud.contains_any(policy.audiences) {
        return Err(Rejection::WrongAudience);
    }
    if claims.exp <= now - policy.skew {
        return Err(Rejection::Expired);
    }
    if claims.exp - now > policy.max_lifetime {
        return Err(Rejection::LifetimeTooLong);
    }
    if claims.nbf.is_some_and(|t| t > now + policy.skew)
        || claims.iat.is_some_and(|t| t > now + policy.skew)
    {
        return Err(Rejection::NotYetValid);
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(Rejection::MissingClaim);
    }
    Ok(AssertionUse {
        jti: claims.jti,
        expires_at: claims.exp,
    })
}

/// The `sub` of an assertion, read before verification only to find the client.
fn assertion_subject(assertion: &str, limits: &Limits) -> Result<String, OidcError> {
    #[derive(Deserialize)]
    struct Sub {
        sub: String,
    }
    let jws = jose::decode(assertion, limits.max_token_bytes)
        .map_err(OidcError::InvalidClientAssertion)?;
    let sub: Sub = serde_json::from_slice(jws.payload_unverified())
        .map_err(|_| OidcError::InvalidClientAssertion(Rejection::MissingClaim))?;
    Ok(sub.sub)
}

/// Parses `Basic base64(urlencode(id):urlencode(secret))`.
fn parse_basic(header: &str, limits: &Limits) -> Result<(String, ClientSecret), OidcError> {
    let bad = OidcError::ClientAuthentication { basic: true };
    let (scheme, rest) = header
        .split_once(' ')
        .ok_or(OidcError::Malformed("Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OidcError::Malformed("unsupported Authorization scheme"));
    }
    let decoded =
        Zeroizing::new(base64ct::Base64::decode_vec(rest.trim()).map_err(|_| bad.clone())?);
    let text = core::str::from_utf8(&decoded).map_err(|_| bad.clone())?;
    let (id, secret) = text.split_once(':').ok_or(bad.clone())?;
    let id = decode_component(id.as_bytes(), limits.max_value_bytes, "client_id")
        .map_err(|_| bad.clone())?;
    let secret = Zeroizing::new(
        decode_component(secret.as_bytes(), limits.max_value_bytes, "client_secret")
            .map_err(|_| bad.clone())?,
    );
    if id.is_empty() {
        return Err(bad);
    }
    Ok((id, ClientSecret::new(secret.to_string())))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::jose::test_keys::*;
    use crate::jose::{Jwks, sign_compact};

    const AUDS: &[&str] = &["https://idm.example", "https://idm.example/oauth2/token"];

    fn policy() -> AssertionPolicy<'static> {
        AssertionPolicy {
            audiences: AUDS,
            max_lifetime: 300,
            skew: 30,
            max_bytes: 8192,
        }
    }

    fn headers(auth: &str) -> RequestHeaders {
        RequestHeaders {
            authorization: Some(auth.to_owned()),
            dpop: None,
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        let encoded = format!(
            "{}:{}",
            crate::params::encode_pairs([("", id)]).trim_start_matches('='),
            crate::params::encode_pairs([("", secret)]).trim_start_matches('=')
        );
        format!(
            "Basic {}",
            base64ct::Base64::encode_string(encoded.as_bytes())
        )
    }

    fn params(s: &str) -> Params {
        Params::parse_strict(s.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn secret_generation_and_digest() {
        let s = ClientSecret::generate([7; 32]);
        assert_eq!(s.expose().len(), 43);
        assert!(s.digest().matches(&s));
        assert!(!s.digest().matches(&ClientSecret::new("x".to_owned())));
        assert_eq!(format!("{s:?}"), "ClientSecret(***)");
        let j = serde_json::to_string(&s.digest()).unwrap();
        let back: SecretDigest = serde_json::from_str(&j).unwrap();
        assert_eq!(back, s.digest());
    }

    #[test]
    fn basic_is_form_urldecoded() {
        // RFC 6749 §2.3.1: a secret with ':' '+' '%' and a space survives the round trip.
        let secret = "a:b+c%d e";
        let h = headers(&basic("my client", secret));
        let c = ClientCredentials::extract(&params(""), &h, &Limits::default()).unwrap();
        match c {
            ClientCredentials::Basic {
                client_id,
                secret: s,
            } => {
                assert_eq!(client_id, "my client");
                assert_eq!(s.expose(), secret);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_methods_refused() {
        let h = headers(&basic("c", "s"));
        let r = ClientCredentials::extract(&params("client_secret=s"), &h, &Limits::default());
        assert!(matches!(r, Err(OidcError::Malformed(_))));
        let r = ClientCredentials::extract(&params("client_id=other"), &h, &Limits::default());
        assert_eq!(r, Err(OidcError::ClientAuthentication { basic: true }));
    }

    #[test]
    fn post_and_none() {
        let none = RequestHeaders::default();
        let c = ClientCredentials::extract(
            &params("client_id=c&client_secret=s"),
            &none,
            &Limits::default(),
        )
        .unwrap();
        assert!(matches!(c, ClientCredentials::Post { .. }));
        let c =
            ClientCredentials::extract(&params("client_id=c"), &none, &Limits::default()).unwrap();
        assert_eq!(
            c,
            ClientCredentials::None {
                client_id: "c".to_owned()
            }
        );
        let r = ClientCredentials::extract(&params(""), &none, &Limits::default());
        assert_eq!(r, Err(OidcError::ClientAuthentication { basic: false }));
    }

    #[test]
    fn a_secret_works_in_either_transport_and_only_the_right_one() {
        let secret = ClientSecret::generate([1; 32]);
        let client =
            ClientRegistration::confidential("c", secret.digest(), vec!["https://a/cb".to_owned()]);
        let basic_creds = ClientCredentials::Basic {
            client_id: "c".to_owned(),
            secret: secret.clone(),
        };
        let a = authenticate(&basic_creds, &client, &policy(), 0).unwrap();
        assert_eq!(a.method, "client_secret_basic");
        let post = ClientCredentials::Post {
            client_id: "c".to_owned(),
            secret: secret.clone(),
        };
        let p = authenticate(&post, &client, &policy(), 0).unwrap();
        assert_eq!(p.method, "client_secret_post");
        let wrong = ClientCredentials::Basic {
            client_id: "c".to_owned(),
            secret: ClientSecret::generate([2; 32]),
        };
        assert_eq!(
            authenticate(&wrong, &client, &policy(), 0),
            Err(OidcError::ClientAuthentication { basic: true })
        );
        let none = ClientCredentials::None {
            client_id: "c".to_owned(),
        };
        assert!(authenticate(&none, &client, &policy(), 0).is_err());
    }

    fn jwt_client() -> (ClientRegistration, crate::jose::SigningKey) {
        let key = es256("client-key", 9);
        let mut client =
            ClientRegistration::confidential("svc", SecretDigest::from_bytes([0; 32]), vec![]);
        client.auth_method = ClientAuthMethod::PrivateKeyJwt {
            jwks: Jwks::from_keys(vec![key.verifying_key().clone()]),
        };
        (client, key)
    }

    fn assertion(key: &crate::jose::SigningKey, claims: serde_json::Value) -> String {
        sign_compact(key, None, claims.to_string().as_bytes(), &mut rng()).unwrap()
    }

    #[test]
    fn private_key_jwt() {
        let (client, key) = jwt_client();
        let now = 1_000_000;
        let good = serde_json::json!({"iss":"svc","sub":"svc","aud":AUDS[1],"exp":now+60,"iat":now,"jti":"j1"});
        let a = assertion(&key, good.clone());
        let form = format!(
            "client_assertion_type={}&client_assertion={a}",
            crate::params::encode_pairs([("", JWT_BEARER_ASSERTION)]).trim_start_matches('=')
        );
        let creds = ClientCredentials::extract(
            &params(&form),
            &RequestHeaders::default(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(creds.client_id(), "svc");
        let ok = authenticate(&creds, &client, &policy(), now).unwrap();
        assert_eq!(
            ok.assertion,
            Some(AssertionUse {
                jti: "j1".to_owned(),
                expires_at: now + 60
            })
        );

        let check = |claims: serde_json::Value, signer: &crate::jose::SigningKey| {
            let creds = ClientCredentials::Assertion {
                client_id: "svc".to_owned(),
                assertion: assertion(signer, claims),
            };
            authenticate(&creds, &client, &policy(), now)
        };
        let mut c = good.clone();
        c["aud"] = serde_json::json!(["https://elsewhere", AUDS[0]]);
        assert!(check(c, &key).is_ok(), "array aud with our issuer");
        let mut c = good.clone();
        c["aud"] = "https://elsewhere".into();
        assert_eq!(
            check(c, &key),
            Err(OidcError::InvalidClientAssertion(Rejection::WrongAudience))
        );
        let mut c = good.clone();
        c["sub"] = "other".into();
        assert_eq!(
            check(c, &key),
            Err(OidcError::InvalidClientAssertion(Rejection::WrongSubject))
        );
        let mut c = good.clone();
        c["exp"] = (now - 100).into();
        assert_eq!(
            check(c, &key),
            Err(OidcError::InvalidClientAssertion(Rejection::Expired))
        );
        let mut c = good.clone();
        c["exp"] = (now + 3600).into();
        assert_eq!(
            check(c, &key),
            Err(OidcError::InvalidClientAssertion(
                Rejection::LifetimeTooLong
            ))
        );
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove("jti");
        assert_eq!(
            check(c, &key),
            Err(OidcError::InvalidClientAssertion(Rejection::Malformed))
        );
        // Signed by a key that is not registered.
        assert_eq!(
            check(good.clone(), &es256("client-key", 10)),
            Err(OidcError::InvalidClientAssertion(Rejection::BadSignature))
        );
        assert_eq!(
            check(good, &es256("other-kid", 9)),
            Err(OidcError::InvalidClientAssertion(Rejection::UnknownKid))
        );
    }
}
