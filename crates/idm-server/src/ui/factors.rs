//! The second step of a login (`/ui/login/mfa`: a TOTP or backup code, or a WebAuthn
//! assertion) and passkey logins without a username (`/ui/login/webauthn`,
//! `/ui/profile/login/webauthn`). Each request finds its [`Ceremony`] from the
//! `__Host-idm_mfa` cookie and checks the form's CSRF token against it.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use idm_mfa::{CredentialClass, Method};
use idm_model::{Entry, Person};

use crate::auth::{check_address, check_rate, serialized};
use crate::error::AppError;
use crate::http::ClientIp;
use crate::login::{self, Ceremony, MFA_COOKIE, Next, Purpose};
use crate::oidc::flow::{after_first_factor, finish_login, form, page_result, run_page};
use crate::oidc::session::{self, clear_cookie, set_cookie};
use crate::state::AppState;
use crate::ui::{add_cookies, error_page, json, mfa_pages, page, plain};

const GONE: &str = "This sign-in step has expired or was opened in another browser. Start again.";
const WRONG_CODE: &str = "That did not work. Check the code and try again.";
const WRONG_KEY: &str = "The passkey or security key was not accepted.";

fn gone() -> Response {
    error_page(StatusCode::BAD_REQUEST, "Sign-in expired", GONE)
}

fn forbidden() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Sign-in refused",
        "The form was not sent from this sign-in page. Start again.",
    )
}

/// The ceremony named by the cookie.
fn ceremony(st: &AppState, headers: &HeaderMap) -> Result<Option<(String, Ceremony)>, AppError> {
    let Some(id) = session::cookie(headers, MFA_COOKIE) else {
        return Ok(None);
    };
    Ok(login::find_ceremony(st, &id)?.map(|c| (id, c)))
}

fn person(st: &AppState, c: &Ceremony) -> Result<Option<Person>, AppError> {
    let Some(uuid) = c.subject else {
        return Ok(None);
    };
    Ok(match st.store.get(uuid)? {
        Some(Entry::Person(p)) => Some(p),
        _ => None,
    })
}

/// The second-factor page for the ceremony, optionally with an error.
fn render(
    st: &AppState,
    c: &Ceremony,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let Some(p) = person(st, c)? else {
        return Ok(gone());
    };
    let effective = crate::mfa::effective_policy(&st.store, &p)?;
    let factors = login::usable_factors(&p, &effective);
    let passkey_only = c.needed == CredentialClass::Passkey;
    Ok(page(
        status,
        mfa_pages::second_factor(&c.csrf, &factors, passkey_only, error),
        &[],
    ))
}

/// `GET /ui/login/mfa`.
pub async fn mfa_get(State(st): State<AppState>, headers: HeaderMap) -> Response {
    run_page(move || {
        let Some((_, c)) = ceremony(&st, &headers)? else {
            return Ok(gone());
        };
        render(&st, &c, None, StatusCode::OK)
    })
    .await
}

/// A factor was proven: complete the login, or ask for what is still missing.
fn proven(
    st: &AppState,
    headers: &HeaderMap,
    id: &str,
    mut c: Ceremony,
    person: &Person,
    method: Method,
) -> Result<Response, AppError> {
    if !c.methods.contains(&method) {
        c.methods.push(method);
    }
    match login::next_after(st, person, &c.methods, c.needed)? {
        Next::Done(methods) => {
            login::end_ceremony(st, id)?;
            finish_login(
                st,
                headers,
                person.uuid,
                &methods,
                &c.purpose,
                vec![clear_cookie(MFA_COOKIE)],
            )
        }
        Next::More { .. } => {
            login::save_ceremony(st, id, &c)?;
            render(st, &c, None, StatusCode::OK)
        }
        Next::Refused(msg) => {
            login::end_ceremony(st, id)?;
            Ok(error_page(StatusCode::FORBIDDEN, "Sign-in refused", &msg))
        }
    }
}

/// `POST /ui/login/mfa`: a TOTP or backup code.
pub async fn mfa_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    page_result(mfa_post_inner(st, ip, headers, body).await)
}

