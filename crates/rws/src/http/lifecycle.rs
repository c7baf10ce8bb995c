//! `GET /api/v2/recordings/events`: recording state changes as
//! server-sent events, filtered by what the viewer may see. The events are
//! published by [`crate::lifecycle`]; each has the `id:` of its place in the
//! event log, and a client reconnecting with `Last-Event-ID` gets what it
//! missed ([`crate::lifecycle::resumable`]), on any node.

use crate::Rws;
use crate::error::ApiError;
use crate::http::authz::Viewer;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::StreamExt;

/// `GET /api/v2/recordings/events`: server-sent events, one per state change.
pub async fn sse(
    State(rws): State<Rws>,
    Viewer { user, visibility }: Viewer,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // The same visibility as the REST endpoints (rule 7): a supervisor gets
    // the events of their groups' agents only, replayed ones included.
    if !(user.has("admin") || user.has("supervisor")) {
        return Err(ApiError::Forbidden(
            "this needs the role admin or supervisor".into(),
        ));
    }
    let after = last_event_id(&headers)?;
    let stream = crate::lifecycle::resumable(rws, after).filter_map(move |event| {
        if !visibility.sees(&event.agent) {
            return None;
        }
        Some(Ok(Event::default()
            .event("recording")
            .id(event.seq.to_string())
            .data(serde_json::to_string(&event).unwrap_or_default())))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The `Last-Event-ID` a reconnecting client sends: the decimal `id:` of
/// the last event it got. Anything else (not a number, negative, past
/// 64 bits) is refused with 400 rather than guessed at.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(
            "Last-Event-ID must be the id of an event of this stream: a decimal number of at most 18 digits",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse::<i64>().map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(v: &str) -> Result<Option<i64>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert("last-event-id", v.parse().unwrap());
        last_event_id(&h)
    }

    #[test]
    fn last_event_id_is_a_decimal_of_at_most_18_digits() {
        assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
        assert_eq!(parse("0").unwrap(), Some(0));
        assert_eq!(parse(" 42 ").unwrap(), Some(42));
        assert_eq!(
            parse("999999999999999999").unwrap(),
            Some(999_999_999_999_999_999)
        );
    }

    #[test]
    fn hostile_a_forged_last_event_id_is_a_400_naming_the_header() {
        for v in [
            "",
            "-1",
            "+1",
            "1e3",
            "0x10",
            "abc",
            "1 2",
            "1,2",
            "١٢", // Arabic-Indic digits
            "1234567890123456789",
            "99999999999999999999",
        ] {
            let mut h = HeaderMap::new();
            // from_bytes: non-ASCII bytes are a valid header value too.
            h.insert(
                "last-event-id",
                axum::http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
            let e = last_event_id(&h).expect_err(v);
            assert!(matches!(e, ApiError::BadRequest { .. }), "{v}: {e:?}");
            assert!(e.to_string().contains("Last-Event-ID"), "{e}");
        }
        // Not even text.
        let mut h = HeaderMap::new();
        h.insert(
            "last-event-id",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert!(last_event_id(&h).is_err());
    }
}
