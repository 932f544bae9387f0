//! `idm person …`: persons, their password, POSIX attributes and SSH keys.

use clap::{ArgGroup, Args, Subcommand};
use idm_model::api::{
    AddSshKey, PersonCreate, PersonPatch, PersonView, PosixPatch, SetPassword, SshKeyView,
};
use ureq::http::Method;
use zeroize::Zeroize;

use super::{
    Ctx, account_status, credential, join, prompt_secret, read_secret_stdin, read_stdin_all, seg,
};
use crate::client::{CliError, decode};
use crate::output::{self, Table};
use crate::time::{SetOrClear, parse_expiry, parse_valid_from, show, show_opt};

#[derive(Debug, Subcommand)]
pub enum PersonCmd {
    /// Create a person.
    Create {
        name: String,
        display_name: String,
        /// A mail address; repeat for more, the first is the primary one.
        #[arg(long = "mail", value_name = "MAIL")]
        mails: Vec<String>,
        #[arg(long = "legalname", value_name = "LEGAL_NAME")]
        legal_name: Option<String>,
    },
    /// Show a person.
    Get { name: String },
    /// List all persons.
    List,
    /// Change a person's attributes.
    Update(Update),
    /// Delete a person.
    Delete { name: String },
    /// Credentials.
    #[command(subcommand)]
    Credential(CredentialCmd),
    /// POSIX attributes (uid, gid, shell, home).
    #[command(subcommand)]
    Posix(PosixCmd),
    /// SSH public keys.
    #[command(subcommand)]
    Ssh(SshCmd),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
#[command(
    override_usage = "idm person update <NAME> [--newname N] [--displayname D] \
    [--legalname L] [--mail M]... [--valid-from T|any] [--expire-at T|never]"
)]
pub struct Update {
    /// The person's name or UUID.
    pub name: String,
    /// Rename the person.
    #[arg(long, group = "change")]
    pub newname: Option<String>,
    /// The name shown to people.
    #[arg(long, group = "change")]
    pub displayname: Option<String>,
    /// The legal name; "" clears it.
    #[arg(long, group = "change")]
    pub legalname: Option<String>,
    /// Replaces all mail addresses; repeat for more, the first is the primary one.
    #[arg(long = "mail", value_name = "MAIL", group = "change")]
    pub mails: Vec<String>,
    /// When the account starts to be usable (RFC 3339 or YYYY-MM-DD); `any` clears it.
    #[arg(long, value_parser = parse_valid_from, group = "change")]
    pub valid_from: Option<SetOrClear>,
    /// When the account stops being usable (RFC 3339 or YYYY-MM-DD); `never` clears it.
    #[arg(long, value_parser = parse_expiry, group = "change")]
    pub expire_at: Option<SetOrClear>,
}

