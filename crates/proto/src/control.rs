//! The control channel: one WebSocket per SRS session, dialled by SRS to
//! `GET /api/v2/srs/control` with `Authorization: Bearer <session token>`.
//!
//! JSON text frames, tagged by `type`:
//!
//! * RWS → SRS: [`ToAgent`]. Commands carry a `seq` that RWS assigns per
//!   session, strictly increasing. SRS acknowledges every command with
//!   [`FromAgent::Ack`] carrying the same `seq`. A command whose `seq` SRS
//!   has already applied is acknowledged again but not applied again
//!   (idempotence), so RWS may resend anything unacknowledged after a
//!   reconnect.
//! * SRS → RWS: [`FromAgent`]. The first frame after every (re)connect is
//!   [`FromAgent::Hello`], which reports SRS's state and the highest `seq` it
//!   has applied, so RWS can reconcile.
//! * Both sides send [`ToAgent::Heartbeat`] / [`FromAgent::Heartbeat`] every
//!   `heartbeat_interval_s`; a side that hears nothing for the silence
//!   timeout treats the link as dead.

use serde::{Deserialize, Serialize};

use crate::session::CaptureSettings;

/// Why RWS ends a session with `bye`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ByeReason {
    /// The same user opened a newer session (another PC, or a re-login).
    SessionReplaced,
    /// An administrator ended it.
    Admin,
    /// SRS was silent past the silence timeout.
    Timeout,
    /// RWS is shutting the session down because the user was removed.
    UserRemoved,
}

/// A message from RWS to SRS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToAgent {
    /// New settings for SRS: capture parameters and desktop origins.
    Config {
        /// Command sequence number.
        seq: u64,
        /// Capture settings to apply from the next recording on.
        capture: CaptureSettings,
        /// Desktop origins to add to SRS's CORS allow-list (replacing the
        /// ones RWS handed over earlier; SRS's own configured origins stay).
        allowed_origins: Vec<String>,
    },
    /// The session is over: SRS stops whatever it does for this session
    /// and does not reconnect.
    Bye {
        /// Command sequence number.
        seq: u64,
        /// Why.
        reason: ByeReason,
    },
    /// Start recording (idempotent by `recording_id`: a second `start` for
    /// a recording SRS has or had does nothing new).
    Start {
        /// Command sequence number.
        seq: u64,
        /// The recording's id (RWS made it).
        recording_id: String,
        /// The interaction that started it (first voice call, or chat).
        interaction_id: String,
        /// SRS stops by itself after this long (reason `max_duration`).
        max_duration_s: u64,
        /// Capture settings.
        capture: CaptureSettings,
        /// age recipients to encrypt the media to (public keys only).
        recipients: Vec<String>,
        /// The tus endpoint to upload the media to (creation URL).
        upload_url: String,
        /// Bearer token good only for this recording's uploads; SRS keeps it
        /// in its spool (mode 0600) to resume uploads after a restart.
        upload_token: String,
        /// Upload bandwidth cap for this recording in kbit/s (per group or
        /// user on RWS); SRS uses the lower of it and its `--upload-rate`.
        /// Absent or 0: no cap from RWS.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload_rate_kbit: Option<u32>,
        /// Masking rules that apply to this agent (the directory's global
        /// rules and those of the agent's groups); absent from older RWS.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        masks: Vec<MaskSpec>,
        /// Report window titles on the app lane (the directory's
        /// `app_titles`; absent: yes). `false`: classes only.
        #[serde(default = "yes", skip_serializing_if = "is_yes")]
        app_titles: bool,
        /// Continue this recording after an SRS restart (RWS re-sends
        /// `start` for a call still live when the agent's new session says
        /// hello): SRS resumes the spooled recording it holds under this id,
        /// in new media files, with the upload token it kept (`upload_token`
        /// is then empty: RWS keeps only its hash). Absent: a new recording.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resume: bool,
    },
    /// Stop recording; the last fragment is written and uploaded.
    Stop {
        /// Command sequence number.
        seq: u64,
        /// Which recording.
        recording_id: String,
        /// Why.
        reason: StopReason,
    },
    /// Blank the frames (the file goes on).
    Pause {
        /// Command sequence number.
        seq: u64,
        /// Which recording.
        recording_id: String,
        /// Why (free text, e.g. `recording_paused`).
        reason: String,
    },
    /// Show the screen again.
    Resume {
        /// Command sequence number.
        seq: u64,
        /// Which recording.
        recording_id: String,
        /// Why (free text, e.g. `recording_resumed`).
        reason: String,
    },
    /// Someone watches (or the last viewer left) the agent's screen live
    /// (`GET /api/v2/live/{agent}` on RWS): while `on`, SRS cuts
    /// [`LIVE_FRAGMENT_MS`] fragments, starts the next one with a keyframe
    /// and uploads each at once, so a viewer is a few seconds behind; off,
    /// it goes back to its normal fragments. A no-op for a recording SRS
    /// does not run (it ended meanwhile).
    Live {
        /// Command sequence number.
        seq: u64,
        /// Which recording.
        recording_id: String,
        /// Someone watches (`false`: the last viewer left).
        on: bool,
        /// The directory's `live_notice`: the agent's recording state says
        /// `watched` while `on`.
        #[serde(default)]
        notice: bool,
    },
    /// On-demand live view of an agent who is not being recorded (the
    /// directory's `live_view = "always"`): while `on`, SRS captures the
    /// screen with the same recorder ([`LIVE_FRAGMENT_MS`] fragments,
    /// encrypted to `recipients`) and sends each segment to RWS at
    /// `upload_url/{stream}/{seq}` with `upload_token`, keeping nothing on
    /// its disk; `on: false` (or `max_duration_s`, or a `start`) ends it.
    /// Only RWS's session channel carries it: no page can ask for it.
    Preview {
        /// Command sequence number.
        seq: u64,
        /// Which preview (a UUID RWS made).
        preview_id: String,
        /// Start (`false`: stop).
        on: bool,
        /// The directory's `live_notice`: the agent's notice says `watched`.
        #[serde(default)]
        notice: bool,
        /// Tenant recipients (`age1…`); empty with `on: false`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recipients: Vec<String>,
        /// Where the segments go (path on the RWS holding the session).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        upload_url: String,
        /// Bearer token for `upload_url`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        upload_token: String,
        /// Masking rules that apply to this agent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        masks: Vec<MaskSpec>,
        /// SRS ends the preview by itself after this long.
        #[serde(default)]
        max_duration_s: u64,
    },
    /// Keep-alive.
    Heartbeat,
}

