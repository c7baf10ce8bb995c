//! X11 capture via x11rb (pure Rust, no libxcb needed at run time).
//!
//! Per tick the recorder calls [`Source::poll`] once: one `GetInputFocus`
//! round trip makes sure every `DamageNotify` up to now has arrived, the
//! damage rectangles are intersected with each monitor and accumulated as a
//! dirty row band, RandR events (and a once-a-second `GetMonitors` check,
//! because `xrandr --setmonitor` changes monitors without a screen-change
//! event on some servers) flag layout changes, and the XFixes cursor image is
//! read. [`Source::grab`] then fetches only the dirty rows of a monitor with
//! `ShmGetImage` into shared memory and draws the cursor on top.
//!
//! With mask rules ([`Source::set_masks`]) the source also follows the
//! top-level windows ([`WindowTracker`]) and paints the visible area of the
//! matching ones after each fetch, before the frame leaves the grab:
//!
//! * the area painted last time is remembered per monitor; when the masked
//!   area changes (a window maps, moves, resizes, is restacked or renamed)
//!   the rows of the old and new areas are re-fetched and repainted in the
//!   same grab, so a frame never shows the old content at the new place nor
//!   leaves a stale painted block behind;
//! * the server answers `ShmGetImage` after every event it generated before
//!   taking the image, so the events drained right after the reply include
//!   every window change the image can show: the grab paints the union of
//!   the masked area before the fetch, after it, and every masked window
//!   position seen in between (conservative for one frame; the next grab
//!   repaints exactly);
//! * while a `pause` rule matches, every monitor is one painted block and no
//!   pixels are fetched at all.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::randr::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat};
use x11rb::rust_connection::RustConnection;

use crate::cursor::CursorImage;
use crate::mask::{self, Rect};
use crate::rules::MaskRule;
use crate::shm::ShmSegment;
use crate::windows::WindowTracker;
use crate::{Band, CaptureError, Frame, Grab, Monitor, Result, Source, even_rows, union};

/// Most events handled by one drain: a client that changes windows (or
/// draws) faster than we read must not keep the recorder in the drain loop.
const MAX_EVENTS_PER_DRAIN: usize = 10_000;

/// How often monitors are re-queried even without a RandR event.
const MONITOR_RECHECK: Duration = Duration::from_secs(1);
/// Rows of the root window's width held by the MIT-SHM segment.
const SHM_BAND_ROWS: usize = 256;

/// Captures an X11 display.
pub struct X11Source {
    conn: RustConnection,
    root: xproto::Window,
    shm: Option<(ShmSegment, shm::Seg)>,
    damage: bool,
    xfixes: bool,
    randr_monitors: bool,
    monitors: Vec<Monitor>,
    last_check: Instant,
    dirty: HashMap<String, Range<u32>>,
    cursor_on: bool,
    cursor: Option<CursorImage>,
    drawn_cursor: HashMap<String, Range<u32>>,
    /// A RandR event seen while draining outside `poll`.
    layout_event: bool,
    /// Followed only once mask rules are set (no cost otherwise).
    windows: Option<WindowTracker>,
    /// Per monitor: the areas painted into its frame by the last grab.
    painted: HashMap<String, Vec<Rect>>,
}

/// Adds `rows` to the dirty band of monitor `name`.
fn add_dirty(dirty: &mut HashMap<String, Range<u32>>, name: &str, rows: Range<u32>) {
    let mut band = dirty.remove(name);
    union(&mut band, rows);
    if let Some(band) = band {
        dirty.insert(name.to_string(), band);
    }
}

fn has_extension(conn: &RustConnection, ext: &'static str) -> bool {
    conn.extension_information(ext)
        .map(|i| i.is_some())
        .unwrap_or(false)
}

fn x11<E: std::fmt::Display>(e: E) -> CaptureError {
    CaptureError::X11(e.to_string())
}

