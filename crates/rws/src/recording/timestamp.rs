//! [`Timestamp`]: an instant in UTC, written the one way RWS stores times.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, shown and stored as RFC 3339 in UTC with exactly three
/// fraction digits (`2026-01-05T10:00:00.000Z`).
///
/// A fixed width makes text order time order, which is how the database
/// compares stored times (`time`'s own RFC 3339 trims trailing zeros, so
/// `10:00:00.1Z` would sort after `10:00:00.11Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// Stored or received text that is not an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an RFC 3339 time")]
pub struct BadTimestamp(pub String);

impl Timestamp {
    /// Now.
    pub fn now() -> Timestamp {
        Timestamp::from(OffsetDateTime::now_utc())
    }

    /// The instant as `time`'s type (in UTC).
    pub fn as_offset(self) -> OffsetDateTime {
        self.0
    }

    /// `self + d`, or `None` past the end of the calendar.
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        self.0
            .checked_add(time::Duration::try_from(d).ok()?)
            .map(Timestamp)
    }

    /// `self - d`, or `None` before the start of the calendar.
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        self.0
            .checked_sub(time::Duration::try_from(d).ok()?)
            .map(Timestamp)
    }

    /// Whole seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn whole_seconds_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).whole_seconds()
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Timestamp {
        Timestamp(t.to_offset(time::UtcOffset::UTC))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl FromStr for Timestamp {
    type Err = BadTimestamp;

    /// Any RFC 3339 time (any offset, any fraction width), normalised to UTC.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(Timestamp::from)
            .map_err(|_| BadTimestamp(s.to_string()))
    }
}

// The three helpers below are the string forms every module stores and
// compares; they live here, beside `Timestamp`, so that nothing needs a
// handler module for them.

/// Now, RFC 3339.
pub fn now() -> String {
    Timestamp::now().to_string()
}

/// RFC 3339 in UTC with exactly three fraction digits (`2026-01-05T10:00:00.000Z`),
/// the one form every stored time has ([`Timestamp`] says why).
pub fn rfc3339(t: OffsetDateTime) -> String {
    Timestamp::from(t).to_string()
}

/// Parses RFC 3339 (any offset; the instant is in UTC).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    s.parse::<Timestamp>().ok().map(Timestamp::as_offset)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use expect_test::expect;

    use super::Timestamp;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test time parses")
    }

    #[test]
    fn written_with_one_width_in_utc() {
        let out: Vec<String> = [
            "2026-01-05T10:00:00Z",
            "2026-01-05T10:00:00.1Z",
            "2026-01-05T10:00:00.123456Z",
            "2026-01-05T11:00:00.5+01:00",
            "2026-01-05T00:30:00-01:00",
            // RFC 3339 §5.6 allows a space for the `T`; `time` reads it.
            "2026-01-05 10:00:00Z",
        ]
        .iter()
        .map(|s| format!("{s} -> {}", ts(s)))
        .collect();
        expect![[r#"
            2026-01-05T10:00:00Z -> 2026-01-05T10:00:00.000Z
            2026-01-05T10:00:00.1Z -> 2026-01-05T10:00:00.100Z
            2026-01-05T10:00:00.123456Z -> 2026-01-05T10:00:00.123Z
            2026-01-05T11:00:00.5+01:00 -> 2026-01-05T10:00:00.500Z
            2026-01-05T00:30:00-01:00 -> 2026-01-05T01:30:00.000Z
            2026-01-05 10:00:00Z -> 2026-01-05T10:00:00.000Z"#]]
        .assert_eq(&out.join("\n"));
    }

    /// Checked against `time`'s own formatter with a fixed-width
    /// description, over instants with every fraction width.
    #[test]
    fn formats_like_a_fixed_width_description() {
        let fixed = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let base = time::macros::datetime!(2026-01-05 10:00:00 UTC);
        for ns in [
            0,
            1,
            999_999,
            1_000_000,
            100_000_000,
            123_456_789,
            999_999_999,
        ] {
            let t = base + time::Duration::nanoseconds(ns);
            let want = t.format(&fixed).expect("formats");
            assert_eq!(Timestamp::from(t).to_string(), want, "{ns} ns");
            let east = t.to_offset(time::macros::offset!(+05:30));
            assert_eq!(Timestamp::from(east).to_string(), want, "{ns} ns at +05:30");
        }
    }

    #[test]
    fn garbage_is_an_error_naming_it() {
        for bad in [
            "",
            "yesterday",
            "2026-01-05",
            "2026-01-05T10:00:00",
            "2026-13-05T10:00:00Z",
        ] {
            let err = bad.parse::<Timestamp>().expect_err("not a time");
            assert_eq!(err.0, bad);
        }
        expect![["'soon' is not an RFC 3339 time"]].assert_eq(
            &"soon"
                .parse::<Timestamp>()
                .expect_err("garbage")
                .to_string(),
        );
    }

    #[test]
    fn arithmetic_and_order() {
        let t = ts("2026-01-05T10:00:00Z");
        let later = t
            .checked_add(Duration::from_millis(1500))
            .expect("in range");
        assert_eq!(later.to_string(), "2026-01-05T10:00:01.500Z");
        assert!(later > t);
        assert_eq!(later.whole_seconds_since(t), 1);
        assert_eq!(t.whole_seconds_since(later), -1);
        assert_eq!(later.checked_sub(Duration::from_millis(1500)), Some(t));
        assert_eq!(t.checked_add(Duration::MAX), None);
    }
}
