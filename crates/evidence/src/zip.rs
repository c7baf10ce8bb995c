//! The bundle's container: a plain zip of *stored* (uncompressed) entries,
//! written as a stream and read back by `screenrec verify`.
//!
//! [`ZipWriter`] is sans-IO: it returns the bytes to send (local headers,
//! data descriptors, the central directory) and is told about each data
//! chunk, so RWS can stream a bundle of any number of media files without
//! buffering a file: sizes and CRC-32 go in a data descriptor after each
//! entry (general-purpose flag bit 3), which every unzip tool reads. MP4 is
//! already compressed, so entries are stored. No Zip64: an entry or the
//! whole bundle must stay under 4 GiB ([`MAX_ZIP`]); RWS checks the sizes
//! before it starts.
//!
//! [`ZipReader`] reads only what the writer writes (stored entries, no
//! Zip64), from a file, one bounded range at a time.

use std::io::{Read, Seek, SeekFrom};

/// Largest entry and largest bundle (classic zip's 32-bit sizes).
pub const MAX_ZIP: u64 = u32::MAX as u64 - 1;
/// Most entries in one bundle.
pub const MAX_ENTRIES: usize = 65_000;

const LOCAL: u32 = 0x0403_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
/// Bit 3 (sizes in a data descriptor) and bit 11 (UTF-8 names).
const FLAGS: u16 = 0x0808;
/// 1980-01-01, the DOS epoch: bundles do not carry file times.
const DOS_DATE: u16 = 0x0021;

/// A zip that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// Past a limit or out of order.
    #[error("zip: {0}")]
    Invalid(String),
    /// Reading the file.
    #[error("zip: {0}")]
    Io(#[from] std::io::Error),
}

fn invalid(s: impl Into<String>) -> ZipError {
    ZipError::Invalid(s.into())
}

struct Central {
    name: String,
    crc: u32,
    size: u32,
    offset: u32,
}

struct Open {
    name: String,
    crc: crc32fast::Hasher,
    size: u64,
    offset: u64,
}

/// Writes a zip of stored entries as a stream (see the module doc).
#[derive(Default)]
pub struct ZipWriter {
    offset: u64,
    done: Vec<Central>,
    open: Option<Open>,
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn small(v: u64, what: &str) -> Result<u32, ZipError> {
    u32::try_from(v)
        .ok()
        .filter(|v| u64::from(*v) <= MAX_ZIP)
        .ok_or_else(|| invalid(format!("{what} past 4 GiB (no Zip64)")))
}

impl ZipWriter {
    /// A new, empty zip.
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Starts entry `name`: returns its local header, to send first.
    pub fn start(&mut self, name: &str) -> Result<Vec<u8>, ZipError> {
        if self.open.is_some() {
            return Err(invalid("an entry is still open"));
        }
        if self.done.len() >= MAX_ENTRIES || name.is_empty() || name.len() > 1024 {
            return Err(invalid(format!("entry '{name}' cannot be added")));
        }
        let mut h = Vec::with_capacity(30 + name.len());
        u32le(&mut h, LOCAL);
        u16le(&mut h, 20);
        u16le(&mut h, FLAGS);
        u16le(&mut h, 0); // stored
        u16le(&mut h, 0);
        u16le(&mut h, DOS_DATE);
        u32le(&mut h, 0); // crc, sizes: in the descriptor
        u32le(&mut h, 0);
        u32le(&mut h, 0);
        u16le(&mut h, name.len() as u16);
        u16le(&mut h, 0);
        h.extend_from_slice(name.as_bytes());
        self.open = Some(Open {
            name: name.to_string(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            offset: self.offset,
        });
        self.offset += h.len() as u64;
        Ok(h)
    }

    /// Notes a chunk of the open entry's data (the caller sends it as is).
    pub fn data(&mut self, chunk: &[u8]) -> Result<(), ZipError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| invalid("data outside an entry"))?;
        open.crc.update(chunk);
        open.size += chunk.len() as u64;
        self.offset += chunk.len() as u64;
        small(open.size, "an entry")?;
        small(self.offset, "the bundle")?;
        Ok(())
    }

    /// Ends the open entry: returns its data descriptor, to send next.
    pub fn end(&mut self) -> Result<Vec<u8>, ZipError> {
        let open = self.open.take().ok_or_else(|| invalid("no open entry"))?;
        let crc = open.crc.finalize();
        let size = small(open.size, "an entry")?;
        let mut d = Vec::with_capacity(16);
        u32le(&mut d, DESCRIPTOR);
        u32le(&mut d, crc);
        u32le(&mut d, size);
        u32le(&mut d, size);
        self.offset += d.len() as u64;
        self.done.push(Central {
            name: open.name,
            crc,
            size,
            offset: small(open.offset, "the bundle")?,
        });
        Ok(d)
    }

