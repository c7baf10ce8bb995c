//! The directory's tables: `settings`, `switches`, `places`, `devices`,
//! `users`, `groups` / `group_members` and `retention_rules`.
//!
//! The directory import ([`crate::directory::import`]) is one transaction:
//! its writes take the caller's [`Tx`], so the import's logic (what changed,
//! what to remove) stays in `directory` and only the SQL lives here.

use super::{Pool, Tx};

/// A `users` row as the directory import and authentication read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Stable id (a UUID made at first import).
    pub id: String,
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Comma-separated roles.
    pub roles: String,
    /// Default place.
    pub default_place: Option<String>,
    /// Per-agent `recordingWhen`.
    pub recording_when: Option<String>,
}

/// A retention rule as stored (`None`: the rule applies whatever the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// Days to keep.
    pub keep_days: i64,
    /// Only agents of this group.
    pub group: Option<String>,
    /// Only recordings with this label.
    pub label: Option<String>,
    /// Only recordings in this final state.
    pub state: Option<String>,
}

/// A device of a place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceRow {
    /// Directory number.
    pub dn: String,
    /// Its switch.
    pub switch: String,
    /// The place it belongs to.
    pub place: String,
}

/// A user's membership of a group. Ordered by group, then username, then
/// role: the order [`group_members`] returns them in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Membership {
    /// The group.
    pub group: String,
    /// The user.
    pub username: String,
    /// `supervisor` or `agent`.
    pub role: String,
}

type UserTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn user_row(t: UserTuple) -> UserRow {
    let (id, username, password_hash, first_name, last_name, roles, default_place, recording_when) =
        t;
    UserRow {
        id,
        username,
        password_hash,
        first_name,
        last_name,
        roles,
        default_place,
        recording_when,
    }
}

const SETTING: &str = "SELECT value FROM settings WHERE key = $1";

const PUT_SETTING: &str = "INSERT INTO settings(key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// The value of setting `key`, if set.
pub async fn setting(db: &Pool, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(SETTING)
        .bind(key)
        .fetch_optional(db)
        .await
}

/// [`setting`] inside a transaction.
pub async fn setting_in(tx: &mut Tx<'_>, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(SETTING)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
}

