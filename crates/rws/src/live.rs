//! Live screen view (issue 14 part 1): a supervisor (within their groups)
//! or an admin watches an agent's screen as it is recorded. The HTTP side
//! is [`crate::http::live`]; this module decides who may watch, keeps count
//! of the viewers, tells SRS when someone watches, and turns the agent's
//! current recording into a stream of fragmented MP4 for one monitor.
//!
//! Live view reuses the upload path (ARCHITECTURE.md "Live view and
//! evidence"): SRS uploads every fragment as soon as it is on its disk, and
//! the viewer's stream reads the segments of the media file as their rows
//! arrive, decrypts each with the tenant key and sends it on. A viewer gets
//! the init segment, then the fragments from the newest one that starts
//! with a keyframe (the player starts there and plays at the live edge),
//! then every fragment as it lands; the stream ends when the recording's
//! upload ends or the client goes.
//!
//! While at least one viewer watches a recording, SRS cuts 1 s fragments
//! and one at every keyframe, and makes the next frame a keyframe
//! ([`proto::control::ToAgent::Live`]), so a viewer is a couple of seconds
//! behind the agent rather than a fragment and a half; when the last
//! viewer leaves it goes back. Commands are reconciled under one lock
//! ([`Viewers::reconcile`]) so a leave and a join racing never leave SRS
//! in the wrong mode.
//!
//! Bounds (threat model: a supervisor's browser is not trusted to be
//! gentle): one segment in memory per viewer at a time (each at most
//! [`crate::segments::MAX_SEGMENT`]), at most [`MAX_VIEWERS`] viewers per
//! RWS and [`MAX_VIEWERS_PER_RECORDING`] per recording (429 beyond), and a
//! viewer that finds nothing new for [`IDLE_END`] is ended.
//!
//! Every view is audited twice, rows only being added: `live_view` when it
//! starts (who, whom, which recording and monitor, from where) and
//! `live_view_end` when it ends, with the time it started and ended.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::Bytes;
use media::crypt::{IndexEntry, decrypt_segment};
use proto::control::ToAgent;

use crate::Rws;
use crate::auth::AuthUser;
use crate::compliance::Visibility;
use crate::error::ApiError;
use crate::recording::{Rec, RecordingState, rfc3339};
use crate::recordings::{Source, read_cipher, staged_or_stored};
use crate::store;

/// Most viewers one RWS serves at a time.
pub const MAX_VIEWERS: usize = 32;
/// Most viewers of one recording (every monitor counts).
pub const MAX_VIEWERS_PER_RECORDING: usize = 8;
/// Highest monitor number asked for (a PC with more monitors is not one).
pub const MAX_MONITOR: u32 = 63;
/// How often a viewer looks for new segments.
const POLL: Duration = Duration::from_millis(200);
/// How long a new viewer waits for the recording's first media file
/// (a recording that just started has not created its uploads yet).
const MEDIA_WAIT: Duration = Duration::from_secs(15);
/// A viewer that finds nothing new this long is ended (SRS stopped
/// uploading: gone, or the recording ended without its upload finishing).
pub const IDLE_END: Duration = Duration::from_secs(60);
/// How far back a new viewer looks for a fragment that starts with a
/// keyframe (SRS forces one when live view starts, so it is near).
const KEYFRAME_SEARCH: usize = 64;
/// Most segments a viewer queues at a time.
const BATCH: i64 = 256;

/// Viewer counts per recording, and what SRS was last told.
#[derive(Default)]
pub struct Viewers {
    counts: Mutex<HashMap<String, Watched>>,
    /// Serialises the `live` commands (see [`Viewers::reconcile`]).
    commands: tokio::sync::Mutex<HashMap<String, bool>>,
    /// On-demand previews of agents not being recorded
    /// (`live_view = "always"`).
    pub previews: crate::preview::Previews,
}

struct Watched {
    viewers: usize,
    session_id: Option<String>,
}

