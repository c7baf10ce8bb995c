//! The segment index of an encrypted media file — one type, [`SegmentIndex`]
//! of [`IndexEntry`], and its two encodings, used by everyone who holds an
//! index: SRS's spool (`stream-<n>.age.idx`), the upload (SRS writes the
//! `screenrec-segments` header, RWS parses it), RWS's database, and the
//! seeking readers ([`crate::crypt::DecryptingReader`] and the read plan
//! RWS's playback streams).
//!
//! - **JSON lines** ([`SegmentIndex::to_json_lines`] /
//!   [`SegmentIndex::from_json_lines`]): one entry per line, as appended
//!   while recording. Only a last line without its newline (a crash while
//!   appending) may be dropped; anything else that is not a valid entry is
//!   an [`IndexError`] naming the line, never a shorter or empty index.
//! - **Header** ([`header`] / [`parse_header`]): `cipher_len:plain_len:end_ms`
//!   per segment, comma-separated, describing a PATCH body. The header is
//!   hostile input to RWS (threat-model rule 3), so the parser believes only
//!   what it can bound: the cipher lengths sum (checked) to the body length,
//!   a plaintext is shorter than its age stream, no segment is longer than
//!   [`MAX_SEGMENT`], media times stay under [`MAX_END_MS`], at most
//!   [`MAX_SEGMENTS`] per body, and every segment starts with the age header.
//!
//! - **Hashes header** ([`hashes_header`] / [`parse_hashes_header`]):
//!   `plain_sha256:cipher_sha256` (hex) per segment, comma-separated, in
//!   the separate `screenrec-segment-hashes` header of the same PATCH, so
//!   an RWS that does not know it ignores it. The plaintext hash is what
//!   SRS computed as it wrote the fMP4 bytes (the start of the evidence
//!   chain); RWS checks the ciphertext hash against the bytes it received.
//!
//! Every decoded index is [validated](SegmentIndex::validate): entries tile
//! the ciphertext and the plaintext from offset 0 without hole or overlap,
//! so a reader's arithmetic on them cannot wrap or reach outside a segment.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// The first line of every age v1 stream.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Largest segment (one fMP4 fragment, encrypted) a header may describe;
/// also the most a reader holds in memory at once.
pub const MAX_SEGMENT: u64 = 64 << 20;

/// Latest media time a header's segment may end at: 31 days, in ms.
pub const MAX_END_MS: u64 = 31 * 24 * 3600 * 1000;

/// Most segments one header may describe.
pub const MAX_SEGMENTS: usize = 4096;

/// Longest piece of a bad header quoted back in an error.
const QUOTE_MAX: usize = 64;

