//! `idm service-account …`: non-interactive accounts and their API tokens.

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Subcommand};
use idm_model::TokenAccess;
use idm_model::api::{
    ApiTokenCreate, ApiTokenCreated, ApiTokenView, ServiceAccountCreate, ServiceAccountPatch,
    ServiceAccountView,
};
use ureq::http::Method;
use uuid::Uuid;

use super::{Ctx, account_status, join, print, seg};
use crate::client::{CliError, decode};
use crate::output::{self, Table};
use crate::time::{SetOrClear, parse_expiry, parse_time, show, show_opt};

#[derive(Debug, Subcommand)]
pub enum ServiceAccountCmd {
    /// Create a service account.
    Create {
        name: String,
        display_name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Show a service account.
    Get { name: String },
    /// List all service accounts.
    List,
    /// Change a service account's attributes.
    Update(Update),
    /// Delete a service account and its API tokens.
    Delete { name: String },
    /// API tokens.
    #[command(subcommand)]
    ApiToken(ApiTokenCmd),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
#[command(
    override_usage = "idm service-account update <NAME> [--displayname D] \
    [--description D] [--expire-at T|never]"
)]
pub struct Update {
    /// The service account's name or UUID.
    pub name: String,
    /// The name shown to people.
    #[arg(long, group = "change")]
    pub displayname: Option<String>,
    /// The description; "" clears it.
    #[arg(long, group = "change")]
    pub description: Option<String>,
    /// When the account stops being usable (RFC 3339 or YYYY-MM-DD); `never` clears it.
    #[arg(long, value_parser = parse_expiry, group = "change")]
    pub expire_at: Option<SetOrClear>,
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenCmd {
    /// Generate an API token; its secret is shown this once only.
    Generate {
        name: String,
        label: String,
        /// When the token expires (RFC 3339 or YYYY-MM-DD); default never.
        #[arg(long, value_parser = parse_time)]
        expiry: Option<DateTime<Utc>>,
        /// Allow writes; tokens are read-only by default.
        #[arg(long)]
        rw: bool,
    },
    /// List a service account's API tokens (never their secrets).
    List { name: String },
    /// Revoke an API token.
    Destroy { name: String, token_id: Uuid },
}

pub fn run(ctx: &Ctx, cmd: ServiceAccountCmd) -> Result<(), CliError> {
    match cmd {
        ServiceAccountCmd::Create {
            name,
            display_name,
            description,
        } => {
            let body = ServiceAccountCreate {
                name,
                display_name,
                description,
            };
            let v = ctx
                .client()?
                .call(Method::POST, "/v1/service_account", Some(&body))?;
            let s: ServiceAccountView = decode(v.clone())?;
            ctx.done(
                v,
                &format!("created service account {} ({})", s.name, s.uuid),
            )
        }
        ServiceAccountCmd::Get { name } => {
            let v = ctx
                .client()?
                .get(&format!("/v1/service_account/{}", seg(&name)))?;
            ctx.show(v, render_service_account)
        }
        ServiceAccountCmd::List => {
            let v = ctx.client()?.get("/v1/service_account")?;
            ctx.show(v, |accounts: Vec<ServiceAccountView>, ctx| {
                let mut t = Table::new(["NAME", "DISPLAY NAME", "TOKENS", "STATUS", "DESCRIPTION"]);
                for s in accounts {
                    let status = account_status(s.lock.as_ref(), None, s.expire_at, ctx.now);
                    t.row([
                        s.name,
                        s.display_name,
                        s.api_tokens.len().to_string(),
                        status,
                        s.description.unwrap_or_default(),
                    ]);
                }
                t.render()
            })
        }
        ServiceAccountCmd::Update(u) => {
            let patch = ServiceAccountPatch {
                display_name: u.displayname,
                description: u.description.map(|d| (!d.is_empty()).then_some(d)),
                expire_at: u.expire_at.and_then(SetOrClear::into_patch),
            };
            let v = ctx.client()?.call(
                Method::PATCH,
                &format!("/v1/service_account/{}", seg(&u.name)),
                Some(&patch),
            )?;
            ctx.done(v, &format!("updated service account {}", u.name))
        }
        ServiceAccountCmd::Delete { name } => {
            let v = ctx.client()?.call::<()>(
                Method::DELETE,
                &format!("/v1/service_account/{}", seg(&name)),
                None,
            )?;
            ctx.done(v, &format!("deleted service account {name}"))
        }
        ServiceAccountCmd::ApiToken(cmd) => api_token(ctx, cmd),
    }
}

fn api_token(ctx: &Ctx, cmd: ApiTokenCmd) -> Result<(), CliError> {
    match cmd {
        ApiTokenCmd::Generate {
            name,
            label,
            expiry,
            rw,
        } => {
            let body = ApiTokenCreate {
                label: label.clone(),
                expire_at: expiry,
                read_write: rw,
            };
            let v = ctx.client()?.call(
                Method::POST,
                &format!("/v1/service_account/{}/api_token", seg(&name)),
                Some(&body),
            )?;
            if ctx.json {
                return print(&format!("{}\n", output::json(&v)));
            }
            let created: ApiTokenCreated = decode(v)?;
            // The explanation goes to stderr so that `TOKEN=$(idm … generate …)` captures the
            // token alone.
            eprintln!(
                "API token {label} ({}) for {name}: {}, expires {}. It is shown only this once:",
                created.id,
                if rw { "read-write" } else { "read-only" },
                show_opt(expiry, "never"),
            );
            print(&format!("{}\n", created.token))
        }
        ApiTokenCmd::List { name } => {
            let v = ctx
                .client()?
                .get(&format!("/v1/service_account/{}/api_token", seg(&name)))?;
            ctx.show(v, |tokens: Vec<ApiTokenView>, _| token_table(&tokens))
        }
        ApiTokenCmd::Destroy { name, token_id } => {
            let path = format!("/v1/service_account/{}/api_token/{}", seg(&name), token_id);
            let v = ctx.client()?.call::<()>(Method::DELETE, &path, None)?;
            ctx.done(v, &format!("destroyed API token {token_id} of {name}"))
        }
    }
}

fn token_table(tokens: &[ApiTokenView]) -> String {
    let mut t = Table::new(["ID", "LABEL", "ACCESS", "CREATED", "EXPIRES"]);
    for k in tokens {
        t.row([
            k.id.to_string(),
            k.label.clone(),
            access(k.access).to_owned(),
            show(k.created_at),
            show_opt(k.expire_at, "never"),
        ]);
    }
    t.render()
}

fn access(a: TokenAccess) -> &'static str {
    match a {
        TokenAccess::ReadOnly => "read-only",
        TokenAccess::ReadWrite => "read-write",
    }
}

fn render_service_account(s: ServiceAccountView, ctx: &Ctx) -> String {
    let status = account_status(s.lock.as_ref(), None, s.expire_at, ctx.now);
    let tokens = s.api_tokens.iter().map(|k| {
        format!(
            "{} ({}, {}, expires {})",
            k.label,
            k.id,
            access(k.access),
            show_opt(k.expire_at, "never")
        )
    });
    output::fields(&[
        ("name", s.name.clone()),
        ("uuid", s.uuid.to_string()),
        ("display name", s.display_name.clone()),
        ("description", s.description.clone().unwrap_or_default()),
        ("status", status),
        ("expire at", show_opt(s.expire_at, "never")),
        ("api tokens", join(tokens)),
        ("groups", join(s.groups.iter().map(|g| &g.name))),
        (
            "groups (all)",
            join(s.groups_transitive.iter().map(|g| &g.name)),
        ),
        ("created", show(s.created_at)),
        ("modified", show(s.modified_at)),
    ])
}
