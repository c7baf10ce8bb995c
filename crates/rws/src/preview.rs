//! On-demand live view of an agent who is not being recorded (issue 14
//! part 1, the directory's `live_view = "always"`; `docs/live-view.md`).
//!
//! The first viewer of such an agent makes a *preview*: RWS sends the
//! agent's SRS `preview {on: true}` over the session channel (the only way
//! to ask for one: no page can) with a fresh id and upload token, and waits
//! for the acknowledgement. SRS captures the screen with the same recorder
//! (1 s fragments, encrypted to the tenant) and `PUT`s every segment to
//! `/api/v2/srs/previews/{id}/{stream}/{seq}`. RWS keeps them in memory
//! only — per monitor the init segment and the newest [`KEEP`] fragments,
//! each at most [`crate::segments::MAX_SEGMENT`] — and the viewers' streams
//! read from there (`crate::live` opens them). Nothing is stored: no recording row,
//! no media row or object, no staging file; search and retention never see
//! a preview.
//!
//! When the last viewer leaves, RWS forgets the preview and sends
//! `preview {on: false}`; SRS also stops by itself at its cap, when RWS
//! answers 404 to a segment, or when a recording starts (a call always
//! wins; the viewers' streams then end and the console's next request
//! watches the recording). A preview lasts at most [`PREVIEW_CAP`].
//!
//! Limitation: the segments are held by the RWS node that received them;
//! in a cluster the viewer and the SRS upload must reach the same node.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::Bytes;
use proto::control::ToAgent;

use crate::Rws;
use crate::error::ApiError;

/// A preview ends after this long, watched or not (SRS is told the same).
pub const PREVIEW_CAP: Duration = Duration::from_secs(10 * 60);
/// Fragments kept per monitor (the viewers read the newest).
pub const KEEP: usize = 8;
/// Monitors a preview may send.
pub const MAX_STREAMS: usize = 16;
/// Largest preview segment (a 1 s fragment of a screen is far smaller).
pub const MAX_PREVIEW_SEGMENT: usize = 8 << 20;
/// Bytes one preview holds at most, every monitor together: beyond, its
/// oldest fragments go (an init segment always stays).
pub const PREVIEW_BUDGET: usize = 16 << 20;
/// Previews one RWS runs at a time (429 beyond): with [`PREVIEW_BUDGET`]
/// this bounds their memory to 256 MiB, whatever SRS sends.
pub const MAX_PREVIEWS: usize = 16;
/// How long RWS waits for SRS's acknowledgement of `preview`.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// Most viewers of one preview (every monitor counts; as many as of a
/// recording).
pub const MAX_VIEWERS: usize = 8;

/// The directory says `live_view = "always"`: agents who are not being
/// recorded may be watched (through a preview).
pub async fn allowed(db: &crate::store::Pool) -> Result<bool, sqlx::Error> {
    let mode = crate::store::directory::setting(db, "live_view").await?;
    Ok(mode.as_deref() == Some("always"))
}

/// The previews running, by agent.
#[derive(Default)]
pub struct Previews {
    map: Mutex<HashMap<String, Arc<Preview>>>,
    /// One preview is made at a time (two first viewers of one agent must
    /// not make two).
    starting: tokio::sync::Mutex<()>,
}

/// One running preview.
pub struct Preview {
    /// Its id (a UUID).
    pub id: String,
    /// Whose screen.
    pub agent: String,
    session: String,
    token_hash: String,
    started: Instant,
    viewers: Mutex<usize>,
    streams: Mutex<HashMap<u32, StreamBuf>>,
    /// Woken when a segment arrives or the preview ends.
    pub changed: tokio::sync::Notify,
    ended: AtomicBool,
}

#[derive(Default)]
struct StreamBuf {
    init: Option<Bytes>,
    frags: VecDeque<(u64, Bytes)>,
}

impl StreamBuf {
    fn bytes(&self) -> usize {
        self.init.as_ref().map_or(0, Bytes::len)
            + self.frags.iter().map(|(_, b)| b.len()).sum::<usize>()
    }
}