/// Why an index (or a header) was refused. The `Display` text says which
/// entry or line and what is wrong, for a log or an HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The header is not text.
    #[error("is not ASCII")]
    NotText,
    /// The header describes more than [`MAX_SEGMENTS`] segments.
    #[error("more than {MAX_SEGMENTS} segments in one PATCH")]
    TooManySegments,
    /// A header entry is not three integers (`text` is quoted, bounded).
    #[error("'{text}' is not 'cipher_len:plain_len:end_ms' (three non-negative integers)")]
    Malformed {
        /// Entry number (0-based).
        entry: usize,
        /// The entry as sent, cut to a bounded length.
        text: String,
    },
    /// A cipher length of 0 or above [`MAX_SEGMENT`].
    #[error("segment {entry} has cipher length {len}; it must be 1..={MAX_SEGMENT}")]
    CipherLen {
        /// Entry number.
        entry: usize,
        /// The length claimed.
        len: u64,
    },
    /// A plaintext not shorter than its age stream (age only adds bytes).
    #[error("segment {entry} claims {plain} plaintext bytes in a {cipher}-byte age stream")]
    PlainLen {
        /// Entry number.
        entry: usize,
        /// Plaintext length claimed.
        plain: u64,
        /// Cipher length claimed.
        cipher: u64,
    },
    /// A media time past [`MAX_END_MS`].
    #[error("segment {entry} ends at {end_ms} ms, past {MAX_END_MS}")]
    EndMs {
        /// Entry number.
        entry: usize,
        /// The time claimed.
        end_ms: u64,
    },
    /// The segments run past the body.
    #[error("segment {entry} ends past the {body_len}-byte body")]
    PastBody {
        /// Entry number.
        entry: usize,
        /// The body's length.
        body_len: u64,
    },
    /// A segment's bytes do not start with the age header.
    #[error("segment {entry} (body byte {at}) is not an age stream")]
    NotAge {
        /// Entry number.
        entry: usize,
        /// Where it starts in the body.
        at: u64,
    },
    /// The segments do not cover the whole body.
    #[error("the segments cover {covered} bytes, the body has {body_len}")]
    Coverage {
        /// Bytes the segments describe.
        covered: u64,
        /// The body's length.
        body_len: u64,
    },
    /// A JSON line that is not an entry.
    #[error("line {line}: {reason}")]
    Line {
        /// Line number (1-based).
        line: usize,
        /// What the JSON parser said.
        reason: String,
    },
    /// A hashes header that does not fit its segments header.
    #[error("screenrec-segment-hashes: {0}")]
    Hashes(String),
    /// Entries that do not tile the file (a hole, an overlap, a wrap).
    #[error("segment {entry}: {reason}")]
    Entry {
        /// Entry number (0-based).
        entry: usize,
        /// What is wrong.
        reason: String,
    },
    /// A read past the plaintext or through a segment the index lacks.
    #[error("no segment holds plaintext byte {0}")]
    NoSegment(u64),
}

/// Where one segment lies, in the ciphertext and in the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Offset of the segment's age stream in the encrypted file.
    pub cipher_offset: u64,
    /// Length of the age stream.
    pub cipher_len: u64,
    /// Offset of the segment in the plaintext MP4.
    pub plain_offset: u64,
    /// Length of the plaintext segment.
    pub plain_len: u64,
    /// Media time at the end of the segment, in milliseconds (absent in
    /// indexes rebuilt by [`crate::crypt::SegmentIndex::scan`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// SHA-256 of the segment's plaintext (fMP4 bytes), computed by SRS as
    /// it wrote them (absent in old spools and from clients that do not
    /// send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_sha256: Option<Sha256>,
    /// SHA-256 of the segment's age stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher_sha256: Option<Sha256>,
}

/// A SHA-256 digest; JSON and headers carry it as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        use sha2::Digest;
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// From exactly 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Sha256> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Sha256(out))
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256::from_hex(&s).ok_or_else(|| serde::de::Error::custom("a SHA-256 is 64 hex digits"))
    }
}

impl IndexEntry {
    /// End of the segment in the ciphertext. Saturating: lengths may come
    /// from a client's header, and a sum past `u64::MAX` must not wrap to a
    /// small offset (no such file can be read anyway).
    pub fn cipher_end(&self) -> u64 {
        self.cipher_offset.saturating_add(self.cipher_len)
    }

    /// End of the segment in the plaintext (saturating, as [`Self::cipher_end`]).
    pub fn plain_end(&self) -> u64 {
        self.plain_offset.saturating_add(self.plain_len)
    }

    /// The entry's JSON line (with the newline). Written by hand, so that
    /// encoding cannot fail; the same text serde writes for this struct.
    pub fn json_line(&self) -> String {
        let end = match self.end_ms {
            Some(ms) => format!(",\"end_ms\":{ms}"),
            None => String::new(),
        };
        let hash = |name: &str, h: Option<Sha256>| match h {
            Some(h) => format!(",\"{name}\":\"{h}\""),
            None => String::new(),
        };
        format!(
            "{{\"cipher_offset\":{},\"cipher_len\":{},\"plain_offset\":{},\"plain_len\":{}{end}{}{}}}\n",
            self.cipher_offset,
            self.cipher_len,
            self.plain_offset,
            self.plain_len,
            hash("plain_sha256", self.plain_sha256),
            hash("cipher_sha256", self.cipher_sha256),
        )
    }
}

