//! Password hashing with argon2id, stored as PHC strings.
//!
//! The salt is an argument so this crate draws no randomness (the server passes 16 bytes from
//! its CSPRNG). Verification reports whether the stored hash is stale so the server can
//! upgrade it on the next successful login, and [`PasswordHasher::verify_dummy`] lets the
//! server spend the same time on an unknown account as on a known one.
//!
//! Argon2's cost is its memory (19 MiB by default), filled and read once per hash. A
//! [`PasswordHasher`] keeps that memory between calls: allocating it per call either keeps
//! the freed blocks in the allocator's per-thread arenas or, with large allocations mapped
//! directly, makes the kernel fault in and zero every page of every login (measured at a third
//! of a bind's CPU). The server gives each of its argon2 threads one hasher; the free functions
//! ([`hash_password`], [`verify_password`], [`verify_dummy`]) use a hasher for one call, for
//! the rare paths (account recovery, tools, tests) where that does not matter.

use core::fmt;
use core::hint::black_box;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{MAX_PASSWORD_BYTES, MfaError, Password};

/// Length of the argon2 output we store: argon2's default and what OWASP assumes.
const OUTPUT_LEN: usize = 32;

/// Largest memory cost accepted, in KiB (4 GiB). A stored hash is data, possibly imported:
/// without a bound, one record could make every login attempt allocate without limit.
const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
/// Largest number of passes accepted, for the same reason.
const MAX_T_COST: u32 = 64;
/// Largest number of lanes accepted, for the same reason.
const MAX_P_COST: u32 = 64;

/// Fed to argon2 instead of an over-long password, so rejecting it costs the same as any
/// other wrong guess and never more.
const STAND_IN_PASSWORD: &[u8] = b"idm-over-long-password-stand-in";

/// Salt (b"idm-dummy-salt!!", in PHC base64) of the hash [`verify_dummy`] checks against.
const DUMMY_SALT_B64: &str = "aWRtLWR1bW15LXNhbHQhIQ";
/// 32 zero bytes in PHC base64: no password hashes to it in practice, so the dummy check
/// always fails, as it must.
const DUMMY_OUTPUT_B64: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Argon2id cost parameters.
///
/// Stored in the server configuration; changing them makes [`verify_password`] report
/// existing hashes as needing a rehash, so users are migrated as they log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashParams {
    /// Memory per hash in KiB.
    pub m_cost_kib: u32,
    /// Number of passes over the memory.
    pub t_cost: u32,
    /// Degree of parallelism (lanes).
    pub p_cost: u32,
}

