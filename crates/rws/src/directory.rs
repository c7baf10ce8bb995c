//! The directory file (TOML): switches, places with their DNs, users, the
//! cluster `recording_when` and the desktop origins allowed to call SRS.
//!
//! [`parse`] reads and validates a file completely before anything is
//! written; every error names the file, the line and the item. [`import`]
//! then applies it in one transaction, idempotently: the same file twice
//! changes nothing (a plain password that still matches its stored hash
//! keeps that hash), and what is no longer in the file is removed.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use crate::store::Pool;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::Deserialize;
use toml::Spanned;

use crate::policy::check_recording_when;

/// A `users` row: (username or id, password_hash, first_name, last_name,
/// roles, default_place, recording_when).
pub(crate) type UserRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// Roles a user may have.
pub const ROLES: [&str; 4] = ["agent", "supervisor", "admin", "integration"];

/// A directory file that cannot be imported, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {item}{message}")]
pub struct DirectoryError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The item (`user 'agent1'`, `place 'Place_Hot'`), with a trailing ": ", or empty.
    pub item: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    recording_when: Option<Spanned<String>>,
    #[serde(default)]
    allowed_origins: Vec<Spanned<String>>,
    #[serde(default)]
    switch: Vec<Spanned<RawSwitch>>,
    #[serde(default)]
    place: Vec<Spanned<RawPlace>>,
    #[serde(default)]
    user: Vec<Spanned<RawUser>>,
    #[serde(default)]
    group: Vec<Spanned<RawGroup>>,
    #[serde(default)]
    retention: Vec<Spanned<RawRetention>>,
    #[serde(default)]
    mask: Vec<Spanned<RawMask>>,
    agents_see_own: Option<bool>,
    supervisors_may_download: Option<bool>,
    upload_rate_kbit: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    supervisors: Vec<String>,
    #[serde(default)]
    agents: Vec<String>,
    upload_rate_kbit: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    keep_days: u32,
    group: Option<String>,
    label: Option<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMask {
    name: String,
    title: Option<String>,
    class: Option<String>,
    action: Option<String>,
    group: Option<String>,
}

/// Most `[[mask]]` rules a directory may hold (each is compiled by every
/// SRS at every start).
pub const MAX_MASKS: usize = proto::control::MAX_MASKS;

/// A masking rule (`[[mask]]`): windows whose title/class match are never
/// recorded on the agents it applies to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Mask {
    /// The rule as SRS receives it.
    #[serde(flatten)]
    pub spec: proto::control::MaskSpec,
    /// Only agents of this group (`None`: every agent).
    pub group: Option<String>,
}

/// Highest `upload_rate_kbit` the directory accepts (1 Gbit/s).
pub const MAX_UPLOAD_RATE_KBIT: u32 = 1_000_000;

/// The directory's upload bandwidth caps (`upload_rate_kbit`, kbit/s) at
/// the top level, per group and per user. Kept in `settings` as JSON
/// (`upload_rates`), written by the import; RWS sends the resolved value in
/// every `start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct UploadRates {
    /// Everyone's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<u32>,
    /// Per group (applies to the group's agents).
    #[serde(default)]
    pub groups: BTreeMap<String, u32>,
    /// Per user.
    #[serde(default)]
    pub users: BTreeMap<String, u32>,
}

impl UploadRates {
    /// The cap for `username`, an agent of `agent_groups`: the user's own,
    /// else the lowest of their groups' values, else the global one, else
    /// none.
    pub fn resolve(&self, username: &str, agent_groups: &[String]) -> Option<u32> {
        if let Some(r) = self.users.get(username) {
            return Some(*r);
        }
        agent_groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .min()
            .copied()
            .or(self.global)
    }
}

/// Checks an `upload_rate_kbit` value: an integer from 1 to
/// [`MAX_UPLOAD_RATE_KBIT`].
fn check_upload_rate(v: &toml::Value) -> Result<u32, String> {
    match v {
        toml::Value::Integer(i) if (1..=i64::from(MAX_UPLOAD_RATE_KBIT)).contains(i) => {
            u32::try_from(*i).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "upload_rate_kbit must be an integer from 1 to {MAX_UPLOAD_RATE_KBIT} (kbit/s), not {other}"
        )),
    }
}

/// A supervisor group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Name.
    pub name: String,
    /// Users who see the agents' recordings.
    pub supervisors: Vec<String>,
    /// Agents of the group.
    pub agents: Vec<String>,
}

