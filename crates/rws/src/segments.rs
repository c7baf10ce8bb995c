//! The `screenrec-segments` header of a tus PATCH, read as hostile input
//! (threat-model rule 3): SRS says where each age stream of the body ends
//! (`cipher_len:plain_len:end_ms,…`), and RWS believes only what it can
//! bound. Every number is checked before it is added or used as a size:
//! the cipher lengths must sum (checked) to the body length, a plaintext is
//! never longer than its ciphertext (age only adds), no segment is longer
//! than [`MAX_SEGMENT`], media times stay under [`MAX_END_MS`], and every
//! segment starts with the age header — bytes that are not an age stream
//! are refused at the segment boundary instead of being stored as media.

use crate::error::ApiError;

/// The age header every segment starts with.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Largest segment (one fMP4 fragment, encrypted); also the most the play
/// path reads into memory at once.
pub const MAX_SEGMENT: u64 = 64 << 20;

/// Latest media time a segment may end at: 31 days, in milliseconds.
pub const MAX_END_MS: u64 = 31 * 24 * 3600 * 1000;

/// Most segments one PATCH may describe.
pub const MAX_SEGMENTS: usize = 4096;

/// One segment as the header describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Length of its age stream in the body.
    pub cipher_len: u64,
    /// Length of its plaintext.
    pub plain_len: u64,
    /// Media time at its end, in milliseconds.
    pub end_ms: u64,
}

/// Parses and checks the header against the PATCH `body`.
pub fn parse(header: &[u8], body: &[u8]) -> Result<Vec<Segment>, ApiError> {
    let name = proto::upload::SEGMENTS_HEADER;
    let text = std::str::from_utf8(header)
        .map_err(|_| ApiError::invalid(format!("{name} is not ASCII")))?;
    let mut out = Vec::new();
    let mut at: u64 = 0;
    let body_len = body.len() as u64;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if out.len() == MAX_SEGMENTS {
            return Err(ApiError::invalid(format!(
                "{name}: more than {MAX_SEGMENTS} segments in one PATCH"
            )));
        }
        let mut nums = part.split(':').map(|n| n.trim().parse::<u64>());
        let (Some(Ok(c)), Some(Ok(p)), Some(Ok(e)), None) =
            (nums.next(), nums.next(), nums.next(), nums.next())
        else {
            return Err(ApiError::invalid(format!(
                "{name}: '{}' is not 'cipher_len:plain_len:end_ms' (three non-negative integers)",
                crate::agent_input::bounded(part, 64)
            )));
        };
        let seg = Segment {
            cipher_len: c,
            plain_len: p,
            end_ms: e,
        };
        let i = out.len();
        if c == 0 || c > MAX_SEGMENT {
            return Err(ApiError::invalid(format!(
                "{name}: segment {i} has cipher length {c}; it must be 1..={MAX_SEGMENT}"
            )));
        }
        if p >= c {
            return Err(ApiError::invalid(format!(
                "{name}: segment {i} claims {p} plaintext bytes in a {c}-byte age stream"
            )));
        }
        if e > MAX_END_MS {
            return Err(ApiError::invalid(format!(
                "{name}: segment {i} ends at {e} ms, past {MAX_END_MS}"
            )));
        }
        let end = at
            .checked_add(c)
            .filter(|end| *end <= body_len)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{name}: segment {i} ends past the {body_len}-byte body"
                ))
            })?;
        // `at < end <= body_len`: both fit in usize.
        if !body[at as usize..end as usize].starts_with(AGE_MAGIC) {
            return Err(ApiError::invalid(format!(
                "{name}: segment {i} (body byte {at}) is not an age stream"
            )));
        }
        at = end;
        out.push(seg);
    }
    if at != body_len {
        return Err(ApiError::invalid(format!(
            "{name}: the segments cover {at} bytes, the body has {body_len}"
        )));
    }
    Ok(out)
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
        assert!(parse(b"100:10:1", &[0u8; 100]).is_err());
    }
}
