//! How much memory redb's page cache keeps after the whole store has been read, by cache size.
//!
//! `cargo run --release -p idm-benches --example redb_cache -- DATA_DIR/idm.redb [CACHE_MIB]`
//!
//! Opens a stopped server's database read-only with redb directly (idm-store has no cache-size
//! setting, so the server always runs with redb's default of 1 GiB), reads every record of the
//! entries table twice (what `idm-server verify` or an export does), then looks up 100,000
//! random entries by UUID, and prints VmRSS after each step and the times. Without CACHE_MIB it
//! uses redb's default, like the server. Run each cache size in its own process: RSS only grows.

use std::time::Instant;

use idm_benches::dataset::SplitMix64;
use redb::{Builder, ReadableDatabase, ReadableTable, TableDefinition};

/// Must match idm-store's `tables::ENTRIES`.
const ENTRIES: TableDefinition<u128, &[u8]> = TableDefinition::new("entries-v1");
const LOOKUPS: usize = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: redb_cache DB_FILE [CACHE_MIB]")?;
    let cache_mib: Option<usize> = args.get(1).map(|a| a.parse()).transpose()?;
    let mut builder = Builder::new();
    if let Some(m) = cache_mib {
        builder.set_cache_size(m << 20);
    }
    let db = builder.open_read_only(path)?;
    let label = cache_mib.map_or("default (1024)".to_owned(), |m| m.to_string());
    println!("cache_mib {label}: open, rss {:.1} MiB", rss_mib());
    let txn = db.begin_read()?;
    let table = txn.open_table(ENTRIES)?;
    let mut keys = Vec::new();
    for pass in 1..=2 {
        let t = Instant::now();
        let mut bytes = 0usize;
        for row in table.iter()? {
            let (k, v) = row?;
            bytes += v.value().len();
            if pass == 1 {
                keys.push(k.value());
            }
        }
        println!(
            "  full scan {pass}: {} records, {} MiB of values in {:.0} ms, rss {:.1} MiB",
            keys.len(),
            bytes >> 20,
            t.elapsed().as_secs_f64() * 1e3,
            rss_mib()
        );
    }
    let mut rng = SplitMix64::new(7);
    let t = Instant::now();
    let mut found = 0usize;
    for _ in 0..LOOKUPS {
        let k = keys[rng.below(keys.len().max(1))];
        found += usize::from(table.get(k)?.is_some());
    }
    println!(
        "  {found} random lookups: {:.2} µs each, rss {:.1} MiB",
        t.elapsed().as_secs_f64() * 1e6 / LOOKUPS as f64,
        rss_mib()
    );
    Ok(())
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}
