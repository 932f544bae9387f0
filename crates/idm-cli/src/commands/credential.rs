//! Second factors and credential policy: `idm person credential status|create-reset-token|
//! remove-totp|remove-passkey` and `idm group set-credential-policy|clear-credential-policy`.
//!
//! Enrolment happens in the browser (the person opens the reset link); these commands show
//! where people stand, hand out the link and clean up after a lost device. Whenever a change
//! leaves someone unable to log in as their policy requires, a warning says so on stderr.

use std::collections::BTreeSet;

use clap::Args;
use idm_model::api::{
    CredentialPolicyChanged, CredentialStatus, EffectivePolicyView, ResetTokenCreate,
    ResetTokenCreated,
};
use idm_model::credential::{CredentialClass, CredentialPolicy, MfaType, WebauthnKind};
use ureq::http::Method;
use uuid::Uuid;

use super::{Ctx, join, seg};
use crate::client::{CliError, decode};
use crate::output::{self, Table};
use crate::time::{show, show_opt};

/// `idm group set-credential-policy`.
#[derive(Debug, Args)]
pub struct SetPolicy {
    pub group: String,
    /// The weakest login members may use: password, password_mfa or passkey.
    #[arg(long, value_parser = parse_class, value_name = "CLASS")]
    pub min_class: CredentialClass,
    /// The shortest password members may set (on top of the server's own minimum).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub min_password_length: Option<u16>,
    /// The second factors members may use and register, comma-separated: totp, passkey,
    /// security_key, backup_code, or none [default: all].
    #[arg(long, value_delimiter = ',', value_parser = parse_mfa, value_name = "TYPES")]
    pub allow_mfa: Option<Vec<MfaArg>>,
    /// An authenticator model (AAGUID) members may register; repeat or comma-separate for
    /// more [default: any model].
    #[arg(long = "aaguid", value_delimiter = ',', value_name = "UUID")]
    pub aaguids: Vec<Uuid>,
}

/// One `--allow-mfa` word: a type, or `none` for no second factor at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaArg(pub Option<MfaType>);

/// `idm person credential status NAME`.
pub fn status(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let v = ctx.client()?.get(&status_path(name))?;
    ctx.show(v, |s: CredentialStatus, _| render_status(&s))
}

/// `idm person credential create-reset-token NAME [--ttl T]`.
pub fn create_reset_token(ctx: &Ctx, name: &str, ttl_secs: Option<i64>) -> Result<(), CliError> {
    let v = ctx.client()?.call(
        Method::POST,
        &format!("{}/reset_token", status_path(name)),
        Some(&ResetTokenCreate { ttl_secs }),
    )?;
    let created: ResetTokenCreated = decode(v.clone())?;
    ctx.done(
        v,
        &format!(
            "one-time credential-reset link for {name}, valid until {}:\n{}",
            show(created.expires_at),
            created.url
        ),
    )
}

/// `idm person credential remove-totp|remove-passkey NAME LABEL`.
pub fn remove(ctx: &Ctx, name: &str, label: &str, webauthn: bool) -> Result<(), CliError> {
    let (kind, noun) = if webauthn {
        ("webauthn", "passkey/security key")
    } else {
        ("totp", "TOTP authenticator")
    };
    let path = format!("{}/{kind}/{}", status_path(name), seg(label));
    let v = ctx.client()?.call::<()>(Method::DELETE, &path, None)?;
    let after: CredentialStatus = decode(v.clone())?;
    ctx.done(v, &format!("removed {noun} {label} of {name}"))?;
    if !after.policy_met && !ctx.json {
        for n in &after.notes {
            warn(n);
        }
    }
    Ok(())
}

/// `idm group set-credential-policy GROUP …`: replaces the group's policy.
pub fn set_policy(ctx: &Ctx, args: SetPolicy) -> Result<(), CliError> {
    let body = policy_of(&args);
    let v = ctx
        .client()?
        .call(Method::PUT, &policy_path(&args.group), Some(&body))?;
    let changed: CredentialPolicyChanged = decode(v.clone())?;
    ctx.done(
        v,
        &format!(
            "credential policy of {}: {}",
            changed.group.name,
            policy_summary(changed.group.credential_policy.as_ref())
        ),
    )?;
    warn_members(ctx, &changed);
    Ok(())
}

/// `idm group clear-credential-policy GROUP`.
pub fn clear_policy(ctx: &Ctx, group: &str) -> Result<(), CliError> {
    let v = ctx
        .client()?
        .call::<()>(Method::DELETE, &policy_path(group), None)?;
    let changed: CredentialPolicyChanged = decode(v.clone())?;
    ctx.done(
        v,
        &format!("credential policy of {} removed", changed.group.name),
    )?;
    warn_members(ctx, &changed);
    Ok(())
}

