//! BGRA → I420 (BT.709, limited range) into a persistent picture, converting
//! only the rows that changed.
//!
//! Why yuvutils-rs: measured at ~0.5 ms per full 1080p frame here, half of
//! dcv-color-primitives (`design/measurements.md`). 4:2:0 subsampling pairs
//! rows, so a dirty band is widened to even row boundaries.

use std::ops::Range;

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

use crate::{MediaError, Result};

/// An I420 picture whose width and height are even (H.264 4:2:0 needs it);
/// an odd source size is padded by repeating the last column/row.
pub struct I420Frame {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    /// Scratch BGRA band used only when the source width is odd.
    pad: Vec<u8>,
}

impl I420Frame {
    /// A black picture big enough for a `width` x `height` source.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        if width == 0 || height == 0 || width > 4096 || height > 4096 {
            return Err(MediaError::Geometry(format!(
                "{width}x{height} (each side must be 1..=4096)"
            )));
        }
        let (w, h) = (even(width), even(height));
        let (cw, ch) = (w / 2, h / 2);
        Ok(I420Frame {
            width: w,
            height: h,
            y: vec![16; (w * h) as usize],
            u: vec![128; (cw * ch) as usize],
            v: vec![128; (cw * ch) as usize],
            pad: Vec::new(),
        })
    }

    /// Encoded width (even).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Encoded height (even).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Luma plane.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// Converts `rows` of a BGRA(X) source of `src_width` x `src_height`
    /// pixels, `stride` bytes per row, into the picture. `bgra` holds the
    /// whole source frame. The band is widened to even rows.
    pub fn convert_rows(
        &mut self,
        bgra: &[u8],
        stride: usize,
        src_width: u32,
        src_height: u32,
        rows: Range<u32>,
    ) -> Result<()> {
        if bgra.len() < stride * src_height as usize {
            return Err(MediaError::Geometry(format!(
                "buffer of {} bytes with stride {stride} is too small for {src_width}x{src_height}",
                bgra.len()
            )));
        }
        let start = rows.start.min(src_height) & !1;
        let end = even(rows.end.min(src_height)).min(self.height);
        self.convert(bgra, 0, stride, src_width, src_height, start..end)
    }

    /// Converts one band of a `src_width` x `src_height` source: `band`
    /// holds exactly the source rows `rows` (row `rows.start` first),
    /// `stride` bytes apart. The band must start on an even row and end on
    /// an even row or the source's last one, so that no row pair of 4:2:0
    /// straddles two bands (`capture::even_rows`). The result is the same as
    /// [`I420Frame::convert_rows`] of those rows of the whole frame.
    pub fn convert_band(
        &mut self,
        band: &[u8],
        stride: usize,
        src_width: u32,
        src_height: u32,
        rows: Range<u32>,
    ) -> Result<()> {
        if !rows.start.is_multiple_of(2) || (!rows.end.is_multiple_of(2) && rows.end != src_height)
        {
            return Err(MediaError::Geometry(format!(
                "band of rows {}..{} does not start and end on even rows",
                rows.start, rows.end
            )));
        }
        let n = rows.end.saturating_sub(rows.start) as usize;
        if rows.end > src_height
            || (n > 0 && band.len() < (n - 1) * stride + src_width as usize * 4)
        {
            return Err(MediaError::Geometry(format!(
                "band of {} bytes with stride {stride} is too small for rows {}..{} of {src_width}x{src_height}",
                band.len(),
                rows.start,
                rows.end
            )));
        }
        let end = even(rows.end).min(self.height);
        self.convert(
            band,
            rows.start,
            stride,
            src_width,
            src_height,
            rows.start..end,
        )
    }

    /// Converts picture rows `start..end` (even) from `bgra`, whose first
    /// byte is source row `first`.
    fn convert(
        &mut self,
        bgra: &[u8],
        first: u32,
        stride: usize,
        src_width: u32,
        src_height: u32,
        Range { start, end }: Range<u32>,
    ) -> Result<()> {
        if even(src_width) != self.width || even(src_height) != self.height {
            return Err(MediaError::Geometry(format!(
                "source {src_width}x{src_height} does not fit picture {}x{}",
                self.width, self.height
            )));
        }
        if stride < src_width as usize * 4 {
            return Err(MediaError::Geometry(format!(
                "stride {stride} is too small for {src_width} pixels"
            )));
        }
        if start >= end {
            return Ok(());
        }
        let w = self.width;
        // Build the (possibly padded) BGRA band: rows start..end, width w.
        let band_rows = end - start;
        // yuvutils walks the source in chunks of exactly two strides and
        // silently skips a last pair shorter than that (a source whose last
        // row ends right after its pixels, with stride > width * 4): such a
        // band is copied too.
        let whole_pairs =
            bgra.len() >= (start - first) as usize * stride + band_rows as usize * stride;
        let needs_pad = src_width != w || end > src_height || !whole_pairs;
        let (band, band_stride): (&[u8], usize) = if needs_pad {
            let row_bytes = w as usize * 4;
            self.pad.resize(row_bytes * band_rows as usize, 0);
            for r in 0..band_rows {
                let src_row = ((start + r).min(src_height - 1) - first) as usize;
                let src = &bgra[src_row * stride..src_row * stride + src_width as usize * 4];
                let dst = &mut self.pad[r as usize * row_bytes..(r as usize + 1) * row_bytes];
                dst[..src.len()].copy_from_slice(src);
                if src_width != w {
                    let last = src.len() - 4;
                    let px = [src[last], src[last + 1], src[last + 2], src[last + 3]];
                    dst[src.len()..].copy_from_slice(&px);
                }
            }
            (&self.pad, row_bytes)
        } else {
            let from = (start - first) as usize * stride;
            let to = from + band_rows as usize * stride;
            (&bgra[from..to], stride)
        };
        let cw = w / 2;
        let y_from = (start * w) as usize;
        let c_from = (start / 2 * cw) as usize;
        let c_len = (band_rows / 2 * cw) as usize;
        let mut image = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(
                &mut self.y[y_from..y_from + (band_rows * w) as usize],
            ),
            y_stride: w,
            u_plane: BufferStoreMut::Borrowed(&mut self.u[c_from..c_from + c_len]),
            u_stride: cw,
            v_plane: BufferStoreMut::Borrowed(&mut self.v[c_from..c_from + c_len]),
            v_stride: cw,
            width: w,
            height: band_rows,
        };
        yuvutils_rs::bgra_to_yuv420(
            &mut image,
            band,
            band_stride as u32,
            YuvRange::Limited,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| MediaError::Convert(e.to_string()))
    }
}

