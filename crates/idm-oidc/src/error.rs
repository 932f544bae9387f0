//! The crate's one error type and its one mapping to OAuth wire errors.
//!
//! Every failure anywhere in the crate is an [`OidcError`]; [`OidcError::wire`] is the only
//! place that decides which OAuth `error` code, HTTP status and headers it becomes, so that
//! a change of policy (say, 400 versus 401 for a failed client authentication) is a change
//! of one match arm. Descriptions never carry secrets or token material: most variants hold
//! `&'static str` reasons, and the few that echo a parameter name are sanitised to the
//! RFC 6749 `error_description` character set.

use serde::Serialize;

use crate::http::HttpResponse;

/// Every way a request can fail.
///
/// The variants say what went wrong in the crate's terms; [`OidcError::wire`] says what the
/// client sees. Where an error happens before the redirect URI is validated, the
/// authorization endpoint shows it to the user instead (see
/// [`crate::AuthorizeError::ShowToUser`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The request is syntactically wrong (bad percent-encoding, bad header, bad value).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// A parameter appeared more than once (RFC 6749 §3.1).
    #[error("parameter {0} is repeated")]
    DuplicateParameter(String),
    /// A required parameter is absent.
    #[error("parameter {0} is missing")]
    MissingParameter(&'static str),
    /// A parameter has a value outside what it may hold.
    #[error("parameter {0} is invalid")]
    InvalidParameter(&'static str),
    /// A parameter, header or the whole request is larger than [`crate::Limits`] allows.
    #[error("{0} exceeds its size limit")]
    TooLarge(&'static str),
    /// Client authentication failed or was absent. `basic` says the client tried HTTP
    /// Basic, which makes the answer a 401 with `WWW-Authenticate` (RFC 6749 §5.2).
    #[error("client authentication failed")]
    ClientAuthentication {
        /// Whether the client authenticated with the `Authorization: Basic` header.
        basic: bool,
    },
    /// A `private_key_jwt` assertion was refused.
    #[error("client assertion rejected: {0}")]
    InvalidClientAssertion(Rejection),
    /// No client is registered under the presented `client_id`.
    #[error("unknown client")]
    UnknownClient,
    /// The redirect URI is absent or does not match a registered one exactly.
    #[error("redirect_uri is not registered for this client")]
    RedirectUriMismatch,
    /// The client is registered but may not do this.
    #[error("client is not allowed to use {0}")]
    UnauthorizedClient(&'static str),
    /// The authorization code, refresh token or PKCE verifier is wrong, used, expired or
    /// belongs to someone else.
    #[error("invalid grant: {0}")]
    InvalidGrant(&'static str),
    /// A `grant_type` this server does not know at all.
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    /// A `response_type` this server does not know at all.
    #[error("unsupported response_type")]
    UnsupportedResponseType,
    /// A requested scope is unknown or not allowed for the client.
    #[error("scope not allowed: {0}")]
    InvalidScope(String),
    /// The user (or policy, e.g. a scope map) refused.
    #[error("access denied: {0}")]
    AccessDenied(&'static str),
    /// `prompt=none` but the user must log in.
    #[error("login required")]
    LoginRequired,
    /// `prompt=none` but the user must consent.
    #[error("consent required")]
    ConsentRequired,
    /// A request outside the supported profile: the standard OAuth `code` plus an
    /// [`ErrorClass`] and the name of the feature, for telemetry.
    #[error("{feature} is not supported by this server's profile")]
    OutsideProfile {
        /// The OAuth error code the client sees.
        code: ErrorCode,
        /// Why it is refused.
        class: ErrorClass,
        /// A stable name of the demanded feature (`implicit_flow`, `pkce_plain`, ...).
        feature: &'static str,
    },
    /// A PAR `request_uri` that is unknown, expired or belongs to another client.
    #[error("invalid request_uri: {0}")]
    InvalidRequestUri(&'static str),
    /// A bearer or DPoP access token was refused at a resource endpoint.
    #[error("invalid token: {0}")]
    InvalidToken(Rejection),
    /// The access token lacks a scope the endpoint needs.
    #[error("insufficient scope: {0} required")]
    InsufficientScope(&'static str),
    /// A DPoP proof was refused.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(Rejection),
    /// The DPoP proof lacked the server nonce, or carried a stale one (RFC 9449 §8).
    /// `nonce` is the value to send back in the `DPoP-Nonce` header.
    #[error("DPoP nonce required")]
    UseDpopNonce {
        /// The nonce the client must put in its next proof.
        nonce: String,
    },
    /// A JWS failed to parse or verify outside any more specific context.
    #[error("JWS rejected: {0}")]
    Jws(Rejection),
    /// A key could not be loaded or used (server configuration, not the client's fault).
    #[error("key error: {0}")]
    Key(&'static str),
    /// A client registration is inconsistent (server configuration).
    #[error("invalid client registration: {0}")]
    InvalidRegistration(&'static str),
    /// Provider configuration is inconsistent (server configuration).
    #[error("invalid provider configuration: {0}")]
    InvalidConfig(&'static str),
    /// Something that should not fail did (serialisation, signing).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Why a JWS, a JWT or a DPoP proof was refused: one reason vocabulary shared by ID
/// tokens, access tokens, client assertions and DPoP proofs so that tests and logs can
/// name the exact check that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Not three base64url parts, bad base64url, bad JSON.
    Malformed,
    /// Longer than the limit for tokens.
    TooLarge,
    /// `alg: none` — never accepted.
    AlgNone,
    /// `HS256`/`HS384`/`HS512` — symmetric algorithms are refused outright, which closes
    /// the RS256→HS256 key-confusion attack.
    AlgHmac,
    /// Any other algorithm this crate does not implement.
    AlgUnsupported,
    /// The header's `alg` does not fit the key (`ES256` with an RSA key, or a key whose
    /// registered `alg` differs).
    AlgKeyMismatch,
    /// The header has no `kid` and the key cannot be chosen otherwise.
    MissingKid,
    /// No key with this `kid`.
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// `crit` names an extension; none is understood, so any `crit` is refused.
    CritUnsupported,
    /// `typ` is not the one this kind of token must carry.
    WrongType,
    /// `exp` is in the past.
    Expired,
    /// `nbf` or `iat` is in the future beyond the allowed skew.
    NotYetValid,
    /// The proof's `iat` is older than the allowed window.
    Stale,
    /// A required claim is absent.
    MissingClaim,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    WrongAudience,
    /// `sub`/`iss` of a client assertion are not the client.
    WrongSubject,
    /// The assertion lives longer than the server accepts (bounds the jti cache).
    LifetimeTooLong,
    /// The header `jwk` is absent (DPoP).
    MissingJwk,
    /// The header `jwk` carries private key members.
    PrivateKeyMaterial,
    /// A key is too weak (RSA below 2048 bits) or of an unsupported type or curve.
    UnsupportedKey,
    /// DPoP `htm` differs from the request method.
    WrongMethod,
    /// DPoP `htu` differs from the request URI.
    WrongUri,
    /// DPoP `ath` differs from the hash of the presented access token.
    WrongAccessTokenHash,
    /// The DPoP proof key is not the one the token or code is bound to.
    KeyBindingMismatch,
    /// A DPoP proof is required and absent, or a DPoP-bound token was sent as Bearer.
    ProofRequired,
    /// The token was revoked (as told by the caller).
    Revoked,
    /// No token was presented at all (RFC 6750 §3.1: the challenge then carries no error).
    NoToken,
    /// A `jti` (of a DPoP proof or a client assertion) was already used: the server's replay
    /// cache said so.
    Replayed,
}

impl Rejection {
    /// A short stable name, used in `error_description` and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too large",
            Self::AlgNone => "alg none refused",
            Self::AlgHmac => "symmetric alg refused",
            Self::AlgUnsupported => "unsupported alg",
            Self::AlgKeyMismatch => "alg does not match key",
            Self::MissingKid => "kid missing",
            Self::UnknownKid => "unknown kid",
            Self::BadSignature => "bad signature",
            Self::CritUnsupported => "unsupported crit",
            Self::WrongType => "wrong typ",
            Self::Expired => "expired",
            Self::NotYetValid => "not yet valid",
            Self::Stale => "stale",
            Self::MissingClaim => "required claim missing",
            Self::WrongIssuer => "wrong issuer",
            Self::WrongAudience => "wrong audience",
            Self::WrongSubject => "wrong subject",
            Self::LifetimeTooLong => "lifetime too long",
            Self::MissingJwk => "jwk missing",
            Self::PrivateKeyMaterial => "private key material in jwk",
            Self::UnsupportedKey => "unsupported key",
            Self::WrongMethod => "htm mismatch",
            Self::WrongUri => "htu mismatch",
            Self::WrongAccessTokenHash => "ath mismatch",
            Self::KeyBindingMismatch => "key binding mismatch",
            Self::ProofRequired => "DPoP proof required",
            Self::Revoked => "revoked",
            Self::NoToken => "no token",
            Self::Replayed => "replayed",
        }
    }
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OAuth / OIDC `error` codes this server emits (RFC 6749 §4.1.2.1 and §5.2, OIDC
/// Core §3.1.2.6, RFC 6750 §3.1, RFC 9126 §2.3, RFC 9449 §7.1 and §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    LoginRequired,
    ConsentRequired,
    InvalidRequestUri,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    InvalidToken,
    InsufficientScope,
    InvalidDpopProof,
    UseDpopNonce,
}

impl ErrorCode {
    /// The wire spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

/// Why a request outside the supported profile was refused. Sent as `error_class` next to
/// the standard `error`, and counted by telemetry so that demanded-but-unsupported
/// features show up on a dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// The feature is simply not part of the profile (hybrid flow, request objects).
    FeatureNotSupportedByProfile,
    /// Keycloak offers it; idm will only in a Keycloak-compatibility mode (device flow,
    /// token exchange).
    AvailableInKeycloakModeOnly,
    /// Refused on purpose because it weakens security (implicit flow, password grant,
    /// PKCE `plain`).
    RejectedForProfileSafety,
    /// The feature exists but was used in a way the profile forbids (a `request_uri` that
    /// did not come from PAR, a client that must use PAR and did not).
    InvalidProfileUsage,
}

impl ErrorClass {
    /// The wire spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeatureNotSupportedByProfile => "feature_not_supported_by_profile",
            Self::AvailableInKeycloakModeOnly => "available_in_keycloak_mode_only",
            Self::RejectedForProfileSafety => "rejected_for_profile_safety",
            Self::InvalidProfileUsage => "invalid_profile_usage",
        }
    }
}

/// A telemetry event value for a request outside the profile: the server counts these
/// (`oidc_profile_refusals_total{class, feature}`) so that operators see what clients ask
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ProfileEvent {
    /// Why it was refused.
    pub class: ErrorClass,
    /// Which feature was demanded.
    pub feature: &'static str,
}

/// What an [`OidcError`] looks like on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// The OAuth `error`.
    pub code: ErrorCode,
    /// The HTTP status for a direct (non-redirect) response.
    pub status: u16,
    /// `error_description`, already restricted to the allowed characters.
    pub description: String,
    /// `error_class` for requests outside the profile.
    pub class: Option<ErrorClass>,
    /// Whether the response must carry `WWW-Authenticate: Basic` (failed Basic auth).
    pub basic_challenge: bool,
    /// A `DPoP-Nonce` header value to send (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
}

/// The realm named in `WWW-Authenticate` challenges.
const REALM: &str = "idm";

/// The DPoP algorithms named in `WWW-Authenticate: DPoP algs=...` (RFC 9449 §7.1).
const DPOP_ALGS: &str = "ES256 PS256 RS256";

impl OidcError {
    /// The one mapping from crate errors to OAuth wire errors.
    #[must_use]
    pub fn wire(&self) -> WireError {
        use ErrorCode as C;
        let (code, status) = match self {
            Self::Malformed(_)
            | Self::DuplicateParameter(_)
            | Self::MissingParameter(_)
            | Self::InvalidParameter(_)
            | Self::TooLarge(_)
            | Self::RedirectUriMismatch
            | Self::Jws(_) => (C::InvalidRequest, 400),
            Self::ClientAuthentication { basic: true } => (C::InvalidClient, 401),
            Self::ClientAuthentication { basic: false }
            | Self::InvalidClientAssertion(_)
            | Self::UnknownClient => (C::InvalidClient, 400),
            Self::UnauthorizedClient(_) => (C::UnauthorizedClient, 400),
            Self::InvalidGrant(_) => (C::InvalidGrant, 400),
            Self::UnsupportedGrantType => (C::UnsupportedGrantType, 400),
            Self::UnsupportedResponseType => (C::UnsupportedResponseType, 400),
            Self::InvalidScope(_) => (C::InvalidScope, 400),
            Self::AccessDenied(_) => (C::AccessDenied, 403),
            Self::LoginRequired => (C::LoginRequired, 400),
            Self::ConsentRequired => (C::ConsentRequired, 400),
            Self::OutsideProfile { code, .. } => (*code, 400),
            Self::InvalidRequestUri(_) => (C::InvalidRequestUri, 400),
            Self::InvalidToken(_) => (C::InvalidToken, 401),
            Self::InsufficientScope(_) => (C::InsufficientScope, 403),
            Self::InvalidDpopProof(_) => (C::InvalidDpopProof, 400),
            Self::UseDpopNonce { .. } => (C::UseDpopNonce, 400),
            Self::Key(_)
            | Self::InvalidRegistration(_)
            | Self::InvalidConfig(_)
            | Self::Internal(_) => (C::ServerError, 500),
        };
        let class = match self {
            Self::OutsideProfile { class, .. } => Some(*class),
            _ => None,
        };
        let description = match self {
            // Server-side faults are logged by the server, not explained to clients.
            Self::Key(_)
            | Self::InvalidRegistration(_)
            | Self::InvalidConfig(_)
            | Self::Internal(_) => "internal error".to_owned(),
            other => sanitize_description(&other.to_string()),
        };
        WireError {
            code,
            status,
            description,
            class,
            basic_challenge: matches!(self, Self::ClientAuthentication { basic: true }),
            dpop_nonce: match self {
                Self::UseDpopNonce { nonce } => Some(nonce.clone()),
                _ => None,
            },
        }
    }

    /// The telemetry event for a request outside the profile, if this is one.
    #[must_use]
    pub fn profile_event(&self) -> Option<ProfileEvent> {
        match self {
            Self::OutsideProfile { class, feature, .. } => Some(ProfileEvent {
                class: *class,
                feature,
            }),
            _ => None,
        }
    }

    /// The RFC 6749 §5.2 JSON error response, for the token, PAR, introspection and
    /// revocation endpoints. Carries `Cache-Control: no-store`, and `WWW-Authenticate` for a
    /// failed Basic authentication.
    pub fn json_response(&self) -> HttpResponse {
        let wire = self.wire();
        let mut response = HttpResponse::json(wire.status, &ErrorBody::from(&wire));
        if wire.basic_challenge {
            response.push_header("WWW-Authenticate", format!("Basic realm=\"{REALM}\""));
        }
        if let Some(nonce) = &wire.dpop_nonce {
            response.push_header("DPoP-Nonce", nonce.clone());
        }
        response
    }

    /// The RFC 6750 §3 / RFC 9449 §7.1 error response for a resource endpoint (userinfo):
    /// the error travels in `WWW-Authenticate`, the body is empty.
    pub fn resource_response(&self, scheme: crate::resource::AuthScheme) -> HttpResponse {
        let wire = self.wire();
        // At a resource endpoint every request-level failure is about the token.
        let (code, status) = match wire.code {
            ErrorCode::InsufficientScope => (ErrorCode::InsufficientScope, 403),
            ErrorCode::UseDpopNonce => (ErrorCode::UseDpopNonce, 401),
            ErrorCode::InvalidDpopProof => (ErrorCode::InvalidDpopProof, 401),
            ErrorCode::ServerError => (ErrorCode::ServerError, 500),
            ErrorCode::InvalidRequest => (ErrorCode::InvalidRequest, 400),
            _ => (ErrorCode::InvalidToken, 401),
        };
        let scheme_name = match scheme {
            crate::resource::AuthScheme::Bearer => "Bearer",
            crate::resource::AuthScheme::Dpop => "DPoP",
        };
        let challenge = match (self, scheme) {
            (Self::InvalidToken(Rejection::NoToken), crate::resource::AuthScheme::Bearer) => {
                format!("{scheme_name} realm=\"{REALM}\"")
            }
            (Self::InvalidToken(Rejection::NoToken), crate::resource::AuthScheme::Dpop) => {
                format!("{scheme_name} realm=\"{REALM}\", algs=\"{DPOP_ALGS}\"")
            }
            (_, crate::resource::AuthScheme::Bearer) => format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                code.as_str(),
                wire.description
            ),
            (_, crate::resource::AuthScheme::Dpop) => format!(
                "DPoP realm=\"{REALM}\", algs=\"{DPOP_ALGS}\", error=\"{}\", error_description=\"{}\"",
                code.as_str(),
                wire.description
            ),
        };
        let mut response = HttpResponse::empty(status);
        response.push_header("WWW-Authenticate", challenge);
        response.push_header("Cache-Control", "no-store".to_owned());
        if let Some(nonce) = wire.dpop_nonce {
            response.push_header("DPoP-Nonce", nonce);
        }
        response
    }
}

/// The JSON body of an error response.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_class: Option<&'static str>,
}

impl<'a> From<&'a WireError> for ErrorBody<'a> {
    fn from(w: &'a WireError) -> Self {
        Self {
            error: w.code.as_str(),
            error_description: &w.description,
            error_class: w.class.map(ErrorClass::as_str),
        }
    }
}

/// Longest `error_description` sent.
const MAX_DESCRIPTION: usize = 200;

/// Restricts a description to RFC 6749's `error_description` set (%x20-21 / %x23-5B /
/// %x5D-7E: printable ASCII without `"` and `\`), which also keeps it safe inside a
/// quoted `WWW-Authenticate` parameter, and bounds its length — a parameter name echoed
/// from the request can hold anything.
pub(crate) fn sanitize_description(s: &str) -> String {
    s.chars()
        .take(MAX_DESCRIPTION)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_failure_is_401_with_challenge() {
        let r = OidcError::ClientAuthentication { basic: true }.json_response();
        assert_eq!(r.status, 401);
        assert!(
            r.header("WWW-Authenticate")
                .is_some_and(|v| v.starts_with("Basic"))
        );
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "invalid_client");
    }

    #[test]
    fn post_auth_failure_is_400_without_challenge() {
        let r = OidcError::ClientAuthentication { basic: false }.json_response();
        assert_eq!(r.status, 400);
        assert!(r.header("WWW-Authenticate").is_none());
    }

    #[test]
    fn outside_profile_carries_class_and_event() {
        let e = OidcError::OutsideProfile {
            code: ErrorCode::UnsupportedResponseType,
            class: ErrorClass::RejectedForProfileSafety,
            feature: "implicit_flow",
        };
        let body: serde_json::Value = serde_json::from_str(&e.json_response().body).unwrap();
        assert_eq!(body["error"], "unsupported_response_type");
        assert_eq!(body["error_class"], "rejected_for_profile_safety");
        assert_eq!(
            e.profile_event(),
            Some(ProfileEvent {
                class: ErrorClass::RejectedForProfileSafety,
                feature: "implicit_flow"
            })
        );
    }

    #[test]
    fn descriptions_are_sanitised() {
        let e = OidcError::DuplicateParameter("a\"b\\c\u{e9}\n".to_owned());
        let d = e.wire().description;
        assert!(!d.contains('"') && !d.contains('\\') && !d.contains('\n'));
        assert!(d.is_ascii());
    }

    #[test]
    fn server_faults_hide_details() {
        let w = OidcError::Key("pkcs8 decode").wire();
        assert_eq!(w.status, 500);
        assert_eq!(w.description, "internal error");
    }

    #[test]
    fn dpop_nonce_is_sent_back() {
        let e = OidcError::UseDpopNonce {
            nonce: "n-1".to_owned(),
        };
        assert_eq!(e.json_response().header("DPoP-Nonce"), Some("n-1"));
        let r = e.resource_response(crate::resource::AuthScheme::Dpop);
        assert_eq!(r.status, 401);
        assert!(
            r.header("WWW-Authenticate")
                .is_some_and(|v| v.contains("use_dpop_nonce"))
        );
    }

    #[test]
    fn no_token_challenge_has_no_error_code() {
        let r = OidcError::InvalidToken(Rejection::NoToken)
            .resource_response(crate::resource::AuthScheme::Bearer);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer realm=\"idm\""));
    }
}
