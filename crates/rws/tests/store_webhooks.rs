//! `store::webhooks` (the durable webhook outbox) on both backends, a real
//! PostgreSQL (started by the test) and SQLite: queueing is idempotent per
//! (event, URL), due rows come oldest first and only when due, a retry
//! moves a row's due time, done rows are never due again and are pruned
//! after their time, undone rows never are.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use backends::PgServer;
use rws::store::connect::{AnyPool, DatabaseUrl, connect};
use rws::store::webhooks as w;

const T0: &str = "2026-01-05T10:00:00.000000Z";
const T1: &str = "2026-01-05T10:00:01.000000Z";
const T2: &str = "2026-01-05T10:00:02.000000Z";
const T9: &str = "2026-01-05T10:00:09.000000Z";

async fn outbox(pool: &AnyPool) {
    let urls = vec!["http://a/hook".to_string(), "http://b/hook".to_string()];
    w::enqueue(pool, "e1", &urls, r#"{"event_id":"e1"}"#, T0)
        .await
        .unwrap();
    // A repeated event id changes nothing (not even its body).
    w::enqueue(pool, "e1", &urls, r#"{"event_id":"other"}"#, T0)
        .await
        .unwrap();
    w::enqueue(pool, "e2", &urls[..1], r#"{"event_id":"e2"}"#, T1)
        .await
        .unwrap();
    let due = w::due(pool, T2, 10).await.unwrap();
    let keys: Vec<(&str, &str)> = due.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(
        keys,
        [
            ("e1", "http://a/hook"),
            ("e1", "http://b/hook"),
            ("e2", "http://a/hook")
        ]
    );
    assert!(due.iter().all(|r| r.3 == 0));
    assert_eq!(due[1].2, r#"{"event_id":"e1"}"#);
    // Not due before it was queued; the limit holds.
    assert_eq!(w::due(pool, T0, 10).await.unwrap().len(), 2);
    assert_eq!(w::due(pool, T2, 1).await.unwrap().len(), 1);

    // A failed attempt: due again at T9 only.
    w::retry_at(pool, "e1", "http://a/hook", 1, T9)
        .await
        .unwrap();
    let due = w::due(pool, T2, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(!due.iter().any(|r| r.0 == "e1" && r.1 == "http://a/hook"));
    let later = w::due(pool, T9, 10).await.unwrap();
    let retried = later
        .iter()
        .find(|r| r.0 == "e1" && r.1 == "http://a/hook")
        .unwrap();
    assert_eq!(retried.3, 1);

    // Done rows are never due again, and a late retry does not revive one.
    w::done(pool, "e1", "http://b/hook", 1, "delivered", T1)
        .await
        .unwrap();
    w::done(pool, "e2", "http://a/hook", 300, "gave up", T2)
        .await
        .unwrap();
    w::retry_at(pool, "e2", "http://a/hook", 301, T0)
        .await
        .unwrap();
    let due = w::due(pool, T9, 10).await.unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        (due[0].0.as_str(), due[0].1.as_str()),
        ("e1", "http://a/hook")
    );

    // Pruning takes done rows older than the limit, never undone ones.
    assert_eq!(w::prune(pool, T2).await.unwrap(), 1);
    assert_eq!(w::prune(pool, T9).await.unwrap(), 1);
    assert_eq!(w::prune(pool, "9999").await.unwrap(), 0);
    assert_eq!(w::due(pool, T9, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_outbox_on_postgres() {
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    let pool = connect(&DatabaseUrl::parse(&url).unwrap()).await.unwrap();
    outbox(&pool).await;
}

#[tokio::test]
async fn the_outbox_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}/screenrec.db", dir.path().display())).unwrap();
    let pool = connect(&url).await.unwrap();
    outbox(&pool).await;
}
