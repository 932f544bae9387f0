//! The back-channel endpoints: discovery, JWKS, PAR, token, userinfo, introspection and
//! revocation. Each is parse → look up → call `idm_oidc` → store → render, on a blocking thread
//! (store transactions and signing), answering in the protocol's own error format — except
//! what needs no store work:
//! - discovery and JWKS are served from bytes rendered once per key set
//!   ([`super::published`]);
//! - a `client_credentials` grant by a cached client with a secret, without DPoP, signed with
//!   ES256 ([`token_in_memory`]) is answered on the async thread: the cached registration and
//!   service account ([`super::clients`]), the constant-time secret check, scopes, and one
//!   ≈ 15 µs ES256 signature. Anything else, and every failure, takes the blocking path, which
//!   makes the same decisions and also writes the audit records.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use chrono::{DateTime, Utc};
use idm_model::audit::{Outcome, Target};
use idm_oidc::{
    AuthScheme, AuthenticatedClient, ClientCredentials, CodeGrant, DpopCheck, DpopProof,
    GrantLookup, GrantRequest, IntrospectionRequest, JwsAlg, OidcError, ParRequest, PresentedToken,
    RefreshFamily, Rejection, RequestHeaders, ResourceRequest, RevocationRequest, RevocationTarget,
    Revoke, TokenContext, TokenRejected, TokenRequest, revocation_response,
};
use idm_store::{EphemeralKind, Store, Update};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::claims::{ClientError, subject_claims};
use super::clients::Client;
use super::session::{self, access_revoked, first_use, revoke_access};
use super::{Audit, at, client_actor, into_response, truncate};
use crate::error::AppError;
use crate::http::ClientIp;
use crate::rng;
use crate::state::AppState;

/// What is stored under an authorization code's storage key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCode {
    pub grant: CodeGrant,
    /// Set, atomically, by the first redemption.
    #[serde(default)]
    pub redeemed: bool,
    /// A second redemption was seen: whatever the first one issued is revoked.
    #[serde(default)]
    pub replayed: bool,
    /// What the first redemption issued, for revocation on replay.
    #[serde(default)]
    pub issued: Option<IssuedFromCode>,
}

/// The tokens a code was exchanged for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedFromCode {
    pub family: Option<String>,
    pub access_jti: String,
    pub access_expires_at: i64,
}

/// Store and other server faults inside the protocol endpoints: logged here, and the client
/// sees `server_error` without details.
impl From<AppError> for OidcError {
    fn from(e: AppError) -> Self {
        tracing::error!(error = %e, "OIDC endpoint failed");
        OidcError::Internal("server fault")
    }
}

/// Runs a protocol endpoint's body on a blocking thread; errors become the crate's JSON error
/// responses.
async fn run_json(f: impl FnOnce() -> Result<Response, OidcError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => into_response(e.json_response()),
        Err(e) => {
            tracing::error!(error = %e, "OIDC endpoint task failed");
            into_response(OidcError::Internal("task").json_response())
        }
    }
}

