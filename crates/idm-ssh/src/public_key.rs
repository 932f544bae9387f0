//! One OpenSSH public key: parse and check a pasted line, fingerprint it, render it back.
//!
//! The parser is ours rather than `ssh_key::PublicKey::from_openssh` because that one is too
//! lenient for keys pasted by users: it accepts compressed ECDSA points and non-canonical
//! blobs, does not bound sizes, and cannot tell a line with `authorized_keys` options from a
//! key of an unknown type. `ssh-key` still decodes the blob and computes the fingerprint, so
//! the key arithmetic is never ours.

// A parser of untrusted input: every access is checked (`get`, `split_first_chunk`).
#![deny(clippy::indexing_slicing)]

use core::fmt;

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ssh_key::{
    EcdsaCurve, HashAlg,
    encoding::{Decode, Encode, Reader},
    public::KeyData,
};

use crate::SshError;

/// Longest key line accepted, in bytes. A 16384-bit RSA key with a full comment is about
/// 3 KiB, so this leaves room for every legitimate key while bounding the work an attacker
/// can cause with one request.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Longest comment accepted, in characters. Comments are shown in lists and logs; longer
/// ones are noise or an attempt to stuff data into the directory.
pub const MAX_COMMENT_CHARS: usize = 256;

/// Largest RSA modulus accepted, in bits: OpenSSH's own `SSH_RSA_MAXIMUM_MODULUS_SIZE`, so a
/// stored key is always one `sshd` will use.
pub const MAX_RSA_BITS: u32 = 16384;

/// Below this no policy can go: OpenSSH (`SSH_RSA_MINIMUM_MODULUS_SIZE`) refuses such keys,
/// so storing one would only produce a key that silently never works.
const RSA_FLOOR_BITS: u32 = 1024;

/// How much of a user-supplied token an error message repeats.
const MAX_ECHO_CHARS: usize = 64;

/// Longest single option [`SshPublicKey::authorized_keys_line`] renders; `sshd` reads
/// `authorized_keys` lines of at most 8 KiB, and options are chosen by the server, so this is
/// generous.
const MAX_OPTION_BYTES: usize = 4096;

/// Key types idm stores. DSA is absent on purpose (1024-bit, removed from OpenSSH);
/// certificates are not public keys and get their own type.
const ACCEPTED_ALGORITHMS: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
];

/// What the deployment demands of keys beyond the fixed rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyPolicy {
    /// Smallest RSA modulus accepted, in bits. Values below 1024 act as 1024, since OpenSSH
    /// refuses smaller keys anyway.
    pub min_rsa_bits: u32,
}

impl Default for KeyPolicy {
    /// 2048 bits: NIST SP 800-131A's floor and what `ssh-keygen` has long generated.
    fn default() -> Self {
        Self { min_rsa_bits: 2048 }
    }
}

/// A public key that passed every check: an accepted type, a canonical blob whose type
/// matches its label, an uncompressed curve point, an RSA modulus within the policy.
///
/// Holding one is the proof that the key is safe to store and to render into
/// `authorized_keys`; the fields are private so no unchecked key can be made.
#[derive(Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    /// One of [`ACCEPTED_ALGORITHMS`], so it can be returned without borrowing the key data.
    algorithm: &'static str,
    /// The key blob exactly as pasted; parsing checked it is the canonical encoding of
    /// `key_data`, so rendering it back needs no re-encoding that could fail.
    blob: Vec<u8>,
    key_data: KeyData,
    comment: Option<String>,
    bits: u32,
}

