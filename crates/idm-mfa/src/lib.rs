//! Credentials for idm: password hashing and rules, the lockout that slows guessing, TOTP,
//! WebAuthn (passkeys and security keys), backup codes, and the credential policy that says
//! which of them a person must use.
//!
//! Sans-IO like every protocol crate (see `ARCHITECTURE.md`): the salt is an argument, the
//! time is an argument, state is a value the caller stores. The one exception is
//! [`webauthn`], where webauthn-rs-core draws its own challenges and reads the clock for
//! attestation certificates; its module documentation says why and how far.

pub mod backup_codes;
pub mod credential_policy;
mod error;
pub mod lockout;
pub mod password;
pub mod policy;
pub mod secret;
pub mod totp;
pub mod webauthn;

pub use backup_codes::BackupCodes;
pub use credential_policy::{
    CredentialClass, EffectivePolicy, GroupPolicy, HeldCredential, Method, MfaType,
};
pub use error::{MfaError, WebauthnFailure};
pub use lockout::{FailureOutcome, LockoutDecision, LockoutPolicy, LockoutState};
pub use password::{
    HashParams, PasswordHasher, Verified, hash_password, verify_dummy, verify_password,
};
pub use policy::{PasswordPolicy, PolicyViolation};
pub use secret::{MAX_PASSWORD_BYTES, Password};
pub use totp::{Totp, TotpAlgorithm, TotpSecret, TotpVerdict};
pub use webauthn::{
    AuthenticationOutcome, AuthenticationResponse, AuthenticationResult, CredentialId,
    PasskeyOrSecurityKey, PendingAuthentication, PendingRegistration, RegistrationOptions,
    StoredCredential, UserVerification, Webauthn,
};
