//! The front channel: the authorization endpoint, the login and consent pages, and logout.
//!
//! `GET /oauth2/authorize` validates the request (errors about the client or the redirect URI
//! are shown as a page, never redirected), then looks for the single sign-on cookie and asks
//! `idm_oidc` what comes next: a login (a login flow is stored and the browser goes to
//! `/ui/login?flow=…` with a `__Host-idm_flow` cookie), a consent page, or the code. The login
//! form's POST checks the flow cookie against the form and the CSRF token, decides the password
//! through `auth::password_check` (rate limits, lockout, audit), opens the SSO session and
//! continues the same way.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use idm_mfa::Password;
use idm_model::audit::{Actor, Outcome, Target};
use idm_model::oauth2::OAuth2Client;
use idm_oidc::{
    AuthorizationRequest, Authorize, AuthorizeError, AuthorizeInput, ClientRegistration,
    EndSessionRequest, NextStep, OidcError, PushedAuthorization,
};
use idm_store::{EphemeralKind, Update};

use super::claims::ClientError;
use super::endpoints::{StoredCode, audit_profile};
use super::session::{
    self, FLOW_COOKIE, FLOW_SECS, FoundSession, SSO_COOKIE, Stage, clear_cookie, set_cookie,
};
use super::{Audit, at, client_actor, into_response, registration, truncate, user_claims};
use crate::auth::{blocking, check_rate, password_check, serialized};
use crate::error::AppError;
use crate::http::ClientIp;
use crate::rng;
use crate::state::AppState;
use crate::ui::{self, error_page, page, pages, see_other};

const BAD_REQUEST_TITLE: &str = "This sign-in request cannot be used";
const INVALID_LOGIN: &str = "Invalid name or password";
const FLOW_GONE: &str = "This sign-in page has expired or was opened in another browser. Go back to the application and start again.";

/// Runs a front-channel handler on a blocking thread; server faults become an error page.
pub(crate) async fn run_page(
    f: impl FnOnce() -> Result<Response, AppError> + Send + 'static,
) -> Response {
    page_result(
        tokio::task::spawn_blocking(f)
            .await
            .map_err(AppError::from)
            .and_then(|r| r),
    )
}

pub(crate) fn page_result(r: Result<Response, AppError>) -> Response {
    match r {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "sign-in page failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete this step. Please try again.",
            )
        }
    }
}

/// `GET /oauth2/authorize`.
pub async fn authorize_get(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let input = query.unwrap_or_default().into_bytes();
    run_page(move || authorize(&st, &headers, &input, ip)).await
}

/// `POST /oauth2/authorize` (form-encoded parameters).
pub async fn authorize_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || authorize(&st, &headers, &body, ip)).await
}

/// A stored client and its registration, or the page to show instead.
fn load_client(
    st: &AppState,
    id: &str,
) -> Result<Result<(OAuth2Client, ClientRegistration), Response>, AppError> {
    let Some(model) = st.store.oauth2_client(id)? else {
        return Ok(Err(error_page(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST_TITLE,
            "The application is not known here.",
        )));
    };
    match registration(&st.store, &model) {
        Ok(reg) => Ok(Ok((model, reg))),
        Err(ClientError::Store(e)) => Err(e),
        Err(ClientError::Invalid(e)) => {
            tracing::error!(client = %model.name, error = %e, "client registration is not usable");
            Ok(Err(error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "This application is not set up correctly",
                "Ask the administrator of this sign-in service to check the application's registration.",
            )))
        }
    }
}