/// A retention rule: recordings it applies to are kept `keep_days` days
/// after they ended; when several apply, the most specific wins (then the
/// longest); when none applies, the recording is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Days to keep.
    pub keep_days: u32,
    /// Only agents of this group.
    pub group: Option<String>,
    /// Only recordings with this label.
    pub label: Option<String>,
    /// Only recordings in this final state.
    pub state: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitch {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlace {
    name: String,
    #[serde(default)]
    devices: Vec<RawDevice>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    dn: String,
    switch: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: String,
    password: Option<String>,
    password_hash: Option<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    roles: Vec<String>,
    default_place: Option<String>,
    recording_when: Option<String>,
    channel: Option<String>,
    upload_rate_kbit: Option<toml::Value>,
}

/// Which interactions of an agent are screen-recorded.
pub const CHANNELS: [&str; 3] = ["voice", "nonvoice", "blended"];

/// A place and its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Name.
    pub name: String,
    /// Devices (DN on switch).
    pub devices: Vec<proto::Device>,
}

/// How a user's password is given in the file.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// In clear: hashed on import.
    Plain(String),
    /// Already an argon2id PHC string.
    Hash(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Password::Plain(_) => "Plain(<redacted>)",
            Password::Hash(_) => "Hash(<redacted>)",
        })
    }
}

/// A user entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub username: String,
    /// Password or hash.
    pub password: Password,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Default place.
    pub default_place: Option<String>,
    /// Per-agent `recordingWhen` override.
    pub recording_when: Option<String>,
    /// `voice` (default), `nonvoice` or `blended` (recorded on voice only).
    pub channel: String,
}

/// A validated directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// Cluster-level `recordingWhen`.
    pub recording_when: Option<String>,
    /// Desktop origins allowed to call SRS.
    pub allowed_origins: Vec<String>,
    /// Switch names.
    pub switches: Vec<String>,
    /// Places.
    pub places: Vec<Place>,
    /// Users.
    pub users: Vec<User>,
    /// Supervisor groups.
    pub groups: Vec<Group>,
    /// Retention rules.
    pub retention: Vec<Retention>,
    /// Masking rules.
    pub masks: Vec<Mask>,
    /// Agents may see their own recordings.
    pub agents_see_own: bool,
    /// Supervisors may download (admins always may).
    pub supervisors_may_download: bool,
    /// Upload bandwidth caps.
    pub upload_rates: UploadRates,
}

/// What an import changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Users, places or switches added.
    pub added: usize,
    /// Users or places whose fields changed.
    pub updated: usize,
    /// Removed because they are no longer in the file.
    pub removed: usize,
}

impl ImportReport {
    /// True when the import changed nothing.
    pub fn is_noop(&self) -> bool {
        self.added == 0 && self.updated == 0 && self.removed == 0
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses and validates a directory file's text.
pub fn parse(file: &str, text: &str) -> Result<Directory, DirectoryError> {
    let err = |span: Range<usize>, item: String, message: String| DirectoryError {
        file: file.to_string(),
        line: line_of(text, span.start),
        item: if item.is_empty() {
            item
        } else {
            format!("{item}: ")
        },
        message,
    };
    let raw: RawDirectory = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        err(span, String::new(), e.message().to_string())
    })?;

    if let Some(rw) = &raw.recording_when {
        check_recording_when(rw.get_ref()).map_err(|(col, m)| {
            err(
                rw.span(),
                "recording_when".into(),
                format!("column {col}: {m}"),
            )
        })?;
    }
    let mut origins = Vec::new();
    for o in &raw.allowed_origins {
        let v = o.get_ref().trim_end_matches('/');
        let ok = (v.starts_with("http://") || v.starts_with("https://"))
            && !v
                .split_once("://")
                .is_some_and(|(_, h)| h.is_empty() || h.contains('/'));
        if !ok || v == "*" {
            return Err(err(
                o.span(),
                format!("allowed_origins '{}'", o.get_ref()),
                "an origin is scheme://host[:port] (wildcards inside the host only, e.g. https://*.example.com)".into(),
            ));
        }
        origins.push(v.to_string());
    }
    let mut upload_rates = UploadRates::default();
    if let Some(v) = &raw.upload_rate_kbit {
        upload_rates.global =
            Some(check_upload_rate(v.get_ref()).map_err(|m| err(v.span(), String::new(), m))?);
    }

