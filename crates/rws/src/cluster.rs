//! Several RWS nodes on one PostgreSQL (`docs/operations.md`, "Cluster").
//!
//! On SQLite (the embedded default) there is one node and none of this
//! runs: [`crate::Rws::cluster`] is `None`. On PostgreSQL every node is
//! stateless and any node answers any request:
//!
//! * **Sessions** are rows (`srs_sessions`); each node mirrors them in its
//!   hub ([`sync_sessions`], on NOTIFY and every
//!   [`SYNC_EVERY`]). Which node holds a session's control channel is a row
//!   of `srs_session_owners`; a node is alive while its lease in
//!   `cluster_nodes` runs ([`LEASE`], renewed every [`RENEW_EVERY`]), so a
//!   dead node's sessions are known as unheld.
//! * **Commands** to an SRS are rows of `srs_commands` (the durable queue,
//!   `seq` taken atomically from `srs_sessions.next_seq`). The node that
//!   queues one NOTIFYs `screenrec_cmd`; the node holding the channel
//!   delivers it ([`deliver`]), writes SRS's acknowledgement back and
//!   NOTIFYs `screenrec_ack`, which wakes the node waiting for it. NOTIFY
//!   only wakes: every [`POLL_EVERY`] each node also reads the rows (a
//!   lost notification costs at most that long).
//! * **Singleton jobs** (retention, the max-duration and orphan sweeps,
//!   dropping sessions no node holds) run on the node holding the
//!   PostgreSQL advisory lock [`LEADER_LOCK`] on a dedicated connection;
//!   when that node dies its connection closes, the lock is free and
//!   another node takes it within [`LEAD_EVERY`].
//! * **Recording state changes** are NOTIFYed on
//!   [`crate::lifecycle::EVENTS`] (in the change's transaction); the
//!   listener hands every node's changes, its own included, to this node's
//!   SSE subscribers. A lost notification is not lost for them: each
//!   change is also a row of the event log, and a stream that sees a gap in
//!   the `seq`s fills it from there (the SSE endpoint); webhooks
//!   come from the durable outbox, not from here.
//! * **Live previews** (`live_view = "always"`) are rows
//!   ([`crate::preview`]); a node that takes a segment NOTIFYs
//!   `screenrec_preview` so the viewers' nodes read it at once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use proto::control::ToAgent;
use sqlx::Connection;
use tokio::sync::oneshot;

use crate::Rws;
use crate::recording::{now, rfc3339};
use crate::store;

/// How long a node's lease runs after a renewal.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often a node renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How often every node re-reads the session rows (NOTIFY wakes it sooner).
pub const SYNC_EVERY: Duration = Duration::from_secs(2);
/// The poll fallback of NOTIFY: undelivered commands, unanswered waits.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// How often a node tries to take (or checks it holds) the singleton lock.
pub const LEAD_EVERY: Duration = Duration::from_secs(2);
/// The advisory lock of the singleton jobs (any fixed 64-bit number;
/// "screenrec" in ASCII, so no other application picks it by chance).
pub const LEADER_LOCK: i64 = 0x7363_7265_656e_7265;

/// NOTIFY channel: a command was queued; payload the session id.
const CMD: &str = "screenrec_cmd";
/// NOTIFY channel: a command was answered; payload `session seq`.
const ACK: &str = "screenrec_ack";
/// NOTIFY channel: a session was opened or ended; payload its id.
const SESSIONS: &str = "screenrec_sessions";
/// NOTIFY channel: a live preview's segment landed; payload the preview id.
const PREVIEW: &str = "screenrec_preview";

