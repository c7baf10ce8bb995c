//! Encryption of media segments with age (X25519 recipients).
//!
//! An age stream can only emit a partial 64 KiB chunk when it is finalised,
//! so one stream per file would hold seconds of video in memory. Instead
//! every segment (the init segment, then each fragment) is its own complete
//! age stream: each is durable the moment it is written, the agent PC never
//! holds a private key, and the independent `age` CLI decrypts any of them.
//! A media file is its encrypted segments concatenated, plus a
//! [`SegmentIndex`] (ciphertext and plaintext offsets) that lets
//! [`DecryptingReader`] serve any plaintext byte range by decrypting only the
//! segments it touches. Without the index (a crash lost it),
//! [`SegmentIndex::scan`] rebuilds it from the age headers.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::str::FromStr;

use age::x25519;

use crate::{MediaError, Result};

/// Parses an age X25519 recipient (`age1...`).
pub fn parse_recipient(s: &str) -> Result<x25519::Recipient> {
    x25519::Recipient::from_str(s.trim())
        .map_err(|e| MediaError::Crypt(format!("'{s}' is not an age X25519 recipient: {e}")))
}

/// Parses an age X25519 identity (`AGE-SECRET-KEY-1...`), e.g. a line of an
/// age key file.
pub fn parse_identity(s: &str) -> Result<x25519::Identity> {
    x25519::Identity::from_str(s.trim())
        .map_err(|e| MediaError::Crypt(format!("not an age X25519 identity: {e}")))
}

/// Reads the first identity of an age key file (comments skipped).
pub fn read_identity_file(path: &std::path::Path) -> Result<x25519::Identity> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| MediaError::Crypt(format!("{} holds no AGE-SECRET-KEY", path.display())))
        .and_then(parse_identity)
}

/// Encrypts one segment into one complete age stream.
pub fn encrypt_segment(plain: &[u8], recipients: &[x25519::Recipient]) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        return Err(MediaError::Crypt("no recipients".into()));
    }
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| MediaError::Crypt(e.to_string()))?;
    let mut out = Vec::with_capacity(plain.len() + 256);
    let mut w = encryptor.wrap_output(&mut out)?;
    w.write_all(plain)?;
    w.finish()?;
    Ok(out)
}

/// Decrypts one age stream. A truncated stream yields every complete chunk
/// and then the error, as `Err((prefix, error))`.
pub fn decrypt_segment(
    cipher: &[u8],
    identity: &x25519::Identity,
) -> std::result::Result<Vec<u8>, (Vec<u8>, MediaError)> {
    let decryptor = match age::Decryptor::new(cipher) {
        Ok(d) => d,
        Err(e) => return Err((Vec::new(), MediaError::Crypt(e.to_string()))),
    };
    let mut reader = match decryptor.decrypt(std::iter::once(identity as &dyn age::Identity)) {
        Ok(r) => r,
        Err(e) => return Err((Vec::new(), MediaError::Crypt(e.to_string()))),
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err((out, MediaError::Crypt(e.to_string()))),
        }
    }
}

pub use crate::segment_index::{
    AGE_MAGIC, IndexEntry, IndexError, MAX_SEGMENT, SegmentIndex, SegmentRead,
};

impl SegmentIndex {
    /// Rebuilds the index of concatenated age streams by finding their
    /// headers and decrypting each. Stops at the first segment that does not
    /// decrypt completely (a truncated tail).
    pub fn scan(cipher: &[u8], identity: &x25519::Identity) -> Self {
        let mut starts: Vec<usize> = Vec::new();
        let mut i = 0;
        while let Some(p) = find(&cipher[i..], AGE_MAGIC) {
            starts.push(i + p);
            i += p + AGE_MAGIC.len();
        }
        let mut index = SegmentIndex::default();
        for (k, &s) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(cipher.len());
            match decrypt_segment(&cipher[s..end], identity) {
                Ok(plain) => {
                    index.push((end - s) as u64, plain.len() as u64);
                }
                Err(_) => break,
            }
        }
        index
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad_index(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("segment index: {msg}"))
}

