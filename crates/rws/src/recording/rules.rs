//! The decisions about a recording's state: given typed facts (read by the
//! caller from the database, the clock, SRS), which state it moves to and
//! with which reason. The reason texts are the ones the API and the
//! lifecycle events show.

use std::time::Duration;

use proto::control::RecordingStatus;

use super::state::RecordingState;
use super::timestamp::Timestamp;

/// Move a recording to `to`, with `reason` (`None` keeps the reason it has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The state to reach.
    pub to: RecordingState,
    /// Why (shown as the recording's `reason`); `None` keeps the current one.
    pub reason: Option<String>,
}

impl Decision {
    fn new(to: RecordingState, reason: Option<&str>) -> Decision {
        Decision {
            to,
            reason: reason.map(str::to_string),
        }
    }

    /// The moves that reach `to` from `from`, in order: `completed` and
    /// `partial` are reached only through `finalizing`, so a recording that
    /// is still active passes through it first (keeping its reason there).
    /// Empty when `to` cannot be reached from `from` at all.
    pub fn steps(&self, from: RecordingState) -> Vec<Decision> {
        if from.can_move_to(self.to) {
            return vec![self.clone()];
        }
        let via = RecordingState::Finalizing;
        if from.can_move_to(via) && via.can_move_to(self.to) {
            return vec![Decision::new(via, None), self.clone()];
        }
        Vec::new()
    }
}

/// What the database holds about a recording's media files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaTally {
    /// Media files created (one a stream).
    pub files: i64,
    /// Of those, moved to storage.
    pub stored: i64,
    /// Bytes uploaded over all files.
    pub bytes: i64,
    /// Files with a segment index (at least one segment a tenant key opens).
    pub indexed: i64,
}

/// The facts [`finish`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct FinishFacts<'a> {
    /// The recording's state.
    pub state: RecordingState,
    /// SRS sent its end report (every media file uploaded).
    pub end_reported: bool,
    /// SRS did not stop cleanly (crash, kill; it recovered its spool).
    pub interrupted: bool,
    /// Media files SRS reported in its end report.
    pub media_expected: Option<i64>,
    /// The media files in the database.
    pub media: MediaTally,
    /// The recording's reason so far (the stop reason).
    pub reason: Option<&'a str>,
}

/// Stop reasons after which what arrived is only part of the recording.
pub const INTERRUPTING_REASONS: [&str; 3] = ["spool_full", "capture_failed", "srs_restarted"];

/// What [`finish`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Not stopped yet (only a `finalizing` recording finishes).
    NotFinalizing,
    /// SRS has not reported the end of its uploads.
    AwaitingEnd,
    /// A media file is not in storage yet, or fewer files than SRS reported.
    AwaitingMedia,
    /// Finished.
    Done(Decision),
}

/// The finishing rule: a `finalizing` recording whose end SRS reported and
/// whose media files are all in storage becomes
/// - `failed` when no byte arrived, or none of them is playable;
/// - `partial` when SRS was interrupted or stopped for a reason that cuts
///   the recording short ([`INTERRUPTING_REASONS`]);
/// - `completed` otherwise.
pub fn finish(f: &FinishFacts<'_>) -> Finish {
    if f.state != RecordingState::Finalizing {
        return Finish::NotFinalizing;
    }
    if !f.end_reported {
        return Finish::AwaitingEnd;
    }
    let m = f.media;
    if m.stored < m.files || m.files < f.media_expected.unwrap_or(0) {
        return Finish::AwaitingMedia;
    }
    let decision = if m.files == 0 || m.bytes == 0 {
        let why = format!("no media was recorded ({})", f.reason.unwrap_or("unknown"));
        Decision::new(RecordingState::Failed, Some(&why))
    } else if m.indexed == 0 {
        // Bytes arrived, but no tenant key opens a single segment of them:
        // nothing is playable, so the recording is not `completed`.
        let why = format!(
            "{} bytes were uploaded but none of them is playable media",
            m.bytes
        );
        Decision::new(RecordingState::Failed, Some(&why))
    } else if f.interrupted || f.reason.is_some_and(|r| INTERRUPTING_REASONS.contains(&r)) {
        Decision::new(RecordingState::Partial, f.reason)
    } else {
        Decision::new(RecordingState::Completed, f.reason)
    };
    Finish::Done(decision)
}

