//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; OIDC Core §3.1.3).
//!
//! The server's handler:
//! 1. [`TokenRequest::parse`] the form body and headers (unknown and out-of-profile
//!    grant types are refused here, with their [`crate::ErrorClass`]).
//! 2. Look up the client by [`TokenRequest::client_id`], call
//!    [`Provider::authenticate_client`], enforce the assertion `jti` single use.
//! 3. If [`TokenRequest::dpop_proof`] is set, [`Provider::verify_dpop`] and enforce its
//!    `jti` single use.
//! 4. Fill a [`GrantLookup`]: for a code, *atomically mark it redeemed* and say whether
//!    it already was; for a refresh token, load the family by
//!    [`crate::RefreshToken::family_id`]. Load the user's current claims by subject (for
//!    `client_credentials`, the client's service account).
//! 5. [`Provider::token`] → store [`TokenIssued::refresh_family`] (compare-and-swap on
//!    [`TokenIssued::replaces_generation`]) and send [`TokenIssued::response`]; or, on
//!    [`TokenRejected`], carry out [`TokenRejected::revoke`] and send its response.

use rand_core::CryptoRng;
use serde::Serialize;

use crate::b64;
use crate::claims::{
    ACCESS_TOKEN_TYP, AccessTokenClaims, Assurance, Confirmation, ID_TOKEN_TYP, IdTokenClaims,
    ProfileClaims, ScopedClaims, UserClaims, at_hash, custom_claims,
};
use crate::client::{ClientKind, ClientRegistration, RefreshPolicy};
use crate::client_auth::{AuthenticatedClient, ClientCredentials};
use crate::dpop::DpopProof;
use crate::error::{ErrorClass, ErrorCode, OidcError, Rejection};
use crate::grant::{AuthorizationCode, CodeGrant, CodeKey, FamilyId, RefreshFamily, RefreshToken};
use crate::http::{HttpResponse, RequestHeaders};
use crate::jose::{self, KeySet};
use crate::params::{Limits, Params};
use crate::provider::Provider;
use crate::scope::{OFFLINE_ACCESS, OPENID, ScopeSet};

/// A parsed token request.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Client credentials.
    pub credentials: ClientCredentials,
    /// The grant.
    pub grant: GrantRequest,
    /// The `DPoP` header.
    pub dpop_proof: Option<String>,
}

/// The grant types of the profile.
#[derive(Debug, Clone)]
pub enum GrantRequest {
    /// `authorization_code`.
    AuthorizationCode {
        /// The code.
        code: AuthorizationCode,
        /// Must repeat the authorization request's.
        redirect_uri: Option<String>,
        /// PKCE verifier.
        code_verifier: Option<String>,
    },
    /// `refresh_token`.
    RefreshToken {
        /// The token.
        token: RefreshToken,
        /// A narrower scope, optionally.
        scope: Option<ScopeSet>,
    },
    /// `client_credentials`.
    ClientCredentials {
        /// Requested scope; the client's allowed API scopes when absent.
        scope: Option<ScopeSet>,
    },
}

impl TokenRequest {
    /// Parses a token request form body with its headers. Repeated parameters are
    /// refused.
    pub fn parse(
        body: &[u8],
        headers: &RequestHeaders,
        limits: &Limits,
    ) -> Result<Self, OidcError> {
        let p = Params::parse_strict(body, limits)?;
        let grant = parse_grant(&p, limits)?;
        let credentials = ClientCredentials::extract(&p, headers, limits)?;
        Ok(Self {
            credentials,
            grant,
            dpop_proof: headers.dpop.clone(),
        })
    }

    /// The `client_id` to look up.
    #[must_use]
    pub fn client_id(&self) -> &str {
        self.credentials.client_id()
    }
}

fn parse_grant(p: &Params, limits: &Limits) -> Result<GrantRequest, OidcError> {
    let outside = |class, feature| OidcError::OutsideProfile {
        code: ErrorCode::UnsupportedGrantType,
        class,
        feature,
    };
    let scope = |p: &Params| {
        p.get("scope")
            .map(|s| ScopeSet::parse(s, limits))
            .transpose()
    };
    match p
        .get("grant_type")
        .ok_or(OidcError::MissingParameter("grant_type"))?
    {
        "authorization_code" => Ok(GrantRequest::AuthorizationCode {
            code: AuthorizationCode::from_request(
                p.get("code").ok_or(OidcError::MissingParameter("code"))?,
            )?,
            redirect_uri: p.owned("redirect_uri"),
            code_verifier: p.owned("code_verifier"),
        }),
        "refresh_token" => Ok(GrantRequest::RefreshToken {
            token: RefreshToken::parse(
                p.get("refresh_token")
                    .ok_or(OidcError::MissingParameter("refresh_token"))?,
            )?,
            scope: scope(p)?,
        }),
        "client_credentials" => Ok(GrantRequest::ClientCredentials { scope: scope(p)? }),
        "password" => Err(outside(
            ErrorClass::RejectedForProfileSafety,
            "password_grant",
        )),
        "urn:ietf:params:oauth:grant-type:device_code" => Err(outside(
            ErrorClass::AvailableInKeycloakModeOnly,
            "device_flow",
        )),
        "urn:ietf:params:oauth:grant-type:token-exchange" => Err(outside(
            ErrorClass::AvailableInKeycloakModeOnly,
            "token_exchange",
        )),
        "urn:openid:params:grant-type:ciba" => {
            Err(outside(ErrorClass::AvailableInKeycloakModeOnly, "ciba"))
        }
        "urn:ietf:params:oauth:grant-type:uma-ticket" => {
            Err(outside(ErrorClass::AvailableInKeycloakModeOnly, "uma"))
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => Err(outside(
            ErrorClass::FeatureNotSupportedByProfile,
            "jwt_bearer_grant",
        )),
        "urn:ietf:params:oauth:grant-type:saml2-bearer" => Err(outside(
            ErrorClass::FeatureNotSupportedByProfile,
            "saml2_bearer_grant",
        )),
        "implicit" => Err(outside(
            ErrorClass::RejectedForProfileSafety,
            "implicit_flow",
        )),
        _ => Err(outside(
            ErrorClass::FeatureNotSupportedByProfile,
            "unknown_grant_type",
        )),
    }
}

/// What the server looked up for the grant.
#[derive(Debug, Clone, Copy)]
pub enum GrantLookup<'a> {
    /// For `authorization_code`: the stored grant (`None` if unknown), and whether it had
    /// already been redeemed before this request (the server marks it redeemed before
    /// calling [`Provider::token`], atomically).
    Code {
        /// The stored grant.
        grant: Option<&'a CodeGrant>,
        /// It was redeemed before.
        already_redeemed: bool,
    },
    /// For `refresh_token`: the family (`None` if unknown).
    Refresh {
        /// The stored family.
        family: Option<&'a RefreshFamily>,
    },
    /// For `client_credentials`: nothing.
    ClientCredentials,
}

