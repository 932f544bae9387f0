//! idm-mfa: the cost of each credential check at login.
//!
//! - `mfa/argon2id_hash`: one argon2id hash with the default parameters (m = 19 MiB, t = 2,
//!   p = 1) — the yardstick.
//! - `mfa/verify_password`: checking a password against a stored default-parameter hash.
//! - `mfa/totp_verify`: one TOTP check with ±1 step of skew (three HMAC-SHA-1).
//! - `mfa/password_and_totp`: `verify_password` + `totp_verify`, what a password + TOTP
//!   login costs in credential checks.
//! - `mfa/webauthn_authenticate`: parse a browser's assertion JSON and verify it
//!   (`parse_authentication_response` + `finish_authentication`, one ES256 signature),
//!   against a ceremony recorded with a software passkey; the pending state and the stored
//!   credential are loaded outside the timing loop, as the store lookup would be.
//!
//! - `mfa_memory/*`: where a verification's 19 MiB come from, same password and hash:
//!   `argon2_per_call` is the argon2 crate's own `verify_password` (fresh memory every call:
//!   what idm did before `PasswordHasher`), `hasher_reused` one `PasswordHasher` kept across
//!   iterations (what each busy server argon2 thread does), `hasher_reused_wiped` the same
//!   plus `PasswordHasher::wipe` after each call (what an argon2 thread does when no other job
//!   waits). Run it once as is and once with `MALLOC_MMAP_THRESHOLD_=131072` (what the server
//!   used to set) to see the per-call path pay for a fresh mapping every time;
//!   `examples/argon2_memory.rs` interleaves the same variants, steadier on a noisy machine.
//!
//! Goal: a password + TOTP login ≤ 1.1× one argon2id hash (`password_and_totp` /
//! `argon2id_hash`). Figures from one run: the MFA section of `benches/README.md`.

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordVerifier};
use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use idm_mfa::{
    AuthenticationOutcome, HashParams, Password, PasswordHasher, PendingAuthentication,
    PendingRegistration, Totp, TotpSecret, TotpVerdict, Webauthn, hash_password, verify_password,
};

const PENDING_REGISTRATION: &str =
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/pending_registration.json");
const REGISTRATION_RESPONSE: &str =
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/registration_response.json");
const PENDING_AUTHENTICATION: &str =
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/pending_authentication.json");
const AUTHENTICATION_RESPONSE: &str =
    include_str!("../../crates/idm-mfa/tests/fixtures/webauthn/authentication_response.json");

fn passwords(c: &mut Criterion) {
    let params = HashParams::default();
    let password = Password::from("correct horse battery staple");
    let salt = [0x5a; 16];
    let phc = hash_password(&password, &salt, &params).expect("hash");
    let totp = Totp::new_default(TotpSecret::new(vec![0x42; 20]).expect("secret"));
    let now: DateTime<Utc> = DateTime::from_timestamp(1_900_000_015, 0).expect("time");
    let code = totp.code_at(now);

    let mut slow = c.benchmark_group("mfa");
    // About 16 ms an iteration: 20 samples keep the run short and the median steady.
    slow.sample_size(20);
    slow.measurement_time(Duration::from_secs(6));
    slow.bench_function("argon2id_hash", |b| {
        b.iter(|| hash_password(black_box(&password), black_box(&salt), &params))
    });
    slow.bench_function("verify_password", |b| {
        b.iter(|| {
            let v =
                verify_password(black_box(&password), black_box(&phc), &params).expect("verify");
            assert!(v.ok);
        })
    });
    slow.bench_function("password_and_totp", |b| {
        b.iter(|| {
            let v =
                verify_password(black_box(&password), black_box(&phc), &params).expect("verify");
            let t = totp.verify(black_box(&code), now, None, 1);
            assert!(v.ok && matches!(t, TotpVerdict::Accepted { .. }));
        })
    });
    slow.finish();

    c.bench_function("mfa/totp_verify", |b| {
        b.iter(|| {
            let t = totp.verify(black_box(&code), black_box(now), None, 1);
            assert!(matches!(t, TotpVerdict::Accepted { .. }));
        })
    });
}

fn memory(c: &mut Criterion) {
    let params = HashParams::default();
    let password = Password::from("correct horse battery staple");
    let phc = hash_password(&password, &[0x5a; 16], &params).expect("hash");
    let mut hasher = PasswordHasher::new(&params);

    let mut g = c.benchmark_group("mfa_memory");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(6));
    g.bench_function("argon2_per_call", |b| {
        b.iter(|| {
            let hash = PasswordHash::new(black_box(&phc)).expect("PHC");
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &hash)
                .expect("verifies");
        })
    });
    g.bench_function("hasher_reused", |b| {
        b.iter(|| {
            let v = hasher
                .verify(black_box(&password), black_box(&phc), &params)
                .expect("verify");
            assert!(v.ok);
        })
    });
    g.bench_function("hasher_reused_wiped", |b| {
        b.iter(|| {
            let v = hasher
                .verify(black_box(&password), black_box(&phc), &params)
                .expect("verify");
            hasher.wipe();
            assert!(v.ok);
        })
    });
    g.finish();
}

fn webauthn(c: &mut Criterion) {
    let rp = Webauthn::new("idm.example.com", "https://idm.example.com").expect("rp");
    let registration = PendingRegistration::from_json(PENDING_REGISTRATION).expect("state");
    let pending = PendingAuthentication::from_json(PENDING_AUTHENTICATION).expect("state");
    let now = pending.issued_at();
    let credential = rp
        .finish_registration(&registration, REGISTRATION_RESPONSE, "bench", now)
        .expect("recorded registration verifies");
    let credentials = [credential];
    c.bench_function("mfa/webauthn_authenticate", |b| {
        b.iter(|| {
            let response = rp
                .parse_authentication_response(black_box(AUTHENTICATION_RESPONSE))
                .expect("parses");
            let outcome = rp
                .finish_authentication(&pending, &response, &credentials, now)
                .expect("verifies");
            assert!(matches!(outcome, AuthenticationOutcome::Verified(_)));
        })
    });
}

criterion_group!(benches, passwords, memory, webauthn);
criterion_main!(benches);