/// One line for `idm group get` and confirmations: `password_mfa; passwords 14+; second
/// factors totp, passkey; authenticators any`.
pub fn policy_summary(p: Option<&CredentialPolicy>) -> String {
    let Some(p) = p else {
        return "none".to_owned();
    };
    let mut parts = vec![p.min_class.as_str().to_owned()];
    if let Some(n) = p.min_password_length {
        parts.push(format!("passwords {n}+"));
    }
    parts.push(format!(
        "second factors {}",
        p.allowed_mfa
            .as_ref()
            .map_or_else(|| "any".to_owned(), |s| mfa_list(s.iter().copied()))
    ));
    parts.push(format!(
        "authenticators {}",
        p.aaguid_allow_list
            .as_ref()
            .map_or_else(|| "any".to_owned(), |l| join(l.iter().map(Uuid::to_string)))
    ));
    parts.join("; ")
}

/// `--ttl`: seconds (`3600`) or a duration (`30m`, `1h`, `2d`).
pub fn parse_ttl(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let secs = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<i64>().ok()
    } else {
        crate::time::parse_duration(s).map(|d| d.num_seconds())
    };
    match secs {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a lifetime: use seconds (3600) or a duration (30m, 1h, 7d)"
        )),
    }
}

fn parse_class(s: &str) -> Result<CredentialClass, String> {
    match s.trim() {
        "password" => Ok(CredentialClass::Password),
        "password_mfa" | "password-mfa" => Ok(CredentialClass::PasswordMfa),
        "passkey" => Ok(CredentialClass::Passkey),
        other => Err(format!(
            "`{other}` is not a credential class: use password, password_mfa or passkey"
        )),
    }
}

fn parse_mfa(s: &str) -> Result<MfaArg, String> {
    let s = s.trim();
    if s == "none" {
        return Ok(MfaArg(None));
    }
    MfaType::ALL
        .into_iter()
        .find(|t| t.as_str() == s || t.as_str().replace('_', "-") == s)
        .map(|t| MfaArg(Some(t)))
        .ok_or_else(|| {
            format!(
                "`{s}` is not a second factor: use totp, passkey, security_key, backup_code or none"
            )
        })
}

fn policy_of(args: &SetPolicy) -> CredentialPolicy {
    CredentialPolicy {
        min_class: args.min_class,
        min_password_length: args.min_password_length.map(usize::from),
        allowed_mfa: args
            .allow_mfa
            .as_ref()
            .map(|list| list.iter().filter_map(|m| m.0).collect::<BTreeSet<_>>()),
        aaguid_allow_list: (!args.aaguids.is_empty()).then(|| args.aaguids.clone()),
    }
}

fn status_path(name: &str) -> String {
    format!("/v1/person/{}/credential", seg(name))
}

fn policy_path(group: &str) -> String {
    format!("/v1/group/{}/credential_policy", seg(group))
}

fn warn(message: &str) {
    // Nothing sensible is left to do if stderr itself is gone.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("warning: {message}\n").as_bytes(),
    );
}

fn warn_members(ctx: &Ctx, changed: &CredentialPolicyChanged) {
    let names: Vec<&str> = changed
        .members_policy_not_met
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    if names.is_empty() || ctx.json {
        return;
    }
    warn(&format!(
        "{} member{} of {} cannot log in until they enrol: {} \
         (see `idm person credential status NAME`)",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        changed.group.name,
        names.join(", ")
    ));
}

fn mfa_list(types: impl Iterator<Item = MfaType>) -> String {
    let words: Vec<&str> = types.map(MfaType::as_str).collect();
    if words.is_empty() {
        "none".to_owned()
    } else {
        words.join(", ")
    }
}

fn policy_line(p: &EffectivePolicyView) -> String {
    if p.exempt {
        return "none (break-glass account, exempt)".to_owned();
    }
    let from = if p.from_groups.is_empty() {
        "no group sets one".to_owned()
    } else {
        format!("from {}", p.from_groups.join(", "))
    };
    format!("{} ({from})", p.min_class.as_str())
}

