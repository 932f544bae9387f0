//! Endpoints that take tokens: userinfo (OIDC Core §5.3) with Bearer (RFC 6750) or DPoP
//! (RFC 9449 §7) access tokens, introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Token state the crate cannot know — whether an access token's `jti` was revoked,
//! what a refresh family currently looks like — is looked up by the server between
//! [`Provider::verify_resource_request`] / [`Provider::classify_token`] and the call
//! that builds the response.

use serde::Serialize;

use crate::claims::{
    ACCESS_TOKEN_TYP, AccessTokenClaims, Confirmation, JwtCheck, ProfileClaims, ScopedClaims,
    UserClaims, custom_claims, verify_own_jwt,
};
use crate::client::ClientRegistration;
use crate::client_auth::{AuthenticatedClient, ClientCredentials};
use crate::dpop::{DpopCheck, DpopProof};
use crate::error::{OidcError, Rejection};
use crate::grant::{FamilyId, RefreshFamily, RefreshToken};
use crate::http::{HttpResponse, RequestHeaders};
use crate::jose::KeySet;
use crate::params::{Limits, Params};
use crate::provider::Provider;
use crate::scope::OPENID;

/// The `Authorization` scheme of a resource request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Bearer` (RFC 6750).
    Bearer,
    /// `DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// An access token presented at a resource endpoint, from the headers only: tokens in
/// query strings or form bodies (RFC 6750 §2.2–2.3) leak into logs and are not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    /// The scheme.
    pub scheme: AuthScheme,
    /// The access token.
    pub access_token: String,
    /// The DPoP proof header.
    pub dpop_proof: Option<String>,
}

impl ResourceRequest {
    /// Reads `Authorization: Bearer|DPoP <token>` and `DPoP`.
    pub fn from_headers(headers: &RequestHeaders, limits: &Limits) -> Result<Self, OidcError> {
        let auth = headers
            .authorization
            .as_deref()
            .ok_or(OidcError::InvalidToken(Rejection::NoToken))?;
        let (scheme, token) = auth
            .split_once(' ')
            .ok_or(OidcError::InvalidToken(Rejection::Malformed))?;
        let scheme = if scheme.eq_ignore_ascii_case("bearer") {
            AuthScheme::Bearer
        } else if scheme.eq_ignore_ascii_case("dpop") {
            AuthScheme::Dpop
        } else {
            return Err(OidcError::InvalidToken(Rejection::Malformed));
        };
        let token = token.trim();
        // RFC 6750 §2.1 b64token characters.
        let token68 = !token.is_empty()
            && token.len() <= limits.max_token_bytes
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
        if !token68 {
            return Err(OidcError::InvalidToken(Rejection::Malformed));
        }
        if scheme == AuthScheme::Dpop && headers.dpop.is_none() {
            return Err(OidcError::InvalidDpopProof(Rejection::ProofRequired));
        }
        Ok(Self {
            scheme,
            access_token: token.to_owned(),
            dpop_proof: headers.dpop.clone(),
        })
    }
}

/// A verified access token at a resource endpoint.
#[derive(Debug, Clone)]
#[must_use]
pub struct VerifiedAccess {
    /// The token's claims.
    pub claims: AccessTokenClaims,
    /// The verified DPoP proof, for DPoP-bound tokens: enforce its `jti` single use.
    pub dpop: Option<DpopProof>,
    /// The scheme used (for error responses).
    pub scheme: AuthScheme,
}

/// A token presented to introspection or revocation, classified.
#[derive(Debug, Clone)]
pub enum PresentedToken {
    /// One of our access tokens (signature valid; may be expired).
    Access(Box<AccessTokenClaims>),
    /// Shaped like one of our refresh tokens: look up its family.
    Refresh(RefreshToken),
    /// Not ours.
    Unrecognized,
}

/// An introspection request (RFC 7662 §2.1).
#[derive(Debug, Clone)]
pub struct IntrospectionRequest {
    /// The caller's credentials.
    pub credentials: ClientCredentials,
    /// The token.
    pub token: String,
    /// The optional hint (ignored: the token's shape says what it is).
    pub token_type_hint: Option<String>,
}

