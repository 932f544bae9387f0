//! The self-service page (`/ui/profile`): change the password, enrol and remove authenticator
//! apps, passkeys and security keys, make new backup codes — and the credential-reset link
//! (`/ui/reset`) that opens it for someone who has no working credential.
//!
//! Every change needs the single sign-on session, a CSRF token derived from the session's
//! secret, and a login within the last ten minutes (or a reset session); every change is a
//! store change, so it is audited. Nobody can remove the last credential their policy needs.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use idm_mfa::backup_codes::{CODE_COUNT, CODE_RANDOM_BYTES};
use idm_mfa::credential_policy::can_remove;
use idm_mfa::{
    BackupCodes, HeldCredential, MfaType, PasskeyOrSecurityKey, Password, RegistrationOptions,
    Totp, TotpSecret, TotpVerdict,
};
use idm_model::audit::{Actor, AuditEvent, Outcome, Target};
use idm_model::change::Change;
use idm_model::credential::{BackupCodeSet, WebauthnKind};
use idm_model::{Entry, PasswordCredential, Person};
use idm_store::EphemeralKind;

use crate::error::AppError;
use crate::http::ClientIp;
use crate::mfa;
use crate::oidc::flow::{form, page_result, run_page};
use crate::oidc::session::{self, FoundSession, RESET_MAX_SECS, SSO_COOKIE, set_cookie};
use crate::rng;
use crate::state::AppState;
use crate::ui::mfa_pages::{self, Profile, WebauthnRow};
use crate::ui::{error_page, page, see_other};

/// A change needs a login this recent.
pub const REAUTH_SECS: i64 = 600;
/// How long a TOTP enrolment or passkey registration may take.
const PENDING_SECS: i64 = 600;

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// The signed-in person, if any.
fn current(st: &AppState, headers: &HeaderMap) -> Result<Option<(FoundSession, Person)>, AppError> {
    let now = Utc::now().timestamp();
    let Some(s) = session::find_sso(
        &st.store,
        headers,
        now,
        st.oidc.sso_idle_secs,
        st.oidc.sso_max_secs,
    )?
    else {
        return Ok(None);
    };
    Ok(match st.store.get(s.session.subject)? {
        Some(Entry::Person(p)) => Some((s, p)),
        _ => None,
    })
}

fn csrf_of(s: &FoundSession) -> String {
    s.logout_csrf("/ui/profile")
}

fn render(
    st: &AppState,
    s: &FoundSession,
    p: &Person,
    message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let effective = mfa::effective_policy(&st.store, p)?;
    let c = &p.credentials;
    let csrf = csrf_of(s);
    let view = Profile {
        name: &p.name,
        display_name: &p.display_name,
        csrf: &csrf,
        reset: s.session.reset,
        password_set: c.password.as_ref().map(|x| day(x.set_at)),
        totp: c.totp.iter().map(|t| t.label.clone()).collect(),
        webauthn: c
            .webauthn
            .iter()
            .map(|w| WebauthnRow {
                label: w.label.clone(),
                kind: match w.kind {
                    WebauthnKind::Passkey => "passkey",
                    WebauthnKind::SecurityKey => "security key",
                },
                created: day(w.created_at),
                last_used: w.last_used.map(day),
            })
            .collect(),
        backup_codes: c.backup_codes.as_ref().map(|b| b.digests.len()),
        policy: match effective.min_class {
            idm_mfa::CredentialClass::Password if effective.exempt => {
                "password (break-glass account)"
            }
            idm_mfa::CredentialClass::Password => "password",
            idm_mfa::CredentialClass::PasswordMfa => "password and a second factor",
            idm_mfa::CredentialClass::Passkey => "passkey",
        },
        message,
        error,
    };
    Ok(page(status, mfa_pages::profile(&view), &[]))
}

/// `GET /ui/profile`.
pub async fn get(State(st): State<AppState>, headers: HeaderMap) -> Response {
    run_page(move || {
        let Some((s, p)) = current(&st, &headers)? else {
            return Ok(see_other("/ui/profile/login", &[]));
        };
        render(&st, &s, &p, None, None, StatusCode::OK)
    })
    .await
}