/// What a viewer reads of one monitor: the (encrypted) init segment and the
/// fragments after the one it had.
pub struct Snapshot {
    /// The init segment, when it arrived.
    pub init: Option<Bytes>,
    /// `(seq, ciphertext)`, oldest first.
    pub frags: Vec<(u64, Bytes)>,
    /// Monitors sent so far.
    pub streams: usize,
}

impl Previews {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Preview>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The preview with this id.
    pub fn by_id(&self, id: &str) -> Option<Arc<Preview>> {
        self.lock().values().find(|p| p.id == id).cloned()
    }

    /// The agent's running preview.
    pub fn of_agent(&self, agent: &str) -> Option<Arc<Preview>> {
        self.lock().get(agent).cloned()
    }

    /// Counts a viewer of `agent`'s preview, making it (and asking SRS,
    /// acknowledged) when none runs. 409 when SRS is not connected or
    /// refuses (e.g. a recording started meanwhile), 429 past the cap.
    pub async fn join(
        &self,
        rws: &Rws,
        agent: &str,
        session: &str,
        notice: bool,
    ) -> Result<Arc<Preview>, ApiError> {
        let _one = self.starting.lock().await;
        let running = self.lock().values().filter(|p| !p.is_over()).count();
        if let Some(p) = self.of_agent(agent).filter(|p| !p.is_over()) {
            let mut n = p.viewers();
            if *n >= MAX_VIEWERS {
                return Err(ApiError::Status(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("agent '{agent}' already has {MAX_VIEWERS} live viewers"),
                ));
            }
            *n += 1;
            drop(n);
            return Ok(p);
        }
        if running >= MAX_PREVIEWS {
            return Err(ApiError::Status(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this server already runs {MAX_PREVIEWS} on-demand live views; try again later"
                ),
            ));
        }
        let token = crate::auth::new_token();
        let preview = Arc::new(Preview {
            id: uuid::Uuid::new_v4().to_string(),
            agent: agent.to_string(),
            session: session.to_string(),
            token_hash: crate::auth::token_hash(&token),
            started: Instant::now(),
            viewers: Mutex::new(1),
            streams: Mutex::default(),
            changed: tokio::sync::Notify::new(),
            ended: AtomicBool::new(false),
        });
        self.lock().insert(agent.to_string(), preview.clone());
        let recipients = crate::keys::active_recipients(&rws.db)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let masks = crate::directory::masks_for(&rws.db, agent).await?;
        let id = preview.id.clone();
        let sent = rws
            .hub
            .send(rws, session, |seq| ToAgent::Preview {
                seq,
                preview_id: id.clone(),
                on: true,
                notice,
                recipients,
                upload_url: format!("/api/v2/srs/previews/{id}"),
                upload_token: token,
                masks,
                max_duration_s: PREVIEW_CAP.as_secs(),
            })
            .await;
        let refused = match sent {
            None => Some(format!(
                "agent '{agent}' has no connected SRS to capture the screen"
            )),
            Some(ack) => match tokio::time::timeout(ACK_WAIT, ack).await {
                Ok(Ok(a)) if a.ok => None,
                Ok(Ok(a)) => Some(format!(
                    "the SRS of agent '{agent}' refused the live preview: {}",
                    a.error.unwrap_or_default()
                )),
                _ => Some(format!(
                    "the SRS of agent '{agent}' did not answer the live preview request"
                )),
            },
        };
        if let Some(why) = refused {
            self.forget(&preview);
            return Err(ApiError::Conflict(why));
        }
        tracing::info!(preview = %preview.id, agent = %proto::logsafe::Escaped(agent), "live preview started");
        Ok(preview)
    }

    /// A viewer leaves; the last one ends the preview (SRS is told).
    pub fn leave(&self, rws: &Rws, preview: &Arc<Preview>) {
        let last = {
            let mut n = preview.viewers();
            *n = n.saturating_sub(1);
            *n == 0
        };
        if last {
            self.end(rws, preview);
        }
    }

    /// Ends the preview: forgotten (its segments dropped) and SRS told.
    pub fn end(&self, rws: &Rws, preview: &Arc<Preview>) {
        if preview.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        self.forget(preview);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rws = rws.clone();
        let (id, session) = (preview.id.clone(), preview.session.clone());
        runtime.spawn(async move {
            let _ = rws
                .hub
                .send(&rws, &session, |seq| ToAgent::Preview {
                    seq,
                    preview_id: id.clone(),
                    on: false,
                    notice: false,
                    recipients: Vec::new(),
                    upload_url: String::new(),
                    upload_token: String::new(),
                    masks: Vec::new(),
                    max_duration_s: 0,
                })
                .await;
            tracing::info!(preview = %id, "live preview ended");
        });
    }

    fn forget(&self, preview: &Arc<Preview>) {
        preview.ended.store(true, Ordering::SeqCst);
        preview.lock_streams().clear();
        preview.changed.notify_waiters();
        let mut map = self.lock();
        if map.get(&preview.agent).is_some_and(|p| p.id == preview.id) {
            map.remove(&preview.agent);
        }
    }
}