fn authorize(
    st: &AppState,
    headers: &HeaderMap,
    input: &[u8],
    ip: Option<IpAddr>,
) -> Result<Response, AppError> {
    let store = &st.store;
    let p = &st.oidc.provider;
    let now_dt = Utc::now();
    let now = now_dt.timestamp();
    let input = match AuthorizeInput::parse(input, &p.config().limits) {
        Ok(i) => i,
        Err(e) => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                BAD_REQUEST_TITLE,
                &e.to_string(),
            ));
        }
    };
    let client_id = input.client_id().map(str::to_owned);
    let found = match &client_id {
        Some(id) => match store.oauth2_client(id)?.filter(|c| c.name == *id) {
            Some(_) => match load_client(st, id)? {
                Ok(x) => Some(x),
                Err(page) => return Ok(page),
            },
            None => None,
        },
        None => None,
    };
    // A pushed request is one-time: taken out of the store as it is looked up.
    let pushed = match input.pushed_request_uri() {
        Some(uri) => store.update_ephemeral::<PushedAuthorization, Option<PushedAuthorization>>(
            EphemeralKind::ParRequest,
            uri,
            now_dt,
            |cur| (Update::Delete, cur.map(|r| r.value)),
        )?,
        None => None,
    };
    let request = match p.authorize(&input, found.as_ref().map(|(_, r)| r), pushed.as_ref(), now) {
        Authorize::Proceed(r) => *r,
        Authorize::Error(AuthorizeError::ShowToUser(e)) => {
            Audit {
                action: "oauth2.invalid_request",
                actor: client_actor(client_id.as_deref().unwrap_or("-")),
                target: None,
                outcome: Outcome::Failure,
                summary: format!("authorization request refused (shown to the user): {e}"),
                source: ip,
            }
            .record(store);
            audit_profile(store, &e, client_id.as_deref(), ip);
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                BAD_REQUEST_TITLE,
                &shown_message(&e),
            ));
        }
        Authorize::Error(AuthorizeError::Redirect(r)) => {
            audit_profile(store, &r.error, client_id.as_deref(), ip);
            return Ok(into_response(r.response()));
        }
    };
    let Some((model, reg)) = found else {
        return Err(AppError::Internal(
            "authorize proceeded without a client".into(),
        ));
    };
    Audit {
        action: "oauth2.authorize",
        actor: client_actor(&reg.client_id),
        target: None,
        outcome: Outcome::Success,
        summary: format!(
            "authorization started: client {}, scope {}{}",
            reg.client_id,
            request.scopes.to_scope_string(),
            if request.via_par { " (PAR)" } else { "" }
        ),
        source: ip,
    }
    .record(store);
    let session = session::find_sso(
        store,
        headers,
        now,
        st.oidc.sso_idle_secs,
        st.oidc.sso_max_secs,
    )?;
    let step = next_step(st, &request, &model, &reg, session.as_ref(), now)?;
    continue_flow(
        st,
        step,
        request,
        &model,
        &reg,
        session.as_ref(),
        None,
        Vec::new(),
        now,
    )
}

/// What the person sees for an error that is not redirected.
fn shown_message(e: &OidcError) -> String {
    match e {
        OidcError::UnknownClient => "The application is not known here.".into(),
        OidcError::RedirectUriMismatch => {
            "The application asked to return to an address that is not registered for it (redirect_uri mismatch).".into()
        }
        other => format!("The request is not valid: {other}."),
    }
}

/// Asks the crate what comes next for this request and this browser's session.
fn next_step(
    st: &AppState,
    request: &AuthorizationRequest,
    model: &OAuth2Client,
    reg: &ClientRegistration,
    session: Option<&FoundSession>,
    now: i64,
) -> Result<NextStep, AppError> {
    let p = &st.oidc.provider;
    if model.scope_maps.is_empty() {
        // An empty scope map admits nobody (unlike the crate's, which restricts nothing).
        return Ok(NextStep::Error(Box::new(idm_oidc::ErrorRedirect {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            issuer: p.issuer().to_owned(),
            error: OidcError::AccessDenied("no group is mapped to this application"),
        })));
    }
    // A credential-reset session only opens the profile page: it is no login.
    let session = session.filter(|s| !s.session.reset);
    let (authn, user, remembered) = match session {
        Some(s) => match user_claims(&st.store, s.session.subject, Utc::now())? {
            Some(u) => (
                Some(s.authentication()),
                Some(u),
                session::remembered_consent(&st.store, s.session.subject, model.uuid, now)?,
            ),
            None => (None, None, None),
        },
        None => (None, None, None),
    };
    Ok(p.next_step(
        request,
        reg,
        authn.as_ref().zip(user.as_ref()),
        remembered.as_ref(),
        now,
    ))
}

