//! The geometry of masking, free of any window system: which parts of a
//! monitor must be painted over, and painting them into a BGRX [`Frame`].
//!
//! A masked window is painted where it is *visible*: its rectangle minus the
//! rectangles of unmasked, opaque windows stacked above it (so a chat window
//! on top of a payment form stays readable), clipped to the monitor. Masked
//! windows above do not uncover anything (they are painted themselves);
//! translucent windows (depth 32, composited) and input-only windows cover
//! nothing, so what is under them stays painted. A mapped window of a `pause`
//! rule paints every monitor whole, whether it is visible or not.

use std::ops::Range;

use crate::rules::MaskAction;
use crate::{Band, Frame, Monitor, union};

/// The colour masked areas are painted in, as RGB (a flat grey that is
/// neither the PAUSED picture's nor a usual desktop background).
pub const MASK_RGB: [u8; 3] = [0x60, 0x60, 0x60];

/// A rectangle in desktop (or, once clipped, monitor) coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width (0: empty).
    pub width: u32,
    /// Height (0: empty).
    pub height: u32,
}

impl Rect {
    /// A rectangle from its edges; `None` if empty.
    fn from_edges(left: i64, top: i64, right: i64, bottom: i64) -> Option<Rect> {
        if right <= left || bottom <= top {
            return None;
        }
        Some(Rect {
            x: i32::try_from(left).ok()?,
            y: i32::try_from(top).ok()?,
            width: u32::try_from(right - left).ok()?,
            height: u32::try_from(bottom - top).ok()?,
        })
    }

    fn right(&self) -> i64 {
        i64::from(self.x) + i64::from(self.width)
    }

    fn bottom(&self) -> i64 {
        i64::from(self.y) + i64::from(self.height)
    }

    /// The common part of two rectangles.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        Rect::from_edges(
            i64::from(self.x.max(other.x)),
            i64::from(self.y.max(other.y)),
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        )
    }

    /// `self` minus `cover`: up to four disjoint pieces (above, below, left, right).
    pub fn subtract(&self, cover: &Rect) -> Vec<Rect> {
        let Some(hole) = self.intersect(cover) else {
            return vec![*self];
        };
        let (l, t, r, b) = (
            i64::from(self.x),
            i64::from(self.y),
            self.right(),
            self.bottom(),
        );
        let (hl, ht, hr, hb) = (
            i64::from(hole.x),
            i64::from(hole.y),
            hole.right(),
            hole.bottom(),
        );
        [
            Rect::from_edges(l, t, r, ht),
            Rect::from_edges(l, hb, r, b),
            Rect::from_edges(l, ht, hl, hb),
            Rect::from_edges(hr, ht, r, hb),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// `target` minus every rectangle in `covers`.
pub fn visible_parts(target: Rect, covers: &[Rect]) -> Vec<Rect> {
    let mut parts = vec![target];
    for cover in covers {
        parts = parts.iter().flat_map(|p| p.subtract(cover)).collect();
        if parts.is_empty() {
            break;
        }
    }
    parts
}

/// What masking needs to know of a top-level window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowShape {
    /// Outer rectangle on the desktop (border and any window-manager frame included).
    pub rect: Rect,
    /// Mapped (viewable).
    pub mapped: bool,
    /// Hides what is under it (input-output, not translucent).
    pub opaque: bool,
    /// The strongest action of the rules it matches, if any.
    pub action: Option<MaskAction>,
}

/// The areas of `monitor` to paint, in monitor coordinates, given the
/// top-level windows from bottom to top of the stacking order.
pub fn masked_region(windows: &[WindowShape], monitor: &Monitor) -> Vec<Rect> {
    let screen = Rect {
        x: monitor.x,
        y: monitor.y,
        width: monitor.width,
        height: monitor.height,
    };
    if windows
        .iter()
        .any(|w| w.mapped && w.action == Some(MaskAction::Pause))
    {
        return vec![to_local(screen, monitor)];
    }
    let mut out = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        if !w.mapped || w.action.is_none() {
            continue;
        }
        let Some(on_screen) = w.rect.intersect(&screen) else {
            continue;
        };
        let covers: Vec<Rect> = windows[i + 1..]
            .iter()
            .filter(|c| c.mapped && c.opaque && c.action.is_none())
            .map(|c| c.rect)
            .collect();
        out.extend(
            visible_parts(on_screen, &covers)
                .into_iter()
                .map(|r| to_local(r, monitor)),
        );
    }
    out
}

