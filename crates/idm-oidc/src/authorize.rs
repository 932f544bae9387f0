//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2) and PAR (RFC 9126).
//!
//! The flow in the server:
//! 1. [`AuthorizeInput::parse`] the query; look up the client by
//!    [`AuthorizeInput::client_id`] and, for PAR, the pushed request by
//!    [`AuthorizeInput::pushed_request_uri`] (then delete it: request URIs are one-time).
//! 2. [`Provider::authorize`] → [`Authorize::Proceed`] with a validated
//!    [`AuthorizationRequest`] (which the server keeps in the login session), or an error
//!    that is either shown to the user (client or redirect URI not trusted: never
//!    redirect to an unvalidated URI) or redirected back to the client.
//! 3. [`Provider::next_step`] with the session's login and remembered consent: log in,
//!    ask consent, or issue.
//! 4. [`Provider::issue_code`] with fresh random bytes → the code to store and the
//!    redirect (query or `form_post`), with `code`, `state` and `iss` (RFC 9207).

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::claims::{Authentication, UserClaims};
use crate::client::ClientRegistration;
use crate::client_auth::{AuthenticatedClient, ClientCredentials};
use crate::consent::{self, RememberedConsent};
use crate::dpop::DpopProof;
use crate::error::{ErrorClass, ErrorCode, OidcError, Rejection};
use crate::grant::{AuthorizationCode, CodeGrant};
use crate::http::{HttpResponse, RequestHeaders};
use crate::params::{Limits, Params, encode_pairs, split_list};
use crate::pkce::CodeChallenge;
use crate::provider::Provider;
use crate::scope::ScopeSet;

/// Prefix of the `request_uri` values this server issues at the PAR endpoint.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Longest accepted `max_age` (ten years): anything longer is a mistake.
const MAX_MAX_AGE: i64 = 10 * 365 * 86_400;

/// How the authorization response travels back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Query parameters on a 303 redirect.
    #[default]
    Query,
    /// An auto-submitting HTML form POSTed to the redirect URI (OAuth 2.0 Form Post
    /// Response Mode): keeps the code out of browser history and `Referer`.
    FormPost,
}

/// The `prompt` values (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Never show UI: fail with `login_required` / `consent_required` instead.
    pub none: bool,
    /// Re-authenticate even with a session.
    pub login: bool,
    /// Ask for consent even if remembered.
    pub consent: bool,
    /// Let the user pick an account (the server's login page decides what that means).
    pub select_account: bool,
}

/// A parsed authorization request query, not yet validated.
#[derive(Debug, Clone)]
pub struct AuthorizeInput {
    params: Params,
}

impl AuthorizeInput {
    /// Parses the query string (without `?`). Errors here are shown to the user: without a
    /// trustworthy parse there is no trustworthy redirect URI.
    pub fn parse(query: &[u8], limits: &Limits) -> Result<Self, OidcError> {
        Ok(Self {
            params: Params::parse(query, limits)?,
        })
    }

    /// The `client_id` to look up.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.params.get("client_id")
    }

    /// The PAR `request_uri` to look up, if the request references one of ours.
    #[must_use]
    pub fn pushed_request_uri(&self) -> Option<&str> {
        self.params
            .get("request_uri")
            .filter(|u| u.starts_with(REQUEST_URI_PREFIX))
    }
}

/// A validated authorization request. The server keeps it (serialised) in the login
/// session between the authorize call and the code issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The validated redirect URI.
    pub redirect_uri: String,
    /// Query or form_post.
    pub response_mode: ResponseMode,
    /// Requested scopes (all allowed for the client).
    pub scopes: ScopeSet,
    /// Opaque client state, echoed.
    pub state: Option<String>,
    /// Nonce for the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<CodeChallenge>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`, for the login page.
    pub login_hint: Option<String>,
    /// `acr_values`, for the login page.
    pub acr_values: Vec<String>,
    /// `ui_locales`, for the login and consent pages.
    pub ui_locales: Vec<String>,
    /// `dpop_jkt`: the DPoP key the code will be bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    /// Whether the request came through PAR.
    pub via_par: bool,
    /// When the user agent arrived at the authorization endpoint (makes `prompt=login`
    /// satisfiable: a login after this moment counts).
    pub received_at: i64,
}

/// The outcome of [`Provider::authorize`].
#[derive(Debug, Clone)]
#[must_use]
pub enum Authorize {
    /// Go on: log in, consent, issue.
    Proceed(Box<AuthorizationRequest>),
    /// Stop.
    Error(AuthorizeError),
}

/// A refused authorization request.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The client or redirect URI could not be trusted: show an error page, never
    /// redirect (RFC 6749 §4.1.2.1).
    ShowToUser(OidcError),
    /// Send the error back to the client's validated redirect URI.
    Redirect(Box<ErrorRedirect>),
}

impl AuthorizeError {
    /// The error, for logs and telemetry ([`OidcError::profile_event`]).
    #[must_use]
    pub fn error(&self) -> &OidcError {
        match self {
            Self::ShowToUser(e) => e,
            Self::Redirect(r) => &r.error,
        }
    }
}

/// An error to redirect back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    /// Validated redirect URI.
    pub redirect_uri: String,
    /// Query or form_post.
    pub response_mode: ResponseMode,
    /// The request's `state`.
    pub state: Option<String>,
    /// Our issuer, sent as `iss` (RFC 9207).
    pub issuer: String,
    /// The error.
    pub error: OidcError,
}

impl ErrorRedirect {
    /// The redirect (or form_post page) carrying `error`, `error_description`,
    /// `error_class` (outside-profile requests), `state` and `iss`.
    pub fn response(&self) -> HttpResponse {
        let wire = self.error.wire();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("error", wire.code.as_str()),
            ("error_description", &wire.description),
        ];
        if let Some(class) = wire.class {
            pairs.push(("error_class", class.as_str()));
        }
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", &self.issuer));
        authorization_response(&self.redirect_uri, self.response_mode, &pairs)
    }
}

