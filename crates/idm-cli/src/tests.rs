//! Argument parsing of every command.

use clap::{CommandFactory, Parser};

use super::*;
use crate::commands::person::{CredentialCmd, PersonCmd, PosixCmd, SshCmd};
use crate::commands::service_account::{ApiTokenCmd, ServiceAccountCmd};
use crate::time::{SetOrClear, TimeArg, parse_time};

fn parse(line: &str) -> Cli {
    let args = std::iter::once("idm").chain(line.split_whitespace());
    match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => panic!("`{line}` did not parse:\n{e}"),
    }
}

fn usage_error(line: &str) -> clap::Error {
    let args = std::iter::once("idm").chain(line.split_whitespace());
    match Cli::try_parse_from(args) {
        Ok(cli) => panic!("`{line}` parsed: {cli:?}"),
        Err(e) => e,
    }
}

#[test]
fn clap_definitions_are_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_command_parses() {
    let lines = [
        "login -D admin",
        "login -D admin --password-stdin",
        "login --name admin",
        "logout",
        "self",
        "whoami",
        "person create alice Alice --mail a@example.com --mail b@example.com",
        "person create alice Alice --legalname Alice",
        "person get alice",
        "person list",
        "person update alice --newname alicia",
        "person update alice --displayname Al --legalname Al --mail a@x.org",
        "person update alice --valid-from any --expire-at never",
        "person update alice --valid-from 2026-01-01 --expire-at 2026-12-31T00:00:00Z",
        "person delete alice",
        "person credential set-password alice",
        "person credential set-password alice --password-stdin",
        "person credential status alice",
        "person credential create-reset-token alice",
        "person credential create-reset-token alice --ttl 30m",
        "person credential create-reset-token alice --ttl 3600",
        "person credential remove-totp alice phone",
        "person credential remove-passkey alice yubikey",
        "person posix set alice",
        "person posix set alice --gidnumber 5000 --shell /bin/zsh --home /home/alice",
        "person posix show alice",
        "person ssh add-publickey alice laptop -",
        "person ssh list-publickeys alice",
        "person ssh delete-publickey alice laptop",
        "account lock alice --reason left",
        "account unlock alice",
        "group create staff",
        "group create staff --description Everyone",
        "group get staff",
        "group list",
        "group delete staff",
        "group add-members staff alice bob",
        "group remove-members staff bob",
        "group list-members staff",
        "group posix set staff",
        "group posix set staff --gidnumber 6000",
        "group set-credential-policy staff --min-class password_mfa",
        "group set-credential-policy staff --min-class passkey --min-password-length 14 \
         --allow-mfa totp,passkey,security_key,backup_code \
         --aaguid cb69481e-8ff7-4039-93ec-0a2729a154a8 --aaguid ee882879-721c-4913-9775-3dfcce97072a",
        "group set-credential-policy staff --min-class password --allow-mfa none",
        "group clear-credential-policy staff",
        "service-account create ci CI --description builds",
        "service-account get ci",
        "service-account list",
        "service-account update ci --displayname Builds --description x --expire-at never",
        "service-account delete ci",
        "service-account api-token generate ci deploy",
        "service-account api-token generate ci deploy --expiry 2027-01-01 --rw --json",
        "service-account api-token list ci",
        "service-account api-token destroy ci 6f1c1f3e-1f64-4a8e-9d2b-0c1b2d3e4f50",
        "audit list",
        "audit list --since 15m --until 2026-01-02 --actor admin --target alice --limit 20",
        "--json person list",
        "person list --json --url https://idm.example.com --ca /etc/idm/ca.pem",
    ];
    for line in lines {
        parse(line);
    }
}