pub fn request_headers(headers: &HeaderMap) -> Result<RequestHeaders, OidcError> {
    RequestHeaders::from_pairs(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
}

/// `GET /.well-known/openid-configuration`. (The request itself, not a copy of its headers.)
pub async fn discovery(State(st): State<AppState>, req: Request) -> Response {
    st.oidc.published().discovery.respond(req.headers())
}

/// `GET /oauth2/jwks`: active, next and retired public keys.
pub async fn jwks(State(st): State<AppState>, req: Request) -> Response {
    st.oidc.published().jwks.respond(req.headers())
}

/// Audits a request for something outside the profile, with the crate's telemetry class.
pub fn audit_profile(store: &Store, e: &OidcError, client_id: Option<&str>, ip: Option<IpAddr>) {
    if let Some(ev) = e.profile_event() {
        tracing::info!(
            class = ev.class.as_str(),
            feature = ev.feature,
            "outside the profile"
        );
        Audit {
            action: "oauth2.unsupported_feature",
            actor: client_actor(client_id.unwrap_or("-")),
            target: None,
            outcome: Outcome::Denied,
            summary: format!("{} ({})", ev.feature, ev.class.as_str()),
            source: ip,
        }
        .record(store);
    }
}

/// A client found (with its registration), and the result of authenticating it.
pub struct Caller {
    pub client: Arc<Client>,
    pub authed: AuthenticatedClient,
}

/// Looks the client up and authenticates it, refusing a replayed assertion `jti`; audits
/// failures. Blocking.
pub fn authenticate(
    st: &AppState,
    creds: &ClientCredentials,
    now: i64,
    ip: Option<IpAddr>,
) -> Result<Caller, OidcError> {
    let store = &st.store;
    let id = creds.client_id();
    let fail = |why: &str| {
        Audit {
            action: "oauth2.invalid_client",
            actor: client_actor(id),
            target: None,
            outcome: Outcome::Failure,
            summary: format!("client authentication failed: {why}"),
            source: ip,
        }
        .record(store);
    };
    let Some(client) = load_client(st, id)? else {
        fail("unknown client");
        return Err(creds.unknown_client_error());
    };
    let authed = match st
        .oidc
        .provider
        .authenticate_client(creds, &client.reg, now)
    {
        Ok(a) => a,
        Err(e) => {
            fail(&e.to_string());
            return Err(e);
        }
    };
    if let Some(a) = &authed.assertion {
        let key = format!("assertion:{}:{}", client.reg.client_id, a.jti);
        if !first_use(store, &key, a.expires_at, now)? {
            fail("client assertion jti replayed");
            return Err(OidcError::InvalidClientAssertion(Rejection::Replayed));
        }
    }
    Ok(Caller { client, authed })
}

/// The client registered as `client_id` (cached, or read in one transaction); a registration
/// that cannot be used is a server-side fault (logged). Blocking.
pub fn load_client(st: &AppState, client_id: &str) -> Result<Option<Arc<Client>>, OidcError> {
    match st.oidc.clients.load(&st.store, client_id) {
        Ok(c) => Ok(c),
        Err(ClientError::Store(e)) => Err(e.into()),
        Err(ClientError::Invalid(e)) => {
            tracing::error!(client = %truncate(client_id, 64), error = %e, "client registration is not usable");
            Err(OidcError::InvalidRegistration(
                "client registration is not usable",
            ))
        }
    }
}

/// Verifies the DPoP proof of a POST to `url` at the authorization server (PAR, token),
/// demanding the current server nonce (or the previous one, for proofs made just before a
/// nonce rotation), and refuses a replayed proof `jti`. Returns the proof and the nonce to send
/// back in `DPoP-Nonce`.
pub fn verify_dpop(
    st: &AppState,
    proof: &str,
    url: &str,
    now: i64,
) -> Result<(DpopProof, String), OidcError> {
    let provider = &st.oidc.provider;
    let (current, previous) = session::dpop_nonces(&st.store, now)?;
    let check = |nonce| DpopCheck {
        method: "POST",
        url,
        access_token: None,
        expected_nonce: Some(nonce),
    };
    let verified = match provider.verify_dpop(proof, &check(&current), now) {
        Err(OidcError::UseDpopNonce { nonce }) => match previous.as_deref() {
            Some(prev) => provider
                .verify_dpop(proof, &check(prev), now)
                .map_err(|e| match e {
                    OidcError::UseDpopNonce { .. } => OidcError::UseDpopNonce {
                        nonce: nonce.clone(),
                    },
                    other => other,
                })?,
            None => return Err(OidcError::UseDpopNonce { nonce }),
        },
        other => other?,
    };
    let key = format!("dpop:{}:{}", verified.jkt, verified.jti);
    if !first_use(&st.store, &key, verified.replay_until, now)? {
        return Err(OidcError::InvalidDpopProof(Rejection::Replayed));
    }
    Ok((verified, current))
}

fn with_nonce(mut r: Response, nonce: Option<String>) -> Response {
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        r.headers_mut().insert("DPoP-Nonce", v);
    }
    r
}

