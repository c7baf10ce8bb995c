//! The recording search: one `SELECT` built from the filters a user gave,
//! in keyset pages (start time, then id) so pages stay stable while new
//! recordings arrive.

use std::fmt::Write as _;

use super::Pool;
use crate::recording::Rec;
use crate::store::recordings::{rec_of, select_rec};

/// What to search for. `None`/empty means no such filter.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Only these agents (a supervisor's); `None`: every agent.
    pub visible: Option<Vec<&'a str>>,
    /// One agent.
    pub agent: Option<&'a str>,
    /// The agents of a group.
    pub group: Option<&'a str>,
    /// Requested at or after (fixed-width RFC 3339).
    pub from: Option<&'a str>,
    /// Requested at or before.
    pub to: Option<&'a str>,
    /// Mapped or linked to this call or interaction.
    pub call_id: Option<&'a str>,
    /// In one of these states.
    pub states: Vec<&'a str>,
    /// Carrying this label.
    pub label: Option<&'a str>,
    /// Paused at least once (`Some(true)`) or never (`Some(false)`).
    pub has_pause: Option<bool>,
    /// Longest media at least this long, ms.
    pub min_ms: Option<i64>,
    /// Longest media at most this long, ms.
    pub max_ms: Option<i64>,
    /// Caller number, `*` a wildcard.
    pub caller: Option<&'a str>,
    /// Dialed number, `*` a wildcard.
    pub dialed: Option<&'a str>,
    /// An app on the timeline: glob on its `WM_CLASS` (`*`, `?`),
    /// case-insensitive.
    pub app: Option<&'a str>,
    /// Start after (ascending) or before (descending) this (time, id).
    pub after: Option<(&'a str, &'a str)>,
    /// Oldest first.
    pub ascending: bool,
    /// At most this many.
    pub limit: i64,
}

/// A `LIKE` pattern for a number with `*` wildcards: `%` and `_` match
/// themselves (escaped with `\`).
fn like(pattern: &str) -> String {
    pattern
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
        .replace('*', "%")
}

/// A `LIKE` pattern for a glob (`*` any run, `?` one character), lower
/// case (compared with `LOWER(...)`: case-insensitive on both engines).
fn like_glob(glob: &str) -> String {
    like(&glob.to_lowercase()).replace('?', "_")
}

/// A value bound to a placeholder of the search.
enum Arg {
    Text(String),
    Int(i64),
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

/// The search's SQL and its arguments, with `$N` placeholders. Not
/// `sqlx::QueryBuilder`: under `sqlx::Any` it writes `?`, which PostgreSQL
/// does not read.
struct Search {
    sql: String,
    args: Vec<Arg>,
}

impl Search {
    fn push(&mut self, sql: &str) -> &mut Search {
        self.sql.push_str(sql);
        self
    }

    fn push_bind(&mut self, arg: impl Into<Arg>) -> &mut Search {
        self.args.push(arg.into());
        // Writing to a String cannot fail.
        let _ = write!(self.sql, "${}", self.args.len());
        self
    }

    /// `(v1, v2, …)` of `values` bound.
    fn push_list(&mut self, values: impl IntoIterator<Item = String>) -> &mut Search {
        self.push("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(v);
        }
        self.push(")")
    }
}

/// The recordings that match, in start order, at most `limit`.
pub async fn recordings(db: &Pool, f: &Filter<'_>) -> Result<Vec<Rec>, sqlx::Error> {
    let mut qb = Search {
        sql: select_rec!("r WHERE 1 = 1").to_string(),
        args: Vec::new(),
    };
    if let Some(agents) = &f.visible {
        qb.push(" AND r.username IN ")
            .push_list(agents.iter().map(|a| a.to_string()));
    }
    if let Some(a) = f.agent {
        qb.push(" AND r.username = ").push_bind(a.to_string());
    }
    if let Some(g) = f.group {
        qb.push(" AND r.username IN (SELECT username FROM group_members WHERE role = 'agent' AND group_name = ")
            .push_bind(g.to_string())
            .push(")");
    }
    if let Some(from) = f.from {
        qb.push(" AND r.requested_at >= ")
            .push_bind(from.to_string());
    }
    if let Some(to) = f.to {
        qb.push(" AND r.requested_at <= ").push_bind(to.to_string());
    }
    if let Some(c) = f.call_id {
        qb.push(" AND (r.interaction_id = ")
            .push_bind(c.to_string())
            .push(" OR r.id IN (SELECT recording_id FROM recording_interactions WHERE interaction_id = ")
            .push_bind(c.to_string())
            .push("))");
    }
    if !f.states.is_empty() {
        qb.push(" AND r.state IN ")
            .push_list(f.states.iter().map(|s| s.to_string()));
    }
    if let Some(l) = f.label {
        qb.push(" AND EXISTS (SELECT 1 FROM recording_labels l WHERE l.recording_id = r.id AND l.label = ")
            .push_bind(l.to_string())
            .push(")");
    }
    if let Some(p) = f.has_pause {
        qb.push(if p { " AND " } else { " AND NOT " })
            .push("EXISTS (SELECT 1 FROM recording_marks m WHERE m.recording_id = r.id AND m.kind = 'paused')");
    }
    let duration =
        " (SELECT COALESCE(MAX(end_ms), 0) FROM media_files f WHERE f.recording_id = r.id) ";
    if let Some(m) = f.min_ms {
        qb.push(" AND").push(duration).push(">= ").push_bind(m);
    }
    if let Some(m) = f.max_ms {
        qb.push(" AND").push(duration).push("<= ").push_bind(m);
    }
    if let Some(c) = f.caller {
        qb.push(" AND r.ani LIKE ")
            .push_bind(like(c))
            .push(" ESCAPE '\\'");
    }
    if let Some(d) = f.dialed {
        qb.push(" AND r.dnis LIKE ")
            .push_bind(like(d))
            .push(" ESCAPE '\\'");
    }
    if let Some(a) = f.app {
        qb.push(" AND EXISTS (SELECT 1 FROM recording_marks m WHERE m.recording_id = r.id AND m.kind = 'app' AND LOWER(m.reason) LIKE ")
            .push_bind(like_glob(a))
            .push(" ESCAPE '\\')");
    }
    if let Some((at, id)) = f.after {
        qb.push(if f.ascending {
            " AND (r.requested_at, r.id) > ("
        } else {
            " AND (r.requested_at, r.id) < ("
        })
        .push_bind(at.to_string())
        .push(", ")
        .push_bind(id.to_string())
        .push(")");
    }
    qb.push(if f.ascending {
        " ORDER BY r.requested_at ASC, r.id ASC"
    } else {
        " ORDER BY r.requested_at DESC, r.id DESC"
    });
    qb.push(" LIMIT ").push_bind(f.limit);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(qb.sql));
    for arg in qb.args {
        query = match arg {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
        };
    }
    query.fetch_all(db).await?.iter().map(rec_of).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::recording::RecordingState;