impl SshPublicKey {
    /// Parse one OpenSSH public key line, `type base64 [comment]`, and apply every check.
    ///
    /// Surrounding spaces, tabs and line breaks are ignored so that a line copied from a
    /// `.pub` file works; a line break inside the line is refused, since it would smuggle a
    /// second line into `authorized_keys`.
    ///
    /// # Errors
    /// A [`SshError`] naming the first rule the line breaks.
    pub fn parse(line: &str, policy: &KeyPolicy) -> Result<Self, SshError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(SshError::TooLong {
                len: line.len(),
                max: MAX_LINE_BYTES,
            });
        }
        if line.contains("PRIVATE KEY-----") || line.starts_with("PuTTY-User-Key-File-") {
            return Err(SshError::PrivateKey);
        }
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            return Err(SshError::Empty);
        }
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(SshError::Malformed(
                "the line contains a line break or another control character".to_owned(),
            ));
        }

        let (declared, rest) = split_field(line);
        let Some(algorithm) = ACCEPTED_ALGORITHMS.iter().copied().find(|a| *a == declared) else {
            return Err(refuse_unknown_type(declared, rest));
        };
        let (base64, comment) = split_field(rest);
        if base64.is_empty() {
            return Err(SshError::Malformed(
                "the base64 key data is missing".to_owned(),
            ));
        }
        let comment_chars = comment.chars().count();
        if comment_chars > MAX_COMMENT_CHARS {
            return Err(SshError::CommentTooLong {
                chars: comment_chars,
                max: MAX_COMMENT_CHARS,
            });
        }

        let blob = Base64::decode_vec(base64)
            .map_err(|_| SshError::Malformed("the key data is not valid base64".to_owned()))?;
        let actual = blob_type(&blob)?;
        if actual != declared.as_bytes() {
            return Err(SshError::TypeMismatch {
                declared: declared.to_owned(),
                actual: echo(&String::from_utf8_lossy(actual)),
            });
        }
        let key_data = decode_canonical(&blob)?;
        let bits = check_key(&key_data, algorithm, policy)?;

        Ok(Self {
            algorithm,
            blob,
            key_data,
            comment: (!comment.is_empty()).then(|| comment.to_owned()),
            bits,
        })
    }

    /// The OpenSSH name of the key type, e.g. `ssh-ed25519`.
    #[must_use]
    pub fn algorithm(&self) -> &str {
        self.algorithm
    }

    /// The comment after the key, if any; usually `user@host`, chosen by the user, so only
    /// fit for display.
    #[must_use]
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The SHA-256 fingerprint as `ssh-keygen -lf` and `sshd`'s logs print it
    /// (`SHA256:` + unpadded base64), so users and admins can match keys across tools.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.key_data.fingerprint(HashAlg::Sha256).to_string()
    }

    /// Key size in bits as `ssh-keygen -l` reports it: the RSA modulus size, the curve size
    /// for ECDSA, 256 for Ed25519. `Option` leaves room for key types without a size.
    #[must_use]
    pub fn bits(&self) -> Option<u32> {
        Some(self.bits)
    }

    /// The canonical line `type base64 [comment]` with single spaces: what is stored and
    /// what [`SshPublicKey::parse`] turns back into an equal key.
    #[must_use]
    pub fn to_openssh(&self) -> String {
        let base64 = Base64::encode_string(&self.blob);
        match &self.comment {
            Some(comment) => format!("{} {base64} {comment}", self.algorithm),
            None => format!("{} {base64}", self.algorithm),
        }
    }

    /// The key as an `authorized_keys` line with `options` (e.g. `restrict`,
    /// `from="10.0.0.0/8"`) joined by commas in front of it.
    ///
    /// Options come from server configuration, but they are still checked so that no value
    /// can end the line, break out of its quotes or add an option through a bare comma:
    /// names are letters, digits and `-`; a value is `"…"` without quotes, backslashes or
    /// control characters inside.
    ///
    /// # Errors
    /// [`SshError::InvalidOption`] for the first option that breaks those rules.
    pub fn authorized_keys_line(&self, options: &[&str]) -> Result<String, SshError> {
        for option in options {
            check_option(option)?;
        }
        let key = self.to_openssh();
        if options.is_empty() {
            return Ok(key);
        }
        Ok(format!("{} {key}", options.join(",")))
    }
}

impl fmt::Display for SshPublicKey {
    /// Same as [`SshPublicKey::to_openssh`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_openssh())
    }
}

impl fmt::Debug for SshPublicKey {
    /// Type, fingerprint and comment: what identifies a key in a log, without the blob.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshPublicKey")
            .field("algorithm", &self.algorithm)
            .field("bits", &self.bits)
            .field("fingerprint", &self.fingerprint())
            .field("comment", &self.comment)
            .finish()
    }
}

impl Serialize for SshPublicKey {
    /// As the canonical line, so stored records and API payloads read like a `.pub` file.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_openssh())
    }
}

impl<'de> Deserialize<'de> for SshPublicKey {
    /// Re-checks the line with [`KeyPolicy::default`]: data read back from storage or a
    /// request is input like any other. A deployment with a stricter policy checks that
    /// separately (e.g. with [`SshPublicKey::bits`]).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let line = String::deserialize(deserializer)?;
        Self::parse(&line, &KeyPolicy::default()).map_err(serde::de::Error::custom)
    }
}

/// Split off the first space- or tab-separated field, as `sshd` does; the rest starts at the
/// next non-blank character.
fn split_field(s: &str) -> (&str, &str) {
    match s.split_once([' ', '\t']) {
        Some((field, rest)) => (field, rest.trim_start_matches([' ', '\t'])),
        None => (s, ""),
    }
}

/// Tell the user the most useful thing about a first field that is not an accepted type: a
/// line with options has a key type further on, anything else has a type we refuse.
fn refuse_unknown_type(first: &str, rest: &str) -> SshError {
    if !looks_like_key_type(first) && rest.split([' ', '\t']).any(looks_like_key_type) {
        return SshError::Options;
    }
    SshError::UnsupportedAlgorithm(echo(first))
}