impl Default for HashParams {
    /// OWASP's argon2id recommendation (m = 19 MiB, t = 2, p = 1): about 16 ms per hash on
    /// the project's reference machine, a cost a login can afford and a guesser cannot.
    fn default() -> Self {
        Self {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl HashParams {
    fn to_argon2(self) -> Result<Params, MfaError> {
        check_bounds(self.m_cost_kib, self.t_cost, self.p_cost).map_err(MfaError::InvalidParams)?;
        Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(OUTPUT_LEN))
            .map_err(|e| MfaError::InvalidParams(e.to_string()))
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a verification result that is not looked at lets everyone in or no one"]
pub struct Verified {
    /// The password matches.
    pub ok: bool,
    /// The password matched and the stored hash was made with another algorithm, version or
    /// parameters than the current ones: hash the password again and store the new hash.
    /// Always `false` when `ok` is `false`, so a failed attempt never triggers a write.
    pub needs_rehash: bool,
}

/// Argon2 with its block memory kept from one call to the next.
///
/// The memory grows to what the parameters of a call need, up to the cost given to
/// [`PasswordHasher::new`] (the configured parameters), and is then reused, never allocated
/// per call. A stored hash asking for more (imported, or made before the parameters were
/// lowered) is computed in memory borrowed for that call only: one odd record must not pin
/// gigabytes to a thread for the life of the process, and it is rehashed at the next
/// successful login anyway.
///
/// The final memory of a verification lets a password guess be checked without paying
/// argon2's memory cost, so it should not linger. Zeroing 19 MiB costs 0.4–0.6 ms, 2.5–4% of
/// a verification (`benches/README.md`), which a busy server would pay on every login for
/// memory the next login overwrites anyway; so the calls do not zero it themselves. The owner
/// calls [`PasswordHasher::wipe`] when it has no more work queued (the server's argon2
/// threads do, before they wait for the next job), memory that is given back or borrowed for
/// one call is zeroed before it is freed, and dropping the hasher zeroes the rest.
pub struct PasswordHasher {
    /// Block memory, as long as the largest call so far that fitted under `keep_blocks`.
    blocks: Vec<Block>,
    /// The most blocks kept between calls.
    keep_blocks: usize,
    /// `blocks` holds the leftovers of a call since the last wipe.
    dirty: bool,
}

impl PasswordHasher {
    /// A hasher that keeps memory for up to `keep`'s memory cost between calls. Nothing is
    /// allocated until the first call, so an idle server stays small. Invalid `keep`
    /// parameters keep memory for [`HashParams::default`].
    #[must_use]
    pub fn new(keep: &HashParams) -> Self {
        let keep_blocks = keep
            .to_argon2()
            .or_else(|_| HashParams::default().to_argon2())
            .map_or(0, |p| p.block_count());
        Self {
            blocks: Vec::new(),
            keep_blocks,
            dirty: false,
        }
    }

    /// Overwrite the kept memory with zeros, if a call used it since the last wipe. Call it
    /// when no more work is waiting; see the type's documentation for why the calls do not.
    pub fn wipe(&mut self) {
        if self.dirty {
            wipe(&mut self.blocks);
            self.dirty = false;
        }
    }

    /// Bytes of block memory held between calls (0 before the first call).
    #[must_use]
    pub fn retained_bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    /// Hash a password with argon2id into a PHC string
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    ///
    /// `salt` must be fresh random bytes for every hash; taking it as an argument keeps this
    /// crate free of randomness, and makes tests reproducible.
    ///
    /// # Errors
    /// [`MfaError::PasswordTooLong`] past [`MAX_PASSWORD_BYTES`]; [`MfaError::InvalidParams`]
    /// for parameters argon2 refuses or beyond this crate's bounds; [`MfaError::Argon2`] if
    /// argon2 fails or its memory cannot be allocated.
    pub fn hash(
        &mut self,
        password: &Password,
        salt: &[u8; 16],
        params: &HashParams,
    ) -> Result<String, MfaError> {
        let password = password.expose_secret().as_bytes();
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(MfaError::PasswordTooLong {
                max: MAX_PASSWORD_BYTES,
            });
        }
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.to_argon2()?);
        let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
        self.compute(&argon2, password, salt, out.as_mut_slice())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon2.params())
                .map_err(|e| MfaError::InvalidParams(e.to_string()))?,
            salt: Some(Salt::new(salt).map_err(|e| MfaError::Argon2(e.to_string()))?),
            hash: Some(Output::new(out.as_slice()).map_err(|e| MfaError::Argon2(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Check a password against a stored PHC string with the parameters recorded in it; the
    /// outputs are compared in constant time.
    ///
    /// A password longer than [`MAX_PASSWORD_BYTES`] is never hashed: a fixed stand-in is
    /// hashed instead with the same parameters, and the result is a failure. So an attacker
    /// cannot make a verification cost more than usual, nor tell by timing that the limit
    /// exists.
    ///
    /// argon2i and argon2d hashes (e.g. imported) and argon2 version 0x10 still verify, and
    /// are reported as needing a rehash.
    ///
    /// # Errors
    /// [`MfaError::InvalidHash`] if `phc` is not a complete argon2 PHC string within this
    /// crate's parameter bounds; [`MfaError::UnsupportedHashAlgorithm`] for another
    /// algorithm; [`MfaError::Argon2`] if argon2 fails. A wrong password is not an error.
    pub fn verify(
        &mut self,
        password: &Password,
        phc: &str,
        current: &HashParams,
    ) -> Result<Verified, MfaError> {
        let hash = PasswordHash::new(phc).map_err(|e| MfaError::InvalidHash(e.to_string()))?;
        let algorithm = Algorithm::try_from(hash.algorithm.as_str())
            .map_err(|_| MfaError::UnsupportedHashAlgorithm(hash.algorithm.as_str().to_owned()))?;
        let (Some(salt), Some(expected)) = (hash.salt.as_ref(), hash.hash.as_ref()) else {
            return Err(MfaError::InvalidHash(
                "the salt or the hash output is missing".to_owned(),
            ));
        };
        // Takes the output length from the stored output, and keyid/data if present.
        let stored = Params::try_from(&hash).map_err(|e| MfaError::InvalidHash(e.to_string()))?;
        check_bounds(stored.m_cost(), stored.t_cost(), stored.p_cost())
            .map_err(MfaError::InvalidHash)?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).map_err(|e| MfaError::InvalidHash(e.to_string()))?,
            None => Version::default(),
        };

        let typed = password.expose_secret().as_bytes();
        let within_limit = typed.len() <= MAX_PASSWORD_BYTES;
        let input = if within_limit {
            typed
        } else {
            STAND_IN_PASSWORD
        };

        let expected = expected.as_bytes();
        let mut buf = Zeroizing::new([0u8; Output::MAX_LENGTH]);
        let out = buf
            .get_mut(..expected.len())
            .ok_or_else(|| MfaError::InvalidHash("hash output too long".to_owned()))?;
        let argon2 = Argon2::new(algorithm, version, stored.clone());
        self.compute(&argon2, input, salt.as_ref(), out)?;
        let matched = within_limit && bool::from(out.ct_eq(expected));

        let stale = algorithm != Algorithm::Argon2id
            || version != Version::V0x13
            || hash.version.is_none()
            || stored.m_cost() != current.m_cost_kib
            || stored.t_cost() != current.t_cost
            || stored.p_cost() != current.p_cost
            || stored.output_len() != Some(OUTPUT_LEN);
        Ok(Verified {
            ok: matched,
            needs_rehash: matched && stale,
        })
    }

    /// Spend the time of one [`PasswordHasher::verify`] with `params` and discard the result.
    ///
    /// Call it when the account does not exist (or has no password), before answering with
    /// the same failure as for a wrong password: otherwise a fast "no such user" would tell
    /// an attacker which accounts exist. It goes through [`PasswordHasher::verify`] itself,
    /// against a fixed hash made up with `params`, so both paths do the same work in the same
    /// memory. Invalid `params` fall back to [`HashParams::default`].
    pub fn verify_dummy(&mut self, password: &Password, params: &HashParams) {
        let params = if params.to_argon2().is_ok() {
            *params
        } else {
            HashParams::default()
        };
        let phc = format!(
            "$argon2id$v=19$m={},t={},p={}${DUMMY_SALT_B64}${DUMMY_OUTPUT_B64}",
            params.m_cost_kib, params.t_cost, params.p_cost
        );
        // black_box keeps the work from being optimised away now that nothing reads the result.
        let _ = black_box(self.verify(password, &phc, &params));
    }

    /// Runs argon2 into `out` in this hasher's memory, or, past `keep_blocks`, in memory for
    /// this call only (zeroed before it is freed).
    fn compute(
        &mut self,
        argon2: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), MfaError> {
        let needed = argon2.params().block_count();
        let result = if needed <= self.keep_blocks {
            if self.blocks.len() < needed {
                // The old blocks are zeroed before the allocator gets them back.
                self.wipe();
                self.blocks = allocate(needed)?;
            }
            self.dirty = true;
            let memory = self.blocks.get_mut(..needed).unwrap_or_default();
            argon2.hash_password_into_with_memory(password, salt, out, memory)
        } else {
            let mut borrowed = allocate(needed)?;
            let result = argon2.hash_password_into_with_memory(password, salt, out, &mut borrowed);
            wipe(&mut borrowed);
            result
        };
        result.map_err(|e| MfaError::Argon2(e.to_string()))
    }
}

impl Drop for PasswordHasher {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("retained_kib", &(self.retained_bytes() / 1024))
            .field("keep_kib", &(self.keep_blocks * Block::SIZE / 1024))
            .finish()
    }
}

/// Hash a password with argon2id into a PHC string, in memory allocated for this call: see
/// [`PasswordHasher::hash`], which a thread hashing many passwords should use instead.
///
/// # Errors
/// As [`PasswordHasher::hash`].
pub fn hash_password(
    password: &Password,
    salt: &[u8; 16],
    params: &HashParams,
) -> Result<String, MfaError> {
    PasswordHasher::new(params).hash(password, salt, params)
}

/// Check a password against a stored PHC string, in memory allocated for this call: see
/// [`PasswordHasher::verify`], which a thread verifying many passwords should use instead.
///
/// # Errors
/// As [`PasswordHasher::verify`].
pub fn verify_password(
    password: &Password,
    phc: &str,
    current: &HashParams,
) -> Result<Verified, MfaError> {
    PasswordHasher::new(current).verify(password, phc, current)
}

/// Spend the time of one [`verify_password`] with `params`: see
/// [`PasswordHasher::verify_dummy`].
pub fn verify_dummy(password: &Password, params: &HashParams) {
    PasswordHasher::new(params).verify_dummy(password, params);
}

/// `n` zeroed blocks, or an error instead of aborting when the allocator refuses.
fn allocate(n: usize) -> Result<Vec<Block>, MfaError> {
    let mut blocks = Vec::new();
    blocks.try_reserve_exact(n).map_err(|e| {
        MfaError::Argon2(format!(
            "cannot allocate {} KiB: {e}",
            n * Block::SIZE / 1024
        ))
    })?;
    blocks.resize(n, Block::new());
    Ok(blocks)
}

/// Overwrite blocks with zeros in a way the compiler keeps (zeroize's barrier for types it does
/// not know, as `Block` has no `Zeroize` without argon2's `zeroize` feature).
fn wipe(blocks: &mut [Block]) {
    blocks.fill(Block::new());
    zeroize::optimization_barrier(blocks);
}

fn check_bounds(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<(), String> {
    if m_cost_kib > MAX_M_COST_KIB || t_cost > MAX_T_COST || p_cost > MAX_P_COST {
        return Err(format!(
            "m={m_cost_kib},t={t_cost},p={p_cost} exceeds the limits \
             m<={MAX_M_COST_KIB},t<={MAX_T_COST},p<={MAX_P_COST}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher as _;
    use proptest::prelude::*;

    use super::*;

    /// Cheap parameters so the tests stay fast; one test uses the defaults.
    const FAST: HashParams = HashParams {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };
    const SALT: [u8; 16] = *b"0123456789abcdef";

    fn pw(s: &str) -> Password {
        Password::from(s)
    }

    #[test]
    fn round_trip_with_fixed_salt() {
        let phc = hash_password(&pw("correct horse"), &SALT, &FAST).unwrap();
        assert!(
            phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"),
            "{phc}"
        );
        // Same salt, same password, same parameters: the same string.
        assert_eq!(
            phc,
            hash_password(&pw("correct horse"), &SALT, &FAST).unwrap()
        );

        let v = verify_password(&pw("correct horse"), &phc, &FAST).unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
    }

    #[test]
    fn wrong_password_fails() {
        let phc = hash_password(&pw("correct horse"), &SALT, &FAST).unwrap();
        for wrong in ["correct horsf", "Correct horse", "", "correct horse "] {
            let v = verify_password(&pw(wrong), &phc, &FAST).unwrap();
            assert!(!v.ok, "{wrong:?}");
            assert!(!v.needs_rehash);
        }
    }

    #[test]
    fn default_params_give_owasp_phc() {
        let params = HashParams::default();
        let phc = hash_password(&pw("correct horse"), &SALT, &params).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let v = verify_password(&pw("correct horse"), &phc, &params).unwrap();
        assert!(v.ok && !v.needs_rehash);
    }

    #[test]
    fn needs_rehash_when_params_change() {
        let phc = hash_password(&pw("pw"), &SALT, &FAST).unwrap();
        for current in [
            HashParams {
                m_cost_kib: 128,
                ..FAST
            },
            HashParams { t_cost: 2, ..FAST },
            HashParams { p_cost: 2, ..FAST },
        ] {
            let v = verify_password(&pw("pw"), &phc, &current).unwrap();
            assert_eq!(
                v,
                Verified {
                    ok: true,
                    needs_rehash: true
                },
                "{current:?}"
            );
            // A failed attempt never asks for a rehash.
            let v = verify_password(&pw("nope"), &phc, &current).unwrap();
            assert_eq!(
                v,
                Verified {
                    ok: false,
                    needs_rehash: false
                }
            );
        }
    }

    #[test]
    fn other_argon2_variants_verify_and_need_rehash() {
        let params = FAST.to_argon2().unwrap();
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let argon2 = Argon2::new(algorithm, Version::V0x13, params.clone());
            let hash: PasswordHash = argon2.hash_password_with_salt(b"pw", &SALT).unwrap();
            let phc = hash.to_string();
            let v = verify_password(&pw("pw"), &phc, &FAST).unwrap();
            assert_eq!(
                v,
                Verified {
                    ok: true,
                    needs_rehash: true
                },
                "{phc}"
            );
        }
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x10, params);
        let hash: PasswordHash = old.hash_password_with_salt(b"pw", &SALT).unwrap();
        let v = verify_password(&pw("pw"), &hash.to_string(), &FAST).unwrap();
        assert!(v.ok && v.needs_rehash);
    }

    #[test]
    fn bad_hashes_are_errors() {
        assert!(matches!(
            verify_password(&pw("pw"), "not a hash", &FAST),
            Err(MfaError::InvalidHash(_))
        ));
        assert!(matches!(
            verify_password(
                &pw("pw"),
                "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
                &FAST
            ),
            Err(MfaError::InvalidHash(_))
        ));
        assert!(matches!(
            verify_password(
                &pw("pw"),
                "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
                &FAST
            ),
            Err(MfaError::UnsupportedHashAlgorithm(a)) if a == "scrypt"
        ));
        // A record asking for 8 GiB per attempt is refused, not obeyed.
        let greedy = format!(
            "$argon2id$v=19$m={},t=1,p=1${DUMMY_SALT_B64}${DUMMY_OUTPUT_B64}",
            8 * 1024 * 1024
        );
        assert!(matches!(
            verify_password(&pw("pw"), &greedy, &FAST),
            Err(MfaError::InvalidHash(_))
        ));
    }

    #[test]
    fn invalid_params_are_errors() {
        for params in [
            HashParams {
                m_cost_kib: 1,
                ..FAST
            },
            HashParams { t_cost: 0, ..FAST },
            HashParams { p_cost: 0, ..FAST },
            HashParams {
                m_cost_kib: u32::MAX,
                ..FAST
            },
        ] {
            assert!(
                matches!(
                    hash_password(&pw("pw"), &SALT, &params),
                    Err(MfaError::InvalidParams(_))
                ),
                "{params:?}"
            );
        }
    }

    #[test]
    fn over_long_passwords() {
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            hash_password(&pw(&long), &SALT, &FAST),
            Err(MfaError::PasswordTooLong {
                max: MAX_PASSWORD_BYTES
            })
        );
        let at_limit = "é".repeat(MAX_PASSWORD_BYTES / 2);
        let phc = hash_password(&pw(&at_limit), &SALT, &FAST).unwrap();
        assert!(verify_password(&pw(&at_limit), &phc, &FAST).unwrap().ok);

        // Even a hash of the stand-in does not let an over-long password in.
        let stand_in = std::str::from_utf8(STAND_IN_PASSWORD).unwrap();
        let phc = hash_password(&pw(stand_in), &SALT, &FAST).unwrap();
        assert!(verify_password(&pw(stand_in), &phc, &FAST).unwrap().ok);
        let v = verify_password(&pw(&long), &phc, &FAST).unwrap();
        assert!(!v.ok && !v.needs_rehash);
    }

    #[test]
    fn dummy_verification_runs_with_any_params() {
        verify_dummy(&pw("anything"), &FAST);
        verify_dummy(&pw(&"x".repeat(5000)), &FAST);
        // Invalid parameters fall back to the defaults rather than returning early.
        verify_dummy(&pw("anything"), &HashParams { t_cost: 0, ..FAST });
    }

    #[test]
    fn dummy_hash_is_a_valid_phc_that_never_matches() {
        let phc = format!("$argon2id$v=19$m=64,t=1,p=1${DUMMY_SALT_B64}${DUMMY_OUTPUT_B64}");
        let v = verify_password(&pw("anything"), &phc, &FAST).unwrap();
        assert!(!v.ok);
    }

    #[test]
    fn params_serde_defaults() {
        let p: HashParams = serde_json::from_str(r#"{"t_cost": 3}"#).unwrap();
        assert_eq!(
            p,
            HashParams {
                t_cost: 3,
                ..HashParams::default()
            }
        );
        assert!(serde_json::from_str::<HashParams>(r#"{"m": 1}"#).is_err());
    }

    /// The PHC string and raw output the `argon2` crate's own API gives, with its own memory.
    fn reference(
        algorithm: Algorithm,
        version: Version,
        params: &HashParams,
        password: &[u8],
        salt: &[u8],
    ) -> (String, Vec<u8>) {
        let argon2 = Argon2::new(algorithm, version, params.to_argon2().unwrap());
        let phc = argon2
            .hash_password_with_salt(password, salt)
            .unwrap()
            .to_string();
        let mut raw = vec![0u8; OUTPUT_LEN];
        argon2.hash_password_into(password, salt, &mut raw).unwrap();
        (phc, raw)
    }

    fn raw_output(phc: &str) -> Vec<u8> {
        PasswordHash::new(phc)
            .unwrap()
            .hash
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    /// Memory cost in KiB of `n` blocks.
    fn kib(bytes: usize) -> usize {
        bytes / 1024
    }

    #[test]
    fn reused_memory_gives_the_argon2_crate_results() {
        // One hasher through growing, shrinking and growing again memory costs, other pass
        // and lane counts: every hash and every verification is byte-identical to argon2's
        // own API, which allocates fresh memory per call.
        let keep = HashParams {
            m_cost_kib: 2048,
            t_cost: 1,
            p_cost: 1,
        };
        let mut hasher = PasswordHasher::new(&keep);
        assert_eq!(hasher.retained_bytes(), 0, "nothing allocated up front");
        let mut retained = 0;
        for (i, (m, t, p)) in [
            (64, 1, 1),
            (256, 2, 1),
            (32, 1, 1),
            (1024, 1, 2),
            (64, 3, 1),
            (2048, 1, 4),
            (128, 2, 2),
            (8, 1, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let params = HashParams {
                m_cost_kib: m,
                t_cost: t,
                p_cost: p,
            };
            let password = format!("password number {i}");
            let salt = [u8::try_from(i).unwrap(); 16];
            let phc = hasher.hash(&pw(&password), &salt, &params).unwrap();
            let (want, raw) = reference(
                Algorithm::Argon2id,
                Version::V0x13,
                &params,
                password.as_bytes(),
                &salt,
            );
            assert_eq!(phc, want, "{params:?}");
            assert_eq!(raw_output(&phc), raw, "{params:?}");
            let v = hasher.verify(&pw(&password), &phc, &params).unwrap();
            assert_eq!(
                v,
                Verified {
                    ok: true,
                    needs_rehash: false
                },
                "{params:?}"
            );
            assert!(!hasher.verify(&pw("wrong"), &phc, &params).unwrap().ok);

            // The memory only grows, to what the largest call so far needed.
            let now = hasher.retained_bytes();
            assert!(
                now >= retained,
                "{params:?}: shrank from {retained} to {now}"
            );
            assert!(now >= params.to_argon2().unwrap().block_count() * Block::SIZE);
            retained = now;
        }
        assert_eq!(kib(retained), 2048);
    }

    #[test]
    fn stale_memory_does_not_change_the_result() {
        // argon2 writes every block before it reads it, so leftovers of another call (the
        // memory is wiped only when the owner asks) cannot change a result.
        let zeroed =
            |h: &PasswordHasher| h.blocks.iter().all(|b| b.as_ref().iter().all(|w| *w == 0));
        let mut hasher = PasswordHasher::new(&FAST);
        let _ = hasher.hash(&pw("first"), &SALT, &FAST).unwrap();
        assert!(!zeroed(&hasher), "left as it was");
        hasher.wipe();
        assert!(zeroed(&hasher));
        for b in &mut hasher.blocks {
            b.as_mut().fill(0xa5a5_a5a5_a5a5_a5a5);
        }
        let phc = hasher.hash(&pw("second"), &SALT, &FAST).unwrap();
        let (want, _) = reference(Algorithm::Argon2id, Version::V0x13, &FAST, b"second", &SALT);
        assert_eq!(phc, want);
        assert!(hasher.dirty);
        hasher.wipe();
        assert!(zeroed(&hasher) && !hasher.dirty);
    }

    #[test]
    fn other_variants_verify_in_reused_memory() {
        let mut hasher = PasswordHasher::new(&FAST);
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
            (Algorithm::Argon2id, Version::V0x13),
        ] {
            let (phc, _) = reference(algorithm, version, &FAST, b"pw", &SALT);
            let v = hasher.verify(&pw("pw"), &phc, &FAST).unwrap();
            let current = algorithm == Algorithm::Argon2id && version == Version::V0x13;
            assert_eq!(
                v,
                Verified {
                    ok: true,
                    needs_rehash: !current
                },
                "{phc}"
            );
            assert!(!hasher.verify(&pw("pW"), &phc, &FAST).unwrap().ok);
        }
        // A missing version means 0x13 to argon2: it verifies, and is rewritten with one.
        let (phc, _) = reference(Algorithm::Argon2id, Version::V0x13, &FAST, b"pw", &SALT);
        let unversioned = phc.replace("$v=19", "");
        assert_ne!(unversioned, phc);
        let v = hasher.verify(&pw("pw"), &unversioned, &FAST).unwrap();
        assert_eq!(
            v,
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        // An unknown version is refused as a bad record.
        let bad = phc.replace("$v=19", "$v=17");
        assert!(matches!(
            hasher.verify(&pw("pw"), &bad, &FAST),
            Err(MfaError::InvalidHash(_))
        ));
    }

    #[test]
    fn output_lengths_other_than_ours_verify_and_need_rehash() {
        for len in [16, 64] {
            let params = Params::new(64, 1, 1, Some(len)).unwrap();
            let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let phc = argon2
                .hash_password_with_salt(b"pw", &SALT)
                .unwrap()
                .to_string();
            let mut hasher = PasswordHasher::new(&FAST);
            let v = hasher.verify(&pw("pw"), &phc, &FAST).unwrap();
            assert!(v.ok && v.needs_rehash, "{phc}");
            assert!(!hasher.verify(&pw("p"), &phc, &FAST).unwrap().ok, "{phc}");
        }
    }

    #[test]
    fn memory_beyond_keep_is_borrowed_per_call() {
        let big = HashParams {
            m_cost_kib: 512,
            ..FAST
        };
        let phc = hash_password(&pw("pw"), &SALT, &big).unwrap();
        let mut hasher = PasswordHasher::new(&FAST);
        let v = hasher.verify(&pw("pw"), &phc, &FAST).unwrap();
        assert!(v.ok && v.needs_rehash);
        assert_eq!(
            kib(hasher.retained_bytes()),
            0,
            "the big record is not kept"
        );
        let _ = hasher.verify(
            &pw("pw"),
            &hash_password(&pw("pw"), &SALT, &FAST).unwrap(),
            &FAST,
        );
        assert_eq!(kib(hasher.retained_bytes()), 64);
        let _ = hasher.verify(&pw("pw"), &phc, &FAST).unwrap();
        assert_eq!(kib(hasher.retained_bytes()), 64);
        // Invalid keep parameters keep what the defaults need.
        let hasher = PasswordHasher::new(&HashParams { t_cost: 0, ..FAST });
        assert_eq!(hasher.keep_blocks, 19 * 1024);
    }

    #[test]
    fn hasher_and_free_functions_agree() {
        let mut hasher = PasswordHasher::new(&FAST);
        let phc = hasher.hash(&pw("correct horse"), &SALT, &FAST).unwrap();
        assert_eq!(
            phc,
            hash_password(&pw("correct horse"), &SALT, &FAST).unwrap()
        );
        assert_eq!(
            hasher.verify(&pw("correct horse"), &phc, &FAST),
            verify_password(&pw("correct horse"), &phc, &FAST)
        );
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(
            hasher.hash(&pw(&long), &SALT, &FAST),
            Err(MfaError::PasswordTooLong { .. })
        ));
        assert!(!hasher.verify(&pw(&long), &phc, &FAST).unwrap().ok);
        assert!(matches!(
            hasher.verify(&pw("pw"), "not a hash", &FAST),
            Err(MfaError::InvalidHash(_))
        ));
        assert!(format!("{hasher:?}").contains("retained_kib: 64"));
    }

    #[test]
    fn dummy_uses_the_same_memory_as_a_verification() {
        let mut hasher = PasswordHasher::new(&HashParams::default());
        hasher.verify_dummy(&pw("anything"), &FAST);
        assert_eq!(kib(hasher.retained_bytes()), 64);
        let mut other = PasswordHasher::new(&HashParams::default());
        let phc = other.hash(&pw("pw"), &SALT, &FAST).unwrap();
        let _ = other.verify(&pw("pw"), &phc, &FAST).unwrap();
        assert_eq!(other.retained_bytes(), hasher.retained_bytes());
        // Invalid parameters fall back to the defaults (19 MiB), not to an early return.
        hasher.verify_dummy(&pw("anything"), &HashParams { t_cost: 0, ..FAST });
        assert_eq!(kib(hasher.retained_bytes()), 19 * 1024);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random passwords, salts and small costs, through one hasher kept across cases in
        /// a thread-local: the raw output equals argon2's `hash_password_into` with memory
        /// of its own, and the PHC string verifies.
        #[test]
        fn reused_hasher_matches_hash_password_into(
            password in "\\PC{0,40}",
            salt in any::<[u8; 16]>(),
            m_cost_kib in 8u32..300,
            t_cost in 1u32..4,
            p_cost in 1u32..3,
        ) {
            thread_local! {
                static HASHER: std::cell::RefCell<PasswordHasher> =
                    std::cell::RefCell::new(PasswordHasher::new(&HashParams {
                        m_cost_kib: 512,
                        t_cost: 1,
                        p_cost: 1,
                    }));
            }
            let params = HashParams { m_cost_kib: m_cost_kib.max(8 * p_cost), t_cost, p_cost };
            let (phc, v) = HASHER.with_borrow_mut(|h| {
                let phc = h.hash(&pw(&password), &salt, &params).unwrap();
                let v = h.verify(&pw(&password), &phc, &params).unwrap();
                (phc, v)
            });
            let (_, raw) = reference(
                Algorithm::Argon2id,
                Version::V0x13,
                &params,
                password.as_bytes(),
                &salt,
            );
            prop_assert_eq!(raw_output(&phc), raw);
            prop_assert!(v.ok && !v.needs_rehash);
        }
    }
}
