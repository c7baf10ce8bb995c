//! The control hub: every live SRS session, its control channel, its
//! command queue. The WebSocket upgrade and the administrators' command
//! endpoint are [`crate::http::control`].
//!
//! A session is a row in `srs_sessions` (so it survives an RWS restart) plus
//! a [`Live`] entry in memory with what changes often: state, last time SRS
//! was heard from, unacknowledged commands. Commands get a per-session `seq`;
//! they stay queued until SRS acknowledges them and are resent after every
//! reconnect (SRS applies a `seq` once and re-acknowledges duplicates). The
//! first frame SRS sends is `hello` with the last `seq` it applied, which
//! also keeps `seq` increasing across an RWS restart.
//!
//! With several nodes on PostgreSQL ([`crate::cluster`]) the map mirrors
//! the session rows of every node; commands go through the durable
//! `srs_commands` table and reach the node holding the channel, which
//! alone has a `tx` for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use proto::control::{ByeReason, FromAgent, ToAgent};
use proto::{Device, SessionKind, SessionState, SessionSummary};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::Rws;
use crate::agent_input;
use crate::auth::{self};
use crate::error::ApiError;
use crate::recording::rfc3339;
use crate::store;

/// The outcome of a command (defined beside the cluster's queue, which
/// carries it between nodes).
pub use crate::cluster::AckResult;

/// A session as the hub holds it.
pub struct Live {
    /// Session id.
    pub id: String,
    username: String,
    place: String,
    devices: Vec<Device>,
    token_hash: String,
    standby: bool,
    srs_version: String,
    hostname: Option<String>,
    opened_at: OffsetDateTime,
    state: SessionState,
    last_seen: Instant,
    last_heartbeat: Option<OffsetDateTime>,
    next_seq: u64,
    pending: BTreeMap<u64, ToAgent>,
    pub(crate) waiters: HashMap<u64, oneshot::Sender<AckResult>>,
    tx: Option<mpsc::UnboundedSender<ToAgent>>,
    connection: u64,
    recording: Option<String>,
    upload_backlog_bytes: u64,
    last_error: Option<String>,
    kind: SessionKind,
    /// When this entry entered the map (a mirror read begun before it
    /// must not drop it).
    added: Instant,
    /// The last few seqs SRS answered on this node: with several nodes the
    /// answer reaches the row a moment after it leaves `pending`, and a
    /// poll in between must not send the command again.
    answered: std::collections::VecDeque<u64>,
}

impl Live {
    /// A new session, not yet connected.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        username: String,
        place: String,
        devices: Vec<Device>,
        token_hash: String,
        standby: bool,
        srs_version: String,
        hostname: Option<String>,
    ) -> Live {
        Live {
            id,
            username,
            place,
            devices,
            token_hash,
            standby,
            srs_version,
            hostname,
            opened_at: OffsetDateTime::now_utc(),
            state: if standby {
                SessionState::Standby
            } else {
                SessionState::Opened
            },
            last_seen: Instant::now(),
            last_heartbeat: None,
            next_seq: 1,
            pending: BTreeMap::new(),
            waiters: HashMap::new(),
            tx: None,
            connection: 0,
            recording: None,
            upload_backlog_bytes: 0,
            last_error: None,
            kind: SessionKind::Native,
            added: Instant::now(),
            answered: std::collections::VecDeque::new(),
        }
    }

    /// The same session, opened by the given kind of SRS. (Kept in memory
    /// only: a session restored after an RWS restart lists as native.)
    pub fn with_kind(mut self, kind: SessionKind) -> Live {
        self.kind = kind;
        self
    }

    /// True when this session holds `place` or one of `devices`.
    fn claims_any(&self, place: &str, devices: &[Device]) -> bool {
        self.place == place || self.devices.iter().any(|d| devices.contains(d))
    }

    fn summary(&self) -> SessionSummary {
        SessionSummary {
            session_id: self.id.clone(),
            user: self.username.clone(),
            place: self.place.clone(),
            devices: self.devices.clone(),
            srs_version: self.srs_version.clone(),
            hostname: self.hostname.clone(),
            connected_since: rfc3339(self.opened_at),
            last_heartbeat: self.last_heartbeat.map(rfc3339),
            state: self.state,
            recording: self.recording.clone(),
            upload_backlog_bytes: self.upload_backlog_bytes,
            last_error: self.last_error.clone(),
            kind: self.kind,
        }
    }

    /// Queues a command (sent now if connected); returns its seq.
    pub(crate) fn enqueue(&mut self, make: impl FnOnce(u64) -> ToAgent) -> u64 {
        let seq = self.next_seq;
        // next_seq starts at most at MAX_SEQ + 1 (hello is checked): far
        // from wrapping, but never panic on it.
        self.next_seq = self.next_seq.saturating_add(1);
        let cmd = make(seq);
        if let Some(tx) = &self.tx {
            let _ = tx.send(cmd.clone());
        }
        self.pending.insert(seq, cmd);
        seq
    }
}

