//! Recording lifecycle events: every state change of a recording is
//! published to server-sent-event subscribers (`GET
//! /api/v2/recordings/events`, admin and supervisor, each seeing only the
//! agents [`crate::compliance::viewer`] lets them see; the endpoint is
//! [`crate::http::lifecycle`]) and POSTed to the
//! configured webhooks (every event: webhooks are set by the administrator
//! who runs RWS, not by users), retried with back-off (1 s doubling to 5 min, for
//! about a day) until the receiver answers 2xx.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

/// One state change.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleEvent {
    /// Unique id of this event (receivers de-duplicate retries by it).
    pub event_id: String,
    /// Always `recording.state`.
    #[serde(rename = "type")]
    pub kind: &'static str,
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

/// The publisher.
pub struct Lifecycle {
    tx: broadcast::Sender<LifecycleEvent>,
    webhooks: Vec<String>,
    http: reqwest::Client,
}

impl Lifecycle {
    /// A publisher posting to `webhooks`.
    pub fn new(webhooks: Vec<String>) -> Lifecycle {
        let (tx, _) = broadcast::channel(1024);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Lifecycle { tx, webhooks, http }
    }

    /// Publishes an event.
    pub fn emit(&self, event: LifecycleEvent) {
        tracing::info!(recording = %event.recording_id, state = %event.state, reason = ?event.reason, "recording state");
        let _ = self.tx.send(event.clone());
        for url in &self.webhooks {
            tokio::spawn(deliver(self.http.clone(), url.clone(), event.clone()));
        }
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<LifecycleEvent> {
        self.tx.subscribe()
    }
}

async fn deliver(http: reqwest::Client, url: String, event: LifecycleEvent) {
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=300u32 {
        match http.post(&url).json(&event).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::warn!(url = %url, status = %r.status(), attempt, "webhook refused; will retry")
            }
            Err(e) => tracing::warn!(url = %url, error = %e, attempt, "webhook failed; will retry"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(300));
    }
    tracing::error!(url = %url, event = %event.event_id, "webhook given up after 300 attempts");
}
