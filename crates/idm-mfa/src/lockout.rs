//! Temporary account lockout after repeated failed logins, as a state machine over time.
//!
//! The caller stores one [`LockoutState`] per account, passes `now` in, and asks
//! [`LockoutPolicy::check`] before verifying a credential; after verifying it reports the
//! outcome with [`LockoutPolicy::record_failure`] or [`LockoutPolicy::record_success`].
//!
//! The design is Kanidm's soft lock: a lock only lasts `lockout_secs` and failures while
//! locked neither count nor extend it. An attacker who knows a user name can therefore
//! delay that user by at most one lock period at a time, never lock them out for good, while
//! online guessing is held to `max_failures` guesses per `window_secs + lockout_secs`.
//!
//! Failures are counted in a fixed window that opens at the first failure (not a sliding
//! one): the state stays three small fields, and the bound on guesses is the same up to a
//! factor of two.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How many failures lock an account, within what time, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Failures within one window that lock the account. 0 acts as 1.
    pub max_failures: u32,
    /// Length of the counting window in seconds, from the first failure. Negative acts as 0.
    pub window_secs: i64,
    /// How long a lock lasts in seconds. Negative acts as 0.
    pub lockout_secs: i64,
}

impl Default for LockoutPolicy {
    /// 5 failures in 15 minutes lock for 15 minutes: few enough to stop online guessing
    /// (at most 480 guesses a day per account), many enough for a user with typos.
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_secs: 900,
            lockout_secs: 900,
        }
    }
}

/// Failed-login bookkeeping for one account, stored by the caller.
///
/// [`Default`] is the state of an account with no recent failures. Unknown fields are ignored when reading it back, so a state written by a newer version
/// still loads after a downgrade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockoutState {
    /// Failures counted in the current window.
    pub failures: u32,
    /// When the current window opened (the first failure counted in it).
    pub window_start: Option<DateTime<Utc>>,
    /// The account is locked before this instant.
    pub locked_until: Option<DateTime<Utc>>,
}

/// Whether a login attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a lockout decision that is not acted on locks nothing"]
pub enum LockoutDecision {
    /// Go on and verify the credential.
    Allowed,
    /// Refuse without verifying the credential, until `until`.
    Locked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
}

/// What a failed attempt did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the outcome says whether the account just got locked"]
pub enum FailureOutcome {
    /// Counted; `remaining` more failures in this window lock the account.
    Counted {
        /// Failures left before the lock.
        remaining: u32,
    },
    /// This failure locked the account until `until`.
    LockedNow {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// The account was already locked: the failure is not counted and the lock not extended
    /// (the attempt should not have been verified — see [`LockoutPolicy::check`]).
    AlreadyLocked {
        /// When the running lock ends.
        until: DateTime<Utc>,
    },
}

impl LockoutPolicy {
    /// Whether an attempt at `now` may be verified.
    pub fn check(&self, state: &LockoutState, now: DateTime<Utc>) -> LockoutDecision {
        match state.locked_until {
            Some(until) if now < until => LockoutDecision::Locked { until },
            _ => LockoutDecision::Allowed,
        }
    }

    /// Count a failed attempt at `now`.
    ///
    /// After a lock has ended the account starts afresh with a full allowance. A clock that
    /// went backwards (`now` before the window start) keeps counting in the current window,
    /// so a clock step cannot be used to reset the count.
    pub fn record_failure(&self, state: &mut LockoutState, now: DateTime<Utc>) -> FailureOutcome {
        if let LockoutDecision::Locked { until } = self.check(state, now) {
            return FailureOutcome::AlreadyLocked { until };
        }
        if state.locked_until.is_some() {
            *state = LockoutState::default();
        }
        let window_open = state
            .window_start
            .is_some_and(|start| now < add_secs(start, self.window_secs));
        if !window_open {
            state.failures = 0;
            state.window_start = Some(now);
        }
        state.failures = state.failures.saturating_add(1);

        let max = self.max_failures.max(1);
        if state.failures >= max {
            let until = add_secs(now, self.lockout_secs);
            state.locked_until = Some(until);
            return FailureOutcome::LockedNow { until };
        }
        FailureOutcome::Counted {
            remaining: max - state.failures,
        }
    }