/// Every session of this RWS.
#[derive(Default)]
pub struct Hub {
    sessions: Mutex<HashMap<String, Live>>,
    connections: std::sync::atomic::AtomicU64,
}

impl Hub {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        // A poisoned lock means a handler panicked mid-update; the map is
        // still usable and RWS must keep serving.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new session; a live session replaces the user's other ones
    /// (they are told `bye session_replaced`).
    pub async fn open(&self, rws: &Rws, live: Live) -> Result<(), ApiError> {
        let replaced: Vec<String> = {
            let mut map = self.lock();
            // Rule 2: a place and its DNs belong to one live session. A
            // standby session (failover target) claims nothing until its SRS
            // connects; a holder silent past the timeout is stale and loses
            // the place.
            let mut stale = Vec::new();
            if !live.standby {
                for s in map.values().filter(|s| {
                    s.username != live.username
                        && !s.standby
                        && s.state != SessionState::Standby
                        && s.claims_any(&live.place, &live.devices)
                }) {
                    if s.last_seen.elapsed() > rws.config.silence_timeout {
                        stale.push(s.id.clone());
                    } else {
                        tracing::warn!(user = %live.username, place = %live.place, holder = %s.username, "place claim refused: held by another live session");
                        return Err(ApiError::Conflict(format!(
                            "place '{}' is held by user '{}' (session {}); it is free when that session ends or goes silent",
                            live.place, s.username, s.id
                        )));
                    }
                }
            }
            let ids: Vec<String> = map
                .values()
                .filter(|s| {
                    s.username == live.username && (s.standby == live.standby || !live.standby)
                })
                .map(|s| s.id.clone())
                .chain(stale)
                .collect();
            for id in &ids {
                if let Some(mut old) = map.remove(id) {
                    old.enqueue(|seq| ToAgent::Bye {
                        seq,
                        reason: ByeReason::SessionReplaced,
                    });
                    tracing::info!(session = %id, user = %old.username, "session replaced");
                }
            }
            ids
        };
        let devices = serde_json::to_string(&live.devices).unwrap_or_else(|_| "[]".into());
        let row = store::sessions::SessionRow {
            id: live.id.clone(),
            username: live.username.clone(),
            place: live.place.clone(),
            devices,
            token_hash: live.token_hash.clone(),
            standby: live.standby,
            srs_version: live.srs_version.clone(),
            hostname: live.hostname.clone(),
            opened_at: rfc3339(live.opened_at),
            next_seq: live.next_seq as i64,
        };
        store::sessions::insert_replacing(&rws.db, &row, &replaced).await?;
        let id = live.id.clone();
        self.insert_opened(live);
        if rws.cluster.is_some() {
            crate::cluster::sessions_changed(rws, &id).await;
        }
        Ok(())
    }

    /// Puts a session whose row is committed into the map. Its `added` is
    /// now, not when `live` was built: a mirror read that began before the
    /// row's commit (and so missed it) must not drop it. Built earlier, a
    /// session opened during a re-read vanished from the map before its SRS
    /// connected, and the channel was closed at once (about 1 % of opens
    /// under `scripts/bench-rws.sh DATABASE=postgres`).
    fn insert_opened(&self, mut live: Live) {
        live.added = Instant::now();
        self.lock().insert(live.id.clone(), live);
    }