/// A revocation request (RFC 7009 §2.1).
#[derive(Debug, Clone)]
pub struct RevocationRequest {
    /// The caller's credentials.
    pub credentials: ClientCredentials,
    /// The token.
    pub token: String,
    /// The optional hint (ignored).
    pub token_type_hint: Option<String>,
}

fn parse_token_form(
    body: &[u8],
    headers: &RequestHeaders,
    limits: &Limits,
) -> Result<(ClientCredentials, String, Option<String>), OidcError> {
    let p = Params::parse_strict(body, limits)?;
    let credentials = ClientCredentials::extract(&p, headers, limits)?;
    let token = p
        .owned("token")
        .ok_or(OidcError::MissingParameter("token"))?;
    Ok((credentials, token, p.owned("token_type_hint")))
}

impl IntrospectionRequest {
    /// Parses the form body.
    pub fn parse(
        body: &[u8],
        headers: &RequestHeaders,
        limits: &Limits,
    ) -> Result<Self, OidcError> {
        let (credentials, token, token_type_hint) = parse_token_form(body, headers, limits)?;
        Ok(Self {
            credentials,
            token,
            token_type_hint,
        })
    }
}

impl RevocationRequest {
    /// Parses the form body.
    pub fn parse(
        body: &[u8],
        headers: &RequestHeaders,
        limits: &Limits,
    ) -> Result<Self, OidcError> {
        let (credentials, token, token_type_hint) = parse_token_form(body, headers, limits)?;
        Ok(Self {
            credentials,
            token,
            token_type_hint,
        })
    }
}

/// What a revocation request asks the server to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum RevocationTarget {
    /// Add the `jti` to the revocation list until `expires_at`.
    AccessToken {
        /// The token's `jti`.
        jti: String,
        /// When the list may forget it.
        expires_at: i64,
    },
    /// Revoke the family — after checking [`RefreshFamily::owned_by`] the caller; if
    /// another client owns it, answer `unauthorized_client` (RFC 7009 §2.1).
    RefreshFamily(FamilyId),
    /// Unknown, invalid or already expired: nothing to do, still answer 200 (RFC 7009 §2.2).
    Nothing,
}

#[derive(Serialize)]
struct UserinfoBody<'a> {
    sub: &'a str,
    #[serde(flatten)]
    scoped: ScopedClaims,
    #[serde(flatten)]
    profile: ProfileClaims,
    #[serde(flatten)]
    custom: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct IntrospectionBody<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<&'a Confirmation>,
}

fn inactive() -> IntrospectionBody<'static> {
    IntrospectionBody {
        active: false,
        scope: None,
        client_id: None,
        token_type: None,
        exp: None,
        iat: None,
        sub: None,
        aud: None,
        iss: None,
        jti: None,
        cnf: None,
    }
}

