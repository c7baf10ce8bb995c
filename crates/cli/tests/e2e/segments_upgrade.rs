//! A database from before segments were rows: RWS moves the old
//! `media_files.segment_index` JSON lines into the `segments` table at its
//! first start (the GIR resource then reads the rows), and an old value that
//! does not parse stops RWS with the media file and the reason, instead of
//! a recording that silently plays as empty.
//!
//! The old value is written straight into the real database file of a real
//! RWS (stopped), as an RWS of before the upgrade left it.

use std::path::Path;
use std::time::Duration;

use crate::fixture::{Rws, get_as};
use crate::util::{Proc, free_port, tempdir, wait_for};

/// Runs `f` on the RWS database file `db` (RWS stopped).
fn with_db<T>(db: &Path, f: impl AsyncFnOnce(&sqlx::SqlitePool) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let out = f(&pool).await;
        pool.close().await;
        out
    })
}

const MEDIA: &str = "0b5c3a7e-7d1f-4c55-9c1e-5d0c2f6a9a01";

/// One JSON line of the old column.
fn line(co: u64, cl: u64, po: u64, pl: u64, end: u64) -> String {
    format!(
        "{{\"cipher_offset\":{co},\"cipher_len\":{cl},\"plain_offset\":{po},\"plain_len\":{pl},\"end_ms\":{end}}}\n"
    )
}

#[test]
fn an_old_segment_index_is_moved_into_rows_and_a_corrupt_one_stops_rws_with_a_reason() {
    let dir = tempdir();
    // SQLite on every SCREENREC_TEST_BACKEND, by design: the old column's
    // JSON lines exist only in SQLite databases (no PostgreSQL database
    // predates segment rows), and the test writes into the file itself.
    let db = dir.path().join("rws").join("screenrec.db");
    let url = format!("sqlite://{}", db.display());
    let mut rws = Rws::start_with(dir.path(), "rws", &["--database", &url]);
    rws.kill();
    // A completed recording whose media file has the old column: two
    // segments (80 + 30 plaintext bytes) and a torn last line.
    let old = format!(
        "{}{}{{\"cipher_offset\":1",
        line(0, 200, 0, 80, 0),
        line(200, 100, 80, 30, 4000)
    );
    with_db(&db, async |pool| {
        sqlx::query(
            "INSERT INTO recordings(id, username, interaction_id, media, state, requested_at, max_duration_s, upload_token_hash, last_activity, updated_at)
             VALUES ('rec-old', 'agent1', 'call-old', 'voice', 'completed', '2026-01-05T10:00:00.000Z', 3600, 'h', '2026-01-05T10:00:00.000Z', '2026-01-05T10:00:00.000Z')",
        )
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO media_files(id, recording_id, stream, monitor, started_at, upload_offset, upload_length, end_ms, segment_index, object_path)
             VALUES ($1, 'rec-old', 0, '{}', '2026-01-05T10:00:00.000Z', 300, 300, 4000, $2, 'recordings/rec-old/m.mp4.age')",
        )
        .bind(MEDIA)
        .bind(&old)
        .execute(pool)
        .await
        .unwrap();
    });

    rws.start_again("rws");
    let r = get_as(&rws, ("admin", "adminpw"), "/api/v2/recordings/call-old");
    assert_eq!(r.status, 200, "{}", r.text);
    let media = &r.json()["mediaFiles"][0];
    assert_eq!(media["mediaId"], MEDIA, "{media}");
    assert_eq!(
        media["size"], "110",
        "the size comes from the rows: {media}"
    );
    rws.kill();
    let (column, rows): (String, Vec<(i64, i64, i64)>) = with_db(&db, async |pool| {
        let column = sqlx::query_scalar("SELECT segment_index FROM media_files WHERE id = $1")
            .bind(MEDIA)
            .fetch_one(pool)
            .await
            .unwrap();
        let rows = sqlx::query_as(
            "SELECT seq, cipher_offset, plain_len FROM segments WHERE media_id = $1 ORDER BY seq",
        )
        .bind(MEDIA)
        .fetch_all(pool)
        .await
        .unwrap();
        (column, rows)
    });
    assert_eq!(column, "", "the old column is emptied");
    assert_eq!(rows, vec![(0, 0, 80), (1, 200, 30)]);

    // An old value that does not parse (line 2 of 3): RWS does not start,
    // and says which media file and why.
    with_db(&db, async |pool| {
        sqlx::query("UPDATE media_files SET segment_index = $1 WHERE id = $2")
            .bind(format!(
                "{}not an index entry\n{}",
                line(0, 200, 0, 80, 0),
                line(200, 100, 80, 30, 4000)
            ))
            .bind(MEDIA)
            .execute(pool)
            .await
            .unwrap();
    });
    let data_dir = dir.path().join("rws");
    let directory = dir.path().join("directory.toml");
    let mut p = Proc::screenrec(
        "rws-corrupt",
        dir.path(),
        &[
            "rws",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
            &data_dir.to_string_lossy(),
            "--directory",
            &directory.to_string_lossy(),
        ],
        &[],
    );
    let status = wait_for(
        "RWS to refuse the corrupt index",
        Duration::from_secs(20),
        || p.exited(),
    );
    assert!(!status.success(), "RWS started on a corrupt segment index");
    let out = p.output();
    assert!(
        out.contains(&format!("media file {MEDIA}"))
            && out.contains("corrupt")
            && out.contains("line 2"),
        "{out}"
    );
}
