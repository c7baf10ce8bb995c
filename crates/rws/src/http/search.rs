//! `GET /api/v2/recordings`: search the screen recordings a user may see.
//!
//! Filters: `agent`, `group`, `from`/`to` (start time, RFC 3339), `call_id`,
//! `state` (one, or several comma-separated), `label`, `has_pause`, `min_duration`/`max_duration` (seconds),
//! `caller`/`dialed` (phone numbers, `*` wildcard), `app` (an app on the
//! timeline: glob on its `WM_CLASS`, `*`/`?`, case-insensitive). As in GIR, a search
//! without any filter needs a time range. Sorted by start time (`sort=
//! -startTime`, the default, or `startTime`); pages of `limit` (1..=200,
//! default 50) with opaque `next`/`prev` cursors that stay stable while
//! new recordings arrive.

use crate::Rws;
use crate::compliance::Visibility;
use crate::error::ApiError;
use crate::http::authz::Viewer;
use crate::http::recordings::RecordingSummary;
use crate::recording::RecordingState;
use crate::recording::{Rec, parse_time, rfc3339};
use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest page.
pub const MAX_LIMIT: u32 = 200;

/// Query parameters.
#[derive(Deserialize, Default, Clone, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_pause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dialed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

fn bad(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("'{name}' {why}"))
}

fn seconds(name: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .map(|s| {
            s.parse::<u32>().map(|n| n as i64 * 1000).map_err(|_| {
                bad(
                    name,
                    format!("must be a whole number of seconds, got '{s}'"),
                )
            })
        })
        .transpose()
}

/// A position in the result order: direction, start time, id.
fn encode_cursor(dir: char, at: &str, id: &str) -> String {
    B64.encode(format!("{dir}|{at}|{id}"))
}

fn decode_cursor(c: &str) -> Result<(char, String, String), ApiError> {
    let text = B64
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("cursor", "is not a cursor this server gave"))?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(d @ ("n" | "p")), Some(at), Some(id)) if parse_time(at).is_some() => Ok((
            d.chars().next().unwrap_or('n'),
            at.to_string(),
            id.to_string(),
        )),
        _ => Err(bad("cursor", "is not a cursor this server gave")),
    }
}