/// What the server does next with a validated request.
#[derive(Debug, Clone)]
#[must_use]
pub enum NextStep {
    /// Show the login page (no session, `prompt=login`, or `max_age` exceeded). After the
    /// login, call [`Provider::next_step`] again with the new session and the request's
    /// `prompt.login` cleared: the login just performed satisfies it (times are whole seconds,
    /// so a session from the same second as the request is otherwise treated as stale).
    Login,
    /// Show the consent page for `ask`; on approval call [`Provider::issue_code`] with
    /// `scopes` and store [`RememberedConsent::after_approval`].
    Consent {
        /// Scopes to show.
        ask: ScopeSet,
        /// Scopes to grant on approval.
        scopes: ScopeSet,
    },
    /// Call [`Provider::issue_code`] with these scopes.
    Issue {
        /// Scopes to grant (requested, narrowed by the client's scope map).
        scopes: ScopeSet,
    },
    /// Redirect this error (`login_required`, `consent_required`, `access_denied`).
    Error(Box<ErrorRedirect>),
}

/// A freshly issued authorization code.
#[derive(Debug)]
#[must_use]
pub struct IssuedCode {
    /// The code (the server stores only its [`AuthorizationCode::storage_key`]).
    pub code: AuthorizationCode,
    /// Store under the code's storage key until `grant.expires_at`.
    pub grant: CodeGrant,
    /// The redirect (or form_post page) to send.
    pub response: HttpResponse,
}

/// A PAR request (RFC 9126 §2.1): client authentication plus authorization parameters.
#[derive(Debug, Clone)]
pub struct ParRequest {
    /// Client credentials.
    pub credentials: ClientCredentials,
    /// The DPoP header, if any (RFC 9449 §10.1).
    pub dpop_proof: Option<String>,
    params: Params,
}

impl ParRequest {
    /// Parses a PAR form body. Repeated parameters are refused.
    pub fn parse(
        body: &[u8],
        headers: &RequestHeaders,
        limits: &Limits,
    ) -> Result<Self, OidcError> {
        let params = Params::parse_strict(body, limits)?;
        let credentials = ClientCredentials::extract(&params, headers, limits)?;
        Ok(Self {
            credentials,
            dpop_proof: headers.dpop.clone(),
            params,
        })
    }
}

/// What the server stores under `request_uri` until `expires_at`, and deletes at first
/// use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedAuthorization {
    /// `urn:ietf:params:oauth:request_uri:...`.
    pub request_uri: String,
    /// The validated request.
    pub request: AuthorizationRequest,
    /// Expiry.
    pub expires_at: i64,
}

/// The result of a successful PAR.
#[derive(Debug, Clone)]
#[must_use]
pub struct Pushed {
    /// Store this.
    pub record: PushedAuthorization,
    /// Send this (201 with `request_uri` and `expires_in`).
    pub response: HttpResponse,
}

#[derive(Serialize)]
struct ParResponseBody<'a> {
    request_uri: &'a str,
    expires_in: i64,
}

impl Provider {
    /// Validates an authorization request against the client's registration (and, with
    /// PAR, the pushed request the server looked up by
    /// [`AuthorizeInput::pushed_request_uri`]).
    pub fn authorize(
        &self,
        input: &AuthorizeInput,
        client: Option<&ClientRegistration>,
        pushed: Option<&PushedAuthorization>,
        now: i64,
    ) -> Authorize {
        let show = |e| Authorize::Error(AuthorizeError::ShowToUser(e));
        let p = &input.params;
        if p.is_duplicated("client_id") {
            return show(OidcError::DuplicateParameter("client_id".to_owned()));
        }
        let Some(client_id) = p.get("client_id") else {
            return show(OidcError::MissingParameter("client_id"));
        };
        let Some(client) = client.filter(|c| c.client_id == client_id) else {
            return show(OidcError::UnknownClient);
        };

        if let Some(uri) = input.pushed_request_uri() {
            if p.is_duplicated("request_uri") {
                return show(OidcError::DuplicateParameter("request_uri".to_owned()));
            }
            let Some(pushed) = pushed.filter(|x| x.request_uri == uri) else {
                return show(OidcError::InvalidRequestUri("unknown or already used"));
            };
            if pushed.request.client_id != client.client_id {
                return show(OidcError::InvalidRequestUri("issued to another client"));
            }
            let mut request = pushed.request.clone();
            if now >= pushed.expires_at {
                return Authorize::Error(AuthorizeError::Redirect(Box::new(
                    self.error_redirect(&request, OidcError::InvalidRequestUri("expired")),
                )));
            }
            request.received_at = now;
            return Authorize::Proceed(Box::new(request));
        }

        if p.is_duplicated("redirect_uri") {
            return show(OidcError::DuplicateParameter("redirect_uri".to_owned()));
        }
        let Some(redirect_uri) = p.get("redirect_uri") else {
            return show(OidcError::MissingParameter("redirect_uri"));
        };
        if !client.redirect_uri_allowed(redirect_uri) {
            return show(OidcError::RedirectUriMismatch);
        }

        // From here on, errors go back to the client.
        let redirect = |error| {
            Authorize::Error(AuthorizeError::Redirect(Box::new(ErrorRedirect {
                redirect_uri: redirect_uri.to_owned(),
                response_mode: parse_response_mode(p.get("response_mode")).unwrap_or_default(),
                state: p
                    .get("state")
                    .filter(|_| !p.is_duplicated("state"))
                    .map(str::to_owned),
                issuer: self.issuer().to_owned(),
                error,
            })))
        };
        if client.require_par {
            return redirect(OidcError::OutsideProfile {
                code: ErrorCode::InvalidRequest,
                class: ErrorClass::InvalidProfileUsage,
                feature: "par_required",
            });
        }
        match validate_params(p, client, redirect_uri, false, &self.config().limits, now) {
            Ok(request) => Authorize::Proceed(Box::new(request)),
            Err(e) => redirect(e),
        }
    }