/// The reason a recording keeps once SRS reports its end: what SRS
/// reports when it was interrupted (that is what happened), else the
/// reason RWS stopped it for, else SRS's.
pub fn end_reason(interrupted: bool, reported: &str, stop_reason: Option<&str>) -> String {
    if interrupted {
        reported.to_string()
    } else {
        stop_reason.unwrap_or(reported).to_string()
    }
}

/// The orphan timing: an unfinished recording is orphaned when nothing
/// happened to it (upload, state change) for longer than `orphan_after`
/// — strictly: at exactly `orphan_after` it is still waited for.
pub fn is_orphaned(last_activity: Timestamp, now: Timestamp, orphan_after: Duration) -> bool {
    now.checked_sub(orphan_after)
        .is_some_and(|limit| last_activity < limit)
}

/// What an orphaned recording becomes once its staged uploads are stored:
/// `partial` when some playable bytes arrived (a segment index), `failed`
/// otherwise.
pub fn orphan(playable_bytes: i64, orphan_after: Duration) -> Decision {
    let why = format!(
        "SRS went silent for {} s before the recording ended",
        orphan_after.as_secs()
    );
    let to = if playable_bytes > 0 {
        RecordingState::Partial
    } else {
        RecordingState::Failed
    };
    Decision::new(to, Some(&why))
}

/// The max-duration rule: an active recording is stopped once it has
/// recorded `max_duration_s` seconds (at exactly that many, not before).
/// A recording SRS never acknowledged has no start and is not timed.
pub fn over_max_duration(
    state: RecordingState,
    started_at: Option<Timestamp>,
    now: Timestamp,
    max_duration_s: i64,
) -> bool {
    state.is_active() && started_at.is_some_and(|t| now.whole_seconds_since(t) >= max_duration_s)
}

/// SRS's answer to `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAnswer<'a> {
    /// SRS acknowledged and records.
    Accepted,
    /// SRS refused, with its error if it gave one.
    Refused(Option<&'a str>),
    /// The session ended before SRS answered.
    Unanswered,
    /// `start` could not be sent: the session is gone.
    NotSent,
}

/// What SRS's answer to `start` does to the recording. `None` for a
/// session that ended before answering: SRS may have started, and its
/// uploads (with the upload token) or the orphan sweep decide.
pub fn start_answer(answer: StartAnswer<'_>) -> Option<Decision> {
    match answer {
        StartAnswer::Accepted => Some(Decision::new(RecordingState::Recording, None)),
        StartAnswer::Refused(why) => Some(Decision::new(
            RecordingState::Failed,
            Some(why.unwrap_or("SRS refused to start")),
        )),
        StartAnswer::Unanswered => None,
        StartAnswer::NotSent => Some(Decision::new(
            RecordingState::Failed,
            Some("the agent's SRS session ended"),
        )),
    }
}

/// A pause or resume to note on the recording's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Frames blanked from here.
    Paused,
    /// Frames recorded again from here.
    Resumed,
}

impl Mark {
    /// The stored kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Paused => "paused",
            Mark::Resumed => "resumed",
        }
    }
}

/// What a `status` frame from SRS does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEffect {
    /// A mark for the timeline, noted even if the move is refused.
    pub mark: Option<Mark>,
    /// Keep SRS's reason as the stop reason (unless RWS stopped it first).
    pub stop_reason: bool,
    /// The move.
    pub decision: Decision,
}

