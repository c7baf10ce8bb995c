//! Recording lifecycle events: every state change of a recording is
//! published to server-sent-event subscribers (`GET
//! /api/v2/recordings/events`, admin and supervisor, each seeing only the
//! agents [`crate::compliance::viewer`] lets them see; the endpoint is
//! [`crate::http::lifecycle`]) and queued for the configured webhooks
//! (every event: webhooks are set by the administrator who runs RWS, not by
//! users) in the durable outbox that [`crate::webhooks`] delivers.
//!
//! In a cluster (PostgreSQL) the node that made the change also NOTIFYs
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

/// Publishes a state change: to this node's SSE subscribers, into the
/// webhook outbox (durable before this returns), and, in a cluster, to the
/// other nodes' subscribers through NOTIFY.
pub async fn publish(rws: &Rws, event: LifecycleEvent) {
    tracing::info!(recording = %event.recording_id, state = %event.state, reason = ?event.reason, "recording state");
    let lifecycle = &rws.lifecycle;
    lifecycle.relay(event.clone());
    if !lifecycle.webhooks.is_empty() {
        let body = serde_json::to_string(&event).unwrap_or_default();
        match store::webhooks::enqueue(&rws.db, &event.event_id, &lifecycle.webhooks, &body, &now())
            .await
        {
            Ok(()) => lifecycle.wake.notify_one(),
            Err(e) => {
                tracing::error!(event = %event.event_id, error = %e, "queueing webhook deliveries")
            }
        }
    }
    if let Some(cluster) = &rws.cluster {
        let mut small = event;
        if let Some(reason) = small.reason.as_mut()
            && reason.len() > NOTIFY_REASON_MAX
        {
            let mut cut = NOTIFY_REASON_MAX;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let payload = serde_json::to_string(&Relayed {
            node: cluster.node.clone(),
            event: small,
        })
        .unwrap_or_default();
        if let Err(e) = store::cluster::notify(&rws.db, EVENTS, &payload).await {
            tracing::warn!(error = %e, "NOTIFY of a recording state change");
        }
    }
}