/// The outcome of a command: SRS's acknowledgement.
#[derive(Debug, Clone)]
pub struct AckResult {
    /// Applied.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// This node's part of the cluster.
pub struct Cluster {
    /// This node's id (random per process: a restarted node is a new node).
    pub node: String,
    /// The PostgreSQL URL (for the listener and the lock's connection).
    url: String,
    /// Waits for acknowledgements, by (session, seq).
    waiters: Mutex<HashMap<(String, u64), oneshot::Sender<AckResult>>>,
    /// True while this node holds [`LEADER_LOCK`].
    leader: AtomicBool,
    /// The last time [`sync_sessions`] read the rows.
    synced: Mutex<Option<Instant>>,
    /// Session rows changed on some node (a NOTIFY): [`resync`] re-reads
    /// them. Notifications arriving while it reads coalesce into one more
    /// read.
    sessions_dirty: tokio::sync::Notify,
    /// True while the listener LISTENs: on PostgreSQL even this node's own
    /// recording events reach its SSE subscribers through it, so the node
    /// serves only once it is up ([`Cluster::wait_listening`]).
    listening: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    /// This node, on the PostgreSQL at `url`.
    pub fn new(url: String) -> Cluster {
        Cluster {
            node: format!("node-{:016x}", rand::random::<u64>()),
            url,
            waiters: Mutex::default(),
            leader: AtomicBool::new(false),
            synced: Mutex::default(),
            sessions_dirty: tokio::sync::Notify::new(),
            listening: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Waits (at most `within`) until the listener LISTENs; false if it
    /// did not in time.
    pub async fn wait_listening(&self, within: Duration) -> bool {
        let mut rx = self.listening.subscribe();
        matches!(
            tokio::time::timeout(within, rx.wait_for(|up| *up)).await,
            Ok(Ok(_))
        )
    }

    /// True while this node runs the singleton jobs.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// True when the session rows were read within `within`.
    pub fn synced_within(&self, within: Duration) -> bool {
        lock(&self.synced).is_some_and(|t| t.elapsed() <= within)
    }

    /// Registers a wait for session `session`'s command `seq`.
    pub fn wait(&self, session: &str, seq: u64) -> oneshot::Receiver<AckResult> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert((session.to_string(), seq), tx);
        rx
    }

    /// Settles a wait (if this node has it): `None` drops it (the command
    /// is gone with its session: the waiter sees the sender dropped).
    fn settle(&self, session: &str, seq: u64, result: Option<AckResult>) {
        if let Some(tx) = lock(&self.waiters).remove(&(session.to_string(), seq))
            && let Some(result) = result
        {
            let _ = tx.send(result);
        }
    }

    fn has_waiter(&self, session: &str, seq: u64) -> bool {
        lock(&self.waiters).contains_key(&(session.to_string(), seq))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a task panicked mid-update; the data is still
    // usable and RWS must keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues `cmd` (already numbered `seq`) for session `session` and wakes
/// the node holding its channel; the receiver gets SRS's answer.
pub async fn queue(
    rws: &Rws,
    cluster: &Cluster,
    session: &str,
    seq: u64,
    cmd: &ToAgent,
) -> Result<oneshot::Receiver<AckResult>, sqlx::Error> {
    let body = serde_json::to_string(cmd).unwrap_or_default();
    let rx = cluster.wait(session, seq);
    store::cluster::insert_command(&rws.db, session, seq as i64, &body, &now()).await?;
    if rws.hub.holds(session) {
        deliver(rws, session).await;
    } else {
        store::cluster::notify(&rws.db, CMD, session).await?;
    }
    Ok(rx)
}

/// Sends session `session`'s unanswered commands over its channel, if this
/// node holds it (each `seq` once per channel: SRS de-duplicates anyway).
pub async fn deliver(rws: &Rws, session: &str) {
    if !rws.hub.holds(session) {
        return;
    }
    match store::cluster::pending_of(&rws.db, session).await {
        Ok(rows) => rws.hub.deliver(session, parse(rows)),
        Err(e) => tracing::warn!(session = %session, error = %e, "reading queued commands"),
    }
}

fn parse(rows: Vec<store::cluster::CommandRow>) -> Vec<(String, u64, ToAgent)> {
    rows.into_iter()
        .filter_map(
            |(session, seq, body)| match serde_json::from_str::<ToAgent>(&body) {
                Ok(cmd) => Some((session, seq.max(0) as u64, cmd)),
                Err(e) => {
                    tracing::error!(session = %session, seq, error = %e, "queued command unreadable; skipped");
                    None
                }
            },
        )
        .collect()
}

/// SRS answered command `seq` on a channel this node holds: the row says
/// so, and the waiting node (this one or another) learns it.
pub async fn acked(rws: &Rws, cluster: &Cluster, session: &str, seq: u64, ack: AckResult) {
    if let Err(e) =
        store::cluster::ack(&rws.db, session, seq as i64, ack.ok, ack.error.as_deref()).await
    {
        tracing::warn!(session = %session, seq, error = %e, "recording an acknowledgement");
    }
    if cluster.has_waiter(session, seq) {
        cluster.settle(session, seq, Some(ack));
    } else if let Err(e) = store::cluster::notify(&rws.db, ACK, &format!("{session} {seq}")).await {
        tracing::warn!(session = %session, seq, error = %e, "NOTIFY of an acknowledgement");
    }
}

/// A control channel opened on this node: it holds the session now, the
/// commands SRS applied (per `hello`) count as answered, and the others
/// are (re)sent.
pub async fn connected(rws: &Rws, cluster: &Cluster, session: &str, last_seq: u64) {
    let result = async {
        store::cluster::raise_seq(&rws.db, session, last_seq as i64 + 1).await?;
        store::cluster::ack_up_to(&rws.db, session, last_seq as i64).await?;
        store::cluster::take_session(&rws.db, session, &cluster.node, &now()).await?;
        store::cluster::notify(&rws.db, SESSIONS, session).await
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(session = %session, error = %e, "noting the control channel in the database");
    }
    deliver(rws, session).await;
}

/// The control channel closed on this node.
pub async fn disconnected(rws: &Rws, cluster: &Cluster, session: &str) {
    if let Err(e) = store::cluster::release_session(&rws.db, session, &cluster.node).await {
        tracing::warn!(session = %session, error = %e, "releasing a session");
    }
}

/// A session was opened or ended on this node: the others re-read theirs.
pub async fn sessions_changed(rws: &Rws, session: &str) {
    if let Err(e) = store::cluster::notify(&rws.db, SESSIONS, session).await {
        tracing::warn!(session = %session, error = %e, "NOTIFY of a session change");
    }
}

/// A segment of live preview `id` landed on this node: the viewers on the
/// other nodes wake ([`crate::preview`]; they also poll, so a lost
/// notification costs at most their poll).
pub async fn preview_landed(rws: &Rws, id: &str) {
    if let Err(e) = store::cluster::notify(&rws.db, PREVIEW, id).await {
        tracing::warn!(preview = %id, error = %e, "NOTIFY of a preview segment");
    }
}

/// Re-reads the session rows into the hub: new ones appear, ended ones
/// go, and sessions held by another live node show as connected.
pub async fn sync_sessions(rws: &Rws, cluster: &Cluster) -> Result<(), sqlx::Error> {
    let read_at = Instant::now();
    let rows = store::sessions::all(&rws.db).await?;
    let held: HashSet<String> = store::cluster::held_sessions(&rws.db, &now())
        .await?
        .into_iter()
        .filter(|(_, node)| *node != cluster.node)
        .map(|(s, _)| s)
        .collect();
    rws.hub.mirror(rows, &held, read_at);
    *lock(&cluster.synced) = Some(Instant::now());
    Ok(())
}

/// Starts this node's cluster tasks: the listener, the poll fallback with
/// the lease, and the singleton lock. Aborted with the server.
pub fn spawn(rws: &Rws, cluster: std::sync::Arc<Cluster>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(listen(rws.clone(), cluster.clone())),
        tokio::spawn(tick(rws.clone(), cluster.clone())),
        tokio::spawn(resync(rws.clone(), cluster.clone())),
        tokio::spawn(lead(cluster)),
    ]
}

/// The shortest time between two re-reads of the session rows on a
/// [`SESSIONS`] notification. Measured by `scripts/bench-rws.sh
/// DATABASE=postgres NODES=2 N=5000`: with one full read per notification,
/// each node read the whole table once per session opened (O(N²) during a
/// login storm, RWS CPU-bound, event → start p50 1.9 s); a session opened on
/// another node still appears here within this time plus one read.
pub const RESYNC_GAP: Duration = Duration::from_millis(250);

/// Re-reads the session rows after [`SESSIONS`] notifications, at most
/// once per [`RESYNC_GAP`]; the notifications that arrive meanwhile are
/// one more read.
async fn resync(rws: Rws, cluster: std::sync::Arc<Cluster>) {
    loop {
        cluster.sessions_dirty.notified().await;
        if let Err(e) = sync_sessions(&rws, &cluster).await {
            tracing::warn!(error = %e, "cluster: re-reading sessions");
        }
        tokio::time::sleep(RESYNC_GAP).await;
    }
}

/// LISTENs on the three channels (reconnecting after an error) and acts on
/// each notification.
async fn listen(rws: Rws, cluster: std::sync::Arc<Cluster>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&cluster.url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cluster listener: connecting; retrying");
                tokio::time::sleep(POLL_EVERY).await;
                continue;
            }
        };
        if let Err(e) = listener
            .listen_all([CMD, ACK, SESSIONS, crate::lifecycle::EVENTS, PREVIEW])
            .await
        {
            tracing::warn!(error = %e, "cluster listener: LISTEN; retrying");
            tokio::time::sleep(POLL_EVERY).await;
            continue;
        }
        // What was missed while not listening is in the rows.
        let _ = sync_sessions(&rws, &cluster).await;
        cluster.listening.send_replace(true);
        loop {
            let n = match listener.recv().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster listener lost; reconnecting");
                    cluster.listening.send_replace(false);
                    break;
                }
            };
            let payload = n.payload();
            match n.channel() {
                CMD => deliver(&rws, payload).await,
                crate::lifecycle::EVENTS => relay(&rws, payload),
                PREVIEW => rws.live.previews.wake(payload),
                ACK => {
                    let Some((session, seq)) = payload
                        .split_once(' ')
                        .and_then(|(s, q)| Some((s, q.parse::<u64>().ok()?)))
                    else {
                        continue;
                    };
                    if cluster.has_waiter(session, seq) {
                        settle_from_row(&rws, &cluster, session, seq).await;
                    }
                }
                // Not a read per notification: a login storm of N agents
                // would make every node read all N rows N times.
                _ => cluster.sessions_dirty.notify_one(),
            }
        }
    }
}