/// How a `status` frame maps to a state: `recording` → `recording` (a
/// resume mark if it was paused), `paused` → `paused` (a pause mark),
/// `stopped` → `finalizing` (its reason is the stop reason), `failed` →
/// `failed`. `current` is the recording's state (`None`: not found).
pub fn on_status(
    current: Option<RecordingState>,
    status: RecordingStatus,
    reason: Option<&str>,
) -> StatusEffect {
    let (mark, stop_reason, decision) = match status {
        RecordingStatus::Recording => (
            (current == Some(RecordingState::Paused)).then_some(Mark::Resumed),
            false,
            Decision::new(RecordingState::Recording, None),
        ),
        RecordingStatus::Paused => (
            Some(Mark::Paused),
            false,
            Decision::new(RecordingState::Paused, None),
        ),
        RecordingStatus::Stopped => (
            None,
            reason.is_some(),
            Decision::new(RecordingState::Finalizing, reason),
        ),
        RecordingStatus::Failed => (None, false, Decision::new(RecordingState::Failed, reason)),
    };
    StatusEffect {
        mark,
        stop_reason,
        decision,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::time::Duration;

    use expect_test::{Expect, expect};
    use proto::control::RecordingStatus;

    use super::*;
    use RecordingState::*;

    fn show(d: &Decision) -> String {
        match &d.reason {
            Some(r) => format!("{} ({r})", d.to),
            None => format!("{} (reason kept)", d.to),
        }
    }

    fn show_finish(f: &Finish) -> String {
        match f {
            Finish::Done(d) => show(d),
            other => format!("{other:?}"),
        }
    }

    fn tally(files: i64, stored: i64, bytes: i64, indexed: i64) -> MediaTally {
        MediaTally {
            files,
            stored,
            bytes,
            indexed,
        }
    }

    /// One line per case: `name: decision`.
    fn check_finish(cases: &[(&str, FinishFacts<'_>)], e: Expect) {
        let mut out = String::new();
        for (name, facts) in cases {
            let _ = writeln!(out, "{name}: {}", show_finish(&finish(facts)));
        }
        e.assert_eq(&out);
    }

    #[test]
    fn finishing() {
        let base = FinishFacts {
            state: Finalizing,
            end_reported: true,
            interrupted: false,
            media_expected: Some(1),
            media: tally(1, 1, 1000, 1),
            reason: Some("call_released"),
        };
        check_finish(
            &[
                ("clean stop, media stored", base),
                (
                    "clean stop, two of two files",
                    FinishFacts {
                        media_expected: Some(2),
                        media: tally(2, 2, 5000, 2),
                        ..base
                    },
                ),
                (
                    "no reason at all",
                    FinishFacts {
                        reason: None,
                        ..base
                    },
                ),
                (
                    "interrupted",
                    FinishFacts {
                        interrupted: true,
                        reason: Some("srs_restarted"),
                        ..base
                    },
                ),
                (
                    "interrupted, other reason",
                    FinishFacts {
                        interrupted: true,
                        ..base
                    },
                ),
                (
                    "spool full",
                    FinishFacts {
                        reason: Some("spool_full"),
                        ..base
                    },
                ),
                (
                    "capture failed",
                    FinishFacts {
                        reason: Some("capture_failed"),
                        ..base
                    },
                ),
                (
                    "srs restarted",
                    FinishFacts {
                        reason: Some("srs_restarted"),
                        ..base
                    },
                ),
                (
                    "max duration",
                    FinishFacts {
                        reason: Some("max_duration"),
                        ..base
                    },
                ),
                (
                    "no media file",
                    FinishFacts {
                        media_expected: Some(0),
                        media: tally(0, 0, 0, 0),
                        ..base
                    },
                ),
                (
                    "no media, no reason",
                    FinishFacts {
                        media_expected: None,
                        media: tally(0, 0, 0, 0),
                        reason: None,
                        ..base
                    },
                ),
                (
                    "files without bytes",
                    FinishFacts {
                        media: tally(1, 1, 0, 0),
                        ..base
                    },
                ),
                (
                    "bytes, nothing playable",
                    FinishFacts {
                        media: tally(1, 1, 4096, 0),
                        ..base
                    },
                ),
                (
                    "interrupted, no media",
                    FinishFacts {
                        interrupted: true,
                        media: tally(0, 0, 0, 0),
                        media_expected: Some(0),
                        reason: Some("srs_restarted"),
                        ..base
                    },
                ),
                (
                    "a file not stored yet",
                    FinishFacts {
                        media_expected: Some(2),
                        media: tally(2, 1, 5000, 2),
                        ..base
                    },
                ),
                (
                    "fewer files than reported",
                    FinishFacts {
                        media_expected: Some(2),
                        ..base
                    },
                ),
                (
                    "end not reported",
                    FinishFacts {
                        end_reported: false,
                        ..base
                    },
                ),
                (
                    "still recording",
                    FinishFacts {
                        state: Recording,
                        ..base
                    },
                ),
                (
                    "already completed",
                    FinishFacts {
                        state: Completed,
                        ..base
                    },
                ),
                (
                    "already failed",
                    FinishFacts {
                        state: Failed,
                        ..base
                    },
                ),
            ],
            expect![[r#"
                clean stop, media stored: completed (call_released)
                clean stop, two of two files: completed (call_released)
                no reason at all: completed (reason kept)
                interrupted: partial (srs_restarted)
                interrupted, other reason: partial (call_released)
                spool full: partial (spool_full)
                capture failed: partial (capture_failed)
                srs restarted: partial (srs_restarted)
                max duration: completed (max_duration)
                no media file: failed (no media was recorded (call_released))
                no media, no reason: failed (no media was recorded (unknown))
                files without bytes: failed (no media was recorded (call_released))
                bytes, nothing playable: failed (4096 bytes were uploaded but none of them is playable media)
                interrupted, no media: failed (no media was recorded (srs_restarted))
                a file not stored yet: AwaitingMedia
                fewer files than reported: AwaitingMedia
                end not reported: AwaitingEnd
                still recording: NotFinalizing
                already completed: NotFinalizing
                already failed: NotFinalizing
            "#]],
        );
    }

    /// Every decision the finishing rule makes is a move the state
    /// machine allows from `finalizing`.
    #[test]
    fn finishing_decisions_are_allowed_moves() {
        for to in [Completed, Partial, Failed] {
            assert!(Finalizing.can_move_to(to));
        }
    }

    #[test]
    fn end_reasons() {
        let mut out = String::new();
        for (interrupted, reported, stop) in [
            (false, "recording_stopped", Some("call_released")),
            (false, "recording_stopped", None),
            (true, "srs_restarted", Some("call_released")),
            (true, "srs_restarted", None),
        ] {
            let _ = writeln!(
                out,
                "interrupted={interrupted} reported={reported} stop={stop:?}: {}",
                end_reason(interrupted, reported, stop)
            );
        }
        expect![[r#"
            interrupted=false reported=recording_stopped stop=Some("call_released"): call_released
            interrupted=false reported=recording_stopped stop=None: recording_stopped
            interrupted=true reported=srs_restarted stop=Some("call_released"): srs_restarted
            interrupted=true reported=srs_restarted stop=None: srs_restarted
        "#]]
        .assert_eq(&out);
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test time parses")
    }

    #[test]
    fn orphan_timing_at_the_boundary() {
        let after = Duration::from_secs(300);
        let last = ts("2026-01-05T10:00:00.000Z");
        let mut out = String::new();
        for now in [
            "2026-01-05T10:00:00.000Z",
            "2026-01-05T10:04:59.999Z",
            "2026-01-05T10:05:00.000Z",
            "2026-01-05T10:05:00.001Z",
            "2026-01-05T11:00:00.000Z",
            "2026-01-05T09:00:00.000Z",
        ] {
            let _ = writeln!(
                out,
                "silent since 10:00:00.000, now {now}: orphaned={}",
                is_orphaned(last, ts(now), after)
            );
        }
        expect![[r#"
            silent since 10:00:00.000, now 2026-01-05T10:00:00.000Z: orphaned=false
            silent since 10:00:00.000, now 2026-01-05T10:04:59.999Z: orphaned=false
            silent since 10:00:00.000, now 2026-01-05T10:05:00.000Z: orphaned=false
            silent since 10:00:00.000, now 2026-01-05T10:05:00.001Z: orphaned=true
            silent since 10:00:00.000, now 2026-01-05T11:00:00.000Z: orphaned=true
            silent since 10:00:00.000, now 2026-01-05T09:00:00.000Z: orphaned=false
        "#]]
        .assert_eq(&out);
        // A timeout longer than the calendar reaches back never orphans.
        assert!(!is_orphaned(
            last,
            ts("2026-01-05T10:00:01Z"),
            Duration::MAX
        ));
    }

    #[test]
    fn what_an_orphan_becomes() {
        let mut out = String::new();
        for (bytes, from) in [
            (0, Recording),
            (1, Recording),
            (4096, Paused),
            (4096, Requested),
            (4096, Finalizing),
            (0, Finalizing),
        ] {
            let d = orphan(bytes, Duration::from_secs(300));
            let steps: Vec<String> = d.steps(from).iter().map(show).collect();
            let _ = writeln!(
                out,
                "{bytes} playable bytes, {from}: {}",
                steps.join(" then ")
            );
        }
        expect![[r#"
            0 playable bytes, recording: failed (SRS went silent for 300 s before the recording ended)
            1 playable bytes, recording: finalizing (reason kept) then partial (SRS went silent for 300 s before the recording ended)
            4096 playable bytes, paused: finalizing (reason kept) then partial (SRS went silent for 300 s before the recording ended)
            4096 playable bytes, requested: finalizing (reason kept) then partial (SRS went silent for 300 s before the recording ended)
            4096 playable bytes, finalizing: partial (SRS went silent for 300 s before the recording ended)
            0 playable bytes, finalizing: failed (SRS went silent for 300 s before the recording ended)
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn steps_to_an_unreachable_state_are_none() {
        let d = Decision::new(Recording, None);
        assert_eq!(d.steps(Completed), Vec::new());
        assert_eq!(d.steps(Finalizing), Vec::new());
        assert_eq!(d.steps(Recording), Vec::new());
        assert_eq!(d.steps(Paused), vec![d.clone()]);
    }

    #[test]
    fn max_duration_at_the_boundary() {
        let start = Some(ts("2026-01-05T10:00:00.000Z"));
        let max = 3600;
        let mut out = String::new();
        for (state, started, now) in [
            (Recording, start, "2026-01-05T10:59:59.999Z"),
            (Recording, start, "2026-01-05T11:00:00.000Z"),
            (Recording, start, "2026-01-05T11:30:00.000Z"),
            (Paused, start, "2026-01-05T11:00:00.000Z"),
            (Requested, start, "2026-01-05T11:00:00.000Z"),
            (Requested, None, "2026-01-05T11:00:00.000Z"),
            (Finalizing, start, "2026-01-05T11:00:00.000Z"),
            (Completed, start, "2026-01-05T11:00:00.000Z"),
        ] {
            let _ = writeln!(
                out,
                "{state}, started {}, now {now}: stop={}",
                started.map_or("never".to_string(), |t| t.to_string()),
                over_max_duration(state, started, ts(now), max)
            );
        }
        expect![[r#"
            recording, started 2026-01-05T10:00:00.000Z, now 2026-01-05T10:59:59.999Z: stop=false
            recording, started 2026-01-05T10:00:00.000Z, now 2026-01-05T11:00:00.000Z: stop=true
            recording, started 2026-01-05T10:00:00.000Z, now 2026-01-05T11:30:00.000Z: stop=true
            paused, started 2026-01-05T10:00:00.000Z, now 2026-01-05T11:00:00.000Z: stop=true
            requested, started 2026-01-05T10:00:00.000Z, now 2026-01-05T11:00:00.000Z: stop=true
            requested, started never, now 2026-01-05T11:00:00.000Z: stop=false
            finalizing, started 2026-01-05T10:00:00.000Z, now 2026-01-05T11:00:00.000Z: stop=false
            completed, started 2026-01-05T10:00:00.000Z, now 2026-01-05T11:00:00.000Z: stop=false
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn start_answers() {
        let mut out = String::new();
        for a in [
            StartAnswer::Accepted,
            StartAnswer::Refused(Some("no display")),
            StartAnswer::Refused(None),
            StartAnswer::Unanswered,
            StartAnswer::NotSent,
        ] {
            let _ = writeln!(
                out,
                "{a:?}: {}",
                start_answer(a).map_or("no change".into(), |d| show(&d))
            );
        }
        expect![[r#"
            Accepted: recording (reason kept)
            Refused(Some("no display")): failed (no display)
            Refused(None): failed (SRS refused to start)
            Unanswered: no change
            NotSent: failed (the agent's SRS session ended)
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn status_frames() {
        let mut out = String::new();
        let statuses = [
            RecordingStatus::Recording,
            RecordingStatus::Paused,
            RecordingStatus::Stopped,
            RecordingStatus::Failed,
        ];
        for status in statuses {
            for (current, reason) in [
                (Some(Recording), None),
                (Some(Paused), Some("capture_failed")),
            ] {
                let e = on_status(current, status, reason);
                let allowed = current.is_some_and(|c| c.can_move_to(e.decision.to));
                let _ = writeln!(
                    out,
                    "{status:?} while {}: {}{}{}{}",
                    current.map_or("unknown".into(), |c| c.to_string()),
                    show(&e.decision),
                    if allowed { "" } else { " [refused]" },
                    e.mark
                        .map_or(String::new(), |m| format!(", mark {}", m.as_str())),
                    if e.stop_reason {
                        ", stop reason kept"
                    } else {
                        ""
                    },
                );
            }
        }
        let unknown = on_status(None, RecordingStatus::Recording, None);
        assert_eq!(
            unknown.mark, None,
            "no resume mark for an unknown recording"
        );
        expect![[r#"
            Recording while recording: recording (reason kept) [refused]
            Recording while paused: recording (reason kept), mark resumed
            Paused while recording: paused (reason kept), mark paused
            Paused while paused: paused (reason kept) [refused], mark paused
            Stopped while recording: finalizing (reason kept)
            Stopped while paused: finalizing (capture_failed), stop reason kept
            Failed while recording: failed (reason kept)
            Failed while paused: failed (capture_failed)
        "#]]
        .assert_eq(&out);
    }
}