/// The checks every change makes; `Err(page)` is the answer when one fails.
fn guard(
    st: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Result<(FoundSession, Person), Response>, AppError> {
    let Some((s, p)) = current(st, headers)? else {
        return Ok(Err(see_other("/ui/profile/login", &[])));
    };
    use subtle::ConstantTimeEq;
    if csrf.is_empty() || !bool::from(csrf_of(&s).as_bytes().ct_eq(csrf.as_bytes())) {
        return Ok(Err(error_page(
            StatusCode::FORBIDDEN,
            "Change refused",
            "The form was not sent from your account page.",
        )));
    }
    let now = Utc::now().timestamp();
    if !s.session.reset && now - s.session.auth_time > REAUTH_SECS {
        return Ok(Err(page(
            StatusCode::FORBIDDEN,
            crate::ui::pages::error(
                "Sign in again",
                "Changing credentials needs a recent sign-in. Open /ui/profile/login and sign in again.",
            ),
            &[],
        )));
    }
    Ok(Ok((s, p)))
}

fn actor(p: &Person) -> Actor {
    Actor {
        uuid: Some(p.uuid),
        name: p.name.clone(),
    }
}

fn apply(st: &AppState, p: &Person, change: Change, ip: Option<IpAddr>) -> Result<(), AppError> {
    let _applied = st
        .store
        .apply(&change, &actor(p), Utc::now(), ip.map(|i| i.to_string()))?;
    Ok(())
}

/// Applies a change of the person's own and shows the page: with `msg` when it went through,
/// with the store's reason when it was refused (a duplicate label, a missing credential).
fn apply_and_show(
    st: &AppState,
    s: &FoundSession,
    p: &Person,
    change: Change,
    ip: Option<IpAddr>,
    msg: &str,
) -> Result<Response, AppError> {
    match apply(st, p, change, ip) {
        Ok(()) => done(st, s, p.uuid, msg),
        Err(e) => refused(st, s, p, &e.to_string()),
    }
}

/// Re-reads the person after a change and shows the page with a message.
fn done(
    st: &AppState,
    s: &FoundSession,
    uuid: uuid::Uuid,
    msg: &str,
) -> Result<Response, AppError> {
    match st.store.get(uuid)? {
        Some(Entry::Person(p)) => render(st, s, &p, Some(msg), None, StatusCode::OK),
        _ => Ok(see_other("/ui/profile/login", &[])),
    }
}

fn refused(st: &AppState, s: &FoundSession, p: &Person, msg: &str) -> Result<Response, AppError> {
    render(st, s, p, None, Some(msg), StatusCode::BAD_REQUEST)
}

/// Whether `remove` may go, as a message when it may not.
fn removable(
    st: &AppState,
    p: &Person,
    remove: HeldCredential,
) -> Result<Option<String>, AppError> {
    let effective = mfa::effective_policy(&st.store, p)?;
    Ok(can_remove(&effective, &mfa::held(p), remove)
        .err()
        .map(|e| format!("This cannot be removed: {e}.")))
}

/// Runs a profile change on a blocking thread after the checks every change makes ([`guard`]);
/// `f` gets the session, the person and the form's fields.
async fn changing(
    st: AppState,
    headers: HeaderMap,
    body: Bytes,
    f: impl FnOnce(
        &AppState,
        FoundSession,
        Person,
        &dyn Fn(&str) -> String,
    ) -> Result<Response, AppError>
    + Send
    + 'static,
) -> Response {
    run_page(move || {
        let fields = form(&body);
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let (s, p) = match guard(&st, &headers, &get("csrf"))? {
            Ok(x) => x,
            Err(res) => return Ok(res),
        };
        f(&st, s, p, &get)
    })
    .await
}

/// `POST /ui/profile/password`.
pub async fn password(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    page_result(password_inner(st, ip, headers, body).await)
}

async fn password_inner(
    st: AppState,
    ip: Option<IpAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let f = form(&body);
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let csrf = get("csrf");
    let current_pw = Password::new(get("current"));
    let new_pw = Password::new(get("new"));
    let (st2, h2) = (st.clone(), headers.clone());
    let (s, p) = match crate::auth::blocking(move || guard(&st2, &h2, &csrf)).await? {
        Ok(x) => x,
        Err(res) => return Ok(res),
    };
    // The current password, unless this is a reset session or there is none.
    if !s.session.reset && p.credentials.password.is_some() {
        let (st2, name) = (st.clone(), p.name.clone());
        let checked = crate::auth::serialized(&st, &p.name, move || {
            crate::auth::password_check(&st2, &name, &current_pw, ip, "profile")
        })
        .await?;
        if checked.is_err() {
            let st2 = st.clone();
            return crate::auth::blocking(move || {
                refused(&st2, &s, &p, "The current password is not right.")
            })
            .await;
        }
    }
    let mut inputs: Vec<&str> = vec![p.name.as_str(), p.display_name.as_str()];
    inputs.extend(p.mails.iter().map(String::as_str));
    let min_len = {
        let st2 = st.clone();
        let p2 = p.clone();
        crate::auth::blocking(move || {
            Ok(mfa::effective_policy(&st2.store, &p2)?.min_password_length)
        })
        .await?
    };
    let too_short = min_len.is_some_and(|n| new_pw.expose_secret().chars().count() < n);
    let verdict = st.config.password.policy.check(&new_pw, &inputs);
    if too_short || verdict.is_err() {
        let msg = match verdict {
            Err(v) => format!("The new password was not accepted: {v}"),
            Ok(()) => format!(
                "The new password was not accepted: your groups require at least {} characters.",
                min_len.unwrap_or_default()
            ),
        };
        let st2 = st.clone();
        return crate::auth::blocking(move || refused(&st2, &s, &p, &msg)).await;
    }
    let phc = crate::auth::hash_new_password(&st, new_pw).await?;
    crate::auth::blocking(move || {
        apply(
            &st,
            &p,
            Change::SetPassword {
                uuid: p.uuid,
                credential: PasswordCredential {
                    phc,
                    set_at: Utc::now(),
                },
                reason: if s.session.reset {
                    "reset link"
                } else {
                    "self"
                }
                .into(),
            },
            ip,
        )?;
        done(&st, &s, p.uuid, "Your password was changed.")
    })
    .await
}

fn pending_key(kind: &str, s: &FoundSession) -> String {
    format!("{kind}:{}", s.id)
}

/// `GET /ui/profile/totp`: a new secret, its QR code, and the form for the first code.
pub async fn totp_get(State(st): State<AppState>, headers: HeaderMap) -> Response {
    run_page(move || {
        let Some((s, p)) = current(&st, &headers)? else {
            return Ok(see_other("/ui/profile/login", &[]));
        };
        let secret = TotpSecret::new(rng::array::<20>()?.to_vec())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let totp = Totp::new_default(secret);
        let now = Utc::now();
        st.store.put_ephemeral(
            EphemeralKind::MfaCeremony,
            &pending_key("totp", &s),
            &totp,
            now + chrono::Duration::seconds(PENDING_SECS),
        )?;
        totp_page(&st, &s, &p, &totp, None)
    })
    .await
}

fn totp_page(
    st: &AppState,
    s: &FoundSession,
    p: &Person,
    totp: &Totp,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let issuer = st.config.origin_host().unwrap_or("idm");
    let uri = totp.otpauth_uri(issuer, &p.name);
    let svg = Totp::qr_svg(&uri).map_err(|e| AppError::Internal(e.to_string()))?;
    let label = format!("app {}", p.credentials.totp.len() + 1);
    Ok(page(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        mfa_pages::totp_enrol(
            &csrf_of(s),
            &svg,
            &totp.secret.to_base32(),
            &uri,
            &label,
            error,
        ),
        &[],
    ))
}

/// `POST /ui/profile/totp`: enrols the pending secret once a correct code proves the app has
/// it.
pub async fn totp_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    changing(st, headers, body, move |st, s, p, get| {
        let now = Utc::now();
        let key = pending_key("totp", &s);
        let Some(totp) = st
            .store
            .get_ephemeral::<Totp>(EphemeralKind::MfaCeremony, &key, now)?
            .map(|r| r.value)
        else {
            return refused(st, &s, &p, "The enrolment expired; start again.");
        };
        let effective = mfa::effective_policy(&st.store, &p)?;
        if !effective.allows(MfaType::Totp) {
            return refused(st, &s, &p, "Your groups do not allow authenticator apps.");
        }
        let label = get("label").trim().to_owned();
        if let Err(e) = idm_model::credential::check_label(&label) {
            return totp_page(st, &s, &p, &totp, Some(&e));
        }
        let TotpVerdict::Accepted { step } = totp.verify(&get("code"), now, None, 1) else {
            return totp_page(
                st,
                &s,
                &p,
                &totp,
                Some("That code is not right. Try the current one."),
            );
        };
        let mut credential = mfa::totp_credential(&label, &totp, now);
        credential.last_step = Some(step);
        if let Err(e) = st.store.apply(
            &Change::SetTotp {
                uuid: p.uuid,
                credential,
                replace: false,
            },
            &actor(&p),
            now,
            ip.map(|i| i.to_string()),
        ) {
            return totp_page(st, &s, &p, &totp, Some(&e.to_string()));
        }
        st.store
            .delete_ephemeral(EphemeralKind::MfaCeremony, &key)?;
        done(st, &s, p.uuid, "The authenticator app was added.")
    })
    .await
}