impl X11Source {
    /// Connects to `display` (`None`: `$DISPLAY`).
    pub fn connect(display: Option<&str>) -> Result<Self> {
        let name = display
            .map(str::to_string)
            .or_else(|| std::env::var("DISPLAY").ok())
            .filter(|d| !d.is_empty());
        let Some(name) = name else {
            return Err(CaptureError::DisplayUnavailable {
                display: "(none)".into(),
                reason: "DISPLAY is not set and no --display was given".into(),
            });
        };
        let (conn, screen) =
            x11rb::connect(Some(&name)).map_err(|e| CaptureError::DisplayUnavailable {
                display: name.clone(),
                reason: e.to_string(),
            })?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .map(|s| s.root)
            .ok_or_else(|| CaptureError::X11(format!("screen {screen} does not exist")))?;

        let has = |ext: &'static str| has_extension(&conn, ext);
        let damage = has(damage::X11_EXTENSION_NAME);
        if damage {
            conn.damage_query_version(1, 1)
                .map_err(x11)?
                .reply()
                .map_err(x11)?;
            let id = conn.generate_id().map_err(x11)?;
            conn.damage_create(id, root, damage::ReportLevel::RAW_RECTANGLES)
                .map_err(x11)?;
        } else {
            tracing::warn!("X server has no DAMAGE extension: every tick grabs whole monitors");
        }
        let xfixes = has(xfixes::X11_EXTENSION_NAME)
            && conn
                .xfixes_query_version(4, 0)
                .map_err(x11)?
                .reply()
                .is_ok();
        let mut randr_monitors = false;
        if has(randr::X11_EXTENSION_NAME) {
            let v = conn
                .randr_query_version(1, 5)
                .map_err(x11)?
                .reply()
                .map_err(x11)?;
            randr_monitors = (v.major_version, v.minor_version) >= (1, 5);
            conn.randr_select_input(
                root,
                randr::NotifyMask::SCREEN_CHANGE
                    | randr::NotifyMask::CRTC_CHANGE
                    | randr::NotifyMask::OUTPUT_CHANGE,
            )
            .map_err(x11)?;
        }
        let mut source = X11Source {
            conn,
            root,
            shm: None,
            damage,
            xfixes,
            randr_monitors,
            monitors: Vec::new(),
            last_check: Instant::now(),
            dirty: HashMap::new(),
            cursor_on: true,
            cursor: None,
            drawn_cursor: HashMap::new(),
            layout_event: false,
            windows: None,
            painted: HashMap::new(),
        };
        source.monitors = source.query_monitors()?;
        if has_extension(&source.conn, shm::X11_EXTENSION_NAME) {
            if let Err(e) = source.attach_shm() {
                tracing::warn!(error = %e, "MIT-SHM unavailable, falling back to GetImage (slower)");
            }
        } else {
            tracing::warn!("X server has no MIT-SHM extension: grabs use plain GetImage (slower)");
        }
        Ok(source)
    }

    /// The display's monitors, without keeping a source open.
    pub fn list_monitors(display: Option<&str>) -> Result<Vec<Monitor>> {
        let mut s = X11Source::connect(display)?;
        s.monitors()
    }

    fn root_geometry(&self) -> Result<xproto::GetGeometryReply> {
        self.conn
            .get_geometry(self.root)
            .map_err(x11)?
            .reply()
            .map_err(x11)
    }

    fn attach_shm(&mut self) -> Result<()> {
        let geom = self.root_geometry()?;
        // A band of rows as wide as the root window (so as wide as any
        // monitor), not the whole root: every grab fills it from offset 0
        // and copies it out, so a bigger segment would only be resident
        // memory (8 MB per 1080p height) for no fewer round trips worth
        // counting (a full 1080p frame is 5 requests of 0.1 ms).
        let len = geom.width as usize * (geom.height as usize).min(SHM_BAND_ROWS) * 4;
        if self.shm.as_ref().is_some_and(|(s, _)| s.len() >= len) {
            return Ok(());
        }
        let segment = ShmSegment::new(len)?;
        let seg = self.conn.generate_id().map_err(x11)?;
        self.conn
            .shm_attach(seg, segment.id(), false)
            .map_err(x11)?
            .check()
            .map_err(x11)?;
        segment.mark_removed();
        if let Some((_, old)) = self.shm.replace((segment, seg)) {
            let _ = self.conn.shm_detach(old);
        }
        Ok(())
    }

