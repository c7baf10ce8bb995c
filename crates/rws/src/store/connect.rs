//! Connecting to the database named by `--database`: SQLite (the embedded
//! default, `sqlite://<data-dir>/screenrec.db`) or PostgreSQL
//! (`postgres://user:pass@host:port/db`), both through `sqlx::any`, with the
//! migrations of that backend applied.
//!
//! SQLite keeps the options RWS has always used: the file is created when
//! missing, WAL journal, foreign keys on, a busy timeout, and the database
//! files (and their folder) private to the service user. PostgreSQL gets
//! its own migrations (`migrations-postgres/`): the same tables, columns and
//! constraints as SQLite's, in PostgreSQL's types (BIGINT, BYTEA, identity
//! columns), numbered like SQLite's so one version means one schema.
//!
//! The password of a PostgreSQL URL is never shown: [`DatabaseUrl`]'s
//! `Display` and `Debug` redact it, and so does every [`ConnectError`].

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};

/// The pool [`connect`] returns: either backend behind one type.
pub type AnyPool = sqlx::AnyPool;

/// How long SQLite waits for a lock held by another connection.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of a SQLite pool (one writer at a time anyway).
const SQLITE_CONNECTIONS: u32 = 4;

/// Connections of a PostgreSQL pool.
const POSTGRES_CONNECTIONS: u32 = 16;

/// How long a statement waits for a free (or new) connection: also how long
/// RWS keeps trying while PostgreSQL restarts.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations-postgres");

/// The two database engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file on this node.
    Sqlite,
    /// PostgreSQL, a server.
    Postgres,
}

impl Backend {
    /// The migrations of this backend.
    pub fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// A validated `--database` value.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (absolute path).
    Sqlite(PathBuf),
    /// A PostgreSQL URL as given (it may hold a password: never print it,
    /// print the `DatabaseUrl`, which redacts).
    Postgres(String),
}

/// Why a `--database` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseUrlError {
    /// Neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error(
        "'{0}' is not a database URL RWS knows: use sqlite:///path/screenrec.db or postgres://user:password@host:port/database"
    )]
    Scheme(String),
    /// A SQLite URL without a file.
    #[error("'{0}' names no file: use sqlite:///path/screenrec.db")]
    NoFile(String),
    /// A SQLite URL with `?options` (RWS sets SQLite's options itself).
    #[error("'{0}': SQLite URLs take no ?options here (RWS sets them)")]
    SqliteOptions(String),
    /// A PostgreSQL URL that does not parse.
    #[error("'{url}' is not a valid PostgreSQL URL: {why}")]
    Postgres {
        /// The URL, redacted.
        url: String,
        /// Why (redacted).
        why: String,
    },
}

impl DatabaseUrl {
    /// The default: `<data_dir>/screenrec.db`.
    pub fn default_for(data_dir: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(absolute(&data_dir.join("screenrec.db")))
    }

    /// Parses and checks a `--database` value (without connecting).
    pub fn parse(raw: &str) -> Result<DatabaseUrl, DatabaseUrlError> {
        let lower = raw.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let redacted = redact(raw);
            // sqlx's own parser, so what passes here is what `connect` accepts.
            sqlx::postgres::PgConnectOptions::from_str(raw).map_err(|e| {
                DatabaseUrlError::Postgres {
                    url: redacted.clone(),
                    why: scrub(&e.to_string(), raw),
                }
            })?;
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        if !(lower.starts_with("sqlite:")) {
            return Err(DatabaseUrlError::Scheme(redact(raw)));
        }
        if raw.contains('?') {
            return Err(DatabaseUrlError::SqliteOptions(raw.to_string()));
        }
        // sqlx's parser: `sqlite://` or `sqlite:`, then a %-encoded path.
        let options = SqliteConnectOptions::from_str(raw)
            .map_err(|_| DatabaseUrlError::NoFile(raw.to_string()))?;
        let path = options.get_filename();
        let text = path.to_string_lossy();
        if text.is_empty() || text.starts_with("file:sqlx-in-memory") || text.ends_with('/') {
            return Err(DatabaseUrlError::NoFile(raw.to_string()));
        }
        Ok(DatabaseUrl::Sqlite(absolute(path)))
    }