    let mut switches = Vec::new();
    for s in &raw.switch {
        let name = s.get_ref().name.trim().to_string();
        if name.is_empty() {
            return Err(err(s.span(), "switch".into(), "name is empty".into()));
        }
        if switches.contains(&name) {
            return Err(err(
                s.span(),
                format!("switch '{name}'"),
                "duplicate name".into(),
            ));
        }
        switches.push(name);
    }

    let mut places: Vec<Place> = Vec::new();
    let mut seen_devices: HashSet<(String, String)> = HashSet::new();
    for p in &raw.place {
        let rp = p.get_ref();
        let item = format!("place '{}'", rp.name);
        if rp.name.trim().is_empty() {
            return Err(err(p.span(), "place".into(), "name is empty".into()));
        }
        if places.iter().any(|q| q.name == rp.name) {
            return Err(err(p.span(), item, "duplicate name".into()));
        }
        let mut devices = Vec::new();
        for d in &rp.devices {
            if !switches.contains(&d.switch) {
                return Err(err(
                    p.span(),
                    item,
                    format!(
                        "device {}@{}: switch '{}' does not exist",
                        d.dn, d.switch, d.switch
                    ),
                ));
            }
            if d.dn.trim().is_empty() {
                return Err(err(p.span(), item, "a device has an empty dn".into()));
            }
            if !seen_devices.insert((d.dn.clone(), d.switch.clone())) {
                return Err(err(
                    p.span(),
                    item,
                    format!("device {}@{} belongs to another place too", d.dn, d.switch),
                ));
            }
            devices.push(proto::Device {
                dn: d.dn.clone(),
                switch: d.switch.clone(),
            });
        }
        places.push(Place {
            name: rp.name.clone(),
            devices,
        });
    }

