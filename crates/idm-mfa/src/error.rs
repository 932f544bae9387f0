//! The one error type of this crate.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why a credential operation could not be carried out.
///
/// A wrong password or TOTP code is not an error (see [`crate::Verified`],
/// [`crate::TotpVerdict`]); most variants are faults of the stored data or the configuration,
/// which the server logs and answers with a generic failure. WebAuthn is the exception: a
/// response that does not verify is an error here ([`MfaError::WebauthnRejected`] and its
/// neighbours, with the reason for the audit log), because webauthn-rs reports it as one; a
/// cloned authenticator is not an error but
/// [`crate::AuthenticationOutcome::CounterRegressed`].
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
    /// A WebAuthn relying-party setting (id, origin, timeout, limits) that cannot work.
    #[error("invalid WebAuthn configuration: {0}")]
    InvalidWebauthnConfig(String),
    /// A WebAuthn ceremony asked for with arguments that cannot work (empty user name, a
    /// username-less login without user verification, a bad credential label).
    #[error("invalid WebAuthn request: {0}")]
    InvalidWebauthnRequest(String),
    /// The browser's WebAuthn response is too large, not JSON, or not the expected shape.
    #[error("malformed WebAuthn response: {0}")]
    MalformedWebauthnResponse(String),
    /// The pending registration or authentication expired; the user starts again.
    #[error("the WebAuthn ceremony expired at {expired_at}")]
    CeremonyExpired {
        /// When the pending state stopped being valid.
        expired_at: DateTime<Utc>,
    },
    /// WebAuthn verification refused the response (wrong challenge or origin, bad signature,
    /// no user verification, untrusted attestation, ...).
    #[error("WebAuthn {kind:?} check failed: {detail}")]
    WebauthnRejected {
        /// Which kind of check failed, for the audit log and metrics.
        kind: WebauthnFailure,
        /// webauthn-rs's own description.
        detail: String,
    },
    /// The authenticator's AAGUID (its make and model) is not on the allow-list of the
    /// person's policy; `None` when the authenticator did not attest one.
    #[error("authenticator model {aaguid:?} is not allowed by policy")]
    AaguidNotAllowed {
        /// The attested AAGUID, if any.
        aaguid: Option<Uuid>,
    },
    /// The response names a credential that is not among the ones given (not this person's,
    /// removed, or never registered).
    #[error("unknown WebAuthn credential")]
    UnknownCredential,
    /// The authenticator is already registered to this person (it was in the exclude list).
    #[error("this authenticator is already registered")]
    CredentialAlreadyRegistered,
    /// A stored WebAuthn record or pending state that does not read back (corrupt, or
    /// written by an incompatible version).
    #[error("stored WebAuthn state does not read back: {0}")]
    InvalidStoredState(String),
    /// A username-less login response without a user handle, or a user handle that is not a
    /// 16-byte UUID or not the owner of the credential used.
    #[error("user handle: {0}")]
    UserHandle(String),
}

/// The kind of WebAuthn check that failed, from webauthn-rs's many error variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebauthnFailure {
    /// The response was for another challenge (another ceremony, or a replay).
    Challenge,
    /// Wrong origin, relying-party id or a cross-origin call: possibly a phishing site.
    Origin,
    /// The user-present or user-verified flag required by policy was not set.
    UserVerification,
    /// The assertion or attestation signature does not verify.
    Signature,
    /// The attestation is malformed, unsupported or not trusted.
    Attestation,
    /// The credential's state does not fit (backup eligibility changed, algorithm, ...).
    Credential,
    /// The binary parts (CBOR, authenticator data, keys) could not be parsed.
    Malformed,
    /// Anything else webauthn-rs reports.
    Other,
}
