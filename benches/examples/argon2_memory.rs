//! Interleaved A/B of where a password verification's argon2 memory comes from: the noisy
//! shared machine moves criterion's one-bench-after-the-other medians by more than the
//! difference measured, so here the variants take turns, one call each, round after round, and
//! each gets the median of its own calls. Also counts the minor page faults per call.
//!
//! `cargo run --release -p idm-benches --example argon2_memory -- [ROUNDS]` (default 60), and
//! again with `MALLOC_MMAP_THRESHOLD_=131072` in the environment (what idm-server used to set).
//!
//! Variants, all checking the same password against the same default-parameter hash:
//! - `argon2_per_call`: the argon2 crate's own `verify_password` (fresh memory every call: what
//!   idm did before `PasswordHasher`);
//! - `hasher_reused`: one `idm_mfa::PasswordHasher` kept across calls (what each busy server
//!   argon2 thread does);
//! - `hasher_reused_wiped`: the same plus `PasswordHasher::wipe` after every call (what an
//!   argon2 thread does when no other job is waiting): the cost of zeroing the memory.

use std::hint::black_box;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordVerifier};
use idm_mfa::{HashParams, Password, PasswordHasher, hash_password};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 60,
    };
    let params = HashParams::default();
    let password = Password::from("correct horse battery staple");
    let phc = hash_password(&password, &[0x5a; 16], &params)?;
    let mut hasher = PasswordHasher::new(&params);
    let mut wiped = PasswordHasher::new(&params);
    let typed = password.expose_secret().as_bytes();

    let names = ["argon2_per_call", "hasher_reused", "hasher_reused_wiped"];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let mut faults = vec![0u64; names.len()];
    // One warm-up round, not counted (first allocation, page faults of the kept buffers).
    for round in 0..=rounds {
        for (i, slot) in times.iter_mut().enumerate() {
            let f0 = minor_faults()?;
            let t = Instant::now();
            match i {
                0 => {
                    let hash = PasswordHash::new(black_box(&phc))?;
                    Argon2::default().verify_password(typed, &hash)?;
                }
                1 => {
                    let v = hasher.verify(black_box(&password), black_box(&phc), &params)?;
                    assert!(v.ok);
                }
                _ => {
                    let v = wiped.verify(black_box(&password), black_box(&phc), &params)?;
                    wiped.wipe();
                    assert!(v.ok);
                }
            }
            let elapsed = t.elapsed();
            if round > 0 {
                slot.push(elapsed);
                if let Some(f) = faults.get_mut(i) {
                    *f += minor_faults()? - f0;
                }
            }
        }
    }
    let threshold = std::env::var("MALLOC_MMAP_THRESHOLD_").unwrap_or_else(|_| "unset".into());
    println!("{rounds} interleaved rounds, MALLOC_MMAP_THRESHOLD_={threshold}");
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t.get(t.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        })
        .collect();
    let base = medians.first().copied().unwrap_or(1.0);
    for ((name, median), f) in names.iter().zip(&medians).zip(&faults) {
        println!(
            "{name:24} median {median:7.2} ms  {:5.3}x argon2_per_call  {:6} minor faults/call",
            median / base,
            f / u64::try_from(rounds.max(1))?
        );
    }
    Ok(())
}

/// This process's minor page faults so far (`/proc/self/stat`, field 10).
fn minor_faults() -> Result<u64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_comm = stat.rsplit_once(')').ok_or("no comm")?.1;
    Ok(after_comm
        .split_whitespace()
        .nth(7)
        .ok_or("no minflt")?
        .parse()?)
}
