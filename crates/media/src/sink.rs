//! Durable destinations for segments: a plain MP4 file, or an encrypted one
//! (concatenated age streams plus a JSON-lines segment index beside it).
//! Every segment is written whole and `fdatasync`'d before the call returns,
//! so after a crash the file holds every segment that was reported written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use age::x25519;

use crate::Result;
use crate::crypt::{IndexEntry, SegmentIndex, encrypt_segment};
use crate::fmp4::Segment;

/// Where segments go.
pub trait SegmentSink: Send {
    /// Writes one segment durably. Returns the bytes written to disk.
    fn write_segment(&mut self, segment: &Segment) -> Result<u64>;
    /// The file the media goes to.
    fn path(&self) -> &Path;
}

/// Appends `bytes` at `len` and syncs; on failure (disk full) cuts the file
/// back to `len`, so it never ends in half a segment.
fn append_whole(file: &mut File, len: u64, bytes: &[u8]) -> Result<()> {
    let written = file.write_all(bytes).and_then(|()| file.sync_data());
    if let Err(e) = written {
        let _ = file.set_len(len);
        let _ = std::io::Seek::seek(file, std::io::SeekFrom::Start(len));
        return Err(e.into());
    }
    Ok(())
}

/// Appends plaintext segments to an MP4 file.
pub struct PlainFileSink {
    file: File,
    path: PathBuf,
    len: u64,
}

impl PlainFileSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path)?;
        Ok(PlainFileSink {
            file,
            path: path.to_path_buf(),
            len: 0,
        })
    }
}

impl SegmentSink for PlainFileSink {
    fn write_segment(&mut self, segment: &Segment) -> Result<u64> {
        append_whole(&mut self.file, self.len, &segment.bytes)?;
        self.len += segment.bytes.len() as u64;
        Ok(segment.bytes.len() as u64)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Encrypts each segment as its own age stream, appends it to `path`, and
/// appends its [`IndexEntry`] to `path` + `.idx` (JSON lines).
pub struct EncryptedFileSink {
    file: File,
    index_file: File,
    path: PathBuf,
    recipients: Vec<x25519::Recipient>,
    index: SegmentIndex,
}

impl EncryptedFileSink {
    /// Creates (truncates) `path` and its index.
    pub fn create(path: &Path, recipients: Vec<x25519::Recipient>) -> Result<Self> {
        let file = File::create(path)?;
        let index_file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(Self::index_path(path))?;
        Ok(EncryptedFileSink {
            file,
            index_file,
            path: path.to_path_buf(),
            recipients,
            index: SegmentIndex::default(),
        })
    }

    /// The index file of an encrypted media file.
    pub fn index_path(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".idx");
        PathBuf::from(p)
    }

    /// The entries written so far.
    pub fn index(&self) -> &[IndexEntry] {
        &self.index.entries
    }
}

impl SegmentSink for EncryptedFileSink {
    fn write_segment(&mut self, segment: &Segment) -> Result<u64> {
        let cipher = encrypt_segment(&segment.bytes, &self.recipients)?;
        let len = self
            .index
            .entries
            .last()
            .map(|e| e.cipher_offset + e.cipher_len)
            .unwrap_or(0);
        append_whole(&mut self.file, len, &cipher)?;
        self.index
            .push(cipher.len() as u64, segment.bytes.len() as u64);
        let end_ms = (segment.start + segment.duration).as_millis() as u64;
        let entry = match self.index.entries.last_mut() {
            Some(e) => {
                e.end_ms = Some(end_ms);
                // The start of the evidence chain: the plaintext's hash is
                // taken here, before anything leaves this process.
                e.plain_sha256 = Some(crate::segment_index::Sha256::of(&segment.bytes));
                e.cipher_sha256 = Some(crate::segment_index::Sha256::of(&cipher));
                *e
            }
            None => return Err(crate::MediaError::Crypt("index is empty".into())),
        };
        self.index_file
            .write_all(SegmentIndex::json_line(&entry).as_bytes())?;
        self.index_file.sync_data()?;
        Ok(cipher.len() as u64)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
