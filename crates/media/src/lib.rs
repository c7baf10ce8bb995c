//! Turns screen frames into crash-safe, optionally encrypted H.264 video.
//!
//! The pipeline, one instance per monitor, driven by the caller (the
//! `recorder` crate):
//!
//! 1. [`convert::I420Frame`] keeps a persistent I420 picture and converts only
//!    the dirty row band of each BGRA frame into it (BT.709, limited range).
//! 2. [`encoder::H264Encoder`] encodes it with OpenH264 in screen-content
//!    mode at a pinned QP (sharp text at a fraction of x264's bytes, see
//!    `docs/performance.md`).
//! 3. [`fmp4::Fmp4Muxer`] packs samples into fragmented MP4: one init segment
//!    (ftyp+moov), then a moof+mdat fragment every ~2 s. Timestamps are the
//!    real capture times, so variable frame rate is exact.
//! 4. A [`sink::SegmentSink`] writes each segment durably: plain (append +
//!    fdatasync) or encrypted ([`crypt`]: each segment its own age stream,
//!    with an index that lets a reader seek without decrypting everything).
//!
//! Seams: this crate knows nothing of screens, HTTP, SQL or async runtimes.
//! The muxer returns segments as bytes; what to do with them is the sink's
//! business. [`paused::paused_frame`] draws the flat frame used while a
//! recording is blanked. [`skip`] writes the all-skip pictures that repeat
//! the previous one without the encoder (the heartbeat of a still screen).

pub mod convert;
pub mod crypt;
pub mod encoder;
pub mod fmp4;
pub mod paused;
pub mod segment_index;
pub mod sink;
pub mod skip;

/// `false` when OpenH264 was built without its assembly (no `nasm` at build
/// time, allowed only with `SCREENREC_ALLOW_NO_NASM=1`): encoding then costs
/// about twice the CPU, and the binary says so at start-up.
pub const ASM_ENABLED: bool = matches!(env!("SCREENREC_OPENH264_ASM").as_bytes(), b"1");

/// Errors of the media pipeline.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Frame or buffer geometry that cannot be processed.
    #[error("bad frame geometry: {0}")]
    Geometry(String),
    /// The colour converter refused its input.
    #[error("colour conversion failed: {0}")]
    Convert(String),
    /// OpenH264 failed.
    #[error("H.264 encoder: {0}")]
    Encoder(String),
    /// MP4 box encoding failed.
    #[error("MP4 writer: {0}")]
    Mux(String),
    /// Encryption or decryption failed.
    #[error("encryption: {0}")]
    Crypt(String),
    /// A segment index (or `screenrec-segments` header) is corrupt.
    #[error("segment index: {0}")]
    Index(#[from] segment_index::IndexError),
    /// Reading or writing a file failed (disk full, permissions, ...).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
