//! Recording lifecycle events: every state change of a recording is
//! published to server-sent-event subscribers (`GET
//! /api/v2/recordings/events`, admin and supervisor, each seeing only the
//! agents [`crate::compliance::viewer`] lets them see; the endpoint is
//! [`crate::http::lifecycle`]) and queued for the configured webhooks
//! (every event: webhooks are set by the administrator who runs RWS, not by
//! users) in the durable outbox that [`crate::webhooks`] delivers.
//!
//! The change, its outbox rows and (in a cluster) its NOTIFY are one
//! transaction ([`crate::store::lifecycle`]): a node dying between them
//! loses nothing. Each change is also a row of the event log
//! (`lifecycle_events`), whose `seq` is the SSE event id: a stream
//! ([`resumable`]) replays what a reconnecting client missed and fills the
//! gaps a lost notification left. In a cluster (PostgreSQL) the change
//! NOTIFYs [`EVENTS`] with `<seq> <event JSON>`; every node's listener
//! ([`crate::cluster`]) hands every node's events, its own included, to
//! [`Lifecycle::relay`], so an SSE subscriber on any node sees every
//! node's changes in `seq` order (still filtered by the subscriber's
//! visibility).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};

use crate::Rws;
use crate::recording::now;
use crate::store;

/// NOTIFY channel of the state changes; payload a [`Relayed`] JSON.
pub const EVENTS: &str = "screenrec_events";

/// The longest `reason` carried in a NOTIFY: PostgreSQL's payload limit is
/// 8000 bytes, and ids, agent names and times are bounded well below the
/// rest (a longer reason is cut, on a character boundary, for SSE only;
/// webhooks get it whole from the outbox).
const NOTIFY_REASON_MAX: usize = 2000;

/// One state change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Unique id of this event (receivers de-duplicate retries by it).
    pub event_id: String,
    /// Always `recording.state`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The recording.
    pub recording_id: String,
    /// The call (or interaction) it is mapped to.
    pub call_id: String,
    /// The agent.
    pub agent: String,
    /// The new state.
    pub state: crate::recording::RecordingState,
    /// Why, for `failed`, `partial` and stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When (RFC 3339).
    pub at: String,
    /// Its place in the event log (`lifecycle_events.seq`), the SSE event
    /// id; not in the JSON (the webhook body is written before it exists).
    #[serde(skip)]
    pub seq: i64,
}

/// What a node NOTIFYs (after the event's log `seq` and a space): the event
/// and which node made it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Relayed {
    /// The node that made the change.
    pub node: String,
    /// The change.
    pub event: LifecycleEvent,
}

/// The publisher.
pub struct Lifecycle {
    tx: broadcast::Sender<LifecycleEvent>,
    /// The configured webhook URLs.
    pub webhooks: Vec<String>,
    /// The HTTP client of the deliveries.
    pub http: reqwest::Client,
    /// Wakes the delivery job when an event was queued.
    pub wake: Notify,
}

impl Lifecycle {
    /// A publisher posting to `webhooks`.
    pub fn new(webhooks: Vec<String>) -> Lifecycle {
        let (tx, _) = broadcast::channel(1024);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // A receiver answers itself: a redirect is not followed (it
            // could point the event anywhere) and counts as a failure.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Lifecycle {
            tx,
            webhooks,
            http,
            wake: Notify::new(),
        }
    }

    /// Hands an event to this node's SSE subscribers only (the events
    /// other nodes made, from the cluster listener).
    pub fn relay(&self, event: LifecycleEvent) {
        let _ = self.tx.send(event);
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<LifecycleEvent> {
        self.tx.subscribe()
    }
}

/// What a state change writes beside itself, prepared before its
/// transaction ([`crate::store::lifecycle`]): the webhook body and, in a
/// cluster, the NOTIFY payload.
pub struct Outgoing {
    event_id: String,
    agent: String,
    body: String,
    notify: Option<String>,
    now: String,
}