fn render_status(s: &CredentialStatus) -> String {
    let p = &s.policy;
    let mut out = output::fields(&[
        ("name", s.name.clone()),
        ("policy", policy_line(p)),
        ("min password length", p.min_password_length.to_string()),
        ("second factors", mfa_list(p.allowed_mfa.iter().copied())),
        (
            "authenticators",
            p.aaguid_allow_list
                .as_ref()
                .map_or_else(|| "any".to_owned(), |l| join(l.iter().map(Uuid::to_string))),
        ),
        (
            "policy met",
            match (s.policy_met, p.satisfiable) {
                (true, _) => "yes",
                (false, true) => "NO: cannot log in until they enrol",
                (false, false) => "NO: the policies contradict each other",
            }
            .to_owned(),
        ),
    ]);
    out.push('\n');
    let mut t = Table::new(["TYPE", "LABEL", "CREATED", "LAST USED", "DETAILS"]);
    if let Some(at) = s.password_set_at {
        t.row([
            "password".into(),
            String::new(),
            show(at),
            String::new(),
            String::new(),
        ]);
    }
    for x in &s.totp {
        t.row([
            "totp".into(),
            x.label.clone(),
            show(x.created_at),
            String::new(),
            String::new(),
        ]);
    }
    for w in &s.webauthn {
        let kind = match w.kind {
            WebauthnKind::Passkey => "passkey",
            WebauthnKind::SecurityKey => "security_key",
        };
        t.row([
            kind.into(),
            w.label.clone(),
            show(w.created_at),
            show_opt(w.last_used, "never"),
            w.aaguid.map(|a| format!("aaguid {a}")).unwrap_or_default(),
        ]);
    }
    if let Some(b) = &s.backup_codes {
        t.row([
            "backup_codes".into(),
            String::new(),
            show(b.generated_at),
            String::new(),
            format!("{} remaining", b.remaining),
        ]);
    }
    out.push_str(&t.render());
    for n in &s.notes {
        out.push_str(&format!("\nnote: {n}"));
    }
    if !s.notes.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        for bad in ["", "0", "0m", "-5", "1.5h", "soon", "1y"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policies_from_flags() {
        let args = SetPolicy {
            group: "devs".into(),
            min_class: CredentialClass::PasswordMfa,
            min_password_length: Some(14),
            allow_mfa: Some(vec![
                parse_mfa("totp").unwrap(),
                parse_mfa("security-key").unwrap(),
            ]),
            aaguids: vec![],
        };
        let p = policy_of(&args);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "min_class": "password_mfa",
                "min_password_length": 14,
                "allowed_mfa": ["totp", "security_key"]
            })
        );
        assert_eq!(
            policy_summary(Some(&p)),
            "password_mfa; passwords 14+; second factors totp, security_key; authenticators any"
        );
        let none = SetPolicy {
            allow_mfa: Some(vec![parse_mfa("none").unwrap()]),
            min_password_length: None,
            ..args
        };
        assert_eq!(
            serde_json::to_value(policy_of(&none)).unwrap(),
            serde_json::json!({"min_class": "password_mfa", "allowed_mfa": []})
        );
        assert!(parse_mfa("sms").is_err());
        assert!(parse_class("strong").is_err());
        assert_eq!(policy_summary(None), "none");
    }

    #[test]
    fn status_is_a_summary_and_a_table() {
        let v = serde_json::json!({
            "uuid": "6f1c1f3e-1f64-4a8e-9d2b-0c1b2d3e4f50",
            "name": "alice",
            "password_set_at": "2026-01-01T00:00:00Z",
            "totp": [{"label": "phone", "created_at": "2026-01-02T00:00:00Z"}],
            "webauthn": [{
                "label": "yubikey", "kind": "security_key",
                "aaguid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "created_at": "2026-01-03T00:00:00Z", "last_used": null
            }],
            "backup_codes": {"remaining": 7, "generated_at": "2026-01-04T00:00:00Z"},
            "policy": {
                "min_class": "passkey", "min_password_length": 12,
                "allowed_mfa": ["totp", "passkey", "security_key", "backup_code"],
                "aaguid_allow_list": null, "exempt": false,
                "from_groups": ["devs"], "satisfiable": true
            },
            "policy_met": false,
            "notes": ["alice cannot log in until they enrol: …"]
        });
        let s: CredentialStatus = serde_json::from_value(v).unwrap();
        assert_eq!(
            render_status(&s),
            "name:                alice\n\
             policy:              passkey (from devs)\n\
             min password length: 12\n\
             second factors:      totp, passkey, security_key, backup_code\n\
             authenticators:      any\n\
             policy met:          NO: cannot log in until they enrol\n\
             \n\
             TYPE          LABEL    CREATED               LAST USED  DETAILS\n\
             password               2026-01-01T00:00:00Z\n\
             totp          phone    2026-01-02T00:00:00Z\n\
             security_key  yubikey  2026-01-03T00:00:00Z  never      aaguid cb69481e-8ff7-4039-93ec-0a2729a154a8\n\
             backup_codes           2026-01-04T00:00:00Z             7 remaining\n\
             \n\
             note: alice cannot log in until they enrol: …\n"
        );
    }
}
