//! `idm oauth2 …`: OAuth2/OpenID Connect client registrations, shaped like Kanidm's
//! `kanidm system oauth2 …`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use idm_model::api::{ClaimMap, ClientSecret, OAuth2Create, OAuth2Patch, OAuth2View, ScopeMap};
use idm_model::oauth2::{ClientKind, GroupsClaim, Lifetimes, SigningAlg};
use serde_json::Value;
use ureq::http::Method;

use super::{Ctx, join, print, read_stdin_all, seg};
use crate::client::{CliError, decode};
use crate::output::{self, Table};
use crate::time::show;

#[derive(Debug, Subcommand)]
pub enum OAuth2Cmd {
    /// Register a confidential client (a web back end or service); its secret is shown once.
    Create(Create),
    /// Register a public client (a native or single-page app): no secret, PKCE always.
    CreatePublic(Create),
    /// Show a client.
    Get { name: String },
    /// List all clients.
    List,
    /// Delete a client.
    Delete { name: String },
    // The URL fields are not called `url`: that id is the global `--url`, which they would
    // overwrite.
    /// Allow a redirect URL (https, loopback http, or a private-use scheme).
    AddRedirectUrl {
        name: String,
        #[arg(value_name = "URL")]
        redirect_url: String,
    },
    /// Remove a redirect URL.
    RemoveRedirectUrl {
        name: String,
        #[arg(value_name = "URL")]
        redirect_url: String,
    },
    /// Allow a URL to return to after logout.
    AddPostLogoutUrl {
        name: String,
        #[arg(value_name = "URL")]
        post_logout_url: String,
    },
    /// Remove a post-logout URL.
    RemovePostLogoutUrl {
        name: String,
        #[arg(value_name = "URL")]
        post_logout_url: String,
    },
    /// Let members of GROUP log in to the client with these scopes (replaces GROUP's map).
    UpdateScopeMap {
        name: String,
        group: String,
        #[arg(required = true)]
        scopes: Vec<String>,
    },
    /// Remove GROUP's scope map.
    DeleteScopeMap { name: String, group: String },
    /// Give members of GROUP these values in the claim CLAIM (replaces GROUP's values).
    UpdateClaimMap {
        name: String,
        claim: String,
        group: String,
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Remove GROUP's values of the claim CLAIM.
    DeleteClaimMap {
        name: String,
        claim: String,
        group: String,
    },
    /// Show a new secret once more (within 15 minutes of create or reset-secret, once only).
    ShowBasicSecret { name: String },
    /// Make a new secret; the old one stops working.
    ResetSecret { name: String },
    /// Change token lifetimes (seconds); the ones not given stay as they are.
    SetTokenLifetime(SetTokenLifetime),
    /// Require pushed authorization requests (PAR).
    RequirePar { name: String, state: Switch },
    /// Require DPoP-bound tokens.
    RequireDpop { name: String, state: Switch },
    /// Require PKCE (public clients always use it).
    RequirePkce { name: String, state: Switch },
    /// Give refresh tokens only when `offline_access` is requested.
    RequireOfflineAccess { name: String, state: Switch },
    /// First-party clients skip the consent page.
    SetFirstParty { name: String, state: Switch },
    /// The algorithm ID tokens are signed with.
    SetSigningAlg { name: String, alg: Alg },
    /// Whether the `groups` claim holds group names or UUIDs.
    SetGroupsClaim { name: String, form: GroupsForm },
    /// The service account whose rights `client_credentials` tokens carry; "" clears it.
    SetServiceAccount {
        name: String,
        service_account: String,
    },
    /// Register a JWKS (JSON `{"keys": [...]}`) for `private_key_jwt`; FILE `-` reads stdin.
    SetJwks { name: String, file: PathBuf },
}

#[derive(Debug, Args)]
pub struct Create {
    /// The client_id.
    pub name: String,
    /// The name shown on the consent page.
    pub display_name: String,
    /// The application's landing URL.
    #[arg(long, value_name = "URL")]
    pub origin: String,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("lifetime").required(true).multiple(true)))]