/// The segment index of an encrypted media file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentIndex {
    /// Entries in file order.
    pub entries: Vec<IndexEntry>,
}

/// One step of a read plan: which segment to decrypt, and which slice of
/// its plaintext (`from..to`, segment-relative) the reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRead {
    /// Position of the segment in the index.
    pub segment: usize,
    /// The segment.
    pub entry: IndexEntry,
    /// First wanted plaintext byte, relative to the segment.
    pub from: u64,
    /// End (exclusive) of the wanted plaintext, relative to the segment.
    pub to: u64,
}

impl SegmentIndex {
    /// Appends an entry for a segment written after the existing ones.
    pub fn push(&mut self, cipher_len: u64, plain_len: u64) -> IndexEntry {
        let (co, po) = self
            .entries
            .last()
            .map(|e| (e.cipher_end(), e.plain_end()))
            .unwrap_or((0, 0));
        let e = IndexEntry {
            cipher_offset: co,
            cipher_len,
            plain_offset: po,
            plain_len,
            end_ms: None,
            plain_sha256: None,
            cipher_sha256: None,
        };
        self.entries.push(e);
        e
    }

    /// Total plaintext length.
    pub fn plain_len(&self) -> u64 {
        self.entries.last().map(IndexEntry::plain_end).unwrap_or(0)
    }

    /// Total ciphertext length.
    pub fn cipher_len(&self) -> u64 {
        self.entries.last().map(IndexEntry::cipher_end).unwrap_or(0)
    }

    /// Latest media time of any entry (0 when none has one).
    pub fn end_ms(&self) -> u64 {
        self.entries
            .iter()
            .filter_map(|e| e.end_ms)
            .max()
            .unwrap_or(0)
    }

    /// Checks that the entries tile the ciphertext and the plaintext from
    /// offset 0, each segment a non-empty age stream longer than its
    /// plaintext, without a sum that wraps.
    pub fn validate(&self) -> Result<(), IndexError> {
        let (mut c, mut p) = (0u64, 0u64);
        for (i, e) in self.entries.iter().enumerate() {
            let bad = |reason: String| IndexError::Entry { entry: i, reason };
            if e.cipher_offset != c {
                return Err(bad(format!(
                    "starts at cipher byte {}, the previous one ends at {c}",
                    e.cipher_offset
                )));
            }
            if e.plain_offset != p {
                return Err(bad(format!(
                    "starts at plaintext byte {}, the previous one ends at {p}",
                    e.plain_offset
                )));
            }
            if e.cipher_len == 0 || e.plain_len >= e.cipher_len {
                return Err(bad(format!(
                    "{} plaintext bytes in a {}-byte age stream",
                    e.plain_len, e.cipher_len
                )));
            }
            c = c
                .checked_add(e.cipher_len)
                .ok_or_else(|| bad("ciphertext end past 2^64".into()))?;
            p = p
                .checked_add(e.plain_len)
                .ok_or_else(|| bad("plaintext end past 2^64".into()))?;
        }
        Ok(())
    }

    /// One JSON line for an entry (with the newline): [`IndexEntry::json_line`].
    pub fn json_line(entry: &IndexEntry) -> String {
        entry.json_line()
    }

    /// The JSON-lines form: one [`IndexEntry::json_line`] per entry.
    pub fn to_json_lines(&self) -> String {
        self.entries.iter().map(IndexEntry::json_line).collect()
    }

