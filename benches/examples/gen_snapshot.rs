//! Writes the benches' synthetic directory as canonical JSON, for `idm-server import`.
//!
//! `cargo run --release -p idm-benches --example gen_snapshot -- PERSONS OUT.json`
//! (used by `benches/server_rss.sh`).

use std::io::Write;
use std::process::ExitCode;

use idm_benches::dataset::Dataset;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(out)) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: gen_snapshot PERSONS OUT.json");
        return ExitCode::from(2);
    };
    let json = match Dataset::generate(n, 1).snapshot().to_json() {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = std::fs::File::create(out).and_then(|mut f| {
        f.write_all(json.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written {
        eprintln!("error: {out}: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "wrote {n} persons and {} groups to {out} ({} bytes)",
        idm_benches::dataset::GROUPS,
        json.len()
    );
    ExitCode::SUCCESS
}