    /// Decides what to do with a validated request given the session's login (with the
    /// user's current claims, for the scope map) and remembered consent.
    pub fn next_step(
        &self,
        request: &AuthorizationRequest,
        client: &ClientRegistration,
        session: Option<(&Authentication, &UserClaims)>,
        remembered: Option<&RememberedConsent>,
        now: i64,
    ) -> NextStep {
        let fail = |e| NextStep::Error(Box::new(self.error_redirect(request, e)));
        let login_or_fail = || {
            if request.prompt.none {
                fail(OidcError::LoginRequired)
            } else {
                NextStep::Login
            }
        };
        let Some((authn, user)) = session else {
            return login_or_fail();
        };
        // A login in the same second as the request cannot be told apart from one just before
        // it, so it does not count: the server clears `prompt.login` once its own login page has
        // run (see [`NextStep::Login`]).
        let stale_for_prompt = request.prompt.login && authn.auth_time <= request.received_at;
        let stale_for_max_age = request.max_age.is_some_and(|m| now - authn.auth_time > m);
        if authn.subject != user.subject || stale_for_prompt || stale_for_max_age {
            return login_or_fail();
        }
        let scopes = match client
            .scope_map
            .permitted(&request.scopes, &user.group_names())
        {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let ask =
            consent::scopes_needing_consent(client, &scopes, remembered, request.prompt.consent);
        if ask.is_empty() {
            NextStep::Issue { scopes }
        } else if request.prompt.none {
            fail(OidcError::ConsentRequired)
        } else {
            NextStep::Consent { ask, scopes }
        }
    }

    /// Issues an authorization code for a logged-in, consenting user. `scopes` must be a
    /// subset of the request's (normally what [`NextStep`] returned); `random` are 32
    /// fresh random bytes for the code.
    pub fn issue_code(
        &self,
        request: &AuthorizationRequest,
        client: &ClientRegistration,
        authn: &Authentication,
        scopes: &ScopeSet,
        random: [u8; 32],
        now: i64,
    ) -> Result<IssuedCode, OidcError> {
        if !scopes.is_subset(&request.scopes) {
            return Err(OidcError::InvalidScope(
                scopes.difference(&request.scopes).to_scope_string(),
            ));
        }
        if client.client_id != request.client_id {
            return Err(OidcError::Internal("request and client differ"));
        }
        let code = AuthorizationCode::generate(random);
        let grant = CodeGrant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scopes: scopes.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            subject: authn.subject.clone(),
            auth_time: authn.auth_time,
            amr: authn.amr.clone(),
            acr: authn.acr.clone(),
            assurance: authn.assurance,
            session_id: authn.session_id.clone(),
            dpop_jkt: request.dpop_jkt.clone(),
            issued_at: now,
            expires_at: now + client.lifetimes.code,
        };
        let mut pairs: Vec<(&str, &str)> = vec![("code", code.as_str())];
        if let Some(state) = &request.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.issuer()));
        let response = authorization_response(&request.redirect_uri, request.response_mode, &pairs);
        Ok(IssuedCode {
            code,
            grant,
            response,
        })
    }

    /// The redirect for an error after validation: the user denied consent
    /// (`OidcError::AccessDenied`), the login page gave up, ...
    pub fn authorization_error(
        &self,
        request: &AuthorizationRequest,
        error: OidcError,
    ) -> HttpResponse {
        self.error_redirect(request, error).response()
    }

    /// Handles a pushed authorization request for an authenticated client: validates the
    /// parameters like the authorization endpoint would, binds a DPoP key if a proof was
    /// sent, and mints the `request_uri` from 32 random bytes.
    pub fn push_authorization_request(
        &self,
        par: &ParRequest,
        client: &ClientRegistration,
        authenticated: &AuthenticatedClient,
        dpop: Option<&DpopProof>,
        random: [u8; 32],
        now: i64,
    ) -> Result<Pushed, OidcError> {
        if authenticated.client_id != client.client_id {
            return Err(OidcError::Internal(
                "authenticated client and registration differ",
            ));
        }
        let p = &par.params;
        if p.get("client_id").is_some_and(|id| id != client.client_id) {
            return Err(OidcError::InvalidParameter("client_id"));
        }
        let redirect_uri = p
            .get("redirect_uri")
            .ok_or(OidcError::MissingParameter("redirect_uri"))?;
        if !client.redirect_uri_allowed(redirect_uri) {
            return Err(OidcError::RedirectUriMismatch);
        }
        let mut request =
            validate_params(p, client, redirect_uri, true, &self.config().limits, now)?;
        if let Some(proof) = dpop {
            match &request.dpop_jkt {
                Some(jkt) if *jkt != proof.jkt => {
                    return Err(OidcError::InvalidDpopProof(Rejection::KeyBindingMismatch));
                }
                _ => request.dpop_jkt = Some(proof.jkt.clone()),
            }
        }
        let record = PushedAuthorization {
            request_uri: format!("{REQUEST_URI_PREFIX}{}", b64::encode(&random)),
            request,
            expires_at: now + self.config().par_lifetime,
        };
        let mut response = HttpResponse::json(
            201,
            &ParResponseBody {
                request_uri: &record.request_uri,
                expires_in: self.config().par_lifetime,
            },
        );
        if response.status != 201 {
            return Err(OidcError::Internal("PAR response"));
        }
        response.headers.retain(|(n, _)| *n != "Pragma");
        Ok(Pushed { record, response })
    }

    fn error_redirect(&self, request: &AuthorizationRequest, error: OidcError) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            issuer: self.issuer().to_owned(),
            error,
        }
    }
}