    /// Which engine.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Why [`connect`] failed; its text never holds a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The folder of a SQLite file cannot be made or made private.
    #[error("database {url}: {why}")]
    Files {
        /// The database (redacted).
        url: String,
        /// Why.
        why: String,
    },
    /// Connecting or migrating failed.
    #[error("database {url}: {why}")]
    Database {
        /// The database (redacted).
        url: String,
        /// Why (redacted).
        why: String,
    },
}

/// Connects to `url` and applies its backend's migrations.
pub async fn connect(url: &DatabaseUrl) -> Result<AnyPool, ConnectError> {
    sqlx::any::install_default_drivers();
    let (raw, pool) = match url {
        DatabaseUrl::Sqlite(path) => (String::new(), connect_sqlite(url, path).await?),
        DatabaseUrl::Postgres(raw) => (raw.clone(), connect_postgres(url, raw).await?),
    };
    url.backend()
        .migrator()
        .run(&pool)
        .await
        .map_err(|e| database_error(url, &raw, &e.to_string()))?;
    if let DatabaseUrl::Sqlite(path) = url {
        // SQLite made the -wal/-shm files (and the file itself) with the umask's mode.
        private_sqlite_files(url, path)?;
    }
    Ok(pool)
}

/// The native options of a SQLite file, as RWS has always opened it.
pub fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
}

async fn connect_sqlite(url: &DatabaseUrl, path: &Path) -> Result<AnyPool, ConnectError> {
    let files_error = |why: String| ConnectError::Files {
        url: url.to_string(),
        why,
    };
    let dir = path
        .parent()
        .ok_or_else(|| files_error("no folder".to_string()))?;
    private_dir(dir).map_err(|e| files_error(format!("{}: {e}", dir.display())))?;
    let options = sqlite_options(path);
    // `sqlx::any` opens SQLite from a URL, which carries the file and the
    // open mode but not the pragmas: one native connection first creates
    // the file and switches it to WAL (a setting stored in the file), and
    // every pooled connection then sets the per-connection pragmas.
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| database_error(url, "", &e.to_string()))?
        .close()
        .await
        .map_err(|e| database_error(url, "", &e.to_string()))?;
    private_sqlite_files(url, path)?;
    let any = AnyConnectOptions::from_url(&options.to_url_lossy())
        .map_err(|e| database_error(url, "", &e.to_string()))?;
    let busy_ms = SQLITE_BUSY_TIMEOUT.as_millis();
    AnyPoolOptions::new()
        .max_connections(SQLITE_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL;"
                )))
                .execute(conn)
                .await
                .map(|_| ())
            })
        })
        .connect_with(any)
        .await
        .map_err(|e| database_error(url, "", &e.to_string()))
}

async fn connect_postgres(url: &DatabaseUrl, raw: &str) -> Result<AnyPool, ConnectError> {
    let any =
        AnyConnectOptions::from_str(raw).map_err(|e| database_error(url, raw, &e.to_string()))?;
    AnyPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A connection that died with a server restart is found out and
        // replaced before it is handed to a statement.
        .test_before_acquire(true)
        .connect_with(any)
        .await
        .map_err(|e| database_error(url, raw, &e.to_string()))
}

// The modes of `crate::private_files` (threat model, rule 8), written out
// here because the store imports no service module (scripts/check-layers.py).

/// Creates `dir` (and missing parents) 0700, or sets 0700 on it.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Sets 0600 on the database file and its `-wal`/`-shm` (those that exist).
fn private_sqlite_files(url: &DatabaseUrl, path: &Path) -> Result<(), ConnectError> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.map_err(|e| ConnectError::Files {
                url: url.to_string(),
                why: format!("{}: {e}", Path::new(&file).display()),
            })?,
        }
    }
    Ok(())
}

fn database_error(url: &DatabaseUrl, raw: &str, why: &str) -> ConnectError {
    ConnectError::Database {
        url: url.to_string(),
        why: scrub(why, raw),
    }
}

