//! tus 1.0 under `/api/v2/srs/uploads` and `PUT
//! /api/v2/srs/recordings/{id}/end`: the HTTP side. Each handler takes the
//! upload token off the request, checks `Tus-Resumable`, turns the tus
//! headers into a typed request ([`CreateRequest`], [`AppendRequest`]) and
//! renders what the core ([`crate::uploads`]) answers as tus headers and
//! status codes. Appending, finishing and storing are the core's.

use std::collections::HashMap;

use crate::Rws;
use crate::agent_input;
use crate::auth;
use crate::error::ApiError;
use crate::uploads::{
    AppendRequest, Checksum, ChecksumAlgorithm, CreateRequest, MAX_SIZE, Upload, recording_of,
    upload_of,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proto::upload::{RecordingEnd, SEGMENT_HASHES_HEADER, SEGMENTS_HEADER};

/// The tus protocol version spoken.
pub(crate) const TUS_VERSION: &str = "1.0.0";
/// The tus extensions supported.
pub(crate) const EXTENSIONS: &str = "creation,creation-defer-length,termination,checksum";

/// `OPTIONS /api/v2/srs/uploads`: what this server supports.
pub async fn options() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut resp);
    let h = resp.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static("sha1,sha256"),
    );
    if let Ok(v) = HeaderValue::from_str(&MAX_SIZE.to_string()) {
        h.insert("tus-max-size", v);
    }
    resp
}

/// `POST /api/v2/srs/uploads`: creates the upload of one media file.
pub async fn create(State(rws): State<Rws>, headers: HeaderMap) -> Response {
    async {
        let rec = recording_of(&rws, auth::bearer_token(&headers).as_deref()).await?;
        check_version(&headers)?;
        let req = create_request(&headers)?;
        let id = crate::uploads::create(&rws, &rec, &req).await?;
        let mut resp = StatusCode::CREATED.into_response();
        tus_headers(&mut resp);
        if let Ok(v) = HeaderValue::from_str(&format!("/api/v2/srs/uploads/{id}")) {
            resp.headers_mut().insert(axum::http::header::LOCATION, v);
        }
        Ok::<_, ApiError>(resp)
    }
    .await
    .unwrap_or_else(tus_error)
}

/// `HEAD /api/v2/srs/uploads/{id}`: the offset to resume from.
pub async fn head(State(rws): State<Rws>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    async {
        let rec = recording_of(&rws, auth::bearer_token(&headers).as_deref()).await?;
        check_version(&headers)?;
        let up = upload_of(&rws, &rec, &id).await?;
        Ok::<_, ApiError>(offset_response(StatusCode::OK, &up))
    }
    .await
    .unwrap_or_else(tus_error)
}

/// `PATCH /api/v2/srs/uploads/{id}`: appends bytes at `Upload-Offset`.
pub async fn patch(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Response {
    async {
        // The upload token is checked before a byte of the body is read (up
        // to MAX_PATCH): a stranger's body costs RWS nothing (threat model,
        // rule 4).
        let rec = recording_of(&rws, auth::bearer_token(&headers).as_deref()).await?;
        check_version(&headers)?;
        let req = append_request(&headers)?;
        let up = crate::uploads::append(&rws, &rec, &id, req, body).await?;
        Ok::<_, ApiError>(offset_response(StatusCode::NO_CONTENT, &up))
    }
    .await
    .unwrap_or_else(tus_error)
}

/// `DELETE /api/v2/srs/uploads/{id}` (termination).
pub async fn terminate(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    async {
        let rec = recording_of(&rws, auth::bearer_token(&headers).as_deref()).await?;
        check_version(&headers)?;
        crate::uploads::terminate(&rws, &rec, &id).await?;
        let mut resp = StatusCode::NO_CONTENT.into_response();
        tus_headers(&mut resp);
        Ok::<_, ApiError>(resp)
    }
    .await
    .unwrap_or_else(tus_error)
}

/// `PUT /api/v2/srs/recordings/{id}/end`: SRS has uploaded every media
/// file of the recording; RWS finishes it.
pub async fn end(
    State(rws): State<Rws>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Ended>, ApiError> {
    agent_input::uuid("recording", &id)?;
    let rec = recording_of(&rws, auth::bearer_token(&headers).as_deref()).await?;
    if rec.id != id {
        return Err(ApiError::Forbidden(format!(
            "this upload token is for recording {}, not {id}",
            rec.id
        )));
    }
    let end: RecordingEnd = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"reason\", \"interrupted\", \"stopped_at\", \"media_files\", \"marks\"}})"
        ))
    })?;
    let ended = crate::uploads::end(&rws, rec, &end).await?;
    Ok(Json(Ended {
        id: ended.id,
        state: ended.state.as_str(),
    }))
}

