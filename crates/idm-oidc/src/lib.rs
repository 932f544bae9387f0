//! OAuth 2.0 and OpenID Connect for idm, as a sans-IO library.
//!
//! Nothing here reads a clock, opens a socket or touches a file, and only ES256 signing draws
//! randomness on its own (ring's sealed `SecureRandom`; see [`jose::SigningKey`]'s module):
//! `now` (unix seconds) and an RNG (or the random bytes themselves) come in as
//! arguments, looked-up records (client registrations, authorization codes, refresh
//! families, user claims) come in as data, and every function returns what the server
//! must store and what it must send. That is what lets the fuzzers feed the parsers any
//! input, the benches call the token endpoint in a loop, and the tests move the clock.
//!
//! Randomness: functions that sign or mint take `&mut R` with `R: rand_core::CryptoRng`
//! (rand_core 0.10, re-exported as [`rand_core`]) — e.g. rand 0.10's OS-backed RNG in the
//! server, a seeded `StdRng` in tests; functions that mint one value take its bytes
//! (`[u8; 32]`). ES256 is signed with ring, whose hedged nonce comes from the OS CSPRNG (a
//! sealed trait leaves no way to pass an RNG in; the one exception, documented in
//! `jose/keys.rs`); RSA uses the RNG for blinding and PSS salts.
//!
//! # The profile
//! One deliberately small profile, close to FAPI 2.0 baseline: `response_type=code` with
//! PKCE S256 only; `response_mode` `query` or `form_post`; `iss` in every authorization
//! response (RFC 9207); PAR (RFC 9126); DPoP (RFC 9449); JWT access tokens (RFC 9068);
//! ES256 by default, RS256/PS256 per client; client authentication by
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` or `none` (public
//! clients). Requests outside it get the standard OAuth error plus an
//! [`ErrorClass`] and a [`ProfileEvent`] for telemetry.
//!
//! # One handler per endpoint
//! Each endpoint of the server is parse → look up → call → store → render:
//!
//! | endpoint | parse | call | store what comes back |
//! | --- | --- | --- | --- |
//! | `GET /authorize` | [`AuthorizeInput::parse`] | [`Provider::authorize`], then [`Provider::next_step`], then [`Provider::issue_code`] | [`CodeGrant`] under [`AuthorizationCode::storage_key`] |
//! | `POST /par` | [`ParRequest::parse`] | [`Provider::authenticate_client`], [`Provider::push_authorization_request`] | [`PushedAuthorization`] under its `request_uri` |
//! | `POST /token` | [`TokenRequest::parse`] | [`Provider::authenticate_client`], [`Provider::verify_dpop`], [`Provider::token`] | [`TokenIssued::refresh_family`]; on [`TokenRejected::revoke`] revoke |
//! | `GET /userinfo` | [`ResourceRequest::from_headers`] | [`Provider::verify_resource_request`], [`Provider::userinfo`] | — |
//! | `POST /introspect` | [`IntrospectionRequest::parse`] | [`Provider::classify_token`], [`Provider::introspection_response`] | — |
//! | `POST /revoke` | [`RevocationRequest::parse`] | [`Provider::revocation_target`] | the revocation |
//! | `GET /logout` | [`EndSessionRequest::parse`] | [`EndSessionRequest::verify_hint`], [`Provider::end_session`] | end the session |
//! | `GET /.well-known/openid-configuration`, `/jwks` | — | [`Provider::discovery_response`], [`KeySet::jwks_response`] | — |
#![deny(clippy::indexing_slicing)]

pub mod authorize;
pub mod claims;
pub mod client;
pub mod client_auth;
pub mod consent;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod grant;
pub mod http;
pub mod jose;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod provider;
pub mod resource;
pub mod scope;
pub mod token;

mod b64;

pub use authorize::{
    AuthorizationRequest, Authorize, AuthorizeError, AuthorizeInput, ErrorRedirect, IssuedCode,
    NextStep, ParRequest, Prompt, Pushed, PushedAuthorization, ResponseMode,
};
pub use claims::{
    AccessTokenClaims, Assurance, Authentication, Confirmation, GroupRef, IdTokenClaims,
    PrincipalType, ProfileClaims, ScopedClaims, UserClaims,
};
pub use client::{
    ApplicationType, ClaimMap, ClientAuthMethod, ClientKind, ClientRegistration, GroupsClaim,
    RefreshPolicy, ScopeMap, TokenLifetimes,
};
pub use client_auth::{
    AssertionUse, AuthenticatedClient, ClientCredentials, ClientSecret, SecretDigest,
};
pub use consent::RememberedConsent;
pub use dpop::{DpopCheck, DpopPolicy, DpopProof};
pub use error::{ErrorClass, ErrorCode, OidcError, ProfileEvent, Rejection, WireError};
pub use grant::{
    AuthorizationCode, CodeGrant, CodeKey, FamilyId, RefreshFamily, RefreshToken, TokenHash,
};
pub use http::{HttpResponse, RequestHeaders};
pub use jose::{Jwk, JwkSet, Jwks, JwsAlg, KeySet, SigningKey, VerifyingKey};
pub use logout::{EndSessionRequest, IdTokenHint, Logout};
pub use params::{Limits, Params};
pub use pkce::CodeChallenge;
pub use provider::{Endpoints, Provider, ProviderConfig};
pub use resource::{
    AuthScheme, IntrospectionRequest, PresentedToken, ResourceRequest, RevocationRequest,
    RevocationTarget, VerifiedAccess, revocation_response,
};
pub use scope::ScopeSet;
pub use token::{
    GrantLookup, GrantRequest, Revoke, TokenContext, TokenIssued, TokenRejected, TokenRequest,
};

/// The RNG traits the signing and issuing functions take, re-exported so that the server
/// uses the same `rand_core` version as this crate.
pub use rand_core;