    /// Parses the JSON-lines form and [validates](Self::validate) it.
    /// Blank lines are skipped. A last line without its newline that does
    /// not parse is a torn append (crash mid-write) and is dropped; every
    /// other bad line is an error naming it.
    pub fn from_json_lines(text: &str) -> Result<Self, IndexError> {
        let mut entries = Vec::new();
        let torn_tail = !text.is_empty() && !text.ends_with('\n');
        let lines: Vec<&str> = text.split('\n').collect();
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<IndexEntry>(line) {
                Ok(e) => entries.push(e),
                Err(_) if torn_tail && i == last => break,
                Err(e) => {
                    return Err(IndexError::Line {
                        line: i + 1,
                        reason: e.to_string(),
                    });
                }
            }
        }
        let index = SegmentIndex { entries };
        index.validate()?;
        Ok(index)
    }

    /// The segment holding plaintext byte `pos`.
    pub fn locate(&self, pos: u64) -> Result<usize, IndexError> {
        let k = self.entries.partition_point(|e| e.plain_end() <= pos);
        // An index whose entries do not tile the plaintext (a hole, an
        // overlap) is an error, never an out-of-bounds read.
        self.entries
            .get(k)
            .filter(|e| e.plain_offset <= pos && pos < e.plain_end())
            .map(|_| k)
            .ok_or(IndexError::NoSegment(pos))
    }

    /// The read plan of plaintext bytes `range` (inclusive, as HTTP Range
    /// has it): each segment it touches, in order, with the slice wanted.
    /// Empty for an empty range or index; an error when a byte of the range
    /// lies in no segment (past the end, a hole).
    pub fn plan(&self, range: RangeInclusive<u64>) -> Result<Vec<SegmentRead>, IndexError> {
        let (start, end) = (*range.start(), *range.end());
        if start > end || self.entries.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.locate(start)?;
        let last = self.locate(end)?;
        Ok(self.entries[first..=last]
            .iter()
            .enumerate()
            .map(|(i, e)| SegmentRead {
                segment: first + i,
                entry: *e,
                from: start.saturating_sub(e.plain_offset),
                to: end
                    .saturating_add(1)
                    .min(e.plain_end())
                    .saturating_sub(e.plain_offset),
            })
            // Empty segments inside the range hold none of its bytes.
            .filter(|r| r.from < r.to)
            .collect())
    }
}

/// The `screenrec-segments` header of a PATCH carrying `entries`:
/// `cipher_len:plain_len:end_ms`, comma-separated (a missing time is 0).
pub fn header(entries: &[IndexEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}:{}:{}", e.cipher_len, e.plain_len, e.end_ms.unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a `screenrec-segments` header against the PATCH `body` it
/// describes, as hostile input (see the module doc). The entries come back
/// with offsets relative to the body (the first at 0, 0) and their `end_ms`
/// set.
pub fn parse_header(header: &[u8], body: &[u8]) -> Result<Vec<IndexEntry>, IndexError> {
    let text = std::str::from_utf8(header).map_err(|_| IndexError::NotText)?;
    let mut out = SegmentIndex::default();
    let mut at: u64 = 0;
    let body_len = body.len() as u64;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let entry = out.entries.len();
        if entry == MAX_SEGMENTS {
            return Err(IndexError::TooManySegments);
        }
        let mut nums = part.split(':').map(|n| n.trim().parse::<u64>());
        let (Some(Ok(c)), Some(Ok(p)), Some(Ok(e)), None) =
            (nums.next(), nums.next(), nums.next(), nums.next())
        else {
            return Err(IndexError::Malformed {
                entry,
                text: bounded(part, QUOTE_MAX),
            });
        };
        if c == 0 || c > MAX_SEGMENT {
            return Err(IndexError::CipherLen { entry, len: c });
        }
        if p >= c {
            return Err(IndexError::PlainLen {
                entry,
                plain: p,
                cipher: c,
            });
        }
        if e > MAX_END_MS {
            return Err(IndexError::EndMs { entry, end_ms: e });
        }
        let end = at
            .checked_add(c)
            .filter(|end| *end <= body_len)
            .ok_or(IndexError::PastBody { entry, body_len })?;
        // `at < end <= body_len`: both fit in usize.
        let bytes = body.get(at as usize..end as usize).unwrap_or_default();
        if !bytes.starts_with(AGE_MAGIC) {
            return Err(IndexError::NotAge { entry, at });
        }
        at = end;
        // Lengths are at most MAX_SEGMENT × MAX_SEGMENTS: sums cannot wrap.
        out.push(c, p);
        if let Some(last) = out.entries.last_mut() {
            last.end_ms = Some(e);
        }
    }
    if at != body_len {
        return Err(IndexError::Coverage {
            covered: at,
            body_len,
        });
    }
    Ok(out.entries)
}

