//! The `screenrec-segments` header of a tus PATCH, read as hostile input
//! (threat-model rule 3): SRS says where each age stream of the body ends
//! (`cipher_len:plain_len:end_ms,…`), and RWS believes only what it can
//! bound. The checks live with the one segment-index type
//! ([`media::segment_index::parse_header`]: checked sums, plaintext shorter
//! than its age stream, [`MAX_SEGMENT`], [`MAX_END_MS`], [`MAX_SEGMENTS`],
//! the age header at every segment boundary); this module turns a refusal
//! into the 400 SRS sees.

use media::crypt::IndexEntry;
use media::segment_index::{IndexError, Sha256};

use crate::error::ApiError;

pub use media::segment_index::{AGE_MAGIC, MAX_END_MS, MAX_SEGMENT, MAX_SEGMENTS};

/// One segment as the header describes it: an index entry whose offsets
/// are relative to the PATCH body.
pub type Segment = IndexEntry;

/// Parses and checks the header against the PATCH `body`.
pub fn parse(header: &[u8], body: &[u8]) -> Result<Vec<Segment>, ApiError> {
    let name = proto::upload::SEGMENTS_HEADER;
    media::segment_index::parse_header(header, body).map_err(|e| match e {
        IndexError::NotText => ApiError::invalid(format!("{name} is not ASCII")),
        e => ApiError::invalid(format!("{name}: {e}")),
    })
}

/// Reads the `screenrec-segment-hashes` header (when sent) into `segs`,
/// the entries [`parse`] returned for the same `body`, and checks each
/// claimed ciphertext hash against the bytes received: a mismatch is a 400
/// and nothing is stored. Every segment leaves with its ciphertext hash
/// (computed here when none was claimed); the plaintext hash stays absent
/// when the client sent none.
pub fn hashes(header: Option<&[u8]>, body: &[u8], segs: &mut [Segment]) -> Result<(), ApiError> {
    let name = proto::upload::SEGMENT_HASHES_HEADER;
    if let Some(h) = header {
        media::segment_index::parse_hashes_header(h, segs).map_err(|e| match e {
            IndexError::NotText => ApiError::invalid(format!("{name} is not ASCII")),
            e => ApiError::invalid(e.to_string()),
        })?;
    }
    let mut at = 0usize;
    for (i, s) in segs.iter_mut().enumerate() {
        // `parse` checked that the cipher lengths tile the body.
        let end = at.saturating_add(s.cipher_len as usize);
        let got = Sha256::of(body.get(at..end).unwrap_or_default());
        match s.cipher_sha256 {
            Some(claimed) if claimed != got => {
                return Err(ApiError::invalid(format!(
                    "{name}: segment {i} (body bytes {at}-{}) has SHA-256 {got}, the header says {claimed} (damaged in transit?)",
                    end.saturating_sub(1)
                )));
            }
            _ => s.cipher_sha256 = Some(got),
        }
        at = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(len: usize) -> Vec<u8> {
        let mut v = AGE_MAGIC.to_vec();
        v.resize(len, b'x');
        v
    }

    #[test]
    fn sizes_that_wrap_are_refused() {
        let body = seg(100);
        let h = format!("{}:1:1,{}:1:1", u64::MAX, 101u64.wrapping_sub(u64::MAX));
        assert!(parse(h.as_bytes(), &body).is_err());
        assert!(parse(b"100:99:5", &body).is_ok());
        assert!(parse(b"100:100:5", &body).is_err(), "plain >= cipher");
        assert!(
            parse(b"50:1:1,50:1:1", &body).is_err(),
            "second is no age stream"
        );
        assert!(parse(b"99:1:1", &body).is_err(), "does not cover the body");
        assert!(parse(b"100:1", &body).is_err());
        assert!(parse(b"100:1:1:1", &body).is_err());
    }

    #[test]
    fn garbage_is_not_an_age_stream() {
        let Err(err) = parse(b"100:10:1", &[0u8; 100]) else {
            panic!("zeros are no age stream");
        };
        assert!(
            format!("{err:?}")
                .contains("screenrec-segments: segment 0 (body byte 0) is not an age stream"),
            "{err:?}"
        );
    }
}
