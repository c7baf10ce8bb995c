//! The top-level windows of an X11 desktop, kept current from events.
//!
//! [`WindowTracker`] selects `SubstructureNotify` on the root once and then
//! follows create/destroy/map/unmap/configure/circulate/reparent/gravity
//! events, so the stacking order and geometry are known without asking the
//! server every frame. Titles (`_NET_WM_NAME` in UTF-8, else `WM_NAME`) and
//! `WM_CLASS` are read when a window appears and again on `PropertyNotify`
//! (selected on each top-level, and on its client window when a window
//! manager has reparented it into a frame: the frame's geometry is what is
//! on screen, the client's properties say what it is).
//!
//! Events only queue work ([`WindowTracker::handle`] never blocks); the
//! property reads happen in [`WindowTracker::refresh`], which the source calls
//! after draining its event queue.
//!
//! Once [`WindowTracker::track_active`] is called it also follows the
//! active window for the timeline's app lane: `_NET_ACTIVE_WINDOW` on the
//! root (an EWMH window manager keeps it; `PropertyNotify` says when it
//! changes), else the input focus (the source reports it from the round
//! trip it makes every poll anyway), else the top of the stacking order.
//! [`WindowTracker::active`] gives its class and title, the title replaced
//! by the masking rule's name when a rule matches the window.

use std::collections::HashMap;

use x11rb::connection::Connection;
use x11rb::errors::ReplyError;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, MapState, Place, Window,
    WindowClass,
};

use crate::mask::{Rect, WindowShape};
use crate::rules::{MaskAction, MaskRule};
use crate::{ActiveWindow, CaptureError, Result};

/// Most distinct shapes remembered while watching; beyond, the watch
/// reports an overflow and the caller masks whole frames.
const MAX_WATCHED: usize = 256;

/// Longest property read, in 32-bit units (64 KiB: a title is never longer).
const PROPERTY_UNITS: u32 = 16 * 1024;

/// One top-level window (a child of the root).
#[derive(Debug, Clone)]
struct TopLevel {
    id: Window,
    /// Where title and class live: the window itself, or the client window a
    /// window manager reparented into this frame.
    client: Window,
    rect: Rect,
    mapped: bool,
    opaque: bool,
    title: String,
    instance: String,
    class: String,
    /// Indexes of the rules it matches.
    matched: Vec<usize>,
}

impl TopLevel {
    fn new(id: Window, rect: Rect) -> TopLevel {
        TopLevel {
            id,
            client: id,
            rect,
            mapped: false,
            opaque: true,
            title: String::new(),
            instance: String::new(),
            class: String::new(),
            matched: Vec::new(),
        }
    }
}

/// What a queued window needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Everything: attributes, geometry, client, properties.
    Full,
    /// Title and class only.
    Properties,
}

/// Atoms we read.
#[derive(Debug, Clone, Copy)]
struct Atoms {
    net_wm_name: u32,
    utf8_string: u32,
    wm_state: u32,
    net_active_window: u32,
}

/// Most parent links followed from a focused window up to its top-level.
const MAX_DEPTH: usize = 32;

/// The active-window state (only while [`WindowTracker::track_active`] is on).
#[derive(Debug, Default)]
struct ActiveState {
    /// `_NET_ACTIVE_WINDOW` of the root: `None` when the root has no such
    /// property (no EWMH window manager).
    ewmh: Option<Window>,
    /// The top-level the EWMH active window belongs to.
    ewmh_top: Option<Window>,
    /// The root property must be read again.
    ewmh_dirty: bool,
    /// The input focus as last reported.
    focus: Window,
    /// The top-level it belongs to.
    focus_top: Option<Window>,
    /// The focus changed since it was last resolved.
    focus_dirty: bool,
}

/// The top-level windows of one screen, bottom to top.
pub struct WindowTracker {
    root: Window,
    atoms: Atoms,
    windows: Vec<TopLevel>,
    rules: Vec<MaskRule>,
    pending: HashMap<Window, Need>,
    /// While watching: every shape a masked window had, and every window
    /// whose title or class changed (see [`WindowTracker::watch`]).
    watch: Option<Vec<WindowShape>>,
    /// Followed only once [`WindowTracker::track_active`] is called.
    active: Option<ActiveState>,
}

fn x11<E: std::fmt::Display>(e: E) -> CaptureError {
    CaptureError::X11(e.to_string())
}

