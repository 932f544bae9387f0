//! The one error type of this crate.

/// Why a key line or an `authorized_keys` option was refused.
///
/// Each variant names one rule, so the server can map it to a stable API error code and a
/// message that tells the user what to fix. Strings carried here come from user input and are
/// shortened (see `MAX_ECHO_CHARS` in the parser) so an error never echoes a whole key back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The line is longer than [`crate::MAX_LINE_BYTES`]; refused before any decoding.
    #[error("the key line is {len} bytes long, the limit is {max}")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The text is a private key. Refused with its own message because the user must be told
    /// that the secret half of their key has just been sent somewhere it should not be.
    #[error(
        "this is a private key; paste the public key (the `.pub` file) instead, and consider this private key exposed"
    )]
    PrivateKey,
    /// Nothing but whitespace was given.
    #[error("the key line is empty")]
    Empty,
    /// The line is not `type base64 [comment]`, the base64 does not decode, or the key blob
    /// inside is not a valid encoding of its type.
    #[error("malformed public key: {0}")]
    Malformed(String),
    /// The key type is not one idm accepts (DSA, certificates, unknown types).
    #[error(
        "unsupported key type `{0}`; use ssh-ed25519, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com or ssh-rsa"
    )]
    UnsupportedAlgorithm(String),
    /// The type label before the base64 differs from the type encoded inside the key.
    #[error("the key is labelled `{declared}` but contains a `{actual}` key")]
    TypeMismatch {
        /// The type written in the line.
        declared: String,
        /// The type found inside the base64 blob.
        actual: String,
    },
    /// An RSA modulus shorter than the policy allows.
    #[error("RSA key of {bits} bits is too short, at least {min} bits are required")]
    RsaTooShort {
        /// Modulus size of the key.
        bits: u32,
        /// The minimum in force.
        min: u32,
    },
    /// An RSA modulus longer than OpenSSH itself accepts.
    #[error("RSA key of {bits} bits is too long, at most {max} bits are accepted")]
    RsaTooLong {
        /// Modulus size of the key.
        bits: u32,
        /// [`crate::MAX_RSA_BITS`].
        max: u32,
    },
    /// The comment is longer than [`crate::MAX_COMMENT_CHARS`].
    #[error("the key comment is {chars} characters long, the limit is {max}")]
    CommentTooLong {
        /// Length of the comment in characters.
        chars: usize,
        /// The limit in characters.
        max: usize,
    },
    /// The line starts with `authorized_keys` options (`from=…`, `command=…`, …). Options are
    /// chosen by the server, never pasted by users, so a pasted key must be the bare key.
    #[error(
        "authorized_keys options are not accepted here; paste only the public key (`type base64 comment`)"
    )]
    Options,
    /// An option given to [`crate::SshPublicKey::authorized_keys_line`] could inject text
    /// into the line (newline, unbalanced quote, bare comma or space, …).
    #[error("invalid authorized_keys option: {0}")]
    InvalidOption(String),
}