/// `path` made absolute against the current folder (so that `sqlite://`
/// URLs, which are parsed as host names, never see a relative path).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `raw` with its password (in the user info or a `password=` parameter)
/// replaced by `***`. Text that is not a URL is not shown at all.
pub fn redact(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<not a URL>".to_string();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret =
                    k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// `text` (an error from a driver) with every password of `raw` replaced,
/// in case the driver quoted the URL.
fn scrub(text: &str, raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw) else {
        return text.to_string();
    };
    let mut secrets: Vec<String> = Vec::new();
    if let Some(p) = url.password() {
        secrets.push(p.to_string());
        // The driver may quote it decoded (`%21` as `!`).
        secrets.extend(url::form_urlencoded::parse(p.as_bytes()).map(|(k, _)| k.into_owned()));
    }
    for (k, v) in url.query_pairs() {
        if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword") {
            secrets.push(v.into_owned());
        }
    }
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_become_absolute_files() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/screenrec/screenrec.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from(
                "/var/lib/screenrec/screenrec.db"
            )))
        );
        let cwd = std::env::current_dir().unwrap_or_default();
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/My.db"),
            Ok(DatabaseUrl::Sqlite(cwd.join("data/My.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://My%20File.db"),
            Ok(DatabaseUrl::Sqlite(cwd.join("My File.db")))
        );
        assert_eq!(
            DatabaseUrl::default_for(Path::new("/srv/d")),
            DatabaseUrl::Sqlite(PathBuf::from("/srv/d/screenrec.db"))
        );
    }

    #[test]
    fn refused_urls_say_why() {
        for (raw, want) in [
            ("mysql://u:pw@h/db", "is not a database URL RWS knows"),
            ("/var/lib/screenrec.db", "is not a database URL RWS knows"),
            ("sqlite://", "names no file"),
            ("sqlite::memory:", "names no file"),
            ("sqlite:///srv/", "names no file"),
            ("sqlite:///srv/x.db?mode=ro", "take no ?options"),
            (
                "postgres://u:pw@h:notaport/db",
                "is not a valid PostgreSQL URL",
            ),
        ] {
            let e = DatabaseUrl::parse(raw).expect_err(raw).to_string();
            assert!(e.contains(want), "{raw}: {e}");
            assert!(!e.contains("pw@"), "{raw}: password shown: {e}");
        }
    }

    #[test]
    fn postgres_passwords_are_redacted() {
        for raw in [
            "postgres://screenrec:s3cr%21t@db.example:5432/screenrec",
            "postgresql://screenrec:s3cr%21t@db.example/screenrec?sslmode=require",
            "postgres://screenrec@db.example/screenrec?password=s3cr%21t",
        ] {
            let url = DatabaseUrl::parse(raw).expect(raw);
            assert_eq!(url.backend(), Backend::Postgres);
            for shown in [url.to_string(), format!("{url:?}")] {
                assert!(!shown.contains("s3cr"), "{shown}");
                assert!(shown.contains("***"), "{shown}");
                assert!(shown.contains("db.example"), "{shown}");
            }
        }
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").map(|u| u.to_string()),
            Ok("postgres://u@h/db".to_string())
        );
        assert_eq!(
            scrub("failed for s3cr!t at x", "postgres://u:s3cr%21t@h/db"),
            "failed for *** at x"
        );
    }

    #[test]
    fn every_sqlite_migration_has_a_postgres_twin() {
        let versions = |b: Backend| -> Vec<i64> {
            b.migrator()
                .iter()
                .filter(|m| m.migration_type.is_up_migration())
                .map(|m| m.version)
                .collect()
        };
        let sqlite = versions(Backend::Sqlite);
        let postgres = versions(Backend::Postgres);
        // PostgreSQL's first migration is SQLite's 1-8 in one (no
        // PostgreSQL database ever had the older shapes); from 9 on a
        // schema change is one version in both sets.
        assert_eq!(postgres.first(), Some(&1));
        assert!(postgres.contains(&9), "{postgres:?}");
        for v in sqlite.iter().filter(|&&v| v > 8) {
            assert!(
                postgres.contains(v),
                "SQLite migration {v} has no PostgreSQL twin"
            );
        }
    }
}