#[derive(Debug, Subcommand)]
pub enum CredentialCmd {
    /// Set the person's password (prompted twice without echo).
    SetPassword {
        name: String,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show the person's credentials, their credential policy and whether they meet it.
    Status { name: String },
    /// Make a one-time link where the person sets up their credentials (password, TOTP,
    /// passkeys); give it to them over a channel you trust.
    CreateResetToken {
        name: String,
        /// How long the link stays valid: seconds or a duration (30m, 1h, 7d); at most 7d
        /// [default: 1d].
        #[arg(long, value_parser = credential::parse_ttl, value_name = "TTL")]
        ttl: Option<i64>,
    },
    /// Remove the TOTP authenticator LABEL (e.g. a lost phone).
    RemoveTotp { name: String, label: String },
    /// Remove the passkey or security key LABEL.
    RemovePasskey { name: String, label: String },
}

#[derive(Debug, Subcommand)]
pub enum PosixCmd {
    /// Enable or change POSIX attributes; unset numbers are allocated by the server.
    Set {
        name: String,
        #[arg(long)]
        gidnumber: Option<u32>,
        #[arg(long)]
        shell: Option<String>,
        #[arg(long)]
        home: Option<String>,
    },
    /// Show POSIX attributes.
    Show { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SshCmd {
    /// Add an OpenSSH public key under LABEL; KEY `-` reads it from stdin.
    AddPublickey {
        name: String,
        label: String,
        key: String,
    },
    /// List SSH public keys.
    ListPublickeys { name: String },
    /// Delete the SSH public key LABEL.
    DeletePublickey { name: String, label: String },
}

pub fn run(ctx: &Ctx, cmd: PersonCmd) -> Result<(), CliError> {
    match cmd {
        PersonCmd::Create {
            name,
            display_name,
            mails,
            legal_name,
        } => {
            let body = PersonCreate {
                name,
                display_name,
                mails,
                legal_name,
            };
            let v = ctx
                .client()?
                .call(Method::POST, "/v1/person", Some(&body))?;
            let p: PersonView = decode(v.clone())?;
            ctx.done(v, &format!("created person {} ({})", p.name, p.uuid))
        }
        PersonCmd::Get { name } => {
            let v = ctx.client()?.get(&format!("/v1/person/{}", seg(&name)))?;
            ctx.show(v, render_person)
        }
        PersonCmd::List => {
            let v = ctx.client()?.get("/v1/person")?;
            ctx.show(v, |people: Vec<PersonView>, ctx| {
                let mut t = Table::new(["NAME", "DISPLAY NAME", "MAIL", "UID", "STATUS"]);
                for p in people {
                    let status =
                        account_status(p.lock.as_ref(), p.valid_from, p.expire_at, ctx.now);
                    t.row([
                        p.name,
                        p.display_name,
                        p.mails.first().cloned().unwrap_or_default(),
                        p.posix
                            .map(|x| x.uid_number.to_string())
                            .unwrap_or_default(),
                        status,
                    ]);
                }
                t.render()
            })
        }
        PersonCmd::Update(u) => update(ctx, u),
        PersonCmd::Delete { name } => {
            let v = ctx.client()?.call::<()>(
                Method::DELETE,
                &format!("/v1/person/{}", seg(&name)),
                None,
            )?;
            ctx.done(v, &format!("deleted person {name}"))
        }
        PersonCmd::Credential(cmd) => match cmd {
            CredentialCmd::SetPassword {
                name,
                password_stdin,
            } => set_password(ctx, &name, password_stdin),
            CredentialCmd::Status { name } => credential::status(ctx, &name),
            CredentialCmd::CreateResetToken { name, ttl } => {
                credential::create_reset_token(ctx, &name, ttl)
            }
            CredentialCmd::RemoveTotp { name, label } => {
                credential::remove(ctx, &name, &label, false)
            }
            CredentialCmd::RemovePasskey { name, label } => {
                credential::remove(ctx, &name, &label, true)
            }
        },
        PersonCmd::Posix(cmd) => posix(ctx, cmd),
        PersonCmd::Ssh(cmd) => ssh(ctx, cmd),
    }
}

fn update(ctx: &Ctx, u: Update) -> Result<(), CliError> {
    let patch = PersonPatch {
        name: u.newname,
        display_name: u.displayname,
        legal_name: u.legalname.map(|l| (!l.is_empty()).then_some(l)),
        mails: (!u.mails.is_empty()).then_some(u.mails),
        valid_from: u.valid_from.and_then(SetOrClear::into_patch),
        expire_at: u.expire_at.and_then(SetOrClear::into_patch),
    };
    let v = ctx.client()?.call(
        Method::PATCH,
        &format!("/v1/person/{}", seg(&u.name)),
        Some(&patch),
    )?;
    ctx.done(v, &format!("updated person {}", u.name))
}

fn set_password(ctx: &Ctx, name: &str, from_stdin: bool) -> Result<(), CliError> {
    let password = if from_stdin {
        read_secret_stdin("password")?
    } else {
        let first = prompt_secret(&format!("new password for {name}: "), "password")?;
        let again = prompt_secret("repeat the new password: ", "password")?;
        if first != again {
            return Err(CliError::Input("the passwords do not match".to_owned()));
        }
        first
    };
    let mut body = SetPassword {
        password: password.to_string(),
    };
    let sent = ctx.client()?.call(
        Method::PUT,
        &format!("/v1/person/{}/password", seg(name)),
        Some(&body),
    );
    body.password.zeroize();
    ctx.done(sent?, &format!("password set for {name}"))
}

fn posix(ctx: &Ctx, cmd: PosixCmd) -> Result<(), CliError> {
    match cmd {
        PosixCmd::Set {
            name,
            gidnumber,
            shell,
            home,
        } => {
            let patch = PosixPatch {
                gid_number: gidnumber,
                login_shell: shell,
                home_directory: home,
            };
            let v = ctx.client()?.call(
                Method::PUT,
                &format!("/v1/person/{}/posix", seg(&name)),
                Some(&patch),
            )?;
            let p: PersonView = decode(v.clone())?;
            ctx.done(
                v,
                &format!("POSIX attributes of {}: {}", p.name, posix_line(&p)),
            )
        }
        PosixCmd::Show { name } => {
            let v = ctx.client()?.get(&format!("/v1/person/{}", seg(&name)))?;
            if ctx.json {
                let posix = v.get("posix").cloned().unwrap_or_default();
                return super::print(&format!("{}\n", output::json(&posix)));
            }
            let p: PersonView = decode(v)?;
            let text = match &p.posix {
                Some(x) => output::fields(&[
                    ("uid", x.uid_number.to_string()),
                    ("gid", x.gid_number.to_string()),
                    ("shell", x.login_shell.clone()),
                    ("home", x.home_directory.clone()),
                ]),
                None => format!("{} has no POSIX attributes\n", p.name),
            };
            super::print(&text)
        }
    }
}

fn ssh(ctx: &Ctx, cmd: SshCmd) -> Result<(), CliError> {
    match cmd {
        SshCmd::AddPublickey { name, label, key } => {
            let key = if key == "-" { read_stdin_all()? } else { key };
            let body = AddSshKey { label, key };
            let v = ctx.client()?.call(
                Method::POST,
                &format!("/v1/person/{}/ssh", seg(&name)),
                Some(&body),
            )?;
            let k: SshKeyView = decode(v.clone())?;
            ctx.done(
                v,
                &format!(
                    "added {} key {} ({}) to {name}",
                    k.algorithm, k.label, k.fingerprint
                ),
            )
        }
        SshCmd::ListPublickeys { name } => {
            let v = ctx
                .client()?
                .get(&format!("/v1/person/{}/ssh", seg(&name)))?;
            ctx.show(v, |keys: Vec<SshKeyView>, _| {
                let mut t = Table::new(["LABEL", "ALGORITHM", "FINGERPRINT", "COMMENT"]);
                for k in keys {
                    t.row([
                        k.label,
                        k.algorithm,
                        k.fingerprint,
                        k.comment.unwrap_or_default(),
                    ]);
                }
                t.render()
            })
        }
        SshCmd::DeletePublickey { name, label } => {
            let path = format!("/v1/person/{}/ssh/{}", seg(&name), seg(&label));
            let v = ctx.client()?.call::<()>(Method::DELETE, &path, None)?;
            ctx.done(v, &format!("deleted SSH key {label} of {name}"))
        }
    }
}

fn render_person(p: PersonView, ctx: &Ctx) -> String {
    let status = account_status(p.lock.as_ref(), p.valid_from, p.expire_at, ctx.now);
    let keys = p
        .ssh_keys
        .iter()
        .map(|k| format!("{} ({} {})", k.label, k.algorithm, k.fingerprint));
    output::fields(&[
        ("name", p.name.clone()),
        ("uuid", p.uuid.to_string()),
        ("display name", p.display_name.clone()),
        ("legal name", p.legal_name.clone().unwrap_or_default()),
        ("mail", join(&p.mails)),
        ("status", status),
        ("valid from", show_opt(p.valid_from, "any")),
        ("expire at", show_opt(p.expire_at, "never")),
        (
            "password",
            if p.password_set { "set" } else { "not set" }.to_owned(),
        ),
        ("posix", posix_line(&p)),
        ("ssh keys", join(keys)),
        ("groups", join(p.groups.iter().map(|g| &g.name))),
        (
            "groups (all)",
            join(p.groups_transitive.iter().map(|g| &g.name)),
        ),
        ("created", show(p.created_at)),
        ("modified", show(p.modified_at)),
    ])
}

fn posix_line(p: &PersonView) -> String {
    p.posix
        .as_ref()
        .map(|x| {
            format!(
                "uid {} gid {} shell {} home {}",
                x.uid_number, x.gid_number, x.login_shell, x.home_directory
            )
        })
        .unwrap_or_default()
}