async fn mfa_post_inner(
    st: AppState,
    ip: Option<IpAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (csrf, code) = (get("csrf"), get("code"));
    let (st2, h2) = (st.clone(), headers.clone());
    let Some((id, c, p)) = crate::auth::blocking(move || {
        let Some((id, c)) = ceremony(&st2, &h2)? else {
            return Ok(None);
        };
        let p = person(&st2, &c)?;
        Ok(p.map(|p| (id, c, p)))
    })
    .await?
    else {
        return Ok(gone());
    };
    if !c.csrf_matches(&csrf) {
        return Ok(forbidden());
    }
    if check_rate(&st, &p.name, ip, "mfa").is_err() {
        let st2 = st.clone();
        return crate::auth::blocking(move || {
            render(
                &st2,
                &c,
                Some("Too many attempts. Wait a moment and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            )
        })
        .await;
    }
    let (st2, uuid) = (st.clone(), p.uuid);
    let used = serialized(&st, &p.name, move || {
        login::check_code(&st2, uuid, &code, ip, "mfa")
    })
    .await??;
    crate::auth::blocking(move || match used {
        Some(method) => proven(&st, &headers, &id, c, &p, method),
        None => render(&st, &c, Some(WRONG_CODE), StatusCode::UNAUTHORIZED),
    })
    .await
}

/// `POST /ui/login/mfa/webauthn/options`: a WebAuthn assertion for the person of the
/// ceremony (a second factor or a step-up to a passkey).
pub async fn mfa_webauthn_options(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let f = form(&body);
        let Some((id, mut c)) = ceremony(&st, &headers)? else {
            return Ok(plain(StatusCode::BAD_REQUEST, GONE));
        };
        if !c.csrf_matches(f.get("csrf").map_or("", String::as_str)) || c.subject.is_none() {
            return Ok(plain(StatusCode::FORBIDDEN, "refused"));
        }
        let passkeys_only = c.needed == CredentialClass::Passkey;
        let (options, pending) = match login::webauthn_start(&st, c.subject, passkeys_only) {
            Ok(x) => x,
            Err(AppError::BadRequest(m)) => return Ok(plain(StatusCode::BAD_REQUEST, &m)),
            Err(e) => return Err(e),
        };
        c.webauthn = Some(pending);
        login::save_ceremony(&st, &id, &c)?;
        Ok(json(options, &[]))
    })
    .await
}

/// `POST /ui/login/mfa/webauthn`: the assertion.
pub async fn mfa_webauthn_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    page_result(webauthn_post_inner(st, ip, headers, body, true).await)
}

/// `POST /ui/login/webauthn` and `/ui/profile/login/webauthn`: a passkey login without a
/// username.
pub async fn passkey_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    page_result(webauthn_post_inner(st, ip, headers, body, false).await)
}

async fn webauthn_post_inner(
    st: AppState,
    ip: Option<IpAddr>,
    headers: HeaderMap,
    body: Bytes,
    second: bool,
) -> Result<Response, AppError> {
    let f = form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (csrf, response) = (get("csrf"), get("response"));
    let (st2, h2) = (st.clone(), headers.clone());
    // The pending state is taken out of the ceremony: one assertion per challenge.
    let Some((id, c, pending)) = crate::auth::blocking(move || {
        let Some((id, mut c)) = ceremony(&st2, &h2)? else {
            return Ok(None);
        };
        if !c.csrf_matches(&csrf) {
            return Ok(Some((id, c, None)));
        }
        let pending = c.webauthn.take();
        login::save_ceremony(&st2, &id, &c)?;
        Ok(Some((id, c, pending)))
    })
    .await?
    else {
        return Ok(gone());
    };
    let Some(pending) = pending else {
        return Ok(forbidden());
    };
    if second != c.subject.is_some() {
        return Ok(forbidden());
    }
    if let Some(ip) = ip
        && check_address(&st, ip, "webauthn").is_err()
    {
        return Ok(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Wait a moment and try again.",
        ));
    }
    // One decision at a time per account: for a username-less login the account is known only
    // from the response, so those are serialised per ceremony instead (they are single-use).
    let lock_name = match c.subject {
        Some(u) => u.to_string(),
        None => format!("ceremony:{id}"),
    };
    let (st2, subject) = (st.clone(), c.subject);
    let done = serialized(&st, &lock_name, move || {
        login::webauthn_finish(&st2, &pending, subject, &response, ip, "webauthn")
    })
    .await??;
    crate::auth::blocking(move || {
        let Some((person, method)) = done else {
            if second {
                return render(&st, &c, Some(WRONG_KEY), StatusCode::UNAUTHORIZED);
            }
            return Ok(error_page(
                StatusCode::UNAUTHORIZED,
                "Sign-in refused",
                WRONG_KEY,
            ));
        };
        if second {
            return proven(&st, &headers, &id, c, &person, method);
        }
        login::end_ceremony(&st, &id)?;
        let mut res =
            after_first_factor(&st, &headers, &person, vec![method], c.needed, c.purpose)?;
        // A later ceremony sets its own cookie; this one is over either way.
        if !res.headers().contains_key(header::SET_COOKIE) {
            add_cookies(&mut res, &[clear_cookie(MFA_COOKIE)]);
        }
        Ok(res)
    })
    .await
}

