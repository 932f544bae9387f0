//! `idm audit list`: the server's hash-chained audit trail.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use idm_model::api::AuditList;
use idm_model::audit::Outcome;

use super::{Ctx, query_value};
use crate::client::CliError;
use crate::output::Table;
use crate::time::{TimeArg, parse_time_or_ago, show};

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit entries, oldest first.
    List {
        /// From this time: RFC 3339, YYYY-MM-DD, or a duration ago (15m, 2h, 7d).
        #[arg(long, value_parser = parse_time_or_ago)]
        since: Option<TimeArg>,
        /// Up to this time, same forms as --since.
        #[arg(long, value_parser = parse_time_or_ago)]
        until: Option<TimeArg>,
        /// Only entries by this actor (name).
        #[arg(long)]
        actor: Option<String>,
        /// Only entries about this target (name).
        #[arg(long)]
        target: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub fn run(ctx: &Ctx, cmd: AuditCmd) -> Result<(), CliError> {
    let path = audit_path(&cmd, ctx.now);
    let v = ctx.client()?.get(&path)?;
    ctx.show(v, |mut list: AuditList, _| {
        // The server answers newest first (so that a limit keeps the newest entries); a
        // trail reads oldest first.
        list.entries.sort_by_key(|e| e.seq);
        let mut t = Table::new([
            "SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "SUMMARY",
        ]);
        for e in list.entries {
            let ev = e.event;
            t.row([
                e.seq.to_string(),
                show(ev.at),
                ev.actor.name,
                ev.action,
                ev.target.map(|x| x.name).unwrap_or_default(),
                outcome(ev.outcome).to_owned(),
                ev.summary,
            ]);
        }
        t.render()
    })
}

/// `/v1/audit` with the filters as a query; relative times are resolved against `now`.
pub fn audit_path(cmd: &AuditCmd, now: DateTime<Utc>) -> String {
    let AuditCmd::List {
        since,
        until,
        actor,
        target,
        limit,
    } = cmd;
    let mut query = Vec::new();
    for (key, t) in [("since", since), ("until", until)] {
        if let Some(t) = t {
            query.push(format!("{key}={}", query_value(&show(t.resolve(now)))));
        }
    }
    for (key, s) in [("actor", actor), ("target", target)] {
        if let Some(s) = s {
            query.push(format!("{key}={}", query_value(s)));
        }
    }
    if let Some(n) = limit {
        query.push(format!("limit={n}"));
    }
    if query.is_empty() {
        "/v1/audit".to_owned()
    } else {
        format!("/v1/audit?{}", query.join("&"))
    }
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_time;

    #[test]
    fn filters_become_an_encoded_query() {
        let now = parse_time("2026-03-01T12:00:00Z").unwrap();
        let none = AuditCmd::List {
            since: None,
            until: None,
            actor: None,
            target: None,
            limit: None,
        };
        assert_eq!(audit_path(&none, now), "/v1/audit");
        let all = AuditCmd::List {
            since: Some(parse_time_or_ago("2h").unwrap()),
            until: Some(parse_time_or_ago("2026-03-01").unwrap()),
            actor: Some("admin".into()),
            target: Some("a b&c".into()),
            limit: Some(50),
        };
        assert_eq!(
            audit_path(&all, now),
            "/v1/audit?since=2026-03-01T10%3A00%3A00Z&until=2026-03-01T00%3A00%3A00Z\
             &actor=admin&target=a%20b%26c&limit=50"
        );
    }
}
