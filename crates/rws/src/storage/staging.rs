//! Upload staging in the media store: where the bytes of an upload live
//! between "acknowledged" and "stored", so that no upload needs a node's
//! local disk once a PATCH has been answered (a PATCH may land on any RWS
//! node, and a node may die with its disk).
//!
//! Each acknowledged PATCH body is one object, `staging/<media>/<offset>`
//! (the offset zero-padded to 20 digits, so a listing sorts by offset),
//! written **before** the offset moves in the database. The database's
//! `upload_offset` says which parts count: walking from offset 0, each
//! part's size gives the next part's offset, up to the committed offset.
//!
//! A crash between "part written" and "offset committed" leaves an orphan
//! part at the committed offset; nothing reads it (the walk stops at the
//! committed offset, HEAD answers that offset), and the re-sent PATCH,
//! which must start at that offset, overwrites it. An orphan can only ever
//! sit at the committed offset of its time, and every later non-empty
//! PATCH starts exactly there, so it never survives under a counted part.
//!
//! When the upload is complete the parts are composed into the one media
//! object (`recordings/<rec>/<media>.mp4.age`, a multipart upload: S3
//! parts of 8 MiB, whatever the PATCH sizes) and then deleted. One object
//! per media file, rather than keeping the parts, because stored media,
//! its keys, deletion, retention and backups stay what they were, and
//! playback of a stored file is one ranged GET per segment on one key;
//! the copy costs one read and one write of each upload, once.
//! Playback of a media file still uploading reads the parts
//! ([`Parts::read`]).

use std::ops::Range;
use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, WriteMultipart};

use super::Storage;

/// The folder (key prefix) of every staged part.
pub const STAGING: &str = "staging";

/// The key of `media`'s part at `offset`.
fn part_key(media: &str, offset: u64) -> String {
    format!("{STAGING}/{media}/{offset:020}")
}

/// The committed parts of one upload, in order: each `(offset, len)`,
/// contiguous from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    media: String,
    parts: Vec<(u64, u64)>,
}

