//! The app lane, live: SRS's `app` frames (issue 13 part 3).
//!
//! While a recording runs, SRS sends each active-window change on its
//! control channel ([`proto::control::FromAgent::App`]); RWS keeps it as the
//! same timeline mark the end report leaves (kind `app`, the class as the
//! reason, the title if the directory keeps titles), so the recording API,
//! `?app=` search and the console show the lane during the call, and a call
//! whose SRS dies keeps what it had sent.
//!
//! Every frame is hostile input (`threat-model.md` rule 1 and the bounds):
//!
//! * **flood** — each control channel has a [`Budget`] (a token bucket);
//!   frames past it are dropped before anything reads the database, and
//!   counted in one log line per [`LOG_EVERY`] drops;
//! * **whose** — the hub checks the session owns the recording (the check
//!   `status` frames get) before [`on_app`] runs;
//! * **shape** — class 1 to [`MAX_APP_CLASS_CHARS`] characters, title at
//!   most [`MAX_APP_TITLE_CHARS`], `at` RFC 3339 ([`check_shape`]); a frame
//!   out of bounds is refused whole, never stored cut;
//! * **when** — only while the recording is `requested`, `recording` or
//!   `paused` and its end is not reported, and `at` within its span (from
//!   [`SLACK`] before it was requested to [`SLACK`] after now: SRS's clock
//!   may be a little off) ([`judge`]);
//! * **how many** — at most [`MAX_APP_MARKS`] app marks per recording, end
//!   report included: the insert itself counts ([`store::recordings::mark_app`]).
//!
//! The state is the database's, not this node's memory: the frame may
//! arrive on any node of a cluster, and the mark is idempotent by
//! (recording, time, kind), so the copy in the end report, a frame resent
//! after a reconnect, or the same frame on two nodes is stored once.
//! Titles are never logged (a title may be what a masking rule hides:
//! SRS already replaced it by the rule's name, but logs need neither).

use std::time::{Duration, Instant};

use proto::upload::{MAX_APP_CLASS_CHARS, MAX_APP_MARKS, MAX_APP_TITLE_CHARS};
use time::OffsetDateTime;

use crate::Rws;
use crate::agent_input;
use crate::recording::{RecordingState, parse_time, rfc3339};
use crate::store;

/// Frames a channel may send back to back (an honest SRS sends at most
/// 20 at once, `recorder::apps::BURST`, plus what its outbox held while
/// the channel was down).
pub const BURST: u32 = 64;
/// Frames a channel may send per second once the burst is spent.
pub const PER_SECOND: u32 = 5;
/// One log line per this many dropped frames (a flood must not flood the
/// logs either).
pub const LOG_EVERY: u64 = 1000;
/// How far outside the recording's span a mark may be (SRS's clock).
pub const SLACK: Duration = Duration::from_secs(300);

/// One control channel's allowance of `app` frames (a token bucket).
#[derive(Debug)]
pub struct Budget {
    tokens: u32,
    refilled: Instant,
    dropped: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(Instant::now())
    }
}

impl Budget {
    /// A full bucket at `now`.
    pub fn new(now: Instant) -> Budget {
        Budget {
            tokens: BURST,
            refilled: now,
            dropped: 0,
        }
    }

    /// True when a frame arriving at `now` may be handled; false (and
    /// counted) when it is to be dropped.
    pub fn take(&mut self, now: Instant) -> bool {
        let step = Duration::from_secs(1) / PER_SECOND;
        let earned = now.saturating_duration_since(self.refilled).as_millis() / step.as_millis();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = BURST.min(self.tokens.saturating_add(earned));
            self.refilled = if self.tokens == BURST {
                now
            } else {
                self.refilled + step * earned
            };
        }
        if self.tokens == 0 {
            self.dropped += 1;
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// Frames dropped so far, when this drop is one to log.
    pub fn to_log(&self) -> Option<u64> {
        (self.dropped % LOG_EVERY == 1).then_some(self.dropped)
    }
}

/// Why a frame is not kept (for the log; the frame is not answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Out of bounds (what is wrong).
    Shape(String),
    /// The recording is over (its state, or its end was reported).
    Ended(String),
    /// `at` is far outside the recording's span.
    OutOfSpan,
    /// The recording has [`MAX_APP_MARKS`] app marks already.
    Full,
    /// No such recording.
    Unknown,
}

/// Checks class, title and time of a frame.
pub fn check_shape(at: &str, class: &str, title: Option<&str>) -> Result<OffsetDateTime, Refused> {
    let class_len = class.chars().count();
    let title_len = title.map_or(0, |t| t.chars().count());
    if class_len == 0 || class_len > MAX_APP_CLASS_CHARS {
        return Err(Refused::Shape(format!(
            "class of {class_len} characters (1 to {MAX_APP_CLASS_CHARS})"
        )));
    }
    if title_len > MAX_APP_TITLE_CHARS {
        return Err(Refused::Shape(format!(
            "title of {title_len} characters (at most {MAX_APP_TITLE_CHARS})"
        )));
    }
    parse_time(at).ok_or_else(|| {
        Refused::Shape(format!(
            "'at' is not RFC 3339: '{}'",
            agent_input::bounded(at, 64)
        ))
    })
}

/// Whether a mark at `at` may join a recording in `state` (its end
/// reported or not), requested at `requested`, when it arrives at `now`.
pub fn judge(
    state: RecordingState,
    end_reported: bool,
    requested: OffsetDateTime,
    at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), Refused> {
    let running = matches!(
        state,
        RecordingState::Requested | RecordingState::Recording | RecordingState::Paused
    );
    if !running || end_reported {
        return Err(Refused::Ended(state.as_str().to_string()));
    }
    if at < requested - SLACK || at > now + SLACK {
        return Err(Refused::OutOfSpan);
    }
    Ok(())
}