#[command(
    override_usage = "idm oauth2 set-token-lifetime <NAME> [--access SECS] [--id SECS] \
    [--refresh SECS]"
)]
pub struct SetTokenLifetime {
    pub name: String,
    /// Access tokens: 30 s to 1 day.
    #[arg(long, value_name = "SECS", group = "lifetime")]
    pub access: Option<u32>,
    /// ID tokens: 30 s to 1 day.
    #[arg(long, value_name = "SECS", group = "lifetime")]
    pub id: Option<u32>,
    /// Refresh tokens: 1 min to 90 days.
    #[arg(long, value_name = "SECS", group = "lifetime")]
    pub refresh: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Alg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "PS256")]
    Ps256,
}

impl Alg {
    fn as_str(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupsForm {
    Names,
    Uuids,
}

pub fn run(ctx: &Ctx, cmd: OAuth2Cmd) -> Result<(), CliError> {
    match cmd {
        OAuth2Cmd::Create(c) => create(ctx, c, false),
        OAuth2Cmd::CreatePublic(c) => create(ctx, c, true),
        OAuth2Cmd::Get { name } => {
            let v = ctx.client()?.get(&client_path(&name))?;
            ctx.show(v, |c: OAuth2View, _| render_client(&c))
        }
        OAuth2Cmd::List => {
            let v = ctx.client()?.get("/v1/oauth2")?;
            ctx.show(v, |clients: Vec<OAuth2View>, _| {
                let mut t = Table::new(["NAME", "KIND", "DISPLAY NAME", "ORIGIN", "SCOPE MAPS"]);
                for c in clients {
                    t.row([
                        c.name,
                        kind(c.kind).to_owned(),
                        c.display_name,
                        c.origin,
                        join(c.scope_maps.keys()),
                    ]);
                }
                t.render()
            })
        }
        OAuth2Cmd::Delete { name } => {
            let v = ctx
                .client()?
                .call::<()>(Method::DELETE, &client_path(&name), None)?;
            ctx.done(v, &format!("deleted OAuth2 client {name}"))
        }
        OAuth2Cmd::AddRedirectUrl {
            name,
            redirect_url: url,
        } => {
            let p = OAuth2Patch {
                add_redirect_uris: vec![url.clone()],
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("added redirect URL {url} to {name}"),
            )
        }
        OAuth2Cmd::RemoveRedirectUrl {
            name,
            redirect_url: url,
        } => {
            let p = OAuth2Patch {
                remove_redirect_uris: vec![url.clone()],
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("removed redirect URL {url} from {name}"),
            )
        }
        OAuth2Cmd::AddPostLogoutUrl {
            name,
            post_logout_url: url,
        } => {
            let p = OAuth2Patch {
                add_post_logout_redirect_uris: vec![url.clone()],
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("added post-logout URL {url} to {name}"),
            )
        }
        OAuth2Cmd::RemovePostLogoutUrl {
            name,
            post_logout_url: url,
        } => {
            let p = OAuth2Patch {
                remove_post_logout_redirect_uris: vec![url.clone()],
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("removed post-logout URL {url} from {name}"),
            )
        }
        OAuth2Cmd::UpdateScopeMap {
            name,
            group,
            scopes,
        } => {
            let path = format!("{}/scope_map/{}", client_path(&name), seg(&group));
            let message = format!("scope map of {name} for {group}: {}", scopes.join(" "));
            let v = ctx
                .client()?
                .call(Method::PUT, &path, Some(&ScopeMap { scopes }))?;
            ctx.done(v, &message)
        }
        OAuth2Cmd::DeleteScopeMap { name, group } => {
            let path = format!("{}/scope_map/{}", client_path(&name), seg(&group));
            let v = ctx.client()?.call::<()>(Method::DELETE, &path, None)?;
            ctx.done(v, &format!("deleted the scope map of {name} for {group}"))
        }
        OAuth2Cmd::UpdateClaimMap {
            name,
            claim,
            group,
            values,
        } => {
            let path = claim_path(&name, &claim, &group);
            let message = format!("claim {claim} of {name} for {group}: {}", join(&values));
            let v = ctx
                .client()?
                .call(Method::PUT, &path, Some(&ClaimMap { values }))?;
            ctx.done(v, &message)
        }
        OAuth2Cmd::DeleteClaimMap { name, claim, group } => {
            let path = claim_path(&name, &claim, &group);
            let v = ctx.client()?.call::<()>(Method::DELETE, &path, None)?;
            ctx.done(v, &format!("deleted claim {claim} of {name} for {group}"))
        }
        OAuth2Cmd::ShowBasicSecret { name } => {
            let v = ctx
                .client()?
                .get(&format!("{}/secret", client_path(&name)))?;
            let s: ClientSecret = decode(v)?;
            if ctx.json {
                // Kanidm's shape: the secret alone, on one line.
                let secret = Value::String(s.secret);
                return print(&format!("{{\"secret\": {secret}}}\n"));
            }
            eprintln!(
                "secret of {}; it cannot be shown again \
                 (`idm oauth2 reset-secret {name}` makes a new one):",
                s.client_id
            );
            print(&format!("{}\n", s.secret))
        }
        OAuth2Cmd::ResetSecret { name } => {
            let v = ctx.client()?.call::<()>(
                Method::POST,
                &format!("{}/reset_secret", client_path(&name)),
                None,
            )?;
            if ctx.json {
                return print(&format!("{}\n", output::json(&v)));
            }
            let s: ClientSecret = decode(v)?;
            // The explanation goes to stderr so that `SECRET=$(idm oauth2 reset-secret …)`
            // captures the secret alone.
            eprintln!(
                "new secret of {} (the old one no longer works); \
                 only its digest is stored, keep it now:",
                s.client_id
            );
            print(&format!("{}\n", s.secret))
        }
        OAuth2Cmd::SetTokenLifetime(l) => set_token_lifetime(ctx, l),
        OAuth2Cmd::RequirePar { name, state } => {
            let p = OAuth2Patch {
                require_par: Some(state.on()),
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("{name}: require PAR {}", on_off(state.on())),
            )
        }
        OAuth2Cmd::RequireDpop { name, state } => {
            let p = OAuth2Patch {
                require_dpop: Some(state.on()),
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("{name}: require DPoP {}", on_off(state.on())),
            )
        }
        OAuth2Cmd::RequirePkce { name, state } => {
            let p = OAuth2Patch {
                require_pkce: Some(state.on()),
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("{name}: require PKCE {}", on_off(state.on())),
            )
        }
        OAuth2Cmd::RequireOfflineAccess { name, state } => {
            let p = OAuth2Patch {
                require_offline_access: Some(state.on()),
                ..OAuth2Patch::default()
            };
            let message = format!("{name}: require offline_access {}", on_off(state.on()));
            patch(ctx, &name, &p, &message)
        }
        OAuth2Cmd::SetFirstParty { name, state } => {
            let p = OAuth2Patch {
                first_party: Some(state.on()),
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("{name}: first party {}", on_off(state.on())),
            )
        }
        OAuth2Cmd::SetSigningAlg { name, alg } => {
            let p = OAuth2Patch {
                signing_alg: Some(alg.as_str().to_owned()),
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("{name}: signing algorithm {}", alg.as_str()),
            )
        }
        OAuth2Cmd::SetGroupsClaim { name, form } => {
            let g = match form {
                GroupsForm::Names => GroupsClaim::Names,
                GroupsForm::Uuids => GroupsClaim::Uuids,
            };
            let p = OAuth2Patch {
                groups_claim: Some(g),
                ..OAuth2Patch::default()
            };
            patch(
                ctx,
                &name,
                &p,
                &format!("{name}: groups claim holds {}", groups_claim(g)),
            )
        }
        OAuth2Cmd::SetServiceAccount {
            name,
            service_account,
        } => {
            let message = if service_account.is_empty() {
                format!("{name}: no service account")
            } else {
                format!("{name}: service account {service_account}")
            };
            let p = OAuth2Patch {
                service_account: Some(service_account),
                ..OAuth2Patch::default()
            };
            patch(ctx, &name, &p, &message)
        }
        OAuth2Cmd::SetJwks { name, file } => {
            let jwks = read_jwks(&file)?;
            let p = OAuth2Patch {
                jwks: Some(jwks),
                ..OAuth2Patch::default()
            };
            patch(ctx, &name, &p, &format!("{name}: JWKS set"))
        }
    }
}

fn client_path(name: &str) -> String {
    format!("/v1/oauth2/{}", seg(name))
}

fn claim_path(name: &str, claim: &str, group: &str) -> String {
    format!(
        "{}/claim_map/{}/{}",
        client_path(name),
        seg(claim),
        seg(group)
    )
}

fn patch(ctx: &Ctx, name: &str, p: &OAuth2Patch, message: &str) -> Result<(), CliError> {
    let v = ctx
        .client()?
        .call(Method::PATCH, &client_path(name), Some(p))?;
    ctx.done(v, message)
}

fn create(ctx: &Ctx, c: Create, public: bool) -> Result<(), CliError> {
    let body = OAuth2Create {
        name: c.name,
        display_name: c.display_name,
        origin: c.origin,
        public,
    };
    let v = ctx
        .client()?
        .call(Method::POST, "/v1/oauth2", Some(&body))?;
    if ctx.json {
        return print(&format!("{}\n", output::json(&v)));
    }
    let secret = v.get("secret").and_then(Value::as_str).map(str::to_owned);
    let view: OAuth2View = decode(v)?;
    let mut text = format!(
        "created {} OAuth2 client {} ({})\n",
        kind(view.kind),
        view.name,
        view.uuid
    );
    if let Some(secret) = secret {
        text.push_str(&output::fields(&[
            ("client_id", view.name.clone()),
            ("secret", secret),
        ]));
        text.push_str(&format!(
            "The secret is shown only now: the server keeps just its digest.\n\
             `idm oauth2 show-basic-secret {0}` can show it once more within 15 minutes;\n\
             after that only `idm oauth2 reset-secret {0}` makes a new one.\n",
            view.name
        ));
    }
    print(&text)
}

fn set_token_lifetime(ctx: &Ctx, l: SetTokenLifetime) -> Result<(), CliError> {
    let client = ctx.client()?;
    let current: OAuth2View = decode(client.get(&client_path(&l.name))?)?;
    let mut lifetimes: Lifetimes = current.lifetimes;
    if let Some(s) = l.access {
        lifetimes.access_token = i64::from(s);
    }
    if let Some(s) = l.id {
        lifetimes.id_token = i64::from(s);
    }
    if let Some(s) = l.refresh {
        lifetimes.refresh_token = i64::from(s);
    }
    let p = OAuth2Patch {
        lifetimes: Some(lifetimes),
        ..OAuth2Patch::default()
    };
    let v = client.call(Method::PATCH, &client_path(&l.name), Some(&p))?;
    let after: OAuth2View = decode(v.clone())?;
    ctx.done(
        v,
        &format!(
            "token lifetimes of {}: {}",
            l.name,
            lifetimes_line(&after.lifetimes)
        ),
    )
}

/// The JWKS text of FILE (`-`: stdin), checked to be JSON so that a wrong file is named here.
fn read_jwks(file: &std::path::Path) -> Result<String, CliError> {
    let (text, what) = if file.as_os_str() == "-" {
        (read_stdin_all()?, "stdin".to_owned())
    } else {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::Input(format!("cannot read {}: {e}", file.display())))?;
        (text.trim().to_owned(), file.display().to_string())
    };
    if text.is_empty() {
        return Err(CliError::Input(format!("{what} is empty: expected a JWKS")));
    }
    if let Err(e) = serde_json::from_str::<Value>(&text) {
        return Err(CliError::Input(format!("{what} is not JSON: {e}")));
    }
    Ok(text)
}

fn kind(k: ClientKind) -> &'static str {
    match k {
        ClientKind::Confidential => "confidential",
        ClientKind::Public => "public",
    }
}