    use super::*;
    use crate::store::recordings::tests::{db, recording};
    use crate::store::recordings::{set_numbers, set_state};

    fn ids(recs: &[Rec]) -> Vec<&str> {
        recs.iter().map(|r| r.id.as_str()).collect()
    }

    #[tokio::test]
    async fn filters_pages_and_wildcards() {
        let (_dir, db) = db().await;
        recording(&db, "a", "alice", "c1", "2026-01-05T10:00:00.000Z").await;
        recording(&db, "b", "bob", "c2", "2026-01-05T11:00:00.000Z").await;
        recording(&db, "c", "alice", "c3", "2026-01-05T12:00:00.000Z").await;
        set_state(
            &db,
            "b",
            RecordingState::Requested,
            RecordingState::Failed,
            None,
            "2026-01-05T11:00:01.000Z",
        )
        .await
        .unwrap();
        set_numbers(&db, "c1", Some("+33_1"), None).await.unwrap();
        set_numbers(&db, "c3", Some("+33912"), None).await.unwrap();
        let all = Filter {
            limit: 10,
            ..Filter::default()
        };
        assert_eq!(ids(&recordings(&db, &all).await.unwrap()), ["c", "b", "a"]);
        let page = Filter {
            ascending: true,
            limit: 2,
            after: Some(("2026-01-05T10:00:00.000Z", "a")),
            ..Filter::default()
        };
        assert_eq!(ids(&recordings(&db, &page).await.unwrap()), ["b", "c"]);
        let f = Filter {
            visible: Some(vec!["alice"]),
            states: vec!["requested"],
            limit: 10,
            ..Filter::default()
        };
        assert_eq!(ids(&recordings(&db, &f).await.unwrap()), ["c", "a"]);
        // `*` is the wildcard; `_` matches itself only.
        let f = Filter {
            caller: Some("+33_*"),
            limit: 10,
            ..Filter::default()
        };
        assert_eq!(ids(&recordings(&db, &f).await.unwrap()), ["a"]);
        let f = Filter {
            caller: Some("+33*"),
            call_id: Some("c3"),
            limit: 10,
            ..Filter::default()
        };
        assert_eq!(ids(&recordings(&db, &f).await.unwrap()), ["c"]);
        let f = Filter {
            has_pause: Some(true),
            limit: 10,
            ..Filter::default()
        };
        assert!(recordings(&db, &f).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn app_filter_is_a_case_insensitive_glob_on_the_class() {
        let (_dir, db) = db().await;
        recording(&db, "a", "alice", "c1", "2026-01-05T10:00:00.000Z").await;
        recording(&db, "b", "bob", "c2", "2026-01-05T11:00:00.000Z").await;
        let at = "2026-01-05T10:00:01.000Z";
        crate::store::recordings::mark_app(&db, "a", at, "KeePassXC", Some("vault"), 1000)
            .await
            .unwrap();
        crate::store::recordings::mark_app(&db, "b", at, "Crm_Web", None, 1000)
            .await
            .unwrap();
        // A pause whose reason looks like a class is not an app.
        crate::store::recordings::mark(&db, "b", at, "paused", "keepass")
            .await
            .unwrap();
        let app = |g: &'static str| Filter {
            app: Some(g),
            limit: 10,
            ..Filter::default()
        };
        for (glob, want) in [
            ("keepassxc", vec!["a"]),
            ("*PASS*", vec!["a"]),
            ("keepass", vec![]),
            ("crm?web", vec!["b"]),
            // `_` and `%` match themselves only.
            ("crm_*", vec!["b"]),
            ("crm%", vec![]),
            ("*", vec!["b", "a"]),
        ] {
            assert_eq!(
                ids(&recordings(&db, &app(glob)).await.unwrap()),
                want,
                "{glob}"
            );
        }
    }
}