impl Viewers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watched>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Viewers watching now, all recordings.
    pub fn total(&self) -> usize {
        self.lock().values().map(|w| w.viewers).sum()
    }

    /// Viewers of one recording now.
    pub fn of(&self, recording_id: &str) -> usize {
        self.lock().get(recording_id).map_or(0, |w| w.viewers)
    }

    /// Counts a new viewer of `rec`, or refuses one past the caps.
    fn join(&self, rec: &Rec) -> Result<(), ApiError> {
        let mut map = self.lock();
        let total: usize = map.values().map(|w| w.viewers).sum();
        if total >= MAX_VIEWERS {
            return Err(ApiError::Status(
                StatusCode::TOO_MANY_REQUESTS,
                format!("this server already streams {MAX_VIEWERS} live views; try again later"),
            ));
        }
        let w = map.entry(rec.id.clone()).or_insert(Watched {
            viewers: 0,
            session_id: rec.session_id.clone(),
        });
        if w.viewers >= MAX_VIEWERS_PER_RECORDING {
            return Err(ApiError::Status(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "agent '{}' already has {MAX_VIEWERS_PER_RECORDING} live viewers",
                    rec.username
                ),
            ));
        }
        w.viewers += 1;
        Ok(())
    }

    fn leave(&self, recording_id: &str) {
        let mut map = self.lock();
        if let Some(w) = map.get_mut(recording_id) {
            w.viewers = w.viewers.saturating_sub(1);
        }
    }

    /// Brings SRS in line with the count: `live on` when someone watches
    /// and SRS was not told, `live off` when nobody does any more. Runs
    /// under one async lock, reading the count inside it, so the command
    /// sent last always matches the count as it is.
    async fn reconcile(&self, rws: &Rws, recording_id: &str) {
        let mut told = self.commands.lock().await;
        let (want, session) = {
            let mut map = self.lock();
            let Some(w) = map.get(recording_id) else {
                return;
            };
            let out = (w.viewers > 0, w.session_id.clone());
            if w.viewers == 0 {
                map.remove(recording_id);
            }
            out
        };
        let was = told.get(recording_id).copied().unwrap_or(false);
        if want == was {
            return;
        }
        if want {
            told.insert(recording_id.to_string(), true);
        } else {
            told.remove(recording_id);
        }
        let Some(session) = session else { return };
        let notice = crate::compliance::setting_true(&rws.db, "live_notice", false)
            .await
            .unwrap_or(false);
        let rid = recording_id.to_string();
        // The acknowledgement is not awaited: the stream does not depend
        // on it (fragments flow either way, only longer), and a session
        // that is not connected gets the command when it comes back.
        let _ = rws
            .hub
            .send(rws, &session, |seq| ToAgent::Live {
                seq,
                recording_id: rid,
                on: want,
                notice: notice && want,
            })
            .await;
        tracing::info!(recording = %recording_id, on = want, "live view command");
    }
}

/// One viewer: counted while it exists; dropping it (the stream ended or
/// the client went) uncounts it, tells SRS when it was the last, and
/// writes the `live_view_end` audit row.
pub struct ViewerGuard {
    rws: Rws,
    recording_id: String,
    who: String,
    whom: String,
    monitor: u32,
    started: time::OffsetDateTime,
    remote: Option<SocketAddr>,
    /// The start was audited (only then is the end).
    audited: bool,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.rws.live.leave(&self.recording_id);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rws = self.rws.clone();
        let rid = self.recording_id.clone();
        let (who, whom) = (self.who.clone(), self.whom.clone());
        let detail = format!(
            "recording {rid}, monitor {}, from {} to {}",
            self.monitor,
            rfc3339(self.started),
            rfc3339(time::OffsetDateTime::now_utc())
        );
        let remote = self.remote;
        let audited = self.audited;
        runtime.spawn(async move {
            rws.live.reconcile(&rws, &rid).await;
            if !audited {
                return;
            }
            if let Err(e) =
                crate::compliance::audit(&rws.db, &who, "live_view_end", &whom, &detail, remote)
                    .await
            {
                tracing::error!(error = %e, "audit of a live view's end not written");
            }
        });
    }
}

/// What a live view is about to stream (checked, counted, audited).
pub enum LiveView {
    /// A recording's upload.
    Recording(RecordingView),
    /// An on-demand preview ([`crate::preview`]).
    Preview(crate::preview::PreviewTail),
}

/// A live view of a running recording.
pub struct RecordingView {
    rws: Rws,
    media_id: String,
    recording_id: String,
    guard: ViewerGuard,
}