fn alg(a: SigningAlg) -> &'static str {
    match a {
        SigningAlg::ES256 => "ES256",
        SigningAlg::RS256 => "RS256",
        SigningAlg::PS256 => "PS256",
    }
}

fn groups_claim(g: GroupsClaim) -> &'static str {
    match g {
        GroupsClaim::Names => "names",
        GroupsClaim::Uuids => "uuids",
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn lifetimes_line(l: &Lifetimes) -> String {
    format!(
        "access {} s, id {} s, refresh {} s",
        l.access_token, l.id_token, l.refresh_token
    )
}

fn render_client(c: &OAuth2View) -> String {
    let scope_maps = c
        .scope_maps
        .iter()
        .map(|(group, scopes)| format!("{group}: {}", scopes.join(" ")))
        .collect::<Vec<_>>()
        .join("; ");
    let claim_maps = c
        .claim_maps
        .iter()
        .flat_map(|(claim, groups)| {
            groups
                .iter()
                .map(move |(group, values)| format!("{claim} for {group}: {}", join(values)))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let set = |b: bool| if b { "set" } else { "not set" }.to_owned();
    output::fields(&[
        ("name", c.name.clone()),
        ("uuid", c.uuid.to_string()),
        ("display name", c.display_name.clone()),
        ("kind", kind(c.kind).to_owned()),
        ("origin", c.origin.clone()),
        ("redirect urls", join(&c.redirect_uris)),
        ("post-logout urls", join(&c.post_logout_redirect_uris)),
        ("secret", set(c.has_secret)),
        ("jwks", set(c.has_jwks)),
        ("scope maps", scope_maps),
        ("claim maps", claim_maps),
        ("require par", on_off(c.require_par).to_owned()),
        ("require dpop", on_off(c.require_dpop).to_owned()),
        ("require pkce", on_off(c.require_pkce).to_owned()),
        (
            "require offline access",
            on_off(c.require_offline_access).to_owned(),
        ),
        ("first party", on_off(c.first_party).to_owned()),
        ("signing alg", alg(c.signing_alg).to_owned()),
        ("token lifetimes", lifetimes_line(&c.lifetimes)),
        ("groups claim", groups_claim(c.groups_claim).to_owned()),
        (
            "service account",
            c.service_account.clone().unwrap_or_default(),
        ),
        ("created", show(c.created_at)),
        ("modified", show(c.modified_at)),
    ])
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(args: &[&str]) -> OAuth2Cmd {
        let all = ["idm", "oauth2"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(all) {
            Ok(Cli {
                command: Command::OAuth2(cmd),
                ..
            }) => cmd,
            Ok(other) => panic!("`{args:?}` parsed as {other:?}"),
            Err(e) => panic!("`{args:?}` did not parse:\n{e}"),
        }
    }

    fn usage_error(line: &str) -> clap::Error {
        let args = ["idm", "oauth2"].into_iter().chain(line.split_whitespace());
        match Cli::try_parse_from(args) {
            Ok(cli) => panic!("`{line}` parsed: {cli:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn create_and_create_public() {
        let OAuth2Cmd::Create(c) = parse(&[
            "create",
            "app",
            "The App",
            "--origin",
            "https://app.example.com",
        ]) else {
            panic!("wrong command");
        };
        assert_eq!(
            (c.name.as_str(), c.display_name.as_str(), c.origin.as_str()),
            ("app", "The App", "https://app.example.com")
        );
        let OAuth2Cmd::CreatePublic(c) = parse(&[
            "create-public",
            "cli",
            "CLI",
            "--origin=http://127.0.0.1:8080",
        ]) else {
            panic!("wrong command");
        };
        assert_eq!(c.origin, "http://127.0.0.1:8080");
        // --json is global and goes anywhere.
        let cli = Cli::try_parse_from([
            "idm",
            "oauth2",
            "create",
            "app",
            "App",
            "--json",
            "--origin",
            "https://a.b",
        ])
        .unwrap();
        assert!(cli.json);
    }

    #[test]
    fn reads_deletes_and_secrets() {
        assert!(matches!(parse(&["get", "app"]), OAuth2Cmd::Get { name } if name == "app"));
        assert!(matches!(parse(&["list"]), OAuth2Cmd::List));
        assert!(matches!(parse(&["delete", "app"]), OAuth2Cmd::Delete { name } if name == "app"));
        assert!(matches!(
            parse(&["show-basic-secret", "app"]),
            OAuth2Cmd::ShowBasicSecret { name } if name == "app"
        ));
        assert!(matches!(
            parse(&["reset-secret", "app"]),
            OAuth2Cmd::ResetSecret { name } if name == "app"
        ));
        let cli =
            Cli::try_parse_from(["idm", "oauth2", "show-basic-secret", "app", "--json"]).unwrap();
        assert!(cli.json);
    }

    #[test]
    fn redirect_and_post_logout_urls() {
        let url = "https://app.example.com/cb?x=1";
        assert!(matches!(
            parse(&["add-redirect-url", "app", url]),
            OAuth2Cmd::AddRedirectUrl { name, redirect_url: u } if name == "app" && u == url
        ));
        assert!(matches!(
            parse(&["remove-redirect-url", "app", url]),
            OAuth2Cmd::RemoveRedirectUrl { name, redirect_url: u } if name == "app" && u == url
        ));
        assert!(matches!(
            parse(&["add-post-logout-url", "app", url]),
            OAuth2Cmd::AddPostLogoutUrl { name, post_logout_url: u } if name == "app" && u == url
        ));
        assert!(matches!(
            parse(&["remove-post-logout-url", "app", url]),
            OAuth2Cmd::RemovePostLogoutUrl { name, post_logout_url: u } if name == "app" && u == url
        ));
    }

    #[test]
    fn url_arguments_leave_the_server_url_alone() {
        for sub in [
            "add-redirect-url",
            "remove-redirect-url",
            "add-post-logout-url",
            "remove-post-logout-url",
        ] {
            let cli = Cli::try_parse_from([
                "idm",
                "--url",
                "https://idm.test:8443",
                "oauth2",
                sub,
                "app",
                "https://app.example.com/cb",
            ])
            .unwrap();
            assert_eq!(cli.url, "https://idm.test:8443", "{sub}");
        }
    }

    #[test]
    fn scope_and_claim_maps() {
        let OAuth2Cmd::UpdateScopeMap {
            name,
            group,
            scopes,
        } = parse(&[
            "update-scope-map",
            "app",
            "devs",
            "openid",
            "profile",
            "email",
        ])
        else {
            panic!("wrong command");
        };
        assert_eq!((name.as_str(), group.as_str()), ("app", "devs"));
        assert_eq!(scopes, ["openid", "profile", "email"]);
        assert!(matches!(
            parse(&["delete-scope-map", "app", "devs"]),
            OAuth2Cmd::DeleteScopeMap { name, group } if name == "app" && group == "devs"
        ));
        let OAuth2Cmd::UpdateClaimMap {
            name,
            claim,
            group,
            values,
        } = parse(&["update-claim-map", "app", "role", "devs", "admin", "editor"])
        else {
            panic!("wrong command");
        };
        assert_eq!(
            (name.as_str(), claim.as_str(), group.as_str()),
            ("app", "role", "devs")
        );
        assert_eq!(values, ["admin", "editor"]);
        assert!(matches!(
            parse(&["delete-claim-map", "app", "role", "devs"]),
            OAuth2Cmd::DeleteClaimMap { name, claim, group }
                if name == "app" && claim == "role" && group == "devs"
        ));
    }

    #[test]
    fn token_lifetimes_take_any_subset() {
        let OAuth2Cmd::SetTokenLifetime(l) =
            parse(&["set-token-lifetime", "app", "--access", "300"])
        else {
            panic!("wrong command");
        };
        assert_eq!((l.access, l.id, l.refresh), (Some(300), None, None));
        let OAuth2Cmd::SetTokenLifetime(l) = parse(&[
            "set-token-lifetime",
            "app",
            "--refresh",
            "86400",
            "--id",
            "120",
            "--access",
            "60",
        ]) else {
            panic!("wrong command");
        };
        assert_eq!(l.name, "app");
        assert_eq!(
            (l.access, l.id, l.refresh),
            (Some(60), Some(120), Some(86400))
        );
    }

    #[test]
    fn switches_are_on_or_off() {
        fn state_of(c: &OAuth2Cmd) -> Option<Switch> {
            match c {
                OAuth2Cmd::RequirePar { state, .. }
                | OAuth2Cmd::RequireDpop { state, .. }
                | OAuth2Cmd::RequirePkce { state, .. }
                | OAuth2Cmd::RequireOfflineAccess { state, .. }
                | OAuth2Cmd::SetFirstParty { state, .. } => Some(*state),
                _ => None,
            }
        }
        let cases = [
            "require-par",
            "require-dpop",
            "require-pkce",
            "require-offline-access",
            "set-first-party",
        ];
        for (i, sub) in cases.into_iter().enumerate() {
            // Each name reaches its own variant.
            let c = parse(&[sub, "app", "on"]);
            let variant = [
                matches!(c, OAuth2Cmd::RequirePar { .. }),
                matches!(c, OAuth2Cmd::RequireDpop { .. }),
                matches!(c, OAuth2Cmd::RequirePkce { .. }),
                matches!(c, OAuth2Cmd::RequireOfflineAccess { .. }),
                matches!(c, OAuth2Cmd::SetFirstParty { .. }),
            ];
            assert!(variant[i], "{sub}: {c:?}");
            assert_eq!(
                state_of(&parse(&[sub, "app", "on"])),
                Some(Switch::On),
                "{sub}"
            );
            assert_eq!(
                state_of(&parse(&[sub, "app", "off"])),
                Some(Switch::Off),
                "{sub}"
            );
            for bad in [
                format!("{sub} app"),
                format!("{sub} app yes"),
                format!("{sub} app true"),
            ] {
                assert_eq!(usage_error(&bad).exit_code(), 2, "`{bad}`");
            }
        }
    }

    #[test]
    fn algorithms_groups_claim_service_account_and_jwks() {
        for (arg, want) in [
            ("ES256", Alg::Es256),
            ("RS256", Alg::Rs256),
            ("PS256", Alg::Ps256),
        ] {
            let OAuth2Cmd::SetSigningAlg { name, alg } = parse(&["set-signing-alg", "app", arg])
            else {
                panic!("wrong command");
            };
            assert_eq!((name.as_str(), alg), ("app", want));
            assert_eq!(alg.as_str(), arg);
        }
        assert!(matches!(
            parse(&["set-groups-claim", "app", "names"]),
            OAuth2Cmd::SetGroupsClaim {
                form: GroupsForm::Names,
                ..
            }
        ));
        assert!(matches!(
            parse(&["set-groups-claim", "app", "uuids"]),
            OAuth2Cmd::SetGroupsClaim {
                form: GroupsForm::Uuids,
                ..
            }
        ));
        assert!(matches!(
            parse(&["set-service-account", "app", "ci"]),
            OAuth2Cmd::SetServiceAccount { name, service_account }
                if name == "app" && service_account == "ci"
        ));
        // The empty string clears: it must reach the command as an argument.
        assert!(matches!(
            parse(&["set-service-account", "app", ""]),
            OAuth2Cmd::SetServiceAccount { service_account, .. } if service_account.is_empty()
        ));
        assert!(matches!(
            parse(&["set-jwks", "app", "keys.json"]),
            OAuth2Cmd::SetJwks { name, file }
                if name == "app" && file == std::path::Path::new("keys.json")
        ));
        assert!(matches!(
            parse(&["set-jwks", "app", "-"]),
            OAuth2Cmd::SetJwks { file, .. } if file == std::path::Path::new("-")
        ));
    }

    #[test]
    fn bad_usage_is_exit_code_2() {
        let lines = [
            "",
            "create app App",
            "create app --origin https://a.b",
            "create-public app App",
            "get",
            "delete",
            "list extra",
            "add-redirect-url app",
            "remove-redirect-url app",
            "add-post-logout-url app",
            "remove-post-logout-url app",
            "update-scope-map app devs",
            "delete-scope-map app",
            "update-claim-map app role devs",
            "delete-claim-map app role",
            "show-basic-secret",
            "reset-secret",
            "set-token-lifetime app",
            "set-token-lifetime app --access -5",
            "set-token-lifetime app --id soon",
            "set-signing-alg app HS256",
            "set-signing-alg app",
            "set-groups-claim app ids",
            "set-service-account app",
            "set-jwks app",
            "frobnicate app",
        ];
        for line in lines {
            assert_eq!(usage_error(line).exit_code(), 2, "`{line}`");
        }
    }

    #[test]
    fn requests_go_to_the_documented_paths() {
        assert_eq!(client_path("app"), "/v1/oauth2/app");
        assert_eq!(client_path("a/b"), "/v1/oauth2/a%2Fb");
        assert_eq!(
            claim_path("app", "role", "dev ops"),
            "/v1/oauth2/app/claim_map/role/dev%20ops"
        );
    }

    #[test]
    fn patches_carry_only_what_changes() {
        let p = OAuth2Patch {
            require_par: Some(false),
            ..OAuth2Patch::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"require_par": false})
        );
    }

    #[test]
    fn get_shows_every_field() {
        let v = serde_json::json!({
            "uuid": "6f1c1f3e-1f64-4a8e-9d2b-0c1b2d3e4f50",
            "name": "app",
            "display_name": "The App",
            "kind": "confidential",
            "origin": "https://app.example.com",
            "redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1/cb"],
            "post_logout_redirect_uris": [],
            "has_secret": true,
            "has_jwks": false,
            "scope_maps": {"devs": ["openid", "profile"], "ops": ["openid"]},
            "claim_maps": {"role": {"devs": ["admin", "editor"]}},
            "require_par": true,
            "require_dpop": false,
            "require_pkce": true,
            "require_offline_access": false,
            "signing_alg": "RS256",
            "first_party": false,
            "lifetimes": {"access_token": 600, "id_token": 300, "refresh_token": 28800},
            "groups_claim": "uuids",
            "service_account": null,
            "created_at": "2026-01-01T00:00:00Z",
            "modified_at": "2026-01-02T00:00:00Z"
        });
        let c: OAuth2View = serde_json::from_value(v).unwrap();
        assert_eq!(
            render_client(&c),
            "name:                   app\n\
             uuid:                   6f1c1f3e-1f64-4a8e-9d2b-0c1b2d3e4f50\n\
             display name:           The App\n\
             kind:                   confidential\n\
             origin:                 https://app.example.com\n\
             redirect urls:          https://app.example.com/cb, http://127.0.0.1/cb\n\
             post-logout urls:       -\n\
             secret:                 set\n\
             jwks:                   not set\n\
             scope maps:             devs: openid profile; ops: openid\n\
             claim maps:             role for devs: admin, editor\n\
             require par:            on\n\
             require dpop:           off\n\
             require pkce:           on\n\
             require offline access: off\n\
             first party:            off\n\
             signing alg:            RS256\n\
             token lifetimes:        access 600 s, id 300 s, refresh 28800 s\n\
             groups claim:           uuids\n\
             service account:        -\n\
             created:                2026-01-01T00:00:00Z\n\
             modified:               2026-01-02T00:00:00Z\n"
        );
    }

    #[test]
    fn jwks_files_are_checked_before_sending() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, "{\"keys\": []}\n").unwrap();
        assert_eq!(read_jwks(&good).unwrap(), "{\"keys\": []}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "not json").unwrap();
        let e = read_jwks(&bad).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{} is not JSON: ", bad.display())),
            "{e}"
        );
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, " \n").unwrap();
        let e = read_jwks(&empty).unwrap_err().to_string();
        assert_eq!(e, format!("{} is empty: expected a JWKS", empty.display()));
        let e = read_jwks(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read "), "{e}");
    }
}
