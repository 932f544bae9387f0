//! Claims: what the server tells this crate about a user and a login, and what the crate
//! puts in ID tokens (OIDC Core §2, §5.1), JWT access tokens (RFC 9068) and userinfo.
//!
//! Which claims appear is decided by scope — `openid` gives `sub`, `profile` gives
//! `name`/`preferred_username`/`updated_at`, `email` gives `email`/`email_verified`,
//! `groups` gives `groups` (names or UUIDs per client) — plus the application-profile
//! claims every token carries so that applications can rely on them whatever they asked
//! for: `tenant`, `principal_type`, `roles`, `scope` and `assurance`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::client::{ClientRegistration, GroupsClaim};
use crate::error::Rejection;
use crate::jose::{self, KeySet};
use crate::scope::{EMAIL, GROUPS, PROFILE, ScopeSet};

/// A group the user is a (transitive) member of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRef {
    /// The group's name.
    pub name: String,
    /// The group's stable UUID, as a string.
    pub uuid: String,
}

/// A person or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    /// A human.
    Person,
    /// A service account (the subject of `client_credentials`).
    Service,
}

/// How strongly the user authenticated, as one value applications can branch on without
/// parsing `amr`/`acr`. Only `password` is produced today; the others are reserved so that
/// adding MFA and passkeys changes values, not the claim's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Assurance {
    /// A password (or, for services, a client secret or key).
    Password,
    /// A password and a second factor.
    Mfa,
    /// A phishing-resistant authenticator (passkey, hardware key).
    PhishingResistant,
}

/// What the server knows about the user right now, looked up by subject on each token or
/// userinfo request (so that renamed users and changed memberships show up in the next
/// token, not only after a new login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    /// The stable subject: the user's UUID as a string. Never a name, which can change.
    pub subject: String,
    /// Person or service.
    pub principal_type: PrincipalType,
    /// Display name.
    pub name: Option<String>,
    /// Login name.
    pub preferred_username: Option<String>,
    /// Last profile change, unix seconds.
    pub updated_at: Option<i64>,
    /// Primary email.
    pub email: Option<String>,
    /// Whether it was verified.
    pub email_verified: bool,
    /// Group memberships (transitive).
    pub groups: Vec<GroupRef>,
    /// Application roles.
    pub roles: Vec<String>,
}

impl UserClaims {
    /// The group names, for scope and claim maps.
    #[must_use]
    pub fn group_names(&self) -> Vec<&str> {
        self.groups.iter().map(|g| g.name.as_str()).collect()
    }
}

/// The result of the user's login, from the server's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// The user's subject (UUID string).
    pub subject: String,
    /// When the user authenticated, unix seconds.
    pub auth_time: i64,
    /// Authentication methods (RFC 8176: `pwd`, `otp`, `hwk`, ...).
    pub amr: Vec<String>,
    /// Authentication context class, if the server assigns one.
    pub acr: Option<String>,
    /// The application-profile assurance level.
    pub assurance: Assurance,
    /// The login session ID, as `sid` (for logout).
    pub session_id: String,
}

/// `cnf` (RFC 7800) with the DPoP key thumbprint (RFC 9449 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// JWK SHA-256 thumbprint of the DPoP key.
    pub jkt: String,
}

/// Claims released by scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedClaims {
    /// `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `groups`: names or UUIDs per client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl ScopedClaims {
    /// The claims `scopes` release for `user`, for `client`'s group format.
    #[must_use]
    pub fn for_scopes(user: &UserClaims, scopes: &ScopeSet, client: &ClientRegistration) -> Self {
        let mut c = Self::default();
        if scopes.contains(PROFILE) {
            c.name.clone_from(&user.name);
            c.preferred_username.clone_from(&user.preferred_username);
            c.updated_at = user.updated_at;
        }
        if scopes.contains(EMAIL) && user.email.is_some() {
            c.email.clone_from(&user.email);
            c.email_verified = Some(user.email_verified);
        }
        if scopes.contains(GROUPS) {
            c.groups = Some(
                user.groups
                    .iter()
                    .map(|g| match client.groups_claim {
                        GroupsClaim::Names => g.name.clone(),
                        GroupsClaim::Uuids => g.uuid.clone(),
                    })
                    .collect(),
            );
        }
        c
    }
}