/// Everything [`Provider::token`] needs besides the request.
#[derive(Debug, Clone, Copy)]
pub struct TokenContext<'a> {
    /// The client's registration.
    pub client: &'a ClientRegistration,
    /// The result of [`Provider::authenticate_client`].
    pub authenticated: &'a AuthenticatedClient,
    /// The grant looked up.
    pub lookup: GrantLookup<'a>,
    /// The subject's current claims (the user of the code or refresh family; the service
    /// account for `client_credentials`); `None` if the subject no longer exists or is
    /// disabled.
    pub user: Option<&'a UserClaims>,
    /// The verified DPoP proof, if one was sent.
    pub dpop: Option<&'a DpopProof>,
    /// Signing keys.
    pub keys: &'a KeySet,
    /// Now, unix seconds.
    pub now: i64,
}

/// Tokens issued.
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenIssued {
    /// The JSON token response with `Cache-Control: no-store`.
    pub response: HttpResponse,
    /// The subject.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// The access token's `jti` (for revocation lists and audit).
    pub access_token_jti: String,
    /// The access token's expiry.
    pub access_token_expires_at: i64,
    /// A refresh family to store: a new one after a code exchange, the rotated one after a
    /// refresh.
    pub refresh_family: Option<RefreshFamily>,
    /// For a rotation: store `refresh_family` only if the stored family is still at this
    /// generation (otherwise a concurrent use won the race: answer `invalid_grant`).
    pub replaces_generation: Option<u64>,
    /// Whether an ID token was issued.
    pub id_token_issued: bool,
}

/// A refused token request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct TokenRejected {
    /// The error.
    pub error: OidcError,
    /// What the server must revoke because of it (replay detection).
    pub revoke: Option<Revoke>,
}

/// Revocations demanded by replay detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// The code was redeemed twice: revoke every token issued from it (RFC 6749 §4.1.2 /
    /// §10.5) — the refresh family and access token `jti` the server recorded with the
    /// code.
    TokensFromCode(CodeKey),
    /// A rotated refresh token came back: revoke the whole family.
    Family(FamilyId),
}

impl TokenRejected {
    /// The error response.
    pub fn response(&self) -> HttpResponse {
        self.error.json_response()
    }
}

impl From<OidcError> for TokenRejected {
    fn from(error: OidcError) -> Self {
        Self {
            error,
            revoke: None,
        }
    }
}

#[derive(Serialize)]
struct TokenResponseBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

/// Facts about the login behind a grant.
struct Login<'a> {
    subject: &'a str,
    auth_time: Option<i64>,
    amr: &'a [String],
    acr: Option<&'a str>,
    assurance: Assurance,
    session_id: Option<&'a str>,
    nonce: Option<&'a str>,
}

