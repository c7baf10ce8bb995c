//! A stored recording as the rest of RWS sees it: what `store/` returns and
//! the rules in [`super::rules`] decide on. Plain data, no behaviour.

use super::RecordingState;

/// A recording row.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Id.
    pub id: String,
    /// Agent.
    pub username: String,
    /// The agent's DN (voice).
    pub dn: Option<String>,
    /// SRS session that records it.
    pub session_id: Option<String>,
    /// First interaction (voice call or chat) it is mapped to.
    pub interaction_id: String,
    /// `voice`, `chat`, …
    pub media: String,
    /// State.
    pub state: RecordingState,
    /// Why (failed, partial, stop reason).
    pub reason: Option<String>,
    /// Created.
    pub requested_at: String,
    /// SRS acknowledged `start`.
    pub started_at: Option<String>,
    /// Stopped.
    pub stopped_at: Option<String>,
    /// Maximum duration.
    pub max_duration_s: i64,
    /// Whether RWS last commanded pause.
    pub paused_cmd: bool,
    /// Set once RWS sent `stop`.
    pub stop_reason: Option<String>,
    /// SRS reported the recording fully uploaded.
    pub end_reported: bool,
    /// SRS did not stop cleanly.
    pub interrupted: bool,
    /// Media files SRS reported.
    pub media_expected: Option<i64>,
    /// Last upload or state activity.
    pub last_activity: String,
    /// On legal hold: no delete, no purge.
    pub legal_hold: bool,
    /// Why it is held.
    pub hold_reason: Option<String>,
    /// Caller number (from the call's events).
    pub ani: Option<String>,
    /// Dialed number.
    pub dnis: Option<String>,
}