/// `POST /ui/login/webauthn/options`: starts a passkey login from the OAuth2 login page (the
/// flow's cookie and CSRF token are checked); the ceremony cookie is set here.
pub async fn passkey_options(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let f = form(&body);
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let (flow_id, csrf) = (get("flow"), get("csrf"));
        let now = chrono::Utc::now().timestamp();
        let Some(flow) = session::find_flow(&st.store, &headers, &flow_id, now)? else {
            return Ok(plain(StatusCode::BAD_REQUEST, GONE));
        };
        if csrf.is_empty() || !flow.csrf_matches(&csrf) {
            return Ok(plain(StatusCode::FORBIDDEN, "refused"));
        }
        let (options, pending) = login::webauthn_start(&st, None, true)?;
        let needed = login::class_for_acr(&flow.request.acr_values);
        let (cid, mut c) = login::new_ceremony(
            &st,
            None,
            Vec::new(),
            needed,
            Purpose::Authorize { flow: flow_id },
        )?;
        c.csrf = csrf;
        c.webauthn = Some(pending);
        login::save_ceremony(&st, &cid, &c)?;
        Ok(json(
            options,
            &[set_cookie(MFA_COOKIE, &cid, login::CEREMONY_SECS)],
        ))
    })
    .await
}

/// `POST /ui/profile/login/webauthn/options`: the same for the profile's login page, whose
/// ceremony already exists.
pub async fn profile_passkey_options(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let f = form(&body);
        let Some((id, mut c)) = ceremony(&st, &headers)? else {
            return Ok(plain(StatusCode::BAD_REQUEST, GONE));
        };
        if !c.csrf_matches(f.get("csrf").map_or("", String::as_str))
            || c.subject.is_some()
            || c.purpose != Purpose::Profile
        {
            return Ok(plain(StatusCode::FORBIDDEN, "refused"));
        }
        let (options, pending) = login::webauthn_start(&st, None, true)?;
        c.webauthn = Some(pending);
        login::save_ceremony(&st, &id, &c)?;
        Ok(json(options, &[]))
    })
    .await
}

/// `GET /ui/profile/login`: the profile's own login page (a ceremony for the profile).
pub async fn profile_login_get(State(st): State<AppState>) -> Response {
    run_page(move || {
        let (id, c) = login::new_ceremony(
            &st,
            None,
            Vec::new(),
            CredentialClass::Password,
            Purpose::Profile,
        )?;
        Ok(page(
            StatusCode::OK,
            crate::ui::pages::login_at(
                "/ui/profile/login",
                "",
                &c.csrf,
                Some("your account"),
                "",
                None,
            ),
            &[set_cookie(MFA_COOKIE, &id, login::CEREMONY_SECS)],
        ))
    })
    .await
}

/// `POST /ui/profile/login`: name and password for the profile.
pub async fn profile_login_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    page_result(profile_login_inner(st, ip, headers, body).await)
}

async fn profile_login_inner(
    st: AppState,
    ip: Option<IpAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (csrf, username) = (get("csrf"), get("username"));
    let password = idm_mfa::Password::new(get("password"));
    let (st2, h2) = (st.clone(), headers.clone());
    let Some((id, c)) = crate::auth::blocking(move || ceremony(&st2, &h2)).await? else {
        return Ok(gone());
    };
    if !c.csrf_matches(&csrf) || c.purpose != Purpose::Profile {
        return Ok(forbidden());
    }
    let again = |status: StatusCode, msg: &str| {
        page(
            status,
            crate::ui::pages::login_at(
                "/ui/profile/login",
                "",
                &c.csrf,
                Some("your account"),
                &username,
                Some(msg),
            ),
            &[],
        )
    };
    if username.is_empty() || username.len() > 256 || password.expose_secret().is_empty() {
        return Ok(again(StatusCode::UNAUTHORIZED, "Invalid name or password"));
    }
    if check_rate(&st, &username, ip, "profile").is_err() {
        return Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts. Wait a moment and try again.",
        ));
    }
    let (st2, n2) = (st.clone(), username.clone());
    let decided = serialized(&st, &username, move || {
        crate::auth::password_check(&st2, &n2, &password, ip, "profile")
    })
    .await?;
    let person = match decided {
        Ok(p) => p,
        Err(AppError::InvalidCredentials) => {
            return Ok(again(StatusCode::UNAUTHORIZED, "Invalid name or password"));
        }
        Err(AppError::AccountDisabled(_)) => {
            return Ok(again(
                StatusCode::UNAUTHORIZED,
                "This account cannot sign in at the moment.",
            ));
        }
        Err(e) => return Err(e),
    };
    crate::auth::blocking(move || {
        login::end_ceremony(&st, &id)?;
        after_first_factor(
            &st,
            &headers,
            &person,
            vec![Method::Password],
            CredentialClass::Password,
            Purpose::Profile,
        )
    })
    .await
}