/// `POST /ui/profile/totp/remove`.
pub async fn totp_remove(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    changing(st, headers, body, move |st, s, p, get| {
        if let Some(msg) = removable(st, &p, HeldCredential::Totp)? {
            return refused(st, &s, &p, &msg);
        }
        let label = get("label");
        apply_and_show(
            st,
            &s,
            &p,
            Change::RemoveTotp {
                uuid: p.uuid,
                label,
            },
            ip,
            "The authenticator app was removed.",
        )
    })
    .await
}

/// `POST /ui/profile/passkey/options`: starts a registration (JSON for the page's script).
pub async fn passkey_options(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let f = form(&body);
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        let (s, p) = match guard(&st, &headers, &get("csrf"))? {
            Ok(x) => x,
            Err(res) => return Ok(crate::ui::plain(res.status(), "refused")),
        };
        let effective = mfa::effective_policy(&st.store, &p)?;
        let (kind, t) = if get("kind") == "security_key" {
            (PasskeyOrSecurityKey::SecurityKey, MfaType::SecurityKey)
        } else {
            (PasskeyOrSecurityKey::Passkey, MfaType::Passkey)
        };
        if !effective.allows(t) {
            return Ok(crate::ui::plain(
                StatusCode::BAD_REQUEST,
                "Your groups do not allow this kind of credential.",
            ));
        }
        let mut options = match kind {
            PasskeyOrSecurityKey::Passkey => RegistrationOptions::passkey(),
            PasskeyOrSecurityKey::SecurityKey => RegistrationOptions::security_key(),
        };
        if let Some(list) = &effective.aaguid_allow_list
            && !effective.exempt
        {
            options = options.with_aaguid_allow_list(list.clone());
        }
        let exclude: Vec<idm_mfa::StoredCredential> = p
            .credentials
            .webauthn
            .iter()
            .map(mfa::webauthn_stored)
            .collect::<Result<_, _>>()?;
        let rp = mfa::relying_party(&st.config)?;
        let now = Utc::now();
        let (challenge, pending) = match rp.start_registration(
            p.uuid,
            &p.name,
            &p.display_name,
            &exclude,
            &options,
            now,
        ) {
            Ok(x) => x,
            Err(e) => return Ok(crate::ui::plain(StatusCode::BAD_REQUEST, &e.to_string())),
        };
        st.store.put_ephemeral(
            EphemeralKind::MfaCeremony,
            &pending_key("webauthn-reg", &s),
            &pending
                .to_json()
                .map_err(|e| AppError::Internal(e.to_string()))?,
            now + chrono::Duration::seconds(PENDING_SECS),
        )?;
        let body =
            serde_json::to_string(&challenge).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(crate::ui::json(body, &[]))
    })
    .await
}

