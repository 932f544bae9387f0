//! The one error type of this crate.

/// Why a credential operation could not be carried out.
///
/// A wrong password is not an error (see [`crate::Verified`]); these are faults of the
/// stored data or the configuration, which the server logs and answers with a generic
/// failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The stored password hash is not a PHC string this crate can read.
    #[error("invalid password hash: {0}")]
    InvalidHash(String),
    /// The stored hash is a PHC string of another algorithm (e.g. bcrypt or scrypt from an
    /// import) that this crate cannot verify.
    #[error("unsupported password hash algorithm `{0}`")]
    UnsupportedHashAlgorithm(String),
    /// Argon2 parameters out of the range argon2 or this crate accepts.
    #[error("invalid argon2 parameters: {0}")]
    InvalidParams(String),
    /// A password longer than [`crate::MAX_PASSWORD_BYTES`] was given to be hashed.
    #[error("the password is longer than {max} bytes")]
    PasswordTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// Argon2 itself failed (e.g. could not allocate its memory).
    #[error("argon2 failed: {0}")]
    Argon2(String),
    /// A TOTP secret, parameter or otpauth URI that is out of range or malformed.
    #[error("invalid TOTP: {0}")]
    InvalidTotp(String),
}
