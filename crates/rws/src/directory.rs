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
use crate::store::directory as store;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::Deserialize;
use toml::Spanned;

use crate::policy::check_recording_when;

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
    app_titles: Option<bool>,
    live_notice: Option<bool>,
    live_view: Option<Spanned<String>>,
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
    /// The app lane keeps window titles (`app_titles`, default true);
    /// false: classes only.
    pub app_titles: bool,
    /// The agent is told while a supervisor watches live (`watched`).
    pub live_notice: bool,
    /// When live view is allowed: `recording` (default) or `always`.
    pub live_view: String,
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
    let live_view = match &raw.live_view {
        None => "recording".to_string(),
        Some(v) if matches!(v.get_ref().as_str(), "recording" | "always") => v.get_ref().clone(),
        Some(v) => {
            return Err(err(
                v.span(),
                "live_view".into(),
                format!(
                    "'{}' is not a live view mode (use \"recording\" or \"always\")",
                    v.get_ref()
                ),
            ));
        }
    };
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
        app_titles: raw.app_titles.unwrap_or(true),
        live_notice: raw.live_notice.unwrap_or(false),
        live_view,
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
    let Some(json) = store::setting(pool, "mask_rules").await? else {
        return Ok(Vec::new());
    };
    let all: Vec<Mask> = serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let groups = store::agent_groups(pool, username).await?;
    Ok(all
        .into_iter()
        .filter(|m| m.group.as_ref().is_none_or(|g| groups.contains(g)))
        .map(|m| m.spec)
        .collect())
}

/// The upload cap (kbit/s) for `username` from the directory (see
/// [`UploadRates::resolve`]); `None`: no cap from RWS.
pub async fn upload_rate_for(pool: &Pool, username: &str) -> Result<Option<u32>, sqlx::Error> {
    let Some(json) = store::setting(pool, "upload_rates").await? else {
        return Ok(None);
    };
    let rates: UploadRates =
        serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let groups = store::agent_groups(pool, username).await?;
    Ok(rates.resolve(username, &groups))
}

