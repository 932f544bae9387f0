//! Server-rendered pages: login, consent, errors. Plain HTML forms that work without
//! JavaScript, labelled fields, `autocomplete` hints for password managers, and one stylesheet
//! inline so the pages need no other request (and a strict CSP can forbid everything else).

use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.55rem 1.2rem;font-size:1rem;cursor:pointer}\
.error{background:#fde8e8;border:1px solid #c81e1e;padding:.6rem;border-radius:4px}\
.muted{color:#555;font-size:.9rem}ul.scopes li{margin:.2rem 0}";

pub fn layout(title: &str, body: Markup) -> Markup {
    layout_inner(title, body, false)
}

/// A page that uses passkeys: loads `/ui/webauthn.js` (a file, so the CSP needs no inline
/// script).
pub fn layout_webauthn(title: &str, body: Markup) -> Markup {
    layout_inner(title, body, true)
}

fn layout_inner(title: &str, body: Markup, webauthn: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — idm" }
                style { (PreEscaped(STYLE)) }
                @if webauthn {
                    script src="/ui/webauthn.js" defer {}
                }
            }
            body {
                main { (body) }
            }
        }
    }
}

/// The login form. `error` is one message for every failure (unknown user or wrong password).
pub fn login(
    flow: &str,
    csrf: &str,
    client: Option<&str>,
    username: &str,
    error: Option<&str>,
) -> Markup {
    login_at("/ui/login", flow, csrf, client, username, error)
}

/// The login form posting to `action` (the OAuth2 flow's or the profile page's), with a
/// passkey button beside the password form.
pub fn login_at(
    action: &str,
    flow: &str,
    csrf: &str,
    client: Option<&str>,
    username: &str,
    error: Option<&str>,
) -> Markup {
    let passkey_action = format!("{action}/webauthn");
    let passkey_options = format!("{action}/webauthn/options");
    layout_webauthn(
        "Sign in",
        html! {
            h1 { "Sign in" }
            @if let Some(c) = client {
                p.muted { "to continue to " strong { (c) } }
            }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action=(action) {
                input type="hidden" name="flow" value=(flow);
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { "Username" }
                input type="text" id="username" name="username" value=(username)
                    autocomplete="username webauthn" autocapitalize="none" spellcheck="false" required autofocus;
                label for="password" { "Password" }
                input type="password" id="password" name="password"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            form #passkey method="post" action=(passkey_action) data-webauthn="get" data-options=(passkey_options) {
                input type="hidden" name="flow" value=(flow);
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="response" value="";
                button type="submit" #passkey-button { "Sign in with a passkey" }
                p.muted.webauthn-status role="status" {}
            }
        },
    )
}

/// Asks the person to allow a client the listed scopes.
pub fn consent(
    flow: &str,
    csrf: &str,
    client: &str,
    origin: &str,
    scopes: &[(String, String)],
) -> Markup {
    layout(
        "Allow access",
        html! {
            h1 { "Allow " (client) " access?" }
            p.muted { (origin) " asks for:" }
            ul.scopes {
                @for (s, what) in scopes {
                    li { strong { (s) } " — " (what) }
                }
            }
            form method="post" action="/ui/consent" {
                input type="hidden" name="flow" value=(flow);
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" name="decision" value="allow" { "Allow" }
                " "
                button type="submit" name="decision" value="deny" { "Deny" }
            }
        },
    )
}

/// An error shown to the person; never a redirect (an invalid client or redirect URI must not
/// send the browser anywhere).
pub fn error(title: &str, message: &str) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p.muted { "You can close this page and return to the application." }
        },
    )
}

/// `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): an auto-submitting form,
/// with a button for browsers without JavaScript.
pub fn form_post(action: &str, fields: &[(String, String)]) -> Markup {
    layout(
        "Continue",
        html! {
            form method="post" action=(action) id="f" {
                @for (k, v) in fields {
                    input type="hidden" name=(k) value=(v);
                }
                noscript { button type="submit" { "Continue" } }
            }
            script { (PreEscaped("document.getElementById('f').submit()")) }
        },
    )
}

/// After a login that did not start at a client.
pub fn signed_in(name: &str) -> Markup {
    layout(
        "Signed in",
        html! {
            h1 { "Signed in" }
            p { "You are signed in as " strong { (name) } "." }
        },
    )
}

/// Asks before ending the session when the logout request could have come from anywhere (no
/// valid `id_token_hint`): logout CSRF.
pub fn confirm_logout(
    csrf: &str,
    redirect: &str,
    name: Option<&str>,
    client: Option<&str>,
) -> Markup {
    layout(
        "Sign out",
        html! {
            h1 { "Sign out?" }
            @if let Some(n) = name {
                p { "You are signed in as " strong { (n) } "." }
            }
            @if let Some(c) = client {
                p.muted { (c) " asks to sign you out." }
            }
            form method="post" action="/ui/logout" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="redirect" value=(redirect);
                button type="submit" { "Sign out" }
            }
        },
    )
}

pub fn signed_out() -> Markup {
    layout(
        "Signed out",
        html! { h1 { "Signed out" } p { "You have been signed out." } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_labels() {
        let m = login(
            "f1",
            "c1",
            Some("<script>"),
            "a\"b",
            Some("Invalid name or password"),
        );
        let s = m.into_string();
        assert!(s.contains("&lt;script&gt;"));
        assert!(s.contains("value=\"a&quot;b\""));
        assert!(s.contains("autocomplete=\"current-password\""));
        assert!(s.contains("name=\"username\""));
        assert!(s.contains("<label for=\"password\">"));
    }
}