/// `PUT /api/v2/srs/recordings/{id}/end`: the recording's state after the
/// report.
#[derive(Debug, serde::Serialize)]
pub struct Ended {
    id: String,
    state: &'static str,
}

/// Headers every tus answer carries.
fn tus_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
}

/// An error as a tus answer (with `Tus-Version` on a 412).
fn tus_error(e: ApiError) -> Response {
    let precondition =
        matches!(&e, ApiError::Status(s, _) if *s == StatusCode::PRECONDITION_FAILED);
    let mut resp = e.into_response();
    tus_headers(&mut resp);
    if precondition {
        resp.headers_mut()
            .insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    }
    resp
}

/// `status` with the upload's `Upload-Offset` and `Upload-Length` (or
/// `Upload-Defer-Length: 1`).
fn offset_response(status: StatusCode, up: &Upload) -> Response {
    let mut resp = status.into_response();
    tus_headers(&mut resp);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&up.upload_offset.to_string()) {
        h.insert("upload-offset", v);
    }
    match up.upload_length {
        Some(l) => {
            if let Ok(v) = HeaderValue::from_str(&l.to_string()) {
                h.insert("upload-length", v);
            }
        }
        None => {
            h.insert("upload-defer-length", HeaderValue::from_static("1"));
        }
    }
    resp
}

/// 412 unless `Tus-Resumable: 1.0.0`.
fn check_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(ApiError::Status(
            StatusCode::PRECONDITION_FAILED,
            format!("Tus-Resumable {other} is not supported (1.0.0)"),
        )),
        None => Err(ApiError::Status(
            StatusCode::PRECONDITION_FAILED,
            "Tus-Resumable: 1.0.0 header required".into(),
        )),
    }
}

/// A creation's headers: exactly one of `Upload-Length` and
/// `Upload-Defer-Length: 1`, and `Upload-Metadata`.
fn create_request(headers: &HeaderMap) -> Result<CreateRequest, ApiError> {
    let length = header_u64(headers, "upload-length")?;
    let deferred = headers
        .get("upload-defer-length")
        .map(|v| v.as_bytes() == b"1");
    match (length, deferred) {
        (Some(_), Some(true)) => Err(ApiError::invalid(
            "send Upload-Length or Upload-Defer-Length: 1, not both",
        )),
        (None, None) => Err(ApiError::invalid(
            "Upload-Length or Upload-Defer-Length: 1 required",
        )),
        (_, Some(false)) => Err(ApiError::invalid("Upload-Defer-Length must be 1")),
        _ => Ok(CreateRequest {
            length,
            metadata: parse_metadata(headers)?,
        }),
    }
}

/// A PATCH's headers: the content type tus requires, `Upload-Offset`,
/// and the optional `Upload-Length`, `Upload-Checksum` and segments header.
fn append_request(headers: &HeaderMap) -> Result<AppendRequest, ApiError> {
    if headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes() != b"application/offset+octet-stream")
    {
        return Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/offset+octet-stream".into(),
        ));
    }
    let offset = header_u64(headers, "upload-offset")?
        .ok_or_else(|| ApiError::invalid("Upload-Offset header required"))?;
    Ok(AppendRequest {
        offset,
        length: header_u64(headers, "upload-length")?,
        checksum: checksum(headers)?,
        segments: headers
            .get(HeaderName::from_static(SEGMENTS_HEADER))
            .map(|h| h.as_bytes().to_vec()),
        segment_hashes: headers
            .get(HeaderName::from_static(SEGMENT_HASHES_HEADER))
            .map(|h| h.as_bytes().to_vec()),
    })
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("{name} must be a non-negative integer"))),
    }
}