/// Sets setting `key` (made or replaced).
pub async fn put_setting(tx: &mut Tx<'_>, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(PUT_SETTING)
        .bind(key)
        .bind(value)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The user named `username`.
pub async fn user(db: &Pool, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let row: Option<UserTuple> =
        sqlx::query_as(
            "SELECT id, username, password_hash, first_name, last_name, roles, default_place, recording_when
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(db)
        .await?;
    Ok(row.map(user_row))
}

/// Every user, by username.
pub async fn users(tx: &mut Tx<'_>) -> Result<Vec<UserRow>, sqlx::Error> {
    let rows: Vec<UserTuple> =
        sqlx::query_as(
            "SELECT id, username, password_hash, first_name, last_name, roles, default_place, recording_when
             FROM users ORDER BY username",
        )
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(user_row).collect())
}

/// Adds a user, or updates the one of the same username (whose id stays).
pub async fn upsert_user(tx: &mut Tx<'_>, u: &UserRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users(id, username, password_hash, first_name, last_name, roles, default_place, recording_when)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
           first_name = excluded.first_name, last_name = excluded.last_name, roles = excluded.roles,
           default_place = excluded.default_place, recording_when = excluded.recording_when",
    )
    .bind(&u.id)
    .bind(&u.username)
    .bind(&u.password_hash)
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(&u.roles)
    .bind(&u.default_place)
    .bind(&u.recording_when)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes a user and their SRS sessions.
pub async fn delete_user(tx: &mut Tx<'_>, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users WHERE username = $1")
        .bind(username)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM srs_sessions WHERE username = $1")
        .bind(username)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Sets a user's channel; true when it changed.
pub async fn set_channel(
    tx: &mut Tx<'_>,
    username: &str,
    channel: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET channel = $1 WHERE username = $2 AND channel <> $1")
        .bind(channel)
        .bind(username)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Every switch name.
pub async fn switches(tx: &mut Tx<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM switches ORDER BY name")
        .fetch_all(&mut **tx)
        .await
}

/// Adds a switch.
pub async fn insert_switch(tx: &mut Tx<'_>, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO switches(name) VALUES ($1)")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes a switch and its devices.
pub async fn delete_switch(tx: &mut Tx<'_>, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM devices WHERE switch = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM switches WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Every place name.
pub async fn places(tx: &mut Tx<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM places ORDER BY name")
        .fetch_all(&mut **tx)
        .await
}

/// Adds a place (without devices).
pub async fn insert_place(tx: &mut Tx<'_>, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO places(name) VALUES ($1)")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes a place: users lose it as their default place, its devices go.
pub async fn delete_place(tx: &mut Tx<'_>, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET default_place = NULL WHERE default_place = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM devices WHERE place = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM places WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Every device, by place, switch and dn.
pub async fn devices(tx: &mut Tx<'_>) -> Result<Vec<DeviceRow>, sqlx::Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT dn, switch, place FROM devices ORDER BY place, switch, dn")
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(dn, switch, place)| DeviceRow { dn, switch, place })
        .collect())
}

/// Replaces a place's devices; a device that belonged to another place is
/// taken over.
pub async fn set_place_devices(
    tx: &mut Tx<'_>,
    place: &str,
    devices: &[proto::Device],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM devices WHERE place = $1")
        .bind(place)
        .execute(&mut **tx)
        .await?;
    for d in devices {
        sqlx::query(
            "INSERT INTO devices(dn, switch, place) VALUES ($1, $2, $3)
             ON CONFLICT (dn, switch) DO UPDATE SET place = excluded.place",
        )
        .bind(&d.dn)
        .bind(&d.switch)
        .bind(place)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Every group membership, in [`Membership`]'s order.
pub async fn group_members(tx: &mut Tx<'_>) -> Result<Vec<Membership>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT group_name, username, role FROM group_members ORDER BY group_name, username, role",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(membership).collect())
}

fn membership((group, username, role): (String, String, String)) -> Membership {
    Membership {
        group,
        username,
        role,
    }
}

/// Every group name, sorted.
pub async fn group_names(tx: &mut Tx<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM groups ORDER BY name")
        .fetch_all(&mut **tx)
        .await
}

/// Replaces every group and membership.
pub async fn replace_groups(
    tx: &mut Tx<'_>,
    names: &[String],
    members: &[Membership],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM groups").execute(&mut **tx).await?;
    for g in names {
        sqlx::query("INSERT INTO groups(name) VALUES ($1)")
            .bind(g)
            .execute(&mut **tx)
            .await?;
    }
    for m in members {
        sqlx::query("INSERT INTO group_members(group_name, username, role) VALUES ($1, $2, $3)")
            .bind(&m.group)
            .bind(&m.username)
            .bind(&m.role)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// How many groups the directory defines.
pub async fn group_count(db: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM groups")
        .fetch_one(db)
        .await
}

/// The groups `username` is an agent of.
pub async fn agent_groups(db: &Pool, username: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT group_name FROM group_members WHERE username = $1 AND role = 'agent'
         ORDER BY group_name",
    )
    .bind(username)
    .fetch_all(db)
    .await
}

/// `username`'s memberships, by group and role.
pub async fn memberships(db: &Pool, username: &str) -> Result<Vec<Membership>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT group_name, username, role FROM group_members WHERE username = $1
         ORDER BY group_name, role",
    )
    .bind(username)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(membership).collect())
}

/// The agents of the groups `username` supervises (no duplicates).
pub async fn supervised_agents(db: &Pool, username: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT a.username FROM group_members s JOIN group_members a
           ON a.group_name = s.group_name AND a.role = 'agent'
         WHERE s.username = $1 AND s.role = 'supervisor'
         ORDER BY a.username",
    )
    .bind(username)
    .fetch_all(db)
    .await
}

/// Every retention rule.
pub async fn retention_rules(db: &Pool) -> Result<Vec<RetentionRule>, sqlx::Error> {
    type Rule = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Rule> =
        sqlx::query_as("SELECT keep_days, grp, label, state FROM retention_rules ORDER BY id")
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(keep_days, group, label, state)| RetentionRule {
            keep_days,
            group,
            label,
            state,
        })
        .collect())
}

/// Replaces every retention rule.
pub async fn replace_retention_rules(
    tx: &mut Tx<'_>,
    rules: &[RetentionRule],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM retention_rules")
        .execute(&mut **tx)
        .await?;
    for r in rules {
        sqlx::query(
            "INSERT INTO retention_rules(keep_days, grp, label, state) VALUES ($1, $2, $3, $4)",
        )
        .bind(r.keep_days)
        .bind(&r.group)
        .bind(&r.label)
        .bind(&r.state)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn db() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        (dir, db)
    }

    fn dev(dn: &str) -> proto::Device {
        proto::Device {
            dn: dn.into(),
            switch: "SIP".into(),
        }
    }

    #[tokio::test]
    async fn a_device_moved_to_another_place_is_taken_over() {
        let (_dir, db) = db().await;
        let mut tx = db.begin().await.unwrap();
        insert_switch(&mut tx, "SIP").await.unwrap();
        insert_place(&mut tx, "P1").await.unwrap();
        insert_place(&mut tx, "P2").await.unwrap();
        set_place_devices(&mut tx, "P1", &[dev("1"), dev("2")])
            .await
            .unwrap();
        set_place_devices(&mut tx, "P2", &[dev("2"), dev("3")])
            .await
            .unwrap();
        let got = devices(&mut tx).await.unwrap();
        let want = [("1", "P1"), ("2", "P2"), ("3", "P2")].map(|(dn, p)| DeviceRow {
            dn: dn.into(),
            switch: "SIP".into(),
            place: p.into(),
        });
        assert_eq!(got, want);
        // Removing the switch takes its devices with it.
        delete_switch(&mut tx, "SIP").await.unwrap();
        assert!(devices(&mut tx).await.unwrap().is_empty());
        assert!(switches(&mut tx).await.unwrap().is_empty());
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn upsert_keeps_the_id_and_set_channel_says_whether_it_changed() {
        let (_dir, db) = db().await;
        let mut tx = db.begin().await.unwrap();
        let mut u = UserRow {
            id: "id-1".into(),
            username: "a".into(),
            password_hash: "h".into(),
            first_name: "A".into(),
            last_name: String::new(),
            roles: "agent".into(),
            default_place: None,
            recording_when: None,
        };
        upsert_user(&mut tx, &u).await.unwrap();
        u.id = "id-2".into();
        u.roles = "agent,admin".into();
        upsert_user(&mut tx, &u).await.unwrap();
        let stored = users(&mut tx).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].id, "id-1");
        assert_eq!(stored[0].roles, "agent,admin");
        // The default channel is voice: setting it again changes nothing.
        assert!(!set_channel(&mut tx, "a", "voice").await.unwrap());
        assert!(set_channel(&mut tx, "a", "blended").await.unwrap());
        assert!(!set_channel(&mut tx, "a", "blended").await.unwrap());
        assert!(!set_channel(&mut tx, "nobody", "blended").await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(user(&db, "a").await.unwrap().unwrap().id, "id-1");
        assert_eq!(user(&db, "A").await.unwrap(), None);
    }

    #[tokio::test]
    async fn supervisors_see_the_agents_of_their_groups_only() {
        let (_dir, db) = db().await;
        let mut tx = db.begin().await.unwrap();
        let m = |g: &str, u: &str, r: &str| Membership {
            group: g.into(),
            username: u.into(),
            role: r.into(),
        };
        replace_groups(
            &mut tx,
            &["g1".into(), "g2".into(), "g3".into()],
            &[
                m("g1", "sup", "supervisor"),
                m("g1", "a1", "agent"),
                m("g1", "a2", "agent"),
                m("g2", "sup", "supervisor"),
                m("g2", "a2", "agent"),
                m("g3", "other", "supervisor"),
                m("g3", "a3", "agent"),
                // A supervisor elsewhere may be an agent here.
                m("g3", "sup", "agent"),
            ],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(group_count(&db).await.unwrap(), 3);
        assert_eq!(supervised_agents(&db, "sup").await.unwrap(), ["a1", "a2"]);
        assert_eq!(
            supervised_agents(&db, "other").await.unwrap(),
            ["a3", "sup"]
        );
        assert!(supervised_agents(&db, "a1").await.unwrap().is_empty());
        assert_eq!(agent_groups(&db, "a2").await.unwrap(), ["g1", "g2"]);
        assert_eq!(agent_groups(&db, "sup").await.unwrap(), ["g3"]);
        assert_eq!(
            memberships(&db, "sup").await.unwrap(),
            [
                m("g1", "sup", "supervisor"),
                m("g2", "sup", "supervisor"),
                m("g3", "sup", "agent")
            ]
        );
        // Replacing drops what is no longer there (members go with their group).
        let mut tx = db.begin().await.unwrap();
        replace_groups(&mut tx, &["g2".into()], &[m("g2", "a2", "agent")])
            .await
            .unwrap();
        assert_eq!(
            group_members(&mut tx).await.unwrap(),
            [m("g2", "a2", "agent")]
        );
        tx.commit().await.unwrap();
        assert!(supervised_agents(&db, "sup").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn settings_are_made_then_replaced() {
        let (_dir, db) = db().await;
        assert_eq!(setting(&db, "k").await.unwrap(), None);
        let mut tx = db.begin().await.unwrap();
        put_setting(&mut tx, "k", "1").await.unwrap();
        put_setting(&mut tx, "k", "2").await.unwrap();
        assert_eq!(
            setting_in(&mut tx, "k").await.unwrap().as_deref(),
            Some("2")
        );
        let rules = [
            RetentionRule {
                keep_days: 30,
                group: Some("g".into()),
                label: None,
                state: None,
            },
            RetentionRule {
                keep_days: 7,
                group: None,
                label: Some("x".into()),
                state: Some("failed".into()),
            },
        ];
        replace_retention_rules(&mut tx, &rules).await.unwrap();
        replace_retention_rules(&mut tx, &rules[1..]).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(setting(&db, "k").await.unwrap().as_deref(), Some("2"));
        assert_eq!(retention_rules(&db).await.unwrap(), rules[1..]);
    }
}
