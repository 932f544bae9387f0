//! Rules a new password must meet.
//!
//! Length and strength only, as NIST SP 800-63B asks: no composition rules (they make
//! passwords harder to remember, not to guess), a generous maximum so passphrases fit, and a
//! strength estimate (zxcvbn) that knows about dictionaries, keyboard patterns and the user's
//! own name.

use core::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Password;

/// Upper bound on [`PasswordPolicy::max_length`]: 256 characters are at most 1024 bytes of
/// UTF-8, which is [`crate::MAX_PASSWORD_BYTES`], so every password the policy accepts can
/// be hashed.
const MAX_LENGTH_CAP: usize = 256;

/// User inputs shorter than this are not looked for in the password: a two-letter name would
/// forbid too many good passwords.
const MIN_USER_INPUT_CHARS: usize = 3;

/// Best score zxcvbn gives.
const MAX_ZXCVBN_SCORE: u8 = 4;

/// Password rules, from the server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Fewest characters (Unicode scalar values, not bytes).
    pub min_length: usize,
    /// Most characters; values above 256 act as 256.
    pub max_length: usize,
    /// Lowest zxcvbn score (0–4) accepted; values above 4 act as 4.
    pub min_zxcvbn_score: u8,
}

impl Default for PasswordPolicy {
    /// 12 characters (more than NIST's floor of 8, since there is no composition rule),
    /// room for 256, and zxcvbn score 3 ("safely unguessable", about 10^10 guesses).
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: MAX_LENGTH_CAP,
            min_zxcvbn_score: 3,
        }
    }
}

impl PasswordPolicy {
    /// Check a password someone wants to set.
    ///
    /// `user_inputs` are the account's own words — name, display name, mail address. The
    /// password must not contain any of them of 3 characters or more, nor the local part of a
    /// mail address, ignoring case; and zxcvbn scores the password knowing them.
    ///
    /// zxcvbn copies the password internally and those copies are not wiped; ours are.
    ///
    /// # Errors
    /// The first [`PolicyViolation`] found, in the order length, user inputs, strength.
    pub fn check(&self, password: &Password, user_inputs: &[&str]) -> Result<(), PolicyViolation> {
        let text = password.expose_secret();
        let chars = text.chars().count();
        if chars < self.min_length {
            return Err(PolicyViolation::TooShort {
                min: self.min_length,
            });
        }
        let max = self.max_length.min(MAX_LENGTH_CAP);
        if chars > max {
            return Err(PolicyViolation::TooLong { max });
        }

        let lowered = Zeroizing::new(text.to_lowercase());
        for input in user_inputs {
            for fragment in input_fragments(input) {
                if fragment.chars().count() >= MIN_USER_INPUT_CHARS
                    && lowered.contains(&fragment.to_lowercase())
                {
                    return Err(PolicyViolation::ContainsUserInput {
                        what: fragment.to_owned(),
                    });
                }
            }
        }

        let min = self.min_zxcvbn_score.min(MAX_ZXCVBN_SCORE);
        let estimate = zxcvbn::zxcvbn(text, user_inputs);
        let score = u8::from(estimate.score());
        if score < min {
            let feedback = estimate.feedback().and_then(|f| {
                f.warning()
                    .map(|w| w.to_string())
                    .or_else(|| f.suggestions().first().map(ToString::to_string))
            });
            return Err(PolicyViolation::TooWeak {
                score,
                min,
                feedback,
            });
        }
        Ok(())
    }
}

