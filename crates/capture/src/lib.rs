//! Screen sources for the recorder.
//!
//! A [`Source`] knows the monitors of a desktop and fills per-monitor BGRA
//! frame buffers, telling the caller which rows changed so that colour
//! conversion and encoding only touch what moved. Two sources exist:
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

    /// The BGRX bytes of pixel (x, y), if inside.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.stride + x as usize * 4;
        self.data.get(i..i + 4).map(|p| [p[0], p[1], p[2], p[3]])
    }
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