    fn query_monitors(&self) -> Result<Vec<Monitor>> {
        if self.randr_monitors {
            let reply = self
                .conn
                .randr_get_monitors(self.root, true)
                .map_err(x11)?
                .reply()
                .map_err(x11)?;
            let mut out = Vec::new();
            for m in reply.monitors {
                let name = self
                    .conn
                    .get_atom_name(m.name)
                    .map_err(x11)?
                    .reply()
                    .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                    .unwrap_or_else(|_| format!("monitor-{}", m.name));
                out.push(Monitor {
                    name,
                    x: m.x.into(),
                    y: m.y.into(),
                    width: m.width.into(),
                    height: m.height.into(),
                    primary: m.primary,
                });
            }
            if !out.is_empty() {
                out.sort_by_key(|m| (m.y, m.x));
                return Ok(out);
            }
        }
        let geom = self.root_geometry()?;
        Ok(vec![Monitor {
            name: "screen".into(),
            x: 0,
            y: 0,
            width: geom.width.into(),
            height: geom.height.into(),
            primary: true,
        }])
    }

    fn mark_dirty(&mut self, x: i32, y: i32, w: u32, h: u32) {
        for m in &self.monitors {
            let (l, t) = ((x - m.x).max(0), (y - m.y).max(0));
            let r = (x + w as i32 - m.x).min(m.width as i32);
            let b = (y + h as i32 - m.y).min(m.height as i32);
            if l < r && t < b {
                add_dirty(&mut self.dirty, &m.name, t as u32..b as u32);
            }
        }
    }

    fn read_cursor(&mut self) -> Result<()> {
        let reply = self
            .conn
            .xfixes_get_cursor_image()
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        let image = CursorImage {
            x: reply.x as i32 - reply.xhot as i32,
            y: reply.y as i32 - reply.yhot as i32,
            width: reply.width.into(),
            height: reply.height.into(),
            argb: reply.cursor_image,
        };
        if self.cursor.as_ref() != Some(&image) {
            // Old position must be re-fetched (to erase) and the new one drawn.
            for m in &self.monitors {
                if let Some(old) = self.drawn_cursor.get(&m.name) {
                    add_dirty(&mut self.dirty, &m.name, old.clone());
                }
                if let Some(new) = image.rows_on(m) {
                    add_dirty(&mut self.dirty, &m.name, new);
                }
            }
            self.cursor = Some(image);
        }
        Ok(())
    }

    /// Handles every queued event (damage, RandR, windows), reading the
    /// properties of new or renamed windows, until the queue is empty (true)
    /// or [`MAX_EVENTS_PER_DRAIN`] events were handled (false: the rest wait).
    fn drain(&mut self) -> Result<bool> {
        let mut budget = MAX_EVENTS_PER_DRAIN;
        loop {
            while let Some(event) = self.conn.poll_for_event().map_err(x11)? {
                budget = budget.saturating_sub(1);
                match event {
                    Event::DamageNotify(ev) => {
                        let a = ev.area;
                        self.mark_dirty(a.x.into(), a.y.into(), a.width.into(), a.height.into());
                    }
                    Event::RandrScreenChangeNotify(_) | Event::RandrNotify(_) => {
                        self.layout_event = true
                    }
                    other => {
                        if let Some(w) = &mut self.windows {
                            w.handle(&other);
                        }
                    }
                }
                if budget == 0 {
                    return Ok(false);
                }
            }
            match &mut self.windows {
                Some(w) if w.has_pending() => w.refresh(&self.conn)?,
                _ => return Ok(true),
            }
        }
    }