/// Whether a field names an SSH key or certificate type, accepted or not.
fn looks_like_key_type(field: &str) -> bool {
    ACCEPTED_ALGORITHMS.contains(&field)
        || field == "ssh-dss"
        || field.starts_with("ssh-")
        || field.starts_with("ecdsa-sha2-")
        || field.starts_with("sk-ssh-")
        || field.starts_with("sk-ecdsa-")
}

/// The type string at the start of a key blob (RFC 4253 § 6.6: a length-prefixed string).
fn blob_type(blob: &[u8]) -> Result<&[u8], SshError> {
    let truncated = || SshError::Malformed("the key data is truncated".to_owned());
    let (len, rest) = blob.split_first_chunk::<4>().ok_or_else(truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| truncated())?;
    rest.get(..len).ok_or_else(truncated)
}

/// Decode the blob and insist it is exactly the canonical encoding of what it decodes to, so
/// the fingerprint, the stored line and what `sshd` sees are all of the same bytes.
fn decode_canonical(blob: &[u8]) -> Result<KeyData, SshError> {
    let mut reader = blob;
    let key_data = KeyData::decode(&mut reader)
        .map_err(|e| SshError::Malformed(format!("the key data is invalid: {e}")))?;
    if !reader.is_finished() {
        return Err(SshError::Malformed(
            "unexpected bytes after the key data".to_owned(),
        ));
    }
    let canonical = key_data
        .encode_vec()
        .map_err(|e| SshError::Malformed(format!("the key data is invalid: {e}")))?;
    if canonical != blob {
        return Err(SshError::Malformed(
            "the key data is not canonically encoded".to_owned(),
        ));
    }
    Ok(key_data)
}

/// The per-type rules; returns the key size in bits.
fn check_key(key_data: &KeyData, algorithm: &str, policy: &KeyPolicy) -> Result<u32, SshError> {
    match key_data {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => Ok(256),
        KeyData::Ecdsa(key) => {
            require_uncompressed(key.as_sec1_bytes())?;
            match key.curve() {
                EcdsaCurve::NistP256 => Ok(256),
                EcdsaCurve::NistP384 => Ok(384),
                EcdsaCurve::NistP521 => Ok(521),
                #[allow(unreachable_patterns, reason = "ssh-key may add curves")]
                _ => Err(SshError::UnsupportedAlgorithm(algorithm.to_owned())),
            }
        }
        KeyData::SkEcdsaSha2NistP256(key) => {
            require_uncompressed(key.ec_point().as_bytes())?;
            Ok(256)
        }
        KeyData::Rsa(key) => {
            let bits = modulus_bits(key.n().as_positive_bytes().unwrap_or_default());
            let min = policy.min_rsa_bits.max(RSA_FLOOR_BITS);
            if bits < min {
                return Err(SshError::RsaTooShort { bits, min });
            }
            if bits > MAX_RSA_BITS {
                return Err(SshError::RsaTooLong {
                    bits,
                    max: MAX_RSA_BITS,
                });
            }
            Ok(bits)
        }
        _ => Err(SshError::UnsupportedAlgorithm(algorithm.to_owned())),
    }
}

/// OpenSSH only reads uncompressed points (tag 4); `ssh-key` also takes compressed ones, which
/// would give a key that is stored and fingerprinted but never works in `sshd`.
fn require_uncompressed(sec1: &[u8]) -> Result<(), SshError> {
    match sec1.first() {
        Some(4) => Ok(()),
        _ => Err(SshError::Malformed(
            "the ECDSA point is not in uncompressed form".to_owned(),
        )),
    }
}

/// Significant bits of a big-endian unsigned integer without leading zero bytes (an mpint
/// after `as_positive_bytes`), as OpenSSL's `BN_num_bits` counts them.
fn modulus_bits(bytes: &[u8]) -> u32 {
    let Some(first) = bytes.first() else {
        return 0;
    };
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    len.saturating_mul(8).saturating_sub(first.leading_zeros())
}

fn check_option(option: &str) -> Result<(), SshError> {
    let invalid = |why: &str| SshError::InvalidOption(format!("`{}`: {why}", echo(option)));
    if option.len() > MAX_OPTION_BYTES {
        return Err(invalid("too long"));
    }
    let (name, value) = match option.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (option, None),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid(
            "an option name is made of ASCII letters, digits and '-'",
        ));
    }
    if let Some(value) = value {
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| invalid("an option value must be enclosed in double quotes"))?;
        if inner
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(invalid(
                "an option value must not contain quotes, backslashes or control characters",
            ));
        }
    }
    Ok(())
}

/// A user-supplied token shortened for an error message.
fn echo(token: &str) -> String {
    let mut chars = token.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests;
