//! Times on the command line: RFC 3339, a bare date (midnight UTC), or — where a moment in the
//! past is wanted — a duration ago (`15m`, `2h`, `7d`).
//!
//! Parsing never reads the clock: relative times stay [`TimeArg::Ago`] until
//! [`TimeArg::resolve`] is given `now`, so the parsers are plain table tests.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};

/// A moment given on the command line, possibly relative to when the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    At(DateTime<Utc>),
    Ago(TimeDelta),
}

impl TimeArg {
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeArg::At(t) => t,
            TimeArg::Ago(d) => now - d,
        }
    }
}

/// A time attribute to set, or to clear (`never` for an expiry, `any` for a start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOrClear {
    Set(DateTime<Utc>),
    Clear,
}

impl SetOrClear {
    /// The JSON-patch form: `Some(None)` serialises as `null`, which clears the field.
    pub fn into_patch(self) -> Option<Option<DateTime<Utc>>> {
        match self {
            SetOrClear::Set(t) => Some(Some(t)),
            SetOrClear::Clear => Some(None),
        }
    }
}

/// An absolute time: RFC 3339, or `YYYY-MM-DD` meaning midnight UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "`{s}` is not a time: use RFC 3339 (2026-12-31T00:00:00Z) or a date (2026-12-31)"
    ))
}

/// An absolute time, or a duration ago such as `15m`, `2h`, `7d`.
pub fn parse_time_or_ago(s: &str) -> Result<TimeArg, String> {
    if let Some(d) = parse_duration(s.trim()) {
        return Ok(TimeArg::Ago(d));
    }
    parse_time(s).map(TimeArg::At).map_err(|_| {
        format!(
            "`{}` is not a time: use RFC 3339 (2026-12-31T00:00:00Z), a date (2026-12-31) \
             or a duration ago (30s, 15m, 2h, 7d, 2w)",
            s.trim()
        )
    })
}

/// An expiry: a time, or `never` to clear it.
pub fn parse_expiry(s: &str) -> Result<SetOrClear, String> {
    if s.trim().eq_ignore_ascii_case("never") {
        return Ok(SetOrClear::Clear);
    }
    parse_time(s)
        .map(SetOrClear::Set)
        .map_err(|e| format!("{e}, or `never`"))
}

/// A start of validity: a time, or `any` to clear it.
pub fn parse_valid_from(s: &str) -> Result<SetOrClear, String> {
    if s.trim().eq_ignore_ascii_case("any") {
        return Ok(SetOrClear::Clear);
    }
    parse_time(s)
        .map(SetOrClear::Set)
        .map_err(|e| format!("{e}, or `any`"))
}

/// How times are shown: RFC 3339 to the second, in UTC, so that output can be pasted back.
pub fn show(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `Some(t)` shown, or `fallback` for an absent time.
pub fn show_opt(t: Option<DateTime<Utc>>, fallback: &str) -> String {
    t.map_or_else(|| fallback.to_owned(), show)
}

/// `<number><unit>` with unit s, m, h, d or w; `None` when `s` is not of that shape.
pub(crate) fn parse_duration(s: &str) -> Option<TimeDelta> {
    let unit = s.chars().last()?;
    let digits = s.get(..s.len() - unit.len_utf8())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    match unit {
        's' => TimeDelta::try_seconds(n),
        'm' => TimeDelta::try_minutes(n),
        'h' => TimeDelta::try_hours(n),
        'd' => TimeDelta::try_days(n),
        'w' => TimeDelta::try_weeks(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn absolute_times() {
        let cases = [
            ("2026-12-31T00:00:00Z", "2026-12-31T00:00:00Z"),
            ("2026-12-31", "2026-12-31T00:00:00Z"),
            (" 2026-12-31 ", "2026-12-31T00:00:00Z"),
            ("2026-06-01T12:30:00+02:00", "2026-06-01T10:30:00Z"),
            ("2026-06-01T12:30:00.5Z", "2026-06-01T12:30:00.5Z"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time(input).unwrap(), at(want), "{input}");
        }
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-12-31T00:00:00",
            "12/31/2026",
            "7d",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_times_resolve_against_now() {
        let now = at("2026-01-10T12:00:00Z");
        let cases = [
            ("30s", "2026-01-10T11:59:30Z"),
            ("15m", "2026-01-10T11:45:00Z"),
            ("2h", "2026-01-10T10:00:00Z"),
            ("7d", "2026-01-03T12:00:00Z"),
            ("1w", "2026-01-03T12:00:00Z"),
            ("0m", "2026-01-10T12:00:00Z"),
            ("2026-01-01", "2026-01-01T00:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_time_or_ago(input).unwrap().resolve(now),
                at(want),
                "{input}"
            );
        }
        for bad in [
            "m",
            "15",
            "-5m",
            "5y",
            "1.5h",
            "15 m",
            "99999999999999999999d",
            "5é",
        ] {
            assert!(parse_time_or_ago(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clearing_words() {
        assert_eq!(parse_expiry("never").unwrap(), SetOrClear::Clear);
        assert_eq!(parse_expiry("NEVER").unwrap(), SetOrClear::Clear);
        assert_eq!(
            parse_expiry("2026-12-31").unwrap(),
            SetOrClear::Set(at("2026-12-31T00:00:00Z"))
        );
        assert!(parse_expiry("any").is_err());
        assert_eq!(parse_valid_from("any").unwrap(), SetOrClear::Clear);
        assert!(parse_valid_from("never").is_err());
        assert_eq!(SetOrClear::Clear.into_patch(), Some(None));
    }

    #[test]
    fn shown_times_parse_back() {
        let t = at("2026-12-31T23:59:59Z");
        assert_eq!(show(t), "2026-12-31T23:59:59Z");
        assert_eq!(parse_time(&show(t)).unwrap(), t);
        assert_eq!(show_opt(None, "never"), "never");
    }
}