    /// A whole small entry at once: header, data and descriptor.
    pub fn entry(&mut self, name: &str, bytes: &[u8]) -> Result<Vec<u8>, ZipError> {
        let mut out = self.start(name)?;
        self.data(bytes)?;
        out.extend_from_slice(bytes);
        out.extend_from_slice(&self.end()?);
        Ok(out)
    }

    /// The central directory and its end record, to send last.
    pub fn finish(self) -> Result<Vec<u8>, ZipError> {
        if self.open.is_some() {
            return Err(invalid("an entry is still open"));
        }
        let mut c = Vec::new();
        for e in &self.done {
            u32le(&mut c, CENTRAL);
            u16le(&mut c, 0x031e); // made by: Unix, zip 3.0
            u16le(&mut c, 20);
            u16le(&mut c, FLAGS);
            u16le(&mut c, 0);
            u16le(&mut c, 0);
            u16le(&mut c, DOS_DATE);
            u32le(&mut c, e.crc);
            u32le(&mut c, e.size);
            u32le(&mut c, e.size);
            u16le(&mut c, e.name.len() as u16);
            u16le(&mut c, 0);
            u16le(&mut c, 0);
            u16le(&mut c, 0);
            u16le(&mut c, 0);
            u32le(&mut c, 0o100644 << 16); // a regular file, rw-r--r--
            u32le(&mut c, e.offset);
            c.extend_from_slice(e.name.as_bytes());
        }
        let cd_size = small(c.len() as u64, "the central directory")?;
        let cd_offset = small(self.offset, "the bundle")?;
        u32le(&mut c, END);
        u16le(&mut c, 0);
        u16le(&mut c, 0);
        u16le(&mut c, self.done.len() as u16);
        u16le(&mut c, self.done.len() as u16);
        u32le(&mut c, cd_size);
        u32le(&mut c, cd_offset);
        u16le(&mut c, 0);
        small(self.offset + c.len() as u64, "the bundle")?;
        Ok(c)
    }
}

/// An entry of a zip being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name (path in the zip).
    pub name: String,
    /// Where its data starts in the file.
    pub data_offset: u64,
    /// Its size.
    pub size: u64,
    /// Its CRC-32 as the central directory says.
    pub crc: u32,
}

/// Reads a zip of stored entries (see the module doc).
pub struct ZipReader<R> {
    inner: R,
    entries: Vec<Entry>,
}

fn le16(b: &[u8], at: usize) -> Result<u16, ZipError> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or_else(|| invalid("truncated record"))
}
fn le32(b: &[u8], at: usize) -> Result<u32, ZipError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| invalid("truncated record"))
}

