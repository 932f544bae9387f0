//! `idm login`, `idm logout` and `idm self`.

use clap::Args;
use idm_model::api::{AuthRequest, AuthResponse, WhoAmI};
use ureq::http::Method;
use zeroize::Zeroize;

use super::{Ctx, join, print, prompt_secret, read_secret_stdin};
use crate::cache::Session;
use crate::client::{Auth, CliError, Secret, decode};
use crate::output;
use crate::time::show;

#[derive(Debug, Args)]
pub struct Login {
    /// The account to log in as.
    #[arg(short = 'D', long = "name", value_name = "NAME")]
    pub name: String,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// A TOTP code (or a backup code), for accounts with a second factor.
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
}

/// Authenticates with a password and caches the session token for this server.
pub fn login(ctx: &Ctx, args: &Login) -> Result<(), CliError> {
    // Fail before asking for a password if there is nowhere to keep the session.
    let cache = ctx.cache()?;
    let password = if args.password_stdin {
        read_secret_stdin("password")?
    } else {
        prompt_secret(
            &format!("password for {} at {}: ", args.name, ctx.url),
            "password",
        )?
    };
    let mut req = AuthRequest {
        name: args.name.clone(),
        password: password.to_string(),
        code: args.code.clone(),
    };
    let sent = ctx
        .client_with(Auth::Login)?
        .call(Method::POST, "/v1/auth", Some(&req));
    req.password.zeroize();
    let AuthResponse { token, expires_at } = decode(sent?)?;
    cache.put(
        &ctx.url,
        Session {
            name: args.name.clone(),
            token: Secret::new(token),
            expires_at,
        },
    )?;
    if ctx.env_token.is_some() {
        eprintln!("note: IDM_TOKEN is set and is used instead of this session until unset");
    }
    print(&format!(
        "logged in as {} at {} until {}\n",
        args.name,
        ctx.url,
        show(expires_at)
    ))
}

/// Ends the cached session on the server and forgets it here. The local token is removed even
/// when the server cannot be reached, and the failure is reported.
pub fn logout(ctx: &Ctx) -> Result<(), CliError> {
    let Some(session) = ctx.cache()?.remove(&ctx.url)? else {
        return print(&format!("not logged in at {}\n", ctx.url));
    };
    // An expired session is already over on the server; otherwise end it there too.
    if session.expires_at > ctx.now {
        let auth = Auth::Session {
            name: session.name.clone(),
            token: session.token.clone(),
        };
        match ctx
            .client_with(auth)?
            .call::<()>(Method::POST, "/v1/logout", None)
        {
            Ok(_) | Err(CliError::SessionRejected { .. }) => {}
            Err(e) => return Err(CliError::LogoutIncomplete(Box::new(e))),
        }
    }
    print(&format!("logged out {} at {}\n", session.name, ctx.url))
}

/// Who the current token belongs to.
pub fn whoami(ctx: &Ctx) -> Result<(), CliError> {
    let v = ctx.client()?.get("/v1/self")?;
    ctx.show(v, |w: WhoAmI, _| {
        output::fields(&[
            ("name", w.name),
            ("uuid", w.uuid.to_string()),
            ("kind", w.kind.to_string()),
            ("groups", join(&w.groups)),
        ])
    })
}