impl openh264::formats::YUVSource for I420Frame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width as usize, self.height as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let cw = self.width as usize / 2;
        (self.width as usize, cw, cw)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}

fn even(n: u32) -> u32 {
    n + (n & 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, bgra: [u8; 4]) -> Vec<u8> {
        bgra.iter()
            .copied()
            .cycle()
            .take((w * h * 4) as usize)
            .collect()
    }

    #[test]
    fn white_and_black_map_to_limited_range() {
        let mut f = I420Frame::new(64, 32).expect("frame");
        f.convert_rows(&solid(64, 32, [255, 255, 255, 255]), 256, 64, 32, 0..32)
            .expect("convert");
        assert!(
            f.y().iter().all(|&y| (234..=236).contains(&y)),
            "white ≈ 235"
        );
        f.convert_rows(&solid(64, 32, [0, 0, 0, 255]), 256, 64, 32, 0..10)
            .expect("convert");
        assert!(f.y()[..64 * 10].iter().all(|&y| (15..=17).contains(&y)));
        // Rows outside the band keep their old value.
        assert!(f.y()[64 * 10..].iter().all(|&y| y > 200));
    }

    #[test]
    fn odd_sizes_are_padded_and_bad_buffers_rejected() {
        let mut f = I420Frame::new(33, 17).expect("frame");
        assert_eq!((f.width(), f.height()), (34, 18));
        f.convert_rows(&solid(33, 17, [255, 255, 255, 255]), 33 * 4, 33, 17, 0..17)
            .expect("convert");
        assert!(f.y().iter().all(|&y| y > 200), "padding repeats the edge");
        assert!(f.convert_rows(&[0; 10], 33 * 4, 33, 17, 0..17).is_err());
        assert!(I420Frame::new(0, 10).is_err());
    }

    /// Pseudo-random pixels, so every byte of the I420 output depends on
    /// its own source pixels.
    fn noise(h: u32, stride: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_u32;
        (0..stride * h as usize)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn converting_band_by_band_gives_the_same_picture_as_the_whole_frame() {
        for (w, h, band_rows) in [
            (64, 48, 16),
            (33, 17, 4),
            (33, 17, 256),
            (35, 21, 6),
            (8, 3, 2),
        ] {
            let stride = w as usize * 4 + 12;
            let src = noise(h, stride);
            let mut whole = I420Frame::new(w, h).expect("frame");
            whole
                .convert_rows(&src, stride, w, h, 0..h)
                .expect("convert");
            let mut banded = I420Frame::new(w, h).expect("frame");
            let mut at = 0;
            while at < h {
                let n = band_rows.min(h - at);
                let band = &src[at as usize * stride..(at + n) as usize * stride];
                banded
                    .convert_band(band, stride, w, h, at..at + n)
                    .expect("band");
                at += n;
            }
            let diff = |a: &[u8], b: &[u8]| a.iter().zip(b).position(|(x, y)| x != y);
            assert!(
                whole.y == banded.y && whole.u == banded.u && whole.v == banded.v,
                "{w}x{h} in bands of {band_rows}: {:?} {:?} {:?}",
                diff(&whole.y, &banded.y),
                diff(&whole.u, &banded.u),
                diff(&whole.v, &banded.v)
            );
            // A dirty band in the middle (as a damage rectangle gives it).
            let other = noise(h, stride)
                .into_iter()
                .map(|b| b ^ 0x5a)
                .collect::<Vec<_>>();
            whole
                .convert_rows(&other, stride, w, h, 2..5)
                .expect("convert");
            let rows = 2..6.min(h);
            let band = &other[2 * stride..rows.end as usize * stride];
            banded.convert_band(band, stride, w, h, rows).expect("band");
            assert!(whole.y == banded.y && whole.u == banded.u && whole.v == banded.v);
        }
    }

    #[test]
    fn a_band_that_splits_a_row_pair_or_is_too_short_is_refused() {
        let mut f = I420Frame::new(32, 17).expect("frame");
        let src = noise(17, 128);
        assert!(f.convert_band(&src[128..], 128, 32, 17, 1..4).is_err());
        assert!(f.convert_band(&src, 128, 32, 17, 0..3).is_err());
        assert!(f.convert_band(&src[..128 * 3], 128, 32, 17, 0..4).is_err());
        assert!(f.convert_band(&src, 128, 32, 17, 0..18).is_err());
        // The last row of an odd height may end a band.
        assert!(
            f.convert_band(&src[16 * 128..], 128, 32, 17, 16..17)
                .is_ok()
        );
    }
}
