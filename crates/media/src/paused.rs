//! The frame shown while a recording is blanked (pause, PCI moments): flat
//! dark grey with PAUSED in large letters, so a supervisor sees at once that
//! the gap is deliberate and the timeline stays continuous.

/// BGRA value of the background.
pub const PAUSED_BACKGROUND: [u8; 4] = [0x30, 0x30, 0x30, 0xff];
/// BGRA value of the letters.
pub const PAUSED_TEXT: [u8; 4] = [0xe0, 0xe0, 0xe0, 0xff];

/// 5x7 glyphs of the letters of PAUSED, one row per byte, MSB = left column.
const GLYPHS: [(char, [u8; 7]); 5] = [
    (
        'P',
        [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000,
        ],
    ),
    (
        'A',
        [
            0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
    ),
    (
        'U',
        [
            0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
    ),
    (
        'S',
        [
            0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110,
        ],
    ),
    (
        'E',
        [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
        ],
    ),
];
const D: [u8; 7] = [
    0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100,
];

fn glyph(c: char) -> [u8; 7] {
    GLYPHS
        .iter()
        .find(|(g, _)| *g == c)
        .map(|(_, rows)| *rows)
        .unwrap_or(D)
}

/// A `width` x `height` BGRA frame (stride `width * 4`) reading PAUSED.
pub fn paused_frame(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut frame: Vec<u8> = PAUSED_BACKGROUND
        .iter()
        .copied()
        .cycle()
        .take(w * h * 4)
        .collect();
    let text = "PAUSED";
    // Each glyph is 5 cells wide plus 1 cell of spacing; fit ~1/3 of the width.
    let cell = ((w / 3) / (text.len() * 6)).clamp(1, h / 14 + 1);
    let text_w = text.len() * 6 * cell - cell;
    let text_h = 7 * cell;
    if text_w > w || text_h > h {
        return frame;
    }
    let (x0, y0) = ((w - text_w) / 2, (h - text_h) / 2);
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c);
        for (gy, bits) in rows.iter().enumerate() {
            for gx in 0..5 {
                if bits & (0b10000 >> gx) == 0 {
                    continue;
                }
                for dy in 0..cell {
                    let y = y0 + gy * cell + dy;
                    let x = x0 + (i * 6 + gx) * cell;
                    let start = (y * w + x) * 4;
                    for px in frame[start..start + cell * 4].chunks_exact_mut(4) {
                        px.copy_from_slice(&PAUSED_TEXT);
                    }
                }
            }
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mostly_background_with_some_text() {
        let f = paused_frame(640, 360);
        assert_eq!(f.len(), 640 * 360 * 4);
        let text = f.chunks_exact(4).filter(|p| *p == PAUSED_TEXT).count();
        let bg = f
            .chunks_exact(4)
            .filter(|p| *p == PAUSED_BACKGROUND)
            .count();
        assert!(text > 1000, "letters drawn: {text}");
        assert_eq!(text + bg, 640 * 360);
        // Corners are background.
        assert_eq!(&f[..4], &PAUSED_BACKGROUND);
        // Tiny frames do not panic.
        assert_eq!(paused_frame(2, 2).len(), 16);
    }
}