/// `POST /oauth2/par` (RFC 9126).
pub async fn par(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_json(move || {
        let now_dt = Utc::now();
        let now = now_dt.timestamp();
        let p = &st.oidc.provider;
        let rh = request_headers(&headers)?;
        let par = ParRequest::parse(&body, &rh, &p.config().limits)?;
        let caller = authenticate(&st, &par.credentials, now, ip)?;
        let (dpop, nonce) = match &par.dpop_proof {
            Some(proof) => {
                let (d, n) = verify_dpop(&st, proof, &p.config().endpoints.par, now)?;
                (Some(d), Some(n))
            }
            None => (None, None),
        };
        let pushed = p
            .push_authorization_request(
                &par,
                &caller.client.reg,
                &caller.authed,
                dpop.as_ref(),
                rng::array::<32>()?,
                now,
            )
            .inspect_err(|e| audit_profile(&st.store, e, Some(&caller.client.reg.client_id), ip))?;
        st.store
            .put_ephemeral(
                EphemeralKind::ParRequest,
                &pushed.record.request_uri,
                &pushed.record,
                at(pushed.record.expires_at),
            )
            .map_err(AppError::from)?;
        Ok(with_nonce(into_response(pushed.response), nonce))
    })
    .await
}

/// `POST /oauth2/token`: `authorization_code` (single use, replay revokes what the code
/// issued), `refresh_token` (rotation by compare-and-swap, reuse revokes the family) and
/// `client_credentials` (nothing stored per token; in memory when it can be, see
/// [`token_in_memory`]).
pub async fn token(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = token_in_memory(&st, &headers, &body) {
        return r;
    }
    run_json(move || token_inner(&st, &headers, &body, ip)).await
}

/// A `client_credentials` grant answered without the store or a blocking thread, when that
/// changes nothing: the client is cached ([`super::clients`]) and authenticates with its
/// secret (a `private_key_jwt` assertion's `jti` must be recorded), sends no DPoP proof (its
/// `jti` and the server nonce live in the store) and is signed for with ES256 (an RSA
/// signature takes a millisecond: not on an async thread), and the grant succeeds. The checks
/// are the blocking path's, by the same calls: the registration and the constant-time secret
/// digest comparison (`Provider::authenticate_client`), the service account's lock and
/// validity at `now`, and the scopes (`Provider::token`). Nothing here has a side effect, so
/// `None` — not applicable, or any refusal — hands the request to [`token_inner`], which
/// decides again and records the failure.
fn token_in_memory(st: &AppState, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    let oidc = &st.oidc;
    let p = &oidc.provider;
    let rh = request_headers(headers).ok()?;
    let req = TokenRequest::parse(body, &rh, &p.config().limits).ok()?;
    if !matches!(req.grant, GrantRequest::ClientCredentials { .. }) || req.dpop_proof.is_some() {
        return None;
    }
    let client = oidc
        .clients
        .cached(&st.store, req.credentials.client_id())?;
    if client.reg.signing_alg != JwsAlg::ES256 {
        return None;
    }
    let now_dt = Utc::now();
    let now = now_dt.timestamp();
    let authed = p
        .authenticate_client(&req.credentials, &client.reg, now)
        .ok()?;
    if authed.assertion.is_some() {
        return None;
    }
    let keys = oidc.keys();
    let mut rng = rng::crypto_rng().ok()?;
    let ctx = TokenContext {
        client: &client.reg,
        authenticated: &authed,
        lookup: GrantLookup::ClientCredentials,
        user: client.service_claims(now_dt),
        dpop: None,
        keys: &keys,
        now,
    };
    let issued = p.token(&req, ctx, &mut rng).ok()?;
    tracing::debug!(client = %issued.client_id, scope = %issued.scopes.to_scope_string(), "client_credentials token issued");
    Some(into_response(issued.response))
}

