//! Backup codes: ten single-use codes of 60 bits each, shown once, stored as SHA-256 digests.
//!
//! They are random, not chosen by people, so a fast hash is enough (as for API tokens); an
//! attacker with the digests still faces 2^60 work per code.

use data_encoding::BASE32_NOPAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const CODE_COUNT: usize = 10;
/// Random bytes drawn per code; 60 of the 64 bits end up in the code's 12 base32 characters.
pub const CODE_RANDOM_BYTES: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodes {
    /// Hex SHA-256 of each unused code.
    pub digests: Vec<String>,
}

impl BackupCodes {
    /// Makes a fresh set from caller-drawn randomness; returns the codes to show once.
    pub fn generate(random: &[[u8; CODE_RANDOM_BYTES]; CODE_COUNT]) -> (BackupCodes, Vec<String>) {
        let mut shown = Vec::with_capacity(CODE_COUNT);
        let mut digests = Vec::with_capacity(CODE_COUNT);
        for r in random {
            let raw = BASE32_NOPAD.encode(r).to_ascii_lowercase();
            let code: String = raw.chars().take(12).collect();
            digests.push(digest(&code));
            shown.push(format!(
                "{}-{}-{}",
                code.get(0..4).unwrap_or_default(),
                code.get(4..8).unwrap_or_default(),
                code.get(8..12).unwrap_or_default()
            ));
        }
        (BackupCodes { digests }, shown)
    }

    /// Consumes a code if it matches an unused one (dashes, spaces and case are ignored).
    #[must_use = "a consumed code must be stored, or it can be used again"]
    pub fn redeem(&mut self, input: &str) -> bool {
        let normalised: String = input
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if normalised.len() != 12 {
            return false;
        }
        let d = digest(&normalised);
        let mut hit = None;
        for (i, stored) in self.digests.iter().enumerate() {
            if bool::from(stored.as_bytes().ct_eq(d.as_bytes())) && hit.is_none() {
                hit = Some(i);
            }
        }
        match hit {
            Some(i) => {
                self.digests.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn remaining(&self) -> usize {
        self.digests.len()
    }
}

fn digest(code: &str) -> String {
    Sha256::digest(code.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_and_forgiving_input() {
        let mut random = [[0u8; CODE_RANDOM_BYTES]; CODE_COUNT];
        for (i, r) in random.iter_mut().enumerate() {
            *r = [i as u8 * 17 + 3; CODE_RANDOM_BYTES];
            r[0] = i as u8;
        }
        let (mut set, shown) = BackupCodes::generate(&random);
        assert_eq!(shown.len(), 10);
        assert_eq!(shown[0].len(), 14);
        let distinct: std::collections::BTreeSet<_> = shown.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert!(set.redeem(&shown[3].to_uppercase().replace('-', " ")));
        assert!(!set.redeem(&shown[3]), "a code works once");
        assert_eq!(set.remaining(), 9);
        assert!(!set.redeem("aaaa-bbbb-cccc"));
        assert!(!set.redeem(""));
    }
}