/// Carries out a [`NextStep`]: the login page, the consent page, the code, or an error sent back
/// to the client. `flow_id` is the login flow already under way, if any.
#[allow(clippy::too_many_arguments)]
fn continue_flow(
    st: &AppState,
    step: NextStep,
    request: AuthorizationRequest,
    model: &OAuth2Client,
    reg: &ClientRegistration,
    session: Option<&FoundSession>,
    flow_id: Option<&str>,
    mut cookies: Vec<String>,
    now: i64,
) -> Result<Response, AppError> {
    let store = &st.store;
    let p = &st.oidc.provider;
    // A session that does not reach what the request (acr_values) or the person's policy now
    // demands goes through the missing factor first.
    if let (NextStep::Consent { .. } | NextStep::Issue { .. }, Some(s)) = (&step, session)
        && let Some(idm_model::Entry::Person(person)) = store.get(s.session.subject)?
    {
        let requested = crate::login::class_for_acr(&request.acr_values);
        match crate::login::next_after(st, &person, &s.session.methods, requested)? {
            crate::login::Next::Done(_) => {}
            crate::login::Next::More { needed, .. } => {
                if request.prompt.none {
                    let err = idm_oidc::ErrorRedirect {
                        redirect_uri: request.redirect_uri.clone(),
                        response_mode: request.response_mode,
                        state: request.state.clone(),
                        issuer: p.issuer().to_owned(),
                        error: OidcError::LoginRequired,
                    };
                    return continue_flow(
                        st,
                        NextStep::Error(Box::new(err)),
                        request,
                        model,
                        reg,
                        None,
                        flow_id,
                        cookies,
                        now,
                    );
                }
                let id = match flow_id {
                    Some(id) => {
                        let flow = session::LoginFlow {
                            request,
                            client: model.uuid,
                            csrf: rng::token::<24>()?,
                            stage: Stage::Login,
                        };
                        session::save_flow(store, id, &flow, now)?;
                        id.to_owned()
                    }
                    None => session::create_flow(store, request, model.uuid, Stage::Login, now)?.0,
                };
                cookies.push(set_cookie(FLOW_COOKIE, &id, FLOW_SECS));
                let (cid, _) = crate::login::new_ceremony(
                    st,
                    Some(person.uuid),
                    s.session.methods.clone(),
                    needed,
                    crate::login::Purpose::Authorize { flow: id },
                )?;
                cookies.push(set_cookie(
                    crate::login::MFA_COOKIE,
                    &cid,
                    crate::login::CEREMONY_SECS,
                ));
                return Ok(see_other("/ui/login/mfa", &cookies));
            }
            crate::login::Next::Refused(msg) => {
                return Ok(error_page(StatusCode::FORBIDDEN, "Sign-in refused", &msg));
            }
        }
    }
    match step {
        NextStep::Login => {
            let id = match flow_id {
                Some(id) => {
                    let flow = session::LoginFlow {
                        request,
                        client: model.uuid,
                        csrf: rng::token::<24>()?,
                        stage: Stage::Login,
                    };
                    session::save_flow(store, id, &flow, now)?;
                    id.to_owned()
                }
                None => session::create_flow(store, request, model.uuid, Stage::Login, now)?.0,
            };
            cookies.push(set_cookie(FLOW_COOKIE, &id, FLOW_SECS));
            Ok(see_other(&format!("/ui/login?flow={id}"), &cookies))
        }
        NextStep::Consent { ask, scopes } => {
            let Some(s) = session else {
                return Err(AppError::Internal("consent without a session".into()));
            };
            let stage = Stage::Consent {
                subject: s.session.subject,
                ask: ask.clone(),
                scopes,
            };
            let (id, flow) = match flow_id {
                Some(id) => {
                    let flow = session::LoginFlow {
                        request,
                        client: model.uuid,
                        csrf: rng::token::<24>()?,
                        stage,
                    };
                    session::save_flow(store, id, &flow, now)?;
                    (id.to_owned(), flow)
                }
                None => session::create_flow(store, request, model.uuid, stage, now)?,
            };
            cookies.push(set_cookie(FLOW_COOKIE, &id, FLOW_SECS));
            let described: Vec<(String, String)> = ask
                .iter()
                .map(|s| (s.to_owned(), describe_scope(s)))
                .collect();
            Ok(page(
                StatusCode::OK,
                pages::consent(
                    &id,
                    &flow.csrf,
                    &model.display_name,
                    &model.origin,
                    &described,
                ),
                &cookies,
            ))
        }
        NextStep::Issue { scopes } => {
            let Some(s) = session else {
                return Err(AppError::Internal("code without a session".into()));
            };
            let issued = p
                .issue_code(
                    &request,
                    reg,
                    &s.authentication(),
                    &scopes,
                    rng::array::<32>()?,
                    now,
                )
                .map_err(|e| AppError::Internal(format!("issue_code: {e}")))?;
            let stored = StoredCode {
                grant: issued.grant,
                redeemed: false,
                replayed: false,
                issued: None,
            };
            store.put_ephemeral(
                EphemeralKind::AuthorizationCode,
                &hex::encode(issued.code.storage_key().0),
                &stored,
                at(stored.grant.expires_at),
            )?;
            if let Some(id) = flow_id {
                session::end_flow(store, id)?;
                cookies.push(clear_cookie(FLOW_COOKIE));
            }
            let mut res = into_response(issued.response);
            ui::add_cookies(&mut res, &cookies);
            Ok(res)
        }
        NextStep::Error(r) => {
            if let Some(id) = flow_id {
                session::end_flow(store, id)?;
                cookies.push(clear_cookie(FLOW_COOKIE));
            }
            let mut res = into_response(r.response());
            ui::add_cookies(&mut res, &cookies);
            Ok(res)
        }
    }
}