#[test]
fn arguments_land_where_they_belong() {
    let cli = parse("person create alice Alice --mail a@x.org --mail b@x.org");
    let Command::Person(PersonCmd::Create {
        name,
        display_name,
        mails,
        legal_name,
    }) = cli.command
    else {
        panic!("wrong command");
    };
    assert_eq!((name.as_str(), display_name.as_str()), ("alice", "Alice"));
    assert_eq!(mails, ["a@x.org", "b@x.org"]);
    assert_eq!(legal_name, None);

    // Display names with spaces arrive as one argument from the shell.
    let cli = Cli::try_parse_from(["idm", "person", "create", "bob", "Bob Smith"]).unwrap();
    let Command::Person(PersonCmd::Create { display_name, .. }) = cli.command else {
        panic!("wrong command");
    };
    assert_eq!(display_name, "Bob Smith");

    let cli = parse("person update alice --valid-from any --expire-at 2026-12-31");
    let Command::Person(PersonCmd::Update(u)) = cli.command else {
        panic!("wrong command");
    };
    assert_eq!(u.valid_from, Some(SetOrClear::Clear));
    assert_eq!(
        u.expire_at,
        Some(SetOrClear::Set(parse_time("2026-12-31").unwrap()))
    );

    let cli = parse("person credential set-password alice --password-stdin");
    assert!(matches!(
        cli.command,
        Command::Person(PersonCmd::Credential(CredentialCmd::SetPassword {
            password_stdin: true,
            ..
        }))
    ));

    let cli = parse("person posix set alice --gidnumber 5000");
    assert!(matches!(
        cli.command,
        Command::Person(PersonCmd::Posix(PosixCmd::Set {
            gidnumber: Some(5000),
            shell: None,
            ..
        }))
    ));

    let cli = parse("person ssh add-publickey alice laptop -");
    let Command::Person(PersonCmd::Ssh(SshCmd::AddPublickey { key, .. })) = cli.command else {
        panic!("wrong command");
    };
    assert_eq!(key, "-");

    let cli = parse("service-account api-token generate ci deploy --expiry 2027-01-01 --rw");
    let Command::ServiceAccount(ServiceAccountCmd::ApiToken(ApiTokenCmd::Generate {
        expiry,
        rw,
        ..
    })) = cli.command
    else {
        panic!("wrong command");
    };
    assert_eq!(expiry, Some(parse_time("2027-01-01").unwrap()));
    assert!(rw);

    let cli = parse("audit list --since 7d --until 2026-01-02T00:00:00Z");
    let Command::Audit(audit::AuditCmd::List { since, until, .. }) = cli.command else {
        panic!("wrong command");
    };
    assert_eq!(since, Some(TimeArg::Ago(chrono::TimeDelta::days(7))));
    assert_eq!(until, Some(TimeArg::At(parse_time("2026-01-02").unwrap())));
}

#[test]
fn global_options_go_anywhere() {
    let cli = parse("--url https://a:1 group list --json --ca ca.pem");
    assert_eq!(cli.url, "https://a:1");
    assert!(cli.json);
    assert_eq!(cli.ca, Some(PathBuf::from("ca.pem")));

    let cli = parse("group list");
    assert!(!cli.json);
    // The default, unless IDM_URL is set in the test's environment.
    if std::env::var_os("IDM_URL").is_none() {
        assert_eq!(cli.url, "https://localhost:8443");
    }
}

#[test]
fn bad_usage_is_exit_code_2() {
    let lines = [
        "",
        "login",
        "person",
        "person create alice",
        "person update alice",
        "person update alice --expire-at someday",
        "person update alice --valid-from never",
        "person posix set alice --gidnumber -1",
        "person ssh add-publickey alice laptop",
        "account lock alice",
        "group add-members staff",
        "group remove-members staff",
        "group set-credential-policy staff",
        "group set-credential-policy staff --min-class strong",
        "group set-credential-policy staff --min-class password --allow-mfa sms",
        "group set-credential-policy staff --min-class password --min-password-length 0",
        "group set-credential-policy staff --min-class password --aaguid not-a-uuid",
        "group clear-credential-policy",
        "person credential create-reset-token alice --ttl soon",
        "person credential create-reset-token alice --ttl 0",
        "person credential remove-totp alice",
        "person credential remove-passkey alice",
        "service-account api-token generate ci",
        "service-account api-token generate ci deploy --expiry 7d",
        "service-account api-token destroy ci not-a-uuid",
        "service-account update ci",
        "audit list --since yesterday",
        "audit list --limit -5",
        "frobnicate",
    ];
    for line in lines {
        assert_eq!(usage_error(line).exit_code(), 2, "`{line}`");
    }
}

#[test]
fn help_names_the_environment_without_values() {
    let help = Cli::command().render_long_help().to_string();
    for var in ["IDM_URL", "IDM_CA", "IDM_TOKEN"] {
        assert!(help.contains(var), "{var} missing from help:\n{help}");
    }
}