/// The `screenrec-segment-hashes` header of a PATCH carrying `entries`
/// (`plain:cipher` hex per segment, comma-separated), or `None` when some
/// entry lacks a hash (then no claim is sent at all).
pub fn hashes_header(entries: &[IndexEntry]) -> Option<String> {
    let parts: Option<Vec<String>> = entries
        .iter()
        .map(|e| Some(format!("{}:{}", e.plain_sha256?, e.cipher_sha256?)))
        .collect();
    parts.filter(|p| !p.is_empty()).map(|p| p.join(","))
}

/// Parses a `screenrec-segment-hashes` header (hostile input) into
/// `entries`, the PATCH's entries as [`parse_header`] returned them: one
/// `plain:cipher` pair per entry, each 64 hex digits. The ciphertext hash
/// is then checked against the body by the caller (it has the bytes).
pub fn parse_hashes_header(header: &[u8], entries: &mut [IndexEntry]) -> Result<(), IndexError> {
    let text = std::str::from_utf8(header).map_err(|_| IndexError::NotText)?;
    let parts: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != entries.len() {
        return Err(IndexError::Hashes(format!(
            "{} hash pairs for {} segments",
            parts.len().min(MAX_SEGMENTS + 1),
            entries.len()
        )));
    }
    for (i, (part, e)) in parts.iter().zip(entries.iter_mut()).enumerate() {
        let pair = part
            .split_once(':')
            .and_then(|(p, c)| Some((Sha256::from_hex(p)?, Sha256::from_hex(c)?)));
        let Some((p, c)) = pair else {
            return Err(IndexError::Hashes(format!(
                "entry {i} '{}' is not 'plain_sha256:cipher_sha256' (64 hex digits each)",
                bounded(part, QUOTE_MAX)
            )));
        };
        e.plain_sha256 = Some(p);
        e.cipher_sha256 = Some(c);
    }
    Ok(())
}

