//! Checks on what an SRS sends (threat-model rules 1, 3 and 6): a rogue
//! agent runs their own "SRS", so every string kept from a frame is
//! bounded, every id that may reach a path or an object key is a UUID, and
//! every command `seq` stays in a range where `+ 1` cannot wrap.

use crate::error::ApiError;

/// Longest string RWS keeps from a control frame (`last_error`, reasons).
pub const MAX_KEPT: usize = 512;

/// Largest control-channel message SRS may send. Real frames are a few
/// hundred bytes (a hello with a dozen monitors stays under 4 KiB).
pub const MAX_FRAME: usize = 64 << 10;

/// Highest command `seq` RWS accepts from SRS (`hello.last_seq`): 2^53, so
/// `seq + 1` neither wraps a `u64` nor loses precision in JSON or SQLite.
pub const MAX_SEQ: u64 = 1 << 53;

/// `s` cut to at most `max` bytes on a char boundary (marked with `…`).
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// [`bounded`] for an optional string, with [`MAX_KEPT`].
pub fn kept(s: Option<&str>) -> Option<String> {
    s.map(|s| bounded(s, MAX_KEPT))
}

/// Refuses (400) an id that is not a UUID: ids from the network become
/// staging paths and object keys only after this.
pub fn uuid(what: &str, id: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::invalid(format!("{what} '{}' is not a UUID", bounded(id, 64))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_a_char_boundary() {
        let s = "é".repeat(400);
        let b = bounded(&s, MAX_KEPT);
        assert!(b.len() <= MAX_KEPT);
        assert!(b.ends_with('…'));
        assert_eq!(bounded("short", MAX_KEPT), "short");
    }

    #[test]
    fn uuid_refuses_paths() {
        assert!(uuid("upload", "../../etc/passwd").is_err());
        assert!(uuid("upload", "6f9c1c9e-3b1a-4a57-9d55-2b1f0c1d2e3f").is_ok());
    }
}