    let mut users: Vec<User> = Vec::new();
    for u in &raw.user {
        let ru = u.get_ref();
        let item = format!("user '{}'", ru.username);
        if ru.username.trim().is_empty() || ru.username.contains(':') {
            return Err(err(
                u.span(),
                "user".into(),
                "username is empty or contains ':'".into(),
            ));
        }
        if users.iter().any(|v| v.username == ru.username) {
            return Err(err(u.span(), item, "duplicate username".into()));
        }
        let password = match (&ru.password, &ru.password_hash) {
            (Some(p), None) if !p.is_empty() => Password::Plain(p.clone()),
            (None, Some(h)) if h.starts_with("$argon2id$") => Password::Hash(h.clone()),
            (None, Some(_)) => {
                return Err(err(
                    u.span(),
                    item,
                    "password_hash must be an argon2id hash ($argon2id$…)".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(err(
                    u.span(),
                    item,
                    "give password or password_hash, not both".into(),
                ));
            }
            _ => {
                return Err(err(
                    u.span(),
                    item,
                    "password (or password_hash) is required".into(),
                ));
            }
        };
        if ru.roles.is_empty() {
            return Err(err(
                u.span(),
                item,
                format!("roles is empty; use some of {ROLES:?}"),
            ));
        }
        for r in &ru.roles {
            if !ROLES.contains(&r.as_str()) {
                return Err(err(
                    u.span(),
                    item,
                    format!("unknown role '{r}'; roles are {ROLES:?}"),
                ));
            }
        }
        if let Some(dp) = &ru.default_place
            && !places.iter().any(|p| &p.name == dp)
        {
            return Err(err(
                u.span(),
                item,
                format!("default_place '{dp}' does not exist"),
            ));
        }
        if let Some(rw) = &ru.recording_when {
            check_recording_when(rw).map_err(|(col, m)| {
                err(
                    u.span(),
                    item.clone(),
                    format!("recording_when column {col}: {m}"),
                )
            })?;
        }
        if let Some(v) = &ru.upload_rate_kbit {
            let r = check_upload_rate(v).map_err(|m| err(u.span(), item.clone(), m))?;
            upload_rates.users.insert(ru.username.clone(), r);
        }
        let channel = ru.channel.clone().unwrap_or_else(|| "voice".into());
        if !CHANNELS.contains(&channel.as_str()) {
            return Err(err(
                u.span(),
                item,
                format!("unknown channel '{channel}'; channels are {CHANNELS:?}"),
            ));
        }
        users.push(User {
            channel,
            username: ru.username.clone(),
            password,
            first_name: ru.first_name.clone(),
            last_name: ru.last_name.clone(),
            roles: ru.roles.clone(),
            default_place: ru.default_place.clone(),
            recording_when: ru.recording_when.clone(),
        });
    }
    let mut groups: Vec<Group> = Vec::new();
    for g in &raw.group {
        let rg = g.get_ref();
        let item = format!("group '{}'", rg.name);
        if rg.name.trim().is_empty() {
            return Err(err(g.span(), "group".into(), "name is empty".into()));
        }
        if groups.iter().any(|o| o.name == rg.name) {
            return Err(err(g.span(), item, "defined twice".into()));
        }
        for (who, list) in [("supervisors", &rg.supervisors), ("agents", &rg.agents)] {
            for name in list {
                let Some(u) = users.iter().find(|u| &u.username == name) else {
                    return Err(err(g.span(), item, format!("{who}: no user '{name}'")));
                };
                if who == "supervisors"
                    && !u.roles.iter().any(|r| r == "supervisor" || r == "admin")
                {
                    return Err(err(
                        g.span(),
                        item,
                        format!(
                            "supervisors: '{name}' has neither the supervisor nor the admin role"
                        ),
                    ));
                }
            }
        }
        if let Some(v) = &rg.upload_rate_kbit {
            let r = check_upload_rate(v).map_err(|m| err(g.span(), item.clone(), m))?;
            upload_rates.groups.insert(rg.name.clone(), r);
        }
        groups.push(Group {
            name: rg.name.clone(),
            supervisors: rg.supervisors.clone(),
            agents: rg.agents.clone(),
        });
    }
    let mut retention = Vec::new();
    for r in &raw.retention {
        let rr = r.get_ref();
        let item = "retention".to_string();
        if let Some(g) = &rr.group
            && !groups.iter().any(|o| &o.name == g)
        {
            return Err(err(r.span(), item, format!("group '{g}' does not exist")));
        }
        if let Some(s) = &rr.state
            && !s
                .parse::<crate::recording::RecordingState>()
                .is_ok_and(|s| s.is_final())
        {
            return Err(err(
                r.span(),
                item,
                format!("state '{s}' is not a final state (completed, partial, failed)"),
            ));
        }
        retention.push(Retention {
            keep_days: rr.keep_days,
            group: rr.group.clone(),
            label: rr.label.clone(),
            state: rr.state.clone(),
        });
    }
    let masks = parse_masks(&raw.mask, &groups, &err)?;
    Ok(Directory {
        recording_when: raw.recording_when.map(|r| r.into_inner()),
        allowed_origins: origins,
        switches,
        places,
        users,
        groups,
        retention,
        masks,
        agents_see_own: raw.agents_see_own.unwrap_or(false),
        supervisors_may_download: raw.supervisors_may_download.unwrap_or(true),
        upload_rates,
    })
}

/// Checks the `[[mask]]` rules: each must compile (the same
/// [`capture::MaskRule::new`] SRS uses, so the error names the field and the
/// position in the pattern), name an existing group if any, and have a name
/// of its own; their number is bounded.
fn parse_masks(
    raw: &[Spanned<RawMask>],
    groups: &[Group],
    err: &dyn Fn(Range<usize>, String, String) -> DirectoryError,
) -> Result<Vec<Mask>, DirectoryError> {
    if let Some(extra) = raw.get(MAX_MASKS) {
        return Err(err(
            extra.span(),
            "mask".into(),
            format!("{} mask rules (at most {MAX_MASKS})", raw.len()),
        ));
    }
    let mut masks: Vec<Mask> = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let rm = m.get_ref();
        let item = format!(
            "mask #{} '{}'",
            i + 1,
            rm.name
                .chars()
                .take(capture::rules::MAX_NAME)
                .collect::<String>()
        );
        let action = rm.action.as_deref().unwrap_or("blank");
        let parsed: capture::MaskAction =
            action.parse().map_err(|e: capture::rules::MaskRuleError| {
                err(m.span(), item.clone(), e.to_string())
            })?;
        capture::MaskRule::new(&rm.name, rm.title.as_deref(), rm.class.as_deref(), parsed)
            .map_err(|e| err(m.span(), item.clone(), e.to_string()))?;
        if masks.iter().any(|o| o.spec.name == rm.name) {
            return Err(err(m.span(), item, "defined twice".into()));
        }
        if let Some(g) = &rm.group
            && !groups.iter().any(|o| &o.name == g)
        {
            return Err(err(m.span(), item, format!("group '{g}' does not exist")));
        }
        masks.push(Mask {
            spec: proto::control::MaskSpec {
                name: rm.name.clone(),
                title: rm.title.clone(),
                class: rm.class.clone(),
                action: parsed.to_string(),
            },
            group: rm.group.clone(),
        });
    }
    Ok(masks)
}

/// The masking rules that apply to `username`: the global ones and those of
/// the groups the user is an agent of. Kept in `settings` as JSON
/// (`mask_rules`), written by the import.
pub async fn masks_for(
    pool: &Pool,
    username: &str,
) -> Result<Vec<proto::control::MaskSpec>, sqlx::Error> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'mask_rules'")
            .fetch_optional(pool)
            .await?;
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let all: Vec<Mask> = serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let groups: Vec<String> = sqlx::query_scalar(
        "SELECT group_name FROM group_members WHERE username = ? AND role = 'agent'",
    )
    .bind(username)
    .fetch_all(pool)
    .await?;
    Ok(all
        .into_iter()
        .filter(|m| m.group.as_ref().is_none_or(|g| groups.contains(g)))
        .map(|m| m.spec)
        .collect())
}