/// `POST /ui/profile/passkey`: finishes a registration.
pub async fn passkey_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    changing(st, headers, body, move |st, s, p, get| {
        let now = Utc::now();
        let key = pending_key("webauthn-reg", &s);
        let pending = st
            .store
            .get_ephemeral::<String>(EphemeralKind::MfaCeremony, &key, now)?
            .map(|r| r.value);
        st.store
            .delete_ephemeral(EphemeralKind::MfaCeremony, &key)?;
        let Some(pending) = pending else {
            return refused(st, &s, &p, "The registration expired; start again.");
        };
        let pending = idm_mfa::PendingRegistration::from_json(&pending)
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let rp = mfa::relying_party(&st.config)?;
        let label = get("label").trim().to_owned();
        let stored = match rp.finish_registration(&pending, &get("response"), &label, now) {
            Ok(c) => c,
            Err(e) => {
                return refused(st, &s, &p, &format!("The passkey was not registered: {e}"));
            }
        };
        let effective = mfa::effective_policy(&st.store, &p)?;
        if !effective.allows_aaguid(stored.aaguid) {
            return refused(
                st,
                &s,
                &p,
                "This authenticator model is not allowed by your groups' policy.",
            );
        }
        let record = mfa::webauthn_record(&stored, now)?;
        apply_and_show(
            st,
            &s,
            &p,
            Change::SetWebauthn {
                uuid: p.uuid,
                credential: record,
                replace: false,
            },
            ip,
            "The passkey was added.",
        )
    })
    .await
}

/// `POST /ui/profile/passkey/remove`.
pub async fn passkey_remove(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    changing(st, headers, body, move |st, s, p, get| {
        let label = get("label");
        let Some(w) = p
            .credentials
            .webauthn
            .iter()
            .find(|w| w.label.to_lowercase() == label.to_lowercase())
        else {
            return refused(st, &s, &p, "No such passkey.");
        };
        if let Some(msg) = removable(st, &p, mfa::webauthn_held(w.kind))? {
            return refused(st, &s, &p, &msg);
        }
        apply_and_show(
            st,
            &s,
            &p,
            Change::RemoveWebauthn {
                uuid: p.uuid,
                label,
            },
            ip,
            "The passkey was removed.",
        )
    })
    .await
}