fn describe_scope(s: &str) -> String {
    match s {
        "openid" => "sign you in with your account".into(),
        "profile" => "your name and user name".into(),
        "email" => "your email address".into(),
        "groups" => "the groups you are a member of".into(),
        "offline_access" => "keep access while you are away (refresh tokens)".into(),
        other => format!("access to {other}"),
    }
}

pub(crate) fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// `GET /ui/login?flow=…`: the login form of a flow.
pub async fn login_get(
    State(st): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    run_page(move || {
        let now = Utc::now().timestamp();
        let flow_id = query
            .as_deref()
            .map(|q| form(q.as_bytes()))
            .and_then(|m| m.get("flow").cloned())
            .unwrap_or_default();
        if flow_id.is_empty() {
            let s = session::find_sso(
                &st.store,
                &headers,
                now,
                st.oidc.sso_idle_secs,
                st.oidc.sso_max_secs,
            )?;
            if let Some(s) = s
                && let Some(u) = user_claims(&st.store, s.session.subject, Utc::now())?
            {
                let name = u.preferred_username.unwrap_or_default();
                return Ok(page(StatusCode::OK, pages::signed_in(&name), &[]));
            }
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Nothing to sign in to",
                "Signing in starts at an application.",
            ));
        }
        let Some(flow) = session::find_flow(&st.store, &headers, &flow_id, now)? else {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                FLOW_GONE,
            ));
        };
        let client = st
            .store
            .oauth2_client(&flow.client.to_string())?
            .map(|c| c.display_name);
        let hint = flow.request.login_hint.clone().unwrap_or_default();
        Ok(page(
            StatusCode::OK,
            pages::login(&flow_id, &flow.csrf, client.as_deref(), &hint, None),
            &[],
        ))
    })
    .await
}

/// `POST /ui/login`: the password, then on to consent or the application.
pub async fn login_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    page_result(login_post_inner(st, ip, headers, body).await)
}

async fn login_post_inner(
    st: AppState,
    ip: Option<IpAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (flow_id, csrf, username) = (get("flow"), get("csrf"), get("username"));
    let password = Password::new(get("password"));
    let now = Utc::now().timestamp();
    let (st2, h2, fid) = (st.clone(), headers.clone(), flow_id.clone());
    let looked = blocking(move || {
        let flow = session::find_flow(&st2.store, &h2, &fid, now)?;
        let client = match &flow {
            Some(fl) => st2
                .store
                .oauth2_client(&fl.client.to_string())?
                .map(|c| c.display_name),
            None => None,
        };
        Ok((flow, client))
    })
    .await?;
    let (Some(flow), client) = looked else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            FLOW_GONE,
        ));
    };
    if csrf.is_empty() || !flow.csrf_matches(&csrf) {
        tracing::warn!("login form without a valid CSRF token refused");
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "The form was not sent from this sign-in page. Go back to the application and start again.",
        ));
    }
    let again = |status: StatusCode, msg: &str| {
        page(
            status,
            pages::login(
                &flow_id,
                &flow.csrf,
                client.as_deref(),
                &username,
                Some(msg),
            ),
            &[],
        )
    };
    if username.is_empty() || username.len() > 256 || password.expose_secret().is_empty() {
        return Ok(again(StatusCode::UNAUTHORIZED, INVALID_LOGIN));
    }
    match check_rate(&st, &username, ip, "oidc") {
        Ok(()) => {}
        Err(AppError::RateLimited) => {
            return Ok(again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts. Wait a moment and try again.",
            ));
        }
        Err(e) => return Err(e),
    }
    let (st2, n2) = (st.clone(), username.clone());
    let decided = serialized(&st, &username, move || {
        password_check(&st2, &n2, &password, ip, "oidc")
    })
    .await?;
    let person = match decided {
        Ok(p) => p,
        Err(AppError::InvalidCredentials) => {
            return Ok(again(StatusCode::UNAUTHORIZED, INVALID_LOGIN));
        }
        Err(AppError::AccountDisabled(_)) => {
            return Ok(again(
                StatusCode::UNAUTHORIZED,
                "This account cannot sign in at the moment.",
            ));
        }
        Err(e) => return Err(e),
    };
    let st2 = st.clone();
    let requested = crate::login::class_for_acr(&flow.request.acr_values);
    blocking(move || {
        let purpose = crate::login::Purpose::Authorize { flow: flow_id };
        after_first_factor(
            &st2,
            &headers,
            &person,
            vec![idm_mfa::Method::Password],
            requested,
            purpose,
        )
    })
    .await
}