/// Fragment length while someone watches live ([`ToAgent::Live`]), ms.
pub const LIVE_FRAGMENT_MS: u64 = 1000;

impl ToAgent {
    /// The command's sequence number (`None` for heartbeats).
    pub fn seq(&self) -> Option<u64> {
        match self {
            ToAgent::Config { seq, .. }
            | ToAgent::Bye { seq, .. }
            | ToAgent::Start { seq, .. }
            | ToAgent::Stop { seq, .. }
            | ToAgent::Pause { seq, .. }
            | ToAgent::Resume { seq, .. }
            | ToAgent::Live { seq, .. }
            | ToAgent::Preview { seq, .. } => Some(*seq),
            ToAgent::Heartbeat => None,
        }
    }
}

/// Why a recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The agent's call leg (or chat) ended.
    CallReleased,
    /// The call's voice recording stopped.
    RecordingStopped,
    /// The configured maximum duration was reached.
    MaxDuration,
    /// The agent logged out of the desktop.
    Logout,
    /// The desktop stopped polling SRS.
    PingTimeout,
    /// The agent's session moved to another PC.
    SessionReplaced,
    /// An administrator stopped it.
    Admin,
    /// The spool quota or the disk is full.
    SpoolFull,
    /// The screen could not be captured or encoded any more.
    CaptureFailed,
    /// SRS stopped while recording (crash, kill, power loss): what was on
    /// disk was uploaded after it restarted.
    SrsRestarted,
    /// SRS was shut down while recording.
    Shutdown,
    /// RWS ended the SRS session (it had heard nothing for too long).
    SessionEnded,
    /// The agent stopped sharing the screen (the browser recorder: Chrome's
    /// "Stop sharing" bar, or the screen's track ended).
    StoppedByAgent,
}