/// `POST /ui/profile/passkey/rename`.
pub async fn passkey_rename(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    changing(st, headers, body, move |st, s, p, get| {
        let new_label = get("new_label").trim().to_owned();
        if let Err(e) = idm_model::credential::check_label(&new_label) {
            return refused(st, &s, &p, &e);
        }
        let change = Change::RenameWebauthn {
            uuid: p.uuid,
            label: get("label"),
            new_label,
        };
        apply_and_show(st, &s, &p, change, ip, "The passkey was renamed.")
    })
    .await
}

/// `POST /ui/profile/backup-codes`: a new set (the old one stops working), shown once.
pub async fn backup_codes(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    changing(st, headers, body, move |st, s, p, _| {
        let effective = mfa::effective_policy(&st.store, &p)?;
        if !effective.allows(MfaType::BackupCode) {
            return refused(st, &s, &p, "Your groups do not allow backup codes.");
        }
        let mut random = [[0u8; CODE_RANDOM_BYTES]; CODE_COUNT];
        for r in &mut random {
            *r = rng::array::<CODE_RANDOM_BYTES>()?;
        }
        let (codes, shown): (BackupCodes, Vec<String>) = BackupCodes::generate(&random);
        apply(
            st,
            &p,
            Change::SetBackupCodes {
                uuid: p.uuid,
                codes: Some(BackupCodeSet {
                    digests: codes.digests,
                    generated_at: Utc::now(),
                }),
            },
            ip,
        )?;
        Ok(page(StatusCode::OK, mfa_pages::backup_codes(&shown), &[]))
    })
    .await
}

/// `GET /ui/reset?token=…`: a button (the token is used only by the POST).
pub async fn reset_get(RawQuery(query): RawQuery) -> Response {
    let token = query
        .as_deref()
        .map(|q| form(q.as_bytes()))
        .and_then(|m| m.get("token").cloned())
        .unwrap_or_default();
    if token.is_empty() || token.len() > 128 {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            "This credential-reset link is not complete.",
        );
    }
    page(StatusCode::OK, mfa_pages::reset(&token), &[])
}

/// `POST /ui/reset`: redeems the token (once) and opens a reset session for the profile page.
pub async fn reset_post(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_page(move || {
        let f = form(&body);
        let token = f.get("token").cloned().unwrap_or_default();
        if let Some(ip) = ip
            && crate::auth::check_address(&st, ip, "reset").is_err()
        {
            return Ok(error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Wait a moment and try again.",
            ));
        }
        let now = Utc::now();
        let grant = mfa::redeem_reset_token(&st.store, &token, now)?;
        let person = match &grant {
            Some(g) => match st.store.get(g.person)? {
                Some(Entry::Person(p)) if Entry::Person(p.clone()).account_usable(now).is_ok() => {
                    Some(p)
                }
                _ => None,
            },
            None => None,
        };
        let Some(p) = person else {
            crate::auth::note_failure(&st, None, ip);
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Link not valid",
                "This credential-reset link was already used, has expired, or is for an account that cannot sign in. Ask an administrator for a new one.",
            ));
        };
        let created_by = grant.map(|g| g.created_by).unwrap_or_default();
        st.audit.record(
            AuditEvent {
                at: now,
                actor: actor(&p),
                action: "credential.reset_token.use".into(),
                target: Some(Target {
                    uuid: Some(p.uuid),
                    name: p.name.clone(),
                }),
                outcome: Outcome::Success,
                summary: format!("credential-reset link (made by {created_by}) opened"),
                source: ip.map(|i| i.to_string()),
            },
            None,
        )?;
        if let Some(old) = session::cookie(&headers, SSO_COOKIE)
            && let Some((old_id, _)) = old.split_once('.')
            && old_id.len() <= 64
        {
            session::end_sso(&st.store, old_id)?;
        }
        let (_, value) = session::create_sso(
            &st.store,
            p.uuid,
            &[],
            now.timestamp(),
            st.oidc.sso_idle_secs,
            // A reset session is short: long enough to enrol, no longer.
            st.oidc.sso_max_secs.min(RESET_MAX_SECS),
        )?;
        Ok(see_other(
            "/ui/profile",
            &[set_cookie(
                SSO_COOKIE,
                &value,
                st.oidc.sso_max_secs.min(RESET_MAX_SECS),
            )],
        ))
    })
    .await
}