/// A reply, `None` if the window is gone (an X error), `Err` if the connection broke.
fn alive<T>(r: std::result::Result<T, ReplyError>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ReplyError::X11Error(_)) => Ok(None),
        Err(e) => Err(x11(e)),
    }
}

fn rect(x: i16, y: i16, width: u16, height: u16, border: u16) -> Rect {
    let b = u32::from(border) * 2;
    Rect {
        x: x.into(),
        y: y.into(),
        width: u32::from(width) + b,
        height: u32::from(height) + b,
    }
}

impl WindowTracker {
    /// Starts following the windows of `root` and reads the current ones.
    pub fn new(conn: &impl Connection, root: Window) -> Result<WindowTracker> {
        // Select first, then list: a window created in between is seen twice
        // (harmless), never missed.
        conn.change_window_attributes(
            root,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::SUBSTRUCTURE_NOTIFY),
        )
        .map_err(x11)?
        .check()
        .map_err(x11)?;
        let intern = |name: &[u8]| -> Result<u32> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(x11)?
                .reply()
                .map_err(x11)?
                .atom)
        };
        let atoms = Atoms {
            net_wm_name: intern(b"_NET_WM_NAME")?,
            utf8_string: intern(b"UTF8_STRING")?,
            wm_state: intern(b"WM_STATE")?,
            net_active_window: intern(b"_NET_ACTIVE_WINDOW")?,
        };
        let tree = conn.query_tree(root).map_err(x11)?.reply().map_err(x11)?;
        let mut tracker = WindowTracker {
            root,
            atoms,
            windows: Vec::new(),
            rules: Vec::new(),
            pending: HashMap::new(),
            watch: None,
            active: None,
        };
        // query_tree lists children bottom to top, which is our order.
        for id in tree.children {
            tracker.windows.push(TopLevel::new(id, rect(0, 0, 0, 0, 0)));
            tracker.pending.insert(id, Need::Full);
        }
        tracker.refresh(conn)?;
        Ok(tracker)
    }

    /// Replaces the rules and re-matches every window.
    pub fn set_rules(&mut self, rules: Vec<MaskRule>) {
        self.rules = rules;
        for i in 0..self.windows.len() {
            self.rematch(i);
        }
    }

    /// True when masking rules are set (with none, nothing is ever painted).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Starts following the active window (see the module docs): selects
    /// `PropertyChange` on the root, next to `SubstructureNotify`, and reads
    /// `_NET_ACTIVE_WINDOW` at the next [`WindowTracker::refresh`].
    pub fn track_active(&mut self, conn: &impl Connection) -> Result<()> {
        if self.active.is_some() {
            return Ok(());
        }
        conn.change_window_attributes(
            self.root,
            &ChangeWindowAttributesAux::new()
                .event_mask(EventMask::SUBSTRUCTURE_NOTIFY | EventMask::PROPERTY_CHANGE),
        )
        .map_err(x11)?
        .check()
        .map_err(x11)?;
        self.active = Some(ActiveState {
            ewmh_dirty: true,
            ..ActiveState::default()
        });
        Ok(())
    }

    /// The input focus as the source last saw it (resolved to its top-level
    /// at the next [`WindowTracker::refresh`] when it changed).
    pub fn set_focus(&mut self, focus: Window) {
        if let Some(a) = &mut self.active
            && a.focus != focus
        {
            a.focus = focus;
            a.focus_dirty = true;
        }
    }

    /// The active window now, `None` when it is not known or has no
    /// `WM_CLASS`. A window a masking rule matches has the rule's name as
    /// its title: its own title never leaves this crate.
    pub fn active(&self) -> Option<ActiveWindow> {
        let a = self.active.as_ref()?;
        let known = |id: Option<Window>| id.and_then(|id| self.index(id));
        let i = known(a.ewmh_top)
            .or_else(|| known(a.focus_top))
            .or_else(|| {
                // No window manager and no focus: the top of the stacking order.
                self.windows
                    .iter()
                    .rposition(|w| w.mapped && !(w.class.is_empty() && w.instance.is_empty()))
            })?;
        let w = &self.windows[i];
        let class = if w.class.is_empty() {
            w.instance.clone()
        } else {
            w.class.clone()
        };
        if class.is_empty() {
            return None;
        }
        let mask = w
            .matched
            .first()
            .and_then(|&k| self.rules.get(k))
            .map(|r| r.name().to_string());
        Some(ActiveWindow {
            class,
            instance: w.instance.clone(),
            title: mask.clone().unwrap_or_else(|| w.title.clone()),
            mask,
        })
    }

    /// The top-level window `w` belongs to (itself, the frame it was
    /// reparented into, or an ancestor); `None` for none/root/pointer-root
    /// or a window that is gone.
    fn top_level_of(&self, conn: &impl Connection, mut w: Window) -> Result<Option<Window>> {
        // 0 is None, 1 is PointerRoot.
        if w <= 1 || w == self.root {
            return Ok(None);
        }
        for _ in 0..MAX_DEPTH {
            if let Some(t) = self.windows.iter().find(|t| t.id == w || t.client == w) {
                return Ok(Some(t.id));
            }
            let Some(tree) = alive(conn.query_tree(w).map_err(x11)?.reply())? else {
                return Ok(None);
            };
            if tree.parent == self.root || tree.parent == x11rb::NONE {
                return Ok(None);
            }
            w = tree.parent;
        }
        Ok(None)
    }

    /// Reads `_NET_ACTIVE_WINDOW` and resolves the focus when they changed.
    fn refresh_active(&mut self, conn: &impl Connection) -> Result<()> {
        let Some(a) = &self.active else { return Ok(()) };
        let (ewmh_dirty, focus_dirty, focus) = (a.ewmh_dirty, a.focus_dirty, a.focus);
        let mut ewmh = a.ewmh;
        let mut ewmh_top = a.ewmh_top;
        if ewmh_dirty {
            let reply = alive(
                conn.get_property(
                    false,
                    self.root,
                    self.atoms.net_active_window,
                    // Any type: WINDOW from window managers, CARDINAL from tools.
                    AtomEnum::ANY,
                    0,
                    1,
                )
                .map_err(x11)?
                .reply(),
            )?;
            ewmh = reply
                .filter(|r| r.type_ != x11rb::NONE)
                .map(|r| r.value32().and_then(|mut v| v.next()).unwrap_or(0));
            ewmh_top = match ewmh {
                Some(w) => self.top_level_of(conn, w)?,
                None => None,
            };
        }
        let focus_top = if focus_dirty {
            self.top_level_of(conn, focus)?
        } else {
            a.focus_top
        };
        if let Some(a) = &mut self.active {
            a.ewmh = ewmh;
            a.ewmh_top = ewmh_top;
            a.ewmh_dirty = false;
            a.focus_top = focus_top;
            a.focus_dirty = false;
        }
        Ok(())
    }

    /// The windows as masking sees them, bottom to top.
    pub fn shapes(&self) -> Vec<WindowShape> {
        self.windows.iter().map(|w| self.shape(w)).collect()
    }

    fn shape(&self, w: &TopLevel) -> WindowShape {
        WindowShape {
            rect: w.rect,
            mapped: w.mapped,
            opaque: w.opaque,
            action: w
                .matched
                .iter()
                .filter_map(|&i| self.rules.get(i).map(MaskRule::action))
                .max(),
        }
    }

    /// Names of the rules a mapped window matches now, in rule order.
    pub fn active_rules(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let hit = self
                .windows
                .iter()
                .any(|w| w.mapped && w.matched.contains(&i));
            if hit && !names.iter().any(|n| n == rule.name()) {
                names.push(rule.name().to_string());
            }
        }
        names
    }

    /// Starts recording every area a masked window occupies while events are
    /// applied, and every window whose title or class changes, until
    /// [`WindowTracker::take_watched`]. Used around a grab: the image may
    /// show any state between the events before and after it.
    pub fn watch(&mut self) {
        self.watch = Some(Vec::new());
    }

    /// Ends watching; the shapes seen (masked ones, as `Blank` at least),
    /// or `None` if there were too many to remember (mask everything).
    pub fn take_watched(&mut self) -> Option<Vec<WindowShape>> {
        self.watch.take().filter(|w| w.len() <= MAX_WATCHED)
    }

    /// The shapes seen so far while watching, without ending it (`None`:
    /// not watching, or too many to remember).
    pub fn watched(&self) -> Option<Vec<WindowShape>> {
        self.watch
            .as_ref()
            .filter(|w| w.len() <= MAX_WATCHED)
            .cloned()
    }

    fn remember(&mut self, shapes: impl IntoIterator<Item = WindowShape>) {
        let Some(watch) = &mut self.watch else { return };
        for s in shapes {
            if watch.len() > MAX_WATCHED {
                return;
            }
            if !watch.contains(&s) {
                watch.push(s);
            }
        }
    }

    fn note_masked(&mut self) {
        if self.watch.is_none() {
            return;
        }
        let shapes: Vec<WindowShape> = self
            .shapes()
            .into_iter()
            .filter(|s| s.mapped && s.action.is_some())
            .collect();
        self.remember(shapes);
    }

    fn index(&self, id: Window) -> Option<usize> {
        self.windows.iter().position(|w| w.id == id)
    }

    /// True while properties wait to be read ([`WindowTracker::refresh`]).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
            || self
                .active
                .as_ref()
                .is_some_and(|a| a.ewmh_dirty || a.focus_dirty)
    }

    fn queue(&mut self, id: Window, need: Need) {
        let e = self.pending.entry(id).or_insert(need);
        if need == Need::Full {
            *e = Need::Full;
        }
    }

    /// Applies one event; false if it was not about top-level windows.
    pub fn handle(&mut self, event: &Event) -> bool {
        use Event::*;
        let root = self.root;
        match event {
            CreateNotify(e) if e.parent == root => {
                self.note_masked();
                if self.index(e.window).is_none() {
                    let r = rect(e.x, e.y, e.width, e.height, e.border_width);
                    self.windows.push(TopLevel::new(e.window, r));
                }
                self.queue(e.window, Need::Full);
            }
            DestroyNotify(e) if e.event == root => {
                self.note_masked();
                self.windows.retain(|w| w.id != e.window);
                self.pending.remove(&e.window);
            }
            MapNotify(e) if e.event == root => {
                self.note_masked();
                if let Some(i) = self.index(e.window) {
                    self.windows[i].mapped = true;
                }
            }
            UnmapNotify(e) if e.event == root => {
                self.note_masked();
                if let Some(i) = self.index(e.window) {
                    self.windows[i].mapped = false;
                }
            }
            ConfigureNotify(e) if e.event == root => {
                self.note_masked();
                if let Some(i) = self.index(e.window) {
                    let mut w = self.windows.remove(i);
                    w.rect = rect(e.x, e.y, e.width, e.height, e.border_width);
                    // above_sibling is the window just below; none: at the bottom.
                    let at = match self.index(e.above_sibling) {
                        Some(below) => below + 1,
                        None if e.above_sibling == x11rb::NONE => 0,
                        None => self.windows.len(),
                    };
                    self.windows.insert(at, w);
                }
            }
            GravityNotify(e) if e.event == root => {
                self.note_masked();
                if let Some(i) = self.index(e.window) {
                    self.windows[i].rect.x = e.x.into();
                    self.windows[i].rect.y = e.y.into();
                }
            }
            CirculateNotify(e) if e.event == root => {
                self.note_masked();
                if let Some(i) = self.index(e.window) {
                    let w = self.windows.remove(i);
                    if e.place == Place::ON_TOP {
                        self.windows.push(w);
                    } else {
                        self.windows.insert(0, w);
                    }
                }
            }
            ReparentNotify(e) if e.event == root => {
                self.note_masked();
                if e.parent == root {
                    // Back on the root (window manager gone): a top-level again.
                    if self.index(e.window).is_none() {
                        self.windows
                            .push(TopLevel::new(e.window, rect(e.x, e.y, 0, 0, 0)));
                    }
                    self.queue(e.window, Need::Full);
                } else {
                    // Into a frame: the frame shows it; read its properties there.
                    self.windows.retain(|w| w.id != e.window);
                    self.pending.remove(&e.window);
                    if self.index(e.parent).is_some() {
                        self.queue(e.parent, Need::Full);
                    }
                }
            }
            PropertyNotify(e) if e.window == root => {
                if let Some(a) = &mut self.active
                    && e.atom == self.atoms.net_active_window
                {
                    a.ewmh_dirty = true;
                }
            }
            PropertyNotify(e) => {
                let atom = e.atom;
                let relevant = atom == u32::from(AtomEnum::WM_NAME)
                    || atom == u32::from(AtomEnum::WM_CLASS)
                    || atom == self.atoms.net_wm_name;
                let Some(i) = self
                    .windows
                    .iter()
                    .position(|w| w.id == e.window || w.client == e.window)
                else {
                    return false;
                };
                if !relevant {
                    return true;
                }
                if self.watch.is_some() && self.windows[i].mapped {
                    // Whatever the new title is, the grab may show this
                    // window under either: paint it this once.
                    let mut s = self.shape(&self.windows[i]);
                    s.action = s.action.max(Some(MaskAction::Blank));
                    self.note_masked();
                    self.remember([s]);
                }
                let id = self.windows[i].id;
                self.queue(id, Need::Properties);
            }
            _ => return false,
        }
        true
    }

    /// Reads what queued windows need (a few round trips per window).
    pub fn refresh(&mut self, conn: &impl Connection) -> Result<()> {
        let pending: Vec<(Window, Need)> = self.pending.drain().collect();
        for (id, need) in pending {
            let Some(i) = self.index(id) else { continue };
            if need == Need::Full && !self.load(conn, i)? {
                // Gone: its DestroyNotify follows.
                continue;
            }
            let client = self.windows[i].client;
            if let Some((title, instance, class)) = self.read_properties(conn, client)? {
                let w = &mut self.windows[i];
                w.title = title;
                w.instance = instance;
                w.class = class;
            }
            self.rematch(i);
        }
        self.refresh_active(conn)
    }

    /// Attributes, geometry and client of window `i`; false if it is gone.
    fn load(&mut self, conn: &impl Connection, i: usize) -> Result<bool> {
        let id = self.windows[i].id;
        conn.change_window_attributes(
            id,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )
        .map_err(x11)?;
        let attrs = conn.get_window_attributes(id).map_err(x11)?;
        let geom = conn.get_geometry(id).map_err(x11)?;
        let (Some(attrs), Some(geom)) = (alive(attrs.reply())?, alive(geom.reply())?) else {
            return Ok(false);
        };
        let client = self.find_client(conn, id)?;
        if client != id {
            conn.change_window_attributes(
                client,
                &ChangeWindowAttributesAux::new().event_mask(EventMask::PROPERTY_CHANGE),
            )
            .map_err(x11)?;
        }
        let w = &mut self.windows[i];
        w.rect = rect(geom.x, geom.y, geom.width, geom.height, geom.border_width);
        w.mapped = attrs.map_state == MapState::VIEWABLE;
        // Input-only windows show nothing; depth-32 windows are translucent
        // under a compositor: neither hides what is below it.
        w.opaque = attrs.class == WindowClass::INPUT_OUTPUT && geom.depth != 32;
        w.client = client;
        Ok(true)
    }

    /// The window itself if it carries `WM_STATE` or `WM_CLASS` (no window
    /// manager), else the child that has `WM_STATE` (a frame's client).
    fn find_client(&self, conn: &impl Connection, id: Window) -> Result<Window> {
        let has = |w: Window, atom: u32| -> Result<bool> {
            let c = conn
                .get_property(false, w, atom, AtomEnum::ANY, 0, 0)
                .map_err(x11)?;
            Ok(alive(c.reply())?.is_some_and(|r| r.type_ != x11rb::NONE))
        };
        if has(id, self.atoms.wm_state)? || has(id, AtomEnum::WM_CLASS.into())? {
            return Ok(id);
        }
        let Some(tree) = alive(conn.query_tree(id).map_err(x11)?.reply())? else {
            return Ok(id);
        };
        for child in tree.children.into_iter().rev() {
            if has(child, self.atoms.wm_state)? {
                return Ok(child);
            }
        }
        Ok(id)
    }

    /// (title, instance, class) of `w`; `None` if it is gone.
    fn read_properties(
        &self,
        conn: &impl Connection,
        w: Window,
    ) -> Result<Option<(String, String, String)>> {
        let get = |atom: u32| {
            conn.get_property(false, w, atom, AtomEnum::ANY, 0, PROPERTY_UNITS)
                .map_err(x11)
        };
        // Three requests in flight, then three replies: one round trip.
        let net = get(self.atoms.net_wm_name)?;
        let name = get(AtomEnum::WM_NAME.into())?;
        let class = get(AtomEnum::WM_CLASS.into())?;
        let (Some(net), Some(name), Some(class)) = (
            alive(net.reply())?,
            alive(name.reply())?,
            alive(class.reply())?,
        ) else {
            return Ok(None);
        };
        let title = if net.type_ == self.atoms.utf8_string && !net.value.is_empty() {
            String::from_utf8_lossy(&net.value).into_owned()
        } else if name.type_ == u32::from(AtomEnum::STRING) {
            // STRING is Latin-1.
            name.value.iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(&name.value).into_owned()
        };
        let mut halves = class
            .value
            .split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let instance = halves.next().unwrap_or_default();
        let class = halves.next().unwrap_or_default();
        Ok(Some((title, instance, class)))
    }

    fn rematch(&mut self, i: usize) {
        let Some(w) = self.windows.get(i) else { return };
        let matched: Vec<usize> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(&w.title, &w.instance, &w.class))
            .map(|(k, _)| k)
            .collect();
        self.windows[i].matched = matched;
    }
}
