//! Playback and download of one media file (`GET
//! /api/v2/recordings/{call_id}/play|download/{mediaId}`, handler
//! [`crate::http::recordings`]): who may, which media, the key that opens
//! it, the audit entry, and the read plan a `Range` maps to. The handler
//! passes the `Range` header's text in and renders the [`Served`] answer.
//!
//! The read plan (which segments, which slice of each) and the decrypt
//! step are media's ([`media::crypt::SegmentIndex::plan`]), shared with
//! `DecryptingReader`; this module fetches each segment's ciphertext
//! (bounded, [`crate::recordings::read_cipher`]) as the body streams.

use std::net::SocketAddr;

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use media::crypt::decrypt_segment;

use crate::Rws;
use crate::auth::AuthUser;
use crate::compliance::{self, Visibility};
use crate::error::ApiError;
use crate::recordings::{read_cipher, staged_or_stored};
use crate::store;

/// What is asked for.
#[derive(Debug, Clone, Copy)]
pub struct PlayRequest<'a> {
    /// The call the media belongs to.
    pub call_id: &'a str,
    /// The media file.
    pub media_id: &'a str,
    /// The `Range` header's text, when sent (and ASCII).
    pub range: Option<&'a str>,
    /// A download (audited every time, needs the right to download)
    /// rather than playback (audited once per 10 minutes).
    pub download: bool,
}

/// The answer.
pub enum Served {
    /// The plaintext (or the asked range of it), streamed as it decrypts.
    Media(Playback),
    /// A valid range the media cannot satisfy (416); `len` is its size.
    Unsatisfiable {
        /// The media's plaintext length.
        len: u64,
    },
}

/// Decrypted bytes on their way.
pub struct Playback {
    /// The media's plaintext length.
    pub len: u64,
    /// The range served (`Some` → 206 with `Content-Range`), inclusive.
    pub range: Option<(u64, u64)>,
    /// How many bytes `body` yields.
    pub body_len: u64,
    /// The bytes.
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

/// Plays (or downloads) a media file of a call that `vis` sees.
pub async fn serve(
    rws: &Rws,
    (user, vis): (&AuthUser, &Visibility),
    req: PlayRequest<'_>,
    remote: Option<SocketAddr>,
) -> Result<Served, ApiError> {
    let PlayRequest {
        call_id, media_id, ..
    } = req;
    if req.download && !compliance::may_download(&rws.db, user).await? {
        return Err(ApiError::Forbidden(
            "downloading needs the admin role (supervisors_may_download is off)".into(),
        ));
    }
    let recs: Vec<_> = crate::recordings::of_call(&rws.db, call_id)
        .await?
        .into_iter()
        .filter(|r| vis.sees(&r.username))
        .collect();
    let m = store::media::get(&rws.db, media_id).await?;
    let Some(m) = m.filter(|m| recs.iter().any(|r| r.id == m.recording_id)) else {
        return Err(ApiError::NotFound(format!(
            "no media '{media_id}' in the recordings of '{call_id}'"
        )));
    };
    let index = store::media::segments(&rws.db, &m.id).await?;
    let len = index.plain_len();
    let src = staged_or_stored(rws, &m).await?;
    let range = match parse_range(req.range, len) {
        Ok(r) => r,
        Err(()) => return Ok(Served::Unsatisfiable { len }),
    };
    let identities = crate::keys::all_identities(&rws.db, &rws.master)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // The key this file was encrypted to: the one that opens its first segment.
    let identity = match index.entries.first() {
        None => None,
        Some(first) => {
            let cipher = read_cipher(rws, &src, first).await.map_err(|e| {
                ApiError::Status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("media {media_id} cannot be read: {e}"),
                )
            })?;
            identities
                .into_iter()
                .find(|id| decrypt_segment(&cipher, id).is_ok())
        }
    };
    if identity.is_none() && !index.entries.is_empty() {
        return Err(ApiError::Internal(format!(
            "no tenant key opens media {media_id}"
        )));
    }
    if req.download {
        compliance::audit(
            &rws.db,
            &user.username,
            "download",
            media_id,
            &format!("call {call_id}"),
            remote,
        )
        .await?;
    } else {
        compliance::audit_playback(&rws.db, &user.username, media_id, call_id, remote).await?;
    }
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let body_len = if len == 0 { 0 } else { end - start + 1 };
    let plan = if len == 0 {
        Vec::new()
    } else {
        index.plan(start..=end).map_err(|e| {
            ApiError::Internal(format!("the segment index of media {media_id}: {e}"))
        })?
    };
    let state = (rws.clone(), src, identity, plan.into_iter());
    let body = futures_util::stream::unfold(state, |(rws, src, identity, mut plan)| async move {
        let step = plan.next()?;
        let identity_ref = identity.as_ref()?;
        let chunk = match read_cipher(&rws, &src, &step.entry).await {
            Ok(cipher) => step.cut(&cipher, identity_ref).map(Bytes::from),
            Err(err) => Err(std::io::Error::other(err)),
        };
        Some((chunk, (rws, src, identity, plan)))
    });
    Ok(Served::Media(Playback {
        len,
        range: range.map(|_| (start, end)),
        body_len,
        body: Box::pin(body),
    }))
}

