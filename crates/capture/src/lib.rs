//! Screen sources for the recorder.
//!
//! A [`Source`] knows the monitors of a desktop and hands out the BGRA rows
//! that changed, so that colour conversion and encoding only touch what
//! moved. The recorder uses [`Source::grab_bands`]: the rows come band by
//! band ([`Band`]), already masked and with the cursor drawn, and the X11
//! source never holds a whole BGRA frame (its MIT-SHM segment is one band;
//! 8 MB less resident memory per 1080p monitor). [`Source::grab`] fills a
//! whole [`Frame`] instead, for simple sources and tests. Two sources exist:
//!
//! * [`x11::X11Source`]: X11 via x11rb. MIT-SHM for grabs (0.5 ms for a full
//!   1080p frame instead of ~20 ms with plain `GetImage`), XDamage so that only
//!   dirty rows are fetched, RandR 1.5 monitors (followed live: hot-plug and
//!   resolution changes), the XFixes cursor image drawn into the frames.
//! * [`synthetic::SyntheticSource`]: deterministic moving content for
//!   machines without a display and for tests.
//!
//! Both can mask windows: [`Source::set_masks`] takes [`rules::MaskRule`]s and
//! the X11 source paints the visible area of every matching window into the
//! frame right after the grab ([`mask`] has the geometry, [`windows`] follows
//! the window list from X events), so masked pixels never leave this crate.
//!
//! Other platforms (Windows DXGI desktop duplication, macOS
//! ScreenCaptureKit, Wayland PipeWire) are future implementations of the same
//! trait. This crate knows nothing of encoding, files or networks.

use std::ops::Range;

pub mod cursor;
pub mod mask;
pub mod rules;
mod shm;
pub mod synthetic;
pub mod windows;
pub mod x11;

pub use rules::{MaskAction, MaskRule, MaskRuleError};

/// A monitor: a rectangle of the desktop, as RandR 1.5 reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Monitor {
    /// Monitor name (RandR monitor name, e.g. `DP-1`, or `screen`).
    pub name: String,
    /// Left edge in desktop coordinates.
    pub x: i32,
    /// Top edge in desktop coordinates.
    pub y: i32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The primary monitor.
    pub primary: bool,
}

/// A BGRX frame buffer for one monitor, owned by the caller and updated in
/// place by [`Source::grab`]. Byte order per pixel: blue, green, red, unused.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row (`width * 4`).
    pub stride: usize,
    /// `stride * height` bytes.
    pub data: Vec<u8>,
}

impl Frame {
    /// Resizes (and clears) the buffer for a monitor; returns true if it changed.
    pub fn fit(&mut self, width: u32, height: u32) -> bool {
        if self.width == width && self.height == height && !self.data.is_empty() {
            return false;
        }
        self.width = width;
        self.height = height;
        self.stride = width as usize * 4;
        self.data = vec![0; self.stride * height as usize];
        true
    }

    /// Rows `rows` of the frame as a [`Band`] (clipped to the frame).
    pub fn band(&mut self, rows: Range<u32>) -> Band<'_> {
        let end = rows.end.min(self.height);
        let start = rows.start.min(end);
        let data = self
            .data
            .get_mut(start as usize * self.stride..end as usize * self.stride)
            .unwrap_or_default();
        Band {
            width: self.width,
            rows: start..end,
            stride: self.stride,
            data,
        }
    }

    /// Copies a band of this frame's size into its rows.
    pub fn put_band(&mut self, band: &Band<'_>) {
        let row_bytes = (band.width.min(self.width) as usize) * 4;
        for (i, y) in band.rows.clone().enumerate() {
            let src = band.data.get(i * band.stride..i * band.stride + row_bytes);
            let at = y as usize * self.stride;
            let dst = self.data.get_mut(at..at + row_bytes);
            if let (Some(src), Some(dst)) = (src, dst) {
                dst.copy_from_slice(src);
            }
        }
    }

    /// The BGRX bytes of pixel (x, y), if inside.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.stride + x as usize * 4;
        self.data.get(i..i + 4).map(|p| [p[0], p[1], p[2], p[3]])
    }
}

/// Consecutive rows of a monitor's BGRX picture, as a band-wise grab hands
/// them out: row `rows.start` begins at `data[0]`, each row `stride` bytes
/// apart, `width` pixels of 4 bytes each.
#[derive(Debug)]
pub struct Band<'a> {
    /// Pixels per row (the monitor's width).
    pub width: u32,
    /// The monitor rows this band holds.
    pub rows: Range<u32>,
    /// Bytes from one row to the next (at least `width * 4`).
    pub stride: usize,
    /// The pixels (the last row may end right after its `width * 4` bytes).
    pub data: &'a mut [u8],
}

