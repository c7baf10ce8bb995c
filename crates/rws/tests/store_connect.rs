//! `store::connect` against real servers: a PostgreSQL cluster started by
//! the test (initdb + pg_ctl) and SQLite files. Both get their migrations
//! and the same portable statements (the dialect of `store/mod.rs`); the
//! two schemas are compared column by column; a PostgreSQL restart under a
//! live pool is survived.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

#[path = "../../cli/tests/e2e/backends.rs"]
mod backends;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use backends::PgServer;
use rws::store::connect::{AnyPool, Backend, DatabaseUrl, connect};
use sqlx::Row;

fn fresh_postgres() -> DatabaseUrl {
    let pg = PgServer::shared();
    DatabaseUrl::parse(&pg.url(&pg.create_database())).unwrap()
}

fn sqlite_in(dir: &std::path::Path) -> DatabaseUrl {
    DatabaseUrl::parse(&format!("sqlite://{}/sub/screenrec.db", dir.display())).unwrap()
}

async fn one_i64(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get(0)
        .unwrap()
}

/// The same statements on either backend, as RWS's store writes them.
async fn round_trip(pool: &AnyPool) {
    // A BYTEA/BLOB and a 0/1 flag, with `$N` placeholders.
    let blob: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    sqlx::query(
        "INSERT INTO tenant_keys (id, recipient, encrypted_identity, nonce, created_at, active) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind("k1")
    .bind("age1example")
    .bind(&blob)
    .bind(vec![7u8; 12])
    .bind("2026-01-05T10:00:00.000Z")
    .bind(i64::from(true))
    .execute(pool)
    .await
    .unwrap();
    let row =
        sqlx::query("SELECT encrypted_identity, nonce, active FROM tenant_keys WHERE id = $1")
            .bind("k1")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(row.try_get::<Vec<u8>, _>(0).unwrap(), blob);
    assert_eq!(row.try_get::<Vec<u8>, _>(1).unwrap(), vec![7u8; 12]);
    assert_eq!(row.try_get::<i64, _>(2).unwrap(), 1);

    // ON CONFLICT … DO UPDATE with `excluded`, and DO NOTHING.
    let upsert = "INSERT INTO tenant_keys (id, recipient, encrypted_identity, nonce, created_at, active) \
                  VALUES ($1, $2, $3, $4, $5, $6) \
                  ON CONFLICT (id) DO UPDATE SET active = excluded.active";
    sqlx::query(upsert)
        .bind("k1")
        .bind("age1example")
        .bind(&blob)
        .bind(vec![7u8; 12])
        .bind("2026-01-05T10:00:00.000Z")
        .bind(i64::from(false))
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(
        one_i64(pool, "SELECT active FROM tenant_keys WHERE id = 'k1'").await,
        0
    );
    let event = |id: &'static str| {
        sqlx::query(
            "INSERT INTO events (id, type, call_id, ts, body, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind("call.established")
        .bind("Call-ABC")
        .bind("2026-01-05T10:00:00.000Z")
        .bind("{}")
        .bind("2026-01-05T10:00:00.001Z")
    };
    assert_eq!(event("e1").execute(pool).await.unwrap().rows_affected(), 1);
    assert_eq!(event("e1").execute(pool).await.unwrap().rows_affected(), 0);

    // A case-insensitive match, the portable way.
    let n = sqlx::query("SELECT COUNT(*) FROM events WHERE LOWER(call_id) LIKE LOWER($1)")
        .bind("call-a%")
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap();
    assert_eq!(n, 1);

    // A recording with two media files; SUM cast to BIGINT; NULLs.
    sqlx::query(
        "INSERT INTO recordings (id, username, interaction_id, media, state, requested_at, \
         max_duration_s, upload_token_hash, last_activity, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind("r1")
    .bind("agent1")
    .bind("Call-ABC")
    .bind("voice")
    .bind("recording")
    .bind("2026-01-05T10:00:00.000Z")
    .bind(14_400i64)
    .bind("hash")
    .bind("2026-01-05T10:00:00.000Z")
    .bind("2026-01-05T10:00:00.000Z")
    .execute(pool)
    .await
    .unwrap();
    for (stream, offset) in [(0i64, 5_000_000_000i64), (1, 7)] {
        sqlx::query(
            "INSERT INTO media_files (id, recording_id, stream, monitor, started_at, upload_offset) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(format!("m{stream}"))
        .bind("r1")
        .bind(stream)
        .bind("{}")
        .bind("2026-01-05T10:00:00.000Z")
        .bind(offset)
        .execute(pool)
        .await
        .unwrap();
    }
    let row = sqlx::query(
        "SELECT CAST(SUM(upload_offset) AS BIGINT), COUNT(*), MAX(upload_length) \
         FROM media_files WHERE recording_id = $1",
    )
    .bind("r1")
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(row.try_get::<i64, _>(0).unwrap(), 5_000_000_007);
    assert_eq!(row.try_get::<i64, _>(1).unwrap(), 2);
    assert_eq!(row.try_get::<Option<i64>, _>(2).unwrap(), None);

    // RETURNING an identity, which only grows.
    let audit = || {
        sqlx::query(
            "INSERT INTO audit (at, username, action, target) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind("2026-01-05T10:00:00.000Z")
        .bind("sup")
        .bind("playback")
        .bind("r1")
    };
    let a: i64 = audit().fetch_one(pool).await.unwrap().try_get(0).unwrap();
    let b: i64 = audit().fetch_one(pool).await.unwrap().try_get(0).unwrap();
    assert!(b > a, "{a} then {b}");

    // Foreign keys are enforced, and cascade.
    let orphan = sqlx::query(
        "INSERT INTO media_files (id, recording_id, stream, monitor, started_at) \
         VALUES ('m9', 'no-such-recording', 0, '{}', '2026-01-05T10:00:00.000Z')",
    )
    .execute(pool)
    .await;
    assert!(
        orphan.is_err(),
        "a media file without its recording was accepted"
    );
    sqlx::query("DELETE FROM recordings WHERE id = $1")
        .bind("r1")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(one_i64(pool, "SELECT COUNT(*) FROM media_files").await, 0);

    // A transaction that rolls back leaves nothing.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind("k")
        .bind("v")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(one_i64(pool, "SELECT COUNT(*) FROM settings").await, 0);
}

/// `{table: {column: not_null}}` of a migrated database. PostgreSQL's
/// explicit `rowid` of `events` and `devices` is left out: it is SQLite's
/// implicit one (which `pragma_table_info` does not list).
async fn schema(pool: &AnyPool, backend: Backend) -> BTreeMap<String, BTreeMap<String, bool>> {
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    let rows = match backend {
        Backend::Postgres => {
            sqlx::query(
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), \
                 CAST(CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS BIGINT) \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name <> '_sqlx_migrations' \
                 AND NOT (column_name = 'rowid' AND table_name IN ('events', 'devices'))",
            )
            .fetch_all(pool)
            .await
        }
        Backend::Sqlite => {
            sqlx::query(
                "SELECT m.name, p.name, p.\"notnull\" OR p.pk > 0 FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT IN ('_sqlx_migrations', 'sqlite_sequence')",
            )
            .fetch_all(pool)
            .await
        }
    }
    .unwrap();
    for row in rows {
        let table: String = row.try_get(0).unwrap();
        let column: String = row.try_get(1).unwrap();
        let not_null: i64 = row.try_get(2).unwrap();
        out.entry(table).or_default().insert(column, not_null != 0);
    }
    out
}

#[tokio::test]
async fn postgres_connects_migrates_and_runs_the_portable_dialect() {
    let url = fresh_postgres();
    assert_eq!(url.backend(), Backend::Postgres);
    let pool = connect(&url).await.unwrap();
    let applied = one_i64(&pool, "SELECT COUNT(*) FROM _sqlx_migrations WHERE success").await;
    assert_eq!(
        applied as usize,
        Backend::Postgres.migrator().iter().count()
    );
    round_trip(&pool).await;

    // Segments as rows: the 0009 shape, ordered by seq, gone with their media.
    sqlx::query(
        "INSERT INTO recordings (id, username, interaction_id, media, state, requested_at, \
         max_duration_s, upload_token_hash, last_activity, updated_at) \
         VALUES ('r2', 'a', 'c', 'voice', 'recording', 't', 1, 'h', 't', 't')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO media_files (id, recording_id, stream, monitor, started_at) \
         VALUES ('m2', 'r2', 0, '{}', 't')",
    )
    .execute(&pool)
    .await
    .unwrap();
    for seq in [1i64, 0, 2] {
        sqlx::query(
            "INSERT INTO segments (media_id, seq, cipher_offset, cipher_len, plain_offset, plain_len, end_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind("m2")
        .bind(seq)
        .bind(seq * 1000)
        .bind(1000i64)
        .bind(seq * 900)
        .bind(900i64)
        .bind((seq + 1) * 1000)
        .execute(&pool)
        .await
        .unwrap();
    }
    let dup = sqlx::query(
        "INSERT INTO segments (media_id, seq, cipher_offset, cipher_len, plain_offset, plain_len, end_ms) \
         VALUES ('m2', 1, 0, 0, 0, 0, 0)",
    )
    .execute(&pool)
    .await;
    assert!(dup.is_err(), "(media_id, seq) is the primary key");
    let ends: Vec<i64> =
        sqlx::query("SELECT end_ms FROM segments WHERE media_id = $1 ORDER BY seq")
            .bind("m2")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get(0).unwrap())
            .collect();
    assert_eq!(ends, [1000, 2000, 3000]);
    assert_eq!(
        one_i64(&pool, "SELECT CAST(SUM(plain_len) AS BIGINT) FROM segments").await,
        2700
    );
    sqlx::query("DELETE FROM media_files WHERE id = 'm2'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(one_i64(&pool, "SELECT COUNT(*) FROM segments").await, 0);

    // A second connect (the next start) finds the migrations applied.
    pool.close().await;
    let again = connect(&url).await.unwrap();
    assert_eq!(
        one_i64(&again, "SELECT COUNT(*) FROM _sqlx_migrations").await as usize,
        Backend::Postgres.migrator().iter().count()
    );
}

#[tokio::test]
async fn sqlite_connects_with_its_options_and_runs_the_portable_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_in(dir.path());
    let pool = connect(&url).await.unwrap();
    round_trip(&pool).await;

    // Options: WAL, foreign keys (the cascade above), a busy timeout.
    let row = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>(0).unwrap(), "wal");
    assert_eq!(one_i64(&pool, "PRAGMA foreign_keys").await, 1);
    assert_eq!(one_i64(&pool, "PRAGMA busy_timeout").await, 5000);

    // Private files: the folder 0700, the database and its WAL 0600.
    let sub = dir.path().join("sub");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sub), 0o700);
    for f in ["screenrec.db", "screenrec.db-wal"] {
        assert_eq!(mode(&sub.join(f)), 0o600, "{f}");
    }
}