impl Provider {
    /// Runs the token endpoint for a parsed request and the records the server looked up.
    pub fn token<R: CryptoRng + ?Sized>(
        &self,
        request: &TokenRequest,
        ctx: TokenContext<'_>,
        rng: &mut R,
    ) -> Result<TokenIssued, TokenRejected> {
        let client = ctx.client;
        if ctx.authenticated.client_id != client.client_id
            || request.client_id() != client.client_id
        {
            return Err(OidcError::Internal("authenticated client and registration differ").into());
        }
        if client.require_dpop && ctx.dpop.is_none() {
            return Err(OidcError::InvalidDpopProof(Rejection::ProofRequired).into());
        }
        match (&request.grant, ctx.lookup) {
            (
                GrantRequest::AuthorizationCode {
                    code,
                    redirect_uri,
                    code_verifier,
                },
                GrantLookup::Code {
                    grant,
                    already_redeemed,
                },
            ) => self.code_grant(
                code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                grant,
                already_redeemed,
                &ctx,
                rng,
            ),
            (GrantRequest::RefreshToken { token, scope }, GrantLookup::Refresh { family }) => {
                self.refresh_grant(token, scope.as_ref(), family, &ctx, rng)
            }
            (GrantRequest::ClientCredentials { scope }, GrantLookup::ClientCredentials) => self
                .client_credentials_grant(scope.as_ref(), &ctx, rng)
                .map_err(Into::into),
            _ => Err(OidcError::Internal("grant lookup does not match the grant type").into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn code_grant<R: CryptoRng + ?Sized>(
        &self,
        code: &AuthorizationCode,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        grant: Option<&CodeGrant>,
        already_redeemed: bool,
        ctx: &TokenContext<'_>,
        rng: &mut R,
    ) -> Result<TokenIssued, TokenRejected> {
        let client = ctx.client;
        let grant = grant.ok_or(OidcError::InvalidGrant("unknown authorization code"))?;
        if grant.client_id != client.client_id {
            return Err(OidcError::InvalidGrant("code was issued to another client").into());
        }
        if already_redeemed {
            return Err(TokenRejected {
                error: OidcError::InvalidGrant("authorization code already used"),
                revoke: Some(Revoke::TokensFromCode(code.storage_key())),
            });
        }
        if ctx.now >= grant.expires_at {
            return Err(OidcError::InvalidGrant("authorization code expired").into());
        }
        match redirect_uri {
            None => return Err(OidcError::MissingParameter("redirect_uri").into()),
            Some(uri) if uri != grant.redirect_uri => {
                return Err(OidcError::InvalidGrant("redirect_uri does not match").into());
            }
            Some(_) => {}
        }
        match (&grant.code_challenge, verifier) {
            (Some(challenge), Some(v)) => challenge.verify(v)?,
            (Some(_), None) => return Err(OidcError::InvalidGrant("code_verifier missing").into()),
            // A verifier for a code issued without a challenge is a PKCE downgrade attempt.
            (None, Some(_)) => {
                return Err(OidcError::InvalidGrant("code was issued without PKCE").into());
            }
            (None, None) if client.pkce_required() => {
                return Err(OidcError::InvalidGrant("code was issued without PKCE").into());
            }
            (None, None) => {}
        }
        check_binding(grant.dpop_jkt.as_deref(), ctx.dpop)?;
        let user = current_user(ctx.user, &grant.subject)?;
        let login = Login {
            subject: &grant.subject,
            auth_time: Some(grant.auth_time),
            amr: &grant.amr,
            acr: grant.acr.as_deref(),
            assurance: grant.assurance,
            session_id: Some(&grant.session_id),
            nonce: grant.nonce.as_deref(),
        };
        let jkt = ctx.dpop.map(|p| p.jkt.as_str());
        let family = if issues_refresh(client, &grant.scopes, jkt.is_some()) {
            let mut id = [0u8; 16];
            rng.fill_bytes(&mut id);
            let lifetimes = &client.lifetimes;
            Some(RefreshFamily {
                id: FamilyId::generate(id),
                client_id: client.client_id.clone(),
                subject: grant.subject.clone(),
                scopes: grant.scopes.clone(),
                auth_time: grant.auth_time,
                amr: grant.amr.clone(),
                acr: grant.acr.clone(),
                assurance: grant.assurance,
                session_id: grant.session_id.clone(),
                dpop_jkt: jkt.map(str::to_owned),
                created_at: ctx.now,
                expires_at: ctx.now + lifetimes.refresh_absolute,
                generation: 0,
                current_hash: crate::grant::TokenHash([0; 32]),
                current_expires_at: (ctx.now + lifetimes.refresh_idle)
                    .min(ctx.now + lifetimes.refresh_absolute),
                revoked: false,
            })
        } else {
            None
        };
        self.issue(&login, user, &grant.scopes, family, None, ctx, rng)
            .map_err(Into::into)
    }

    fn refresh_grant<R: CryptoRng + ?Sized>(
        &self,
        token: &RefreshToken,
        scope: Option<&ScopeSet>,
        family: Option<&RefreshFamily>,
        ctx: &TokenContext<'_>,
        rng: &mut R,
    ) -> Result<TokenIssued, TokenRejected> {
        let family = family
            .filter(|f| f.id == token.family_id())
            .ok_or(OidcError::InvalidGrant("unknown refresh token"))?;
        let revoke_family = |why| TokenRejected {
            error: OidcError::InvalidGrant(why),
            revoke: Some(Revoke::Family(family.id.clone())),
        };
        if !family.owned_by(&ctx.client.client_id) {
            // Someone else's token: it leaked.
            return Err(revoke_family("refresh token was issued to another client"));
        }
        if !family.is_current(token) {
            return Err(revoke_family("refresh token already used"));
        }
        if !family.is_active(ctx.now) {
            return Err(OidcError::InvalidGrant("refresh token expired or revoked").into());
        }
        check_binding(family.dpop_jkt.as_deref(), ctx.dpop)?;
        let scopes = match scope {
            Some(s) if !s.is_subset(&family.scopes) => {
                return Err(OidcError::InvalidScope(
                    s.difference(&family.scopes).to_scope_string(),
                )
                .into());
            }
            Some(s) => s.clone(),
            None => family.scopes.clone(),
        };
        let user = current_user(ctx.user, &family.subject)?;
        // Memberships may have changed since the login: re-apply the scope map.
        let scopes = ctx
            .client
            .scope_map
            .permitted(&scopes, &user.group_names())
            .map_err(|_| revoke_family("user is no longer permitted for this client"))?;
        let login = Login {
            subject: &family.subject,
            auth_time: Some(family.auth_time),
            amr: &family.amr,
            acr: family.acr.as_deref(),
            assurance: family.assurance,
            session_id: Some(&family.session_id),
            nonce: None,
        };
        let mut next = family.clone();
        next.generation += 1;
        next.current_expires_at =
            (ctx.now + ctx.client.lifetimes.refresh_idle).min(family.expires_at);
        self.issue(
            &login,
            user,
            &scopes,
            Some(next),
            Some(family.generation),
            ctx,
            rng,
        )
        .map_err(Into::into)
    }

    fn client_credentials_grant<R: CryptoRng + ?Sized>(
        &self,
        scope: Option<&ScopeSet>,
        ctx: &TokenContext<'_>,
        rng: &mut R,
    ) -> Result<TokenIssued, OidcError> {
        let client = ctx.client;
        if !client.allow_client_credentials || client.kind != ClientKind::Confidential {
            return Err(OidcError::UnauthorizedClient("client_credentials"));
        }
        let api_scopes = client
            .allowed_scopes
            .difference(&ScopeSet::from_tokens([OPENID, OFFLINE_ACCESS])?);
        let scopes = match scope {
            Some(s) if s.contains(OPENID) || s.contains(OFFLINE_ACCESS) => {
                return Err(OidcError::InvalidScope(
                    "openid and offline_access need a user".to_owned(),
                ));
            }
            Some(s) if !s.is_subset(&api_scopes) => {
                return Err(OidcError::InvalidScope(
                    s.difference(&api_scopes).to_scope_string(),
                ));
            }
            Some(s) => s.clone(),
            None => api_scopes,
        };
        let service = ctx.user.ok_or(OidcError::UnauthorizedClient(
            "client_credentials without a service account",
        ))?;
        let login = Login {
            subject: &service.subject,
            auth_time: None,
            amr: &[],
            acr: None,
            assurance: Assurance::Password,
            session_id: None,
            nonce: None,
        };
        self.issue(&login, service, &scopes, None, None, ctx, rng)
    }

    /// Mints the access token, the ID token (when `openid` was granted) and the refresh
    /// token (when `family` is given), and renders the response.
    #[allow(clippy::too_many_arguments)]
    fn issue<R: CryptoRng + ?Sized>(
        &self,
        login: &Login<'_>,
        user: &UserClaims,
        scopes: &ScopeSet,
        family: Option<RefreshFamily>,
        replaces_generation: Option<u64>,
        ctx: &TokenContext<'_>,
        rng: &mut R,
    ) -> Result<TokenIssued, OidcError> {
        let client = ctx.client;
        let key = ctx.keys.signing_key(client.signing_alg)?;
        let now = ctx.now;
        let jkt = ctx.dpop.map(|p| p.jkt.clone());
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let jti = b64::encode(&jti);
        let scope = scopes.to_scope_string();
        let scoped = ScopedClaims::for_scopes(user, scopes, client);
        let profile = ProfileClaims {
            tenant: self.config().tenant.clone(),
            principal_type: user.principal_type,
            roles: user.roles.clone(),
            scope: scope.clone(),
            assurance: login.assurance,
        };
        let custom = custom_claims(client, user);
        let amr = (!login.amr.is_empty()).then(|| login.amr.to_vec());
        let access_expires = now + client.lifetimes.access;
        let access_claims = AccessTokenClaims {
            iss: self.issuer().to_owned(),
            sub: login.subject.to_owned(),
            aud: client.access_token_audience().to_owned(),
            client_id: client.client_id.clone(),
            jti: jti.clone(),
            exp: access_expires,
            iat: now,
            auth_time: login.auth_time,
            acr: login.acr.map(str::to_owned),
            amr: amr.clone(),
            sid: login.session_id.map(str::to_owned),
            cnf: jkt.clone().map(|jkt| Confirmation { jkt }),
            scoped: scoped.clone(),
            profile: profile.clone(),
            custom: custom.clone(),
        };
        let access_token = jose::sign_jwt(key, ACCESS_TOKEN_TYP, &access_claims, rng)?;

        let id_token = if scopes.contains(OPENID) {
            let claims = IdTokenClaims {
                iss: self.issuer().to_owned(),
                sub: login.subject.to_owned(),
                aud: client.client_id.clone(),
                exp: now + client.lifetimes.id_token,
                iat: now,
                auth_time: login.auth_time,
                nonce: login.nonce.map(str::to_owned),
                azp: Some(client.client_id.clone()),
                sid: login.session_id.map(str::to_owned),
                acr: login.acr.map(str::to_owned),
                amr,
                at_hash: Some(at_hash(&access_token)),
                scoped,
                profile,
                custom,
            };
            Some(jose::sign_jwt(key, ID_TOKEN_TYP, &claims, rng)?)
        } else {
            None
        };

        let (refresh_token, family) = match family {
            Some(mut f) => {
                let mut secret = [0u8; 32];
                rng.fill_bytes(&mut secret);
                let token = RefreshToken::mint(&f.id, secret);
                f.current_hash = token.hash();
                (Some(token), Some(f))
            }
            None => (None, None),
        };

        let body = TokenResponseBody {
            access_token: &access_token,
            token_type: if jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: client.lifetimes.access,
            scope,
            refresh_token: refresh_token.as_ref().map(RefreshToken::as_str),
            id_token: id_token.as_deref(),
        };
        Ok(TokenIssued {
            response: HttpResponse::json(200, &body),
            subject: login.subject.to_owned(),
            client_id: client.client_id.clone(),
            scopes: scopes.clone(),
            access_token_jti: jti,
            access_token_expires_at: access_expires,
            refresh_family: family,
            replaces_generation,
            id_token_issued: id_token.is_some(),
        })
    }
}

/// Refresh tokens: per the client's policy, and for public clients only when
/// DPoP-bound.
fn issues_refresh(client: &ClientRegistration, scopes: &ScopeSet, dpop_bound: bool) -> bool {
    let by_policy = match client.refresh {
        RefreshPolicy::Disabled => false,
        RefreshPolicy::Enabled => true,
        RefreshPolicy::RequireOfflineAccess => scopes.contains(OFFLINE_ACCESS),
    };
    by_policy && (client.kind == ClientKind::Confidential || dpop_bound)
}

/// A grant bound to a DPoP key needs a proof by that key.
fn check_binding(bound: Option<&str>, proof: Option<&DpopProof>) -> Result<(), OidcError> {
    match (bound, proof) {
        (Some(_), None) => Err(OidcError::InvalidDpopProof(Rejection::ProofRequired)),
        (Some(jkt), Some(p)) if p.jkt != jkt => {
            Err(OidcError::InvalidDpopProof(Rejection::KeyBindingMismatch))
        }
        _ => Ok(()),
    }
}

fn current_user<'a>(
    user: Option<&'a UserClaims>,
    subject: &str,
) -> Result<&'a UserClaims, OidcError> {
    match user {
        Some(u) if u.subject == subject => Ok(u),
        Some(_) => Err(OidcError::Internal("user claims are for another subject")),
        None => Err(OidcError::InvalidGrant("the user is no longer active")),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::authorize::tests::{CHALLENGE, REDIRECT, VERIFIER, authn, client, provider, user};
    use crate::claims::{JwtCheck, verify_own_jwt};
    use crate::client_auth::ClientSecret;
    use crate::jose::JwsAlg;
    use crate::jose::test_keys::*;
    use crate::pkce::CodeChallenge;

    fn keys() -> KeySet {
        KeySet::new(vec![es256("es", 1), rsa("rs", JwsAlg::RS256)]).unwrap()
    }

    fn code_grant() -> CodeGrant {
        CodeGrant {
            client_id: "app".to_owned(),
            redirect_uri: REDIRECT.to_owned(),
            scopes: ScopeSet::from_tokens(["openid", "email", "profile"]).unwrap(),
            nonce: Some("n-1".to_owned()),
            code_challenge: Some(CodeChallenge::s256(VERIFIER)),
            subject: authn().subject,
            auth_time: 990,
            amr: vec!["pwd".to_owned()],
            acr: None,
            assurance: Assurance::Password,
            session_id: "sess-1".to_owned(),
            dpop_jkt: None,
            issued_at: 1000,
            expires_at: 1060,
        }
    }

    fn secret() -> ClientSecret {
        ClientSecret::new("s3cret".to_owned())
    }

    fn app() -> ClientRegistration {
        let mut c = client();
        c.auth_method = crate::client::ClientAuthMethod::ClientSecretPost {
            secret_digest: secret().digest(),
        };
        c
    }

    fn code_body(code: &str, verifier: &str) -> String {
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id=app&client_secret=s3cret",
            crate::params::encode_pairs([("", REDIRECT)]).trim_start_matches('=')
        )
    }

    fn parse(body: &str) -> TokenRequest {
        TokenRequest::parse(
            body.as_bytes(),
            &RequestHeaders::default(),
            &Limits::default(),
        )
        .unwrap()
    }

    struct Run {
        client: ClientRegistration,
        user: Option<UserClaims>,
        dpop: Option<DpopProof>,
        now: i64,
    }

    impl Run {
        fn new() -> Self {
            Self {
                client: app(),
                user: Some(user()),
                dpop: None,
                now: 1010,
            }
        }

        fn go(
            &self,
            req: &TokenRequest,
            lookup: GrantLookup<'_>,
        ) -> Result<TokenIssued, TokenRejected> {
            let p = provider();
            let authed = p
                .authenticate_client(&req.credentials, &self.client, self.now)
                .unwrap();
            let keys = keys();
            let ctx = TokenContext {
                client: &self.client,
                authenticated: &authed,
                lookup,
                user: self.user.as_ref(),
                dpop: self.dpop.as_ref(),
                keys: &keys,
                now: self.now,
            };
            p.token(req, ctx, &mut rng())
        }
    }

    fn body_json(r: &HttpResponse) -> serde_json::Value {
        serde_json::from_str(&r.body).unwrap()
    }

    #[test]
    fn code_exchange_issues_tokens() {
        let code = AuthorizationCode::generate([5; 32]);
        let grant = code_grant();
        let req = parse(&code_body(code.as_str(), VERIFIER));
        let issued = Run::new()
            .go(
                &req,
                GrantLookup::Code {
                    grant: Some(&grant),
                    already_redeemed: false,
                },
            )
            .unwrap();
        let r = &issued.response;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        let body = body_json(r);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "email openid profile");
        assert!(body["refresh_token"].is_string());
        let family = issued.refresh_family.clone().unwrap();
        let rt = RefreshToken::parse(body["refresh_token"].as_str().unwrap()).unwrap();
        assert!(family.is_current(&rt));
        assert_eq!(rt.family_id(), family.id);

        let keys = keys();
        let check = |typ| JwtCheck {
            typ,
            issuer: "https://idm.example.com",
            now: 1010,
            skew: 30,
            check_exp: true,
            max_bytes: 8192,
        };
        let at: AccessTokenClaims = verify_own_jwt(
            body["access_token"].as_str().unwrap(),
            &keys,
            &check(ACCESS_TOKEN_TYP),
        )
        .unwrap();
        assert_eq!(at.sub, grant.subject);
        assert_eq!(at.client_id, "app");
        assert_eq!(at.aud, "app");
        assert_eq!(at.exp, 1610);
        assert_eq!(at.profile.tenant, "acme");
        assert_eq!(at.profile.assurance, Assurance::Password);
        assert_eq!(at.scoped.email.as_deref(), Some("alice@example.com"));
        assert!(at.cnf.is_none());
        let id: IdTokenClaims = verify_own_jwt(
            body["id_token"].as_str().unwrap(),
            &keys,
            &check(ID_TOKEN_TYP),
        )
        .unwrap();
        assert_eq!(id.nonce.as_deref(), Some("n-1"));
        assert_eq!(id.aud, "app");
        assert_eq!(id.azp.as_deref(), Some("app"));
        assert_eq!(id.sid.as_deref(), Some("sess-1"));
        assert_eq!(id.auth_time, Some(990));
        assert_eq!(
            id.at_hash,
            Some(at_hash(body["access_token"].as_str().unwrap()))
        );
        assert_eq!(id.scoped.preferred_username.as_deref(), Some("alice"));
        // An ID token is not an access token and vice versa (typ).
        assert_eq!(
            verify_own_jwt::<AccessTokenClaims>(
                body["id_token"].as_str().unwrap(),
                &keys,
                &check(ACCESS_TOKEN_TYP)
            )
            .err(),
            Some(Rejection::WrongType)
        );
        assert_eq!(
            verify_own_jwt::<IdTokenClaims>(
                body["access_token"].as_str().unwrap(),
                &keys,
                &check(ID_TOKEN_TYP)
            )
            .err(),
            Some(Rejection::WrongType)
        );
    }