impl Preview {
    fn viewers(&self) -> std::sync::MutexGuard<'_, usize> {
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, HashMap<u32, StreamBuf>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ended, or past [`PREVIEW_CAP`].
    pub fn is_over(&self) -> bool {
        self.ended.load(Ordering::SeqCst) || self.started.elapsed() >= PREVIEW_CAP
    }

    /// The upload token is this preview's (constant time).
    pub fn token_ok(&self, token: &str) -> bool {
        crate::auth::same_hash(&crate::auth::token_hash(token), &self.token_hash)
    }

    /// Takes segment `seq` of monitor `stream` from SRS (0 is the init
    /// segment). Refuses what a well-behaved SRS never sends: too many
    /// monitors, an oversized segment, a second init, a replayed or older
    /// sequence number; keeps only the newest [`KEEP`] fragments.
    pub fn put(&self, stream: u32, seq: u64, body: Bytes) -> Result<(), ApiError> {
        if self.is_over() {
            return Err(ApiError::Status(
                StatusCode::GONE,
                format!("live preview {} is over", self.id),
            ));
        }
        if body.len() > MAX_PREVIEW_SEGMENT {
            return Err(ApiError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a preview segment is at most {MAX_PREVIEW_SEGMENT} bytes"),
            ));
        }
        if !body.starts_with(crate::segments::AGE_MAGIC) {
            return Err(ApiError::invalid(
                "a preview segment must be an age-encrypted segment",
            ));
        }
        let mut streams = self.lock_streams();
        if !streams.contains_key(&stream) && streams.len() >= MAX_STREAMS {
            return Err(ApiError::invalid(format!(
                "a preview has at most {MAX_STREAMS} monitors"
            )));
        }
        let buf = streams.entry(stream).or_default();
        if seq == 0 {
            if buf.init.is_some() {
                return Err(ApiError::Conflict(format!(
                    "monitor {stream} of preview {} already has its init segment",
                    self.id
                )));
            }
            buf.init = Some(body);
        } else {
            if buf.init.is_none() {
                return Err(ApiError::Conflict(format!(
                    "monitor {stream}: the init segment (seq 0) comes first"
                )));
            }
            if buf.frags.back().is_some_and(|(last, _)| *last >= seq) {
                return Err(ApiError::Conflict(format!(
                    "monitor {stream}: segment {seq} is not after the last one received"
                )));
            }
            buf.frags.push_back((seq, body));
            while buf.frags.len() > KEEP {
                buf.frags.pop_front();
            }
        }
        // The budget, every monitor together: the oldest fragments go
        // first (the newest of each monitor stays, so viewers go on); what
        // still does not fit is refused, so a preview never holds more.
        loop {
            let held: usize = streams.values().map(StreamBuf::bytes).sum();
            if held <= PREVIEW_BUDGET {
                break;
            }
            let oldest = streams
                .iter()
                .filter(|(_, b)| b.frags.len() > 1)
                .min_by_key(|(_, b)| b.frags.front().map(|(s, _)| *s))
                .map(|(k, _)| *k);
            if let Some(b) = oldest.and_then(|k| streams.get_mut(&k)) {
                b.frags.pop_front();
                continue;
            }
            if let Some(b) = streams.get_mut(&stream) {
                if seq == 0 {
                    b.init = None;
                } else {
                    b.frags.pop_back();
                }
            }
            return Err(ApiError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "a live preview holds at most {PREVIEW_BUDGET} bytes, every monitor together"
                ),
            ));
        }
        drop(streams);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Monitor `stream`'s init segment and its fragments after `after`.
    pub fn snapshot(&self, stream: u32, after: Option<u64>) -> Snapshot {
        let streams = self.lock_streams();
        let n = streams.len();
        match streams.get(&stream) {
            None => Snapshot {
                init: None,
                frags: Vec::new(),
                streams: n,
            },
            Some(b) => Snapshot {
                init: b.init.clone(),
                frags: b
                    .frags
                    .iter()
                    .filter(|(s, _)| after.is_none_or(|a| *s > a))
                    .cloned()
                    .collect(),
                streams: n,
            },
        }
    }
}