impl Provider {
    fn access_check(&self, now: i64, check_exp: bool) -> JwtCheck<'_> {
        JwtCheck {
            typ: ACCESS_TOKEN_TYP,
            issuer: self.issuer(),
            now,
            skew: self.config().clock_skew,
            check_exp,
            max_bytes: self.config().limits.max_token_bytes,
        }
    }

    /// Verifies the access token of a resource request and, for DPoP-bound tokens, the
    /// proof (`htm`, `htu`, `ath`, key = `cnf.jkt`). A DPoP-bound token sent as Bearer is
    /// refused (the binding would be pointless otherwise), as is a bearer token sent with
    /// the DPoP scheme.
    pub fn verify_resource_request(
        &self,
        request: &ResourceRequest,
        keys: &KeySet,
        method: &str,
        url: &str,
        expected_dpop_nonce: Option<&str>,
        now: i64,
    ) -> Result<VerifiedAccess, OidcError> {
        let claims: AccessTokenClaims =
            verify_own_jwt(&request.access_token, keys, &self.access_check(now, true))
                .map_err(OidcError::InvalidToken)?;
        let dpop = match (claims.jkt(), request.scheme) {
            (Some(jkt), AuthScheme::Dpop) => {
                let proof = request
                    .dpop_proof
                    .as_deref()
                    .ok_or(OidcError::InvalidDpopProof(Rejection::ProofRequired))?;
                let check = DpopCheck {
                    method,
                    url,
                    access_token: Some(&request.access_token),
                    expected_nonce: expected_dpop_nonce,
                };
                let verified = self.verify_dpop(proof, &check, now)?;
                if verified.jkt != jkt {
                    return Err(OidcError::InvalidToken(Rejection::KeyBindingMismatch));
                }
                Some(verified)
            }
            (Some(_), AuthScheme::Bearer) => {
                return Err(OidcError::InvalidToken(Rejection::ProofRequired));
            }
            (None, AuthScheme::Dpop) => {
                return Err(OidcError::InvalidToken(Rejection::KeyBindingMismatch));
            }
            (None, AuthScheme::Bearer) => None,
        };
        Ok(VerifiedAccess {
            claims,
            dpop,
            scheme: request.scheme,
        })
    }

    /// The userinfo response from a verified token and the user's current claims. The
    /// token must carry `openid`; `revoked` is the server's revocation-list answer for the
    /// token's `jti`.
    pub fn userinfo(
        &self,
        access: &VerifiedAccess,
        revoked: bool,
        user: &UserClaims,
        client: &ClientRegistration,
    ) -> Result<HttpResponse, OidcError> {
        if revoked {
            return Err(OidcError::InvalidToken(Rejection::Revoked));
        }
        let claims = &access.claims;
        if user.subject != claims.sub || client.client_id != claims.client_id {
            return Err(OidcError::Internal(
                "userinfo lookups do not match the token",
            ));
        }
        let scopes = claims.scopes();
        if !scopes.contains(OPENID) {
            return Err(OidcError::InsufficientScope("openid"));
        }
        let body = UserinfoBody {
            sub: &claims.sub,
            scoped: ScopedClaims::for_scopes(user, &scopes, client),
            profile: ProfileClaims {
                tenant: self.config().tenant.clone(),
                principal_type: user.principal_type,
                roles: user.roles.clone(),
                scope: claims.profile.scope.clone(),
                assurance: claims.profile.assurance,
            },
            custom: custom_claims(client, user),
        };
        Ok(HttpResponse::json(200, &body))
    }

    /// Classifies a token for introspection or revocation. Access tokens are verified
    /// (signature, issuer, type) but may be expired.
    pub fn classify_token(&self, token: &str, keys: &KeySet, now: i64) -> PresentedToken {
        if let Ok(refresh) = RefreshToken::parse(token) {
            return PresentedToken::Refresh(refresh);
        }
        match verify_own_jwt::<AccessTokenClaims>(token, keys, &self.access_check(now, false)) {
            Ok(claims) => PresentedToken::Access(Box::new(claims)),
            Err(_) => PresentedToken::Unrecognized,
        }
    }

    /// The RFC 7662 response. A caller learns about an access token only if it is the
    /// token's client or audience, and about a refresh token only if it owns it; anything
    /// else is `{"active": false}`, like an unknown token.
    pub fn introspection_response(
        &self,
        token: &PresentedToken,
        access_revoked: bool,
        family: Option<&RefreshFamily>,
        caller: &AuthenticatedClient,
        now: i64,
    ) -> HttpResponse {
        let body = match token {
            PresentedToken::Access(c)
                if !access_revoked
                    && c.exp > now
                    && (c.client_id == caller.client_id || c.aud == caller.client_id) =>
            {
                IntrospectionBody {
                    active: true,
                    scope: Some(c.profile.scope.clone()),
                    client_id: Some(&c.client_id),
                    token_type: Some(if c.cnf.is_some() { "DPoP" } else { "Bearer" }),
                    exp: Some(c.exp),
                    iat: Some(c.iat),
                    sub: Some(&c.sub),
                    aud: Some(&c.aud),
                    iss: Some(self.issuer()),
                    jti: Some(&c.jti),
                    cnf: c.cnf.as_ref(),
                }
            }
            PresentedToken::Refresh(t) => match family {
                Some(f)
                    if f.id == t.family_id()
                        && f.is_current(t)
                        && f.is_active(now)
                        && f.owned_by(&caller.client_id) =>
                {
                    IntrospectionBody {
                        active: true,
                        scope: Some(f.scopes.to_scope_string()),
                        client_id: Some(&f.client_id),
                        token_type: Some("refresh_token"),
                        exp: Some(f.current_expires_at.min(f.expires_at)),
                        iat: None,
                        sub: Some(&f.subject),
                        aud: None,
                        iss: Some(self.issuer()),
                        jti: None,
                        cnf: None,
                    }
                }
                _ => inactive(),
            },
            _ => inactive(),
        };
        HttpResponse::json(200, &body)
    }

    /// What a revocation request revokes. Access tokens of another client are refused.
    pub fn revocation_target(
        &self,
        request: &RevocationRequest,
        caller: &AuthenticatedClient,
        keys: &KeySet,
        now: i64,
    ) -> Result<RevocationTarget, OidcError> {
        match self.classify_token(&request.token, keys, now) {
            PresentedToken::Refresh(t) => Ok(RevocationTarget::RefreshFamily(t.family_id())),
            PresentedToken::Access(c) if c.client_id != caller.client_id => Err(
                OidcError::UnauthorizedClient("revoking another client's token"),
            ),
            PresentedToken::Access(c) if c.exp <= now => Ok(RevocationTarget::Nothing),
            PresentedToken::Access(c) => Ok(RevocationTarget::AccessToken {
                jti: c.jti,
                expires_at: c.exp,
            }),
            PresentedToken::Unrecognized => Ok(RevocationTarget::Nothing),
        }
    }
}