impl StopReason {
    /// The snake_case name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::CallReleased => "call_released",
            StopReason::RecordingStopped => "recording_stopped",
            StopReason::MaxDuration => "max_duration",
            StopReason::Logout => "logout",
            StopReason::PingTimeout => "ping_timeout",
            StopReason::SessionReplaced => "session_replaced",
            StopReason::Admin => "admin",
            StopReason::SpoolFull => "spool_full",
            StopReason::CaptureFailed => "capture_failed",
            StopReason::SrsRestarted => "srs_restarted",
            StopReason::Shutdown => "shutdown",
            StopReason::SessionEnded => "session_ended",
            StopReason::StoppedByAgent => "stopped_by_agent",
        }
    }
}

/// What SRS reports about a recording (`status` frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Frames are being recorded.
    Recording,
    /// Frames are blanked.
    Paused,
    /// Recording ended; the upload completes next.
    Stopped,
    /// The recording could not start.
    Failed,
}

/// What SRS is doing, as reported in `hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged in, not recording.
    Idle,
    /// Recording.
    Recording,
    /// Recording, frames blanked.
    Paused,
}

/// A monitor of the agent PC (RandR monitor geometry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorInfo {
    /// RandR monitor name (e.g. `DP-1`).
    pub name: String,
    /// Left edge in the root window.
    pub x: i32,
    /// Top edge in the root window.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The primary monitor.
    pub primary: bool,
}