/// Checks that `user` may watch `agent`'s monitor `monitor` now, waits for
/// the monitor's media file, counts the viewer, tells SRS and audits the
/// view. Errors are what the viewer sees: 403 (not a supervisor or admin,
/// or not of the agent's groups), 404 (no such agent or monitor), 409 (not
/// being recorded), 429 (too many viewers).
pub async fn open(
    rws: &Rws,
    user: &AuthUser,
    visibility: &Visibility,
    agent: &str,
    monitor: u32,
    remote: Option<SocketAddr>,
) -> Result<LiveView, ApiError> {
    if !(user.has("admin") || user.has("supervisor")) {
        return Err(ApiError::Forbidden(
            "live view needs the supervisor or admin role".into(),
        ));
    }
    if !visibility.sees(agent) {
        return Err(ApiError::Forbidden(format!(
            "you do not supervise agent '{agent}' (live view is for the agents of your groups)"
        )));
    }
    if monitor > MAX_MONITOR {
        return Err(ApiError::invalid(format!(
            "monitor {monitor} is out of range (0 to {MAX_MONITOR})"
        )));
    }
    if store::directory::user(&rws.db, agent).await?.is_none() {
        return Err(ApiError::NotFound(format!("no agent '{agent}'")));
    }
    let Some(rec) = store::recordings::active_for(&rws.db, agent).await? else {
        if crate::preview::allowed(&rws.db).await? {
            let tail = crate::preview::open(rws, &user.username, agent, monitor, remote).await?;
            return Ok(LiveView::Preview(tail));
        }
        return Err(ApiError::Conflict(format!(
            "agent '{agent}' is not being recorded: live view works only while a \
             recording runs (the directory's live_view = \"recording\")"
        )));
    };
    let media_id = wait_for_media(rws, &rec, monitor).await?;
    rws.live.join(&rec)?;
    let mut guard = ViewerGuard {
        rws: rws.clone(),
        recording_id: rec.id.clone(),
        who: user.username.clone(),
        whom: agent.to_string(),
        monitor,
        started: time::OffsetDateTime::now_utc(),
        remote,
        audited: false,
    };
    rws.live.reconcile(rws, &rec.id).await;
    crate::compliance::audit(
        &rws.db,
        &user.username,
        "live_view",
        agent,
        &format!(
            "recording {}, monitor {monitor}, from {}",
            rec.id,
            rfc3339(guard.started)
        ),
        remote,
    )
    .await?;
    guard.audited = true;
    Ok(LiveView::Recording(RecordingView {
        rws: rws.clone(),
        media_id,
        recording_id: rec.id,
        guard,
    }))
}

