//! Password hashing with argon2id, stored as PHC strings.
//!
//! The salt is an argument so this crate draws no randomness (the server passes 16 bytes from
//! its CSPRNG). Verification reports whether the stored hash is stale so the server can
//! upgrade it on the next successful login, and [`verify_dummy`] lets the server spend the
//! same time on an unknown account as on a known one.

use core::hint::black_box;

use argon2::{
    Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version, password_hash,
    password_hash::phc::PasswordHash,
};
use serde::{Deserialize, Serialize};

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

/// Hash a password with argon2id into a PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
///
/// `salt` must be fresh random bytes for every hash; taking it as an argument keeps this
/// crate free of randomness, and makes tests reproducible.
///
/// # Errors
/// [`MfaError::PasswordTooLong`] past [`MAX_PASSWORD_BYTES`]; [`MfaError::InvalidParams`] for
/// parameters argon2 refuses or beyond this crate's bounds; [`MfaError::Argon2`] if argon2
/// fails.
pub fn hash_password(
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
    let hash: PasswordHash = argon2
        .hash_password_with_salt(password, salt)
        .map_err(|e| MfaError::Argon2(e.to_string()))?;
    Ok(hash.to_string())
}

/// Check a password against a stored PHC string, in constant time in the hash output
/// (argon2's output comparison), with the parameters recorded in the string.
///
/// A password longer than [`MAX_PASSWORD_BYTES`] is never hashed: a fixed stand-in is hashed
/// instead with the same parameters, and the result is a failure. So an attacker cannot make
/// a verification cost more than usual, nor tell by timing that the limit exists.
///
/// argon2i and argon2d hashes (e.g. imported) still verify, and are reported as needing a
/// rehash.
///
/// # Errors
/// [`MfaError::InvalidHash`] if `phc` is not a complete argon2 PHC string within this
/// crate's parameter bounds; [`MfaError::UnsupportedHashAlgorithm`] for another algorithm;
/// [`MfaError::Argon2`] if argon2 fails. A wrong password is not an error.
pub fn verify_password(
    password: &Password,
    phc: &str,
    current: &HashParams,
) -> Result<Verified, MfaError> {
    let hash = PasswordHash::new(phc).map_err(|e| MfaError::InvalidHash(e.to_string()))?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str())
        .map_err(|_| MfaError::UnsupportedHashAlgorithm(hash.algorithm.as_str().to_owned()))?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(MfaError::InvalidHash(
            "the salt or the hash output is missing".to_owned(),
        ));
    }
    let stored = Params::try_from(&hash).map_err(|e| MfaError::InvalidHash(e.to_string()))?;
    check_bounds(stored.m_cost(), stored.t_cost(), stored.p_cost())
        .map_err(MfaError::InvalidHash)?;

    let typed = password.expose_secret().as_bytes();
    let within_limit = typed.len() <= MAX_PASSWORD_BYTES;
    let input = if within_limit {
        typed
    } else {
        STAND_IN_PASSWORD
    };

    let matched = match Argon2::default().verify_password(input, &hash) {
        Ok(()) => within_limit,
        Err(password_hash::Error::PasswordInvalid) => false,
        Err(e) => return Err(MfaError::Argon2(e.to_string())),
    };
    let stale = algorithm != Algorithm::Argon2id
        || hash.version != Some(u32::from(Version::V0x13))
        || stored.m_cost() != current.m_cost_kib
        || stored.t_cost() != current.t_cost
        || stored.p_cost() != current.p_cost
        || stored.output_len() != Some(OUTPUT_LEN);
    Ok(Verified {
        ok: matched,
        needs_rehash: matched && stale,
    })
}

/// Spend the time of one [`verify_password`] with `params` and discard the result.
///
/// Call it when the account does not exist (or has no password), before answering with the
/// same failure as for a wrong password: otherwise a fast "no such user" would tell an
/// attacker which accounts exist. It goes through [`verify_password`] itself, against a
/// fixed hash made up with `params`, so both paths do the same work. Invalid `params` fall
/// back to [`HashParams::default`].
pub fn verify_dummy(password: &Password, params: &HashParams) {
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
    let _ = black_box(verify_password(password, &phc, &params));
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
}
