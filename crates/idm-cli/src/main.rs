//! `idm`: the admin command line of an idm server, shaped like Kanidm's `kanidm`.
//!
//! It speaks only the HTTPS JSON `/v1` API (docs/api.md), with the request and response types
//! of `idm_model::api`, so it can never disagree with the server about a body.

mod cache;
mod client;
mod commands;
mod output;
mod time;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use client::{CliError, Secret};
use commands::{Ctx, account, audit, auth, group, oauth2, person, service_account};

#[derive(Debug, Parser)]
#[command(
    name = "idm",
    version,
    about = "Administer an idm server over its HTTPS API."
)]
#[command(
    after_help = "Environment: IDM_URL, IDM_CA, and IDM_TOKEN (a bearer token, e.g. a \
                        service account's API token, used instead of the cached session)."
)]
pub struct Cli {
    /// The server.
    #[arg(
        long,
        env = "IDM_URL",
        default_value = "https://localhost:8443",
        global = true
    )]
    pub url: String,
    /// PEM file of the CA to trust [default: ./idm-data/tls/ca.pem if present, else the
    /// webpki roots].
    #[arg(long, env = "IDM_CA", value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
    /// Print the server's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with a password and cache the session for this server.
    Login(auth::Login),
    /// End the cached session.
    Logout,
    /// Show who the current token belongs to.
    #[command(name = "self", visible_alias = "whoami")]
    SelfInfo,
    /// Persons.
    #[command(subcommand)]
    Person(person::PersonCmd),
    /// Lock and unlock accounts.
    #[command(subcommand)]
    Account(account::AccountCmd),
    /// Groups.
    #[command(subcommand)]
    Group(group::GroupCmd),
    /// Service accounts and API tokens.
    #[command(subcommand)]
    ServiceAccount(service_account::ServiceAccountCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// OAuth2/OpenID Connect clients.
    #[command(subcommand, name = "oauth2")]
    OAuth2(oauth2::OAuth2Cmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing sensible is left to do if stderr itself is gone.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let env_token = std::env::var("IDM_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| Secret::new(t.trim().to_owned()));
    let ctx = Ctx::new(
        &cli.url,
        commands::resolve_ca(cli.ca, &cwd),
        cli.json,
        chrono::Utc::now(),
        env_token,
        cache::TokenCache::default_location().ok(),
    )?;
    match cli.command {
        Command::Login(args) => auth::login(&ctx, &args),
        Command::Logout => auth::logout(&ctx),
        Command::SelfInfo => auth::whoami(&ctx),
        Command::Person(cmd) => person::run(&ctx, cmd),
        Command::Account(cmd) => account::run(&ctx, cmd),
        Command::Group(cmd) => group::run(&ctx, cmd),
        Command::ServiceAccount(cmd) => service_account::run(&ctx, cmd),
        Command::Audit(cmd) => audit::run(&ctx, cmd),
        Command::OAuth2(cmd) => oauth2::run(&ctx, cmd),
    }
}

#[cfg(test)]
mod tests;
