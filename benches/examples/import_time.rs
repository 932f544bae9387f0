//! Times `Store::import` of the synthetic directory into a fresh on-disk store, phase by phase,
//! for several sizes, to see how import scales (linear or worse).
//!
//! `cargo run --release -p idm-benches --example import_time -- [--top-down] 10000 30000 100000`
//!
//! The importer adds members group by group in name order, and the data set's names sort
//! bottom-up (`leaf…` < `mid…` < `top…`). `--top-down` renames the groups so that they sort
//! top-down instead (`a-top…` < `b-mid…` < `c-leaf…`), same structure, to show what the order
//! costs: bottom-up, every person's transitive memberOf is rebuilt once per nesting level.

use std::time::Instant;

use idm_benches::dataset::{Dataset, epoch};
use idm_model::audit::Actor;
use idm_store::{Store, StoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let top_down = args.iter().any(|a| a == "--top-down");
    let sizes: Vec<usize> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![10_000, 30_000, 100_000]
    } else {
        sizes
    };
    println!("order,persons,generate_s,snapshot_s,validate_s,import_s,per_person_us,db_bytes");
    for n in sizes {
        let t = Instant::now();
        let mut data = Dataset::generate(n, 1);
        if top_down {
            for g in &mut data.groups {
                let prefix = match g.name.chars().next() {
                    Some('t') => "a-",
                    Some('m') => "b-",
                    _ => "c-",
                };
                g.name = format!("{prefix}{}", g.name);
            }
        }
        let generate = t.elapsed();
        let t = Instant::now();
        let snap = data.snapshot();
        let snapshot = t.elapsed();
        let t = Instant::now();
        snap.validate()?;
        let validate = t.elapsed();
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("idm.redb");
        let store = Store::open(&path, StoreConfig::default())?;
        let t = Instant::now();
        store.import(&snap, &Actor::system("bench"), epoch())?;
        let import = t.elapsed();
        let bytes = std::fs::metadata(&path)?.len();
        println!(
            "{},{n},{:.2},{:.2},{:.2},{:.2},{:.1},{bytes}",
            if top_down { "top-down" } else { "bottom-up" },
            generate.as_secs_f64(),
            snapshot.as_secs_f64(),
            validate.as_secs_f64(),
            import.as_secs_f64(),
            import.as_secs_f64() * 1e6 / n as f64,
        );
    }
    Ok(())
}