/// How long a new viewer waits for the preview's first segments.
const FIRST_WAIT: Duration = Duration::from_secs(15);
/// A viewer that gets nothing new this long is ended (SRS stopped).
const IDLE_END: Duration = Duration::from_secs(15);
/// How often a viewer checks that no recording started meanwhile.
const RECORDING_CHECK: Duration = Duration::from_secs(1);

/// One viewer of a preview: counted while it exists; dropping it uncounts
/// it (the last ends the preview) and writes the `live_view_end` row.
pub struct PreviewGuard {
    rws: Rws,
    preview: Arc<Preview>,
    who: String,
    monitor: u32,
    started: time::OffsetDateTime,
    remote: Option<std::net::SocketAddr>,
    audited: bool,
}

impl Drop for PreviewGuard {
    fn drop(&mut self) {
        self.rws.live.previews.leave(&self.rws, &self.preview);
        if !self.audited {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rws = self.rws.clone();
        let (who, whom) = (self.who.clone(), self.preview.agent.clone());
        let detail = format!(
            "preview {}, monitor {}, from {} to {}",
            self.preview.id,
            self.monitor,
            crate::recording::rfc3339(self.started),
            crate::recording::rfc3339(time::OffsetDateTime::now_utc())
        );
        let remote = self.remote;
        runtime.spawn(async move {
            if let Err(e) =
                crate::compliance::audit(&rws.db, &who, "live_view_end", &whom, &detail, remote)
                    .await
            {
                tracing::error!(error = %e, "audit of a live preview's end not written");
            }
        });
    }
}

/// Opens a viewer of `agent`'s preview (made when none runs), waits for
/// monitor `monitor`'s first segments and audits the view. The caller has
/// checked who watches whom and that `live_view = "always"`.
pub async fn open(
    rws: &Rws,
    who: &str,
    agent: &str,
    monitor: u32,
    remote: Option<std::net::SocketAddr>,
) -> Result<PreviewTail, ApiError> {
    let Some(session) = rws.hub.session_of_user(agent) else {
        return Err(ApiError::Conflict(format!(
            "agent '{agent}' is not being recorded and has no SRS session: \
             there is no screen to watch"
        )));
    };
    let notice = crate::compliance::setting_true(&rws.db, "live_notice", false)
        .await
        .unwrap_or(false);
    let preview = rws.live.previews.join(rws, agent, &session, notice).await?;
    let mut guard = PreviewGuard {
        rws: rws.clone(),
        preview: preview.clone(),
        who: who.to_string(),
        monitor,
        started: time::OffsetDateTime::now_utc(),
        remote,
        audited: false,
    };
    // The monitor's init segment and a first fragment, or a clear error.
    let deadline = Instant::now() + FIRST_WAIT;
    loop {
        let notified = preview.changed.notified();
        let snap = preview.snapshot(monitor, None);
        if snap.init.is_some() && !snap.frags.is_empty() {
            break;
        }
        if preview.is_over() {
            return Err(ApiError::Conflict(format!(
                "the live preview of agent '{agent}' ended (a recording started?)"
            )));
        }
        if Instant::now() >= deadline {
            return Err(if snap.streams > 0 && snap.init.is_none() {
                ApiError::NotFound(format!(
                    "the screen of agent '{agent}' has no monitor {monitor} (it has {})",
                    snap.streams
                ))
            } else {
                ApiError::Status(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("the SRS of agent '{agent}' sent no screen within {FIRST_WAIT:?}"),
                )
            });
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
    }
    crate::compliance::audit(
        &rws.db,
        who,
        "live_view",
        agent,
        &format!(
            "preview {} (not recorded, live_view = always), monitor {monitor}, from {}",
            preview.id,
            crate::recording::rfc3339(guard.started)
        ),
        remote,
    )
    .await?;
    guard.audited = true;
    let identities = crate::keys::all_identities(&rws.db, &rws.master)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(PreviewTail {
        rws: rws.clone(),
        preview,
        monitor,
        identities,
        identity: None,
        done: false,
        last_seq: None,
        queue: VecDeque::new(),
        last_new: Instant::now(),
        last_check: Instant::now(),
        _guard: guard,
    })
}

/// A viewer's position in a preview's monitor.
pub struct PreviewTail {
    rws: Rws,
    preview: Arc<Preview>,
    monitor: u32,
    /// The tenant's keys; `identity` is the one that opened the last
    /// segment.
    identities: Vec<age::x25519::Identity>,
    identity: Option<usize>,
    /// An error ended the stream.
    done: bool,
    /// The last fragment queued (`None`: not even the init yet).
    last_seq: Option<u64>,
    queue: VecDeque<Bytes>,
    last_new: Instant,
    last_check: Instant,
    _guard: PreviewGuard,
}

impl PreviewTail {
    /// The stream of plaintext fMP4: init, the newest fragment that starts
    /// with a keyframe, then each new one.
    pub fn stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::unfold(self, |mut tail| async move {
            match tail.next().await {
                Ok(Some(b)) => Some((Ok(b), tail)),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(preview = %tail.preview.id, error = %e, "live preview view ended");
                    tail.done = true;
                    Some((Err(std::io::Error::other(e)), tail))
                }
            }
        })
    }