/// The media file of `rec`'s stream `monitor`: at once when it exists; a
/// recording without any media file yet (it just started) is waited for
/// up to [`MEDIA_WAIT`]; a monitor the recording does not have is a 404.
async fn wait_for_media(rws: &Rws, rec: &Rec, monitor: u32) -> Result<String, ApiError> {
    let deadline = Instant::now() + MEDIA_WAIT;
    loop {
        let media = store::media::of_recording(&rws.db, &rec.id).await?;
        if let Some(m) = media.iter().find(|m| m.stream == i64::from(monitor)) {
            return Ok(m.id.clone());
        }
        if !media.is_empty() || Instant::now() >= deadline {
            return Err(ApiError::NotFound(format!(
                "the recording of agent '{}' has no monitor {monitor} (it has {})",
                rec.username,
                media.len()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

impl LiveView {
    /// The fMP4 bytes of either kind of view.
    pub fn stream(self) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
        use futures_util::StreamExt;
        match self {
            LiveView::Recording(v) => v.stream().boxed(),
            LiveView::Preview(t) => t.stream().boxed(),
        }
    }
}

impl RecordingView {
    /// The fMP4 bytes: init segment, fragments from the newest keyframe,
    /// then each new fragment as it lands. Ends (cleanly) when the
    /// recording's upload is over, or with an error the client sees as a
    /// cut stream when a segment cannot be read or opened.
    pub fn stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        let tail = Tail {
            rws: self.rws,
            media_id: self.media_id,
            recording_id: self.recording_id,
            identity: None,
            last_seq: None,
            queue: VecDeque::new(),
            source: None,
            last_new: Instant::now(),
            _guard: self.guard,
        };
        futures_util::stream::unfold(tail, |mut tail| async move {
            match tail.next().await {
                Ok(Some(bytes)) => Some((Ok(bytes), tail)),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(media = %tail.media_id, error = %e, "live view ended");
                    // Yield the error once; the next poll ends the stream.
                    tail.queue.clear();
                    tail.last_seq = Some(i64::MAX);
                    Some((Err(std::io::Error::other(e)), tail))
                }
            }
        })
    }
}

/// A viewer's position in the media file.
struct Tail {
    rws: Rws,
    media_id: String,
    recording_id: String,
    identity: Option<age::x25519::Identity>,
    /// The last segment queued (`None`: nothing yet, not even the init).
    last_seq: Option<i64>,
    /// Segments to send, in order.
    queue: VecDeque<IndexEntry>,
    /// Where their ciphertext is (refreshed with each batch).
    source: Option<Source>,
    /// When new segments last arrived.
    last_new: Instant,
    _guard: ViewerGuard,
}

impl Tail {
    /// The next piece of the stream; `None` at its end.
    async fn next(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            if self.last_seq == Some(i64::MAX) {
                return Ok(None);
            }
            if let Some(entry) = self.queue.pop_front() {
                let plain = self.open(&entry).await?;
                return Ok(Some(Bytes::from(plain)));
            }
            if self.refill().await? {
                continue;
            }
            if self.over().await? {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Decrypts one segment (the key that opens it is found once).
    async fn open(&mut self, entry: &IndexEntry) -> Result<Vec<u8>, String> {
        let src = match &self.source {
            Some(s) => s.clone(),
            None => return Err("no source for the media".into()),
        };
        let cipher = match read_cipher(&self.rws, &src, entry).await {
            Ok(c) => c,
            // The staged parts were composed into the media object (and
            // removed) since the batch was read: read it from there.
            Err(_) => {
                let media = store::media::get(&self.rws.db, &self.media_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("media {} was removed", self.media_id))?;
                let fresh = staged_or_stored(&self.rws, &media)
                    .await
                    .map_err(|e| e.to_string())?;
                self.source = Some(fresh.clone());
                read_cipher(&self.rws, &fresh, entry).await?
            }
        };
        if self.identity.is_none() {
            let identities = crate::keys::all_identities(&self.rws.db, &self.rws.master)
                .await
                .map_err(|e| e.to_string())?;
            self.identity = identities
                .into_iter()
                .find(|id| decrypt_segment(&cipher, id).is_ok());
        }
        let identity = self
            .identity
            .as_ref()
            .ok_or_else(|| format!("no tenant key opens media {}", self.media_id))?;
        decrypt_segment(&cipher, identity).map_err(|(_, e)| e.to_string())
    }

    /// Queues what arrived since the last look; true when something did.
    async fn refill(&mut self) -> Result<bool, String> {
        let db = &self.rws.db;
        let sql = |e: sqlx::Error| e.to_string();
        let rows = match self.last_seq {
            Some(after) => store::media::segments_after(db, &self.media_id, after, BATCH)
                .await
                .map_err(sql)?,
            None => {
                // The first look: the init segment and the newest
                // [`KEYFRAME_SEARCH`] fragments (the older ones of a long
                // recording are never read).
                let Some((last, _)) = store::media::last_segment(db, &self.media_id)
                    .await
                    .map_err(sql)?
                else {
                    return Ok(false);
                };
                let mut rows = store::media::segments_after(db, &self.media_id, -1, 1)
                    .await
                    .map_err(sql)?;
                let from = (last - KEYFRAME_SEARCH as i64).max(0);
                rows.extend(
                    store::media::segments_after(db, &self.media_id, from, KEYFRAME_SEARCH as i64)
                        .await
                        .map_err(sql)?,
                );
                rows
            }
        };
        let Some(&(last, _)) = rows.last() else {
            return Ok(false);
        };
        let media = store::media::get(db, &self.media_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("media {} was removed", self.media_id))?;
        self.source = Some(
            staged_or_stored(&self.rws, &media)
                .await
                .map_err(|e| e.to_string())?,
        );
        if self.last_seq.is_none() {
            // The first look: the init segment, then from the newest
            // fragment that starts with a keyframe.
            let start = self.start_index(&rows).await?;
            self.queue.push_back(rows[0].1);
            self.queue
                .extend(rows.iter().skip(start.max(1)).map(|(_, e)| *e));
        } else {
            self.queue.extend(rows.iter().map(|(_, e)| *e));
        }
        self.last_seq = Some(last);
        self.last_new = Instant::now();
        Ok(true)
    }

    /// Index in `rows` (segment 0 is the init) of the newest fragment that
    /// starts with a keyframe, looking back at most [`KEYFRAME_SEARCH`]
    /// fragments; the first fragment when none is found.
    async fn start_index(&mut self, rows: &[(i64, IndexEntry)]) -> Result<usize, String> {
        for i in (1..rows.len()).rev().take(KEYFRAME_SEARCH) {
            let plain = self.open(&rows[i].1).await?;
            if media::fmp4::fragment_starts_with_keyframe(&plain) == Some(true) {
                return Ok(i);
            }
        }
        Ok(1)
    }

    /// True when nothing more will come: the media file is stored, or the
    /// recording is over, or nothing arrived for [`IDLE_END`].
    async fn over(&self) -> Result<bool, String> {
        let db = &self.rws.db;
        let media = store::media::get(db, &self.media_id)
            .await
            .map_err(|e| e.to_string())?;
        let stored = media.as_ref().is_none_or(|m| m.object_path.is_some());
        let rec = store::recordings::get(db, &self.recording_id)
            .await
            .map_err(|e| e.to_string())?;
        let ended = rec.is_none_or(|r| {
            matches!(
                r.state,
                RecordingState::Completed | RecordingState::Partial | RecordingState::Failed
            )
        });
        if stored || ended {
            // One last look: segments that arrived with the end.
            let after = self.last_seq.unwrap_or(-1);
            let rows = store::media::segments_after(db, &self.media_id, after, 1)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(rows.is_empty());
        }
        Ok(self.last_new.elapsed() >= IDLE_END)
    }
}