impl Outgoing {
    /// Prepares `event` for this node's webhooks and cluster.
    pub fn of(rws: &Rws, event: &LifecycleEvent) -> Outgoing {
        let notify = rws.cluster.as_ref().and_then(|cluster| {
            let payload = notify_payload(&cluster.node, event.clone());
            if payload.is_none() {
                tracing::warn!(
                    "recording state change too large for NOTIFY (ids of several KB); \
                     other nodes' SSE subscribers get it from the event log, on their \
                     next gap fill or reconnect (webhooks get it)"
                );
            }
            payload
        });
        Outgoing {
            event_id: event.event_id.clone(),
            agent: event.agent.clone(),
            body: serde_json::to_string(event).unwrap_or_default(),
            notify,
            now: now(),
        }
    }

    /// The rows and NOTIFY the store writes in the change's transaction.
    pub fn announce<'a>(&'a self, rws: &'a Rws) -> store::lifecycle::Announce<'a> {
        store::lifecycle::Announce {
            event_id: &self.event_id,
            agent: &self.agent,
            postgres: rws.cluster.is_some(),
            urls: &rws.lifecycle.webhooks,
            body: &self.body,
            notify: self.notify.as_deref().map(|p| (EVENTS, p)),
            now: &self.now,
        }
    }

    /// After the change and its announcement committed (its log `seq`):
    /// the webhook job wakes, and this node's SSE subscribers get the
    /// event — directly on a single node; in a cluster through the NOTIFY
    /// like every node's (so each node's streams see the cluster's events
    /// in `seq` order), unless it was too large to NOTIFY.
    pub fn published(&self, rws: &Rws, mut event: LifecycleEvent, seq: i64) {
        tracing::info!(recording = %event.recording_id, state = %event.state, reason = ?event.reason, seq, "recording state");
        event.seq = seq;
        let lifecycle = &rws.lifecycle;
        if rws.cluster.is_none() || self.notify.is_none() {
            lifecycle.relay(event);
        }
        if !lifecycle.webhooks.is_empty() {
            lifecycle.wake.notify_one();
        }
    }
}

/// The most events a reconnecting stream gets back at once (from its
/// `Last-Event-ID`), and the most a gap fill reads: a forged or very old
/// id costs one bounded index range, never a scan of the log.
pub const REPLAY_MAX: i64 = 1000;
/// How long the event log keeps events (how far back a reconnecting
/// stream can resume).
pub const KEEP_LOGGED: time::Duration = time::Duration::hours(1);

/// A subscriber's stream of state changes in `seq` order, without gaps:
/// first what the log holds after `after` (a reconnecting client's
/// `Last-Event-ID`; at most [`REPLAY_MAX`]), then the live events; a live
/// event whose `seq` jumps past the last one sent (a NOTIFY lost in a
/// cluster, a lagging subscriber) first gets the missing ones from the log,
/// and one already sent is dropped. Visibility is the caller's filter.
pub fn resumable(
    rws: Rws,
    after: Option<i64>,
) -> impl futures_util::Stream<Item = LifecycleEvent> + Send + 'static {
    // Subscribed before the log is read: an event committed meanwhile is
    // in both, and the seq check drops the second copy.
    let cursor = Cursor {
        rx: rws.lifecycle.subscribe(),
        rws,
        last: None,
        queue: std::collections::VecDeque::new(),
        replay: after,
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.queue.pop_front() {
                return Some((e, c));
            }
            if let Some(after) = c.replay.take() {
                let rows = store::lifecycle::since(&c.rws.db, after, REPLAY_MAX).await;
                c.take_logged(rows);
                continue;
            }
            match c.rx.recv().await {
                Ok(e) => match c.last {
                    Some(last) if e.seq <= last => {}
                    Some(last) if e.seq > last + 1 => {
                        let rows =
                            store::lifecycle::between(&c.rws.db, last, e.seq, REPLAY_MAX).await;
                        c.take_logged(rows);
                        c.last = Some(e.seq);
                        c.queue.push_back(e);
                    }
                    _ => {
                        c.last = Some(e.seq);
                        c.queue.push_back(e);
                    }
                },
                Err(broadcast::error::RecvError::Lagged(_)) => c.replay = c.last,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

struct Cursor {
    rws: Rws,
    rx: broadcast::Receiver<LifecycleEvent>,
    /// The last seq sent.
    last: Option<i64>,
    queue: std::collections::VecDeque<LifecycleEvent>,
    /// Read the log after this seq before waiting again.
    replay: Option<i64>,
}

impl Cursor {
    /// Queues logged events (in seq order) and moves `last` past them.
    fn take_logged(&mut self, rows: Result<Vec<store::lifecycle::Logged>, sqlx::Error>) {
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the event log for a stream");
                return;
            }
        };
        for (seq, _agent, body) in rows {
            match serde_json::from_str::<LifecycleEvent>(&body) {
                Ok(mut e) => {
                    e.seq = seq;
                    self.queue.push_back(e);
                }
                Err(e) => tracing::warn!(seq, error = %e, "unreadable logged event; skipped"),
            }
            self.last = Some(self.last.map_or(seq, |l| l.max(seq)));
        }
    }
}