/// After a first factor: the login is complete, or the second-factor page comes next (a
/// ceremony cookie keeps where the login stands), or the login cannot be completed. Blocking.
pub(crate) fn after_first_factor(
    st: &AppState,
    headers: &HeaderMap,
    person: &idm_model::Person,
    methods: Vec<idm_mfa::Method>,
    requested: idm_mfa::CredentialClass,
    purpose: crate::login::Purpose,
) -> Result<Response, AppError> {
    match crate::login::next_after(st, person, &methods, requested)? {
        crate::login::Next::Done(m) => {
            finish_login(st, headers, person.uuid, &m, &purpose, Vec::new())
        }
        crate::login::Next::More { needed, .. } => {
            let (cid, _) =
                crate::login::new_ceremony(st, Some(person.uuid), methods, needed, purpose)?;
            let cookies = vec![set_cookie(
                crate::login::MFA_COOKIE,
                &cid,
                crate::login::CEREMONY_SECS,
            )];
            Ok(see_other("/ui/login/mfa", &cookies))
        }
        crate::login::Next::Refused(msg) => {
            Ok(error_page(StatusCode::FORBIDDEN, "Sign-in refused", &msg))
        }
    }
}

/// A completed login: replaces the browser's session with a new one for `subject` with
/// `methods`, then goes on with what the login was for. Blocking.
pub(crate) fn finish_login(
    st: &AppState,
    headers: &HeaderMap,
    subject: uuid::Uuid,
    methods: &[idm_mfa::Method],
    purpose: &crate::login::Purpose,
    mut cookies: Vec<String>,
) -> Result<Response, AppError> {
    let store = &st.store;
    let now = Utc::now().timestamp();
    // A new login replaces the browser's previous session.
    if let Some(old) = session::cookie(headers, SSO_COOKIE)
        && let Some((old_id, _)) = old.split_once('.')
        && old_id.len() <= 64
    {
        session::end_sso(store, old_id)?;
    }
    let (found, value) = session::create_sso(
        store,
        subject,
        methods,
        now,
        st.oidc.sso_idle_secs,
        st.oidc.sso_max_secs,
    )?;
    cookies.push(set_cookie(SSO_COOKIE, &value, st.oidc.sso_max_secs));
    let flow_id = match purpose {
        crate::login::Purpose::Profile => return Ok(see_other("/ui/profile", &cookies)),
        crate::login::Purpose::Authorize { flow } => flow,
    };
    let Some(flow) = store
        .get_ephemeral::<session::LoginFlow>(EphemeralKind::LoginFlow, flow_id, at(now))?
        .map(|r| r.value)
    else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            pages::error("Sign-in expired", FLOW_GONE),
            &cookies,
        ));
    };
    let (model, reg) = match load_client(st, &flow.client.to_string())? {
        Ok(x) => x,
        Err(page) => return Ok(page),
    };
    // The login just made satisfies prompt=login (see idm_oidc::NextStep::Login).
    let mut request = flow.request;
    request.prompt.login = false;
    let step = next_step(st, &request, &model, &reg, Some(&found), now)?;
    continue_flow(
        st,
        step,
        request,
        &model,
        &reg,
        Some(&found),
        Some(flow_id),
        cookies,
        now,
    )
}