/// The upload cap (kbit/s) for `username` from the directory (see
/// [`UploadRates::resolve`]); `None`: no cap from RWS.
pub async fn upload_rate_for(pool: &Pool, username: &str) -> Result<Option<u32>, sqlx::Error> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'upload_rates'")
            .fetch_optional(pool)
            .await?;
    let Some(json) = json else {
        return Ok(None);
    };
    let rates: UploadRates =
        serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let groups: Vec<String> = sqlx::query_scalar(
        "SELECT group_name FROM group_members WHERE username = ? AND role = 'agent'",
    )
    .bind(username)
    .fetch_all(pool)
    .await?;
    Ok(rates.resolve(username, &groups))
}

/// Hashes a password with argon2id (default parameters: 19 MiB, t=2, p=1).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against an argon2id PHC string.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Applies a validated directory in one transaction.
pub async fn import(pool: &Pool, dir: &Directory) -> Result<ImportReport, sqlx::Error> {
    let mut report = ImportReport::default();
    let mut tx = pool.begin().await?;

    for (key, value) in [
        (
            "recording_when",
            dir.recording_when.clone().unwrap_or_default(),
        ),
        (
            "allowed_origins",
            serde_json::to_string(&dir.allowed_origins).unwrap_or_default(),
        ),
    ] {
        let old: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        if old.as_deref() != Some(value.as_str()) {
            sqlx::query("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .bind(key)
                .bind(&value)
                .execute(&mut *tx)
                .await?;
            report.updated += usize::from(old.is_some());
            report.added += usize::from(old.is_none());
        }
    }

    // Users first go (their default places may disappear), then places, then switches.
    let old_users: Vec<UserRow> =
        sqlx::query_as("SELECT username, password_hash, first_name, last_name, roles, default_place, recording_when FROM users")
            .fetch_all(&mut *tx)
            .await?;
    for (name, ..) in &old_users {
        if !dir.users.iter().any(|u| &u.username == name) {
            sqlx::query("DELETE FROM users WHERE username = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM srs_sessions WHERE username = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            report.removed += 1;
        }
    }
    let old_places: Vec<(String,)> = sqlx::query_as("SELECT name FROM places")
        .fetch_all(&mut *tx)
        .await?;
    let old_devices: Vec<(String, String, String)> =
        sqlx::query_as("SELECT dn, switch, place FROM devices ORDER BY rowid")
            .fetch_all(&mut *tx)
            .await?;
    for (name,) in &old_places {
        if !dir.places.iter().any(|p| &p.name == name) {
            sqlx::query("UPDATE users SET default_place = NULL WHERE default_place = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM devices WHERE place = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM places WHERE name = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            report.removed += 1;
        }
    }
    let old_switches: Vec<(String,)> = sqlx::query_as("SELECT name FROM switches")
        .fetch_all(&mut *tx)
        .await?;
    for s in &dir.switches {
        if !old_switches.iter().any(|(o,)| o == s) {
            sqlx::query("INSERT INTO switches(name) VALUES (?)")
                .bind(s)
                .execute(&mut *tx)
                .await?;
            report.added += 1;
        }
    }
    for p in &dir.places {
        let existed = old_places.iter().any(|(o,)| o == &p.name);
        let old: Vec<(String, String)> = old_devices
            .iter()
            .filter(|(_, _, place)| place == &p.name)
            .map(|(dn, sw, _)| (dn.clone(), sw.clone()))
            .collect();
        let new: Vec<(String, String)> = p
            .devices
            .iter()
            .map(|d| (d.dn.clone(), d.switch.clone()))
            .collect();
        if !existed {
            sqlx::query("INSERT INTO places(name) VALUES (?)")
                .bind(&p.name)
                .execute(&mut *tx)
                .await?;
            report.added += 1;
        } else if old != new {
            report.updated += 1;
        }
        if old != new {
            sqlx::query("DELETE FROM devices WHERE place = ?")
                .bind(&p.name)
                .execute(&mut *tx)
                .await?;
            for d in &p.devices {
                // A device that moved from another place is taken over.
                sqlx::query("DELETE FROM devices WHERE dn = ? AND switch = ?")
                    .bind(&d.dn)
                    .bind(&d.switch)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO devices(dn, switch, place) VALUES (?, ?, ?)")
                    .bind(&d.dn)
                    .bind(&d.switch)
                    .bind(&p.name)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    for (name,) in &old_switches {
        if !dir.switches.contains(name) {
            sqlx::query("DELETE FROM devices WHERE switch = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM switches WHERE name = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            report.removed += 1;
        }
    }
    for u in &dir.users {
        let old = old_users.iter().find(|o| o.0 == u.username);
        let hash = match (&u.password, old) {
            (Password::Hash(h), _) => h.clone(),
            (Password::Plain(p), Some(o)) if verify_password(p, &o.1) => o.1.clone(),
            (Password::Plain(p), _) => {
                hash_password(p).map_err(|e| sqlx::Error::Protocol(format!("hashing: {e}")))?
            }
        };
        let roles = u.roles.join(",");
        let row = (
            u.username.clone(),
            hash.clone(),
            u.first_name.clone(),
            u.last_name.clone(),
            roles.clone(),
            u.default_place.clone(),
            u.recording_when.clone(),
        );
        if old == Some(&row) {
            continue;
        }
        if old.is_some() {
            report.updated += 1;
        } else {
            report.added += 1;
        }
        sqlx::query(
            "INSERT INTO users(id, username, password_hash, first_name, last_name, roles, default_place, recording_when)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(username) DO UPDATE SET password_hash = excluded.password_hash,
               first_name = excluded.first_name, last_name = excluded.last_name, roles = excluded.roles,
               default_place = excluded.default_place, recording_when = excluded.recording_when",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&u.username)
        .bind(&hash)
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&roles)
        .bind(&u.default_place)
        .bind(&u.recording_when)
        .execute(&mut *tx)
        .await?;
    }
    // Groups and retention rules: replaced as a whole.
    let old_groups: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT group_name, username, role FROM group_members ORDER BY group_name, role, username",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut new_groups: Vec<(String, String, String)> = dir
        .groups
        .iter()
        .flat_map(|g| {
            g.supervisors
                .iter()
                .map(|u| (g.name.clone(), u.clone(), "supervisor".to_string()))
                .chain(
                    g.agents
                        .iter()
                        .map(|u| (g.name.clone(), u.clone(), "agent".to_string())),
                )
        })
        .collect();
    new_groups.sort();
    new_groups.dedup();
    let old_group_names: Vec<String> = sqlx::query_scalar("SELECT name FROM groups ORDER BY name")
        .fetch_all(&mut *tx)
        .await?;
    let mut new_group_names: Vec<String> = dir.groups.iter().map(|g| g.name.clone()).collect();
    new_group_names.sort();
    if old_groups != new_groups || old_group_names != new_group_names {
        report.updated += 1;
        sqlx::query("DELETE FROM groups").execute(&mut *tx).await?;
        for g in &new_group_names {
            sqlx::query("INSERT INTO groups(name) VALUES (?)")
                .bind(g)
                .execute(&mut *tx)
                .await?;
        }
        for (g, u, r) in &new_groups {
            sqlx::query("INSERT INTO group_members(group_name, username, role) VALUES (?, ?, ?)")
                .bind(g)
                .bind(u)
                .bind(r)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query("DELETE FROM retention_rules")
        .execute(&mut *tx)
        .await?;
    for r in &dir.retention {
        sqlx::query(
            "INSERT INTO retention_rules(keep_days, grp, label, state) VALUES (?, ?, ?, ?)",
        )
        .bind(r.keep_days as i64)
        .bind(&r.group)
        .bind(&r.label)
        .bind(&r.state)
        .execute(&mut *tx)
        .await?;
    }
    for (key, value) in [
        ("agents_see_own", dir.agents_see_own),
        ("supervisors_may_download", dir.supervisors_may_download),
    ] {
        sqlx::query("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let masks = serde_json::to_string(&dir.masks).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let old_masks: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'mask_rules'")
            .fetch_optional(&mut *tx)
            .await?;
    if old_masks.as_deref().unwrap_or("[]") != masks {
        report.updated += 1;
        sqlx::query("INSERT INTO settings(key, value) VALUES ('mask_rules', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(&masks)
            .execute(&mut *tx)
            .await?;
    }
    let rates =
        serde_json::to_string(&dir.upload_rates).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let old_rates: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'upload_rates'")
            .fetch_optional(&mut *tx)
            .await?;
    let empty = serde_json::to_string(&UploadRates::default()).unwrap_or_default();
    if old_rates.as_deref().unwrap_or(&empty) != rates {
        report.updated += 1;
        sqlx::query("INSERT INTO settings(key, value) VALUES ('upload_rates', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(&rates)
            .execute(&mut *tx)
            .await?;
    }
    for u in &dir.users {
        let changed =
            sqlx::query("UPDATE users SET channel = ? WHERE username = ? AND channel != ?")
                .bind(&u.channel)
                .bind(&u.username)
                .bind(&u.channel)
                .execute(&mut *tx)
                .await?;
        report.updated += changed.rows_affected() as usize;
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    const BASE: &str = r#"
[[switch]]
name = "SIP"

[[place]]
name = "P1"
devices = [{ dn = "1001", switch = "SIP" }]
"#;

    fn check(extra: &str, want: Expect) {
        let text = format!("{BASE}{extra}");
        let got = match parse("dir.toml", &text) {
            Ok(d) => format!("ok: {} users", d.users.len()),
            Err(e) => e.to_string(),
        };
        want.assert_eq(&got);
    }

    #[test]
    fn errors_name_file_line_and_item() {
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\ndefault_place = \"P1\"\n",
            expect!["ok: 1 users"],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\ndefault_place = \"Nope\"\n",
            expect!["dir.toml:8: user 'a': default_place 'Nope' does not exist"],
        );
        check(
            "[[place]]\nname = \"P2\"\ndevices = [{ dn = \"1\", switch = \"Other\" }]\n",
            expect!["dir.toml:8: place 'P2': device 1@Other: switch 'Other' does not exist"],
        );
        check(
            "[[place]]\nname = \"P1\"\n",
            expect!["dir.toml:8: place 'P1': duplicate name"],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\ncolour = \"red\"\n",
            expect![
                "dir.toml:12: unknown field `colour`, expected one of `username`, `password`, `password_hash`, `first_name`, `last_name`, `roles`, `default_place`, `recording_when`, `channel`, `upload_rate_kbit`"
            ],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"boss\"]\n",
            expect![[
                r#"dir.toml:8: user 'a': unknown role 'boss'; roles are ["agent", "supervisor", "admin", "integration"]"#
            ]],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\nrecording_when = \"media=chat,x=1\"\n",
            expect![
                "dir.toml:8: user 'a': recording_when column 12: unknown key 'x' (media, queue, direction, data.<key>, sample)"
            ],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\n[[user]]\nusername = \"a\"\npassword = \"y\"\nroles = [\"agent\"]\n",
            expect!["dir.toml:12: user 'a': duplicate username"],
        );
        check(
            "[[user]]\nusername = \"a\"\nroles = [\"agent\"]\n",
            expect!["dir.toml:8: user 'a': password (or password_hash) is required"],
        );
    }

    #[test]
    fn upload_rate_resolution_user_then_lowest_group_then_global() {
        let rates =
            |global: Option<u32>, groups: &[(&str, u32)], users: &[(&str, u32)]| UploadRates {
                global,
                groups: groups.iter().map(|(g, r)| (g.to_string(), *r)).collect(),
                users: users.iter().map(|(u, r)| (u.to_string(), *r)).collect(),
            };
        let full = rates(Some(1000), &[("a", 300), ("b", 200)], &[("u", 500)]);
        let no_global = rates(None, &[("a", 300)], &[]);
        let table: [(&UploadRates, &str, &[&str], Option<u32>); 9] = [
            // The user's own value wins, even when higher than a group's.
            (&full, "u", &["a", "b"], Some(500)),
            // An agent in several groups: the lowest.
            (&full, "v", &["a", "b"], Some(200)),
            (&full, "v", &["a"], Some(300)),
            // A group without a value does not count.
            (&full, "v", &["c", "a"], Some(300)),
            // No group value: the global one.
            (&full, "v", &["c"], Some(1000)),
            (&full, "v", &[], Some(1000)),
            (&no_global, "v", &["a"], Some(300)),
            (&no_global, "v", &["c"], None),
            (&UploadRates::default(), "u", &["a"], None),
        ];
        for (r, user, groups, want) in table {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            assert_eq!(
                r.resolve(user, &groups),
                want,
                "{user} in {groups:?}: {r:?}"
            );
        }
        // Parsed from a file.
        let text = format!(
            "upload_rate_kbit = 2000\n{BASE}[[user]]\nusername = \"u\"\npassword = \"x\"\nroles = [\"agent\"]\nupload_rate_kbit = 150\n[[user]]\nusername = \"v\"\npassword = \"x\"\nroles = [\"agent\"]\n[[group]]\nname = \"g\"\nagents = [\"u\", \"v\"]\nupload_rate_kbit = 400\n"
        );
        let d = parse("dir.toml", &text).expect("a valid directory");
        assert_eq!(
            d.upload_rates,
            rates(Some(2000), &[("g", 400)], &[("u", 150)])
        );
        assert_eq!(d.upload_rates.resolve("u", &["g".into()]), Some(150));
        assert_eq!(d.upload_rates.resolve("v", &["g".into()]), Some(400));
    }

    #[test]
    fn bad_upload_rates_are_refused_with_line_and_item() {
        let top = |v: &str| match parse("dir.toml", &format!("upload_rate_kbit = {v}\n{BASE}")) {
            Ok(d) => format!("ok: {:?}", d.upload_rates.global),
            Err(e) => e.to_string(),
        };
        expect!["ok: Some(1000000)"].assert_eq(&top("1000000"));
        expect!["ok: Some(1)"].assert_eq(&top("1"));
        expect![
            "dir.toml:1: upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not 0"
        ]
        .assert_eq(&top("0"));
        expect![
            "dir.toml:1: upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not -200"
        ]
        .assert_eq(&top("-200"));
        expect!["dir.toml:1: upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not 1000001"]
            .assert_eq(&top("1000001"));
        expect!["dir.toml:1: upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not 99999999999"]
            .assert_eq(&top("99999999999"));
        expect![[r#"dir.toml:1: upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not "fast""#]]
            .assert_eq(&top("\"fast\""));
        expect![
            "dir.toml:1: upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not 2.5"
        ]
        .assert_eq(&top("2.5"));
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\nupload_rate_kbit = 0\n",
            expect![
                "dir.toml:8: user 'a': upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not 0"
            ],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\nupload_rate_kbit = \"200\"\n",
            expect![[
                r#"dir.toml:8: user 'a': upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not "200""#
            ]],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\n[[group]]\nname = \"g\"\nagents = [\"a\"]\nupload_rate_kbit = -5\n",
            expect![
                "dir.toml:12: group 'g': upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not -5"
            ],
        );
        check(
            "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\n[[group]]\nname = \"g\"\nagents = [\"a\"]\nupload_rate_kbit = 5000000\n",
            expect![
                "dir.toml:12: group 'g': upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not 5000000"
            ],
        );
    }

    #[test]
    fn mask_rules_are_checked_with_line_rule_field_and_position() {
        check(
            "[[mask]]\nname = \"p\"\ntitle = \"(?i)card\"\n[[mask]]\nname = \"k\"\nclass = \"*keepass*\"\naction = \"pause\"\n",
            expect!["ok: 0 users"],
        );
        check(
            "[[mask]]\nname = \"p\"\ntitle = \"ok (unclosed\"\n",
            expect![
                "dir.toml:8: mask #1 'p': mask rule 'p': title regex is invalid at character 4: unclosed group"
            ],
        );
        check(
            "[[mask]]\nname = \"p\"\ntitle = \"x\"\ngroup = \"nope\"\n",
            expect!["dir.toml:8: mask #1 'p': group 'nope' does not exist"],
        );
        check(
            "[[mask]]\nname = \"p\"\ntitle = \"x\"\n[[mask]]\nname = \"p\"\nclass = \"y\"\n",
            expect!["dir.toml:11: mask #2 'p': defined twice"],
        );
        check(
            "[[mask]]\nname = \"p\"\ntitel = \"x\"\n",
            expect![
                "dir.toml:10: unknown field `titel`, expected one of `name`, `title`, `class`, `action`, `group`"
            ],
        );
        let many: String = (0..=MAX_MASKS)
            .map(|i| format!("[[mask]]\nname = \"r{i}\"\ntitle = \"t\"\n"))
            .collect();
        check(
            &many,
            expect!["dir.toml:776: mask: 257 mask rules (at most 256)"],
        );
    }
}