    /// Summaries, standby sessions only when asked.
    pub fn list(&self, standby: bool) -> Vec<SessionSummary> {
        let mut out: Vec<SessionSummary> = self
            .lock()
            .values()
            .filter(|s| standby || s.state != SessionState::Standby)
            .map(Live::summary)
            .collect();
        out.sort_by(|a, b| a.user.cmp(&b.user).then(a.session_id.cmp(&b.session_id)));
        out
    }

    /// True when `hash` is the token hash of session `id`.
    pub fn token_matches(&self, id: &str, hash: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|s| auth::same_hash(&s.token_hash, hash))
    }

    pub(crate) fn find_by_token(&self, hash: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|s| auth::same_hash(&s.token_hash, hash))
            .map(|s| s.id.clone())
    }

    /// The live (not standby) session holding device `dn` on `switch`:
    /// `(session id, username)`.
    pub fn session_for_device(&self, dn: &str, switch: &str) -> Option<(String, String)> {
        self.lock()
            .values()
            .filter(|s| !s.standby && s.state != SessionState::Standby)
            .find(|s| s.devices.iter().any(|d| d.dn == dn && d.switch == switch))
            .map(|s| (s.id.clone(), s.username.clone()))
    }

    /// What deciding to continue a recording on session `id` needs (see
    /// [`crate::restart`]).
    pub fn resume_facts(&self, id: &str) -> Option<ResumeFacts> {
        self.lock().get(id).map(|s| ResumeFacts {
            username: s.username.clone(),
            dns: s.devices.iter().map(|d| d.dn.clone()).collect(),
            kind: s.kind,
            standby: s.standby || s.state == SessionState::Standby,
        })
    }

    /// The user's live (not standby) session.
    pub fn session_of_user(&self, username: &str) -> Option<String> {
        self.lock()
            .values()
            .find(|s| !s.standby && s.state != SessionState::Standby && s.username == username)
            .map(|s| s.id.clone())
    }

    /// Queues a command for session `id` (sent now if connected, else at
    /// reconnect); `None` when the session does not exist. The receiver
    /// gets SRS's acknowledgement.
    pub async fn send(
        &self,
        rws: &Rws,
        id: &str,
        make: impl FnOnce(u64) -> ToAgent,
    ) -> Option<oneshot::Receiver<AckResult>> {
        self.send_numbered(rws, id, make).await.map(|(_, rx)| rx)
    }

    /// [`Hub::send`], also returning the command's `seq`.
    pub async fn send_numbered(
        &self,
        rws: &Rws,
        id: &str,
        make: impl FnOnce(u64) -> ToAgent,
    ) -> Option<(u64, oneshot::Receiver<AckResult>)> {
        if let Some(cluster) = &rws.cluster {
            // The seq comes from the row, so two nodes never share one.
            let seq = match store::cluster::take_seq(&rws.db, id).await {
                Ok(Some(seq)) => seq.max(1) as u64,
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(session = %id, error = %e, "numbering a command");
                    return None;
                }
            };
            let cmd = make(seq);
            return match crate::cluster::queue(rws, cluster, id, seq, &cmd).await {
                Ok(rx) => Some((seq, rx)),
                Err(e) => {
                    tracing::error!(session = %id, seq, error = %e, "queueing a command");
                    None
                }
            };
        }
        let (seq, rx) = {
            let mut map = self.lock();
            let s = map.get_mut(id)?;
            let seq = s.enqueue(make);
            let (tx, rx) = oneshot::channel();
            s.waiters.insert(seq, tx);
            (seq, rx)
        };
        let _ = store::sessions::set_next_seq(&rws.db, id, (seq + 1) as i64).await;
        Some((seq, rx))
    }

    /// Ends a session (its control channel closes). False if unknown.
    pub async fn remove(&self, rws: &Rws, id: &str) -> Result<bool, ApiError> {
        let removed = self.lock().remove(id);
        store::sessions::delete(&rws.db, id).await?;
        if rws.cluster.is_some() {
            crate::cluster::sessions_changed(rws, id).await;
        }
        Ok(removed.is_some())
    }

    /// True when this node holds session `id`'s control channel.
    pub fn holds(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|s| s.tx.is_some())
    }

    /// Sends queued commands `(session, seq, command)` of session `id` over
    /// its channel if this node holds it, each `seq` once per channel.
    pub(crate) fn deliver(&self, id: &str, cmds: Vec<(String, u64, ToAgent)>) {
        let mut map = self.lock();
        let Some(s) = map.get_mut(id) else { return };
        let Some(tx) = s.tx.clone() else { return };
        for (_, seq, cmd) in cmds {
            if s.answered.contains(&seq) {
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = s.pending.entry(seq) {
                let _ = tx.send(cmd.clone());
                e.insert(cmd);
            }
        }
    }

    /// The cluster's view ([`crate::cluster::sync_sessions`]): `rows` are
    /// every session, `held_elsewhere` those whose channel another live
    /// node holds. Sessions this node holds keep their own state.
    /// `read_at`: when the read of the rows began; sessions added to the
    /// map since (opened here meanwhile) stay even if the rows missed them.
    pub(crate) fn mirror(
        &self,
        rows: Vec<store::sessions::SessionRow>,
        held_elsewhere: &std::collections::HashSet<String>,
        read_at: Instant,
    ) {
        let mut map = self.lock();
        let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        map.retain(|id, s| ids.contains(id.as_str()) || s.added > read_at);
        for row in rows {
            let s = map.entry(row.id.clone()).or_insert_with(|| {
                let mut live = live_from_row(row);
                if !live.standby {
                    live.state = SessionState::Disconnected;
                }
                live
            });
            if s.tx.is_some() {
                continue;
            }
            if held_elsewhere.contains(&s.id) {
                s.state = SessionState::Connected;
                s.standby = false;
                s.last_seen = Instant::now();
            } else if s.state == SessionState::Connected {
                s.state = SessionState::Disconnected;
            }
        }
    }

    /// Re-reads the session rows when several nodes share them (a session
    /// opened on another node a moment ago); nothing on a single node.
    pub async fn refresh(&self, rws: &Rws) {
        if let Some(cluster) = &rws.cluster
            && let Err(e) = crate::cluster::sync_sessions(rws, cluster).await
        {
            tracing::warn!(error = %e, "re-reading the sessions");
        }
    }

    /// [`Hub::find_by_token`], re-reading the rows once on a miss when
    /// several nodes share them.
    pub(crate) async fn find_by_token_synced(&self, rws: &Rws, hash: &str) -> Option<String> {
        if let Some(id) = self.find_by_token(hash) {
            return Some(id);
        }
        rws.cluster.as_ref()?;
        self.refresh(rws).await;
        self.find_by_token(hash)
    }
}

