//! `store::lifecycle` on both backends, a real PostgreSQL (started by the
//! test) and SQLite: a recording's state change, its rows
//! (the event log `lifecycle_events` and the outbox) and (PostgreSQL) its
//! NOTIFY commit together or not at all; the log's seqs grow and its reads
//! are bounded. The failure
//! is real: the outbox table is renamed away so its INSERT fails after the
//! state UPDATE and the NOTIFY ran in the same transaction.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use backends::PgServer;
use rws::recording::RecordingState;
use rws::store::connect::{AnyPool, DatabaseUrl, connect};
use rws::store::lifecycle::{Announce, between, change_state, create, prune, since};
use rws::store::recordings::{NewRow, get};
use rws::store::webhooks as w;

const T0: &str = "2026-01-05T10:00:00.000000Z";
const T9: &str = "9999-01-01T00:00:00.000000Z";
const CHANNEL: &str = "screenrec_test_events";

fn urls() -> Vec<String> {
    vec!["http://a/hook".to_string(), "http://b/hook".to_string()]
}

fn announce<'a>(event: &'a str, urls: &'a [String], notify: bool) -> Announce<'a> {
    Announce {
        event_id: event,
        agent: "alice",
        postgres: notify,
        urls,
        body: event,
        notify: notify.then_some((CHANNEL, event)),
        now: T0,
    }
}

fn row(id: &str) -> NewRow<'_> {
    NewRow {
        id,
        username: "alice",
        dn: Some("1001"),
        session_id: None,
        interaction_id: "call-1",
        media: "screen",
        state: RecordingState::Requested,
        reason: None,
        now: T0,
        max_duration_s: 3600,
        upload_token_hash: "hash",
        at: T0,
    }
}

/// The events queued in the outbox, each once per URL.
async fn queued(pool: &AnyPool) -> Vec<String> {
    let mut ids: Vec<String> = w::due(pool, T9, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    ids.sort();
    ids
}

async fn break_outbox(pool: &AnyPool) {
    sqlx::query("ALTER TABLE webhook_outbox RENAME TO webhook_outbox_away")
        .execute(pool)
        .await
        .unwrap();
}

async fn mend_outbox(pool: &AnyPool) {
    sqlx::query("ALTER TABLE webhook_outbox_away RENAME TO webhook_outbox")
        .execute(pool)
        .await
        .unwrap();
}

async fn state(pool: &AnyPool, id: &str) -> Option<RecordingState> {
    get(pool, id).await.unwrap().map(|r| r.state)
}

/// The whole story; `notify` on PostgreSQL only.
async fn together(pool: &AnyPool, notify: bool) {
    let urls = urls();
    // A new recording and its event.
    let s1 = create(pool, &row("r1"), &announce("e1", &urls, notify))
        .await
        .unwrap();
    assert_eq!(state(pool, "r1").await, Some(RecordingState::Requested));
    assert_eq!(queued(pool).await, ["e1", "e1"]);

    // A change and its event.
    let s2 = change_state(
        pool,
        "r1",
        RecordingState::Requested,
        RecordingState::Recording,
        None,
        &announce("e2", &urls, notify),
    )
    .await
    .unwrap()
    .expect("changed");
    assert!(s2 > s1, "seqs grow: {s1} then {s2}");
    assert_eq!(state(pool, "r1").await, Some(RecordingState::Recording));
    assert_eq!(queued(pool).await, ["e1", "e1", "e2", "e2"]);

    // Compare and set lost: neither the state nor an event.
    assert_eq!(
        change_state(
            pool,
            "r1",
            RecordingState::Requested,
            RecordingState::Failed,
            Some("late"),
            &announce("e3", &urls, notify),
        )
        .await
        .unwrap(),
        None
    );
    assert_eq!(state(pool, "r1").await, Some(RecordingState::Recording));
    assert_eq!(queued(pool).await.len(), 4);

    // The outbox INSERT fails after the UPDATE (and the NOTIFY): all of it
    // is rolled back, the state stays.
    break_outbox(pool).await;
    change_state(
        pool,
        "r1",
        RecordingState::Recording,
        RecordingState::Finalizing,
        None,
        &announce("e4", &urls, notify),
    )
    .await
    .expect_err("the outbox is gone");
    assert_eq!(state(pool, "r1").await, Some(RecordingState::Recording));
    let rec = get(pool, "r1").await.unwrap().unwrap();
    assert_eq!(rec.stopped_at, None, "the stop time was not stamped");
    // Creating fails the same way: no recording without its event.
    create(pool, &row("r2"), &announce("e5", &urls, notify))
        .await
        .expect_err("the outbox is gone");
    assert_eq!(state(pool, "r2").await, None);
    mend_outbox(pool).await;
    assert_eq!(queued(pool).await.len(), 4, "nothing of e4/e5 was queued");

    // Without webhooks a change writes no outbox row (and still works).
    let s6 = change_state(
        pool,
        "r1",
        RecordingState::Recording,
        RecordingState::Finalizing,
        None,
        &announce("e6", &[], notify),
    )
    .await
    .unwrap()
    .expect("changed");
    assert_eq!(state(pool, "r1").await, Some(RecordingState::Finalizing));
    assert_eq!(queued(pool).await.len(), 4);

    // The event log holds exactly the committed events, in order; reads
    // are bounded ranges of seq.
    let logged = |rows: Vec<(i64, String, String)>| -> Vec<(i64, String)> {
        rows.into_iter().map(|(seq, _, body)| (seq, body)).collect()
    };
    let all = logged(since(pool, 0, 100).await.unwrap());
    assert_eq!(
        all,
        [(s1, "e1".to_string()), (s2, "e2".into()), (s6, "e6".into())]
    );
    assert_eq!(
        logged(since(pool, s1, 1).await.unwrap()),
        [(s2, "e2".to_string())]
    );
    assert!(since(pool, i64::MAX, 100).await.unwrap().is_empty());
    assert_eq!(
        logged(between(pool, s1, s6, 100).await.unwrap()),
        [(s2, "e2".to_string())]
    );
    // Pruned by age: everything was written at T0.
    assert_eq!(prune(pool, T0).await.unwrap(), 0);
    assert_eq!(prune(pool, T9).await.unwrap(), 3);
    assert!(since(pool, 0, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_change_and_its_event_commit_together_on_postgres() {
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    let pool = connect(&DatabaseUrl::parse(&url).unwrap()).await.unwrap();
    let mut listener = sqlx::postgres::PgListener::connect(&url).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();
    together(&pool, true).await;
    // NOTIFY is sent at commit, in commit order, as `<seq> <payload>`:
    // exactly the committed changes' events arrive (e3 lost its compare
    // and set, e4 and e5 rolled back), and nothing after them.
    let mut got = Vec::new();
    for _ in 0..3 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification within 10 s")
            .unwrap();
        let (seq, payload) = n.payload().split_once(' ').unwrap();
        seq.parse::<i64>().unwrap();
        got.push(payload.to_string());
    }
    assert_eq!(got, ["e1", "e2", "e6"]);
    // A marker sent now is the very next notification: no late e3/e4/e5.
    sqlx::query("SELECT pg_notify($1, 'marker')")
        .bind(CHANNEL)
        .execute(&pool)
        .await
        .unwrap();
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("the marker within 10 s")
        .unwrap();
    assert_eq!(n.payload(), "marker");
}

#[tokio::test]
async fn a_change_and_its_event_commit_together_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}/screenrec.db", dir.path().display())).unwrap();
    let pool = connect(&url).await.unwrap();
    together(&pool, false).await;
}
