//! On-demand live view of an agent who is not being recorded (issue 14
//! part 1, the directory's `live_view = "always"`; `docs/live-view.md`),
//! on one RWS or across the nodes of a cluster (issue 12).
//!
//! The first viewer of such an agent makes a *preview*: RWS sends the
//! agent's SRS `preview {on: true}` over the session channel (the only way
//! to ask for one: no page can) with a fresh id and upload token, and waits
//! for the acknowledgement. SRS captures the screen with the same recorder
//! (1 s fragments, encrypted to the tenant) and `PUT`s every segment to
//! `/api/v2/srs/previews/{id}/{stream}/{seq}`. RWS keeps per monitor the
//! init segment and the newest [`KEEP`] fragments, each at most
//! [`MAX_PREVIEW_SEGMENT`], at most [`PREVIEW_BUDGET`] per preview, and
//! the viewers' streams read from there (`crate::live` opens them).
//!
//! **Where a preview lives: in the database** ([`crate::store::previews`]),
//! the registry (id, token hash, agent, session, cap), one row per viewer
//! (with the node streaming to it) and the segments (bytes, ciphertext as
//! SRS sent it). In a cluster the console's request, SRS's control channel
//! and SRS's segment `PUT`s may each reach a different node (no sticky
//! sessions), so every node must see the same preview; PostgreSQL is
//! already what the nodes share and coordinate through, it takes a
//! segment and wakes the viewers' nodes (`NOTIFY`) in one round trip, and
//! an `UNLOGGED` table keeps the megabytes out of the WAL and replicas and
//! is emptied by a crash. Staged objects in the bucket were the other
//! choice: a `PUT` plus a `LIST`/`GET` per fragment and viewer, a second
//! store to clean after a node death, and no way to wake a viewer. SQLite
//! (one node) runs the same code: a fragment a second per monitor is one
//! short write transaction, and one code path is tested by both backends.
//!
//! Nothing is stored beyond the preview's life: no recording row, no media
//! row or object, no staging file; the preview's rows go when it ends, and
//! search and retention never read them.
//!
//! A preview ends (every row deleted, SRS told `preview {on: false}`
//! through the command queue, which reaches whichever node holds the
//! channel) when the last viewer on any node leaves; when the node
//! streaming to the last viewers dies (its lease in `cluster_nodes` runs
//! out and the node running the singleton jobs drops its viewers,
//! [`sweep`]); after [`PREVIEW_CAP`]; or when a call starts (a call always
//! wins: SRS hands the screen to the recording, the viewers' streams end
//! and the console's next request watches the recording). SRS also stops
//! by itself at its cap or when RWS answers 404/410 to a segment.
//!
//! Limits, cluster-wide (counted in the rows): [`MAX_PREVIEWS`] previews,
//! [`MAX_VIEWERS`] viewers of one preview, the budget and the cap; the 15 s
//! without a new fragment ends each viewer on its own node.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::Bytes;
use proto::control::ToAgent;
use tokio::sync::Notify;

use crate::Rws;
use crate::error::ApiError;
use crate::recording::{now, rfc3339};
use crate::store::previews::{self as rows, Held, PreviewRow};

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
/// Previews running at a time, every node together (429 beyond): with
/// [`PREVIEW_BUDGET`] this bounds what they hold to 256 MiB, whatever SRS
/// sends.
pub const MAX_PREVIEWS: usize = 16;
/// How long RWS waits for SRS's acknowledgement of `preview`.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// Most viewers of one preview, every node together (every monitor
/// counts; as many as of a recording).
pub const MAX_VIEWERS: usize = 8;
/// How often the node running the singleton jobs ends previews nobody
/// watches any more (their viewers' node died) or past their cap.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The directory says `live_view = "always"`: agents who are not being
/// recorded may be watched (through a preview).
pub async fn allowed(db: &crate::store::Pool) -> Result<bool, sqlx::Error> {
    let mode = crate::store::directory::setting(db, "live_view").await?;
    Ok(mode.as_deref() == Some("always"))
}

/// This node's side of the previews: what wakes its viewers when a
/// segment lands (here, or on another node: [`crate::cluster`] relays the
/// `NOTIFY`). The previews themselves are rows.
#[derive(Default)]
pub struct Previews {
    wakers: Mutex<HashMap<String, Weak<Notify>>>,
    /// One preview is made at a time on this node (two first viewers of
    /// one agent on two nodes are settled by the database: one preview
    /// per agent).
    starting: tokio::sync::Mutex<()>,
}