/// A message from SRS to RWS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromAgent {
    /// First frame after every (re)connect.
    Hello {
        /// The session id SRS believes it holds.
        session_id: String,
        /// SRS version.
        version: String,
        /// Monitors SRS would record.
        monitors: Vec<MonitorInfo>,
        /// What SRS is doing.
        state: AgentState,
        /// The recording in progress, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        active_recording: Option<String>,
        /// Highest command `seq` SRS has applied in this session (0: none).
        last_seq: u64,
    },
    /// Acknowledges the command `seq`.
    Ack {
        /// The command's sequence number.
        seq: u64,
        /// `true` when the command was applied (or had been applied before).
        ok: bool,
        /// Why it was not applied, when `ok` is false.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A recording changed state on the agent's side (started, paused or
    /// resumed from the desktop, stopped by itself).
    Status {
        /// Which recording.
        recording_id: String,
        /// Its state now.
        state: RecordingStatus,
        /// Why (a [`StopReason`] name, `desktop` for a desktop pause, or an error).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// When (RFC 3339, SRS clock).
        at: String,
        /// Bytes written to the spool so far.
        bytes_spooled: u64,
    },
    /// Keep-alive, with SRS's current figures (for the live view).
    Heartbeat {
        /// The recording in progress.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<String>,
        /// Spooled bytes RWS has not acknowledged.
        #[serde(default)]
        upload_backlog_bytes: u64,
        /// The last error SRS met (upload, capture), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
    },
    /// SRS is stopping for a restart (SIGTERM: an upgrade, a service
    /// restart) in the middle of `recording_id`: its last fragment is
    /// written and uploaded, the recording is *not* ended — the next SRS
    /// continues it. RWS marks the start of the gap on the timeline.
    Restarting {
        /// Which recording.
        recording_id: String,
        /// When the recording stopped (RFC 3339, SRS clock): the gap's start.
        at: String,
    },
    /// The app lane, live (issue 13 part 3): the agent switched to another
    /// window while `recording_id` records. The same change as the
    /// [`crate::upload::AppMark`] SRS keeps for the end report, with the
    /// same `at`, so RWS stores it once whichever copy comes first (its
    /// timeline marks are keyed by recording, time and kind).
    ///
    /// Why the control channel and not a REST call with the upload token:
    /// the channel is already authenticated as the session (rule 1 is the
    /// same check as for `status`), it is up for the whole call, it carries
    /// frames in order with `status` (a change never overtakes the `stopped`
    /// after it), and SRS's outbox already queues frames while it is down.
    /// An older RWS logs the unknown frame and ignores it; the end report
    /// still carries every change.
    App {
        /// Which recording.
        recording_id: String,
        /// When the window became active (RFC 3339, SRS clock: the clock of
        /// every timeline mark).
        at: String,
        /// Its `WM_CLASS` (class half), at most
        /// [`crate::upload::MAX_APP_CLASS_CHARS`] characters.
        class: String,
        /// Its title (a masked window's is its rule's name), at most
        /// [`crate::upload::MAX_APP_TITLE_CHARS`]; absent when the directory
        /// sets `app_titles = false`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn frames_on_the_wire() {
        expect![[r#"{"type":"bye","seq":7,"reason":"session_replaced"}"#]].assert_eq(&json(
            &ToAgent::Bye {
                seq: 7,
                reason: ByeReason::SessionReplaced,
            },
        ));
        expect![[r#"{"type":"heartbeat"}"#]].assert_eq(&json(&ToAgent::Heartbeat));
        expect![[r#"{"type":"live","seq":9,"recording_id":"r1","on":true,"notice":false}"#]]
            .assert_eq(&json(&ToAgent::Live {
                seq: 9,
                recording_id: "r1".into(),
                on: true,
                notice: false,
            }));
        expect![[r#"{"type":"preview","seq":3,"preview_id":"p1","on":false,"notice":false,"max_duration_s":0}"#]]
            .assert_eq(&json(&ToAgent::Preview {
                seq: 3,
                preview_id: "p1".into(),
                on: false,
                notice: false,
                recipients: Vec::new(),
                upload_url: String::new(),
                upload_token: String::new(),
                masks: Vec::new(),
                max_duration_s: 0,
            }));
        // An SRS heartbeat without figures still parses.
        let hb: FromAgent = serde_json::from_str(r#"{"type":"heartbeat"}"#).expect("heartbeat");
        assert!(matches!(
            hb,
            FromAgent::Heartbeat {
                upload_backlog_bytes: 0,
                ..
            }
        ));
        expect![[r#"{"type":"ack","seq":3,"ok":true}"#]].assert_eq(&json(&FromAgent::Ack {
            seq: 3,
            ok: true,
            error: None,
        }));
        let hello: FromAgent = serde_json::from_str(
            r#"{"type":"hello","session_id":"s","version":"0.1.0","monitors":[],"state":"idle","last_seq":0}"#,
        )
        .expect("hello parses");
        assert!(matches!(hello, FromAgent::Hello { last_seq: 0, .. }));
        // A restart (issue 13 part 4): SRS's `restarting`, RWS's `resume`.
        expect![[r#"{"type":"restarting","recording_id":"r","at":"2026-11-30T10:00:00.000Z"}"#]]
            .assert_eq(&json(&FromAgent::Restarting {
                recording_id: "r".into(),
                at: "2026-11-30T10:00:00.000Z".into(),
            }));
        // The app lane, live: no title when the directory keeps none.
        expect![[
            r#"{"type":"app","recording_id":"r","at":"2026-11-30T10:00:01.500Z","class":"XTerm"}"#
        ]]
        .assert_eq(&json(&FromAgent::App {
            recording_id: "r".into(),
            at: "2026-11-30T10:00:01.500Z".into(),
            class: "XTerm".into(),
            title: None,
        }));
        let start = r#"{"type":"start","seq":1,"recording_id":"r","interaction_id":"c","max_duration_s":60,"capture":{"fps":5,"quality":30,"keyframe_interval_s":2,"cursor":true},"recipients":[],"upload_url":"/u","upload_token":""}"#;
        match serde_json::from_str::<ToAgent>(start) {
            Ok(cmd @ ToAgent::Start { resume: false, .. }) => {
                assert!(!json(&cmd).contains("resume"), "absent: a new recording");
            }
            other => panic!("start without resume: {other:?}"),
        }
        let resumed = start.replace(r#""upload_token":"""#, r#""upload_token":"","resume":true"#);
        match serde_json::from_str::<ToAgent>(&resumed) {
            Ok(cmd @ ToAgent::Start { resume: true, .. }) => {
                assert!(json(&cmd).contains(r#""resume":true"#));
            }
            other => panic!("start with resume: {other:?}"),
        }
    }
}

/// Most masking rules one `start` may carry (the directory holds no more;
/// SRS refuses a start with more rather than compile an unbounded list).
pub const MAX_MASKS: usize = 256;

/// A masking rule as RWS sends it (the directory's `[[mask]]`, already
/// validated at import); SRS compiles it again and refuses the start when
/// it cannot, so a rule is never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskSpec {
    /// The rule's name (what the timeline shows; never a window title).
    pub name: String,
    /// Regular expression on the window title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Glob on either half of `WM_CLASS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// `blank` or `pause`.
    #[serde(default = "blank")]
    pub action: String,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

fn blank() -> String {
    "blank".into()
}