    #[test]
    fn rs256_client_gets_rs256_tokens() {
        let mut run = Run::new();
        run.client.signing_alg = JwsAlg::RS256;
        let code = AuthorizationCode::generate([5; 32]);
        let grant = code_grant();
        let issued = run
            .go(
                &parse(&code_body(code.as_str(), VERIFIER)),
                GrantLookup::Code {
                    grant: Some(&grant),
                    already_redeemed: false,
                },
            )
            .unwrap();
        let body = body_json(&issued.response);
        let jws = jose::decode(body["id_token"].as_str().unwrap(), 8192).unwrap();
        assert_eq!(jws.header().alg, JwsAlg::RS256);
        assert_eq!(jws.header().kid.as_deref(), Some("rs"));
    }

    #[test]
    fn code_replay_revokes() {
        let code = AuthorizationCode::generate([5; 32]);
        let grant = code_grant();
        let req = parse(&code_body(code.as_str(), VERIFIER));
        let r = Run::new()
            .go(
                &req,
                GrantLookup::Code {
                    grant: Some(&grant),
                    already_redeemed: true,
                },
            )
            .unwrap_err();
        assert_eq!(r.error.wire().code, ErrorCode::InvalidGrant);
        assert_eq!(r.revoke, Some(Revoke::TokensFromCode(code.storage_key())));
    }