/// Whether the app lane keeps window titles (the directory's `app_titles`;
/// yes until a directory says otherwise).
pub async fn app_titles(pool: &Pool) -> Result<bool, sqlx::Error> {
    Ok(store::setting(pool, "app_titles").await?.as_deref() != Some("false"))
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
        let old = store::setting_in(&mut tx, key).await?;
        if old.as_deref() != Some(value.as_str()) {
            store::put_setting(&mut tx, key, &value).await?;
            report.updated += usize::from(old.is_some());
            report.added += usize::from(old.is_none());
        }
    }

    // Users first go (their default places may disappear), then places, then switches.
    let old_users = store::users(&mut tx).await?;
    for old in &old_users {
        if !dir.users.iter().any(|u| u.username == old.username) {
            store::delete_user(&mut tx, &old.username).await?;
            report.removed += 1;
        }
    }
    let old_places = store::places(&mut tx).await?;
    let old_devices = store::devices(&mut tx).await?;
    for name in &old_places {
        if !dir.places.iter().any(|p| &p.name == name) {
            store::delete_place(&mut tx, name).await?;
            report.removed += 1;
        }
    }
    let old_switches = store::switches(&mut tx).await?;
    for s in &dir.switches {
        if !old_switches.contains(s) {
            store::insert_switch(&mut tx, s).await?;
            report.added += 1;
        }
    }
    for p in &dir.places {
        let existed = old_places.contains(&p.name);
        // Compared as sets: the database keeps no order of a place's devices.
        let mut old: Vec<(&str, &str)> = old_devices
            .iter()
            .filter(|d| d.place == p.name)
            .map(|d| (d.dn.as_str(), d.switch.as_str()))
            .collect();
        old.sort_unstable();
        let mut new: Vec<(&str, &str)> = p
            .devices
            .iter()
            .map(|d| (d.dn.as_str(), d.switch.as_str()))
            .collect();
        new.sort_unstable();
        if !existed {
            store::insert_place(&mut tx, &p.name).await?;
            report.added += 1;
        } else if old != new {
            report.updated += 1;
        }
        if old != new {
            store::set_place_devices(&mut tx, &p.name, &p.devices).await?;
        }
    }
    for name in &old_switches {
        if !dir.switches.contains(name) {
            store::delete_switch(&mut tx, name).await?;
            report.removed += 1;
        }
    }
    for u in &dir.users {
        let old = old_users.iter().find(|o| o.username == u.username);
        let hash = match (&u.password, old) {
            (Password::Hash(h), _) => h.clone(),
            (Password::Plain(p), Some(o)) if verify_password(p, &o.password_hash) => {
                o.password_hash.clone()
            }
            (Password::Plain(p), _) => {
                hash_password(p).map_err(|e| sqlx::Error::Protocol(format!("hashing: {e}")))?
            }
        };
        let row = store::UserRow {
            // A new user gets an id; an existing one keeps theirs.
            id: old.map_or_else(|| uuid::Uuid::new_v4().to_string(), |o| o.id.clone()),
            username: u.username.clone(),
            password_hash: hash,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            roles: u.roles.join(","),
            default_place: u.default_place.clone(),
            recording_when: u.recording_when.clone(),
        };
        if old == Some(&row) {
            continue;
        }
        if old.is_some() {
            report.updated += 1;
        } else {
            report.added += 1;
        }
        store::upsert_user(&mut tx, &row).await?;
    }
    // Groups and retention rules: replaced as a whole.
    let old_groups = store::group_members(&mut tx).await?;
    let mut new_groups: Vec<store::Membership> = dir
        .groups
        .iter()
        .flat_map(|g| {
            let member = |username: &String, role: &str| store::Membership {
                group: g.name.clone(),
                username: username.clone(),
                role: role.to_string(),
            };
            g.supervisors
                .iter()
                .map(move |u| member(u, "supervisor"))
                .chain(g.agents.iter().map(move |u| member(u, "agent")))
        })
        .collect();
    new_groups.sort();
    new_groups.dedup();
    let old_group_names = store::group_names(&mut tx).await?;
    let mut new_group_names: Vec<String> = dir.groups.iter().map(|g| g.name.clone()).collect();
    new_group_names.sort();
    if old_groups != new_groups || old_group_names != new_group_names {
        report.updated += 1;
        store::replace_groups(&mut tx, &new_group_names, &new_groups).await?;
    }
    let rules: Vec<store::RetentionRule> = dir
        .retention
        .iter()
        .map(|r| store::RetentionRule {
            keep_days: i64::from(r.keep_days),
            group: r.group.clone(),
            label: r.label.clone(),
            state: r.state.clone(),
        })
        .collect();
    store::replace_retention_rules(&mut tx, &rules).await?;
    for (key, value) in [
        ("agents_see_own", dir.agents_see_own),
        ("supervisors_may_download", dir.supervisors_may_download),
        ("app_titles", dir.app_titles),
        ("live_notice", dir.live_notice),
    ] {
        store::put_setting(&mut tx, key, &value.to_string()).await?;
    }
    store::put_setting(&mut tx, "live_view", &dir.live_view).await?;
    let masks = serde_json::to_string(&dir.masks).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let old_masks = store::setting_in(&mut tx, "mask_rules").await?;
    if old_masks.as_deref().unwrap_or("[]") != masks {
        report.updated += 1;
        store::put_setting(&mut tx, "mask_rules", &masks).await?;
    }
    let rates =
        serde_json::to_string(&dir.upload_rates).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let old_rates = store::setting_in(&mut tx, "upload_rates").await?;
    let empty = serde_json::to_string(&UploadRates::default()).unwrap_or_default();
    if old_rates.as_deref().unwrap_or(&empty) != rates {
        report.updated += 1;
        store::put_setting(&mut tx, "upload_rates", &rates).await?;
    }
    for u in &dir.users {
        if store::set_channel(&mut tx, &u.username, &u.channel).await? {
            report.updated += 1;
        }
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
    fn live_view_knobs() {
        let d = parse("dir.toml", BASE).expect("parses");
        assert_eq!((d.live_notice, d.live_view.as_str()), (false, "recording"));
        let d = parse(
            "dir.toml",
            &format!("live_notice = true\nlive_view = \"always\"\n{BASE}"),
        )
        .expect("parses");
        assert_eq!((d.live_notice, d.live_view.as_str()), (true, "always"));
        let e = parse("dir.toml", &format!("live_view = \"never\"\n{BASE}"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "dir.toml:1: live_view: 'never' is not a live view mode (use \"recording\" or \"always\")"
            )
        );
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

    /// A directory with devices listed out of order, a group whose
    /// supervisor's name sorts between its agents' (so sorting by user and
    /// by role disagree), a rule, and users given by hash (no argon2 run in
    /// the test).
    fn import_text(extra_user: &str, p1: &str, p2: &str) -> String {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2NyZWVucmVjZHVtbXk$0bqP1Qz2i8dl3sTuu4bLJcyIxe0k7WMeCBH2yW5V8Qc";
        format!(
            r#"
recording_when = "media=voice"
[[switch]]
name = "SIP"
[[place]]
name = "P1"
devices = [{p1}]
[[place]]
name = "P2"
devices = [{p2}]
[[user]]
username = "sup"
password_hash = "{hash}"
roles = ["supervisor"]
[[user]]
username = "a1"
password_hash = "{hash}"
roles = ["agent"]
default_place = "P2"
channel = "blended"
[[user]]
username = "zed"
password_hash = "{hash}"
roles = ["agent"]
{extra_user}
[[group]]
name = "g"
supervisors = ["sup"]
agents = ["zed", "a1"]
[[retention]]
keep_days = 30
group = "g"
"#
        )
    }

    #[tokio::test]
    async fn import_twice_is_a_noop_and_what_left_the_file_is_removed() {
        #![allow(clippy::unwrap_used)]
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open_db(dir.path()).await.unwrap();
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2NyZWVucmVjZHVtbXk$0bqP1Qz2i8dl3sTuu4bLJcyIxe0k7WMeCBH2yW5V8Qc";
        let extra = format!(
            "[[user]]\nusername = \"gone\"\npassword_hash = \"{hash}\"\nroles = [\"agent\"]\ndefault_place = \"P1\"\n"
        );
        let first = parse(
            "d.toml",
            &import_text(
                &extra,
                r#"{ dn = "9", switch = "SIP" }, { dn = "10", switch = "SIP" }, { dn = "2", switch = "SIP" }"#,
                r#"{ dn = "5", switch = "SIP" }"#,
            ),
        )
        .unwrap();
        let report = import(&db, &first).await.unwrap();
        // Two settings, a switch, two places, four users.
        assert_eq!((report.added, report.removed), (9, 0), "{report:?}");
        let ids: Vec<String> = {
            let mut tx = db.begin().await.unwrap();
            store::users(&mut tx)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.id)
                .collect()
        };
        // The same file again: nothing changes (devices out of order included).
        let again = import(&db, &first).await.unwrap();
        assert!(again.is_noop(), "{again:?}");
        // A user leaves; device 2 moves from P1 to P2.
        let second = parse(
            "d.toml",
            &import_text(
                "",
                r#"{ dn = "9", switch = "SIP" }, { dn = "10", switch = "SIP" }"#,
                r#"{ dn = "2", switch = "SIP" }, { dn = "5", switch = "SIP" }"#,
            ),
        )
        .unwrap();
        let report = import(&db, &second).await.unwrap();
        assert_eq!(
            (report.added, report.updated, report.removed),
            (0, 2, 1),
            "{report:?}"
        );
        let mut tx = db.begin().await.unwrap();
        let users = store::users(&mut tx).await.unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["a1", "sup", "zed"]);
        // Users who stay keep their ids.
        assert!(users.iter().all(|u| ids.contains(&u.id)));
        let devices: Vec<(String, String)> = store::devices(&mut tx)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.dn, d.place))
            .collect();
        let want = [("10", "P1"), ("9", "P1"), ("2", "P2"), ("5", "P2")]
            .map(|(d, p)| (d.to_string(), p.to_string()));
        assert_eq!(devices, want);
        tx.commit().await.unwrap();
        assert!(import(&db, &second).await.unwrap().is_noop());
        assert_eq!(store::agent_groups(&db, "a1").await.unwrap(), ["g"]);
        assert_eq!(
            store::setting(&db, "recording_when")
                .await
                .unwrap()
                .as_deref(),
            Some("media=voice")
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