/// Parses a single `bytes=` range against `len`: `Ok(None)` for no header
/// and for one RFC 9110 §14.2 says to ignore (not `bytes`, malformed, last
/// before first, several ranges): the whole file is served then.
/// `Err(())` only for a valid range the media cannot satisfy (416).
pub(crate) fn parse_range(value: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(s) = value else { return Ok(None) };
    let Some(spec) = s.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: serve the whole file (allowed by RFC 9110)
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    // Digits only; a number too big for u64 is still valid (and past any end).
    let number = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().unwrap_or(u64::MAX))
    };
    let range = if a.is_empty() {
        let Some(n) = number(b) else { return Ok(None) };
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let Some(start) = number(a) else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            u64::MAX
        } else {
            match number(b) {
                Some(end) if end >= start => end,
                _ => return Ok(None),
            }
        };
        if start >= len {
            return Err(());
        }
        (start, end.min(len - 1))
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let h = Some;
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(h("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(h("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(h("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(h("bytes=95-200"), 100), Ok(Some((95, 99))));
        assert_eq!(parse_range(h("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(h("bytes=-0"), 100), Err(()));
        assert_eq!(
            parse_range(h("bytes=99999999999999999999999-"), 100),
            Err(())
        );
        assert_eq!(
            parse_range(h("bytes=0-99999999999999999999999"), 100),
            Ok(Some((0, 99)))
        );
        assert_eq!(parse_range(h("bytes=0-1,5-6"), 100), Ok(None));
        // Invalid: ignored (RFC 9110 §14.2), the whole file is served.
        for bad in [
            "bytes=5-2",
            "items=0-1",
            "bytes=abc",
            "bytes=a-b",
            "bytes=-",
            "bytes=1-+2",
            "bytes=--1",
            "bytes 0-1",
        ] {
            assert_eq!(parse_range(h(bad), 100), Ok(None), "{bad}");
        }
    }
}

/// Property tests (issue 10, rule 3): any `Range` header gives no range, a
/// range inside the file, or a refusal; never a panic.
#[cfg(test)]
mod proptests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::parse_range;

    /// As the handler does: the header's text when it is ASCII.
    fn check(value: &[u8], len: u64) -> Result<(), TestCaseError> {
        let Ok(v) = HeaderValue::from_bytes(value) else {
            return Ok(());
        };
        if let Ok(Some((a, b))) = parse_range(v.to_str().ok(), len) {
            prop_assert!(a <= b && b < len, "{a}-{b} outside 0..{len}");
        }
        Ok(())
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            (0u64..2000).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just(u64::MAX.to_string()),
            Just("18446744073709551616".to_string()),
            Just("-1".to_string()),
            Just(" 7 ".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn range_random_bytes(
            value in prop::collection::vec(any::<u8>(), 0..64),
            len in prop_oneof![Just(0u64), 0u64..5000, any::<u64>()],
        ) {
            check(&value, len)?;
        }

        #[test]
        fn range_bytes_spec(
            a in number(),
            b in number(),
            sep in prop_oneof![Just("-"), Just("--"), Just(""), Just(",")],
            len in prop_oneof![Just(0u64), 0u64..5000, Just(u64::MAX)],
        ) {
            check(format!("bytes={a}{sep}{b}").as_bytes(), len)?;
        }
    }
}