fn outside(code: ErrorCode, class: ErrorClass, feature: &'static str) -> OidcError {
    OidcError::OutsideProfile {
        code,
        class,
        feature,
    }
}

fn parse_response_mode(v: Option<&str>) -> Result<ResponseMode, OidcError> {
    match v {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some("fragment") => Err(outside(
            ErrorCode::InvalidRequest,
            ErrorClass::FeatureNotSupportedByProfile,
            "response_mode_fragment",
        )),
        Some("jwt" | "query.jwt" | "form_post.jwt" | "fragment.jwt") => Err(outside(
            ErrorCode::InvalidRequest,
            ErrorClass::AvailableInKeycloakModeOnly,
            "jarm",
        )),
        Some(_) => Err(OidcError::InvalidParameter("response_mode")),
    }
}

/// Classifies `response_type`: only `code` is in the profile.
fn check_response_type(v: Option<&str>, limits: &Limits) -> Result<(), OidcError> {
    let v = v.ok_or(OidcError::MissingParameter("response_type"))?;
    let mut parts = split_list(v, limits, "response_type")?;
    parts.sort_unstable();
    parts.dedup();
    let known = |s: &&str| matches!(*s, "code" | "token" | "id_token" | "none");
    match parts.as_slice() {
        ["code"] => Ok(()),
        ["none"] => Err(outside(
            ErrorCode::UnsupportedResponseType,
            ErrorClass::FeatureNotSupportedByProfile,
            "response_type_none",
        )),
        p if !p.is_empty() && p.iter().all(known) && p.contains(&"code") => Err(outside(
            ErrorCode::UnsupportedResponseType,
            ErrorClass::FeatureNotSupportedByProfile,
            "hybrid_flow",
        )),
        p if !p.is_empty() && p.iter().all(|s| matches!(*s, "token" | "id_token")) => Err(outside(
            ErrorCode::UnsupportedResponseType,
            ErrorClass::RejectedForProfileSafety,
            "implicit_flow",
        )),
        _ => Err(OidcError::UnsupportedResponseType),
    }
}

fn parse_prompt(v: Option<&str>, limits: &Limits) -> Result<Prompt, OidcError> {
    let mut prompt = Prompt::default();
    let Some(v) = v else {
        return Ok(prompt);
    };
    let values = split_list(v, limits, "prompt")?;
    for value in &values {
        match *value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => return Err(OidcError::InvalidParameter("prompt")),
        }
    }
    if prompt.none && values.len() > 1 {
        return Err(OidcError::InvalidParameter("prompt"));
    }
    Ok(prompt)
}

/// Validation shared by the authorization endpoint and PAR, after the client and
/// redirect URI have been established.
fn validate_params(
    p: &Params,
    client: &ClientRegistration,
    redirect_uri: &str,
    via_par: bool,
    limits: &Limits,
    now: i64,
) -> Result<AuthorizationRequest, OidcError> {
    p.reject_duplicates()?;
    if p.get("request").is_some() {
        return Err(outside(
            ErrorCode::RequestNotSupported,
            ErrorClass::FeatureNotSupportedByProfile,
            "request_object",
        ));
    }
    if p.get("request_uri").is_some() {
        // A request_uri that is not one of our PAR references, or one inside a PAR body
        // (RFC 9126 §2.1 forbids it).
        let code = if via_par {
            ErrorCode::InvalidRequest
        } else {
            ErrorCode::RequestUriNotSupported
        };
        return Err(outside(
            code,
            ErrorClass::InvalidProfileUsage,
            "request_uri_without_par",
        ));
    }
    if p.get("registration").is_some() {
        return Err(outside(
            ErrorCode::RegistrationNotSupported,
            ErrorClass::FeatureNotSupportedByProfile,
            "registration_parameter",
        ));
    }
    check_response_type(p.get("response_type"), limits)?;
    let response_mode = parse_response_mode(p.get("response_mode"))?;
    let scope = p.get("scope").ok_or(OidcError::MissingParameter("scope"))?;
    let scopes = ScopeSet::parse(scope, limits)?;
    let not_allowed = scopes.difference(&client.allowed_scopes);
    if !not_allowed.is_empty() {
        return Err(OidcError::InvalidScope(not_allowed.to_scope_string()));
    }
    let code_challenge =
        CodeChallenge::from_request(p.get("code_challenge"), p.get("code_challenge_method"))?;
    if code_challenge.is_none() && client.pkce_required() {
        return Err(OidcError::MissingParameter("code_challenge"));
    }
    let prompt = parse_prompt(p.get("prompt"), limits)?;
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|m| (0..=MAX_MAX_AGE).contains(m))
                .ok_or(OidcError::InvalidParameter("max_age"))?,
        ),
    };
    let dpop_jkt = match p.get("dpop_jkt") {
        None => None,
        Some(j) if j.len() == 43 && b64::is_b64url(j) => Some(j.to_owned()),
        Some(_) => return Err(OidcError::InvalidParameter("dpop_jkt")),
    };
    let list = |name: &'static str| -> Result<Vec<String>, OidcError> {
        Ok(match p.get(name) {
            Some(v) => split_list(v, limits, name)?
                .into_iter()
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        })
    };
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        response_mode,
        scopes,
        state: p.owned("state"),
        nonce: p.owned("nonce"),
        code_challenge,
        prompt,
        max_age,
        login_hint: p.owned("login_hint"),
        acr_values: list("acr_values")?,
        ui_locales: list("ui_locales")?,
        dpop_jkt,
        via_par,
        received_at: now,
    })
}