fn token_inner(
    st: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    ip: Option<IpAddr>,
) -> Result<Response, OidcError> {
    let store = &st.store;
    let oidc = &st.oidc;
    let p = &oidc.provider;
    let now_dt = Utc::now();
    let now = now_dt.timestamp();
    let rh = request_headers(headers)?;
    let req = TokenRequest::parse(body, &rh, &p.config().limits)
        .inspect_err(|e| audit_profile(store, e, None, ip))?;
    let caller = authenticate(st, &req.credentials, now, ip)?;
    let (dpop, nonce) = match &req.dpop_proof {
        Some(proof) => {
            let (d, n) = verify_dpop(st, proof, &p.config().endpoints.token, now)?;
            (Some(d), Some(n))
        }
        None => (None, None),
    };
    let client = &caller.client;
    oidc.ensure_alg(store, client.reg.signing_alg)?;
    let keys = oidc.keys();
    let mut rng = rng::crypto_rng()?;
    let reg = &client.reg;
    let ctx = |lookup, user| TokenContext {
        client: reg,
        authenticated: &caller.authed,
        lookup,
        user,
        dpop: dpop.as_ref(),
        keys: &keys,
        now,
    };
    let result = match &req.grant {
        GrantRequest::AuthorizationCode { code, .. } => {
            let key = hex::encode(code.storage_key().0);
            let keep_for = at(now + reg.lifetimes.access);
            let looked = store
                .update_ephemeral::<StoredCode, Option<(CodeGrant, bool)>>(
                    EphemeralKind::AuthorizationCode,
                    &key,
                    now_dt,
                    |cur| match cur {
                        None => (Update::Keep, None),
                        // Another client's code: refused below, and not burnt for its owner.
                        Some(r) if r.value.grant.client_id != reg.client_id => {
                            (Update::Keep, Some((r.value.grant, false)))
                        }
                        Some(r) => {
                            let was = r.value.redeemed;
                            let mut v = r.value;
                            v.redeemed = true;
                            let g = v.grant.clone();
                            (Update::Put(v, r.expires_at.max(keep_for)), Some((g, was)))
                        }
                    },
                )
                .map_err(AppError::from)?;
            let user = match &looked {
                Some((g, _)) => subject_claims(store, &g.subject, &client.model, now_dt)?,
                None => None,
            };
            let lookup = GrantLookup::Code {
                grant: looked.as_ref().map(|(g, _)| g),
                already_redeemed: looked.as_ref().is_some_and(|(_, was)| *was),
            };
            match p.token(&req, ctx(lookup, user.as_ref()), &mut rng) {
                Ok(issued) => {
                    if let Some(f) = &issued.refresh_family {
                        store
                            .put_ephemeral(
                                EphemeralKind::RefreshFamily,
                                f.id.as_str(),
                                f,
                                at(f.expires_at),
                            )
                            .map_err(AppError::from)?;
                    }
                    let from_code = IssuedFromCode {
                        family: issued
                            .refresh_family
                            .as_ref()
                            .map(|f| f.id.as_str().to_owned()),
                        access_jti: issued.access_token_jti.clone(),
                        access_expires_at: issued.access_token_expires_at,
                    };
                    let replayed = store
                        .update_ephemeral::<StoredCode, bool>(
                            EphemeralKind::AuthorizationCode,
                            &key,
                            now_dt,
                            |cur| match cur {
                                Some(r) => {
                                    let mut v = r.value;
                                    v.issued = Some(from_code.clone());
                                    let replayed = v.replayed;
                                    (Update::Put(v, r.expires_at.max(keep_for)), replayed)
                                }
                                None => (Update::Keep, false),
                            },
                        )
                        .map_err(AppError::from)?;
                    if replayed {
                        // A replay slipped in between redemption and now: revoke at once.
                        revoke_issued(store, &from_code, now)?;
                    }
                    Ok(issued)
                }
                Err(rej) => Err(rej),
            }
        }
        GrantRequest::RefreshToken { token, .. } => {
            let family = store
                .get_ephemeral::<RefreshFamily>(
                    EphemeralKind::RefreshFamily,
                    token.family_id().as_str(),
                    now_dt,
                )
                .map_err(AppError::from)?
                .map(|r| r.value);
            let user = match &family {
                Some(f) => subject_claims(store, &f.subject, &client.model, now_dt)?,
                None => None,
            };
            let lookup = GrantLookup::Refresh {
                family: family.as_ref(),
            };
            match p.token(&req, ctx(lookup, user.as_ref()), &mut rng) {
                Ok(issued) => {
                    let (Some(next), Some(generation)) =
                        (&issued.refresh_family, issued.replaces_generation)
                    else {
                        return Err(OidcError::Internal("refresh without a rotated family"));
                    };
                    let swapped = store
                        .update_ephemeral::<RefreshFamily, bool>(
                            EphemeralKind::RefreshFamily,
                            next.id.as_str(),
                            now_dt,
                            |cur| match cur {
                                Some(r) if r.value.generation == generation && !r.value.revoked => {
                                    (Update::Put(next.clone(), at(next.expires_at)), true)
                                }
                                _ => (Update::Keep, false),
                            },
                        )
                        .map_err(AppError::from)?;
                    if swapped {
                        Ok(issued)
                    } else {
                        // Two uses of one token raced: the loser is a reuse.
                        Err(TokenRejected {
                            error: OidcError::InvalidGrant("refresh token already used"),
                            revoke: Some(Revoke::Family(next.id.clone())),
                        })
                    }
                }
                Err(rej) => Err(rej),
            }
        }
        GrantRequest::ClientCredentials { .. } => p.token(
            &req,
            ctx(
                GrantLookup::ClientCredentials,
                client.service_claims(now_dt),
            ),
            &mut rng,
        ),
    };
    let grant_type = match &req.grant {
        GrantRequest::AuthorizationCode { .. } => "authorization_code",
        GrantRequest::RefreshToken { .. } => "refresh_token",
        GrantRequest::ClientCredentials { .. } => "client_credentials",
    };
    match result {
        Ok(issued) => {
            if grant_type == "client_credentials" {
                // Nothing is written per client_credentials token (services ask often).
                tracing::debug!(client = %issued.client_id, scope = %issued.scopes.to_scope_string(), "client_credentials token issued");
            } else {
                Audit {
                    action: "oauth2.token",
                    actor: client_actor(&issued.client_id),
                    target: Some(Target {
                        uuid: Uuid::parse_str(&issued.subject).ok(),
                        name: issued.subject.clone(),
                    }),
                    outcome: Outcome::Success,
                    summary: format!(
                        "{grant_type} grant to {}: scope {}{}",
                        issued.client_id,
                        issued.scopes.to_scope_string(),
                        if dpop.is_some() { " (DPoP-bound)" } else { "" }
                    ),
                    source: ip,
                }
                .record(store);
            }
            Ok(with_nonce(into_response(issued.response), nonce))
        }
        Err(rej) => {
            if let Some(revoke) = &rej.revoke {
                carry_out(store, revoke, &reg.client_id, now, ip)?;
            }
            audit_profile(store, &rej.error, Some(&reg.client_id), ip);
            Ok(into_response(rej.response()))
        }
    }
}