/// A session's agent, DNs and kind ([`Hub::resume_facts`]).
pub struct ResumeFacts {
    /// The agent.
    pub username: String,
    /// The DNs the session holds.
    pub dns: Vec<String>,
    /// Native SRS or browser recorder.
    pub kind: SessionKind,
    /// A standby session (not live).
    pub standby: bool,
}

/// Loads the sessions persisted by a previous run, as `disconnected`.
pub async fn load_sessions(rws: &Rws) -> Result<(), sqlx::Error> {
    let rows = store::sessions::all(&rws.db).await?;
    let mut map = rws.hub.lock();
    for row in rows {
        let mut live = live_from_row(row);
        // SRS reconnects with back-off capped at 12.5 s: give it that long
        // on top of the silence timeout before the session counts as silent.
        live.last_seen = Instant::now() + Duration::from_secs(15);
        if !live.standby {
            live.state = SessionState::Disconnected;
        }
        map.insert(live.id.clone(), live);
    }
    if !map.is_empty() {
        tracing::info!(
            sessions = map.len(),
            "sessions restored; waiting for their SRS to reconnect"
        );
    }
    Ok(())
}

/// A session as read from its row (not connected here).
fn live_from_row(row: store::sessions::SessionRow) -> Live {
    let store::sessions::SessionRow {
        id,
        username,
        place,
        devices,
        token_hash,
        standby,
        srs_version,
        hostname,
        opened_at,
        next_seq,
    } = row;
    let mut live = Live::new(
        id,
        username,
        place,
        serde_json::from_str(&devices).unwrap_or_default(),
        token_hash,
        standby,
        srs_version,
        hostname,
    );
    live.opened_at = crate::recording::parse_time(&opened_at).unwrap_or(live.opened_at);
    live.next_seq = next_seq.max(1) as u64;
    live
}