/// `GET /api/v2/recordings` (admin; supervisors: their groups' agents).
pub async fn search(
    State(rws): State<Rws>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
    Viewer {
        visibility: vis, ..
    }: Viewer,
) -> Result<Json<SearchPage>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::invalid(format!(
            "{} (parameters: agent, group, from, to, call_id, state, label, has_pause, min_duration, max_duration, caller, dialed, app, sort, limit, cursor)",
            e.body_text()
        ))
    })?;
    let from = q
        .from
        .as_deref()
        .map(|v| {
            parse_time(v).map(rfc3339).ok_or_else(|| {
                bad(
                    "from",
                    format!("must be RFC 3339 (2026-01-05T10:00:00Z), got '{v}'"),
                )
            })
        })
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|v| {
                parse_time(v).map(rfc3339).ok_or_else(|| {
                    bad(
                        "to",
                        format!("must be RFC 3339 (2026-01-05T10:00:00Z), got '{v}'"),
                    )
                })
            })
            .transpose()?;
    if let (Some(f), Some(t)) = (&from, &to)
        && t < f
    {
        return Err(bad("to", "is before 'from'"));
    }
    // One state, or several separated by commas (the console's failures
    // view asks for every unfinished state in one query).
    // A set: repeats bind once, so the query stays at most 7 states long.
    let states: std::collections::BTreeSet<&str> = match &q.state {
        None => Default::default(),
        Some(s) => s.split(',').collect(),
    };
    for s in &states {
        if s.parse::<RecordingState>().is_err() {
            return Err(bad(
                "state",
                format!(
                    "'{s}' is unknown (one or more, comma-separated, of {})",
                    RecordingState::names()
                ),
            ));
        }
    }
    let has_pause = match q.has_pause.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(bad(
                "has_pause",
                format!("must be true or false, got '{v}'"),
            ));
        }
    };
    let min_ms = seconds("min_duration", &q.min_duration)?;
    let max_ms = seconds("max_duration", &q.max_duration)?;
    if let (Some(a), Some(b)) = (min_ms, max_ms)
        && b < a
    {
        return Err(bad("max_duration", "is below 'min_duration'"));
    }
    let ascending = match q.sort.as_deref() {
        None | Some("-startTime") => false,
        Some("startTime") => true,
        Some(v) => {
            return Err(bad(
                "sort",
                format!("must be startTime or -startTime, got '{v}'"),
            ));
        }
    };
    let limit: u32 = match q.limit.as_deref() {
        None => 50,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(bad("limit", format!("must be 1..={MAX_LIMIT}, got '{v}'"))),
        },
    };
    for (name, v) in [
        ("caller", &q.caller),
        ("dialed", &q.dialed),
        ("label", &q.label),
        ("app", &q.app),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > 64)
        {
            return Err(bad(name, "must be 1 to 64 characters"));
        }
    }
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let filtered = q.agent.is_some()
        || q.group.is_some()
        || q.call_id.is_some()
        || q.state.is_some()
        || q.label.is_some()
        || has_pause.is_some()
        || min_ms.is_some()
        || max_ms.is_some()
        || q.caller.is_some()
        || q.dialed.is_some()
        || q.app.is_some();
    if !filtered && (from.is_none() || to.is_none()) {
        return Err(ApiError::invalid(
            "a search without filters needs a time range: give 'from' and 'to' (or a filter such as agent, call_id, state)",
        ));
    }
    if let Visibility::Agents(a) = &vis
        && a.is_empty()
    {
        return Ok(Json(SearchPage {
            next: None,
            prev: None,
            recordings: Vec::new(),
        }));
    }

    // Going backwards (a `prev` cursor) reads in the opposite order, then flips.
    let backwards = cursor.as_ref().is_some_and(|c| c.0 == 'p');
    let read_ascending = ascending != backwards;
    let filter = crate::search::Filter {
        visible: match &vis {
            Visibility::Agents(agents) => Some(agents.iter().map(String::as_str).collect()),
            _ => None,
        },
        agent: q.agent.as_deref(),
        group: q.group.as_deref(),
        from: from.as_deref(),
        to: to.as_deref(),
        call_id: q.call_id.as_deref(),
        states: states.iter().copied().collect(),
        label: q.label.as_deref(),
        has_pause,
        min_ms,
        max_ms,
        caller: q.caller.as_deref(),
        dialed: q.dialed.as_deref(),
        app: q.app.as_deref(),
        after: cursor
            .as_ref()
            .map(|(_, at, id)| (at.as_str(), id.as_str())),
        ascending: read_ascending,
        limit: limit as i64 + 1,
    };
    let mut recs: Vec<Rec> = crate::search::recordings(&rws, &filter).await?;
    let more = recs.len() > limit as usize;
    recs.truncate(limit as usize);
    if backwards {
        recs.reverse();
    }
    // `more` is about the direction we read in.
    let (has_next, has_prev) = match (&cursor, backwards) {
        (None, _) => (more, false),
        (Some(_), false) => (more, true),
        (Some(_), true) => (true, more),
    };
    let link = |dir: char, r: &Rec| {
        let mut q2 = q.clone();
        q2.cursor = Some(encode_cursor(dir, &r.requested_at, &r.id));
        format!("/api/v2/recordings?{}", serde_urlencoded_like(&q2))
    };
    let next = if has_next {
        recs.last().map(|r| link('n', r))
    } else {
        None
    };
    let prev = if has_prev {
        recs.first().map(|r| link('p', r))
    } else {
        None
    };
    let mut out = Vec::new();
    for rec in &recs {
        out.push(crate::http::recordings::summary(&rws, rec).await?);
    }
    Ok(Json(SearchPage {
        next,
        prev,
        recordings: out,
    }))
}

/// One page of `GET /api/v2/recordings` (fields in JSON name order, see
/// [`crate::http::recordings`]).
#[derive(Debug, Serialize)]
pub struct SearchPage {
    next: Option<String>,
    prev: Option<String>,
    recordings: Vec<RecordingSummary>,
}

/// `a=b&c=d` of the non-empty parameters, percent-encoded.
fn serde_urlencoded_like(q: &SearchQuery) -> String {
    let v = serde_json::to_value(q).unwrap_or(Value::Null);
    let Value::Object(map) = v else {
        return String::new();
    };
    map.iter()
        .filter_map(|(k, v)| v.as_str().map(|s| format!("{k}={}", pct(s))))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Property tests (issue 10, rule 3): the search cursor a client sends back
/// decodes to a position or a 400, never a panic; a cursor we made decodes
/// to what was encoded.
#[cfg(test)]
mod proptests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::{decode_cursor, encode_cursor};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn cursor_random_text(c in "\\PC{0,80}") {
            if let Err(e) = decode_cursor(&c) {
                prop_assert!(axum::response::IntoResponse::into_response(e).status().is_client_error());
            }
        }

        #[test]
        fn cursor_round_trip_and_mutations(
            dir in prop_oneof![Just('n'), Just('p')],
            id in "\\PC{0,40}",
            cut in 0usize..80,
        ) {
            let at = "2026-01-02T03:04:05.678Z";
            let c = encode_cursor(dir, at, &id);
            prop_assert_eq!(decode_cursor(&c).unwrap(), (dir, at.to_string(), id));
            let _ = decode_cursor(&c[..cut.min(c.len())]);
        }
    }
}