/// A recording state change (NOTIFY payload `<seq> <Relayed JSON>`), this
/// node's own included: to this node's SSE subscribers, which so see the
/// cluster's events in `seq` order (the writers commit in that order,
/// [`crate::store::lifecycle::EVENT_LOG_LOCK`]); it also wakes the webhook
/// job (the row is in the outbox).
fn relay(rws: &Rws, payload: &str) {
    let parsed = payload.split_once(' ').and_then(|(seq, json)| {
        let seq = seq.parse::<i64>().ok()?;
        Some((seq, serde_json::from_str::<crate::lifecycle::Relayed>(json)))
    });
    match parsed {
        Some((seq, Ok(r))) => {
            let mut event = r.event;
            event.seq = seq;
            rws.lifecycle.relay(event);
            rws.lifecycle.wake.notify_one();
        }
        Some((_, Err(e))) => {
            tracing::warn!(error = %e, "unreadable recording event NOTIFY; skipped")
        }
        None => tracing::warn!("recording event NOTIFY without its seq; skipped"),
    }
}

async fn settle_from_row(rws: &Rws, cluster: &Cluster, session: &str, seq: u64) {
    match store::cluster::answer(&rws.db, session, seq as i64).await {
        Ok(Some(Some((ok, error)))) => cluster.settle(session, seq, Some(AckResult { ok, error })),
        Ok(Some(None)) => cluster.settle(session, seq, None),
        Ok(None) => {}
        Err(e) => tracing::warn!(session = %session, seq, error = %e, "reading an answer"),
    }
}