#[tokio::test]
async fn a_database_made_by_open_db_opens_through_connect() {
    let dir = tempfile::tempdir().unwrap();
    let old = rws::open_db(dir.path()).await.unwrap();
    sqlx::query("INSERT INTO settings (key, value) VALUES ('kept', 'yes')")
        .execute(&old)
        .await
        .unwrap();
    old.close().await;
    let url = DatabaseUrl::default_for(dir.path());
    let pool = connect(&url).await.unwrap();
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind("kept")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>(0).unwrap(), "yes");
}

#[tokio::test]
async fn both_schemas_have_the_same_tables_columns_and_not_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = schema(
        &connect(&sqlite_in(dir.path())).await.unwrap(),
        Backend::Sqlite,
    )
    .await;
    let postgres = schema(
        &connect(&fresh_postgres()).await.unwrap(),
        Backend::Postgres,
    )
    .await;
    assert!(sqlite.len() >= 18, "{:?}", sqlite.keys());
    for (table, columns) in &sqlite {
        assert_eq!(postgres.get(table), Some(columns), "table {table}");
    }
    assert!(postgres.contains_key("segments"));
}

#[tokio::test]
async fn the_pool_reconnects_after_a_postgres_restart() {
    // A server of its own: the shared one must not go down under other tests.
    let pg = PgServer::start();
    let db = pg.create_database();
    let url = DatabaseUrl::parse(&pg.url(&db)).unwrap();
    let pool = connect(&url).await.unwrap();
    let before = one_i64(&pool, "SELECT CAST(pg_backend_pid() AS BIGINT)").await;
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind("before")
        .bind("restart")
        .execute(&pool)
        .await
        .unwrap();

    pg.stop();
    pg.start_again();

    // The pool's idle connection died with the server: the next statement
    // gets a new one instead of an error.
    let after = one_i64(&pool, "SELECT CAST(pg_backend_pid() AS BIGINT)").await;
    assert_ne!(before, after, "same server process after a restart?");
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
        .bind("after")
        .bind("restart")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        one_i64(
            &pool,
            "SELECT COUNT(*) FROM settings WHERE value = 'restart'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_wrong_password_is_an_error_without_the_password() {
    let pg = PgServer::shared();
    let raw = pg
        .url(&pg.create_database())
        .replace(backends::PG_PASSWORD, "not-the-Password-91");
    let err = connect(&DatabaseUrl::parse(&raw).unwrap())
        .await
        .expect_err("a wrong password connects")
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-Password-91"), "{err}");
    assert!(err.contains("***"), "{err}");
}

#[tokio::test]
async fn sslmode_require_connects_over_tls() {
    let pg = PgServer::start_tls();
    let db = pg.create_database();
    let ssl_in_use = "SELECT CAST(CASE WHEN ssl THEN 1 ELSE 0 END AS BIGINT) \
                      FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let tls = connect(&DatabaseUrl::parse(&format!("{}?sslmode=require", pg.url(&db))).unwrap())
        .await
        .unwrap();
    assert_eq!(one_i64(&tls, ssl_in_use).await, 1);
    let plain = connect(&DatabaseUrl::parse(&format!("{}?sslmode=disable", pg.url(&db))).unwrap())
        .await
        .unwrap();
    assert_eq!(one_i64(&plain, ssl_in_use).await, 0, "the check can tell");
    // A certificate no CA vouches for is refused when it is verified.
    let err =
        connect(&DatabaseUrl::parse(&format!("{}?sslmode=verify-full", pg.url(&db))).unwrap())
            .await
            .expect_err("an unknown certificate was accepted")
            .to_string();
    assert!(!err.contains(backends::PG_PASSWORD), "{err}");
}