/// The full rectangles of every mapped matching window on `monitor`, covers
/// ignored (the conservative area used while the window list was changing).
pub fn matching_rects(windows: &[WindowShape], monitor: &Monitor) -> Vec<Rect> {
    let mut all = Vec::new();
    let screen = Rect {
        x: monitor.x,
        y: monitor.y,
        width: monitor.width,
        height: monitor.height,
    };
    for w in windows.iter().filter(|w| w.mapped && w.action.is_some()) {
        if w.action == Some(MaskAction::Pause) {
            return vec![to_local(screen, monitor)];
        }
        if let Some(r) = w.rect.intersect(&screen) {
            all.push(to_local(r, monitor));
        }
    }
    all
}

fn to_local(r: Rect, monitor: &Monitor) -> Rect {
    Rect {
        x: r.x - monitor.x,
        y: r.y - monitor.y,
        ..r
    }
}

/// The band of rows the rectangles touch (monitor coordinates, clipped to `height`).
pub fn rows_of(rects: &[Rect], height: u32) -> Option<Range<u32>> {
    let mut band = None;
    for r in rects {
        let top = u32::try_from(r.y.max(0)).unwrap_or(0).min(height);
        let bottom = u32::try_from(r.bottom().clamp(0, i64::from(height))).unwrap_or(height);
        union(&mut band, top..bottom);
    }
    band
}

/// Paints the rectangles (monitor coordinates) into `frame` in [`MASK_RGB`].
pub fn paint(frame: &mut Frame, rects: &[Rect]) {
    let rows = 0..frame.height;
    paint_band(&mut frame.band(rows), rects);
}

