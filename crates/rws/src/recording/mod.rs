//! The recording rules: what state a screen recording is in, which moves
//! between states are allowed, and when a recording is finished, orphaned
//! or past its maximum duration. Pure code — no SQL, no HTTP, no clock of
//! its own, no I/O — so every rule is unit-tested as a table without a
//! server; the callers read the facts (rows, the time) and apply the
//! decision (an `UPDATE`, a control message).
//!
//! ```text
//!                 start acked,
//!                 status recording      status paused / recording
//!   requested ─────────────────▶ recording ◀────────────────▶ paused
//!       │   └─────────── status paused ──────────────────────▶  │
//!       │                            │                           │
//!       │   stop: call released, voice recording stopped,        │
//!       │   max duration, status stopped, SRS's end report       │
//!       └──────────────────────▶ finalizing ◀────────────────────┘
//!                                    │
//!              try_finish (uploads   │   or the orphan sweep
//!              stored, end reported) │   (SRS silent)
//!                   ┌────────────────┼────────────────┐
//!                   ▼                ▼                ▼
//!               completed         partial           failed ◀── also straight from
//!               clean stop,       interrupted,      requested, recording, paused:
//!               media stored      spool_full,       SRS refused or gone, status
//!                                 capture_failed,   failed, silent without media
//!                                 srs_restarted,
//!                                 silent with media
//! ```
//!
//! `completed`, `partial` and `failed` are final: nothing leaves them. A
//! state never moves backwards; `recording` ⇄ `paused` is the only cycle.
//! `completed` and `partial` are reached only through `finalizing` (the
//! orphan sweep passes through it, so subscribers see both changes).
//!
//! Where each move is triggered (the callers apply [`rules`]' decisions):
//!
//! - `crate::recordings::create` — a new recording is `requested`, or
//!   `failed` at once when no SRS session can record it;
//! - `crate::dispatch::start` — SRS's answer to `start`
//!   ([`rules::start_answer`]): `recording` or `failed`;
//! - `crate::dispatch::on_status` — `status` frames from SRS
//!   ([`rules::on_status`]);
//! - `crate::dispatch::stop` — the policy (call released, voice recording
//!   stopped) and the max-duration sweep ([`rules::over_max_duration`])
//!   move it to `finalizing`;
//! - `crate::http::uploads::end` — SRS's end report: `finalizing`, then
//!   `crate::recordings::try_finish` ([`rules::finish`]);
//! - `crate::uploads` PATCH — the last bytes of a media file arrive:
//!   `try_finish` again;
//! - `crate::uploads::sweep_orphans` — SRS went silent
//!   ([`rules::is_orphaned`], [`rules::orphan`]): `partial` or `failed`.
//!
//! Every change is published as a lifecycle event ([`crate::lifecycle`]).

pub mod rec;
pub mod rules;
pub mod state;
pub mod timestamp;

pub use rec::Rec;
pub use rules::Decision;
pub use state::{RecordingState, UnknownState};
pub use timestamp::{BadTimestamp, Timestamp, now, parse_time, rfc3339};
