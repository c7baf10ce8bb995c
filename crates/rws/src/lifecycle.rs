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
//! loses nothing. In a cluster (PostgreSQL) the change NOTIFYs
//! [`EVENTS`] with the event as JSON; every node's listener
//! ([`crate::cluster`]) hands the events of the other nodes to
//! [`Lifecycle::relay`], so an SSE subscriber on any node sees every
//! node's changes (still filtered by the subscriber's visibility).

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
}

/// What a node NOTIFYs: the event and which node made it (a node does not
/// relay its own events twice).
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
                     only this node's SSE subscribers see it (webhooks get it)"
                );
            }
            payload
        });
        Outgoing {
            event_id: event.event_id.clone(),
            body: serde_json::to_string(event).unwrap_or_default(),
            notify,
            now: now(),
        }
    }

    /// The rows and NOTIFY the store writes in the change's transaction.
    pub fn announce<'a>(&'a self, rws: &'a Rws) -> store::lifecycle::Announce<'a> {
        store::lifecycle::Announce {
            event_id: &self.event_id,
            urls: &rws.lifecycle.webhooks,
            body: &self.body,
            notify: self.notify.as_deref().map(|p| (EVENTS, p)),
            now: &self.now,
        }
    }
}

/// After the change and its announcement committed: this node's SSE
/// subscribers get the event and the webhook job wakes (the outbox rows
/// and the NOTIFY to the other nodes were written with the change).
pub fn published(rws: &Rws, event: LifecycleEvent) {
    tracing::info!(recording = %event.recording_id, state = %event.state, reason = ?event.reason, "recording state");
    let lifecycle = &rws.lifecycle;
    lifecycle.relay(event);
    if !lifecycle.webhooks.is_empty() {
        lifecycle.wake.notify_one();
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