/// Keeps the app change of a frame for `recording_id` (whose session the
/// hub checked owns it). Returns whether it was stored now (false: it was
/// there already, or refused — logged, without the title).
pub async fn on_app(
    rws: &Rws,
    recording_id: &str,
    at: &str,
    class: &str,
    title: Option<&str>,
) -> Result<bool, Refused> {
    let refused = |why: Refused| {
        tracing::warn!(recording = %agent_input::bounded(recording_id, 64), why = ?why, "control channel: app change refused");
        why
    };
    let when = check_shape(at, class, title).map_err(refused)?;
    let rec = match crate::recordings::get(&rws.db, recording_id).await {
        Ok(Some(rec)) => rec,
        Ok(None) => return Err(refused(Refused::Unknown)),
        Err(e) => {
            tracing::error!(recording = %recording_id, error = %e, "reading a recording for an app change");
            return Ok(false);
        }
    };
    let requested = parse_time(&rec.requested_at).unwrap_or(when);
    judge(
        rec.state,
        rec.end_reported,
        requested,
        when,
        OffsetDateTime::now_utc(),
    )
    .map_err(refused)?;
    match store::recordings::mark_app(&rws.db, &rec.id, &rfc3339(when), class, title, cap()).await {
        Ok(true) => Ok(true),
        Ok(false) => {
            // Already there (a resend) or the lane is full: only the
            // latter is worth a line.
            match store::recordings::app_marks(&rws.db, &rec.id).await {
                Ok(n) if n >= cap() => Err(refused(Refused::Full)),
                _ => Ok(false),
            }
        }
        Err(e) => {
            tracing::error!(recording = %rec.id, error = %e, "storing an app change");
            Ok(false)
        }
    }
}

/// [`MAX_APP_MARKS`] as the store counts.
pub fn cap() -> i64 {
    i64::try_from(MAX_APP_MARKS).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> OffsetDateTime {
        parse_time(s).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn a_budget_lets_the_burst_through_then_a_few_per_second() {
        let t0 = Instant::now();
        let mut b = Budget::new(t0);
        let passed = (0..10_000).filter(|_| b.take(t0)).count();
        assert_eq!(passed, BURST as usize);
        assert_eq!(b.dropped, 10_000 - u64::from(BURST));
        // One second later: PER_SECOND more, no more.
        let t1 = t0 + Duration::from_secs(1);
        let passed = (0..100).filter(|_| b.take(t1)).count();
        assert_eq!(passed, PER_SECOND as usize);
        // A long quiet spell refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        let passed = (0..1000).filter(|_| b.take(t2)).count();
        assert_eq!(passed, BURST as usize);
    }

    #[test]
    fn drops_are_logged_once_per_thousand() {
        let t0 = Instant::now();
        let mut b = Budget::new(t0);
        let mut lines = 0;
        for _ in 0..(BURST as usize + 2500) {
            if !b.take(t0) && b.to_log().is_some() {
                lines += 1;
            }
        }
        assert_eq!(lines, 3);
    }

    #[test]
    fn shapes_out_of_bounds_are_refused_whole() {
        let at = "2026-11-30T10:00:00.000Z";
        assert!(check_shape(at, "XTerm", Some("bash")).is_ok());
        assert!(check_shape(at, "XTerm", None).is_ok());
        assert!(matches!(check_shape(at, "", None), Err(Refused::Shape(_))));
        let long_class = "C".repeat(MAX_APP_CLASS_CHARS + 1);
        assert!(matches!(
            check_shape(at, &long_class, None),
            Err(Refused::Shape(_))
        ));
        let long_title = "t".repeat(MAX_APP_TITLE_CHARS + 1);
        assert!(matches!(
            check_shape(at, "XTerm", Some(&long_title)),
            Err(Refused::Shape(_))
        ));
        // Characters, not bytes: the longest title of wide characters is fine.
        let wide = "é".repeat(MAX_APP_TITLE_CHARS);
        assert!(check_shape(at, "XTerm", Some(&wide)).is_ok());
        assert!(matches!(
            check_shape("yesterday", "XTerm", None),
            Err(Refused::Shape(_))
        ));
    }

    #[test]
    fn a_mark_joins_only_a_running_recording_within_its_span() {
        let requested = t("2026-11-30T10:00:00.000Z");
        let now = t("2026-11-30T10:10:00.000Z");
        let at = t("2026-11-30T10:05:00.000Z");
        for state in [
            RecordingState::Requested,
            RecordingState::Recording,
            RecordingState::Paused,
        ] {
            assert_eq!(judge(state, false, requested, at, now), Ok(()));
            assert!(matches!(
                judge(state, true, requested, at, now),
                Err(Refused::Ended(_))
            ));
        }
        for state in [
            RecordingState::Finalizing,
            RecordingState::Completed,
            RecordingState::Partial,
            RecordingState::Failed,
        ] {
            assert!(matches!(
                judge(state, false, requested, at, now),
                Err(Refused::Ended(_))
            ));
        }
        let ok = RecordingState::Recording;
        // A little clock skew either way is fine; far out is not.
        assert_eq!(judge(ok, false, requested, requested - SLACK, now), Ok(()));
        assert_eq!(judge(ok, false, requested, now + SLACK, now), Ok(()));
        let second = time::Duration::seconds(1);
        assert_eq!(
            judge(ok, false, requested, requested - SLACK - second, now),
            Err(Refused::OutOfSpan)
        );
        assert_eq!(
            judge(ok, false, requested, now + SLACK + second, now),
            Err(Refused::OutOfSpan)
        );
        assert_eq!(
            judge(ok, false, requested, t("2001-01-01T00:00:00Z"), now),
            Err(Refused::OutOfSpan)
        );
    }
}