    async fn next(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(cipher) = self.queue.pop_front() {
                return self.open(&cipher).map(|p| Some(Bytes::from(p)));
            }
            if self.preview.is_over() || self.last_new.elapsed() >= IDLE_END {
                return Ok(None);
            }
            if self.last_check.elapsed() >= RECORDING_CHECK {
                self.last_check = Instant::now();
                // A call started: the recording has the screen now.
                let rec = crate::store::recordings::active_for(&self.rws.db, &self.preview.agent)
                    .await
                    .map_err(|e| e.to_string())?;
                if rec.is_some() {
                    self.rws.live.previews.end(&self.rws, &self.preview);
                    return Ok(None);
                }
            }
            let preview = self.preview.clone();
            let notified = preview.changed.notified();
            if self.refill()? {
                continue;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }

    fn refill(&mut self) -> Result<bool, String> {
        let snap = self.preview.snapshot(self.monitor, self.last_seq);
        let Some(&(last, _)) = snap.frags.last() else {
            return Ok(false);
        };
        if self.last_seq.is_none() {
            let init = snap.init.ok_or("no init segment")?;
            // From the newest fragment that starts with a keyframe.
            let mut start = 0;
            for (i, (_, c)) in snap.frags.iter().enumerate().rev() {
                let plain = self.open(c)?;
                if media::fmp4::fragment_starts_with_keyframe(&plain) == Some(true) {
                    start = i;
                    break;
                }
            }
            self.queue.push_back(init);
            self.queue
                .extend(snap.frags.into_iter().skip(start).map(|(_, c)| c));
        } else {
            self.queue.extend(snap.frags.into_iter().map(|(_, c)| c));
        }
        self.last_seq = Some(last);
        self.last_new = Instant::now();
        Ok(true)
    }

    fn open(&mut self, cipher: &[u8]) -> Result<Vec<u8>, String> {
        if let Some(id) = self.identity.and_then(|i| self.identities.get(i))
            && let Ok(plain) = media::crypt::decrypt_segment(cipher, id)
        {
            return Ok(plain);
        }
        for (i, id) in self.identities.iter().enumerate() {
            if let Ok(plain) = media::crypt::decrypt_segment(cipher, id) {
                self.identity = Some(i);
                return Ok(plain);
            }
        }
        Err(format!(
            "no tenant key opens a segment of preview {}",
            self.preview.id
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn preview() -> Preview {
        Preview {
            id: "p".into(),
            agent: "agent1".into(),
            session: "s".into(),
            token_hash: crate::auth::token_hash("tok"),
            started: Instant::now(),
            viewers: Mutex::new(1),
            streams: Mutex::default(),
            changed: tokio::sync::Notify::new(),
            ended: AtomicBool::new(false),
        }
    }

    fn seg(n: u8) -> Bytes {
        let mut v = crate::segments::AGE_MAGIC.to_vec();
        v.push(n);
        Bytes::from(v)
    }

    fn status(e: ApiError) -> String {
        format!("{e:?}")
    }

    #[test]
    fn token_is_checked() {
        let p = preview();
        assert!(p.token_ok("tok"));
        assert!(!p.token_ok("tok2"));
        assert!(!p.token_ok(""));
    }

    #[test]
    fn init_first_no_replay_and_only_the_newest_kept() {
        let p = preview();
        assert!(p.put(0, 1, seg(1)).is_err(), "a fragment before the init");
        p.put(0, 0, seg(0)).unwrap();
        assert!(p.put(0, 0, seg(0)).is_err(), "a second init");
        for s in 1..=20 {
            p.put(0, s, seg(s as u8)).unwrap();
        }
        assert!(p.put(0, 20, seg(20)).is_err(), "a replay");
        assert!(p.put(0, 3, seg(3)).is_err(), "an older one");
        let snap = p.snapshot(0, None);
        assert!(snap.init.is_some());
        let seqs: Vec<u64> = snap.frags.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (13..=20).collect::<Vec<_>>(), "the newest {KEEP}");
        assert_eq!(p.snapshot(0, Some(18)).frags.len(), 2);
        assert!(p.snapshot(1, None).init.is_none());
    }

    #[test]
    fn refuses_clear_oversized_too_many_monitors_and_after_the_end() {
        let p = preview();
        let e = p
            .put(0, 0, Bytes::from_static(b"\x00\x00\x00\x18ftypisom"))
            .unwrap_err();
        assert!(status(e).contains("age-encrypted"));
        let big = vec![b'a'; MAX_PREVIEW_SEGMENT + 1];
        assert!(p.put(0, 0, Bytes::from(big)).is_err(), "oversized");
        for s in 0..MAX_STREAMS as u32 {
            p.put(s, 0, seg(0)).unwrap();
        }
        let e = p.put(MAX_STREAMS as u32, 0, seg(0)).unwrap_err();
        assert!(status(e).contains("monitors"));
        // The budget: big fragments on two monitors evict the oldest.
        let big = |n: u8| {
            let mut v = crate::segments::AGE_MAGIC.to_vec();
            v.resize(MAX_PREVIEW_SEGMENT - 1, n);
            Bytes::from(v)
        };
        for s in 1..=4 {
            p.put(0, s, big(1)).unwrap();
        }
        assert_eq!(p.snapshot(0, None).frags.len(), 1, "the older ones went");
        let e = p.put(1, 1, big(2)).unwrap_err();
        assert!(status(e).contains("at most"));
        let held: usize = p.lock_streams().values().map(StreamBuf::bytes).sum();
        assert!(held <= PREVIEW_BUDGET, "{held}");
        assert!(
            p.snapshot(1, None).frags.is_empty(),
            "the refused one is not kept"
        );
        p.put(1, 1, seg(1)).unwrap();
        p.ended.store(true, Ordering::SeqCst);
        let e = p.put(0, 1, seg(1)).unwrap_err();
        assert!(status(e).contains("over"));
    }
}