/// Carries out a revocation the crate demanded after detecting a replay.
fn carry_out(
    store: &Store,
    revoke: &Revoke,
    client_id: &str,
    now: i64,
    ip: Option<IpAddr>,
) -> Result<(), OidcError> {
    let summary = match revoke {
        Revoke::TokensFromCode(code) => {
            let key = hex::encode(code.0);
            let issued = store
                .update_ephemeral::<StoredCode, Option<IssuedFromCode>>(
                    EphemeralKind::AuthorizationCode,
                    &key,
                    at(now),
                    |cur| match cur {
                        Some(r) => {
                            let mut v = r.value;
                            v.replayed = true;
                            let issued = v.issued.clone();
                            (Update::Put(v, r.expires_at), issued)
                        }
                        None => (Update::Keep, None),
                    },
                )
                .map_err(AppError::from)?;
            if let Some(i) = &issued {
                revoke_issued(store, i, now)?;
            }
            "authorization code used twice: the tokens it was exchanged for are revoked"
        }
        Revoke::Family(id) => {
            revoke_family(store, id.as_str(), now)?;
            "refresh token reuse detected: family revoked"
        }
    };
    Audit {
        action: "oauth2.replay",
        actor: client_actor(client_id),
        target: None,
        outcome: Outcome::Denied,
        summary: summary.to_owned(),
        source: ip,
    }
    .record(store);
    Ok(())
}

fn revoke_issued(store: &Store, i: &IssuedFromCode, now: i64) -> Result<(), OidcError> {
    revoke_access(store, &i.access_jti, i.access_expires_at, now)?;
    if let Some(f) = &i.family {
        revoke_family(store, f, now)?;
    }
    Ok(())
}

/// Marks a refresh family revoked (kept until it expires, so that reuse is still recognised).
pub fn revoke_family(store: &Store, id: &str, now: i64) -> Result<bool, OidcError> {
    Ok(store
        .update_ephemeral::<RefreshFamily, bool>(EphemeralKind::RefreshFamily, id, at(now), |cur| {
            match cur {
                Some(r) => {
                    let mut f = r.value;
                    f.revoked = true;
                    (Update::Put(f, r.expires_at), true)
                }
                None => (Update::Keep, false),
            }
        })
        .map_err(AppError::from)?)
}

