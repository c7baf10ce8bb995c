//! The database codec of [`RecordingState`]: a state column is TEXT holding
//! the state's lowercase name; a stored value that is none of the seven
//! names is a decode error naming it, never a default state.
//!
//! The impls delegate to `String`/`&str`'s for [`Db`] (nothing
//! SQLite-specific), so they hold for whichever driver `Db` names. They live
//! here, not beside the enum, because `recording/` imports nothing of the
//! crate (scripts/check-layers.py).

use sqlx::decode::Decode;
use sqlx::encode::{Encode, IsNull};
use sqlx::error::BoxDynError;
use sqlx::types::Type;

use super::Db;
use crate::recording::RecordingState;

impl Type<Db> for RecordingState {
    fn type_info() -> <Db as sqlx::Database>::TypeInfo {
        <String as Type<Db>>::type_info()
    }

    fn compatible(ty: &<Db as sqlx::Database>::TypeInfo) -> bool {
        <String as Type<Db>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Db> for RecordingState {
    fn encode_by_ref(
        &self,
        buf: &mut <Db as sqlx::Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <&str as Encode<'q, Db>>::encode(self.as_str(), buf)
    }
}

impl<'r> Decode<'r, Db> for RecordingState {
    fn decode(value: <Db as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<'r, Db>>::decode(value)?;
        Ok(text.parse::<RecordingState>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::recording::RecordingState;

    /// Through a real (SQLite, opened as RWS opens it) database: a state
    /// column encodes and decodes as TEXT; a garbage stored value is a
    /// decode error that names it, never a default state.
    #[tokio::test]
    async fn a_state_column_is_text_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = crate::open_db(dir.path()).await.expect("database");
        sqlx::query("CREATE TABLE t (state TEXT NOT NULL)")
            .execute(&db)
            .await
            .expect("table");
        for s in RecordingState::ALL {
            sqlx::query("INSERT INTO t(state) VALUES ($1)")
                .bind(s)
                .execute(&db)
                .await
                .expect("insert");
        }
        let text: Vec<String> =
            sqlx::query_scalar("SELECT state FROM t WHERE typeof(state) = 'text'")
                .fetch_all(&db)
                .await
                .expect("read as text");
        assert_eq!(text, RecordingState::ALL.map(|s| s.as_str().to_string()));
        let back: Vec<RecordingState> = sqlx::query_scalar("SELECT state FROM t")
            .fetch_all(&db)
            .await
            .expect("decode");
        assert_eq!(back, RecordingState::ALL);
        sqlx::query("INSERT INTO t(state) VALUES ('stopped')")
            .execute(&db)
            .await
            .expect("insert garbage");
        let err = sqlx::query_scalar::<_, RecordingState>("SELECT state FROM t")
            .fetch_all(&db)
            .await
            .expect_err("garbage does not decode");
        assert!(err.to_string().contains("'stopped'"), "{err}");
    }
}
