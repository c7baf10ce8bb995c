//! Webhook delivery from the durable outbox (`webhook_outbox`, SQL in
//! [`crate::store::webhooks`]; events are queued in the transaction of
//! the state change itself, [`crate::store::lifecycle`]).
//!
//! One node delivers: the node running the singleton jobs
//! ([`crate::cluster::runs_singletons`]; on SQLite, the only node). It
//! POSTs each due row with the header [`EVENT_ID_HEADER`], marks it
//! delivered on a 2xx, and otherwise retries with back-off (1 s doubling
//! to 5 min, [`MAX_ATTEMPTS`] attempts, about a day) before giving up.
//! A row is marked only after its receiver answered, so a node that dies
//! mid-delivery leaves it undone and the next holder of the singleton lock
//! delivers it again: at-least-once, and receivers de-duplicate by the
//! event id (the same in the header and in the body's `event_id`).
//!
//! Before an attempt the row is claimed: its due time moves [`CLAIM`]
//! ahead (longer than an attempt may last), so the job does not wait for
//! attempts to finish before reading the next due rows: a receiver that
//! never answers holds one of [`MAX_IN_FLIGHT`] attempts, not the other
//! receivers' deliveries. A node dying mid-attempt leaves the claim, and
//! the row is due again once the claim runs out.

use std::time::Duration;

use crate::Rws;
use crate::recording::{now, rfc3339};
use crate::store;

/// The header carrying the event id (also the body's `event_id`).
pub const EVENT_ID_HEADER: &str = "screenrec-event-id";
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 300;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often the job looks for due rows when nothing woke it.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Due rows read at once.
const BATCH: i64 = 32;
/// Attempts in flight at once (each in its own task).
pub const MAX_IN_FLIGHT: usize = 256;
/// How long a claimed row is not due (an attempt's HTTP timeout is 10 s):
/// also how long after a node died mid-attempt the row is tried again.
pub const CLAIM: Duration = Duration::from_secs(15);
/// How long done rows are kept (for an operator looking at the table).
const KEEP_DONE: time::Duration = time::Duration::days(1);

/// The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s, … 5 min.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
}

/// The delivery job: runs for the life of the server, delivering only
/// while this node runs the singleton jobs.
pub async fn job(rws: Rws) {
    let mut pruned: Option<std::time::Instant> = None;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    loop {
        if crate::cluster::runs_singletons(&rws) {
            start_due(&rws, &slots).await;
            if pruned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                let before = rfc3339(time::OffsetDateTime::now_utc() - KEEP_DONE);
                match store::webhooks::prune(&rws.db, &before).await {
                    Ok(_) => pruned = Some(std::time::Instant::now()),
                    Err(e) => tracing::warn!(error = %e, "pruning delivered webhooks"),
                }
                // The event log of resumable streams, pruned by age likewise.
                let old = rfc3339(time::OffsetDateTime::now_utc() - crate::lifecycle::KEEP_LOGGED);
                if let Err(e) = store::lifecycle::prune(&rws.db, &old).await {
                    tracing::warn!(error = %e, "pruning the event log");
                }
            }
        }
        let _ = tokio::time::timeout(POLL_EVERY, rws.lifecycle.wake.notified()).await;
    }
}

/// Claims due rows and starts an attempt for each, while there are slots.
async fn start_due(rws: &Rws, slots: &std::sync::Arc<tokio::sync::Semaphore>) {
    loop {
        let free = slots.available_permits().min(BATCH as usize) as i64;
        if free == 0 {
            return;
        }
        let rows = match store::webhooks::due(&rws.db, &now(), free).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading due webhook deliveries");
                return;
            }
        };
        let full = rows.len() as i64 == free;
        for row in rows {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                return;
            };
            // The claim: not due again while this attempt may run.
            let until = rfc3339(time::OffsetDateTime::now_utc() + CLAIM);
            if let Err(e) = store::webhooks::retry_at(&rws.db, &row.0, &row.1, row.3, &until).await
            {
                tracing::warn!(event = %row.0, error = %e, "claiming a webhook delivery");
                return;
            }
            let rws = rws.clone();
            tokio::spawn(async move {
                deliver_one(rws, row).await;
                drop(slot);
            });
        }
        // A full read may have more behind it; lost the lock meanwhile:
        // the new holder goes on.
        if !full || !crate::cluster::runs_singletons(rws) {
            return;
        }
    }
}

async fn deliver_one(rws: Rws, (event_id, url, body, attempts): store::webhooks::DueRow) {
    let attempts = attempts + 1;
    let sent = rws
        .lifecycle
        .http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, &event_id)
        .body(body)
        .send()
        .await;
    let failure = match sent {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("answered {}", r.status())),
        Err(e) => Some(e.to_string()),
    };
    let result = match failure {
        None => {
            store::webhooks::done(&rws.db, &event_id, &url, attempts, "delivered", &now()).await
        }
        Some(why) if attempts >= MAX_ATTEMPTS => {
            tracing::error!(url = %url, event = %event_id, attempts, last = %why, "webhook given up");
            store::webhooks::done(&rws.db, &event_id, &url, attempts, "gave up", &now()).await
        }
        Some(why) => {
            tracing::warn!(url = %url, event = %event_id, attempts, error = %why, "webhook failed; will retry");
            let next = rfc3339(time::OffsetDateTime::now_utc() + backoff(attempts));
            store::webhooks::retry_at(&rws.db, &event_id, &url, attempts, &next).await
        }
    };
    if let Err(e) = result {
        // The row stays due: delivered again later (at-least-once).
        tracing::warn!(url = %url, event = %event_id, error = %e, "recording a webhook delivery");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(9), Duration::from_secs(256));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(MAX_ATTEMPTS), MAX_BACKOFF);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(i64::MIN), Duration::from_secs(1));
    }
}
