//! `store::cluster` against a real PostgreSQL (started by the test): the
//! command queue's numbering under concurrency, what a node's poll reads,
//! answers, node leases, and the singleton advisory lock moving when the
//! connection holding it closes.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use backends::PgServer;
use rws::store::cluster as c;
use rws::store::connect::{AnyPool, DatabaseUrl, connect};
use rws::store::sessions::{SessionRow, insert_replacing};
use sqlx::Connection;

async fn fresh() -> (AnyPool, String) {
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    (
        connect(&DatabaseUrl::parse(&url).unwrap()).await.unwrap(),
        url,
    )
}

async fn session(pool: &AnyPool, id: &str) {
    let row = SessionRow {
        id: id.into(),
        username: format!("u-{id}"),
        place: "p".into(),
        devices: "[]".into(),
        token_hash: format!("h-{id}"),
        standby: false,
        srs_version: "t".into(),
        hostname: None,
        opened_at: "2026-01-05T10:00:00.000Z".into(),
        next_seq: 1,
    };
    insert_replacing(pool, &row, &[]).await.unwrap();
}

#[tokio::test]
async fn seqs_are_unique_under_concurrency_and_only_the_holders_commands_are_polled() {
    let (pool, _) = fresh().await;
    session(&pool, "s1").await;
    session(&pool, "s2").await;
    // 40 nodes' worth of concurrent numbering: every seq once, 1..=40.
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { c::take_seq(&pool, "s1").await.unwrap().unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<i64>>());
    assert_eq!(c::take_seq(&pool, "nobody").await.unwrap(), None);
    // hello raises, never lowers.
    c::raise_seq(&pool, "s1", 10).await.unwrap();
    assert_eq!(c::take_seq(&pool, "s1").await.unwrap(), Some(41));
    c::raise_seq(&pool, "s1", 100).await.unwrap();
    assert_eq!(c::take_seq(&pool, "s1").await.unwrap(), Some(100));

    let at = "2026-01-05T10:00:00.000Z";
    c::insert_command(&pool, "s1", 1, "{\"a\":1}", at)
        .await
        .unwrap();
    c::insert_command(&pool, "s1", 2, "{\"a\":2}", at)
        .await
        .unwrap();
    c::insert_command(&pool, "s2", 1, "{\"b\":1}", at)
        .await
        .unwrap();
    // The same (session, seq) twice is refused: a seq names one command.
    assert!(c::insert_command(&pool, "s1", 1, "{}", at).await.is_err());
    c::renew_node(&pool, "A", "2026-01-05T10:00:10.000Z", at)
        .await
        .unwrap();
    c::renew_node(&pool, "B", "2026-01-05T10:00:10.000Z", at)
        .await
        .unwrap();
    c::take_session(&pool, "s1", "A", at).await.unwrap();
    c::take_session(&pool, "s2", "B", at).await.unwrap();
    let a: Vec<(String, i64)> = c::pending_of_node(&pool, "A")
        .await
        .unwrap()
        .into_iter()
        .map(|(s, q, _)| (s, q))
        .collect();
    assert_eq!(a, vec![("s1".into(), 1), ("s1".into(), 2)]);

    assert_eq!(c::answer(&pool, "s1", 1).await.unwrap(), None);
    c::ack(&pool, "s1", 1, false, Some("no")).await.unwrap();
    assert_eq!(
        c::answer(&pool, "s1", 1).await.unwrap(),
        Some(Some((false, Some("no".into()))))
    );
    // hello's last_seq answers what it covers, not what it does not.
    c::ack_up_to(&pool, "s1", 1).await.unwrap();
    assert_eq!(
        c::answer(&pool, "s1", 1).await.unwrap(),
        Some(Some((false, Some("no".into())))),
        "an answer already given stays"
    );
    assert_eq!(c::answer(&pool, "s1", 2).await.unwrap(), None);
    assert_eq!(c::pending_of(&pool, "s1").await.unwrap().len(), 1);
    // A session that ends takes its commands and ownership along.
    rws::store::sessions::delete(&pool, "s1").await.unwrap();
    assert_eq!(c::answer(&pool, "s1", 2).await.unwrap(), Some(None));
    assert!(c::pending_of_node(&pool, "A").await.unwrap().is_empty());

    // Leases: A, taken over by C, then B dies.
    c::take_session(&pool, "s2", "A", at).await.unwrap();
    c::release_session(&pool, "s2", "B").await.unwrap();
    let held = c::held_sessions(&pool, "2026-01-05T10:00:05.000Z")
        .await
        .unwrap();
    assert_eq!(
        held,
        vec![("s2".to_string(), "A".to_string())],
        "B released nothing it did not hold"
    );
    assert!(
        c::held_sessions(&pool, "2026-01-05T10:00:11.000Z")
            .await
            .unwrap()
            .is_empty(),
        "a lease that ran out holds nothing"
    );
    assert_eq!(
        c::forget_dead_nodes(&pool, "2026-01-05T10:00:11.000Z")
            .await
            .unwrap(),
        2
    );
    c::renew_node(&pool, "A", "2026-01-05T10:01:00.000Z", at)
        .await
        .unwrap();
    assert!(
        c::held_sessions(&pool, "2026-01-05T10:00:12.000Z")
            .await
            .unwrap()
            .is_empty(),
        "the dead node's ownership is gone with it"
    );
}

#[tokio::test]
async fn the_singleton_lock_is_held_once_and_moves_when_its_connection_closes() {
    let (_pool, url) = fresh().await;
    let key = rws::cluster::LEADER_LOCK;
    let mut a = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut b = sqlx::PgConnection::connect(&url).await.unwrap();
    assert!(c::try_advisory_lock(&mut a, key).await.unwrap());
    assert!(!c::try_advisory_lock(&mut b, key).await.unwrap());
    c::ping(&mut a).await.unwrap();
    // The holder's connection closes (a node that dies): the lock is free.
    drop(a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if c::try_advisory_lock(&mut b, key).await.unwrap() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the lock never moved");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