/// Decrypts segment `k` (`entry`) from its ciphertext, checking both
/// lengths against the index: the one decrypt step of every reader (the
/// [`DecryptingReader`] here, RWS's streamed playback via
/// [`SegmentRead::cut`]).
pub fn decrypt_entry(
    k: usize,
    entry: &IndexEntry,
    cipher: &[u8],
    identity: &x25519::Identity,
) -> io::Result<Vec<u8>> {
    if cipher.len() as u64 != entry.cipher_len {
        return Err(bad_index(format!(
            "segment {k}: {} ciphertext bytes in the file, index says {}",
            cipher.len(),
            entry.cipher_len
        )));
    }
    let plain = decrypt_segment(cipher, identity)
        .map_err(|(_, e)| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    if plain.len() as u64 != entry.plain_len {
        return Err(bad_index(format!(
            "segment {k}: {} plaintext bytes, index says {}",
            plain.len(),
            entry.plain_len
        )));
    }
    Ok(plain)
}

impl SegmentRead {
    /// Decrypts this step's segment from its `cipher` and returns the
    /// planned slice of its plaintext.
    pub fn cut(&self, cipher: &[u8], identity: &x25519::Identity) -> io::Result<Vec<u8>> {
        let plain = decrypt_entry(self.segment, &self.entry, cipher, identity)?;
        let (from, to) = (self.from as usize, self.to as usize);
        plain.get(from..to).map(<[u8]>::to_vec).ok_or_else(|| {
            bad_index(format!(
                "segment {} has no bytes {from}..{to}",
                self.segment
            ))
        })
    }
}

/// `Read + Seek` over the plaintext of an encrypted media file, decrypting
/// only the segments a read touches (one segment cached).
pub struct DecryptingReader<R> {
    inner: R,
    identity: x25519::Identity,
    index: SegmentIndex,
    pos: u64,
    cache: Option<(usize, Vec<u8>)>,
}

impl<R: Read + Seek> DecryptingReader<R> {
    /// A reader over `inner` (the concatenated age streams) with its index.
    pub fn new(inner: R, identity: x25519::Identity, index: SegmentIndex) -> Self {
        DecryptingReader {
            inner,
            identity,
            index,
            pos: 0,
            cache: None,
        }
    }

    /// Plaintext length.
    pub fn len(&self) -> u64 {
        self.index.plain_len()
    }

    /// True when there is no plaintext.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn segment(&mut self, k: usize) -> io::Result<&[u8]> {
        if self.cache.as_ref().is_none_or(|(c, _)| *c != k) {
            let e = self
                .index
                .entries
                .get(k)
                .copied()
                .ok_or_else(|| bad_index(format!("no segment {k}")))?;
            self.inner.seek(SeekFrom::Start(e.cipher_offset))?;
            // Read what is there, up to the indexed length: the buffer grows
            // with the file's bytes, never to a length the index claims.
            let mut cipher = Vec::new();
            (&mut self.inner)
                .take(e.cipher_len)
                .read_to_end(&mut cipher)?;
            let plain = decrypt_entry(k, &e, &cipher, &self.identity)?;
            self.cache = Some((k, plain));
        }
        Ok(self
            .cache
            .as_ref()
            .map(|(_, p)| p.as_slice())
            .unwrap_or(&[]))
    }
}

impl<R: Read + Seek> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len() {
            return Ok(0);
        }
        let pos = self.pos;
        let k = self
            .index
            .locate(pos)
            .map_err(|e| bad_index(e.to_string()))?;
        let start = self
            .index
            .entries
            .get(k)
            .map(|e| e.plain_offset)
            .ok_or_else(|| bad_index(format!("no segment holds byte {pos}")))?;
        let seg = self.segment(k)?;
        let from = usize::try_from(pos - start)
            .ok()
            .filter(|f| *f < seg.len())
            .ok_or_else(|| bad_index(format!("segment {k} does not hold byte {pos}")))?;
        let n = buf.len().min(seg.len() - from);
        buf[..n].copy_from_slice(&seg[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for DecryptingReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.len() as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}