/// `s` cut to at most `max` bytes at a character boundary, with `…`.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
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
    fn header_checks() {
        let body = seg(100);
        let h = format!("{}:1:1,{}:1:1", u64::MAX, 101u64.wrapping_sub(u64::MAX));
        assert!(matches!(
            parse_header(h.as_bytes(), &body),
            Err(IndexError::CipherLen { entry: 0, .. })
        ));
        let ok = parse_header(b"100:99:5", &body);
        assert_eq!(
            ok,
            Ok(vec![IndexEntry {
                cipher_offset: 0,
                cipher_len: 100,
                plain_offset: 0,
                plain_len: 99,
                end_ms: Some(5),
                plain_sha256: None,
                cipher_sha256: None,
            }])
        );
        assert_eq!(
            parse_header(b"100:100:5", &body),
            Err(IndexError::PlainLen {
                entry: 0,
                plain: 100,
                cipher: 100
            })
        );
        assert_eq!(
            parse_header(b"50:1:1,50:1:1", &body),
            Err(IndexError::NotAge { entry: 1, at: 50 })
        );
        assert_eq!(
            parse_header(b"99:1:1", &body),
            Err(IndexError::Coverage {
                covered: 99,
                body_len: 100
            })
        );
        assert!(matches!(
            parse_header(b"100:1", &body),
            Err(IndexError::Malformed { entry: 0, .. })
        ));
        assert!(matches!(
            parse_header(b"100:1:1:1", &body),
            Err(IndexError::Malformed { entry: 0, .. })
        ));
        assert_eq!(
            parse_header(b"100:10:1", &[0u8; 100]),
            Err(IndexError::NotAge { entry: 0, at: 0 })
        );
        assert_eq!(parse_header(&[0xff], &body), Err(IndexError::NotText));
    }

    #[test]
    fn a_corrupt_line_is_an_error_naming_it() {
        let mut ix = SegmentIndex::default();
        ix.push(100, 10);
        ix.push(200, 20);
        let good = ix.to_json_lines();
        assert_eq!(SegmentIndex::from_json_lines(&good), Ok(ix.clone()));
        // Garbage on a complete (newline-terminated) line: an error.
        let bad = good.replacen("\"cipher_len\":200", "\"cipher_len\":\"x\"", 1);
        assert!(matches!(
            SegmentIndex::from_json_lines(&bad),
            Err(IndexError::Line { line: 2, .. })
        ));
        // A torn append (no newline yet): dropped.
        let torn = format!("{good}{{\"cipher_off");
        assert_eq!(SegmentIndex::from_json_lines(&torn), Ok(ix.clone()));
        // A hole: an error naming the entry.
        let hole = good.replacen("\"cipher_offset\":100", "\"cipher_offset\":101", 1);
        assert!(matches!(
            SegmentIndex::from_json_lines(&hole),
            Err(IndexError::Entry { entry: 1, .. })
        ));
    }

    #[test]
    fn json_line_is_what_serde_writes() {
        for (end_ms, hashes) in [(None, false), (Some(7), false), (Some(7), true)] {
            let e = IndexEntry {
                cipher_offset: 1,
                cipher_len: 2,
                plain_offset: 3,
                plain_len: 4,
                end_ms,
                plain_sha256: hashes.then(|| Sha256::of(b"plain")),
                cipher_sha256: hashes.then(|| Sha256::of(b"cipher")),
            };
            let serde = serde_json::to_string(&e).map(|s| s + "\n");
            assert_eq!(serde.ok(), Some(e.json_line()));
            let back: Result<IndexEntry, _> = serde_json::from_str(&e.json_line());
            assert_eq!(back.ok(), Some(e));
        }
    }

    #[test]
    fn an_old_line_without_hashes_still_parses() {
        let old = "{\"cipher_offset\":0,\"cipher_len\":100,\"plain_offset\":0,\"plain_len\":10,\"end_ms\":5}\n";
        let ix = SegmentIndex::from_json_lines(old).unwrap_or_default();
        assert_eq!(ix.entries.len(), 1);
        assert_eq!(ix.entries[0].plain_sha256, None);
    }

    #[test]
    fn hashes_header_round_trips_and_refuses_junk() {
        let body = [seg(100), seg(50)].concat();
        let mut entries = parse_header(b"100:10:1,50:5:2", &body).unwrap_or_default();
        assert_eq!(hashes_header(&entries), None);
        for (i, e) in entries.iter_mut().enumerate() {
            e.plain_sha256 = Some(Sha256::of(&[i as u8]));
            e.cipher_sha256 = Some(Sha256::of(&[i as u8, 1]));
        }
        let h = hashes_header(&entries).unwrap_or_default();
        let mut fresh = parse_header(b"100:10:1,50:5:2", &body).unwrap_or_default();
        assert_eq!(parse_hashes_header(h.as_bytes(), &mut fresh), Ok(()));
        assert_eq!(fresh, entries);
        let one = h.split(',').next().unwrap_or_default().to_string();
        assert!(matches!(
            parse_hashes_header(one.as_bytes(), &mut fresh),
            Err(IndexError::Hashes(_))
        ));
        let junk = format!("{one},zz:{}", "0".repeat(64));
        assert!(matches!(
            parse_hashes_header(junk.as_bytes(), &mut fresh),
            Err(IndexError::Hashes(_))
        ));
    }

    #[test]
    fn plan_cuts_the_range() {
        let mut ix = SegmentIndex::default();
        ix.push(200, 100);
        ix.push(200, 100);
        ix.push(200, 100);
        let plan = ix.plan(150..=249).unwrap_or_default();
        let cuts: Vec<_> = plan.iter().map(|r| (r.segment, r.from, r.to)).collect();
        assert_eq!(cuts, vec![(1, 50, 100), (2, 0, 50)]);
        assert_eq!(ix.plan(0..=299).map(|p| p.len()), Ok(3));
        assert_eq!(ix.plan(0..=300), Err(IndexError::NoSegment(300)));
        assert_eq!(SegmentIndex::default().plan(0..=0), Ok(Vec::new()));
    }
}
