//! [`RecordingState`]: the seven states of a screen recording, stored and
//! shown as their lowercase names, and the table of allowed moves. (Its
//! database column codec is in `crate::store::recording_state`: the rules
//! know nothing of the database.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a screen recording is in its life (see the diagram in
/// [`crate::recording`]). Serialized as the lowercase name, the shape the
/// API has always shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingState {
    /// Created; `start` sent (or about to be), SRS has not acknowledged it.
    Requested,
    /// SRS records frames.
    Recording,
    /// SRS blanks frames (the call's voice recording is paused).
    Paused,
    /// Stopped; the uploads are finishing.
    Finalizing,
    /// Stopped cleanly and every media file is in storage.
    Completed,
    /// Interrupted, or SRS went silent: what arrived is kept.
    Partial,
    /// Nothing usable exists (the reason says why).
    Failed,
}

/// A stored or requested state name that is none of the seven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a recording state (one of {names})", names = RecordingState::names())]
pub struct UnknownState(pub String);

impl RecordingState {
    /// Every state, in lifecycle order.
    pub const ALL: [RecordingState; 7] = [
        RecordingState::Requested,
        RecordingState::Recording,
        RecordingState::Paused,
        RecordingState::Finalizing,
        RecordingState::Completed,
        RecordingState::Partial,
        RecordingState::Failed,
    ];

    /// The states that still record (or are about to): [`Self::is_active`].
    /// (For queries that select by state class.)
    pub const ACTIVE: [RecordingState; 3] = [
        RecordingState::Requested,
        RecordingState::Recording,
        RecordingState::Paused,
    ];

    /// The final states: [`Self::is_final`].
    pub const FINAL: [RecordingState; 3] = [
        RecordingState::Completed,
        RecordingState::Partial,
        RecordingState::Failed,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Requested => "requested",
            RecordingState::Recording => "recording",
            RecordingState::Paused => "paused",
            RecordingState::Finalizing => "finalizing",
            RecordingState::Completed => "completed",
            RecordingState::Partial => "partial",
            RecordingState::Failed => "failed",
        }
    }

    /// Every name, comma-separated, in lifecycle order (for messages).
    pub fn names() -> String {
        RecordingState::ALL.map(RecordingState::as_str).join(", ")
    }

    /// `completed`, `partial`, `failed`: nothing leaves these.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RecordingState::Completed | RecordingState::Partial | RecordingState::Failed
        )
    }

    /// `requested`, `recording`, `paused`: the recording still records (or
    /// is about to), so a stop or a pause applies to it.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RecordingState::Requested | RecordingState::Recording | RecordingState::Paused
        )
    }

    /// Whether a recording in this state may move to `next`. The whole
    /// state machine is this one match:
    ///
    /// - never to the same state, never out of a final state;
    /// - `requested` → `recording` | `paused` | `finalizing` | `failed`;
    /// - `recording` ⇄ `paused`, both → `finalizing` | `failed`;
    /// - `finalizing` → `completed` | `partial` | `failed`;
    /// - `completed` and `partial` only from `finalizing`; `failed` from
    ///   any unfinished state.
    pub fn can_move_to(self, next: RecordingState) -> bool {
        use RecordingState::*;
        match (self, next) {
            (Completed | Partial | Failed, _) => false,
            (Requested, Recording | Paused | Finalizing | Failed) => true,
            (Recording, Paused | Finalizing | Failed) => true,
            (Paused, Recording | Finalizing | Failed) => true,
            (Finalizing, Completed | Partial | Failed) => true,
            _ => false,
        }
    }
}

impl fmt::Display for RecordingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordingState {
    type Err = UnknownState;

    /// The exact lowercase name; anything else is an error naming the
    /// value (a stored state is never guessed or defaulted).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordingState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::RecordingState;

    /// The 7×7 move table: a row per state, `x` where the move is allowed.
    /// A new state or edge changes this one table.
    fn check(e: Expect) {
        let mut out = String::from("from \\ to  ");
        for to in RecordingState::ALL {
            out.push_str(&format!(" {:>3}", &to.as_str()[..3]));
        }
        out.push('\n');
        for from in RecordingState::ALL {
            out.push_str(&format!("{:<11}", from.as_str()));
            for to in RecordingState::ALL {
                let mark = if from.can_move_to(to) { "x" } else { "." };
                out.push_str(&format!(" {mark:>3}"));
            }
            out.push('\n');
        }
        e.assert_eq(&out);
    }

    #[test]
    fn every_allowed_and_refused_move() {
        check(expect![[r#"
            from \ to   req rec pau fin com par fai
            requested     .   x   x   x   .   .   x
            recording     .   .   x   x   .   .   x
            paused        .   x   .   x   .   .   x
            finalizing    .   .   .   .   x   x   x
            completed     .   .   .   .   .   .   .
            partial       .   .   .   .   .   .   .
            failed        .   .   .   .   .   .   .
        "#]]);
    }

    #[test]
    fn no_move_goes_backwards_or_leaves_a_final_state() {
        for from in RecordingState::ALL {
            for to in RecordingState::ALL {
                if from.can_move_to(to) {
                    assert!(!from.is_final(), "{from} -> {to} leaves a final state");
                    let cycle = matches!(
                        (from, to),
                        (RecordingState::Paused, RecordingState::Recording)
                    );
                    assert!(to > from || cycle, "{from} -> {to} goes backwards");
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_classes() {
        let mut out = String::new();
        for s in RecordingState::ALL {
            let back: RecordingState = s.as_str().parse().expect("own name parses");
            assert_eq!(back, s);
            let json = serde_json::to_string(&s).expect("serializes");
            assert_eq!(json, format!("\"{s}\""));
            let from_json: RecordingState = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(from_json, s);
            out.push_str(&format!(
                "{s}: final={} active={}\n",
                s.is_final(),
                s.is_active()
            ));
        }
        expect![[r#"
            requested: final=false active=true
            recording: final=false active=true
            paused: final=false active=true
            finalizing: final=false active=false
            completed: final=true active=false
            partial: final=true active=false
            failed: final=true active=false
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn the_class_lists_agree_with_the_predicates() {
        let active: Vec<_> = RecordingState::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        let fin: Vec<_> = RecordingState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(active, RecordingState::ACTIVE);
        assert_eq!(fin, RecordingState::FINAL);
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_it() {
        for bad in ["", "Completed", "done", " recording", "paused\n"] {
            let err = bad.parse::<RecordingState>().expect_err("not a state name");
            assert_eq!(err.0, bad);
        }
        expect![[r#"'done' is not a recording state (one of requested, recording, paused, finalizing, completed, partial, failed)"#]]
            .assert_eq(&"done".parse::<RecordingState>().expect_err("unknown").to_string());
        assert!(serde_json::from_str::<RecordingState>("\"done\"").is_err());
    }
}