    /// Fetches `rows` of monitor `m` band by band (one MIT-SHM segment's
    /// worth, or [`SHM_BAND_ROWS`] with plain `GetImage`) and hands each
    /// band to `sink` after painting it: with `paint`, the window events
    /// that arrived with the band's image are read first and the masked
    /// area grown by them ([`X11Source::grow_paint`]), then painted into the
    /// band; then the cursor is drawn on it. `rows` must start on an even row.
    fn fetch(
        &mut self,
        m: &Monitor,
        rows: Range<u32>,
        mut paint: Option<&mut Vec<Rect>>,
        cursor: Option<&CursorImage>,
        sink: &mut dyn FnMut(&Band<'_>),
    ) -> Result<()> {
        let row_bytes = m.width as usize * 4;
        // A monitor wider than the segment's row (cannot happen inside the
        // root window) takes the GetImage path rather than a short copy.
        let shm = self
            .shm
            .as_ref()
            .filter(|(s, _)| s.len() >= row_bytes)
            .map(|(s, seg)| (s.len(), *seg));
        // Even, so that every band but the monitor's last starts and ends
        // on an even row (4:2:0 conversion pairs rows).
        let band_rows = match shm {
            Some((len, _)) => (len / row_bytes.max(1)) as u32,
            None => SHM_BAND_ROWS as u32,
        }
        .max(2)
            & !1;
        let mut at = rows.start;
        while at < rows.end {
            let n = band_rows.min(rows.end - at);
            let (x, y, w) = (m.x as i16, (m.y + at as i32) as i16, m.width as u16);
            let mut owned = match shm {
                Some((_, seg)) => {
                    self.conn
                        .shm_get_image(
                            self.root,
                            x,
                            y,
                            w,
                            n as u16,
                            !0,
                            ImageFormat::Z_PIXMAP.into(),
                            seg,
                            0,
                        )
                        .map_err(x11)?
                        .reply()
                        .map_err(x11)?;
                    None
                }
                None => {
                    let reply = self
                        .conn
                        .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, w, n as u16, !0)
                        .map_err(x11)?
                        .reply()
                        .map_err(x11)?;
                    if reply.data.len() < row_bytes * n as usize {
                        return Err(CaptureError::X11(format!(
                            "GetImage returned {} bytes for {w}x{n}",
                            reply.data.len()
                        )));
                    }
                    Some(reply.data)
                }
            };
            if let Some(paint) = paint.as_deref_mut() {
                self.grow_paint(m, paint)?;
            }
            let data = match (&mut owned, &mut self.shm) {
                (Some(data), _) => data.as_mut_slice(),
                (None, Some((segment, _))) => segment.bytes_mut(),
                (None, None) => return Err(CaptureError::X11("MIT-SHM segment gone".into())),
            };
            let mut band = Band {
                width: m.width,
                rows: at..at + n,
                stride: row_bytes,
                data: data.get_mut(..row_bytes * n as usize).unwrap_or_default(),
            };
            if let Some(paint) = paint.as_deref() {
                mask::paint_band(&mut band, paint);
            }
            if let Some(c) = cursor {
                c.draw_band(m, &mut band);
            }
            sink(&band);
            at += n;
        }
        Ok(())
    }