    /// Forget past failures after a successful login.
    ///
    /// Call it only after [`LockoutPolicy::check`] allowed the attempt, or a correct guess
    /// during a lock would lift it.
    pub fn record_success(&self, state: &mut LockoutState) {
        *state = LockoutState::default();
    }
}

/// `at + secs`, with negative durations as 0 and overflow saturating at the latest
/// representable instant, so no configuration value can make this panic.
fn add_secs(at: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    TimeDelta::try_seconds(secs.max(0))
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds after a fixed instant, so every test reads as a timeline.
    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Fail(i64),
        Succeed,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expect {
        Counted(u32),
        LockedNow(i64),
        AlreadyLocked(i64),
        Reset,
    }

    fn run(policy: &LockoutPolicy, steps: &[(Step, Expect)]) -> LockoutState {
        let mut state = LockoutState::default();
        for (i, (step, expect)) in steps.iter().enumerate() {
            match step {
                Step::Fail(at) => {
                    let got = policy.record_failure(&mut state, t(*at));
                    let want = match expect {
                        Expect::Counted(remaining) => FailureOutcome::Counted {
                            remaining: *remaining,
                        },
                        Expect::LockedNow(until) => FailureOutcome::LockedNow { until: t(*until) },
                        Expect::AlreadyLocked(until) => {
                            FailureOutcome::AlreadyLocked { until: t(*until) }
                        }
                        Expect::Reset => panic!("step {i}: a failure cannot reset"),
                    };
                    assert_eq!(got, want, "step {i}: {step:?}, state {state:?}");
                }
                Step::Succeed => {
                    assert_eq!(*expect, Expect::Reset);
                    policy.record_success(&mut state);
                    assert_eq!(state, LockoutState::default());
                }
            }
        }
        state
    }

    use Expect::*;
    use Step::*;

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let policy = LockoutPolicy::default();
        let state = run(
            &policy,
            &[
                (Fail(0), Counted(4)),
                (Fail(10), Counted(3)),
                (Fail(20), Counted(2)),
                (Fail(30), Counted(1)),
                (Fail(40), LockedNow(940)),
            ],
        );
        assert_eq!(
            policy.check(&state, t(40)),
            LockoutDecision::Locked { until: t(940) }
        );
        assert_eq!(
            policy.check(&state, t(939)),
            LockoutDecision::Locked { until: t(940) }
        );
        assert_eq!(policy.check(&state, t(940)), LockoutDecision::Allowed);
        assert_eq!(
            policy.check(&LockoutState::default(), t(0)),
            LockoutDecision::Allowed
        );
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let policy = LockoutPolicy::default();
        run(
            &policy,
            &[
                (Fail(0), Counted(4)),
                (Fail(1), Counted(3)),
                (Fail(2), Counted(2)),
                (Fail(3), Counted(1)),
                (Fail(4), LockedNow(904)),
                (Fail(5), AlreadyLocked(904)),
                (Fail(600), AlreadyLocked(904)),
                (Fail(903), AlreadyLocked(904)),
                // The lock is over: a full allowance again.
                (Fail(904), Counted(4)),
                (Fail(905), Counted(3)),
            ],
        );
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let policy = LockoutPolicy::default();
        run(
            &policy,
            &[
                (Fail(0), Counted(4)),
                (Fail(100), Counted(3)),
                (Fail(899), Counted(2)),
                // The window opened at 0 closes at 900: a new one starts.
                (Fail(900), Counted(4)),
                (Fail(1000), Counted(3)),
                (Fail(1100), Counted(2)),
                (Fail(1200), Counted(1)),
                (Fail(1799), LockedNow(2699)),
            ],
        );
    }

    #[test]
    fn success_resets() {
        let policy = LockoutPolicy::default();
        run(
            &policy,
            &[
                (Fail(0), Counted(4)),
                (Fail(1), Counted(3)),
                (Fail(2), Counted(2)),
                (Fail(3), Counted(1)),
                (Succeed, Reset),
                (Fail(4), Counted(4)),
            ],
        );
    }

    #[test]
    fn clock_going_backwards_keeps_counting() {
        let policy = LockoutPolicy::default();
        run(
            &policy,
            &[
                (Fail(100), Counted(4)),
                (Fail(50), Counted(3)),
                (Fail(-500), Counted(2)),
            ],
        );
    }

    #[test]
    fn odd_settings() {
        let one = LockoutPolicy {
            max_failures: 0,
            window_secs: 60,
            lockout_secs: 30,
        };
        run(&one, &[(Fail(0), LockedNow(30)), (Fail(30), LockedNow(60))]);

        let negative = LockoutPolicy {
            max_failures: 2,
            window_secs: -5,
            lockout_secs: -5,
        };
        // A zero-length window never holds two failures; a zero-length lock never blocks.
        run(&negative, &[(Fail(0), Counted(1)), (Fail(0), Counted(1))]);

        let forever = LockoutPolicy {
            max_failures: 1,
            window_secs: i64::MAX,
            lockout_secs: i64::MAX,
        };
        let mut state = LockoutState::default();
        assert_eq!(
            forever.record_failure(&mut state, t(0)),
            FailureOutcome::LockedNow {
                until: DateTime::<Utc>::MAX_UTC
            }
        );
        assert!(matches!(
            forever.check(&state, t(1_000_000_000)),
            LockoutDecision::Locked { .. }
        ));
    }

    #[test]
    fn single_failure_policy_of_three() {
        let policy = LockoutPolicy {
            max_failures: 3,
            window_secs: 60,
            lockout_secs: 300,
        };
        run(
            &policy,
            &[
                (Fail(0), Counted(2)),
                (Fail(59), Counted(1)),
                (Fail(60), Counted(2)),
                (Fail(61), Counted(1)),
                (Fail(62), LockedNow(362)),
                (Fail(361), AlreadyLocked(362)),
                (Fail(362), Counted(2)),
            ],
        );
    }

    #[test]
    fn serde() {
        let mut state = LockoutState::default();
        let policy = LockoutPolicy::default();
        let _ = policy.record_failure(&mut state, t(0));
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            r#"{"failures":1,"window_start":"2023-11-14T22:13:20Z","locked_until":null}"#
        );
        assert_eq!(serde_json::from_str::<LockoutState>(&json).unwrap(), state);
        assert_eq!(
            serde_json::from_str::<LockoutState>("{}").unwrap(),
            LockoutState::default()
        );
        let p: LockoutPolicy = serde_json::from_str(r#"{"max_failures": 10}"#).unwrap();
        assert_eq!(
            p,
            LockoutPolicy {
                max_failures: 10,
                ..LockoutPolicy::default()
            }
        );
    }
}