impl Previews {
    fn wakers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Notify>>> {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The waker of preview `id`'s viewers on this node.
    fn waker(&self, id: &str) -> Arc<Notify> {
        let mut map = self.wakers();
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(n) = map.get(id).and_then(Weak::upgrade) {
            return n;
        }
        let n = Arc::new(Notify::new());
        map.insert(id.to_string(), Arc::downgrade(&n));
        n
    }

    /// A segment of preview `id` landed (or it ended): its viewers on this
    /// node look now rather than at their next poll.
    pub fn wake(&self, id: &str) {
        if let Some(n) = self.wakers().get(id).and_then(Weak::upgrade) {
            n.notify_waiters();
        }
    }
}

/// The node a viewer's row names (its lease in `cluster_nodes` says it is
/// alive); the single node has no lease and no other node.
fn node(rws: &Rws) -> String {
    rws.cluster
        .as_ref()
        .map_or_else(|| "local".to_string(), |c| c.node.clone())
}

/// Counts viewer `viewer` of `agent`'s preview, making it (and asking SRS,
/// acknowledged) when none runs on any node. 409 when SRS is not
/// connected or refuses (e.g. a recording started meanwhile), 429 past
/// the caps.
async fn join(
    rws: &Rws,
    agent: &str,
    session: &str,
    notice: bool,
    viewer: &str,
) -> Result<PreviewRow, ApiError> {
    let _one = rws.live.previews.starting.lock().await;
    let node = node(rws);
    // Twice at most: a preview made by another node between our look and
    // our insert is joined on the second round.
    for _ in 0..2 {
        match rows::join(&rws.db, agent, viewer, &node, MAX_VIEWERS as i64, &now()).await? {
            rows::Join::Joined(row) => return Ok(row),
            rows::Join::Full => {
                return Err(ApiError::Status(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("agent '{agent}' already has {MAX_VIEWERS} live viewers"),
                ));
            }
            rows::Join::NoPreview => {}
        }
        if rows::count(&rws.db).await? >= MAX_PREVIEWS as i64 {
            return Err(full());
        }
        let token = crate::auth::new_token();
        let started = time::OffsetDateTime::now_utc();
        let row = PreviewRow {
            id: uuid::Uuid::new_v4().to_string(),
            agent: agent.to_string(),
            session_id: session.to_string(),
            token_hash: crate::auth::token_hash(&token),
            started_at: rfc3339(started),
            ends_at: rfc3339(started + PREVIEW_CAP),
        };
        if !rows::create(&rws.db, &row, viewer, &node).await? {
            continue;
        }
        // Two nodes may have made one each at the same moment: the later
        // ones past the cap step back.
        if rows::rank(&rws.db, &row.id).await? >= MAX_PREVIEWS as i64 {
            let _ = rows::end(&rws.db, &row.id).await;
            return Err(full());
        }
        ask_srs(rws, &row, token, notice).await?;
        tracing::info!(preview = %row.id, agent = %proto::logsafe::Escaped(agent), "live preview started");
        return Ok(row);
    }
    Err(ApiError::Conflict(format!(
        "the live preview of agent '{agent}' is starting and ending at once; try again"
    )))
}

fn full() -> ApiError {
    ApiError::Status(
        StatusCode::TOO_MANY_REQUESTS,
        format!("{MAX_PREVIEWS} on-demand live views already run; try again later"),
    )
}

/// Sends SRS `preview {on: true}` for `row` and waits for its answer; on
/// a refusal the preview is ended (its rows go) and the viewer gets 409.
async fn ask_srs(rws: &Rws, row: &PreviewRow, token: String, notice: bool) -> Result<(), ApiError> {
    let agent = &row.agent;
    let recipients = crate::keys::active_recipients(&rws.db)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let masks = crate::directory::masks_for(&rws.db, agent).await?;
    let id = row.id.clone();
    let sent = rws
        .hub
        .send(rws, &row.session_id, |seq| ToAgent::Preview {
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
        // The other viewers (any node) see the rows gone and end too.
        let _ = rows::end(&rws.db, &row.id).await;
        rws.live.previews.wake(&row.id);
        return Err(ApiError::Conflict(why));
    }
    Ok(())
}

/// Tells SRS that preview `id` is over (through the command queue, so the
/// node holding the channel sends it) and wakes this node's viewers.
async fn tell_srs_off(rws: &Rws, session: &str, id: &str) {
    rws.live.previews.wake(id);
    let _ = rws
        .hub
        .send(rws, session, |seq| ToAgent::Preview {
            seq,
            preview_id: id.to_string(),
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
}

/// Ends preview `id` (every row goes) and tells SRS, unless it was over
/// already (then whoever ended it told SRS).
pub async fn end(rws: &Rws, id: &str) {
    match rows::end(&rws.db, id).await {
        Ok(Some(session)) => tell_srs_off(rws, &session, id).await,
        Ok(None) => rws.live.previews.wake(id),
        Err(e) => tracing::error!(preview = %id, error = %e, "ending a live preview"),
    }
}

/// The preview a segment `PUT` names, if `token` is its upload token
/// (compared in constant time): 404 when none runs (SRS then stops), 401
/// with another token.
pub async fn authorised(rws: &Rws, id: &str, token: &str) -> Result<PreviewRow, ApiError> {
    let unknown = || {
        ApiError::NotFound(format!(
            "no live preview '{}' runs",
            proto::logsafe::escape(&id.chars().take(80).collect::<String>())
        ))
    };
    // An id is a UUID: anything longer is no preview (and no query).
    if id.len() > 64 {
        return Err(unknown());
    }
    let row = rows::by_id(&rws.db, id).await?.ok_or_else(unknown)?;
    if !crate::auth::same_hash(&crate::auth::token_hash(token), &row.token_hash) {
        return Err(ApiError::Unauthenticated(
            "a preview segment needs the preview's upload token".into(),
        ));
    }
    Ok(row)
}

/// Takes segment `seq` of monitor `stream` of `preview` from SRS (0 is the
/// init segment), on any node, and wakes the viewers on every node.
/// Refuses what a well-behaved SRS never sends ([`admit`]); 410 once the
/// preview is over.
pub async fn put(
    rws: &Rws,
    preview: &PreviewRow,
    stream: u32,
    seq: u64,
    body: Bytes,
) -> Result<(), ApiError> {
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
    let seq_i = i64::try_from(seq)
        .map_err(|_| ApiError::invalid(format!("seq must be at most {}", i64::MAX)))?;
    let size = body.len();
    let outcome = rows::put(
        &rws.db,
        &preview.id,
        i64::from(stream),
        seq_i,
        &body,
        &now(),
        |held| admit(held, stream, seq, size),
    )
    .await?;
    match outcome {
        rows::Put::Stored => {}
        rows::Put::Refused(e) => return Err(e),
        rows::Put::Gone | rows::Put::Over => {
            return Err(ApiError::Status(
                StatusCode::GONE,
                format!("live preview {} is over", preview.id),
            ));
        }
    }
    rws.live.previews.wake(&preview.id);
    if rws.cluster.is_some() {
        crate::cluster::preview_landed(rws, &preview.id).await;
    }
    Ok(())
}

/// The rule of a segment's arrival, given what the preview holds
/// (`(stream, seq, size)`): refuses too many monitors, a second init, a
/// fragment before the init, a replayed or older sequence number, and what
/// does not fit the budget; else names the older fragments to drop (the
/// newest [`KEEP`] per monitor stay, then the oldest fragments of the
/// preview go first until it fits, the newest of each monitor staying).
pub fn admit(
    held: &[Held],
    stream: u32,
    seq: u64,
    size: usize,
) -> Result<Vec<(i64, i64)>, ApiError> {
    #[derive(Default)]
    struct Buf {
        init: usize,
        frags: VecDeque<(i64, usize)>,
    }
    let (stream, seq) = (i64::from(stream), i64::try_from(seq).unwrap_or(i64::MAX));
    let mut streams: BTreeMap<i64, Buf> = BTreeMap::new();
    let mut has_init: BTreeMap<i64, bool> = BTreeMap::new();
    for &(s, q, n) in held {
        let b = streams.entry(s).or_default();
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if q == 0 {
            b.init = n;
            has_init.insert(s, true);
        } else {
            b.frags.push_back((q, n));
        }
    }
    if !streams.contains_key(&stream) && streams.len() >= MAX_STREAMS {
        return Err(ApiError::invalid(format!(
            "a preview has at most {MAX_STREAMS} monitors"
        )));
    }
    let init = has_init.get(&stream).copied().unwrap_or(false);
    let buf = streams.entry(stream).or_default();
    if seq == 0 {
        if init {
            return Err(ApiError::Conflict(format!(
                "monitor {stream} of this preview already has its init segment"
            )));
        }
        buf.init = size;
    } else {
        if !init {
            return Err(ApiError::Conflict(format!(
                "monitor {stream}: the init segment (seq 0) comes first"
            )));
        }
        if buf.frags.back().is_some_and(|(last, _)| *last >= seq) {
            return Err(ApiError::Conflict(format!(
                "monitor {stream}: segment {seq} is not after the last one received"
            )));
        }
        buf.frags.push_back((seq, size));
    }
    let mut evict = Vec::new();
    while buf.frags.len() > KEEP {
        if let Some((q, _)) = buf.frags.pop_front() {
            evict.push((stream, q));
        }
    }
    loop {
        let total: usize = streams
            .values()
            .map(|b| b.init + b.frags.iter().map(|(_, n)| n).sum::<usize>())
            .sum();
        if total <= PREVIEW_BUDGET {
            return Ok(evict);
        }
        let oldest = streams
            .iter()
            .filter(|(_, b)| b.frags.len() > 1)
            .min_by_key(|(_, b)| b.frags.front().map(|(q, _)| *q))
            .map(|(s, _)| *s);
        let Some((s, b)) = oldest.and_then(|s| streams.get_mut(&s).map(|b| (s, b))) else {
            return Err(ApiError::Status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "a live preview holds at most {PREVIEW_BUDGET} bytes, every monitor together"
                ),
            ));
        };
        if let Some((q, _)) = b.frags.pop_front() {
            evict.push((s, q));
        }
    }
}

/// The node running the singleton jobs (the single node on SQLite) ends
/// the previews nobody watches any more and those past their cap: in a
/// cluster, first forgetting the viewers of nodes whose lease ran out
/// (a node died with its viewers), so the preview ends within the lease
/// (10 s) and a sweep rather than running to its cap.
pub async fn sweep(rws: Rws) {
    let mut rounds: u64 = 0;
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        if !crate::cluster::runs_singletons(&rws) {
            continue;
        }
        rounds += 1;
        if let Err(e) = sweep_once(&rws, rounds.is_multiple_of(30)).await {
            tracing::warn!(error = %e, "live preview sweep");
        }
    }
}

async fn sweep_once(rws: &Rws, orphans: bool) -> Result<(), sqlx::Error> {
    if orphans {
        rows::drop_orphans(&rws.db).await?;
    }
    if rows::count(&rws.db).await? == 0 {
        return Ok(());
    }
    let now = now();
    if rws.cluster.is_some() {
        let gone = rows::drop_dead_viewers(&rws.db, &now).await?;
        if gone > 0 {
            tracing::info!(
                viewers = gone,
                "live preview viewers of a dead node forgotten"
            );
        }
    }
    for id in rows::over(&rws.db, &now).await? {
        if let Some(session) = rows::end_if_over(&rws.db, &id, &now).await? {
            tell_srs_off(rws, &session, &id).await;
        }
    }
    Ok(())
}

/// How long a new viewer waits for the preview's first segments.
const FIRST_WAIT: Duration = Duration::from_secs(15);
/// A viewer that gets nothing new this long is ended (SRS stopped).
const IDLE_END: Duration = Duration::from_secs(15);
/// How often a viewer checks that the preview runs and no recording
/// started meanwhile.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often a viewer looks for new segments when no wake came.
const POLL: Duration = Duration::from_millis(500);

/// One viewer of a preview: a row while it exists; dropping it removes the
/// row (the last viewer, on any node, ends the preview) and writes the
/// `live_view_end` audit row.
pub struct PreviewGuard {
    rws: Rws,
    preview: PreviewRow,
    viewer: String,
    who: String,
    monitor: u32,
    started: time::OffsetDateTime,
    remote: Option<std::net::SocketAddr>,
    audited: bool,
}

impl Drop for PreviewGuard {
    fn drop(&mut self) {
        // Refused before it joined a preview: no row, nothing to audit.
        if self.preview.id.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rws = self.rws.clone();
        let (id, viewer) = (self.preview.id.clone(), self.viewer.clone());
        let (who, whom) = (self.who.clone(), self.preview.agent.clone());
        let detail = format!(
            "preview {id}, monitor {}, from {} to {}",
            self.monitor,
            rfc3339(self.started),
            rfc3339(time::OffsetDateTime::now_utc())
        );
        let (remote, audited) = (self.remote, self.audited);
        runtime.spawn(async move {
            match rows::leave(&rws.db, &id, &viewer, &now()).await {
                Ok(Some(session)) => tell_srs_off(&rws, &session, &id).await,
                Ok(None) => {}
                // The row stays; the sweep ends the preview at its cap.
                Err(e) => {
                    tracing::error!(preview = %id, error = %e, "a live preview viewer's leave")
                }
            }
            if !audited {
                return;
            }
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
    let viewer = uuid::Uuid::new_v4().to_string();
    // The guard exists from here, so an error below still removes the row.
    let mut guard = PreviewGuard {
        rws: rws.clone(),
        preview: PreviewRow {
            id: String::new(),
            agent: agent.to_string(),
            session_id: session.clone(),
            token_hash: String::new(),
            started_at: String::new(),
            ends_at: String::new(),
        },
        viewer: viewer.clone(),
        who: who.to_string(),
        monitor,
        started: time::OffsetDateTime::now_utc(),
        remote,
        audited: false,
    };
    guard.preview = join(rws, agent, &session, notice, &viewer).await?;
    let id = guard.preview.id.clone();
    let waker = rws.live.previews.waker(&id);
    // The monitor's init segment and a first fragment, or a clear error.
    let deadline = Instant::now() + FIRST_WAIT;
    let stream = i64::from(monitor);
    loop {
        let notified = waker.notified();
        let held = rows::held(&rws.db, &id).await?;
        let mine = held.iter().filter(|h| h.0 == stream);
        let (init, frags) = mine.fold((false, 0), |(i, f), h| {
            (i || h.1 == 0, f + usize::from(h.1 > 0))
        });
        if init && frags > 0 {
            break;
        }
        if rows::by_id(&rws.db, &id).await?.is_none() {
            return Err(ApiError::Conflict(format!(
                "the live preview of agent '{agent}' ended (a recording started?)"
            )));
        }
        if Instant::now() >= deadline {
            let streams = held
                .iter()
                .map(|h| h.0)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            return Err(if streams > 0 && !init {
                ApiError::NotFound(format!(
                    "the screen of agent '{agent}' has no monitor {monitor} (it has {streams})"
                ))
            } else {
                ApiError::Status(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("the SRS of agent '{agent}' sent no screen within {FIRST_WAIT:?}"),
                )
            });
        }
        let _ = tokio::time::timeout(POLL, notified).await;
    }
    crate::compliance::audit(
        &rws.db,
        who,
        "live_view",
        agent,
        &format!(
            "preview {id} (not recorded, live_view = always), monitor {monitor}, from {}",
            rfc3339(guard.started)
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
        id,
        monitor,
        waker,
        identities,
        identity: None,
        done: false,
        last_seq: None,
        queue: VecDeque::new(),
        last_new: Instant::now(),
        last_check: Instant::now(),
        _guard: Box::new(guard),
    })
}

/// A viewer's position in a preview's monitor.
pub struct PreviewTail {
    rws: Rws,
    id: String,
    monitor: u32,
    waker: Arc<Notify>,
    /// The tenant's keys; `identity` is the one that opened the last
    /// segment.
    identities: Vec<age::x25519::Identity>,
    identity: Option<usize>,
    /// An error ended the stream.
    done: bool,
    /// The last fragment queued (`None`: not even the init yet).
    last_seq: Option<i64>,
    queue: VecDeque<Vec<u8>>,
    last_new: Instant,
    last_check: Instant,
    _guard: Box<PreviewGuard>,
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
                    tracing::warn!(preview = %tail.id, error = %e, "live preview view ended");
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
            if self.last_new.elapsed() >= IDLE_END {
                return Ok(None);
            }
            if self.last_check.elapsed() >= CHECK_EVERY {
                self.last_check = Instant::now();
                let db = &self.rws.db;
                // Ended on some node, or past its cap.
                let row = rows::by_id(db, &self.id).await.map_err(|e| e.to_string())?;
                if row.is_none_or(|r| r.ends_at <= now()) {
                    end(&self.rws, &self.id).await;
                    return Ok(None);
                }
                // A call started: the recording has the screen now.
                let agent = &self._guard.preview.agent;
                let rec = crate::store::recordings::active_for(db, agent)
                    .await
                    .map_err(|e| e.to_string())?;
                if rec.is_some() {
                    end(&self.rws, &self.id).await;
                    return Ok(None);
                }
            }
            let waker = self.waker.clone();
            let notified = waker.notified();
            if self.refill().await? {
                continue;
            }
            let _ = tokio::time::timeout(POLL, notified).await;
        }
    }

    /// Queues what arrived since the last look; true when something did.
    async fn refill(&mut self) -> Result<bool, String> {
        let rows = rows::segments_after(
            &self.rws.db,
            &self.id,
            i64::from(self.monitor),
            self.last_seq.unwrap_or(-1),
        )
        .await
        .map_err(|e| e.to_string())?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(false);
        };
        if self.last_seq.is_none() {
            let mut rows = rows.into_iter();
            let Some((0, init)) = rows.next() else {
                return Err("no init segment".into());
            };
            let frags: Vec<Vec<u8>> = rows.map(|(_, c)| c).collect();
            if frags.is_empty() {
                return Ok(false);
            }
            // From the newest fragment that starts with a keyframe.
            let mut start = 0;
            for (i, c) in frags.iter().enumerate().rev() {
                let plain = self.open(c)?;
                if media::fmp4::fragment_starts_with_keyframe(&plain) == Some(true) {
                    start = i;
                    break;
                }
            }
            self.queue.push_back(init);
            self.queue.extend(frags.into_iter().skip(start));
        } else {
            self.queue.extend(rows.into_iter().map(|(_, c)| c));
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
            self.id
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(e: ApiError) -> String {
        format!("{e:?}")
    }

    /// Applies `admit` to `held` as the store does: on success, drops the
    /// evicted and adds the new one.
    fn put(held: &mut Vec<Held>, stream: u32, seq: u64, size: usize) -> Result<(), ApiError> {
        let evict = admit(held, stream, seq, size)?;
        held.retain(|(s, q, _)| !evict.contains(&(*s, *q)));
        held.push((i64::from(stream), seq as i64, size as i64));
        held.sort();
        Ok(())
    }

    #[test]
    fn init_first_no_replay_and_only_the_newest_kept() {
        let mut held = Vec::new();
        assert!(
            put(&mut held, 0, 1, 10).is_err(),
            "a fragment before the init"
        );
        put(&mut held, 0, 0, 10).unwrap();
        assert!(put(&mut held, 0, 0, 10).is_err(), "a second init");
        for s in 1..=20 {
            put(&mut held, 0, s, 10).unwrap();
        }
        assert!(put(&mut held, 0, 20, 10).is_err(), "a replay");
        assert!(put(&mut held, 0, 3, 10).is_err(), "an older one");
        let seqs: Vec<i64> = held.iter().map(|h| h.1).collect();
        let mut want = vec![0];
        want.extend(13..=20);
        assert_eq!(seqs, want, "the init and the newest {KEEP}");
        assert!(
            put(&mut held, 1, 1, 10).is_err(),
            "another monitor's init first"
        );
    }

    #[test]
    fn refuses_too_many_monitors_and_what_does_not_fit_the_budget() {
        let mut held = Vec::new();
        for s in 0..MAX_STREAMS as u32 {
            put(&mut held, s, 0, 10).unwrap();
        }
        let e = put(&mut held, MAX_STREAMS as u32, 0, 10).unwrap_err();
        assert!(status(e).contains("monitors"));
        // The budget: big fragments on two monitors evict the oldest.
        let big = MAX_PREVIEW_SEGMENT - 1;
        for s in 1..=4 {
            put(&mut held, 0, s, big).unwrap();
        }
        let frags0 = held.iter().filter(|h| h.0 == 0 && h.1 > 0).count();
        assert_eq!(frags0, 1, "the older ones went");
        let before = held.clone();
        let e = put(&mut held, 1, 1, big).unwrap_err();
        assert!(status(e).contains("at most"));
        assert_eq!(held, before, "a refusal changes nothing");
        let total: i64 = held.iter().map(|h| h.2).sum();
        assert!(total as usize <= PREVIEW_BUDGET, "{total}");
        put(&mut held, 1, 1, 10).unwrap();
    }
}