/// [`paint`] for the rows of one band (rects in monitor coordinates): a
/// band-wise grab paints each band as it is fetched, with the same result
/// as painting the whole frame.
pub fn paint_band(band: &mut Band<'_>, rects: &[Rect]) {
    let whole = Rect {
        x: 0,
        y: band.rows.start as i32,
        width: band.width,
        height: band.rows.end - band.rows.start,
    };
    let [r, g, b] = MASK_RGB;
    // One painted row of the band's width, copied into each row (memcpy).
    let line: Vec<u8> = [b, g, r, 0].repeat(band.width as usize);
    for rect in rects.iter().filter_map(|r| r.intersect(&whole)) {
        // Inside the band now, so the casts below are in range.
        let (x, w) = (rect.x as usize, rect.width as usize);
        let top = rect.y as usize - band.rows.start as usize;
        for y in top..top + rect.height as usize {
            let start = y * band.stride + x * 4;
            if let (Some(row), Some(src)) =
                (band.data.get_mut(start..start + w * 4), line.get(..w * 4))
            {
                row.copy_from_slice(src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn rect(x: i32, y: i32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    fn show(rects: &[Rect]) -> String {
        if rects.is_empty() {
            return "(nothing)".into();
        }
        rects
            .iter()
            .map(|r| format!("{}x{}+{}+{}", r.width, r.height, r.x, r.y))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn monitor(x: i32, y: i32, width: u32, height: u32) -> Monitor {
        Monitor {
            name: "m".into(),
            x,
            y,
            width,
            height,
            primary: true,
        }
    }

    /// Windows as (rect, mapped, opaque, action), bottom to top.
    fn check(windows: &[(Rect, bool, bool, Option<MaskAction>)], m: Monitor, e: Expect) {
        let shapes: Vec<WindowShape> = windows
            .iter()
            .map(|&(rect, mapped, opaque, action)| WindowShape {
                rect,
                mapped,
                opaque,
                action,
            })
            .collect();
        let region = masked_region(&shapes, &m);
        let rows = rows_of(&region, m.height)
            .map(|r| format!("{}..{}", r.start, r.end))
            .unwrap_or_else(|| "none".into());
        e.assert_eq(&format!("{} rows {rows}", show(&region)));
    }

    const B: Option<MaskAction> = Some(MaskAction::Blank);
    const P: Option<MaskAction> = Some(MaskAction::Pause);

    #[test]
    fn subtracting_rectangles() {
        let a = rect(0, 0, 10, 10);
        let cases = [
            ("inside", rect(3, 3, 2, 2)),
            ("disjoint", rect(20, 0, 5, 5)),
            ("covers all", rect(-1, -1, 20, 20)),
            ("left edge", rect(-5, 2, 8, 3)),
            ("top strip", rect(0, 0, 10, 4)),
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|(n, c)| format!("{n}: {}", show(&a.subtract(c))))
            .collect();
        expect![[r#"
            inside: 10x3+0+0 10x5+0+5 3x2+0+3 5x2+5+3
            disjoint: 10x10+0+0
            covers all: (nothing)
            left edge: 10x2+0+0 10x5+0+5 7x3+3+2
            top strip: 10x6+0+4"#]]
        .assert_eq(&out.join("\n"));
    }

    #[test]
    fn a_lone_masked_window_is_painted_whole() {
        check(
            &[(rect(10, 20, 30, 40), true, true, B)],
            monitor(0, 0, 100, 100),
            expect!["30x40+10+20 rows 20..60"],
        );
    }

    #[test]
    fn unmapped_or_unmatched_windows_are_not_painted() {
        check(
            &[
                (rect(10, 20, 30, 40), false, true, B),
                (rect(0, 0, 50, 50), true, true, None),
            ],
            monitor(0, 0, 100, 100),
            expect!["(nothing) rows none"],
        );
    }

    #[test]
    fn an_unmasked_window_above_stays_visible_one_below_does_not() {
        check(
            &[
                (rect(0, 0, 100, 100), true, true, None),
                (rect(10, 10, 40, 40), true, true, B),
                (rect(30, 30, 40, 40), true, true, None),
            ],
            monitor(0, 0, 200, 200),
            expect!["40x20+10+10 20x20+10+30 rows 10..50"],
        );
    }

    #[test]
    fn masked_or_translucent_windows_above_uncover_nothing() {
        check(
            &[
                (rect(10, 10, 40, 40), true, true, B),
                (rect(30, 30, 40, 40), true, true, B),
                (rect(0, 0, 20, 20), true, false, None),
            ],
            monitor(0, 0, 200, 200),
            expect!["40x40+10+10 40x40+30+30 rows 10..70"],
        );
    }

    #[test]
    fn a_fully_covered_window_paints_nothing() {
        check(
            &[
                (rect(10, 10, 40, 40), true, true, B),
                (rect(0, 0, 60, 60), true, true, None),
            ],
            monitor(0, 0, 200, 200),
            expect!["(nothing) rows none"],
        );
    }

    #[test]
    fn clipped_to_the_monitor_in_its_coordinates() {
        check(
            &[(rect(1900, -10, 100, 50), true, true, B)],
            monitor(1920, 0, 1920, 1080),
            expect!["80x40+0+0 rows 0..40"],
        );
        check(
            &[(rect(100, 100, 50, 50), true, true, B)],
            monitor(1920, 0, 1920, 1080),
            expect!["(nothing) rows none"],
        );
    }

    #[test]
    fn a_pause_window_paints_every_monitor_whole_even_when_hidden() {
        check(
            &[
                (rect(10, 10, 40, 40), true, true, P),
                (rect(0, 0, 100, 100), true, true, None),
            ],
            monitor(1920, 0, 640, 480),
            expect!["640x480+0+0 rows 0..480"],
        );
        check(
            &[(rect(10, 10, 40, 40), false, true, P)],
            monitor(0, 0, 640, 480),
            expect!["(nothing) rows none"],
        );
    }

    #[test]
    fn painting_fills_only_inside_the_frame() {
        let mut f = Frame::default();
        f.fit(4, 3);
        paint(&mut f, &[rect(2, 1, 10, 10), rect(-3, -3, 4, 4)]);
        let [r, g, b] = MASK_RGB;
        let rows: Vec<String> = (0..3)
            .map(|y| {
                (0..4)
                    .map(|x| {
                        if f.pixel(x, y) == Some([b, g, r, 0]) {
                            '#'
                        } else {
                            '.'
                        }
                    })
                    .collect()
            })
            .collect();
        expect![[r#"
            #...
            ..##
            ..##"#]]
        .assert_eq(&rows.join("\n"));
    }

    #[test]
    fn masks_and_cursor_painted_band_by_band_equal_the_whole_frame_painted_at_once() {
        use crate::cursor::CursorImage;
        // Odd sizes; masks and a half-transparent cursor crossing band edges.
        let (w, h) = (37u32, 29u32);
        let m = monitor(0, 0, w, h);
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut original = Frame::default();
        original.fit(w, h);
        original.data.iter_mut().for_each(|b| *b = next() as u8);
        let rects = [rect(3, 5, 10, 9), rect(30, -4, 20, 11), rect(-2, 20, 8, 40)];
        let cursor = CursorImage {
            x: 12,
            y: 6,
            width: 9,
            height: 13,
            argb: (0..9 * 13).map(|_| next() | 0x8000_0000).collect(),
        };
        let mut whole = original.clone();
        paint(&mut whole, &rects);
        cursor.draw(&m, &mut whole);
        for band_rows in [1, 2, 4, 7, 16, 29, 64] {
            let mut banded = original.clone();
            let mut at = 0;
            while at < h {
                let n = band_rows.min(h - at);
                // Each band on its own buffer, as the X11 source hands them out.
                let mut own =
                    original.data[(at * w * 4) as usize..((at + n) * w * 4) as usize].to_vec();
                let mut band = Band {
                    width: w,
                    rows: at..at + n,
                    stride: w as usize * 4,
                    data: &mut own,
                };
                paint_band(&mut band, &rects);
                cursor.draw_band(&m, &mut band);
                banded.put_band(&band);
                at += n;
            }
            assert!(banded.data == whole.data, "bands of {band_rows} rows");
        }
    }
}