fn parse_metadata(headers: &HeaderMap) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    let Some(v) = headers.get("upload-metadata") else {
        return Ok(out);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::invalid("Upload-Metadata is not ASCII"))?;
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        let decoded = B64.decode(value).map_err(|_| {
            ApiError::invalid(format!("Upload-Metadata '{key}': value is not base64"))
        })?;
        let text = String::from_utf8(decoded).map_err(|_| {
            ApiError::invalid(format!("Upload-Metadata '{key}': value is not UTF-8"))
        })?;
        out.insert(key.to_string(), text);
    }
    Ok(out)
}

/// `Upload-Checksum: <algorithm> <base64>`, when sent.
fn checksum(headers: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| ApiError::invalid("Upload-Checksum is not ASCII"))?;
    let (algo, value) = s
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::invalid("Upload-Checksum must be '<algorithm> <base64>'"))?;
    let digest = B64
        .decode(value.trim())
        .map_err(|_| ApiError::invalid("Upload-Checksum value is not base64"))?;
    let algorithm = match algo {
        "sha1" => ChecksumAlgorithm::Sha1,
        "sha256" => ChecksumAlgorithm::Sha256,
        other => {
            return Err(ApiError::invalid(format!(
                "checksum algorithm '{other}' is not supported (sha1, sha256)"
            )));
        }
    };
    Ok(Some(Checksum { algorithm, digest }))
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&Ended {
            id: "r".into(),
            state: "completed",
        });
    }
}

/// The tus headers → typed requests: what is taken, what is refused with
/// which status (the core never sees a header).
#[cfg(test)]
mod request_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sha2::Digest as _;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn status(e: ApiError) -> u16 {
        e.into_response().status().as_u16()
    }

    const OCTETS: (&str, &str) = ("content-type", "application/offset+octet-stream");

    #[test]
    fn a_patch_becomes_an_append_request() {
        let sha = B64.encode(sha2::Sha256::digest(b"abc"));
        let h = headers(&[
            OCTETS,
            ("upload-offset", "42"),
            ("upload-length", "100"),
            ("upload-checksum", &format!("sha256 {sha}")),
            ("screenrec-segments", "58:10:1000"),
        ]);
        let req = append_request(&h).unwrap();
        assert_eq!(req.offset, 42);
        assert_eq!(req.length, Some(100));
        assert_eq!(req.segments.as_deref(), Some(&b"58:10:1000"[..]));
        let c = req.checksum.unwrap();
        assert_eq!(c.algorithm, ChecksumAlgorithm::Sha256);
        assert!(c.verify(b"abc").is_ok());
        assert_eq!(status(c.verify(b"abd").unwrap_err()), 460);
    }

    #[test]
    fn a_patch_without_its_content_type_or_offset_is_refused() {
        let no_type = headers(&[("upload-offset", "0")]);
        assert_eq!(status(append_request(&no_type).unwrap_err()), 415);
        let other_type = headers(&[("content-type", "video/mp4"), ("upload-offset", "0")]);
        assert_eq!(status(append_request(&other_type).unwrap_err()), 415);
        let no_offset = headers(&[OCTETS]);
        assert_eq!(status(append_request(&no_offset).unwrap_err()), 400);
        for bad in ["-1", "1e3", "18446744073709551616", "0x10"] {
            let h = headers(&[OCTETS, ("upload-offset", bad)]);
            assert_eq!(status(append_request(&h).unwrap_err()), 400, "{bad}");
        }
        let md5 = headers(&[
            OCTETS,
            ("upload-offset", "0"),
            ("upload-checksum", "md5 AAAA"),
        ]);
        assert_eq!(status(append_request(&md5).unwrap_err()), 400);
    }

    #[test]
    fn a_creation_declares_its_length_or_defers_it() {
        let declared = create_request(&headers(&[("upload-length", "10")])).unwrap();
        assert_eq!(declared.length, Some(10));
        let deferred = create_request(&headers(&[("upload-defer-length", "1")])).unwrap();
        assert_eq!(deferred.length, None);
        let stream = B64.encode("3");
        let md = create_request(&headers(&[
            ("upload-length", "10"),
            ("upload-metadata", &format!("stream {stream}")),
        ]))
        .unwrap();
        assert_eq!(md.metadata.get("stream").map(String::as_str), Some("3"));
        for refused in [
            headers(&[]),
            headers(&[("upload-length", "10"), ("upload-defer-length", "1")]),
            headers(&[("upload-defer-length", "0")]),
            headers(&[("upload-length", "ten")]),
        ] {
            assert_eq!(status(create_request(&refused).unwrap_err()), 400);
        }
    }
}