/// `POST /ui/consent`: allow or deny.
pub async fn consent_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let store = &st.store;
        let now = Utc::now().timestamp();
        let f = form(&body);
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let flow_id = get("flow");
        let Some(flow) = session::find_flow(store, &headers, &flow_id, now)? else {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                FLOW_GONE,
            ));
        };
        let csrf = get("csrf");
        if csrf.is_empty() || !flow.csrf_matches(&csrf) {
            return Ok(error_page(
                StatusCode::FORBIDDEN,
                "Consent refused",
                "The form was not sent from this page. Go back to the application and start again.",
            ));
        }
        let Stage::Consent {
            subject, scopes, ..
        } = &flow.stage
        else {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                FLOW_GONE,
            ));
        };
        let found = session::find_sso(
            store,
            &headers,
            now,
            st.oidc.sso_idle_secs,
            st.oidc.sso_max_secs,
        )?
        .filter(|s| s.session.subject == *subject && !s.session.reset);
        let Some(found) = found else {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Signed out",
                "Your sign-in session ended. Go back to the application and start again.",
            ));
        };
        let (model, reg) = match load_client(&st, &flow.client.to_string())? {
            Ok(x) => x,
            Err(page) => return Ok(page),
        };
        let step = if get("decision") == "allow" {
            session::remember_consent(store, *subject, model.uuid, &reg.client_id, scopes, now)?;
            Audit {
                action: "oauth2.consent",
                actor: Actor {
                    uuid: Some(*subject),
                    name: subject.to_string(),
                },
                target: Some(Target {
                    uuid: Some(model.uuid),
                    name: model.name.clone(),
                }),
                outcome: Outcome::Success,
                summary: format!("allowed {}: scope {}", model.name, scopes.to_scope_string()),
                source: ip,
            }
            .record(store);
            NextStep::Issue {
                scopes: scopes.clone(),
            }
        } else {
            NextStep::Error(Box::new(idm_oidc::ErrorRedirect {
                redirect_uri: flow.request.redirect_uri.clone(),
                response_mode: flow.request.response_mode,
                state: flow.request.state.clone(),
                issuer: st.oidc.provider.issuer().to_owned(),
                error: OidcError::AccessDenied("the user declined"),
            }))
        };
        continue_flow(
            &st,
            step,
            flow.request,
            &model,
            &reg,
            Some(&found),
            Some(&flow_id),
            Vec::new(),
            now,
        )
    })
    .await
}

/// `GET|POST /oauth2/logout` (RP-initiated logout).
pub async fn logout_get(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let input = query.unwrap_or_default().into_bytes();
    run_page(move || logout(&st, &headers, &input, ip)).await
}

/// `POST /oauth2/logout`.
pub async fn logout_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || logout(&st, &headers, &body, ip)).await
}

fn logout(
    st: &AppState,
    headers: &HeaderMap,
    input: &[u8],
    ip: Option<IpAddr>,
) -> Result<Response, AppError> {
    let store = &st.store;
    let p = &st.oidc.provider;
    let now = Utc::now().timestamp();
    let bad = |msg: String| {
        Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Cannot sign out here",
            &msg,
        ))
    };
    let req = match EndSessionRequest::parse(input, &p.config().limits) {
        Ok(r) => r,
        Err(e) => return bad(format!("The logout request is not valid: {e}.")),
    };
    let keys = st.oidc.keys();
    let hint = match req.verify_hint(p, &keys, now) {
        Ok(h) => h,
        Err(e) => return bad(format!("The id_token_hint is not valid: {e}.")),
    };
    let client = match req.client_id_to_look_up(hint.as_ref()) {
        Some(id) => match store.oauth2_client(id)?.filter(|c| c.name == id) {
            Some(_) => match load_client(st, id)? {
                Ok(x) => Some(x),
                Err(page) => return Ok(page),
            },
            None => None,
        },
        None => None,
    };
    let logout = match p.end_session(&req, hint.as_ref(), client.as_ref().map(|(_, r)| r)) {
        Ok(l) => l,
        Err(e) => {
            Audit {
                action: "oauth2.invalid_request",
                actor: client_actor(req.client_id_to_look_up(hint.as_ref()).unwrap_or("-")),
                target: None,
                outcome: Outcome::Failure,
                summary: format!("logout request refused: {e}"),
                source: ip,
            }
            .record(store);
            let msg = match e {
                OidcError::RedirectUriMismatch => {
                    "The application asked to return to an address that is not registered for it (post_logout_redirect_uri mismatch).".to_owned()
                }
                other => format!("The logout request is not valid: {other}."),
            };
            return bad(msg);
        }
    };
    let session = session::find_sso(
        store,
        headers,
        now,
        st.oidc.sso_idle_secs,
        st.oidc.sso_max_secs,
    )?;
    let redirect = logout.redirect.clone().unwrap_or_default();
    let Some(s) = session else {
        // Nothing to end here.
        return Ok(done(
            logout.redirect_response().map(into_response),
            Vec::new(),
        ));
    };
    let same_user = logout
        .subject
        .as_deref()
        .is_some_and(|sub| sub == s.session.subject.to_string());
    if logout.confirm_with_user || !same_user {
        let name =
            user_claims(store, s.session.subject, Utc::now())?.and_then(|u| u.preferred_username);
        let client_name = client.as_ref().map(|(m, _)| m.display_name.clone());
        return Ok(page(
            StatusCode::OK,
            pages::confirm_logout(
                &s.logout_csrf(&redirect),
                &redirect,
                name.as_deref(),
                client_name.as_deref(),
            ),
            &[],
        ));
    }
    end(st, &s, logout.client_id.as_deref(), ip)?;
    Ok(done(
        logout.redirect_response().map(into_response),
        vec![clear_cookie(SSO_COOKIE)],
    ))
}