/// `GET|POST /oauth2/userinfo`: Bearer or DPoP access tokens in the `Authorization` header.
pub async fn userinfo(State(st): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    let scheme = match headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) if v.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("dpop ")) => AuthScheme::Dpop,
        _ => AuthScheme::Bearer,
    };
    let out = tokio::task::spawn_blocking(move || userinfo_inner(&st, method.as_str(), &headers))
        .await
        .unwrap_or(Err(OidcError::Internal("task")));
    match out {
        Ok(r) => r,
        Err(e) => into_response(e.resource_response(scheme)),
    }
}

fn userinfo_inner(st: &AppState, method: &str, headers: &HeaderMap) -> Result<Response, OidcError> {
    let store = &st.store;
    let p = &st.oidc.provider;
    let now_dt = Utc::now();
    let now = now_dt.timestamp();
    let rh = request_headers(headers)?;
    let rr = ResourceRequest::from_headers(&rh, &p.config().limits)?;
    let keys = st.oidc.keys();
    let access = p.verify_resource_request(
        &rr,
        &keys,
        method,
        &p.config().endpoints.userinfo,
        None,
        now,
    )?;
    if let Some(proof) = &access.dpop {
        let key = format!("dpop:{}:{}", proof.jkt, proof.jti);
        if !first_use(store, &key, proof.replay_until, now)? {
            return Err(OidcError::InvalidDpopProof(Rejection::Replayed));
        }
    }
    let revoked = access_revoked(store, &access.claims.jti, now)?;
    let gone = OidcError::InvalidToken(Rejection::Revoked);
    let client = load_client(st, &access.claims.client_id)?.ok_or(gone.clone())?;
    let user = subject_claims(store, &access.claims.sub, &client.model, now_dt)?.ok_or(gone)?;
    Ok(into_response(p.userinfo(
        &access,
        revoked,
        &user,
        &client.reg,
    )?))
}

/// `POST /oauth2/introspect` (RFC 7662): for the token's own client (or audience).
pub async fn introspect(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_json(move || {
        let store = &st.store;
        let p = &st.oidc.provider;
        let now_dt = Utc::now();
        let now = now_dt.timestamp();
        let rh = request_headers(&headers)?;
        let req = IntrospectionRequest::parse(&body, &rh, &p.config().limits)?;
        let caller = authenticate(&st, &req.credentials, now, ip)?;
        let keys = st.oidc.keys();
        let token = p.classify_token(&req.token, &keys, now);
        let (revoked, family) = match &token {
            PresentedToken::Access(c) => (access_revoked(store, &c.jti, now)?, None),
            PresentedToken::Refresh(t) => {
                (false, load_family(store, t.family_id().as_str(), now_dt)?)
            }
            PresentedToken::Unrecognized => (false, None),
        };
        Ok(into_response(p.introspection_response(
            &token,
            revoked,
            family.as_ref(),
            &caller.authed,
            now,
        )))
    })
    .await
}

fn load_family(
    store: &Store,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<RefreshFamily>, OidcError> {
    Ok(store
        .get_ephemeral::<RefreshFamily>(EphemeralKind::RefreshFamily, id, now)
        .map_err(AppError::from)?
        .map(|r| r.value))
}

/// `POST /oauth2/revoke` (RFC 7009): 200 for unknown tokens too.
pub async fn revoke(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_json(move || {
        let store = &st.store;
        let p = &st.oidc.provider;
        let now_dt = Utc::now();
        let now = now_dt.timestamp();
        let rh = request_headers(&headers)?;
        let req = RevocationRequest::parse(&body, &rh, &p.config().limits)?;
        let caller = authenticate(&st, &req.credentials, now, ip)?;
        let keys = st.oidc.keys();
        let what = match p.revocation_target(&req, &caller.authed, &keys, now)? {
            RevocationTarget::AccessToken { jti, expires_at } => {
                revoke_access(store, &jti, expires_at, now)?;
                "access token"
            }
            RevocationTarget::RefreshFamily(id) => match load_family(store, id.as_str(), now_dt)? {
                Some(f) if !f.owned_by(&caller.client.reg.client_id) => {
                    return Err(OidcError::UnauthorizedClient(
                        "revoking another client's token",
                    ));
                }
                Some(_) => {
                    revoke_family(store, id.as_str(), now)?;
                    "refresh token family"
                }
                None => "nothing (unknown refresh token)",
            },
            RevocationTarget::Nothing => "nothing (unknown or expired token)",
        };
        tracing::info!(client = %truncate(&caller.client.reg.client_id, 64), what, "revocation");
        Ok(into_response(revocation_response()))
    })
    .await
}