/// Drops sessions whose SRS has been silent past the silence timeout.
///
/// With several nodes, a node judges only the sessions whose channel it
/// holds (it alone hears their SRS); sessions no node holds are judged by
/// the node running the singleton jobs, once its mirror of the rows is
/// fresh (a session another live node holds is refreshed by every read).
pub async fn sweep(rws: Rws) {
    let period =
        (rws.config.silence_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        tokio::time::sleep(period).await;
        let judge_unheld = rws
            .cluster
            .as_ref()
            .is_none_or(|c| c.is_leader() && c.synced_within(crate::cluster::SYNC_EVERY * 2));
        let expired: Vec<String> = rws
            .hub
            .lock()
            .values()
            .filter(|s| {
                s.state != SessionState::Standby
                    && s.last_seen.elapsed() > rws.config.silence_timeout
                    && (judge_unheld || s.tx.is_some())
            })
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            tracing::info!(session = %id, "SRS silent past the timeout: session dropped");
            if let Err(e) = rws.hub.remove(&rws, &id).await {
                tracing::error!(session = %id, error = %e, "dropping a silent session");
            }
        }
    }
}

pub(crate) async fn run_channel(rws: Rws, id: String, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    // The first frame must be hello.
    let hello = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
    let (last_seq, active_recording) = match hello {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str::<FromAgent>(&text) {
            Ok(FromAgent::Hello {
                last_seq,
                active_recording,
                ..
            }) if last_seq <= agent_input::MAX_SEQ => (last_seq, active_recording),
            Ok(FromAgent::Hello { last_seq, .. }) => {
                tracing::warn!(session = %id, last_seq, max = agent_input::MAX_SEQ, "control channel: hello.last_seq out of range; closed");
                return;
            }
            _ => {
                tracing::warn!(session = %id, "control channel: first frame was not hello");
                return;
            }
        },
        _ => return,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<ToAgent>();
    let connection = rws
        .hub
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let username: String;
    let resend: Vec<ToAgent> = {
        let mut map = rws.hub.lock();
        // A standby session becomes live when its SRS connects (failover):
        // rule 2 holds then too, or a standby claim would bypass the check
        // made when sessions open.
        if let Some(holder) = standby_blocked_by(&map, &id, rws.config.silence_timeout) {
            tracing::warn!(session = %id, holder = %holder, "control channel: standby session's place is held by another user's live session; refused");
            return;
        }
        let Some(s) = map.get_mut(&id) else {
            return;
        };
        username = s.username.clone();
        // last_seq <= MAX_SEQ (checked above): + 1 cannot wrap.
        s.next_seq = s.next_seq.max(last_seq.saturating_add(1));
        // Commands SRS already applied (its ack was lost): done.
        let applied: Vec<u64> = s.pending.range(..=last_seq).map(|(k, _)| *k).collect();
        for seq in applied {
            s.pending.remove(&seq);
            if let Some(w) = s.waiters.remove(&seq) {
                let _ = w.send(AckResult {
                    ok: true,
                    error: None,
                });
            }
        }
        s.state = SessionState::Connected;
        s.standby = false;
        s.last_seen = Instant::now();
        s.last_heartbeat = Some(OffsetDateTime::now_utc());
        s.tx = Some(tx);
        s.connection = connection;
        s.pending.values().cloned().collect()
    };
    tracing::info!(session = %id, last_seq, resend = resend.len(), "control channel connected");
    // A restarted SRS continues the agent's live recording.
    tokio::spawn(crate::restart::on_hello(
        rws.clone(),
        id.clone(),
        agent_input::kept(active_recording.as_deref()),
    ));
    if let Some(cluster) = &rws.cluster {
        // Holds the session from now on; queued commands follow through
        // `deliver` (the in-memory `pending` of another node is not here).
        crate::cluster::connected(&rws, cluster, &id, last_seq).await;
    }
    for cmd in resend {
        if send(&mut sink, &cmd).await.is_err() {
            break;
        }
    }
    let mut heartbeat = tokio::time::interval(rws.config.heartbeat_interval);
    heartbeat.tick().await;
    // `app` frames this channel may still send (a flood is dropped here).
    let mut app_budget = crate::app_lane::Budget::default();
    loop {
        tokio::select! {
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let msg = match serde_json::from_str::<FromAgent>(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(session = %id, error = %proto::logsafe::Escaped(&e.to_string()), "control channel: bad frame ignored");
                        continue;
                    }
                };
                let mut ended = false;
                let mut answered: Option<(u64, AckResult)> = None;
                if let FromAgent::Status { recording_id, state, reason, at, .. } = &msg {
                    // Rule 1: a session reports only on its own recordings.
                    if crate::recording::parse_time(at).is_none() {
                        tracing::warn!(session = %id, "control channel: status 'at' is not RFC 3339; refused");
                    } else if owns_recording(&rws, &id, &username, recording_id).await {
                        crate::dispatch::on_status(&rws, recording_id, *state, agent_input::kept(reason.as_deref()), at).await;
                    } else {
                        tracing::warn!(session = %id, user = %username, recording = %agent_input::bounded(recording_id, 64), "control channel: status for a recording this session does not own; refused");
                    }
                }
                if let FromAgent::Restarting { recording_id, at } = &msg {
                    if crate::recording::parse_time(at).is_none() {
                        tracing::warn!(session = %id, "control channel: restarting 'at' is not RFC 3339; refused");
                    } else if owns_recording(&rws, &id, &username, recording_id).await {
                        crate::restart::on_restarting(&rws, recording_id, at).await;
                    } else {
                        tracing::warn!(session = %id, user = %username, recording = %agent_input::bounded(recording_id, 64), "control channel: restarting for a recording this session does not own; refused");
                    }
                }
                if let FromAgent::App { recording_id, at, class, title } = &msg {
                    // The budget first: a flood never reaches the database.
                    if !app_budget.take(Instant::now()) {
                        if let Some(dropped) = app_budget.to_log() {
                            tracing::warn!(session = %id, dropped, "control channel: app changes over the budget dropped");
                        }
                    } else if owns_recording(&rws, &id, &username, recording_id).await {
                        let _ = crate::app_lane::on_app(&rws, recording_id, at, class, title.as_deref()).await;
                    } else {
                        tracing::warn!(session = %id, user = %username, recording = %agent_input::bounded(recording_id, 64), "control channel: app change for a recording this session does not own; refused");
                    }
                }
                {
                    let mut map = rws.hub.lock();
                    let Some(s) = map.get_mut(&id) else { break };
                    s.last_seen = Instant::now();
                    s.last_heartbeat = Some(OffsetDateTime::now_utc());
                    if let FromAgent::Heartbeat { recording, upload_backlog_bytes, last_error } = &msg {
                        s.recording = agent_input::kept(recording.as_deref());
                        s.upload_backlog_bytes = *upload_backlog_bytes;
                        s.last_error = agent_input::kept(last_error.as_deref());
                    }
                    // An ack settles only a command queued for this very
                    // session (its own `pending` map); any other seq is
                    // logged and changes nothing.
                    if let FromAgent::Ack { seq, ok, error } = msg {
                        let known = match s.pending.remove(&seq) {
                            Some(cmd) => {
                                ended = matches!(cmd, ToAgent::Bye { .. });
                                true
                            }
                            None => {
                                tracing::debug!(session = %id, seq, "control channel: ack for no pending command of this session; ignored");
                                false
                            }
                        };
                        let error = agent_input::kept(error.as_deref());
                        if let Some(w) = s.waiters.remove(&seq) {
                            let _ = w.send(AckResult { ok, error });
                        } else if rws.cluster.is_some() && known {
                            answered = Some((seq, AckResult { ok, error }));
                            if s.answered.len() >= 16 {
                                s.answered.pop_front();
                            }
                            s.answered.push_back(seq);
                        }
                    }
                }
                if let (Some(cluster), Some((seq, ack))) = (&rws.cluster, answered) {
                    crate::cluster::acked(&rws, cluster, &id, seq, ack).await;
                }
                if ended {
                    let _ = rws.hub.remove(&rws, &id).await;
                    break;
                }
            }
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                if send(&mut sink, &cmd).await.is_err() {
                    break;
                }
            }
            _ = heartbeat.tick() => {
                if send(&mut sink, &ToAgent::Heartbeat).await.is_err() {
                    break;
                }
                // The session was removed (timeout, admin, replaced): close.
                if !rws.hub.lock().contains_key(&id) {
                    break;
                }
            }
        }
    }
    // Drain what is queued (a bye for a replaced session) before closing.
    while let Ok(cmd) = rx.try_recv() {
        let _ = send(&mut sink, &cmd).await;
    }
    let _ = sink.send(Message::Close(None)).await;
    let mine = {
        let mut map = rws.hub.lock();
        match map.get_mut(&id) {
            Some(s) if s.connection == connection => {
                s.state = SessionState::Disconnected;
                s.tx = None;
                // Sent but unanswered: resent (from the rows) by whichever
                // node SRS reconnects to.
                if rws.cluster.is_some() {
                    s.pending.clear();
                }
                true
            }
            _ => false,
        }
    };
    if mine && let Some(cluster) = &rws.cluster {
        crate::cluster::disconnected(&rws, cluster, &id).await;
    }
    tracing::info!(session = %id, "control channel closed");
}