    /// The band-wise grab behind both [`Source::grab`] and
    /// [`Source::grab_bands`].
    fn grab_into(
        &mut self,
        monitor: &Monitor,
        fresh: bool,
        sink: &mut dyn FnMut(&Band<'_>),
    ) -> Result<Grab> {
        if !self.monitors.contains(monitor) {
            return Err(CaptureError::NoSuchMonitor(monitor.name.clone()));
        }
        if fresh {
            self.painted.remove(&monitor.name);
        }
        let full = fresh || !self.damage;
        let pending = self.dirty.remove(&monitor.name);
        let mut rows = if full {
            Some(0..monitor.height)
        } else {
            pending
        };
        let before = self
            .windows
            .as_ref()
            .map(|w| mask::masked_region(&w.shapes(), monitor))
            .unwrap_or_default();
        let painted = self.painted.remove(&monitor.name).unwrap_or_default();
        if is_whole(&before, monitor) {
            // Paused by a rule: the monitor is one painted block, nothing is
            // fetched (and no cursor drawn). When the rule stops matching,
            // `before != painted` re-fetches every row.
            let changed = before != painted;
            if changed {
                paint_whole(monitor, &before, sink);
                self.drawn_cursor.remove(&monitor.name);
            }
            self.painted.insert(monitor.name.clone(), before);
            return Ok(if changed {
                Grab::Changed(0..monitor.height)
            } else {
                Grab::Unchanged
            });
        }
        if before != painted {
            // Re-fetch what was painted and is no longer masked; paint the new area.
            union(
                &mut rows,
                mask::rows_of(&painted, monitor.height).unwrap_or(0..0),
            );
            union(
                &mut rows,
                mask::rows_of(&before, monitor.height).unwrap_or(0..0),
            );
        }
        let cursor = if self.cursor_on {
            self.cursor.clone()
        } else {
            None
        };
        let cursor_rows = cursor.as_ref().and_then(|c| c.rows_on(monitor));
        if rows.is_some() {
            // Draw onto fresh pixels: re-fetch the rows under the cursor too.
            if let Some(old) = self.drawn_cursor.get(&monitor.name) {
                union(&mut rows, old.clone());
            }
            if let Some(new) = &cursor_rows {
                union(&mut rows, new.clone());
            }
        }
        let Some(rows) = rows else {
            self.painted.insert(monitor.name.clone(), painted);
            return Ok(Grab::Unchanged);
        };
        let mut rows = even_rows(rows, monitor.height);
        if !self.windows.as_ref().is_some_and(WindowTracker::has_rules) {
            self.fetch(monitor, rows.clone(), None, cursor.as_ref(), sink)?;
            // Followed for the app lane only: nothing to paint.
            if self.windows.is_some() {
                self.painted.insert(monitor.name.clone(), Vec::new());
            }
        } else {
            if let Some(w) = &mut self.windows {
                w.watch();
            }
            let mut paint = before;
            self.fetch(
                monitor,
                rows.clone(),
                Some(&mut paint),
                cursor.as_ref(),
                sink,
            )?;
            // A changed masked area must reach the picture in this grab,
            // also in rows nobody damaged: fetch and paint them too (their
            // own events may grow the area again; the span only widens, so
            // this ends, at worst with the whole monitor).
            while paint != painted {
                let want = mask::rows_of(&paint, monitor.height)
                    .map(|p| {
                        even_rows(p.start.min(rows.start)..p.end.max(rows.end), monitor.height)
                    })
                    .unwrap_or_else(|| rows.clone());
                if want == rows {
                    break;
                }
                for missing in [want.start..rows.start, rows.end..want.end] {
                    if missing.start < missing.end {
                        self.fetch(monitor, missing, Some(&mut paint), cursor.as_ref(), sink)?;
                    }
                }
                rows = want;
            }
            if let Some(w) = &mut self.windows {
                w.take_watched();
            }
            self.painted.insert(monitor.name.clone(), paint);
        }
        match (&cursor, cursor_rows) {
            (Some(_), Some(r)) => {
                self.drawn_cursor.insert(monitor.name.clone(), r);
            }
            _ => {
                self.drawn_cursor.remove(&monitor.name);
            }
        }
        Ok(Grab::Changed(rows))
    }
}

impl Source for X11Source {
    fn monitors(&mut self) -> Result<Vec<Monitor>> {
        Ok(self.monitors.clone())
    }

    fn poll(&mut self) -> Result<bool> {
        // One round trip: every event the server sent before it is now queued.
        // Its answer is the input focus, the app lane's fallback.
        let focus = self
            .conn
            .get_input_focus()
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        if let Some(w) = &mut self.windows {
            w.set_focus(focus.focus);
        }
        // An unfinished drain continues at the next one; grabs stay safe
        // (see paint_masks).
        self.drain()?;
        let layout_event = std::mem::take(&mut self.layout_event);
        let mut changed = false;
        if layout_event || self.last_check.elapsed() >= MONITOR_RECHECK {
            self.last_check = Instant::now();
            let now = self.query_monitors()?;
            if now != self.monitors {
                tracing::info!(monitors = now.len(), "monitor layout changed");
                self.monitors = now;
                self.dirty.clear();
                self.drawn_cursor.clear();
                self.painted.clear();
                if self.shm.is_some() {
                    self.attach_shm()?;
                }
                changed = true;
            }
        }
        if self.cursor_on && self.xfixes {
            self.read_cursor()?;
        }
        Ok(changed)
    }

    fn grab(&mut self, monitor: &Monitor, frame: &mut Frame) -> Result<Grab> {
        if !self.monitors.contains(monitor) {
            return Err(CaptureError::NoSuchMonitor(monitor.name.clone()));
        }
        let fresh = frame.fit(monitor.width, monitor.height);
        self.grab_into(monitor, fresh, &mut |band| frame.put_band(band))
    }