/// The largest NOTIFY payload PostgreSQL takes is 8000 bytes; a little
/// is kept in hand.
const NOTIFY_MAX: usize = 7900;

/// The NOTIFY payload of `event` made on `node`: its `reason` cut to
/// [`NOTIFY_REASON_MAX`] bytes (on a character boundary); `None` when it is
/// still too large (ids of several KB: the event intake does not bound a
/// call id's length).
pub fn notify_payload(node: &str, mut event: LifecycleEvent) -> Option<String> {
    if let Some(reason) = event.reason.as_mut()
        && reason.len() > NOTIFY_REASON_MAX
    {
        let mut cut = NOTIFY_REASON_MAX;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    let payload = serde_json::to_string(&Relayed {
        node: node.to_string(),
        event,
    })
    .ok()?;
    (payload.len() <= NOTIFY_MAX).then_some(payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn event(call: &str, reason: Option<&str>) -> LifecycleEvent {
        LifecycleEvent {
            event_id: "e1".into(),
            kind: "recording.state".into(),
            recording_id: "r1".into(),
            call_id: call.into(),
            agent: "agent1".into(),
            state: crate::recording::RecordingState::Failed,
            reason: reason.map(str::to_string),
            at: "2026-01-05T10:00:00.000000Z".into(),
            seq: 0,
        }
    }

    #[test]
    fn a_notify_payload_round_trips_and_keeps_the_node() {
        let p = notify_payload("node-a", event("c1", Some("why"))).unwrap();
        let r: Relayed = serde_json::from_str(&p).unwrap();
        assert_eq!(r.node, "node-a");
        assert_eq!(r.event.call_id, "c1");
        assert_eq!(r.event.reason.as_deref(), Some("why"));
        assert_eq!(r.event.kind, "recording.state");
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary_to_fit_notify() {
        // 3-byte characters: the cut falls inside one unless it steps back.
        let long = "é€".repeat(3000);
        let p = notify_payload("node-a", event("c1", Some(&long))).unwrap();
        assert!(p.len() <= NOTIFY_MAX);
        let r: Relayed = serde_json::from_str(&p).unwrap();
        let reason = r.event.reason.unwrap();
        assert!(reason.len() <= NOTIFY_REASON_MAX && reason.len() > NOTIFY_REASON_MAX - 4);
        assert!(long.starts_with(&reason));
    }

    #[test]
    fn hostile_an_event_with_a_huge_call_id_is_not_notified() {
        assert!(notify_payload("node-a", event(&"x".repeat(8000), None)).is_none());
        assert!(notify_payload("node-a", event(&"x".repeat(7000), None)).is_some());
    }
}
