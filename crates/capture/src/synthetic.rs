//! Deterministic moving content for machines without a display and for
//! tests: a dark desktop, a white "window" with stripes of fake text, a
//! block that moves by a fixed step per grab and a frame counter drawn in
//! blocks. The same monitors give the same frames, grab by grab.

use crate::{Frame, Grab, Monitor, Result, Source};

/// A source that draws its own content.
pub struct SyntheticSource {
    monitors: Vec<Monitor>,
    ticks: Vec<u64>,
}

impl SyntheticSource {
    /// One source with the given monitors (e.g. one 1920x1080).
    pub fn new(monitors: Vec<Monitor>) -> Self {
        let ticks = vec![0; monitors.len()];
        SyntheticSource { monitors, ticks }
    }

    /// `count` monitors of `width` x `height` side by side (`synthetic-0`…),
    /// the first primary.
    pub fn row(width: u32, height: u32, count: u32) -> Self {
        if count <= 1 {
            return Self::single(width, height);
        }
        Self::new(
            (0..count)
                .map(|i| Monitor {
                    name: format!("synthetic-{i}"),
                    x: (i * width) as i32,
                    y: 0,
                    width,
                    height,
                    primary: i == 0,
                })
                .collect(),
        )
    }

    /// A single `width` x `height` monitor named `synthetic`.
    pub fn single(width: u32, height: u32) -> Self {
        Self::new(vec![Monitor {
            name: "synthetic".into(),
            x: 0,
            y: 0,
            width,
            height,
            primary: true,
        }])
    }
}

fn fill(frame: &mut Frame, x0: u32, y0: u32, w: u32, h: u32, bgr: [u8; 3]) {
    for y in y0..(y0 + h).min(frame.height) {
        for x in x0..(x0 + w).min(frame.width) {
            let i = y as usize * frame.stride + x as usize * 4;
            frame.data[i..i + 4].copy_from_slice(&[bgr[0], bgr[1], bgr[2], 0]);
        }
    }
}

impl Source for SyntheticSource {
    fn monitors(&mut self) -> Result<Vec<Monitor>> {
        Ok(self.monitors.clone())
    }

    fn poll(&mut self) -> Result<bool> {
        Ok(false)
    }

    fn grab(&mut self, monitor: &Monitor, frame: &mut Frame) -> Result<Grab> {
        let k = self
            .monitors
            .iter()
            .position(|m| m == monitor)
            .ok_or_else(|| crate::CaptureError::NoSuchMonitor(monitor.name.clone()))?;
        frame.fit(monitor.width, monitor.height);
        let t = self.ticks[k];
        self.ticks[k] += 1;
        let (w, h) = (monitor.width, monitor.height);
        fill(frame, 0, 0, w, h, [0x40, 0x30, 0x20]);
        // A "window" with text-like stripes.
        let (wx, wy, ww, wh) = (w / 10, h / 10, w * 6 / 10, h * 6 / 10);
        fill(frame, wx, wy, ww, wh, [0xff, 0xff, 0xff]);
        let lines = (t % 20) as u32 + 5;
        for l in 0..lines.min(wh / 16) {
            let len = ww / 3 + (l * 37 + t as u32 * 13) % (ww / 2);
            fill(frame, wx + 8, wy + 8 + l * 16, len, 8, [0x10, 0x10, 0x10]);
        }
        // A moving block.
        let bx = (t as u32 * 16) % w.saturating_sub(64).max(1);
        fill(frame, bx, h * 8 / 10, 64, 48, [0x00, 0x80, 0xff]);
        // The frame counter, as 16 bits of blocks.
        for bit in 0..16 {
            let on = t >> bit & 1 == 1;
            let c = if on {
                [0x00, 0xff, 0x00]
            } else {
                [0x00, 0x00, 0x80]
            };
            fill(frame, w.saturating_sub(16 * 12) + bit * 12, 4, 10, 10, c);
        }
        Ok(Grab::Changed(0..h))
    }

    fn set_cursor(&mut self, _on: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_moving() {
        let mut a = SyntheticSource::single(320, 200);
        let mut b = SyntheticSource::single(320, 200);
        let m = a.monitors().expect("monitors")[0].clone();
        let (mut fa, mut fb) = (Frame::default(), Frame::default());
        a.grab(&m, &mut fa).expect("grab");
        b.grab(&m, &mut fb).expect("grab");
        assert_eq!(fa.data, fb.data);
        let first = fa.data.clone();
        assert_eq!(a.grab(&m, &mut fa).expect("grab"), Grab::Changed(0..200));
        assert_ne!(fa.data, first, "content moves");
        let other = Monitor {
            name: "x".into(),
            ..m
        };
        assert!(a.grab(&other, &mut fa).is_err());
    }
}