impl<R: Read + Seek> ZipReader<R> {
    /// Reads the central directory of `inner`.
    pub fn new(mut inner: R) -> Result<ZipReader<R>, ZipError> {
        let len = inner.seek(SeekFrom::End(0))?;
        let tail_len = len.min(22 + 65_535);
        inner.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        inner.read_exact(&mut tail)?;
        let eocd = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| le32(&tail, i).ok() == Some(END))
            .ok_or_else(|| invalid("not a zip file (no end of central directory)"))?;
        let count = le16(&tail, eocd + 10)? as usize;
        let cd_size = u64::from(le32(&tail, eocd + 12)?);
        let cd_offset = u64::from(le32(&tail, eocd + 16)?);
        if cd_offset.checked_add(cd_size).is_none_or(|end| end > len) || cd_size > 64 << 20 {
            return Err(invalid("the central directory lies outside the file"));
        }
        inner.seek(SeekFrom::Start(cd_offset))?;
        let mut cd = vec![0u8; cd_size as usize];
        inner.read_exact(&mut cd)?;
        let mut entries: Vec<Entry> = Vec::with_capacity(count.min(MAX_ENTRIES));
        let mut at = 0usize;
        for _ in 0..count {
            if le32(&cd, at)? != CENTRAL {
                return Err(invalid("damaged central directory"));
            }
            let method = le16(&cd, at + 10)?;
            let crc = le32(&cd, at + 16)?;
            let csize = le32(&cd, at + 20)?;
            let usize_ = le32(&cd, at + 24)?;
            let name_len = le16(&cd, at + 28)? as usize;
            let extra_len = le16(&cd, at + 30)? as usize;
            let comment_len = le16(&cd, at + 32)? as usize;
            let local = u64::from(le32(&cd, at + 42)?);
            let name = cd
                .get(at + 46..at + 46 + name_len)
                .ok_or_else(|| invalid("truncated central directory"))?;
            let name = String::from_utf8_lossy(name).into_owned();
            if method != 0 || csize != usize_ {
                return Err(invalid(format!(
                    "'{name}' is compressed; a screenrec bundle stores its files (was it re-zipped?)"
                )));
            }
            if entries.iter().any(|e| e.name == name) {
                return Err(invalid(format!("'{name}' appears twice")));
            }
            // The data starts after the local header, whose name and extra
            // field lengths may differ from the central directory's.
            let mut lh = [0u8; 30];
            inner.seek(SeekFrom::Start(local))?;
            inner.read_exact(&mut lh)?;
            if le32(&lh, 0)? != LOCAL {
                return Err(invalid(format!("'{name}': no local header at {local}")));
            }
            let data_offset = local + 30 + u64::from(le16(&lh, 26)?) + u64::from(le16(&lh, 28)?);
            let size = u64::from(csize);
            if data_offset.checked_add(size).is_none_or(|end| end > len) {
                return Err(invalid(format!("'{name}' runs past the end of the file")));
            }
            entries.push(Entry {
                name,
                data_offset,
                size,
                crc,
            });
            at += 46 + name_len + extra_len + comment_len;
        }
        Ok(ZipReader { inner, entries })
    }

    /// The entries, in central-directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// `len` bytes of entry `e` from `offset` (bounded by the caller).
    pub fn read_range(&mut self, e: &Entry, offset: u64, len: u64) -> Result<Vec<u8>, ZipError> {
        if offset.checked_add(len).is_none_or(|end| end > e.size) {
            return Err(invalid(format!(
                "'{}' has {} bytes, not {}",
                e.name,
                e.size,
                offset.saturating_add(len)
            )));
        }
        self.inner.seek(SeekFrom::Start(e.data_offset + offset))?;
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// A whole entry of at most `max` bytes.
    pub fn read_small(&mut self, name: &str, max: u64) -> Result<Vec<u8>, ZipError> {
        let e = self
            .entry(name)
            .cloned()
            .ok_or_else(|| invalid(format!("the bundle has no {name}")))?;
        if e.size > max {
            return Err(invalid(format!("{name} is larger than {max} bytes")));
        }
        self.read_range(&e, 0, e.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_chunks_read_back() -> Result<(), ZipError> {
        let mut w = ZipWriter::new();
        let mut out = w.entry("a.txt", b"hello")?;
        out.extend(w.start("media/b.bin")?);
        for chunk in [&b"12"[..], b"345", b""] {
            w.data(chunk)?;
            out.extend_from_slice(chunk);
        }
        out.extend(w.end()?);
        out.extend(w.finish()?);
        let mut r = ZipReader::new(std::io::Cursor::new(out))?;
        let names: Vec<_> = r.entries().iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, vec!["a.txt", "media/b.bin"]);
        assert_eq!(r.read_small("media/b.bin", 10)?, b"12345");
        assert_eq!(r.read_small("a.txt", 10)?, b"hello");
        assert_eq!(
            r.entry("a.txt").map(|e| e.crc),
            Some(crc32fast::hash(b"hello"))
        );
        assert!(r.read_small("a.txt", 2).is_err());
        assert!(r.read_small("c", 2).is_err());
        Ok(())
    }

    #[test]
    fn misuse_is_an_error_not_a_bad_file() {
        let mut w = ZipWriter::new();
        assert!(w.data(b"x").is_err());
        assert!(w.end().is_err());
        assert!(w.start("a").is_ok());
        assert!(w.start("b").is_err());
        assert!(ZipReader::new(std::io::Cursor::new(b"not a zip".to_vec())).is_err());
    }

    #[test]
    fn cut_or_random_files_are_errors() -> Result<(), ZipError> {
        let mut w = ZipWriter::new();
        let mut out = w.entry("a", &[7u8; 100])?;
        out.extend(w.finish()?);
        for cut in 0..out.len() {
            let _ = ZipReader::new(std::io::Cursor::new(out[..cut].to_vec()));
        }
        for flip in 0..out.len() {
            let mut bad = out.clone();
            bad[flip] ^= 0xff;
            if let Ok(mut r) = ZipReader::new(std::io::Cursor::new(bad)) {
                let _ = r.read_small("a", 1000);
            }
        }
        Ok(())
    }
}
