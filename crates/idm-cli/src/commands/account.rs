//! `idm account …`: locking and unlocking persons and service accounts alike.

use clap::Subcommand;
use idm_model::api::LockRequest;
use ureq::http::Method;

use super::{Ctx, seg};
use crate::client::CliError;

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Lock an account: it can no longer authenticate anywhere, its sessions end.
    Lock {
        name: String,
        /// Why, for the audit trail and the next admin.
        #[arg(long)]
        reason: String,
    },
    /// Unlock an account.
    Unlock { name: String },
}

pub fn run(ctx: &Ctx, cmd: AccountCmd) -> Result<(), CliError> {
    match cmd {
        AccountCmd::Lock { name, reason } => {
            let v = ctx.client()?.call(
                Method::POST,
                &format!("/v1/account/{}/lock", seg(&name)),
                Some(&LockRequest { reason }),
            )?;
            ctx.done(v, &format!("locked {name}"))
        }
        AccountCmd::Unlock { name } => {
            let v = ctx.client()?.call::<()>(
                Method::POST,
                &format!("/v1/account/{}/unlock", seg(&name)),
                None,
            )?;
            ctx.done(v, &format!("unlocked {name}"))
        }
    }
}