impl Parts {
    /// The bytes the parts hold.
    pub fn len(&self) -> u64 {
        self.parts.last().map_or(0, |(o, l)| o + l)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Bytes `range` of the staged upload, read from the parts it spans
    /// (one ranged GET each); an error if it reaches past [`Parts::len`].
    pub async fn read(&self, storage: &Storage, range: Range<u64>) -> Result<Vec<u8>, String> {
        if range.end > self.len() || range.start > range.end {
            return Err(format!(
                "bytes {}..{} are past the {} bytes uploaded so far",
                range.start,
                range.end,
                self.len()
            ));
        }
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        for &(offset, len) in &self.parts {
            let (start, end) = (range.start.max(offset), range.end.min(offset + len));
            if start >= end {
                continue;
            }
            let bytes = storage
                .get_range(&part_key(&self.media, offset), start - offset..end - offset)
                .await?;
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}

impl Storage {
    fn staging_dir(&self, media: &str) -> ObjectPath {
        self.path(&format!("{STAGING}/{media}"))
    }

    /// Writes the bytes a PATCH brought at `offset` as their own part
    /// (replacing an orphan left there by a crash). Durable when it
    /// returns: the caller commits the offset only then.
    pub async fn put_part(&self, media: &str, offset: u64, bytes: Bytes) -> Result<(), String> {
        self.store
            .put(&self.path(&part_key(media, offset)), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The parts of `media` that hold its first `committed` bytes (the
    /// offset in the database). A part missing, or one that does not end
    /// where the next begins, is an error naming the offset: the database
    /// and the store disagree.
    pub async fn parts(&self, media: &str, committed: u64) -> Result<Parts, String> {
        let mut sizes = std::collections::BTreeMap::new();
        let mut listing = self.store.list(Some(&self.staging_dir(media)));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| e.to_string())?;
            // Other names (none are written) are not parts.
            if let Some(offset) = meta.location.filename().and_then(|n| n.parse::<u64>().ok()) {
                sizes.insert(offset, meta.size);
            }
        }
        let mut parts = Vec::new();
        let mut at = 0u64;
        while at < committed {
            let len = sizes.get(&at).copied().filter(|l| *l > 0).ok_or_else(|| {
                format!("media {media}: no staged part at offset {at} (of {committed} bytes)")
            })?;
            parts.push((at, len));
            at += len;
        }
        if at != committed {
            return Err(format!(
                "media {media}: the staged parts end at {at}, not at the committed {committed}"
            ));
        }
        Ok(Parts {
            media: media.to_string(),
            parts,
        })
    }

    /// Composes the parts into the object `key` (a streamed multipart
    /// upload: the parts are never all in memory); its size.
    pub async fn compose(&self, key: &str, parts: &Parts) -> Result<u64, String> {
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(|e| e.to_string())?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
        let mut total = 0u64;
        for &(offset, _) in &parts.parts {
            let got = self
                .store
                .get(&self.path(&part_key(&parts.media, offset)))
                .await;
            let mut stream = match got {
                Ok(g) => g.into_stream(),
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e.to_string());
                }
            };
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(e.to_string());
                    }
                };
                writer
                    .wait_for_capacity(4)
                    .await
                    .map_err(|e| e.to_string())?;
                total += chunk.len() as u64;
                writer.put(chunk);
            }
        }
        if total != parts.len() {
            let _ = writer.abort().await;
            return Err(format!(
                "media {}: the parts hold {total} bytes, not {}",
                parts.media,
                parts.len()
            ));
        }
        writer.finish().await.map_err(|e| e.to_string())?;
        Ok(total)
    }

    /// Removes every staged part of `media` (orphans included; none is fine).
    pub async fn delete_staging(&self, media: &str) -> Result<(), String> {
        let mut listing = self.store.list(Some(&self.staging_dir(media)));
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            keys.push(meta.map_err(|e| e.to_string())?.location);
        }
        for key in keys {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Moves a staging file of an RWS from before staging lived here
    /// (`<data-dir>/uploads/<media>`) into the store: its first `committed`
    /// bytes become the part at offset 0 (bytes past the offset are from a
    /// PATCH that failed half-way). Idempotent: run again after a crash it
    /// writes the same part.
    pub async fn adopt_file(&self, media: &str, file: &Path, committed: u64) -> Result<(), String> {
        if committed == 0 {
            return Ok(());
        }
        self.put_file_prefix(&part_key(media, 0), file, committed)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn store() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(None, dir.path()).unwrap();
        (dir, storage)
    }

    fn staged_files(dir: &Path, media: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("media").join(STAGING).join(media))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[tokio::test]
    async fn parts_are_walked_to_the_committed_offset_read_across_and_composed() {
        let (dir, s) = store();
        s.put_part("m1", 0, Bytes::from_static(b"hello "))
            .await
            .unwrap();
        s.put_part("m1", 6, Bytes::from_static(b"staged "))
            .await
            .unwrap();
        s.put_part("m1", 13, Bytes::from_static(b"world"))
            .await
            .unwrap();
        assert_eq!(
            staged_files(dir.path(), "m1"),
            [
                "00000000000000000000",
                "00000000000000000006",
                "00000000000000000013"
            ]
        );
        let parts = s.parts("m1", 18).await.unwrap();
        assert_eq!(parts.len(), 18);
        // A range spanning three parts, and one inside a part.
        assert_eq!(parts.read(&s, 3..15).await.unwrap(), b"lo staged wo");
        assert_eq!(parts.read(&s, 7..9).await.unwrap(), b"ta");
        assert_eq!(parts.read(&s, 18..18).await.unwrap(), b"");
        let past = parts.read(&s, 10..19).await.unwrap_err();
        assert!(past.contains("past the 18 bytes"), "{past}");
        // Fewer committed bytes: only the parts below count.
        assert_eq!(s.parts("m1", 13).await.unwrap().len(), 13);

        assert_eq!(
            s.compose("recordings/r/m1.mp4.age", &parts).await.unwrap(),
            18
        );
        assert_eq!(
            &s.get("recordings/r/m1.mp4.age").await.unwrap()[..],
            b"hello staged world"
        );
        s.delete_staging("m1").await.unwrap();
        assert!(staged_files(dir.path(), "m1").is_empty());
        assert!(
            !dir.path().join("media").join(STAGING).exists(),
            "empty staging folders are removed"
        );
        // Nothing staged: an empty upload, or an error past 0.
        assert!(s.parts("m1", 0).await.unwrap().is_empty());
        let missing = s.parts("m1", 5).await.unwrap_err();
        assert!(missing.contains("no staged part at offset 0"), "{missing}");
    }

    /// A crash after the part was written and before the offset moved:
    /// the orphan is not counted, and the re-sent PATCH (same offset,
    /// maybe other bytes) replaces it.
    #[tokio::test]
    async fn an_orphan_part_is_ignored_then_overwritten_by_the_resent_patch() {
        let (_dir, s) = store();
        s.put_part("m2", 0, Bytes::from_static(b"abc"))
            .await
            .unwrap();
        s.put_part("m2", 3, Bytes::from_static(b"ORPHAN-LONGER"))
            .await
            .unwrap();
        // The database still says 3.
        let parts = s.parts("m2", 3).await.unwrap();
        assert_eq!(parts.read(&s, 0..3).await.unwrap(), b"abc");
        assert!(parts.read(&s, 0..4).await.is_err());
        s.put_part("m2", 3, Bytes::from_static(b"def"))
            .await
            .unwrap();
        let parts = s.parts("m2", 6).await.unwrap();
        s.compose("out", &parts).await.unwrap();
        assert_eq!(&s.get("out").await.unwrap()[..], b"abcdef");
        // A committed offset that does not fall on a part boundary is the
        // database and the store disagreeing: an error, not a guess.
        let err = s.parts("m2", 5).await.unwrap_err();
        assert!(err.contains("end at 6, not at the committed 5"), "{err}");
    }

    #[tokio::test]
    async fn a_legacy_staging_file_is_adopted_up_to_its_committed_offset() {
        let (dir, s) = store();
        let file = dir.path().join("legacy");
        std::fs::write(&file, b"committed|half-written").unwrap();
        s.adopt_file("m3", &file, 9).await.unwrap();
        // Twice (a crash before the file was removed) is the same.
        s.adopt_file("m3", &file, 9).await.unwrap();
        let parts = s.parts("m3", 9).await.unwrap();
        assert_eq!(parts.read(&s, 0..9).await.unwrap(), b"committed");
        // A file shorter than its committed offset is refused.
        let err = s.adopt_file("m4", &file, 100).await.unwrap_err();
        assert!(err.contains("expected 100"), "{err}");
        assert!(s.parts("m4", 100).await.is_err());
    }
}
