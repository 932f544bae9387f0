//! Pages for second factors: the second step of a login, the profile page with its credential
//! forms, TOTP enrolment, fresh backup codes, and the credential-reset landing page.

use idm_mfa::MfaType;
use maud::{Markup, PreEscaped, html};

use super::pages::{layout, layout_webauthn};

/// The second step of a login: the factors the person can use.
pub fn second_factor(
    csrf: &str,
    factors: &[MfaType],
    passkey_only: bool,
    error: Option<&str>,
) -> Markup {
    let code = !passkey_only
        && factors
            .iter()
            .any(|f| matches!(f, MfaType::Totp | MfaType::BackupCode));
    let webauthn = factors
        .iter()
        .any(|f| matches!(f, MfaType::Passkey | MfaType::SecurityKey));
    let totp = factors.contains(&MfaType::Totp);
    layout_webauthn(
        "Confirm it's you",
        html! {
            h1 { "Confirm it's you" }
            @if passkey_only {
                p { "This requires a passkey." }
            }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            @if code {
                form method="post" action="/ui/login/mfa" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="code" {
                        @if totp { "Code from your authenticator app (or a backup code)" }
                        @else { "A backup code" }
                    }
                    input type="text" id="code" name="code" autocomplete="one-time-code"
                        inputmode=(if totp { "numeric" } else { "text" }) autocapitalize="none"
                        spellcheck="false" required autofocus;
                    button type="submit" { "Continue" }
                }
            }
            @if webauthn {
                form #webauthn method="post" action="/ui/login/mfa/webauthn" data-webauthn="get"
                    data-options="/ui/login/mfa/webauthn/options" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="response" value="";
                    button type="submit" #webauthn-button { "Use a passkey or security key" }
                    p.muted.webauthn-status role="status" {}
                }
            }
        },
    )
}

/// One WebAuthn credential as the profile lists it.
pub struct WebauthnRow {
    pub label: String,
    pub kind: &'static str,
    pub created: String,
    pub last_used: Option<String>,
}