/// Claims of the application profile, in every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileClaims {
    /// The configured tenant.
    pub tenant: String,
    /// Person or service.
    pub principal_type: PrincipalType,
    /// Application roles.
    pub roles: Vec<String>,
    /// The granted scopes.
    pub scope: String,
    /// Authentication strength.
    pub assurance: Assurance,
}

/// ID token claims (OIDC Core §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject (UUID string).
    pub sub: String,
    /// The client.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The request's nonce, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authorized party: the client (single audience, but RPs and FAPI expect it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Login session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Authentication context class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Left half of SHA-256 of the access token, base64url (OIDC Core §3.3.2.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Claims by scope.
    #[serde(flatten)]
    pub scoped: ScopedClaims,
    /// Application-profile claims.
    #[serde(flatten)]
    pub profile: ProfileClaims,
    /// Claim-map claims.
    #[serde(flatten)]
    pub custom: BTreeMap<String, serde_json::Value>,
}

/// JWT access token claims (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject (UUID string).
    pub sub: String,
    /// Resource audience.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Token ID, for revocation lists.
    pub jti: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Authentication context class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Login session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// DPoP binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Claims by scope.
    #[serde(flatten)]
    pub scoped: ScopedClaims,
    /// Application-profile claims (including `scope`).
    #[serde(flatten)]
    pub profile: ProfileClaims,
    /// Claim-map claims.
    #[serde(flatten)]
    pub custom: BTreeMap<String, serde_json::Value>,
}

impl AccessTokenClaims {
    /// The granted scopes.
    #[must_use]
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::try_from(self.profile.scope.clone()).unwrap_or_default()
    }

    /// The DPoP key thumbprint the token is bound to.
    #[must_use]
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }
}

/// `typ` of JWT access tokens (RFC 9068 §2.1), which keeps an ID token from being accepted
/// as an access token and the other way round.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Claim-map output as JSON values.
pub(crate) fn custom_claims(
    client: &ClientRegistration,
    user: &UserClaims,
) -> BTreeMap<String, serde_json::Value> {
    client
        .claim_map
        .claims(&user.group_names())
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::from(v)))
        .collect()
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token's ASCII (the hash
/// of every profile algorithm is SHA-256).
pub(crate) fn at_hash(access_token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(access_token.as_bytes());
    crate::b64::encode(digest.get(..16).unwrap_or_default())
}

/// What every JWT verification checks beyond the signature.
pub(crate) struct JwtCheck<'a> {
    pub typ: &'a str,
    pub issuer: &'a str,
    pub now: i64,
    pub skew: i64,
    /// `false` for `id_token_hint`, which may be expired (OIDC RP-Initiated Logout §2).
    pub check_exp: bool,
    pub max_bytes: usize,
}

pub(crate) trait RegisteredClaims {
    fn iss(&self) -> &str;
    fn exp(&self) -> i64;
    fn iat(&self) -> i64;
}

impl RegisteredClaims for IdTokenClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn exp(&self) -> i64 {
        self.exp
    }
    fn iat(&self) -> i64 {
        self.iat
    }
}

impl RegisteredClaims for AccessTokenClaims {
    fn iss(&self) -> &str {
        &self.iss
    }
    fn exp(&self) -> i64 {
        self.exp
    }
    fn iat(&self) -> i64 {
        self.iat
    }
}