    #[test]
    fn code_checks() {
        let code = AuthorizationCode::generate([5; 32]);
        let grant = code_grant();
        let lookup = GrantLookup::Code {
            grant: Some(&grant),
            already_redeemed: false,
        };
        let err = |body: &str, run: &Run, lookup| run.go(&parse(body), lookup).unwrap_err().error;
        let run = Run::new();
        // Wrong verifier.
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert!(matches!(
            err(&code_body(code.as_str(), wrong), &run, lookup),
            OidcError::InvalidGrant(_)
        ));
        // Missing verifier.
        let no_verifier =
            code_body(code.as_str(), VERIFIER).replace(&format!("&code_verifier={VERIFIER}"), "");
        assert!(matches!(
            err(&no_verifier, &run, lookup),
            OidcError::InvalidGrant(_)
        ));
        // Redirect mismatch.
        let other_redirect = code_body(code.as_str(), VERIFIER).replace("%2Fcb", "%2Fcb2");
        assert!(matches!(
            err(&other_redirect, &run, lookup),
            OidcError::InvalidGrant(_)
        ));
        // Expired.
        let late = Run {
            now: 1060,
            ..Run::new()
        };
        assert!(matches!(
            err(&code_body(code.as_str(), VERIFIER), &late, lookup),
            OidcError::InvalidGrant(_)
        ));
        // Unknown code.
        assert!(matches!(
            err(
                &code_body(code.as_str(), VERIFIER),
                &run,
                GrantLookup::Code {
                    grant: None,
                    already_redeemed: false
                }
            ),
            OidcError::InvalidGrant(_)
        ));
        // Another client's code.
        let mut foreign = code_grant();
        foreign.client_id = "other".to_owned();
        assert!(matches!(
            err(
                &code_body(code.as_str(), VERIFIER),
                &run,
                GrantLookup::Code {
                    grant: Some(&foreign),
                    already_redeemed: false
                }
            ),
            OidcError::InvalidGrant(_)
        ));
        // PKCE downgrade: verifier for a code without challenge.
        let mut no_pkce = code_grant();
        no_pkce.code_challenge = None;
        assert!(matches!(
            err(
                &code_body(code.as_str(), VERIFIER),
                &run,
                GrantLookup::Code {
                    grant: Some(&no_pkce),
                    already_redeemed: false
                }
            ),
            OidcError::InvalidGrant(_)
        ));
        // The user disappeared.
        let gone = Run {
            user: None,
            ..Run::new()
        };
        assert!(matches!(
            err(&code_body(code.as_str(), VERIFIER), &gone, lookup),
            OidcError::InvalidGrant(_)
        ));
        // Mismatched lookup kind is a server bug.
        assert!(matches!(
            err(
                &code_body(code.as_str(), VERIFIER),
                &run,
                GrantLookup::ClientCredentials
            ),
            OidcError::Internal(_)
        ));
    }