/// The bounded poll fallback, the lease and the session mirror.
async fn tick(rws: Rws, cluster: std::sync::Arc<Cluster>) {
    let mut last_renew: Option<Instant> = None;
    let mut last_sync: Option<Instant> = None;
    loop {
        if last_renew.is_none_or(|t| t.elapsed() >= RENEW_EVERY) {
            let until = rfc3339(time::OffsetDateTime::now_utc() + LEASE);
            match store::cluster::renew_node(&rws.db, &cluster.node, &until, &now()).await {
                Ok(()) => last_renew = Some(Instant::now()),
                Err(e) => tracing::warn!(error = %e, "renewing this node's lease"),
            }
        }
        if last_sync.is_none_or(|t| t.elapsed() >= SYNC_EVERY) {
            match sync_sessions(&rws, &cluster).await {
                Ok(()) => last_sync = Some(Instant::now()),
                Err(e) => tracing::warn!(error = %e, "cluster: re-reading sessions"),
            }
        }
        // Commands whose NOTIFY was lost.
        match store::cluster::pending_of_node(&rws.db, &cluster.node).await {
            Ok(rows) => {
                let mut by_session: HashMap<String, Vec<_>> = HashMap::new();
                for (session, seq, cmd) in parse(rows) {
                    by_session
                        .entry(session.clone())
                        .or_default()
                        .push((session, seq, cmd));
                }
                for (session, cmds) in by_session {
                    rws.hub.deliver(&session, cmds);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster: reading queued commands"),
        }
        // Answers whose NOTIFY was lost.
        let waits: Vec<(String, u64)> = lock(&cluster.waiters).keys().cloned().collect();
        for (session, seq) in waits {
            settle_from_row(&rws, &cluster, &session, seq).await;
        }
        if cluster.is_leader() {
            let dead = rfc3339(time::OffsetDateTime::now_utc() - 3 * LEASE);
            let old = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
            if let Err(e) = store::cluster::forget_dead_nodes(&rws.db, &dead).await {
                tracing::warn!(error = %e, "forgetting dead nodes");
            }
            if let Err(e) = store::cluster::prune_commands(&rws.db, &old).await {
                tracing::warn!(error = %e, "pruning answered commands");
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Holds [`LEADER_LOCK`] on a connection of its own while it can; the
/// singleton jobs ask [`Cluster::is_leader`].
async fn lead(cluster: std::sync::Arc<Cluster>) {
    let mut conn: Option<sqlx::PgConnection> = None;
    loop {
        let held = match conn.as_mut() {
            None => match sqlx::PgConnection::connect(&cluster.url).await {
                Ok(c) => {
                    conn = Some(c);
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, "singleton lock: connecting");
                    false
                }
            },
            Some(c) if cluster.is_leader() => store::cluster::ping(c).await.is_ok(),
            Some(_) => false,
        };
        let now_held = if held {
            true
        } else if let Some(c) = conn.as_mut() {
            match store::cluster::try_advisory_lock(c, LEADER_LOCK).await {
                Ok(got) => got,
                Err(e) => {
                    tracing::warn!(error = %e, "singleton lock: connection lost");
                    conn = None;
                    false
                }
            }
        } else {
            false
        };
        if now_held != cluster.is_leader() {
            cluster.leader.store(now_held, Ordering::Relaxed);
            if now_held {
                tracing::info!(node = %cluster.node, "this node runs the singleton jobs (retention, sweeps)");
            } else {
                tracing::warn!(node = %cluster.node, "this node no longer runs the singleton jobs");
            }
        }
        tokio::time::sleep(LEAD_EVERY).await;
    }
}

/// True when this node runs the singleton jobs: always on a single node.
pub fn runs_singletons(rws: &Rws) -> bool {
    rws.cluster.as_ref().is_none_or(|c| c.is_leader())
}
