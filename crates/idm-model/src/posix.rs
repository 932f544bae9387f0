//! POSIX id allocation: monotonic within a configurable range, never reused.
//!
//! The counter only moves forward and the store also keeps every id ever used (tombstones
//! included), so a deleted user's files can never be inherited by a new account.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// The ids the server allocates from. Explicitly chosen ids may lie outside it, but never in
/// the system range below [`MIN_EXPLICIT_ID`], and never on `nobody`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub first: u32,
    pub last: u32,
}

impl Default for IdRange {
    fn default() -> Self {
        // Above the local-user ranges of common distributions; below 2^31 so that software
        // that stores ids as signed 32-bit integers (older NFS, some Java) still works.
        IdRange {
            first: 10_000,
            last: 2_000_000_000,
        }
    }
}

pub const MIN_EXPLICIT_ID: u32 = 1000;
const NOBODY: u32 = 65_534;

impl IdRange {
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.first < MIN_EXPLICIT_ID || self.first > self.last || self.last > i32::MAX as u32 {
            return Err(ModelError::invalid(
                "posix_id_range",
                format!(
                    "must satisfy {MIN_EXPLICIT_ID} <= first <= last <= {}",
                    i32::MAX
                ),
            ));
        }
        Ok(())
    }

    /// The next free id at or after `counter`: returns the id and the counter to persist.
    /// `taken` answers whether an id is used now or was ever used.
    pub fn allocate(
        &self,
        counter: u32,
        mut taken: impl FnMut(u32) -> bool,
    ) -> Result<(u32, u32), ModelError> {
        let mut id = counter.max(self.first);
        while id <= self.last {
            if id != NOBODY && !taken(id) {
                return Ok((id, id.saturating_add(1)));
            }
            id = id.saturating_add(1);
            if id == u32::MAX {
                break;
            }
        }
        Err(ModelError::Inconsistent(format!(
            "the POSIX id range {}-{} is exhausted",
            self.first, self.last
        )))
    }
}

/// An id an admin picked by hand.
pub fn explicit_id(field: &str, id: u32) -> Result<u32, ModelError> {
    if id < MIN_EXPLICIT_ID || id == NOBODY || id > i32::MAX as u32 {
        return Err(ModelError::invalid(
            field,
            format!(
                "must be between {MIN_EXPLICIT_ID} and {} and not {NOBODY} (nobody)",
                i32::MAX
            ),
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_skips_taken_and_moves_forward() {
        let r = IdRange::default();
        assert_eq!(r.allocate(0, |_| false).unwrap(), (10_000, 10_001));
        let taken = [10_001u32, 10_002];
        assert_eq!(
            r.allocate(10_001, |i| taken.contains(&i)).unwrap(),
            (10_003, 10_004)
        );
        let small = IdRange {
            first: 1000,
            last: 1001,
        };
        assert!(small.allocate(1002, |_| false).is_err());
        assert!(small.allocate(1000, |_| true).is_err());
    }

    #[test]
    fn nobody_is_never_allocated() {
        let r = IdRange {
            first: 65_534,
            last: 65_535,
        };
        assert_eq!(r.allocate(0, |_| false).unwrap().0, 65_535);
        assert!(explicit_id("gid", 65_534).is_err());
        assert!(explicit_id("gid", 999).is_err());
        assert!(explicit_id("gid", 5000).is_ok());
    }
}