/// Which password rule was broken.
///
/// Serialized with a `rule` tag (`{"rule":"too_short","min":12}`) so the server can return
/// it as is and a client can show its own translation; [`fmt::Display`] is the English
/// message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Fewer characters than the policy's minimum.
    TooShort {
        /// The minimum in characters.
        min: usize,
    },
    /// More characters than the policy's maximum.
    TooLong {
        /// The maximum in characters.
        max: usize,
    },
    /// The password contains the account name, the mail address or its local part.
    ContainsUserInput {
        /// The part of the user's data found in the password, as the user gave it.
        what: String,
    },
    /// zxcvbn estimates the password easy to guess.
    TooWeak {
        /// zxcvbn's score, 0 (trivial) to 4 (strong).
        score: u8,
        /// The lowest score accepted.
        min: u8,
        /// zxcvbn's warning or first suggestion, in English, when it has one.
        feedback: Option<String>,
    },
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { min } => {
                write!(f, "the password must be at least {min} characters long")
            }
            Self::TooLong { max } => {
                write!(f, "the password must be at most {max} characters long")
            }
            Self::ContainsUserInput { what } => write!(
                f,
                "the password must not contain your account name or e-mail address (\"{what}\")"
            ),
            Self::TooWeak {
                score,
                min,
                feedback,
            } => {
                write!(
                    f,
                    "the password is too easy to guess (strength {score} of 4, at least {min} required)"
                )?;
                match feedback {
                    Some(feedback) => write!(f, ": {feedback}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for PolicyViolation {}

/// The parts of one user input to look for: the input itself and, for a mail address, its
/// local part (people reuse `jane.doe` from `jane.doe@example.org`).
fn input_fragments(input: &str) -> impl Iterator<Item = &str> {
    let input = input.trim();
    let local = input
        .rsplit_once('@')
        .map(|(local, _)| local.trim())
        .filter(|local| !local.is_empty());
    core::iter::once(input).chain(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(
        policy: &PasswordPolicy,
        password: &str,
        inputs: &[&str],
    ) -> Result<(), PolicyViolation> {
        policy.check(&Password::from(password), inputs)
    }

    #[test]
    fn table() {
        let default = PasswordPolicy::default();
        let no_strength = PasswordPolicy {
            min_zxcvbn_score: 0,
            ..default
        };
        let inputs: &[&str] = &["alice", "Alice Liddell", "alice.liddell@example.org"];
        let cases: &[(&PasswordPolicy, &str, Option<&str>)] = &[
            (&default, "correct horse battery staple", None),
            (&default, "Tr0ub4dor&3-kettle-orbit", None),
            (&default, "purple tractor hums at midnight", None),
            (&default, "password123456", Some("too_weak")),
            (&default, "qwertyuiopasdf", Some("too_weak")),
            (&default, "aaaaaaaaaaaaaaaa", Some("too_weak")),
            (&default, "abc", Some("too_short")),
            (&default, "elevenchars", Some("too_short")),
            (&no_strength, "twelve chars", None),
            (&no_strength, &"x".repeat(256), None),
            (&no_strength, &"x".repeat(257), Some("too_long")),
            // Length counts characters, not bytes: 12 two-byte characters are enough,
            // 256 four-byte characters are not too many.
            (&no_strength, &"é".repeat(12), None),
            (&no_strength, &"é".repeat(11), Some("too_short")),
            (&no_strength, &"😀".repeat(256), None),
            // The user's own data, ignoring case.
            (
                &default,
                "my-ALICE-password-is-long",
                Some("contains_user_input"),
            ),
            (
                &default,
                "x alice.LIDDELL rides bikes",
                Some("contains_user_input"),
            ),
            (
                &default,
                "Alice Liddell in wonderland 7",
                Some("contains_user_input"),
            ),
        ];
        for (policy, password, expected) in cases {
            let got = check(policy, password, inputs);
            let rule = got.as_ref().err().map(|v| {
                serde_json::to_value(v).unwrap()["rule"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            });
            assert_eq!(rule.as_deref(), *expected, "{password:?}: {got:?}");
        }
    }

    #[test]
    fn user_input_details() {
        let policy = PasswordPolicy {
            min_zxcvbn_score: 0,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            check(&policy, "hello bob.smith there", &["bob.smith@example.org"]),
            Err(PolicyViolation::ContainsUserInput {
                what: "bob.smith".to_owned()
            })
        );
        assert_eq!(
            check(
                &policy,
                "I am Bob.Smith@Example.org!",
                &["bob.smith@example.org"]
            ),
            Err(PolicyViolation::ContainsUserInput {
                what: "bob.smith@example.org".to_owned()
            })
        );
        // Inputs shorter than three characters, and empty local parts, are not looked for.
        assert_eq!(
            check(&policy, "al is my friend, ok?", &["al", "@x", "", "  "]),
            Ok(())
        );
        assert!(check(&policy, "bob is my friend, ok?", &["bob"]).is_err());
    }

    #[test]
    fn user_inputs_weaken_the_score() {
        let policy = PasswordPolicy {
            min_length: 1,
            ..PasswordPolicy::default()
        };
        // Not contained literally, but zxcvbn sees the name in its l33t form.
        let got = check(&policy, "w1nst0nchurch1ll", &["winstonchurchill"]);
        assert!(
            matches!(got, Err(PolicyViolation::TooWeak { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn weak_password_feedback() {
        let got = check(&PasswordPolicy::default(), "password123456", &[]).unwrap_err();
        match &got {
            PolicyViolation::TooWeak {
                score,
                min,
                feedback,
            } => {
                assert!(*score < 3);
                assert_eq!(*min, 3);
                assert!(feedback.is_some());
            }
            other => panic!("{other:?}"),
        }
        let message = got.to_string();
        assert!(
            message.starts_with("the password is too easy to guess"),
            "{message}"
        );
    }

    #[test]
    fn display_and_serde() {
        assert_eq!(
            PolicyViolation::TooShort { min: 12 }.to_string(),
            "the password must be at least 12 characters long"
        );
        assert_eq!(
            PolicyViolation::TooLong { max: 256 }.to_string(),
            "the password must be at most 256 characters long"
        );
        assert_eq!(
            serde_json::to_string(&PolicyViolation::TooWeak {
                score: 1,
                min: 3,
                feedback: None
            })
            .unwrap(),
            r#"{"rule":"too_weak","score":1,"min":3,"feedback":null}"#
        );
        assert_eq!(
            PolicyViolation::TooWeak {
                score: 1,
                min: 3,
                feedback: Some("This is a top-10 common password.".to_owned())
            }
            .to_string(),
            "the password is too easy to guess (strength 1 of 4, at least 3 required): This is a top-10 common password."
        );
        let policy: PasswordPolicy = serde_json::from_str(r#"{"min_length": 15}"#).unwrap();
        assert_eq!(
            policy,
            PasswordPolicy {
                min_length: 15,
                ..PasswordPolicy::default()
            }
        );
    }

    #[test]
    fn out_of_range_settings_are_clamped() {
        let policy = PasswordPolicy {
            min_length: 0,
            max_length: 10_000,
            min_zxcvbn_score: 9,
        };
        assert_eq!(
            check(&policy, &"Zq8!".repeat(65), &[]),
            Err(PolicyViolation::TooLong { max: 256 })
        );
        assert_eq!(check(&policy, "correct horse battery staple", &[]), Ok(()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn check_never_panics(
            password in ".{0,300}",
            inputs in proptest::collection::vec(".{0,40}", 0..4),
        ) {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let _ = PasswordPolicy::default().check(&Password::from(password.as_str()), &inputs);
            let lenient = PasswordPolicy { min_length: 0, max_length: 300, min_zxcvbn_score: 0 };
            let _ = lenient.check(&Password::from(password.as_str()), &inputs);
        }
    }
}
