//! Credentials for idm: password hashing and rules, the lockout that slows guessing, TOTP and
//! backup codes.
//!
//! Sans-IO like every protocol crate (see `ARCHITECTURE.md`): the salt is an argument, the
//! time is an argument, state is a value the caller stores. TOTP, WebAuthn and backup codes
//! will join as sibling modules; their secrets go in [`secret`] beside [`Password`].

pub mod backup_codes;
mod error;
pub mod lockout;
pub mod password;
pub mod policy;
pub mod secret;
pub mod totp;

pub use backup_codes::BackupCodes;
pub use error::MfaError;
pub use lockout::{FailureOutcome, LockoutDecision, LockoutPolicy, LockoutState};
pub use password::{HashParams, Verified, hash_password, verify_dummy, verify_password};
pub use policy::{PasswordPolicy, PolicyViolation};
pub use secret::{MAX_PASSWORD_BYTES, Password};
pub use totp::{Totp, TotpAlgorithm, TotpSecret, TotpVerdict};
