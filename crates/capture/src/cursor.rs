//! Drawing the mouse cursor into a frame, platform-independent.
//!
//! The cursor image is premultiplied ARGB (as XFixes delivers it); it is
//! blended over the frame's BGRX pixels. The caller must re-fetch the rows
//! under the previous cursor position before drawing it again, or the cursor
//! would leave a trail.

use std::ops::Range;

use crate::{Band, Frame, Monitor};

/// A cursor image and where its top-left corner is on the desktop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CursorImage {
    /// Desktop x of the image's left edge (pointer x − hotspot x).
    pub x: i32,
    /// Desktop y of the image's top edge.
    pub y: i32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Premultiplied ARGB, one `u32` per pixel, row-major.
    pub argb: Vec<u32>,
}

impl CursorImage {
    /// Rows of `monitor`'s frame this cursor covers, if any.
    pub fn rows_on(&self, monitor: &Monitor) -> Option<Range<u32>> {
        let top = self.y - monitor.y;
        let bottom = top + self.height as i32;
        let left = self.x - monitor.x;
        let right = left + self.width as i32;
        if bottom <= 0 || right <= 0 || top >= monitor.height as i32 || left >= monitor.width as i32
        {
            return None;
        }
        Some(top.max(0) as u32..(bottom as u32).min(monitor.height))
    }

    /// Blends the cursor over `frame`, which shows `monitor`.
    pub fn draw(&self, monitor: &Monitor, frame: &mut Frame) {
        let rows = 0..frame.height;
        self.draw_band(monitor, &mut frame.band(rows));
    }

    /// Blends the part of the cursor that falls on `band`'s rows.
    pub fn draw_band(&self, monitor: &Monitor, band: &mut Band<'_>) {
        if self.argb.len() < (self.width * self.height) as usize {
            return;
        }
        for cy in 0..self.height {
            let fy = self.y - monitor.y + cy as i32;
            if fy < band.rows.start as i32 || fy >= band.rows.end as i32 {
                continue;
            }
            for cx in 0..self.width {
                let fx = self.x - monitor.x + cx as i32;
                if fx < 0 || fx >= band.width as i32 {
                    continue;
                }
                let p = self.argb[(cy * self.width + cx) as usize];
                let a = p >> 24;
                if a == 0 {
                    continue;
                }
                let i = (fy as usize - band.rows.start as usize) * band.stride + fx as usize * 4;
                let Some(px) = band.data.get_mut(i..i + 4) else {
                    continue;
                };
                let inv = 255 - a;
                // Premultiplied: out = src + dst * (1 - a).
                px[0] = ((p & 0xff) + (px[0] as u32 * inv) / 255).min(255) as u8;
                px[1] = (((p >> 8) & 0xff) + (px[1] as u32 * inv) / 255).min(255) as u8;
                px[2] = (((p >> 16) & 0xff) + (px[2] as u32 * inv) / 255).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_cursor_replaces_pixels_and_clips_at_edges() {
        let m = Monitor {
            name: "m".into(),
            x: 100,
            y: 0,
            width: 10,
            height: 10,
            primary: true,
        };
        let mut f = Frame::default();
        f.fit(10, 10);
        let c = CursorImage {
            x: 98,
            y: 8,
            width: 4,
            height: 4,
            argb: vec![0xff00_ff00; 16],
        };
        assert_eq!(c.rows_on(&m), Some(8..10));
        c.draw(&m, &mut f);
        assert_eq!(f.pixel(0, 8), Some([0, 0xff, 0, 0]));
        assert_eq!(f.pixel(1, 9), Some([0, 0xff, 0, 0]));
        assert_eq!(f.pixel(2, 9), Some([0, 0, 0, 0]));
        let off = CursorImage {
            x: 0,
            y: 0,
            width: 4,
            height: 4,
            argb: vec![0xffff_ffff; 16],
        };
        assert_eq!(off.rows_on(&m), None);
    }
}
