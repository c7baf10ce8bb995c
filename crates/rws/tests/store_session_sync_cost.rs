//! A store-level micro-benchmark, not a timed test: what one pass of the
//! cluster's session re-read (`cluster::sync_sessions`, every 2 s on every
//! node: `store::sessions::all` + `store::cluster::held_sessions`) costs
//! on a real PostgreSQL with 10,000 sessions, half of them held by another
//! live node. It prints milliseconds per pass (read them with
//! `--nocapture`); it asserts only that every row came back, never a time
//! (the machine may be loaded). Figures: `docs/performance.md`.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use std::time::Instant;

use backends::PgServer;
use rws::store::connect::{DatabaseUrl, connect};
use rws::store::sessions::{SessionRow, insert_replacing};

const SESSIONS: usize = 10_000;
const PASSES: usize = 10;
const T0: &str = "2026-01-05T10:00:00.000000Z";
const LEASE: &str = "9999-01-01T00:00:00.000000Z";

#[tokio::test]
async fn one_session_re_read_pass_at_10000_sessions_on_postgres() {
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    let pool = connect(&DatabaseUrl::parse(&url).unwrap()).await.unwrap();
    rws::store::cluster::renew_node(&pool, "node-b", LEASE, T0)
        .await
        .unwrap();
    // Filled in two statements (PostgreSQL's generate_series; this test
    // is PostgreSQL-only): 10,000 single inserts take ~20 s on a loaded CI.
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO srs_sessions(id, username, place, devices, token_hash, standby, srs_version, hostname, opened_at, next_seq)
         SELECT 'session-' || lpad(i::text, 5, '0'), 'agent' || i, 'Place_' || i,
                '[{\"dn\":\"' || i || '\",\"switch\":\"SIP_Switch\"}]', md5(i::text) || md5(i::text),
                0, '0.1.0', 'pc-' || i, $1, 1
         FROM generate_series(0, $2 - 1) AS i",
    )
    .bind(T0)
    .bind(SESSIONS as i64)
    .execute(&pool)
    .await
    .unwrap();
    // Half of them held by the other node.
    sqlx::query(
        "INSERT INTO srs_session_owners(session_id, node, since)
         SELECT 'session-' || lpad(i::text, 5, '0'), 'node-b', $1
         FROM generate_series(0, $2 - 1, 2) AS i",
    )
    .bind(T0)
    .bind(SESSIONS as i64)
    .execute(&pool)
    .await
    .unwrap();
    println!(
        "filled {SESSIONS} sessions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // One row as the store writes it, so the decode path sees real values.
    insert_replacing(
        &pool,
        &SessionRow {
            id: "session-extra".into(),
            username: "agent-extra".into(),
            place: "Place_extra".into(),
            devices: r#"[{"dn":"9999","switch":"SIP_Switch"}]"#.into(),
            token_hash: format!("{:064x}", 1),
            standby: false,
            srs_version: "0.1.0".into(),
            hostname: None,
            opened_at: T0.into(),
            next_seq: 1,
        },
        &["session-00001".to_string()],
    )
    .await
    .unwrap();
    let mut ms = Vec::new();
    for _ in 0..PASSES {
        let t = Instant::now();
        let rows = rws::store::sessions::all(&pool).await.unwrap();
        let held = rws::store::cluster::held_sessions(&pool, T0).await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(rows.len(), SESSIONS);
        assert_eq!(held.len(), SESSIONS / 2);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "session re-read pass at {SESSIONS} sessions on PostgreSQL: min {:.1} ms, median {:.1} ms, max {:.1} ms ({PASSES} passes; every 2 s per node)",
        ms[0],
        ms[PASSES / 2],
        ms[PASSES - 1]
    );
}
