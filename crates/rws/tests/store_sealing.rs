//! `store::evidence` as the sealing sweep uses it, on both backends (a real
//! PostgreSQL started by the test, and SQLite): `unsealed` lists exactly
//! the final recordings without a manifest, in id pages; many writers
//! racing to store one recording's manifest write it once, and the one
//! stored is one of theirs, whole.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use backends::PgServer;
use rws::recording::RecordingState;
use rws::store::connect::{AnyPool, DatabaseUrl, connect};
use rws::store::evidence::{StoredManifest, insert_manifest, manifest, unsealed};
use rws::store::recordings::{NewRow, insert};

const T0: &str = "2026-01-05T10:00:00.000000Z";

async fn recording(pool: &AnyPool, id: &str, state: RecordingState) {
    insert(
        pool,
        &NewRow {
            id,
            username: "alice",
            dn: None,
            session_id: None,
            interaction_id: "call-1",
            media: "screen",
            state,
            reason: None,
            now: T0,
            max_duration_s: 3600,
            upload_token_hash: id,
            at: T0,
        },
    )
    .await
    .unwrap();
}

fn signed(id: &str, by: usize) -> StoredManifest {
    StoredManifest {
        recording_id: id.into(),
        manifest: format!("manifest by {by}"),
        signature: format!("signature by {by}"),
        key_id: "k".into(),
        events: "[]".into(),
        created_at: T0.into(),
    }
}

async fn sweep_reads(pool: &AnyPool) {
    recording(pool, "r1", RecordingState::Completed).await;
    recording(pool, "r2", RecordingState::Recording).await;
    recording(pool, "r3", RecordingState::Partial).await;
    recording(pool, "r4", RecordingState::Failed).await;
    recording(pool, "r5", RecordingState::Completed).await;
    recording(pool, "r6", RecordingState::Requested).await;
    assert!(insert_manifest(pool, &signed("r5", 0)).await.unwrap());
    // Final and unsealed only; r2/r6 are not final, r5 is sealed.
    assert_eq!(unsealed(pool, "", 100).await.unwrap(), ["r1", "r3", "r4"]);
    // Pages by id.
    assert_eq!(unsealed(pool, "", 2).await.unwrap(), ["r1", "r3"]);
    assert_eq!(unsealed(pool, "r3", 2).await.unwrap(), ["r4"]);
    assert!(unsealed(pool, "r4", 2).await.unwrap().is_empty());

    // Eight writers race on r1: one row, one writer's whole manifest.
    let racers = (0..8).map(|by| {
        let pool = pool.clone();
        tokio::spawn(async move { insert_manifest(&pool, &signed("r1", by)).await.unwrap() })
    });
    let won: Vec<bool> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let by = won.iter().position(|w| *w).unwrap();
    assert_eq!(manifest(pool, "r1").await.unwrap(), Some(signed("r1", by)));
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM evidence_manifests WHERE recording_id = 'r1'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(unsealed(pool, "", 100).await.unwrap(), ["r3", "r4"]);
}

#[tokio::test]
async fn the_sealing_sweeps_reads_on_postgres() {
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    let pool = connect(&DatabaseUrl::parse(&url).unwrap()).await.unwrap();
    sweep_reads(&pool).await;
}

#[tokio::test]
async fn the_sealing_sweeps_reads_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}/screenrec.db", dir.path().display())).unwrap();
    let pool = connect(&url).await.unwrap();
    sweep_reads(&pool).await;
}