fn done(redirect: Option<Response>, cookies: Vec<String>) -> Response {
    match redirect {
        Some(mut r) => {
            ui::add_cookies(&mut r, &cookies);
            r
        }
        None => page(StatusCode::OK, pages::signed_out(), &cookies),
    }
}

fn end(
    st: &AppState,
    s: &FoundSession,
    client_id: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<(), AppError> {
    session::end_sso(&st.store, &s.id)?;
    Audit {
        action: "oauth2.logout",
        actor: Actor {
            uuid: Some(s.session.subject),
            name: s.session.subject.to_string(),
        },
        target: None,
        outcome: Outcome::Success,
        summary: match client_id {
            Some(c) => format!("signed out (asked by {})", truncate(c, 64)),
            None => "signed out".to_owned(),
        },
        source: ip,
    }
    .record(&st.store);
    Ok(())
}

/// `GET /ui/logout`: asks to confirm; `POST /ui/logout`: ends the session.
pub async fn ui_logout_get(State(st): State<AppState>, headers: HeaderMap) -> Response {
    run_page(move || {
        let now = Utc::now().timestamp();
        let s = session::find_sso(
            &st.store,
            &headers,
            now,
            st.oidc.sso_idle_secs,
            st.oidc.sso_max_secs,
        )?;
        let Some(s) = s else {
            return Ok(page(StatusCode::OK, pages::signed_out(), &[]));
        };
        let name = user_claims(&st.store, s.session.subject, Utc::now())?
            .and_then(|u| u.preferred_username);
        Ok(page(
            StatusCode::OK,
            pages::confirm_logout(&s.logout_csrf(""), "", name.as_deref(), None),
            &[],
        ))
    })
    .await
}

/// `POST /ui/logout`: the confirmation form (CSRF token bound to the session and the redirect).
pub async fn ui_logout_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let now = Utc::now().timestamp();
        let f = form(&body);
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let (csrf, redirect) = (get("csrf"), get("redirect"));
        let s = session::find_sso(
            &st.store,
            &headers,
            now,
            st.oidc.sso_idle_secs,
            st.oidc.sso_max_secs,
        )?;
        let Some(s) = s else {
            return Ok(page(StatusCode::OK, pages::signed_out(), &[]));
        };
        let expected = s.logout_csrf(&redirect);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            csrf.as_bytes(),
        )) {
            return Ok(error_page(
                StatusCode::FORBIDDEN,
                "Sign-out refused",
                "The form was not sent from this page.",
            ));
        }
        end(&st, &s, None, ip)?;
        let cookies = vec![clear_cookie(SSO_COOKIE)];
        if redirect.is_empty() {
            Ok(page(StatusCode::OK, pages::signed_out(), &cookies))
        } else {
            // Validated against the client's registration when the confirmation was made, and
            // bound into the CSRF token.
            let mut r = idm_oidc::HttpResponse::empty(303);
            r.push_header("Location", redirect);
            let mut res = into_response(r);
            ui::add_cookies(&mut res, &cookies);
            Ok(res)
        }
    })
    .await
}
