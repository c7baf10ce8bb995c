//! `store::previews` (on-demand live previews as shared rows) on both
//! backends, a real PostgreSQL (started by the test) and SQLite: one
//! preview per agent however many nodes race to make it; the viewer cap
//! counts every viewer row; a segment is stored only when the rule admits
//! it (a refusal changes nothing) and not once the preview is over; the
//! last viewer's leave removes every row and names the session to tell;
//! the viewers of a node whose lease ran out are dropped and the sweep's
//! candidates are the unwatched and the capped previews.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use backends::PgServer;
use rws::store::connect::{AnyPool, DatabaseUrl, connect};
use rws::store::previews::{self as p, Join, PreviewRow, Put};

const T0: &str = "2026-01-05T10:00:00.000Z";
const T1: &str = "2026-01-05T10:00:01.000Z";
const T2: &str = "2026-01-05T10:00:02.000Z";
const T9: &str = "2026-01-05T10:00:09.000Z";
const END: &str = "2026-01-05T10:10:00.000Z";

fn row(id: &str, agent: &str, started: &str) -> PreviewRow {
    PreviewRow {
        id: id.into(),
        agent: agent.into(),
        session_id: format!("session-{agent}"),
        token_hash: "h".into(),
        started_at: started.into(),
        ends_at: END.into(),
    }
}

async fn rows_of(pool: &AnyPool, id: &str) -> i64 {
    let mut n = 0;
    for sql in [
        "SELECT COUNT(*) FROM live_previews WHERE id = $1",
        "SELECT COUNT(*) FROM live_preview_viewers WHERE preview_id = $1",
        "SELECT COUNT(*) FROM live_preview_segments WHERE preview_id = $1",
    ] {
        let c: i64 = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        n += c;
    }
    n
}

async fn previews(pool: &AnyPool) {
    // Eight nodes make agent1's preview at once: one wins.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                p::create(
                    &pool,
                    &row(&format!("p{i}"), "agent1", T0),
                    &format!("v{i}"),
                    "n1",
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if t.await.unwrap() {
            won.push(format!("p{i}"));
        }
    }
    assert_eq!(won.len(), 1, "one preview per agent: {won:?}");
    let id = won.remove(0);
    assert_eq!(p::count(pool).await.unwrap(), 1);

    // The viewer cap counts every row (here: the maker and one more).
    match p::join(pool, "agent1", "w1", "n2", 2, T1).await.unwrap() {
        Join::Joined(r) => assert_eq!(r.id, id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p::join(pool, "agent1", "w2", "n2", 2, T1).await.unwrap(),
        Join::Full
    ));
    assert!(matches!(
        p::join(pool, "agent2", "w3", "n2", 8, T1).await.unwrap(),
        Join::NoPreview
    ));

    // Segments: stored when admitted; a refusal (or an over preview)
    // changes nothing.
    let put = |stream: i64, seq: i64, refuse: bool, now: &'static str| {
        let id = id.clone();
        async move {
            p::put(pool, &id, stream, seq, b"age-bytes", now, |held| {
                if refuse {
                    Err(format!("refused with {} held", held.len()))
                } else {
                    Ok(held
                        .iter()
                        .filter(|h| h.1 > 0)
                        .map(|h| (h.0, h.1))
                        .collect())
                }
            })
            .await
            .unwrap()
        }
    };
    assert!(matches!(put(0, 0, false, T1).await, Put::Stored));
    assert!(matches!(put(0, 1, false, T1).await, Put::Stored));
    assert!(matches!(put(0, 2, true, T1).await, Put::Refused(_)));
    assert!(matches!(put(0, 3, false, T2).await, Put::Stored));
    let held: Vec<(i64, i64)> = p::held(pool, &id)
        .await
        .unwrap()
        .iter()
        .map(|h| (h.0, h.1))
        .collect();
    assert_eq!(
        held,
        [(0, 0), (0, 3)],
        "the rule's evictions applied, the refusal not"
    );
    let segs = p::segments_after(pool, &id, 0, -1).await.unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1].1, b"age-bytes");
    assert!(matches!(put(0, 4, false, END).await, Put::Over));
    assert!(matches!(
        p::put(
            pool,
            "nope",
            0,
            0,
            b"x",
            T1,
            |_| Ok::<_, String>(Vec::new())
        )
        .await
        .unwrap(),
        Put::Gone
    ));

    // Leaving: not the last, nothing ends; the last, every row goes.
    assert_eq!(p::leave(pool, &id, "w1", T2).await.unwrap(), None);
    let maker = format!("v{}", id.trim_start_matches('p'));
    assert_eq!(
        p::leave(pool, &id, &maker, T2).await.unwrap().as_deref(),
        Some("session-agent1")
    );
    assert_eq!(rows_of(pool, &id).await, 0);
    assert!(p::by_id(pool, &id).await.unwrap().is_none());
    assert_eq!(
        p::leave(pool, &id, &maker, T2).await.unwrap(),
        None,
        "twice"
    );

    // A dead node's viewers: dropped; its preview is then a candidate.
    rws::store::cluster::renew_node(pool, "alive", T9, T0)
        .await
        .unwrap();
    rws::store::cluster::renew_node(pool, "dead", T1, T0)
        .await
        .unwrap();
    assert!(
        p::create(pool, &row("q1", "agent2", T0), "x1", "alive")
            .await
            .unwrap()
    );
    assert!(
        p::create(pool, &row("q2", "agent3", T1), "x2", "dead")
            .await
            .unwrap()
    );
    assert_eq!(p::rank(pool, "q1").await.unwrap(), 0);
    assert_eq!(p::rank(pool, "q2").await.unwrap(), 1);
    assert_eq!(p::drop_dead_viewers(pool, T2).await.unwrap(), 1);
    assert_eq!(p::over(pool, T2).await.unwrap(), ["q2"]);
    assert_eq!(
        p::end_if_over(pool, "q2", T2).await.unwrap().as_deref(),
        Some("session-agent3")
    );
    assert_eq!(rows_of(pool, "q2").await, 0);
    // Past its cap: a candidate, and ended, whatever its viewers.
    assert_eq!(
        p::end_if_over(pool, "q1", T2).await.unwrap(),
        None,
        "watched, not over"
    );
    assert_eq!(p::over(pool, END).await.unwrap(), ["q1"]);
    assert!(p::end_if_over(pool, "q1", END).await.unwrap().is_some());
    assert_eq!(p::count(pool).await.unwrap(), 0);
    p::clear(pool).await.unwrap();
}

#[tokio::test]
async fn previews_on_postgres() {
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    let pool = connect(&DatabaseUrl::parse(&url).unwrap()).await.unwrap();
    previews(&pool).await;
}

#[tokio::test]
async fn previews_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}/screenrec.db", dir.path().display())).unwrap();
    let pool = connect(&url).await.unwrap();
    previews(&pool).await;
}