/// Builds the authorization response: a 303 with the parameters added to the redirect
/// URI's query, or a self-submitting form. Both are `no-store`.
fn authorization_response(
    redirect_uri: &str,
    mode: ResponseMode,
    pairs: &[(&str, &str)],
) -> HttpResponse {
    match mode {
        ResponseMode::Query => {
            let separator = if redirect_uri.contains('?') {
                if redirect_uri.ends_with(['?', '&']) {
                    ""
                } else {
                    "&"
                }
            } else {
                "?"
            };
            let location = format!(
                "{redirect_uri}{separator}{}",
                encode_pairs(pairs.iter().copied())
            );
            let mut r = HttpResponse::empty(303);
            r.push_header("Location", location);
            r.push_header("Cache-Control", "no-store".to_owned());
            r
        }
        ResponseMode::FormPost => form_post(redirect_uri, pairs),
    }
}

/// The one script of the form_post page; its hash goes in the CSP so no other script runs.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

fn form_post(action: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    let mut html = String::with_capacity(512);
    html.push_str("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Continue</title></head><body><form method=\"post\" action=\"");
    html.push_str(&html_escape(action));
    html.push_str("\">");
    for (name, value) in pairs {
        html.push_str("<input type=\"hidden\" name=\"");
        html.push_str(&html_escape(name));
        html.push_str("\" value=\"");
        html.push_str(&html_escape(value));
        html.push_str("\">");
    }
    html.push_str("<noscript><button type=\"submit\">Continue</button></noscript></form><script>");
    html.push_str(FORM_POST_SCRIPT);
    html.push_str("</script></body></html>");
    let script_hash = {
        use sha2::{Digest, Sha256};
        <base64ct::Base64 as base64ct::Encoding>::encode_string(&Sha256::digest(
            FORM_POST_SCRIPT.as_bytes(),
        ))
    };
    HttpResponse {
        status: 200,
        headers: vec![
            ("Content-Type", "text/html; charset=utf-8".to_owned()),
            ("Cache-Control", "no-store".to_owned()),
            (
                "Content-Security-Policy",
                format!(
                    "default-src 'none'; script-src 'sha256-{script_hash}'; form-action *; frame-ancestors 'none'"
                ),
            ),
            ("Referrer-Policy", "no-referrer".to_owned()),
        ],
        body: html,
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;
    use crate::claims::{Assurance, GroupRef, PrincipalType};
    use crate::client::ApplicationType;
    use crate::client_auth::SecretDigest;
    use crate::provider::ProviderConfig;

    pub const ISSUER: &str = "https://idm.example.com";
    pub const REDIRECT: &str = "https://app.example.com/cb";
    pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    pub fn provider() -> Provider {
        Provider::new(ProviderConfig::new(ISSUER, "acme").unwrap()).unwrap()
    }

    pub fn client() -> ClientRegistration {
        let mut c = ClientRegistration::confidential(
            "app",
            SecretDigest::from_bytes([1; 32]),
            vec![REDIRECT.to_owned()],
        );
        c.allowed_scopes =
            ScopeSet::from_tokens(["openid", "profile", "email", "groups", "offline_access"])
                .unwrap();
        c
    }

    pub fn query(extra: &str) -> String {
        format!(
            "response_type=code&client_id=app&redirect_uri={}&scope=openid+email&state=xyz&nonce=n-1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            encode_pairs([("", REDIRECT)]).trim_start_matches('=')
        )
    }

    pub fn authorize(q: &str, client: &ClientRegistration) -> Authorize {
        let input = AuthorizeInput::parse(q.as_bytes(), &Limits::default()).unwrap();
        provider().authorize(&input, Some(client), None, 1000)
    }

    pub fn proceed(q: &str) -> AuthorizationRequest {
        match authorize(q, &client()) {
            Authorize::Proceed(r) => *r,
            Authorize::Error(e) => panic!("{e:?}"),
        }
    }

    fn redirected(a: Authorize) -> ErrorRedirect {
        match a {
            Authorize::Error(AuthorizeError::Redirect(r)) => *r,
            other => panic!("expected redirect, got {other:?}"),
        }
    }

    fn shown(a: Authorize) -> OidcError {
        match a {
            Authorize::Error(AuthorizeError::ShowToUser(e)) => e,
            other => panic!("expected shown error, got {other:?}"),
        }
    }

    pub fn authn() -> Authentication {
        Authentication {
            subject: "8f6c1a52-0b6e-4d2c-9a0e-2f1d7c3b4a5e".to_owned(),
            auth_time: 990,
            amr: vec!["pwd".to_owned()],
            acr: None,
            assurance: Assurance::Password,
            session_id: "sess-1".to_owned(),
        }
    }

    pub fn user() -> UserClaims {
        UserClaims {
            subject: "8f6c1a52-0b6e-4d2c-9a0e-2f1d7c3b4a5e".to_owned(),
            principal_type: PrincipalType::Person,
            name: Some("Alice".to_owned()),
            preferred_username: Some("alice".to_owned()),
            updated_at: None,
            email: Some("alice@example.com".to_owned()),
            email_verified: true,
            groups: vec![GroupRef {
                name: "staff".to_owned(),
                uuid: "00000000-0000-4000-8000-000000000001".to_owned(),
            }],
            roles: vec![],
        }
    }

    fn location_params(r: &HttpResponse) -> Params {
        let loc = r.header("Location").unwrap();
        let q = loc.split_once('?').unwrap().1;
        Params::parse_strict(q.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn happy_path_query() {
        let req = proceed(&query(""));
        assert_eq!(req.state.as_deref(), Some("xyz"));
        assert_eq!(req.nonce.as_deref(), Some("n-1"));
        assert_eq!(req.scopes.to_scope_string(), "email openid");
        let (a, u) = (authn(), user());
        let step = provider().next_step(&req, &client(), Some((&a, &u)), None, 1000);
        let NextStep::Consent { ask, scopes } = step else {
            panic!("{step:?}")
        };
        assert_eq!(ask, scopes);
        let issued = provider()
            .issue_code(&req, &client(), &a, &scopes, [5; 32], 1000)
            .unwrap();
        assert_eq!(issued.response.status, 303);
        let params = location_params(&issued.response);
        assert_eq!(params.get("code"), Some(issued.code.as_str()));
        assert_eq!(params.get("state"), Some("xyz"));
        assert_eq!(params.get("iss"), Some(ISSUER));
        assert_eq!(issued.grant.expires_at, 1060);
        assert_eq!(issued.grant.nonce.as_deref(), Some("n-1"));
        assert_eq!(issued.response.header("Cache-Control"), Some("no-store"));
    }

    #[test]
    fn form_post_response() {
        let req = proceed(
            &query("&response_mode=form_post").replace("state=xyz", "state=%22%3E%3Cscript%3E"),
        );
        let issued = provider()
            .issue_code(&req, &client(), &authn(), &req.scopes, [5; 32], 1000)
            .unwrap();
        let r = issued.response;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("action=\"https://app.example.com/cb\""));
        assert!(r.body.contains("&quot;&gt;&lt;script&gt;"));
        assert!(!r.body.contains("\"><script>"));
        assert!(r.body.contains(&format!("name=\"iss\" value=\"{ISSUER}\"")));
        assert!(
            r.header("Content-Security-Policy")
                .unwrap()
                .contains("sha256-")
        );
    }

    #[test]
    fn untrusted_client_or_redirect_is_shown_not_redirected() {
        let c = client();
        assert_eq!(
            shown(authorize(
                &query("").replace("client_id=app", "client_id=evil"),
                &c
            )),
            OidcError::UnknownClient
        );
        let q = query("").replace("app.example.com%2Fcb", "evil.example.com%2Fcb");
        assert_eq!(shown(authorize(&q, &c)), OidcError::RedirectUriMismatch);
        let q = query("").replace("%2Fcb", "%2Fcb%2F");
        assert_eq!(shown(authorize(&q, &c)), OidcError::RedirectUriMismatch);
        let q = query("&redirect_uri=https%3A%2F%2Fevil.example%2F");
        assert!(matches!(
            shown(authorize(&q, &c)),
            OidcError::DuplicateParameter(_)
        ));
        let q = query("&client_id=app");
        assert!(matches!(
            shown(authorize(&q, &c)),
            OidcError::DuplicateParameter(_)
        ));
        let q = query("").replace(
            &format!(
                "redirect_uri={}&",
                encode_pairs([("", REDIRECT)]).trim_start_matches('=')
            ),
            "",
        );
        assert_eq!(
            shown(authorize(&q, &c)),
            OidcError::MissingParameter("redirect_uri")
        );
    }

    #[test]
    fn errors_after_redirect_check_are_redirected_with_iss_and_state() {
        let r = redirected(authorize(&query("&scope=admin"), &client()));
        assert!(matches!(r.error, OidcError::DuplicateParameter(_)));
        let resp = r.response();
        let params = location_params(&resp);
        assert_eq!(params.get("error"), Some("invalid_request"));
        assert_eq!(params.get("iss"), Some(ISSUER));
        assert_eq!(params.get("state"), Some("xyz"));
        let q = query("").replace("scope=openid+email", "scope=openid+admin");
        let r = redirected(authorize(&q, &client()));
        assert_eq!(r.error.wire().code, ErrorCode::InvalidScope);
    }

    #[test]
    fn outside_profile_response_types() {
        let cases = [
            (
                "token",
                ErrorClass::RejectedForProfileSafety,
                "implicit_flow",
            ),
            (
                "id_token",
                ErrorClass::RejectedForProfileSafety,
                "implicit_flow",
            ),
            (
                "id_token+token",
                ErrorClass::RejectedForProfileSafety,
                "implicit_flow",
            ),
            (
                "code+id_token",
                ErrorClass::FeatureNotSupportedByProfile,
                "hybrid_flow",
            ),
            (
                "code+token",
                ErrorClass::FeatureNotSupportedByProfile,
                "hybrid_flow",
            ),
            (
                "token+code+id_token",
                ErrorClass::FeatureNotSupportedByProfile,
                "hybrid_flow",
            ),
        ];
        for (rt, class, feature) in cases {
            let q = query("").replace("response_type=code", &format!("response_type={rt}"));
            let r = redirected(authorize(&q, &client()));
            assert_eq!(
                r.error.wire().code,
                ErrorCode::UnsupportedResponseType,
                "{rt}"
            );
            assert_eq!(
                r.error.profile_event().map(|e| (e.class, e.feature)),
                Some((class, feature)),
                "{rt}"
            );
            let params = location_params(&r.response());
            assert_eq!(params.get("error_class"), Some(class.as_str()));
        }
        let q = query("").replace("response_type=code", "response_type=banana");
        assert_eq!(
            redirected(authorize(&q, &client())).error,
            OidcError::UnsupportedResponseType
        );
    }

    #[test]
    fn request_objects_and_foreign_request_uri_refused() {
        let r = redirected(authorize(&query("&request=eyJ.e30.x"), &client()));
        assert_eq!(r.error.wire().code, ErrorCode::RequestNotSupported);
        let r = redirected(authorize(
            &query("&request_uri=https%3A%2F%2Fa%2Fr"),
            &client(),
        ));
        assert_eq!(r.error.wire().code, ErrorCode::RequestUriNotSupported);
        assert_eq!(r.error.wire().class, Some(ErrorClass::InvalidProfileUsage));
        let r = redirected(authorize(&query("&registration=%7B%7D"), &client()));
        assert_eq!(r.error.wire().code, ErrorCode::RegistrationNotSupported);
        let r = redirected(authorize(&query("&response_mode=fragment"), &client()));
        assert_eq!(
            r.error.wire().class,
            Some(ErrorClass::FeatureNotSupportedByProfile)
        );
        // The error for an unsupported response_mode still goes back by query.
        assert_eq!(r.response_mode, ResponseMode::Query);
    }

    #[test]
    fn pkce_rules() {
        let plain = query("").replace("code_challenge_method=S256", "code_challenge_method=plain");
        let r = redirected(authorize(&plain, &client()));
        assert_eq!(r.error.wire().code, ErrorCode::InvalidRequest);
        assert_eq!(
            r.error.wire().class,
            Some(ErrorClass::RejectedForProfileSafety)
        );
        let none = query("").replace(
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            "",
        );
        let r = redirected(authorize(&none, &client()));
        assert_eq!(r.error, OidcError::MissingParameter("code_challenge"));
        let mut c = client();
        c.pkce_required = false;
        assert!(matches!(authorize(&none, &c), Authorize::Proceed(_)));
        let mut public =
            ClientRegistration::public("app", ApplicationType::Web, vec![REDIRECT.to_owned()]);
        public.pkce_required = false;
        assert!(matches!(authorize(&none, &public), Authorize::Error(_)));
    }

    #[test]
    fn prompt_and_max_age() {
        let p = provider();
        let c = client();
        let (a, u) = (authn(), user());
        let mut c1 = c.clone();
        c1.first_party = true;
        let req = proceed(&query("&prompt=none"));
        assert!(matches!(
            p.next_step(&req, &c, None, None, 1000),
            NextStep::Error(e) if e.error == OidcError::LoginRequired
        ));
        assert!(matches!(
            p.next_step(&req, &c, Some((&a, &u)), None, 1000),
            NextStep::Error(e) if e.error == OidcError::ConsentRequired
        ));
        assert!(matches!(
            p.next_step(&req, &c1, Some((&a, &u)), None, 1000),
            NextStep::Issue { .. }
        ));
        // prompt=login: a login before the request does not count, one after does.
        let req = proceed(&query("&prompt=login"));
        assert!(matches!(
            p.next_step(&req, &c1, Some((&a, &u)), None, 1000),
            NextStep::Login
        ));
        // One from the same second as the request is not known to be after it.
        let same_second = Authentication {
            auth_time: req.received_at,
            ..a.clone()
        };
        assert!(matches!(
            p.next_step(&req, &c1, Some((&same_second, &u)), None, 1000),
            NextStep::Login
        ));
        let mut after_login_page = req.clone();
        after_login_page.prompt.login = false;
        assert!(matches!(
            p.next_step(&after_login_page, &c1, Some((&same_second, &u)), None, 1000),
            NextStep::Issue { .. }
        ));
        let fresh = Authentication {
            auth_time: 1001,
            ..a.clone()
        };
        assert!(matches!(
            p.next_step(&req, &c1, Some((&fresh, &u)), None, 1002),
            NextStep::Issue { .. }
        ));
        // max_age.
        let req = proceed(&query("&max_age=5"));
        assert!(matches!(
            p.next_step(&req, &c1, Some((&a, &u)), None, 1000),
            NextStep::Login
        ));
        assert!(matches!(
            p.next_step(&req, &c1, Some((&a, &u)), None, 994),
            NextStep::Issue { .. }
        ));
        // Invalid prompt combinations.
        let r = redirected(authorize(&query("&prompt=none+login"), &c));
        assert_eq!(r.error, OidcError::InvalidParameter("prompt"));
        let r = redirected(authorize(&query("&max_age=-1"), &c));
        assert_eq!(r.error, OidcError::InvalidParameter("max_age"));
        // Hints are handed over.
        let req = proceed(&query(
            "&login_hint=alice&acr_values=urn%3Amfa+urn%3Apwd&ui_locales=de",
        ));
        assert_eq!(req.login_hint.as_deref(), Some("alice"));
        assert_eq!(
            req.acr_values,
            vec!["urn:mfa".to_owned(), "urn:pwd".to_owned()]
        );
    }

    #[test]
    fn scope_map_denies() {
        let mut c = client();
        c.first_party = true;
        c.scope_map.entries.insert(
            "admins".to_owned(),
            ScopeSet::from_tokens(["openid"]).unwrap(),
        );
        let req = proceed(&query(""));
        let (a, u) = (authn(), user());
        let step = provider().next_step(&req, &c, Some((&a, &u)), None, 1000);
        let NextStep::Error(e) = step else {
            panic!("{step:?}")
        };
        assert!(matches!(e.error, OidcError::AccessDenied(_)));
        c.scope_map.entries.insert(
            "staff".to_owned(),
            ScopeSet::from_tokens(["openid"]).unwrap(),
        );
        let step = provider().next_step(&req, &c, Some((&a, &u)), None, 1000);
        let NextStep::Issue { scopes } = step else {
            panic!("{step:?}")
        };
        assert_eq!(scopes.to_scope_string(), "openid");
    }

    #[test]
    fn remembered_consent_skips_page() {
        let req = proceed(&query(""));
        let (a, u) = (authn(), user());
        let remembered = RememberedConsent::after_approval("app", None, &req.scopes);
        assert!(matches!(
            provider().next_step(&req, &client(), Some((&a, &u)), Some(&remembered), 1000),
            NextStep::Issue { .. }
        ));
        let denied = provider().authorization_error(&req, OidcError::AccessDenied("user declined"));
        assert_eq!(location_params(&denied).get("error"), Some("access_denied"));
    }

    #[test]
    fn require_par_and_par_flow() {
        let p = provider();
        let mut c = client();
        c.require_par = true;
        let r = redirected(authorize(&query(""), &c));
        assert_eq!(r.error.wire().class, Some(ErrorClass::InvalidProfileUsage));

        let body = query("").replace("client_id=app&", "");
        let headers = RequestHeaders::default();
        let par = ParRequest::parse(
            format!("{body}&client_id=app").as_bytes(),
            &headers,
            &Limits::default(),
        )
        .unwrap();
        let authed = AuthenticatedClient {
            client_id: "app".to_owned(),
            method: "client_secret_post",
            assertion: None,
        };
        let pushed = p
            .push_authorization_request(&par, &c, &authed, None, [8; 32], 1000)
            .unwrap();
        assert_eq!(pushed.response.status, 201);
        let json: serde_json::Value = serde_json::from_str(&pushed.response.body).unwrap();
        assert_eq!(json["expires_in"], 60);
        let uri = json["request_uri"].as_str().unwrap().to_owned();
        assert!(uri.starts_with(REQUEST_URI_PREFIX));

        let q = format!(
            "client_id=app&request_uri={}",
            encode_pairs([("", uri.as_str())]).trim_start_matches('=')
        );
        let input = AuthorizeInput::parse(q.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(input.pushed_request_uri(), Some(uri.as_str()));
        match p.authorize(&input, Some(&c), Some(&pushed.record), 1010) {
            Authorize::Proceed(r) => {
                assert!(r.via_par);
                assert_eq!(r.received_at, 1010);
            }
            Authorize::Error(e) => panic!("{e:?}"),
        }
        // Expired: redirected with invalid_request_uri.
        let r = redirected(p.authorize(&input, Some(&c), Some(&pushed.record), 1060));
        assert_eq!(r.error.wire().code, ErrorCode::InvalidRequestUri);
        // Unknown (already used): shown.
        assert!(matches!(
            p.authorize(&input, Some(&c), None, 1010),
            Authorize::Error(AuthorizeError::ShowToUser(OidcError::InvalidRequestUri(_)))
        ));
        // Another client's request_uri.
        let mut other = c.clone();
        other.client_id = "other".to_owned();
        let q2 = q.replace("client_id=app", "client_id=other");
        let input2 = AuthorizeInput::parse(q2.as_bytes(), &Limits::default()).unwrap();
        assert!(matches!(
            p.authorize(&input2, Some(&other), Some(&pushed.record), 1010),
            Authorize::Error(AuthorizeError::ShowToUser(_))
        ));
        // request_uri inside a PAR body is refused.
        let par = ParRequest::parse(
            format!("{body}&client_id=app&request_uri=x").as_bytes(),
            &headers,
            &Limits::default(),
        )
        .unwrap();
        assert!(
            p.push_authorization_request(&par, &c, &authed, None, [8; 32], 1000)
                .is_err()
        );
    }

    #[test]
    fn par_binds_dpop_key() {
        let p = provider();
        let c = client();
        let body = format!("{}&x=1", query(""));
        let par = ParRequest::parse(
            body.as_bytes(),
            &RequestHeaders::default(),
            &Limits::default(),
        )
        .unwrap();
        let authed = AuthenticatedClient {
            client_id: "app".to_owned(),
            method: "client_secret_post",
            assertion: None,
        };
        let proof = DpopProof {
            jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".to_owned(),
            jti: "j".to_owned(),
            iat: 1000,
            replay_until: 1065,
        };
        let pushed = p
            .push_authorization_request(&par, &c, &authed, Some(&proof), [8; 32], 1000)
            .unwrap();
        assert_eq!(
            pushed.record.request.dpop_jkt.as_deref(),
            Some(proof.jkt.as_str())
        );
        let body = format!("{}&dpop_jkt={}", query(""), "A".repeat(43));
        let par = ParRequest::parse(
            body.as_bytes(),
            &RequestHeaders::default(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            p.push_authorization_request(&par, &c, &authed, Some(&proof), [8; 32], 1000)
                .unwrap_err(),
            OidcError::InvalidDpopProof(Rejection::KeyBindingMismatch)
        );
    }

    #[test]
    fn redirect_uri_with_query_keeps_it() {
        let r = authorization_response(
            "https://a/cb?x=1",
            ResponseMode::Query,
            &[("code", "c"), ("iss", ISSUER)],
        );
        assert_eq!(
            r.header("Location"),
            Some("https://a/cb?x=1&code=c&iss=https%3A%2F%2Fidm.example.com")
        );
    }

    proptest::proptest! {
        #[test]
        fn authorize_never_panics(q in "[a-z_=&%+0-9A-F.:/]{0,300}") {
            if let Ok(input) = AuthorizeInput::parse(q.as_bytes(), &Limits::default()) {
                let _ = provider().authorize(&input, Some(&client()), None, 1000);
            }
        }

        #[test]
        fn authorize_with_mutated_known_params_never_panics(
            drop in proptest::collection::vec(proptest::bool::ANY, 9),
            extra in proptest::collection::vec(("(response_type|scope|state|prompt|max_age|response_mode|code_challenge|dpop_jkt|request_uri)", "\\PC{0,20}"), 0..4),
        ) {
            let base = query("");
            let kept: Vec<&str> = base.split('&').zip(drop.iter().cycle()).filter(|(_, d)| !**d).map(|(p, _)| p).collect();
            let mut q = kept.join("&");
            for (k, v) in &extra {
                q.push('&');
                q.push_str(&encode_pairs([(k.as_str(), v.as_str())]));
            }
            let input = AuthorizeInput::parse(q.as_bytes(), &Limits::default()).unwrap();
            match provider().authorize(&input, Some(&client()), None, 1000) {
                Authorize::Proceed(r) => proptest::prop_assert!(r.code_challenge.is_some()),
                Authorize::Error(AuthorizeError::Redirect(r)) => {
                    // Only ever to the registered redirect URI.
                    proptest::prop_assert_eq!(r.redirect_uri.as_str(), REDIRECT);
                    let _ = r.response();
                }
                Authorize::Error(AuthorizeError::ShowToUser(_)) => {}
            }
        }
    }
}
