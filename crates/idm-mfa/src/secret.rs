//! Secret values: redacted in `Debug`, wiped from memory on drop, compared in constant time.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Longest password, in bytes, that is ever hashed. [`crate::PasswordPolicy`]'s 256
/// characters are at most 1024 bytes of UTF-8, so no password that passed the policy is
/// affected; longer input only costs an attacker the same as a normal guess.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password as typed by a user.
///
/// Construction never fails, so a request handler can wrap the input at once and every later
/// step — policy, hashing, verification — sees only this type: its `Debug` prints `***`, it
/// has no `Serialize`, and its bytes are wiped when it is dropped. Length rules belong to
/// [`crate::PasswordPolicy`] (when setting) and [`crate::verify_password`] (when checking).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl Password {
    /// Take ownership of the typed text; the caller's `String` is moved, not copied.
    #[must_use]
    pub fn new(password: String) -> Self {
        Self(password)
    }

    /// The password text, for the few places that need it (hashing, strength estimation).
    /// The name makes each use easy to find in review.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self::new(password)
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Self {
        Self::new(password.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl PartialEq for Password {
    /// Constant time in the content (the length may show), so comparing two secrets does not
    /// leak how many leading bytes matched.
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Password {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let password = Password::from("hunter2-hunter2");
        assert_eq!(format!("{password:?}"), "***");
        assert_eq!(format!("{:?}", Some(&password)), "Some(***)");
    }

    #[test]
    fn equality() {
        assert_eq!(Password::from("abc"), Password::new("abc".to_owned()));
        assert_ne!(Password::from("abc"), Password::from("abd"));
        assert_ne!(Password::from("abc"), Password::from("abcd"));
    }

    #[test]
    fn zeroize_clears() {
        let mut password = Password::from("secret");
        password.zeroize();
        assert_eq!(password.expose_secret(), "");
    }
}