/// For a standby session `id`: the user of another live, non-stale session
/// holding its place or one of its DNs (the standby may not go live).
fn standby_blocked_by(
    map: &HashMap<String, Live>,
    id: &str,
    silence_timeout: Duration,
) -> Option<String> {
    let me = map.get(id)?;
    if !me.standby && me.state != SessionState::Standby {
        return None;
    }
    map.values()
        .find(|o| {
            o.id != me.id
                && o.username != me.username
                && !o.standby
                && o.state != SessionState::Standby
                && o.claims_any(&me.place, &me.devices)
                && o.last_seen.elapsed() <= silence_timeout
        })
        .map(|o| o.username.clone())
}

/// True when recording `recording_id` belongs to this session: started
/// for it, or for its user (a recording outlives a re-login of the same
/// user, whose SRS still reports on it).
async fn owns_recording(rws: &Rws, session: &str, username: &str, recording_id: &str) -> bool {
    match crate::recordings::get(&rws.db, recording_id).await {
        Ok(Some(rec)) => rec.session_id.as_deref() == Some(session) || rec.username == username,
        Ok(None) => false,
        Err(e) => {
            tracing::error!(recording = %recording_id, error = %e, "reading a recording's owner");
            false
        }
    }
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    msg: &ToAgent,
) -> Result<(), axum::Error> {
    let text = serde_json::to_string(msg).unwrap_or_default();
    sink.send(Message::Text(text.into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: &str) -> Live {
        Live::new(
            id.into(),
            "agent1".into(),
            "Place1".into(),
            Vec::new(),
            "hash".into(),
            false,
            "test".into(),
            None,
        )
    }

    /// A cluster re-read that began after the session was built but before
    /// its row was committed sees no row for it; the session entered the
    /// map after that read began, so the mirror keeps it.
    #[test]
    fn a_session_opened_during_a_re_read_survives_the_mirror() {
        let hub = Hub::default();
        let built = live("s1");
        std::thread::sleep(Duration::from_millis(2));
        let read_at = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        hub.insert_opened(built);
        hub.mirror(Vec::new(), &Default::default(), read_at);
        assert!(hub.lock().contains_key("s1"), "the new session was dropped");

        // The same read drops an entry that was in the map before it began
        // and has no row (a session closed on another node).
        let old = live("s2");
        hub.lock().insert("s2".into(), old);
        let read_at = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        hub.mirror(Vec::new(), &Default::default(), read_at);
        assert!(
            !hub.lock().contains_key("s2"),
            "a session without a row stayed"
        );
    }
}