/// What the profile page shows.
pub struct Profile<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub csrf: &'a str,
    pub reset: bool,
    pub password_set: Option<String>,
    pub totp: Vec<String>,
    pub webauthn: Vec<WebauthnRow>,
    pub backup_codes: Option<usize>,
    pub policy: &'static str,
    pub message: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn profile(p: &Profile<'_>) -> Markup {
    layout_webauthn(
        "Your account",
        html! {
            h1 { "Your account" }
            p { (p.display_name) " (" strong { (p.name) } ")" }
            p.muted { "Required sign-in: " (p.policy) }
            @if p.reset {
                p.muted { "You opened a credential-reset link: set a password or register a passkey now. This page signs you in to nothing else." }
            }
            @if let Some(m) = p.message {
                p.notice role="status" { (m) }
            }
            @if let Some(e) = p.error {
                p.error role="alert" { (e) }
            }
            h2 { "Password" }
            p.muted { @match &p.password_set { Some(at) => { "Set " (at) "." } None => { "No password." } } }
            form method="post" action="/ui/profile/password" {
                input type="hidden" name="csrf" value=(p.csrf);
                @if !p.reset && p.password_set.is_some() {
                    label for="current" { "Current password" }
                    input type="password" id="current" name="current" autocomplete="current-password" required;
                }
                label for="new" { "New password" }
                input type="password" id="new" name="new" autocomplete="new-password" required;
                button type="submit" { "Change password" }
            }
            h2 { "Passkeys and security keys" }
            @if p.webauthn.is_empty() { p.muted { "None." } }
            ul #passkeys {
                @for w in &p.webauthn {
                    li {
                        strong.label { (w.label) } " — " (w.kind) ", added " (w.created)
                        @if let Some(u) = &w.last_used { ", last used " (u) }
                        form.inline method="post" action="/ui/profile/passkey/rename" {
                            input type="hidden" name="csrf" value=(p.csrf);
                            input type="hidden" name="label" value=(w.label);
                            input type="text" name="new_label" aria-label="New name" required;
                            button type="submit" { "Rename" }
                        }
                        form.inline method="post" action="/ui/profile/passkey/remove" {
                            input type="hidden" name="csrf" value=(p.csrf);
                            input type="hidden" name="label" value=(w.label);
                            button type="submit" { "Remove" }
                        }
                    }
                }
            }
            form #add-passkey method="post" action="/ui/profile/passkey" data-webauthn="create"
                data-options="/ui/profile/passkey/options" {
                input type="hidden" name="csrf" value=(p.csrf);
                input type="hidden" name="response" value="";
                label for="passkey-label" { "Name for the new passkey" }
                input type="text" id="passkey-label" name="label" value="passkey" required;
                label for="passkey-kind" { "Kind" }
                select id="passkey-kind" name="kind" {
                    option value="passkey" selected { "Passkey (signs in on its own)" }
                    option value="security_key" { "Security key (after the password)" }
                }
                button type="submit" #add-passkey-button { "Add a passkey" }
                p.muted.webauthn-status role="status" {}
            }
            h2 { "Authenticator apps" }
            @if p.totp.is_empty() { p.muted { "None." } }
            ul #totp {
                @for t in &p.totp {
                    li {
                        strong.label { (t) }
                        form.inline method="post" action="/ui/profile/totp/remove" {
                            input type="hidden" name="csrf" value=(p.csrf);
                            input type="hidden" name="label" value=(t);
                            button type="submit" { "Remove" }
                        }
                    }
                }
            }
            p { a #add-totp href="/ui/profile/totp" { "Add an authenticator app" } }
            h2 { "Backup codes" }
            p.muted #backup-status { @match p.backup_codes { Some(n) => { (n) " unused codes." } None => { "None." } } }
            form method="post" action="/ui/profile/backup-codes" {
                input type="hidden" name="csrf" value=(p.csrf);
                button type="submit" #backup-button { "Make new backup codes" }
            }
            form method="post" action="/ui/logout" {
                input type="hidden" name="csrf" value=(p.csrf);
                input type="hidden" name="redirect" value="/ui/profile";
                button type="submit" #sign-out { "Sign out" }
            }
        },
    )
}

/// TOTP enrolment: the QR code and the secret, and the first code to confirm it.
pub fn totp_enrol(
    csrf: &str,
    qr_svg: &str,
    secret: &str,
    uri: &str,
    label: &str,
    error: Option<&str>,
) -> Markup {
    layout(
        "Add an authenticator app",
        html! {
            h1 { "Add an authenticator app" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            p { "Scan this code with your authenticator app, or type the key." }
            div.qr { (PreEscaped(qr_svg)) }
            p { "Key: " code #totp-secret { (secret) } }
            p.muted { a #totp-uri href=(uri) { "Open in an authenticator app" } }
            form method="post" action="/ui/profile/totp" {
                input type="hidden" name="csrf" value=(csrf);
                label for="label" { "Name" }
                input type="text" id="label" name="label" value=(label) required;
                label for="code" { "Code shown by the app" }
                input type="text" id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required;
                button type="submit" { "Add" }
            }
            p { a href="/ui/profile" { "Cancel" } }
        },
    )
}

/// Fresh backup codes, shown once.
pub fn backup_codes(codes: &[String]) -> Markup {
    layout(
        "Backup codes",
        html! {
            h1 { "Your backup codes" }
            p { "Each code works once. Keep them somewhere safe: they are not shown again." }
            ul #codes { @for c in codes { li { code { (c) } } } }
            p { a href="/ui/profile" { "Back to your account" } }
        },
    )
}

/// The landing page of a credential-reset link: a button, so that link scanners that fetch
/// the URL do not use the one-time token up.
pub fn reset(token: &str) -> Markup {
    layout(
        "Set up your credentials",
        html! {
            h1 { "Set up your credentials" }
            p { "This one-time link lets you set a password or register a passkey." }
            form method="post" action="/ui/reset" {
                input type="hidden" name="token" value=(token);
                button type="submit" #reset-continue { "Continue" }
            }
        },
    )
}