    fn grab_bands(
        &mut self,
        monitor: &Monitor,
        full: bool,
        _scratch: &mut Frame,
        sink: &mut dyn FnMut(&Band<'_>),
    ) -> Result<Grab> {
        self.grab_into(monitor, full, sink)
    }

    fn set_masks(&mut self, rules: Vec<MaskRule>) -> Result<()> {
        if rules.is_empty() && self.windows.is_none() {
            return Ok(());
        }
        if self.windows.is_none() {
            self.windows = Some(WindowTracker::new(&self.conn, self.root)?);
        }
        if let Some(w) = &mut self.windows {
            w.set_rules(rules);
        }
        // The next grab compares the new masked area with what was painted.
        Ok(())
    }

    fn active_masks(&self) -> Vec<String> {
        self.windows
            .as_ref()
            .map(WindowTracker::active_rules)
            .unwrap_or_default()
    }

    fn track_active_window(&mut self) -> Result<()> {
        if self.windows.is_none() {
            self.windows = Some(WindowTracker::new(&self.conn, self.root)?);
        }
        if let Some(w) = &mut self.windows {
            w.track_active(&self.conn)?;
        }
        Ok(())
    }

    fn active_window(&self) -> Option<crate::ActiveWindow> {
        self.windows.as_ref().and_then(WindowTracker::active)
    }

    fn set_cursor(&mut self, on: bool) {
        self.cursor_on = on && self.xfixes;
        if !on {
            // Erase a drawn cursor at the next grab.
            for (name, rows) in &self.drawn_cursor {
                add_dirty(&mut self.dirty, name, rows.clone());
            }
        }
    }
}

impl X11Source {
    /// Grows `paint`, the area a band-wise grab paints, right after a band's
    /// image arrived: the area before the grab, everything a masked window
    /// covered since (the events that arrived up to the image's reply, read
    /// now), and the area after them. Each band is painted with the area
    /// as grown by its own image's events, so no band can show a masked
    /// window where it was at that moment (conservative for one frame; the
    /// next grab repaints exactly).
    fn grow_paint(&mut self, monitor: &Monitor, paint: &mut Vec<Rect>) -> Result<()> {
        let complete = self.drain()?;
        let seen = self.windows.as_ref().and_then(WindowTracker::watched);
        let whole = Rect {
            x: 0,
            y: 0,
            width: monitor.width,
            height: monitor.height,
        };
        if (!complete || seen.is_none()) && !paint.contains(&whole) {
            // Events from before the image may still be unread, or masked
            // windows took too many places to list: the whole monitor is painted.
            tracing::debug!("window events arrive faster than they are read: frame masked whole");
            paint.push(whole);
        }
        if let Some(w) = &self.windows {
            let after = mask::masked_region(&w.shapes(), monitor);
            for r in after
                .into_iter()
                .chain(mask::matching_rects(&seen.unwrap_or_default(), monitor))
            {
                if !paint.contains(&r) {
                    paint.push(r);
                }
            }
        }
        Ok(())
    }
}

/// Hands out `monitor` painted with `rects` (a `pause` rule: all of it)
/// without fetching anything, a few rows at a time.
fn paint_whole(monitor: &Monitor, rects: &[Rect], sink: &mut dyn FnMut(&Band<'_>)) {
    const ROWS: u32 = 16;
    let stride = monitor.width as usize * 4;
    let mut data = vec![0u8; stride * ROWS as usize];
    let mut at = 0;
    while at < monitor.height {
        let n = ROWS.min(monitor.height - at);
        let mut band = Band {
            width: monitor.width,
            rows: at..at + n,
            stride,
            data: &mut data[..stride * n as usize],
        };
        mask::paint_band(&mut band, rects);
        sink(&band);
        at += n;
    }
}

/// True when `rects` include the whole monitor (a `pause` rule).
fn is_whole(rects: &[Rect], m: &Monitor) -> bool {
    rects
        .iter()
        .any(|r| r.x <= 0 && r.y <= 0 && r.width >= m.width && r.height >= m.height)
}

impl Drop for X11Source {
    fn drop(&mut self) {
        if let Some((_, seg)) = self.shm.take() {
            let _ = self.conn.shm_detach(seg);
            let _ = self.conn.flush();
        }
    }
}
