//! Every SQL statement of RWS, and nothing else: functions that take the
//! pool (or a transaction), run one statement or one short transaction, and
//! return domain types. HTTP handlers and the recording rules never see SQL.
//!
//! One SQL text serves both backends (SQLite, the embedded default, and
//! PostgreSQL), so statements are written in the dialect both accept:
//!
//! - placeholders `$1`, `$2`, … (SQLite reads `$N` as the N-th argument);
//! - `INSERT … ON CONFLICT (cols) DO NOTHING | DO UPDATE SET c = excluded.c`,
//!   never `INSERT OR IGNORE` / `OR REPLACE`;
//! - no engine functions (`strftime`, `datetime`, `julianday`, `ifnull`,
//!   `group_concat`, `ILIKE`): times are fixed-width UTC text
//!   ([`crate::recording::rfc3339`]) compared as text, `COALESCE` for
//!   defaults; a case-insensitive match is `LOWER(col) LIKE LOWER($1)`;
//! - integers are 64-bit (`i64` in Rust, `BIGINT` in PostgreSQL); flags are
//!   integers 0/1 in SQL, bound with `i64::from(flag)` and read as `i64`
//!   (`!= 0`), because the two engines' boolean types differ;
//! - `SUM(…)` is wrapped in `CAST(… AS BIGINT)` (PostgreSQL sums BIGINT into
//!   NUMERIC); `RETURNING` is fine (both engines have it);
//! - no `sqlx::query!` macros (they would need a database at build time).
//!
//! Code outside this module names the database only through [`Pool`],
//! [`Row`] and [`Tx`], so the backend can change in one place.

/// The database driver: `sqlx::Any`, so one pool type serves SQLite and
/// PostgreSQL ([`connect::connect`] picks by URL). Under `Any`, flags are
/// read as `i64` (a `bool` does not decode from an integer), and
/// `sqlx::QueryBuilder` is not used (it writes `?` placeholders, which
/// PostgreSQL refuses; see `search.rs`).
pub type Db = sqlx::Any;
/// A connection pool.
pub type Pool = sqlx::Pool<Db>;
/// A result row.
pub type Row = <Db as sqlx::Database>::Row;
/// A transaction.
pub type Tx<'c> = sqlx::Transaction<'c, Db>;

pub mod audit;
pub mod auth;
pub mod backup;
pub mod cluster;
pub mod compliance;
pub mod connect;
pub mod directory;
pub mod events;
pub mod evidence;
pub mod health;
pub mod keys;
pub mod lifecycle;
pub mod media;
pub mod previews;
pub mod recording_state;
pub mod recordings;
pub mod search;
pub mod sessions;
pub mod webhooks;