/// Verifies one of our own JWTs: `kid` required and found in the key set, signature,
/// `typ`, `iss`, `exp`/`iat`.
pub(crate) fn verify_own_jwt<T: DeserializeOwned + RegisteredClaims>(
    token: &str,
    keys: &KeySet,
    check: &JwtCheck<'_>,
) -> Result<T, Rejection> {
    let jws = jose::decode(token, check.max_bytes)?;
    let kid = jws.header().kid.as_deref().ok_or(Rejection::MissingKid)?;
    let key = keys.find(kid).ok_or(Rejection::UnknownKid)?;
    let payload = jws.verify(key)?;
    if !jose::typ_matches(jws.header().typ.as_deref(), check.typ) {
        return Err(Rejection::WrongType);
    }
    let claims: T = serde_json::from_slice(payload).map_err(|_| Rejection::Malformed)?;
    if claims.iss() != check.issuer {
        return Err(Rejection::WrongIssuer);
    }
    if check.check_exp && claims.exp() <= check.now {
        return Err(Rejection::Expired);
    }
    if claims.iat() > check.now + check.skew {
        return Err(Rejection::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::client::ClientRegistration;
    use crate::client_auth::SecretDigest;

    pub(crate) fn alice() -> UserClaims {
        UserClaims {
            subject: "8f6c1a52-0b6e-4d2c-9a0e-2f1d7c3b4a5e".to_owned(),
            principal_type: PrincipalType::Person,
            name: Some("Alice Example".to_owned()),
            preferred_username: Some("alice".to_owned()),
            updated_at: Some(1_700_000_000),
            email: Some("alice@example.com".to_owned()),
            email_verified: true,
            groups: vec![GroupRef {
                name: "staff".to_owned(),
                uuid: "2b0f6a1e-0000-4000-8000-000000000001".to_owned(),
            }],
            roles: vec!["editor".to_owned()],
        }
    }

    #[test]
    fn claims_by_scope() {
        let mut client =
            ClientRegistration::confidential("c", SecretDigest::from_bytes([0; 32]), vec![]);
        let user = alice();
        let only_openid = ScopeSet::from_tokens(["openid"]).unwrap();
        assert_eq!(
            ScopedClaims::for_scopes(&user, &only_openid, &client),
            ScopedClaims::default()
        );
        let all = ScopeSet::from_tokens(["openid", "profile", "email", "groups"]).unwrap();
        let c = ScopedClaims::for_scopes(&user, &all, &client);
        assert_eq!(c.preferred_username.as_deref(), Some("alice"));
        assert_eq!(c.email_verified, Some(true));
        assert_eq!(c.groups, Some(vec!["staff".to_owned()]));
        client.groups_claim = GroupsClaim::Uuids;
        let c = ScopedClaims::for_scopes(&user, &all, &client);
        assert_eq!(
            c.groups,
            Some(vec!["2b0f6a1e-0000-4000-8000-000000000001".to_owned()])
        );
    }

    #[test]
    fn assurance_wire_names() {
        assert_eq!(
            serde_json::to_string(&Assurance::PhishingResistant).unwrap(),
            "\"phishing_resistant\""
        );
        assert_eq!(
            serde_json::to_string(&Assurance::Password).unwrap(),
            "\"password\""
        );
        assert_eq!(
            serde_json::to_string(&PrincipalType::Service).unwrap(),
            "\"service\""
        );
    }

    #[test]
    fn at_hash_is_left_half() {
        // OIDC Core §3.3.2.11 construction, checked against an independent computation.
        let h = at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y");
        assert_eq!(h.len(), 22);
        assert_eq!(h, "77QmUPtjPfzWtF2AnpK9RQ");
    }

    fn id_claims(exp: i64) -> IdTokenClaims {
        IdTokenClaims {
            iss: "https://idm.example.com".to_owned(),
            sub: "s".to_owned(),
            aud: "app".to_owned(),
            exp,
            iat: 900,
            auth_time: None,
            nonce: None,
            azp: None,
            sid: None,
            acr: None,
            amr: None,
            at_hash: None,
            scoped: ScopedClaims::default(),
            profile: ProfileClaims {
                tenant: "t".to_owned(),
                principal_type: PrincipalType::Person,
                roles: vec![],
                scope: "openid".to_owned(),
                assurance: Assurance::Password,
            },
            custom: BTreeMap::new(),
        }
    }

    fn check(now: i64) -> JwtCheck<'static> {
        JwtCheck {
            typ: ID_TOKEN_TYP,
            issuer: "https://idm.example.com",
            now,
            skew: 30,
            check_exp: true,
            max_bytes: 8192,
        }
    }

    #[test]
    fn own_jwt_refusals() {
        use crate::jose::test_keys::*;
        use crate::jose::{JwsAlg, sign_compact_with_header, sign_jwt};
        let mut rng = rng();
        let mut keys = KeySet::new(vec![es256("k1", 1), rsa("r1", JwsAlg::PS256)]).unwrap();
        let good = sign_jwt(
            keys.signing_key(JwsAlg::ES256).unwrap(),
            ID_TOKEN_TYP,
            &id_claims(2000),
            &mut rng,
        )
        .unwrap();
        assert!(verify_own_jwt::<IdTokenClaims>(&good, &keys, &check(1000)).is_ok());
        let ps = sign_jwt(
            keys.signing_key(JwsAlg::PS256).unwrap(),
            ID_TOKEN_TYP,
            &id_claims(2000),
            &mut rng,
        )
        .unwrap();
        assert!(verify_own_jwt::<IdTokenClaims>(&ps, &keys, &check(1000)).is_ok());
        // Expired.
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&good, &keys, &check(2000)).err(),
            Some(Rejection::Expired)
        );
        // Wrong kid: signed by a key the set does not hold.
        let stranger = sign_jwt(&es256("k9", 9), ID_TOKEN_TYP, &id_claims(2000), &mut rng).unwrap();
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&stranger, &keys, &check(1000)).err(),
            Some(Rejection::UnknownKid)
        );
        // Right kid, wrong key.
        let impostor = sign_jwt(&es256("k1", 9), ID_TOKEN_TYP, &id_claims(2000), &mut rng).unwrap();
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&impostor, &keys, &check(1000)).err(),
            Some(Rejection::BadSignature)
        );
        // No kid.
        let payload = serde_json::to_vec(&id_claims(2000)).unwrap();
        let no_kid = sign_compact_with_header(
            keys.signing_key(JwsAlg::ES256).unwrap(),
            &serde_json::json!({"alg":"ES256","typ":"JWT"}),
            &payload,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&no_kid, &keys, &check(1000)).err(),
            Some(Rejection::MissingKid)
        );
        // An RS256 header pointing at the EC key.
        let confused = sign_compact_with_header(
            keys.signing_key(JwsAlg::PS256).unwrap(),
            &serde_json::json!({"alg":"RS256","typ":"JWT","kid":"k1"}),
            &payload,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&confused, &keys, &check(1000)).err(),
            Some(Rejection::AlgKeyMismatch)
        );
        // Another issuer.
        let mut other = id_claims(2000);
        other.iss = "https://evil.example".to_owned();
        let t = sign_jwt(
            keys.signing_key(JwsAlg::ES256).unwrap(),
            ID_TOKEN_TYP,
            &other,
            &mut rng,
        )
        .unwrap();
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&t, &keys, &check(1000)).err(),
            Some(Rejection::WrongIssuer)
        );
        // After rotation, tokens of the retired key still verify; after dropping it, not.
        keys.add_next(es256("k2", 2)).unwrap();
        keys.rotate(JwsAlg::ES256).unwrap();
        assert!(verify_own_jwt::<IdTokenClaims>(&good, &keys, &check(1000)).is_ok());
        keys.drop_retired("k1");
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(&good, &keys, &check(1000)).err(),
            Some(Rejection::UnknownKid)
        );
    }

    #[test]
    fn claims_round_trip_with_custom_claims() {
        let mut c = id_claims(2000);
        c.scoped.email = Some("a@example.com".to_owned());
        c.custom.insert(
            "permissions".to_owned(),
            serde_json::json!(["read", "write"]),
        );
        let json = serde_json::to_string(&c).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["permissions"], serde_json::json!(["read", "write"]));
        assert_eq!(v["tenant"], "t");
        assert!(v.get("name").is_none());
        let back: IdTokenClaims = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            back.custom.len(),
            1,
            "known claims are not swallowed by the custom map"
        );
    }
}
