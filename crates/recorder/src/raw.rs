//! A [`Source`] that replays raw BGRA frames from a file, one frame per grab,
//! with dirty rows found by comparing each row with the previous frame.
//!
//! Used by `scripts/bench-recorder.sh` to encode exactly the frames that
//! ffmpeg captured losslessly, so quality (SSIM) is compared on identical
//! input. After the last frame the picture stays still.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use capture::{CaptureError, Frame, Grab, Monitor, Result, Source};

/// Replays `width` x `height` BGRA frames from a file.
pub struct RawFileSource {
    reader: BufReader<File>,
    monitor: Monitor,
    next: Vec<u8>,
}

impl RawFileSource {
    /// Opens `path`.
    pub fn open(path: &Path, width: u32, height: u32) -> Result<Self> {
        let file = File::open(path)?;
        Ok(RawFileSource {
            reader: BufReader::with_capacity(1 << 20, file),
            monitor: Monitor {
                name: "raw".into(),
                x: 0,
                y: 0,
                width,
                height,
                primary: true,
            },
            next: vec![0; width as usize * height as usize * 4],
        })
    }
}

impl Source for RawFileSource {
    fn monitors(&mut self) -> Result<Vec<Monitor>> {
        Ok(vec![self.monitor.clone()])
    }

    fn poll(&mut self) -> Result<bool> {
        Ok(false)
    }

    fn grab(&mut self, monitor: &Monitor, frame: &mut Frame) -> Result<Grab> {
        if *monitor != self.monitor {
            return Err(CaptureError::NoSuchMonitor(monitor.name.clone()));
        }
        let fresh = frame.fit(monitor.width, monitor.height);
        match self.reader.read_exact(&mut self.next) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Grab::Unchanged),
            Err(e) => return Err(e.into()),
        }
        let stride = frame.stride;
        let rows = (0..monitor.height).filter(|&r| {
            let i = r as usize * stride;
            fresh || frame.data[i..i + stride] != self.next[i..i + stride]
        });
        let (mut first, mut last) = (None, 0);
        for r in rows {
            first.get_or_insert(r);
            last = r;
        }
        std::mem::swap(&mut frame.data, &mut self.next);
        Ok(match first {
            Some(f) => Grab::Changed(f..last + 1),
            None => Grab::Unchanged,
        })
    }

    fn set_cursor(&mut self, _on: bool) {}
}