/// Widens `rows` to even boundaries inside `0..height` (the last row of an
/// odd height stays last): 4:2:0 colour conversion pairs rows, so a band
/// that starts and ends on even rows is converted without its neighbours.
pub fn even_rows(rows: Range<u32>, height: u32) -> Range<u32> {
    let end = rows.end.saturating_add(rows.end & 1).min(height);
    (rows.start & !1).min(end)..end
}

/// What a grab changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grab {
    /// Nothing changed since the last grab of this monitor.
    Unchanged,
    /// These rows of the frame were rewritten.
    Changed(Range<u32>),
}

/// A desktop to record.
pub trait Source: Send {
    /// The monitors, in a stable order (desktop position).
    fn monitors(&mut self) -> Result<Vec<Monitor>>;

    /// Collects what happened since the last call (damage, monitor layout
    /// changes); call once per tick before grabbing. Returns true when the
    /// monitor layout changed (call [`Source::monitors`] again).
    fn poll(&mut self) -> Result<bool>;

    /// Updates `frame` with the current content of `monitor`. The first grab
    /// into a buffer (or after a resize) fetches everything; later grabs only
    /// the rows that changed.
    fn grab(&mut self, monitor: &Monitor, frame: &mut Frame) -> Result<Grab>;

    /// Hands the rows of `monitor` that changed since the last call (all
    /// of them when `full`) to `sink`, band by band, masked and with the
    /// cursor drawn, and returns their span. Every band starts on an even
    /// row and ends on an even row or the last one ([`even_rows`]).
    ///
    /// The default grabs into `scratch` with [`Source::grab`], which must
    /// then be the same frame at every call for this monitor; a source that
    /// can do without a whole frame (X11) leaves `scratch` untouched.
    fn grab_bands(
        &mut self,
        monitor: &Monitor,
        full: bool,
        scratch: &mut Frame,
        sink: &mut dyn FnMut(&Band<'_>),
    ) -> Result<Grab> {
        let grab = self.grab(monitor, scratch)?;
        let rows = match grab {
            _ if full => 0..scratch.height,
            Grab::Changed(rows) => rows,
            Grab::Unchanged => return Ok(Grab::Unchanged),
        };
        let rows = even_rows(rows, scratch.height);
        sink(&scratch.band(rows.clone()));
        Ok(Grab::Changed(rows))
    }

    /// Draw the mouse cursor into the frames (on by default where supported).
    fn set_cursor(&mut self, on: bool);

    /// Masks the windows these rules match from the next grab on (an empty
    /// list masks nothing). Sources without a window list refuse rules.
    fn set_masks(&mut self, rules: Vec<MaskRule>) -> Result<()> {
        if rules.is_empty() {
            Ok(())
        } else {
            Err(CaptureError::MaskingUnsupported)
        }
    }

    /// Names of the mask rules a mapped window matches now (as of the last
    /// poll or grab), in rule order. Never window titles.
    fn active_masks(&self) -> Vec<String> {
        Vec::new()
    }

    /// Follows the active window from the next poll on (the timeline's app
    /// lane). Sources without a window list ignore it.
    fn track_active_window(&mut self) -> Result<()> {
        Ok(())
    }

    /// The active window as of the last poll, if followed and known.
    fn active_window(&self) -> Option<ActiveWindow> {
        None
    }
}

/// The window the agent works in, as the timeline's app lane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveWindow {
    /// The class half of `WM_CLASS` (the instance half when it is empty).
    pub class: String,
    /// The instance half of `WM_CLASS`.
    pub instance: String,
    /// The window's title, or the masking rule's name when a rule matches
    /// the window (its own title then never leaves this crate).
    pub title: String,
    /// The rule that matches the window, if any.
    pub mask: Option<String>,
}

/// Errors of screen sources.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// No display to connect to, or it refused.
    #[error("display {display} is unavailable: {reason}")]
    DisplayUnavailable {
        /// The display that was tried (`:0`, or `$DISPLAY`).
        display: String,
        /// Why.
        reason: String,
    },
    /// The X server lacks an extension we need.
    #[error("the X server lacks the {0} extension")]
    MissingExtension(&'static str),
    /// The X connection failed mid-way.
    #[error("X11: {0}")]
    X11(String),
    /// The monitor is not (or no longer) on the desktop.
    #[error("monitor '{0}' is not on the desktop")]
    NoSuchMonitor(String),
    /// Mask rules were given to a source that has no windows to match.
    #[error("this screen source has no window list, so it cannot mask windows")]
    MaskingUnsupported,
    /// Anything else from the operating system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = CaptureError> = std::result::Result<T, E>;

/// Adds `rows` to an optional dirty band.
pub(crate) fn union(band: &mut Option<Range<u32>>, rows: Range<u32>) {
    if rows.start >= rows.end {
        return;
    }
    *band = Some(match band.take() {
        Some(b) => b.start.min(rows.start)..b.end.max(rows.end),
        None => rows,
    });
}