/// Property tests (issue 10, rule 3): the tus and segment headers a client
/// sends, random or mutated, give a value or a 4xx, never a panic.
#[cfg(test)]
mod proptests {
    #![allow(clippy::unwrap_used)]

    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::{checksum, header_u64, parse_metadata};
    use crate::segments;

    fn headers(name: &str, value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(value) {
            h.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
        }
        h
    }

    /// Header bytes: any visible byte (HeaderValue refuses controls).
    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop_oneof![32u8..127, 128u8..=255, Just(b'\t')], 0..200)
    }

    /// Segment triples, some near u64::MAX so sums overflow.
    fn triples() -> impl Strategy<Value = String> {
        let n = prop_oneof![0u64..100_000, (u64::MAX - 1000)..=u64::MAX, any::<u64>()];
        prop::collection::vec((n.clone(), n.clone(), n), 0..8).prop_map(|v| {
            v.iter()
                .map(|(c, p, e)| format!("{c}:{p}:{e}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    fn is_client_error(e: crate::error::ApiError) -> bool {
        axum::response::IntoResponse::into_response(e)
            .status()
            .is_client_error()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn upload_offset_and_length_parse_or_are_refused(v in value()) {
            for name in ["upload-offset", "upload-length"] {
                match header_u64(&headers(name, &v), name) {
                    Ok(Some(n)) => prop_assert_eq!(
                        Some(n),
                        std::str::from_utf8(&v).ok().and_then(|s| s.trim().parse().ok())
                    ),
                    Ok(None) => prop_assert!(HeaderValue::from_bytes(&v).is_err()),
                    Err(e) => prop_assert!(is_client_error(e)),
                }
            }
        }

        #[test]
        fn upload_metadata_parses_or_is_refused(v in value()) {
            match parse_metadata(&headers("upload-metadata", &v)) {
                // Never more entries than the header has pairs.
                Ok(m) => prop_assert!(m.len() <= v.iter().filter(|b| **b == b',').count() + 1),
                Err(e) => prop_assert!(is_client_error(e)),
            }
        }

        #[test]
        fn upload_metadata_mutations_of_a_valid_header(
            cut in 0usize..80,
            flip in 0usize..80,
            byte in 32u8..127,
        ) {
            let mut v = b"recording_id MTIzNA==,stream MA==,filetype dmlkZW8vbXA0K2FnZQ==".to_vec();
            if flip < v.len() {
                v[flip] = byte;
            }
            v.truncate(cut.max(1));
            if let Err(e) = parse_metadata(&headers("upload-metadata", &v)) {
                prop_assert!(is_client_error(e));
            }
        }

        #[test]
        fn upload_checksum_matches_or_is_refused(
            v in value(),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            match checksum(&headers("upload-checksum", &v)) {
                Ok(Some(c)) => {
                    if let Err(e) = c.verify(&body) {
                        prop_assert!(is_client_error(e));
                    }
                }
                Ok(None) => prop_assert!(HeaderValue::from_bytes(&v).is_err()),
                Err(e) => prop_assert!(is_client_error(e)),
            }
        }

        #[test]
        fn segments_header_is_bounded_by_the_body(s in triples(), body_len in 0usize..100_000) {
            let body = vec![0u8; body_len];
            match segments::parse(s.as_bytes(), &body) {
                Ok(segs) => {
                    let sum = segs.iter().try_fold(0u64, |a, g| a.checked_add(g.cipher_len));
                    prop_assert_eq!(sum, Some(body_len as u64));
                }
                Err(e) => prop_assert!(is_client_error(e)),
            }
        }

        #[test]
        fn segments_header_random_bytes(v in value(), body_len in 0usize..1000) {
            if let Err(e) = segments::parse(&v, &vec![0u8; body_len]) {
                prop_assert!(is_client_error(e));
            }
        }
    }

    /// Found by `segments_header_is_bounded_by_the_body`: two cipher lengths
    /// whose sum wraps to the body length (a panic in debug builds, accepted
    /// in release).
    #[test]
    fn segments_whose_sizes_wrap_are_refused() {
        let h = format!("{}:1:1,2:1:2", u64::MAX);
        assert!(segments::parse(h.as_bytes(), &[0u8]).is_err());
    }
}
