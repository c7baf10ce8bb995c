//! What the agent is told about their screen recording (issue 13, "the
//! agent is told"): `idle`, `recording`, `paused` (by RWS or by the
//! desktop's PCI pause) or `masked` (a masking rule hides part of the
//! screen), since when, and why. [`crate::recording`] keeps it current at
//! every change; `GET /api/v2/me/recording` ([`crate::api`]) serves it.
//!
//! It carries no secret: no upload token, no window title (a masked span
//! is named by its rule only).

use serde::Serialize;

/// The recording state shown to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Nothing is recorded.
    Idle,
    /// The screen is recorded.
    Recording,
    /// A recording runs but its frames are blanked (RWS pause or the
    /// desktop's PCI pause).
    Paused,
    /// The screen is recorded except the windows a masking rule hides.
    Masked,
}

/// The state and what goes with it, without the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) state: RecordingState,
    pub(crate) reason: Option<String>,
    pub(crate) recording_id: Option<String>,
    pub(crate) interaction_id: Option<String>,
    pub(crate) watched: bool,
}

impl Observed {
    pub(crate) fn idle() -> Observed {
        Observed {
            state: RecordingState::Idle,
            reason: None,
            recording_id: None,
            interaction_id: None,
            watched: false,
        }
    }
}

/// The body of `GET /api/v2/me/recording` (with the GWS `statusCode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// `idle`, `recording`, `paused` or `masked`.
    pub state: RecordingState,
    /// When the state last changed (RFC 3339, UTC, SRS clock).
    pub since: String,
    /// Why: the pause's reason (`desktop`, or RWS's) or the masking rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The recording in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_id: Option<String>,
    /// The interaction it records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interaction_id: Option<String>,
    /// A supervisor watches the screen live right now (only when the
    /// directory says `live_notice = true`; absent otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub watched: bool,
}

impl Default for Notice {
    /// Idle since SRS started.
    fn default() -> Self {
        Notice {
            state: RecordingState::Idle,
            since: crate::recording::now_rfc3339(),
            reason: None,
            recording_id: None,
            interaction_id: None,
            watched: false,
        }
    }
}

impl Notice {
    /// Takes in the current state; `since` moves to `now` only when
    /// something the agent sees changed (a repeated pause keeps its time).
    pub(crate) fn observe(&mut self, next: Observed, now: String) {
        let same = self.state == next.state
            && self.reason == next.reason
            && self.recording_id == next.recording_id
            && self.watched == next.watched;
        if same {
            return;
        }
        *self = Notice {
            state: next.state,
            since: now,
            reason: next.reason,
            recording_id: next.recording_id,
            interaction_id: next.interaction_id,
            watched: next.watched,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: RecordingState, reason: Option<&str>) -> Observed {
        Observed {
            state,
            reason: reason.map(str::to_string),
            recording_id: Some("r1".into()),
            interaction_id: Some("call-1".into()),
            watched: false,
        }
    }

    #[test]
    fn since_moves_only_on_a_change() {
        let mut n = Notice::default();
        n.observe(rec(RecordingState::Recording, None), "t1".into());
        assert_eq!(
            (n.state, n.since.as_str()),
            (RecordingState::Recording, "t1")
        );
        n.observe(rec(RecordingState::Recording, None), "t2".into());
        assert_eq!(n.since, "t1", "no change keeps the time");
        n.observe(rec(RecordingState::Paused, Some("desktop")), "t3".into());
        assert_eq!((n.state, n.since.as_str()), (RecordingState::Paused, "t3"));
        assert_eq!(n.reason.as_deref(), Some("desktop"));
        n.observe(Observed::idle(), "t4".into());
        assert_eq!(n.state, RecordingState::Idle);
        assert_eq!(n.recording_id, None);
    }

    #[test]
    fn serialises_as_the_documented_body() {
        let mut n = Notice::default();
        n.observe(rec(RecordingState::Masked, Some("payments")), "t".into());
        let v = serde_json::to_value(&n).unwrap_or_default();
        assert_eq!(v["state"], "masked");
        assert_eq!(v["reason"], "payments");
        assert_eq!(v["recordingId"], "r1");
        assert_eq!(v["interactionId"], "call-1");
        let idle = serde_json::to_value(Notice::default()).unwrap_or_default();
        assert!(idle.get("reason").is_none() && idle.get("recordingId").is_none());
        assert!(idle.get("watched").is_none(), "absent unless watched");
        let mut watched = rec(RecordingState::Recording, None);
        watched.watched = true;
        n.observe(watched, "t2".into());
        let v = serde_json::to_value(&n).unwrap_or_default();
        assert_eq!(
            (v["watched"].as_bool(), n.since.as_str()),
            (Some(true), "t2")
        );
    }
}