    fn proof(jkt: &str) -> DpopProof {
        DpopProof {
            jkt: jkt.to_owned(),
            jti: "j".to_owned(),
            iat: 1010,
            replay_until: 1075,
        }
    }

    #[test]
    fn dpop_bound_code_and_public_refresh() {
        let code = AuthorizationCode::generate([5; 32]);
        let mut grant = code_grant();
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        grant.dpop_jkt = Some(jkt.to_owned());
        let lookup = GrantLookup::Code {
            grant: Some(&grant),
            already_redeemed: false,
        };
        let mut run = Run::new();
        run.client = crate::client::ClientRegistration::public(
            "app",
            crate::client::ApplicationType::Native,
            vec![REDIRECT.to_owned()],
        );
        run.client.allowed_scopes = client().allowed_scopes;
        let body = code_body(code.as_str(), VERIFIER).replace("&client_secret=s3cret", "");
        // No proof for a bound code.
        assert_eq!(
            run.go(&parse(&body), lookup).unwrap_err().error,
            OidcError::InvalidDpopProof(Rejection::ProofRequired)
        );
        run.dpop = Some(proof("A".repeat(43).as_str()));
        assert_eq!(
            run.go(&parse(&body), lookup).unwrap_err().error,
            OidcError::InvalidDpopProof(Rejection::KeyBindingMismatch)
        );
        run.dpop = Some(proof(jkt));
        let issued = run.go(&parse(&body), lookup).unwrap();
        let b = body_json(&issued.response);
        assert_eq!(b["token_type"], "DPoP");
        // Public + DPoP-bound: refresh token, bound to the key.
        assert_eq!(
            issued.refresh_family.as_ref().unwrap().dpop_jkt.as_deref(),
            Some(jkt)
        );
        let at = jose::decode(b["access_token"].as_str().unwrap(), 8192).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(at.payload_unverified()).unwrap();
        assert_eq!(claims["cnf"]["jkt"], jkt);

        // Public without DPoP: no refresh token.
        let mut grant2 = code_grant();
        grant2.dpop_jkt = None;
        run.dpop = None;
        let issued = run
            .go(
                &parse(&body),
                GrantLookup::Code {
                    grant: Some(&grant2),
                    already_redeemed: false,
                },
            )
            .unwrap();
        assert!(issued.refresh_family.is_none());
        assert!(body_json(&issued.response).get("refresh_token").is_none());
    }

