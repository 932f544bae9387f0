//! `idm group …`: groups, their members and their POSIX gid.

use clap::Subcommand;
use idm_model::api::{EntryRef, GroupCreate, GroupPosix, GroupView, Members};
use ureq::http::Method;

use super::{Ctx, credential, join, seg};
use crate::client::{CliError, decode};
use crate::output::{self, Table};
use crate::time::show;

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Show a group.
    Get { name: String },
    /// List all groups.
    List,
    /// Delete a group.
    Delete { name: String },
    /// Add persons, service accounts or groups to a group.
    AddMembers {
        group: String,
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove members from a group.
    RemoveMembers {
        group: String,
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// List a group's direct members.
    ListMembers { group: String },
    /// The group's POSIX gid.
    #[command(subcommand)]
    Posix(GroupPosixCmd),
    /// Set (replace) how members log in; the strictest policy of a person's groups applies
    /// (idm_admins only).
    SetCredentialPolicy(credential::SetPolicy),
    /// Remove the group's credential policy (idm_admins only).
    ClearCredentialPolicy { group: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupPosixCmd {
    /// Make the group a POSIX group; without --gidnumber the server allocates one.
    Set {
        group: String,
        #[arg(long)]
        gidnumber: Option<u32>,
    },
}

pub fn run(ctx: &Ctx, cmd: GroupCmd) -> Result<(), CliError> {
    match cmd {
        GroupCmd::Create { name, description } => {
            let body = GroupCreate { name, description };
            let v = ctx.client()?.call(Method::POST, "/v1/group", Some(&body))?;
            let g: GroupView = decode(v.clone())?;
            ctx.done(v, &format!("created group {} ({})", g.name, g.uuid))
        }
        GroupCmd::Get { name } => {
            let v = ctx.client()?.get(&format!("/v1/group/{}", seg(&name)))?;
            ctx.show(v, |g: GroupView, _| render_group(g))
        }
        GroupCmd::List => {
            let v = ctx.client()?.get("/v1/group")?;
            ctx.show(v, |groups: Vec<GroupView>, _| {
                let mut t = Table::new(["NAME", "GID", "MEMBERS", "DESCRIPTION"]);
                for g in groups {
                    t.row([
                        g.name,
                        g.gid_number.map(|n| n.to_string()).unwrap_or_default(),
                        g.members.len().to_string(),
                        g.description.unwrap_or_default(),
                    ]);
                }
                t.render()
            })
        }
        GroupCmd::Delete { name } => {
            let v = ctx.client()?.call::<()>(
                Method::DELETE,
                &format!("/v1/group/{}", seg(&name)),
                None,
            )?;
            ctx.done(v, &format!("deleted group {name}"))
        }
        GroupCmd::AddMembers { group, members } => {
            let path = format!("/v1/group/{}/members", seg(&group));
            let v = ctx
                .client()?
                .call(Method::POST, &path, Some(&Members { members }))?;
            let g: GroupView = decode(v.clone())?;
            ctx.done(
                v,
                &format!("{} now has {} direct members", g.name, g.members.len()),
            )
        }
        GroupCmd::RemoveMembers { group, members } => {
            let path = format!("/v1/group/{}/members/remove", seg(&group));
            let v = ctx
                .client()?
                .call(Method::POST, &path, Some(&Members { members }))?;
            let g: GroupView = decode(v.clone())?;
            ctx.done(
                v,
                &format!("{} now has {} direct members", g.name, g.members.len()),
            )
        }
        GroupCmd::ListMembers { group } => {
            let v = ctx
                .client()?
                .get(&format!("/v1/group/{}/members", seg(&group)))?;
            ctx.show(v, |members: Vec<EntryRef>, _| {
                let mut t = Table::new(["NAME", "KIND", "UUID"]);
                for m in members {
                    t.row([m.name, m.kind.to_string(), m.uuid.to_string()]);
                }
                t.render()
            })
        }
        GroupCmd::Posix(GroupPosixCmd::Set { group, gidnumber }) => {
            let v = ctx.client()?.call(
                Method::PUT,
                &format!("/v1/group/{}/posix", seg(&group)),
                Some(&GroupPosix {
                    gid_number: gidnumber,
                }),
            )?;
            let g: GroupView = decode(v.clone())?;
            let gid = g.gid_number.map(|n| n.to_string()).unwrap_or_default();
            ctx.done(v, &format!("{} has gid {gid}", g.name))
        }
        GroupCmd::SetCredentialPolicy(args) => credential::set_policy(ctx, args),
        GroupCmd::ClearCredentialPolicy { group } => credential::clear_policy(ctx, &group),
    }
}

fn render_group(g: GroupView) -> String {
    let members = g.members.iter().map(|m| format!("{} ({})", m.name, m.kind));
    output::fields(&[
        ("name", g.name.clone()),
        ("uuid", g.uuid.to_string()),
        ("description", g.description.clone().unwrap_or_default()),
        (
            "gid",
            g.gid_number.map(|n| n.to_string()).unwrap_or_default(),
        ),
        ("builtin", if g.builtin { "yes" } else { "no" }.to_owned()),
        (
            "credential policy",
            credential::policy_summary(g.credential_policy.as_ref()),
        ),
        ("members", join(members)),
        ("member of", join(g.groups.iter().map(|m| &m.name))),
        ("created", show(g.created_at)),
        ("modified", show(g.modified_at)),
    ])
}