/// The revocation endpoint's success response: 200, empty (RFC 7009 §2.2).
pub fn revocation_response() -> HttpResponse {
    let mut r = HttpResponse::empty(200);
    r.push_header("Cache-Control", "no-store".to_owned());
    r
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::authorize::tests::{client, provider, user};
    use crate::claims::Assurance;
    use crate::dpop::create_proof;
    use crate::grant::TokenHash;
    use crate::jose::test_keys::*;
    use crate::jose::{JwsAlg, sign_jwt};
    use crate::scope::ScopeSet;

    fn keys() -> KeySet {
        KeySet::new(vec![es256("es", 1)]).unwrap()
    }

    fn claims(jkt: Option<&str>) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://idm.example.com".to_owned(),
            sub: user().subject,
            aud: "api".to_owned(),
            client_id: "app".to_owned(),
            jti: "jti-1".to_owned(),
            exp: 2000,
            iat: 1000,
            auth_time: Some(990),
            acr: None,
            amr: None,
            sid: None,
            cnf: jkt.map(|j| Confirmation { jkt: j.to_owned() }),
            scoped: ScopedClaims::default(),
            profile: ProfileClaims {
                tenant: "acme".to_owned(),
                principal_type: crate::claims::PrincipalType::Person,
                roles: vec![],
                scope: "openid email".to_owned(),
                assurance: Assurance::Password,
            },
            custom: Default::default(),
        }
    }

    fn mint(c: &AccessTokenClaims) -> String {
        sign_jwt(
            keys().signing_key(JwsAlg::ES256).unwrap(),
            ACCESS_TOKEN_TYP,
            c,
            &mut rng(),
        )
        .unwrap()
    }

    fn headers(auth: &str, dpop: Option<&str>) -> RequestHeaders {
        RequestHeaders {
            authorization: Some(auth.to_owned()),
            dpop: dpop.map(str::to_owned),
        }
    }

    const URL: &str = "https://idm.example.com/userinfo";

    #[test]
    fn bearer_userinfo() {
        let p = provider();
        let token = mint(&claims(None));
        let req = ResourceRequest::from_headers(
            &headers(&format!("Bearer {token}"), None),
            &Limits::default(),
        )
        .unwrap();
        let v = p
            .verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
            .unwrap();
        let r = p.userinfo(&v, false, &user(), &client()).unwrap();
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["sub"], user().subject);
        assert_eq!(body["email"], "alice@example.com");
        assert!(body.get("name").is_none(), "profile scope not granted");
        assert_eq!(body["tenant"], "acme");
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        assert_eq!(
            p.userinfo(&v, true, &user(), &client()).unwrap_err(),
            OidcError::InvalidToken(Rejection::Revoked)
        );
        // Expired.
        let e = p
            .verify_resource_request(&req, &keys(), "GET", URL, None, 2000)
            .unwrap_err();
        assert_eq!(e, OidcError::InvalidToken(Rejection::Expired));
        let resp = e.resource_response(AuthScheme::Bearer);
        assert_eq!(resp.status, 401);
        assert!(
            resp.header("WWW-Authenticate")
                .unwrap()
                .starts_with("Bearer realm=\"idm\", error=\"invalid_token\"")
        );
        // Without openid.
        let mut no_openid = claims(None);
        no_openid.profile.scope = "email".to_owned();
        let token = mint(&no_openid);
        let req = ResourceRequest::from_headers(
            &headers(&format!("Bearer {token}"), None),
            &Limits::default(),
        )
        .unwrap();
        let v = p
            .verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
            .unwrap();
        let e = p.userinfo(&v, false, &user(), &client()).unwrap_err();
        assert_eq!(e.resource_response(AuthScheme::Bearer).status, 403);
    }

    #[test]
    fn dpop_userinfo() {
        let p = provider();
        let dkey = es256("dpop", 7);
        let jkt = dkey.verifying_key().thumbprint();
        let token = mint(&claims(Some(&jkt)));
        let proof = create_proof(
            &dkey,
            "GET",
            URL,
            Some(&token),
            None,
            "p1",
            1500,
            &mut rng(),
        )
        .unwrap();
        let req = ResourceRequest::from_headers(
            &headers(&format!("DPoP {token}"), Some(&proof)),
            &Limits::default(),
        )
        .unwrap();
        let v = p
            .verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
            .unwrap();
        assert_eq!(v.dpop.as_ref().unwrap().jti, "p1");
        // Downgrade to Bearer refused.
        let req = ResourceRequest::from_headers(
            &headers(&format!("Bearer {token}"), Some(&proof)),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            p.verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
                .unwrap_err(),
            OidcError::InvalidToken(Rejection::ProofRequired)
        );
        // Proof by another key.
        let other = es256("x", 8);
        let proof = create_proof(
            &other,
            "GET",
            URL,
            Some(&token),
            None,
            "p2",
            1500,
            &mut rng(),
        )
        .unwrap();
        let req = ResourceRequest::from_headers(
            &headers(&format!("DPoP {token}"), Some(&proof)),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            p.verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
                .unwrap_err(),
            OidcError::InvalidToken(Rejection::KeyBindingMismatch)
        );
        // Wrong method.
        let proof = create_proof(
            &dkey,
            "POST",
            URL,
            Some(&token),
            None,
            "p3",
            1500,
            &mut rng(),
        )
        .unwrap();
        let req = ResourceRequest::from_headers(
            &headers(&format!("DPoP {token}"), Some(&proof)),
            &Limits::default(),
        )
        .unwrap();
        let e = p
            .verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
            .unwrap_err();
        assert_eq!(e, OidcError::InvalidDpopProof(Rejection::WrongMethod));
        assert!(
            e.resource_response(AuthScheme::Dpop)
                .header("WWW-Authenticate")
                .unwrap()
                .starts_with("DPoP ")
        );
        // DPoP scheme without the header.
        assert_eq!(
            ResourceRequest::from_headers(
                &headers(&format!("DPoP {token}"), None),
                &Limits::default()
            )
            .unwrap_err(),
            OidcError::InvalidDpopProof(Rejection::ProofRequired)
        );
        // A bearer token with the DPoP scheme.
        let bearer = mint(&claims(None));
        let proof = create_proof(
            &dkey,
            "GET",
            URL,
            Some(&bearer),
            None,
            "p4",
            1500,
            &mut rng(),
        )
        .unwrap();
        let req = ResourceRequest::from_headers(
            &headers(&format!("DPoP {bearer}"), Some(&proof)),
            &Limits::default(),
        )
        .unwrap();
        assert!(
            p.verify_resource_request(&req, &keys(), "GET", URL, None, 1500)
                .is_err()
        );
    }

    #[test]
    fn header_parsing() {
        let l = Limits::default();
        assert!(ResourceRequest::from_headers(&RequestHeaders::default(), &l).is_err());
        assert!(ResourceRequest::from_headers(&headers("Basic abc", None), &l).is_err());
        assert!(ResourceRequest::from_headers(&headers("Bearer a\"b", None), &l).is_err());
        assert!(ResourceRequest::from_headers(&headers("bearer abc", None), &l).is_ok());
    }

    fn caller(id: &str) -> AuthenticatedClient {
        AuthenticatedClient {
            client_id: id.to_owned(),
            method: "client_secret_basic",
            assertion: None,
        }
    }

    #[test]
    fn introspection() {
        let p = provider();
        let token = mint(&claims(None));
        let presented = p.classify_token(&token, &keys(), 1500);
        let body = |r: HttpResponse| serde_json::from_str::<serde_json::Value>(&r.body).unwrap();
        let b = body(p.introspection_response(&presented, false, None, &caller("api"), 1500));
        assert_eq!(b["active"], true);
        assert_eq!(b["scope"], "openid email");
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(
            body(p.introspection_response(&presented, true, None, &caller("api"), 1500))["active"],
            false
        );
        assert_eq!(
            body(p.introspection_response(&presented, false, None, &caller("api"), 2000))["active"],
            false
        );
        let b = body(p.introspection_response(&presented, false, None, &caller("stranger"), 1500));
        assert_eq!(b, serde_json::json!({"active": false}));
        assert!(matches!(
            p.classify_token("garbage", &keys(), 1500),
            PresentedToken::Unrecognized
        ));

        let id = FamilyId::generate([1; 16]);
        let rt = RefreshToken::mint(&id, [2; 32]);
        let fam = RefreshFamily {
            id: id.clone(),
            client_id: "app".to_owned(),
            subject: "s".to_owned(),
            scopes: ScopeSet::from_tokens(["openid"]).unwrap(),
            auth_time: 0,
            amr: vec![],
            acr: None,
            assurance: Assurance::Password,
            session_id: "x".to_owned(),
            dpop_jkt: None,
            created_at: 0,
            expires_at: 5000,
            generation: 0,
            current_hash: rt.hash(),
            current_expires_at: 3000,
            revoked: false,
        };
        let presented = p.classify_token(rt.as_str(), &keys(), 1500);
        let b = body(p.introspection_response(&presented, false, Some(&fam), &caller("app"), 1500));
        assert_eq!(b["active"], true);
        assert_eq!(b["scope"], "openid");
        assert_eq!(b["exp"], 3000);
        let stale = RefreshFamily {
            current_hash: TokenHash([0; 32]),
            ..fam.clone()
        };
        assert_eq!(
            body(p.introspection_response(&presented, false, Some(&stale), &caller("app"), 1500))["active"],
            false
        );
        assert_eq!(
            body(p.introspection_response(&presented, false, Some(&fam), &caller("api"), 1500))["active"],
            false
        );
    }

    #[test]
    fn revocation() {
        let p = provider();
        let token = mint(&claims(None));
        let parse = |t: &str| {
            RevocationRequest::parse(
                crate::params::encode_pairs([("token", t), ("client_id", "app")]).as_bytes(),
                &RequestHeaders::default(),
                &Limits::default(),
            )
            .unwrap()
        };
        assert_eq!(
            p.revocation_target(&parse(&token), &caller("app"), &keys(), 1500)
                .unwrap(),
            RevocationTarget::AccessToken {
                jti: "jti-1".to_owned(),
                expires_at: 2000
            }
        );
        assert!(
            p.revocation_target(&parse(&token), &caller("other"), &keys(), 1500)
                .is_err()
        );
        assert_eq!(
            p.revocation_target(&parse(&token), &caller("app"), &keys(), 2500)
                .unwrap(),
            RevocationTarget::Nothing
        );
        assert_eq!(
            p.revocation_target(&parse("junk"), &caller("app"), &keys(), 1500)
                .unwrap(),
            RevocationTarget::Nothing
        );
        let id = FamilyId::generate([1; 16]);
        let rt = RefreshToken::mint(&id, [2; 32]);
        assert_eq!(
            p.revocation_target(&parse(rt.as_str()), &caller("app"), &keys(), 1500)
                .unwrap(),
            RevocationTarget::RefreshFamily(id)
        );
        assert_eq!(revocation_response().status, 200);
    }
}