    fn family(now: i64) -> (RefreshFamily, RefreshToken) {
        let id = FamilyId::generate([1; 16]);
        let token = RefreshToken::mint(&id, [2; 32]);
        let f = RefreshFamily {
            id,
            client_id: "app".to_owned(),
            subject: authn().subject,
            scopes: ScopeSet::from_tokens(["openid", "email"]).unwrap(),
            auth_time: 990,
            amr: vec!["pwd".to_owned()],
            acr: None,
            assurance: Assurance::Password,
            session_id: "sess-1".to_owned(),
            dpop_jkt: None,
            created_at: now,
            expires_at: now + 1000,
            generation: 3,
            current_hash: token.hash(),
            current_expires_at: now + 100,
            revoked: false,
        };
        (f, token)
    }

    fn refresh_body(token: &RefreshToken, extra: &str) -> String {
        format!(
            "grant_type=refresh_token&refresh_token={}&client_id=app&client_secret=s3cret{extra}",
            token.as_str()
        )
    }

    #[test]
    fn refresh_rotates() {
        let (f, token) = family(1000);
        let run = Run::new();
        let issued = run
            .go(
                &parse(&refresh_body(&token, "")),
                GrantLookup::Refresh { family: Some(&f) },
            )
            .unwrap();
        assert_eq!(issued.replaces_generation, Some(3));
        let next = issued.refresh_family.unwrap();
        assert_eq!(next.generation, 4);
        assert!(
            !next.is_current(&token),
            "the presented token is rotated out"
        );
        let new_token = RefreshToken::parse(
            body_json(&issued.response)["refresh_token"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert!(next.is_current(&new_token));
        assert_eq!(
            next.current_expires_at, 2000,
            "capped by the family's absolute expiry"
        );
        assert!(issued.id_token_issued);
        // Narrowing works, widening does not.
        let narrowed = run
            .go(
                &parse(&refresh_body(&token, "&scope=email")),
                GrantLookup::Refresh { family: Some(&f) },
            )
            .unwrap();
        assert_eq!(narrowed.scopes.to_scope_string(), "email");
        assert!(!narrowed.id_token_issued);
        let widened = run
            .go(
                &parse(&refresh_body(&token, "&scope=email+profile")),
                GrantLookup::Refresh { family: Some(&f) },
            )
            .unwrap_err();
        assert_eq!(widened.error.wire().code, ErrorCode::InvalidScope);
    }

    #[test]
    fn refresh_reuse_revokes_family() {
        let (f, old) = family(1000);
        let mut rotated = f.clone();
        rotated.generation = 4;
        rotated.current_hash = RefreshToken::mint(&f.id, [3; 32]).hash();
        let r = Run::new()
            .go(
                &parse(&refresh_body(&old, "")),
                GrantLookup::Refresh {
                    family: Some(&rotated),
                },
            )
            .unwrap_err();
        assert_eq!(r.error.wire().code, ErrorCode::InvalidGrant);
        assert_eq!(r.revoke, Some(Revoke::Family(f.id.clone())));
        // Expired or revoked families refuse without a revocation order.
        let mut dead = f.clone();
        dead.revoked = true;
        let r = Run::new()
            .go(
                &parse(&refresh_body(&old, "")),
                GrantLookup::Refresh {
                    family: Some(&dead),
                },
            )
            .unwrap_err();
        assert_eq!(r.revoke, None);
        let late = Run {
            now: 1100,
            ..Run::new()
        };
        assert!(
            late.go(
                &parse(&refresh_body(&old, "")),
                GrantLookup::Refresh { family: Some(&f) }
            )
            .is_err()
        );
        // DPoP binding kept: a bound family needs a proof by the same key.
        let mut bound = f.clone();
        bound.dpop_jkt = Some("B".repeat(43));
        let r = Run::new()
            .go(
                &parse(&refresh_body(&old, "")),
                GrantLookup::Refresh {
                    family: Some(&bound),
                },
            )
            .unwrap_err();
        assert_eq!(
            r.error,
            OidcError::InvalidDpopProof(Rejection::ProofRequired)
        );
        let mut run = Run::new();
        run.dpop = Some(proof(&"B".repeat(43)));
        let ok = run
            .go(
                &parse(&refresh_body(&old, "")),
                GrantLookup::Refresh {
                    family: Some(&bound),
                },
            )
            .unwrap();
        assert_eq!(
            ok.refresh_family.unwrap().dpop_jkt.as_deref(),
            Some("B".repeat(43).as_str())
        );
    }

    #[test]
    fn refresh_reapplies_scope_map() {
        let (f, token) = family(1000);
        let mut run = Run::new();
        run.client.scope_map.entries.insert(
            "admins".to_owned(),
            ScopeSet::from_tokens(["openid"]).unwrap(),
        );
        let r = run
            .go(
                &parse(&refresh_body(&token, "")),
                GrantLookup::Refresh { family: Some(&f) },
            )
            .unwrap_err();
        assert_eq!(r.revoke, Some(Revoke::Family(f.id.clone())));
    }

    #[test]
    fn client_credentials() {
        let mut run = Run::new();
        run.client.allowed_scopes =
            ScopeSet::from_tokens(["openid", "api.read", "api.write"]).unwrap();
        let mut service = user();
        service.principal_type = crate::claims::PrincipalType::Service;
        run.user = Some(service);
        let body = "grant_type=client_credentials&client_id=app&client_secret=s3cret";
        assert_eq!(
            run.go(&parse(body), GrantLookup::ClientCredentials)
                .unwrap_err()
                .error,
            OidcError::UnauthorizedClient("client_credentials")
        );
        run.client.allow_client_credentials = true;
        let issued = run
            .go(&parse(body), GrantLookup::ClientCredentials)
            .unwrap();
        let b = body_json(&issued.response);
        assert_eq!(b["scope"], "api.read api.write");
        assert!(b.get("id_token").is_none() && b.get("refresh_token").is_none());
        let e = run
            .go(
                &parse(&format!("{body}&scope=openid")),
                GrantLookup::ClientCredentials,
            )
            .unwrap_err();
        assert_eq!(e.error.wire().code, ErrorCode::InvalidScope);
        let e = run
            .go(
                &parse(&format!("{body}&scope=admin")),
                GrantLookup::ClientCredentials,
            )
            .unwrap_err();
        assert_eq!(e.error.wire().code, ErrorCode::InvalidScope);
    }

    #[test]
    fn grant_types_outside_profile() {
        let cases = [
            ("password", ErrorClass::RejectedForProfileSafety),
            (
                "urn:ietf:params:oauth:grant-type:device_code",
                ErrorClass::AvailableInKeycloakModeOnly,
            ),
            (
                "urn:ietf:params:oauth:grant-type:token-exchange",
                ErrorClass::AvailableInKeycloakModeOnly,
            ),
            (
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                ErrorClass::FeatureNotSupportedByProfile,
            ),
            ("banana", ErrorClass::FeatureNotSupportedByProfile),
        ];
        for (gt, class) in cases {
            let body = crate::params::encode_pairs([("grant_type", gt), ("client_id", "app")]);
            let e = TokenRequest::parse(
                body.as_bytes(),
                &RequestHeaders::default(),
                &Limits::default(),
            )
            .unwrap_err();
            assert_eq!(e.wire().code, ErrorCode::UnsupportedGrantType, "{gt}");
            assert_eq!(e.wire().class, Some(class), "{gt}");
        }
        let e = TokenRequest::parse(
            b"client_id=app",
            &RequestHeaders::default(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(e, OidcError::MissingParameter("grant_type"));
        let e = TokenRequest::parse(
            b"grant_type=client_credentials&grant_type=password",
            &RequestHeaders::default(),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(e, OidcError::DuplicateParameter(_)));
    }

    #[test]
    fn require_dpop() {
        let mut run = Run::new();
        run.client.require_dpop = true;
        let code = AuthorizationCode::generate([5; 32]);
        let grant = code_grant();
        let e = run
            .go(
                &parse(&code_body(code.as_str(), VERIFIER)),
                GrantLookup::Code {
                    grant: Some(&grant),
                    already_redeemed: false,
                },
            )
            .unwrap_err();
        assert_eq!(
            e.error,
            OidcError::InvalidDpopProof(Rejection::ProofRequired)
        );
    }

    #[test]
    fn refresh_policy() {
        let mut c = app();
        let openid = ScopeSet::from_tokens(["openid"]).unwrap();
        let offline = ScopeSet::from_tokens(["openid", "offline_access"]).unwrap();
        assert!(issues_refresh(&c, &openid, false));
        c.refresh = RefreshPolicy::RequireOfflineAccess;
        assert!(!issues_refresh(&c, &openid, false));
        assert!(issues_refresh(&c, &offline, false));
        c.refresh = RefreshPolicy::Disabled;
        assert!(!issues_refresh(&c, &offline, true));
        let _ = CHALLENGE;
    }

    proptest::proptest! {
        #[test]
        fn token_parse_never_panics(body in "[a-z_=&%+0-9A-F.:]{0,300}", auth in proptest::option::of("[ -~]{0,80}")) {
            let headers = RequestHeaders { authorization: auth, dpop: None };
            let _ = TokenRequest::parse(body.as_bytes(), &headers, &Limits::default());
        }
    }
}
