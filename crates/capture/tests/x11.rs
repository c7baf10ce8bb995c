//! X11 capture against a real Xvfb: pixels, damage, monitors, hot-plug,
//! cursor. Each test starts its own Xvfb on a free display number.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use capture::x11::X11Source;
use capture::{Band, CaptureError, Frame, Grab, Monitor, Source};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};
use x11rb::wrapper::ConnectionExt as _;

struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start(w: u32, h: u32) -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &format!("{w}x{h}x24"),
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (apt-get install xvfb)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Xvfb {
            child,
            display: format!(":{}", line.trim()),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let st = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .status()
            .unwrap();
        assert!(st.success(), "{program} {args:?}");
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that keeps solid-colour windows mapped at known places.
struct Painter {
    conn: x11rb::rust_connection::RustConnection,
    root: u32,
}

impl Painter {
    fn new(display: &str) -> Painter {
        let (conn, screen) = x11rb::connect(Some(display)).unwrap();
        let root = conn.setup().roots[screen].root;
        Painter { conn, root }
    }

    /// Maps an override-redirect window of colour `rgb` (0xRRGGBB).
    fn rect(&self, x: i16, y: i16, w: u16, h: u16, rgb: u32) -> u32 {
        let id = self.conn.generate_id().unwrap();
        let aux = CreateWindowAux::new()
            .background_pixel(rgb)
            .override_redirect(1);
        self.conn
            .create_window(
                0,
                id,
                self.root,
                x,
                y,
                w,
                h,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .unwrap();
        self.conn.map_window(id).unwrap();
        self.conn.sync().unwrap();
        id
    }

    /// Maps the secret window: green, titled "Card payment" (`WM_NAME`),
    /// what the rule [`pay_rule`] masks.
    fn secret(&self, x: i16, y: i16, w: u16, h: u16) -> u32 {
        use x11rb::protocol::xproto::{AtomEnum, PropMode};
        let id = self.rect(x, y, w, h, 0x00ff00);
        self.conn
            .change_property8(
                PropMode::REPLACE,
                id,
                AtomEnum::WM_NAME,
                AtomEnum::STRING,
                b"Card payment",
            )
            .unwrap();
        self.conn.sync().unwrap();
        id
    }

    fn move_to(&self, id: u32, x: i32, y: i32) {
        let aux = x11rb::protocol::xproto::ConfigureWindowAux::new().x(x).y(y);
        self.conn.configure_window(id, &aux).unwrap();
        self.conn.sync().unwrap();
    }
}

fn bgr(frame: &Frame, x: u32, y: u32) -> [u8; 3] {
    let p = frame.pixel(x, y).unwrap();
    [p[0], p[1], p[2]]
}

/// Polls and grabs until `f` holds for the frame, or panics after 5 s.
fn grab_until(
    src: &mut X11Source,
    m: &Monitor,
    frame: &mut Frame,
    what: &str,
    f: impl Fn(&Frame) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        src.poll().unwrap();
        src.grab(m, frame).unwrap();
        if f(frame) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn full_grab_shows_windows_at_their_place_and_colour() {
    let x = Xvfb::start(800, 600);
    let p = Painter::new(&x.display);
    p.rect(100, 50, 200, 100, 0xff0000);
    p.rect(400, 300, 50, 50, 0x00ff00);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_cursor(false);
    let m = src.monitors().unwrap().remove(0);
    assert_eq!((m.width, m.height), (800, 600));
    let mut f = Frame::default();
    src.poll().unwrap();
    assert_eq!(src.grab(&m, &mut f).unwrap(), Grab::Changed(0..600));
    assert_eq!(bgr(&f, 150, 100), [0, 0, 0xff], "red window (BGR order)");
    assert_eq!(bgr(&f, 299, 149), [0, 0, 0xff]);
    assert_eq!(bgr(&f, 425, 325), [0, 0xff, 0]);
    assert_ne!(bgr(&f, 301, 100), [0, 0, 0xff], "outside the window");
}

#[test]
fn damage_fetches_only_changed_rows() {
    let x = Xvfb::start(800, 600);
    let p = Painter::new(&x.display);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_cursor(false);
    let m = src.monitors().unwrap().remove(0);
    let mut f = Frame::default();
    src.poll().unwrap();
    src.grab(&m, &mut f).unwrap();
    // Nothing happens: nothing to fetch.
    src.poll().unwrap();
    assert_eq!(src.grab(&m, &mut f).unwrap(), Grab::Unchanged);
    // A window appears at rows 200..240.
    p.rect(10, 200, 30, 40, 0x0000ff);
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        src.poll().unwrap();
        if let Grab::Changed(rows) = src.grab(&m, &mut f).unwrap() {
            break rows;
        }
        assert!(Instant::now() < deadline, "no damage seen");
    };
    assert!(rows.start <= 200 && rows.end >= 240, "{rows:?}");
    assert!(rows.end - rows.start < 600, "not a full grab: {rows:?}");
    assert_eq!(bgr(&f, 20, 220), [0xff, 0, 0]);
}

#[test]
fn two_randr_monitors_each_grab_their_own_half_and_hotplug_is_seen() {
    let x = Xvfb::start(3840, 1080);
    x.run(
        "xrandr",
        &["--setmonitor", "LEFT", "1920/508x1080/286+0+0", "screen"],
    );
    let p = Painter::new(&x.display);
    p.rect(100, 100, 50, 50, 0xff0000); // on LEFT
    p.rect(1920 + 100, 100, 50, 50, 0x00ff00); // on RIGHT, at the same local place
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_cursor(false);
    let ms = src.monitors().unwrap();
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!((ms[0].name.as_str(), ms[0].width), ("LEFT", 1920));

    x.run(
        "xrandr",
        &["--setmonitor", "RIGHT", "1920/508x1080/286+1920+0", "none"],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !src.poll().unwrap() {
        assert!(Instant::now() < deadline, "monitor added but not seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ms = src.monitors().unwrap();
    assert_eq!(ms.len(), 2);
    let right = ms.iter().find(|m| m.name == "RIGHT").unwrap().clone();
    let left = ms.iter().find(|m| m.name == "LEFT").unwrap().clone();
    assert_eq!(
        (right.x, right.y, right.width, right.height),
        (1920, 0, 1920, 1080)
    );
    let (mut fl, mut fr) = (Frame::default(), Frame::default());
    src.grab(&left, &mut fl).unwrap();
    src.grab(&right, &mut fr).unwrap();
    assert_eq!((fl.width, fr.width), (1920, 1920));
    assert_eq!(bgr(&fl, 120, 120), [0, 0, 0xff]);
    assert_eq!(bgr(&fr, 120, 120), [0, 0xff, 0]);

    x.run("xrandr", &["--delmonitor", "RIGHT"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !src.poll().unwrap() {
        assert!(Instant::now() < deadline, "monitor removed but not seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(src.monitors().unwrap().len(), 1);
    assert!(matches!(
        src.grab(&right, &mut fr),
        Err(CaptureError::NoSuchMonitor(_))
    ));
}

#[test]
fn cursor_is_drawn_where_the_pointer_is_and_follows_it() {
    let x = Xvfb::start(640, 480);
    let p = Painter::new(&x.display);
    let bg = p.rect(0, 0, 640, 480, 0x808080);
    let _ = bg;
    x.run("xdotool", &["mousemove", "200", "150"]);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    let m = src.monitors().unwrap().remove(0);
    let mut f = Frame::default();
    let near = |f: &Frame, cx: u32, cy: u32| {
        (cx.saturating_sub(12)..cx + 12)
            .flat_map(|x| (cy.saturating_sub(12)..cy + 12).map(move |y| (x, y)))
            .filter(|&(x, y)| bgr(f, x, y) != [0x80, 0x80, 0x80])
            .count()
    };
    grab_until(&mut src, &m, &mut f, "cursor at 200,150", |f| {
        near(f, 200, 150) > 5
    });
    x.run("xdotool", &["mousemove", "400", "300"]);
    grab_until(&mut src, &m, &mut f, "cursor at 400,300", |f| {
        near(f, 400, 300) > 5
    });
    assert_eq!(
        near(&f, 200, 150),
        0,
        "old cursor position restored (no trail)"
    );
    src.set_cursor(false);
    src.poll().unwrap();
    src.grab(&m, &mut f).unwrap();
    assert_eq!(near(&f, 400, 300), 0, "no cursor when off");
    // A moved window is followed as well.
    let w = p.rect(10, 10, 20, 20, 0xffffff);
    p.move_to(w, 500, 400);
    grab_until(&mut src, &m, &mut f, "moved window", |f| {
        bgr(f, 510, 410) == [0xff, 0xff, 0xff]
    });
}

#[test]
fn unreachable_display_is_a_clear_error() {
    match X11Source::connect(Some(":987")) {
        Err(CaptureError::DisplayUnavailable { display, .. }) => assert_eq!(display, ":987"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("connected to a display that does not exist"),
    }
}

/// The rule every masking test here uses: blank windows titled `Card…`.
fn pay_rule() -> capture::MaskRule {
    capture::MaskRule::new("pay", Some("^Card"), None, capture::MaskAction::Blank).unwrap()
}

/// Pixels of colour `bgr` in a frame.
fn count(f: &Frame, bgr: [u8; 3]) -> usize {
    f.data.chunks_exact(4).filter(|p| p[..3] == bgr).count()
}

/// The churn tests' scene on its own `w`×`h` Xvfb: a dark-blue desktop,
/// the secret window (80×60 at `secret_at`), a red 60×60 window above it
/// at (150, 100), and a source masking with [`pay_rule`], no cursor.
struct ChurnScene {
    src: X11Source,
    m: Monitor,
    secret: u32,
    cover: u32,
    _p: Painter,
    x: Xvfb,
}

fn churn_scene(w: u32, h: u32, secret_at: (i16, i16)) -> ChurnScene {
    let x = Xvfb::start(w, h);
    let p = Painter::new(&x.display);
    p.rect(0, 0, w as u16, h as u16, 0x000080);
    let secret = p.secret(secret_at.0, secret_at.1, 80, 60);
    let cover = p.rect(150, 100, 60, 60, 0xff0000);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_cursor(false);
    src.set_masks(vec![pay_rule()]).unwrap();
    let m = src.monitors().unwrap().remove(0);
    ChurnScene {
        src,
        m,
        secret,
        cover,
        _p: p,
        x,
    }
}

impl ChurnScene {
    /// Takes 300 grabs with `grab` while [`churn`] moves the windows from
    /// another connection; asserts that no grab shows a green pixel and
    /// that the windows changed between grabs (more than 300 changes).
    /// Returns how many grabs showed red, and grey (the mask's colour).
    fn grabs_while_churning(
        &mut self,
        frame: &mut Frame,
        mut grab: impl FnMut(&mut X11Source, &Monitor, &mut Frame),
    ) -> (usize, usize) {
        let stop = Arc::new(AtomicBool::new(false));
        let churner = {
            let (d, s) = (self.x.display.clone(), stop.clone());
            let (size, secret, cover) = ((self.m.width, self.m.height), self.secret, self.cover);
            std::thread::spawn(move || churn(d, size, secret, cover, s))
        };
        let (mut with_red, mut with_grey) = (0, 0);
        for i in 0..300 {
            self.src.poll().unwrap();
            grab(&mut self.src, &self.m, frame);
            assert_eq!(count(frame, [0, 0xff, 0]), 0, "green in grab {i}");
            with_red += usize::from(count(frame, [0, 0, 0xff]) > 0);
            with_grey += usize::from(count(frame, mask_grey()) > 0);
        }
        stop.store(true, Ordering::Relaxed);
        let changes = churner.join().unwrap();
        assert!(
            changes > 300,
            "the windows changed between grabs: {changes}"
        );
        (with_red, with_grey)
    }
}

/// The mask's flat colour as a frame stores it (BGR).
fn mask_grey() -> [u8; 3] {
    let mask = capture::mask::MASK_RGB;
    [mask[2], mask[1], mask[0]]
}

/// Moves, resizes, restacks, unmaps and maps `secret` and moves `cover`
/// about every millisecond (far busier than any desktop), from its own
/// connection, until `stop`.
fn churn(
    display: String,
    (w, h): (u32, u32),
    secret: u32,
    cover: u32,
    stop: Arc<AtomicBool>,
) -> u64 {
    use x11rb::protocol::xproto::{ConfigureWindowAux, StackMode};
    let (conn, _) = x11rb::connect(Some(&display)).unwrap();
    let mut seed: u32 = 7;
    let mut next = |n: u32| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (seed >> 16) % n
    };
    let mut changes = 0;
    while !stop.load(Ordering::Relaxed) {
        let aux = ConfigureWindowAux::new()
            .x(next(w - 60) as i32)
            .y(next(h - 60) as i32)
            .width(20 + next(100))
            .height(20 + next(80));
        let aux = match next(4) {
            0 => aux.stack_mode(StackMode::ABOVE),
            1 => aux.stack_mode(StackMode::BELOW),
            _ => aux,
        };
        conn.configure_window(secret, &aux).unwrap();
        let c = ConfigureWindowAux::new()
            .x(next(w - 60) as i32)
            .y(next(h - 60) as i32);
        conn.configure_window(cover, &c).unwrap();
        if next(8) == 0 {
            conn.unmap_window(secret).unwrap();
            conn.map_window(secret).unwrap();
        }
        conn.sync().unwrap();
        changes += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    changes
}

#[test]
fn a_masked_window_never_reaches_a_grab_while_it_and_a_window_above_it_churn() {
    let mut sc = churn_scene(320, 240, (10, 10));
    let mut frame = Frame::default();
    sc.src.poll().unwrap();
    sc.src.grab(&sc.m, &mut frame).unwrap();
    assert_eq!(count(&frame, [0, 0xff, 0]), 0, "masked from the first grab");
    assert_eq!(
        count(&frame, mask_grey()),
        80 * 60,
        "painted exactly where it is"
    );
    assert_eq!(sc.src.active_masks(), ["pay"]);

    let (with_red, with_grey) = sc.grabs_while_churning(&mut frame, |src, m, f| {
        src.grab(m, f).unwrap();
    });
    // The window above stays visible in most grabs (not everything painted).
    // The secret is stacked below the background about half the time (then
    // nothing of it shows), so the grey only needs to show in a fair share.
    assert!(with_red > 150, "red in {with_red} of 300 grabs");
    assert!(with_grey > 60, "grey in {with_grey} of 300 grabs");
}

#[test]
fn a_client_reparented_into_a_window_manager_frame_is_masked_by_its_own_title() {
    use x11rb::protocol::xproto::{AtomEnum, ConfigureWindowAux, PropMode};
    let x = Xvfb::start(320, 240);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 320, 240, 0x000080);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_cursor(false);
    src.set_masks(vec![pay_rule()]).unwrap();
    let m = src.monitors().unwrap().remove(0);
    let mut frame = Frame::default();
    const GREEN: [u8; 3] = [0, 0xff, 0];
    const RED: [u8; 3] = [0, 0, 0xff];

    // What a reparenting window manager does: a frame (red, the decorations)
    // on the root, the client (green, titled) moved into it, WM_STATE on the client.
    let name = |w: u32, title: &[u8]| {
        p.conn
            .change_property8(
                PropMode::REPLACE,
                w,
                AtomEnum::WM_NAME,
                AtomEnum::STRING,
                title,
            )
            .unwrap();
        p.conn.sync().unwrap();
    };
    let frame_win = p.rect(40, 40, 120, 100, 0xff0000);
    let client = p.rect(200, 150, 100, 80, 0x00ff00);
    name(client, b"Card payment");
    let wm_state = p
        .conn
        .intern_atom(false, b"WM_STATE")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    p.conn
        .change_property32(PropMode::REPLACE, client, wm_state, wm_state, &[1, 0])
        .unwrap();
    p.conn.reparent_window(client, frame_win, 10, 10).unwrap();
    p.conn.map_window(client).unwrap();
    p.conn.sync().unwrap();
    grab_until(&mut src, &m, &mut frame, "frame masked", |f| {
        count(f, RED) == 0 && count(f, GREEN) == 0
    });
    let grey = mask_grey();
    assert_eq!(
        count(&frame, grey),
        120 * 100,
        "the whole frame window is painted"
    );

    // The frame moves: the mask follows it.
    p.conn
        .configure_window(frame_win, &ConfigureWindowAux::new().x(180).y(120))
        .unwrap();
    p.conn.sync().unwrap();
    grab_until(&mut src, &m, &mut frame, "mask follows the frame", |f| {
        bgr(f, 200, 150) == grey && bgr(f, 60, 60) == [0x80, 0, 0]
    });
    assert_eq!(count(&frame, GREEN), 0);

    // Renamed (on the client, inside the frame): no longer masked.
    name(client, b"Inbox");
    grab_until(&mut src, &m, &mut frame, "client shown after rename", |f| {
        count(f, GREEN) == 100 * 80
    });
    assert_eq!(src.active_masks(), Vec::<String>::new());
}

/// Polls the source until `want` holds for its active window (5 s deadline).
fn active_until(
    src: &mut X11Source,
    what: &str,
    want: impl Fn(&capture::ActiveWindow) -> bool,
) -> capture::ActiveWindow {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        src.poll().unwrap();
        let now = src.active_window();
        if let Some(w) = now.as_ref().filter(|w| want(w)) {
            return w.clone();
        }
        assert!(Instant::now() < deadline, "{what}: active window {now:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_active_window_is_the_stack_top_then_the_focus_then_net_active_window_and_a_masked_title_is_the_rule_name()
 {
    use x11rb::protocol::xproto::{AtomEnum, InputFocus, PropMode};
    let x = Xvfb::start(320, 240);
    let p = Painter::new(&x.display);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_cursor(false);
    src.set_masks(vec![pay_rule()]).unwrap();
    src.track_active_window().unwrap();
    let label = |w: u32, class: &[u8], title: &[u8]| {
        p.conn
            .change_property8(
                PropMode::REPLACE,
                w,
                AtomEnum::WM_CLASS,
                AtomEnum::STRING,
                class,
            )
            .unwrap();
        p.conn
            .change_property8(
                PropMode::REPLACE,
                w,
                AtomEnum::WM_NAME,
                AtomEnum::STRING,
                title,
            )
            .unwrap();
        p.conn.sync().unwrap();
    };
    let crm = p.rect(0, 0, 100, 100, 0x0000ff);
    label(crm, b"crm\0Crm\0", b"Customer 42");
    // A child of the CRM window (where the focus really goes in a toolkit).
    let child = p.conn.generate_id().unwrap();
    p.conn
        .create_window(
            0,
            child,
            crm,
            10,
            10,
            20,
            20,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new(),
        )
        .unwrap();
    p.conn.map_window(child).unwrap();
    let pay = p.rect(100, 0, 100, 100, 0x00ff00);
    label(pay, b"pay\0PayApp\0", b"Card 4111");

    // No window manager, no focus: the top of the stacking order.
    let w = active_until(&mut src, "stack top", |w| w.class == "PayApp");
    assert_eq!((w.title.as_str(), w.mask.as_deref()), ("pay", Some("pay")));

    // The focus on a child of the CRM window: the CRM window.
    p.conn
        .set_input_focus(InputFocus::PARENT, child, x11rb::CURRENT_TIME)
        .unwrap();
    p.conn.sync().unwrap();
    let w = active_until(&mut src, "focus", |w| w.class == "Crm");
    assert_eq!(
        (w.instance.as_str(), w.title.as_str()),
        ("crm", "Customer 42")
    );
    assert_eq!(w.mask, None);

    // _NET_ACTIVE_WINDOW (an EWMH window manager) wins over the focus.
    let net = p
        .conn
        .intern_atom(false, b"_NET_ACTIVE_WINDOW")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    p.conn
        .change_property32(PropMode::REPLACE, p.root, net, AtomEnum::WINDOW, &[pay])
        .unwrap();
    p.conn.sync().unwrap();
    let w = active_until(&mut src, "_NET_ACTIVE_WINDOW", |w| w.class == "PayApp");
    // Its own title never comes out: the rule's name does.
    assert_eq!(w.title, "pay");
}

/// A band-wise grab ([`Source::grab_bands`], what the recorder uses) put
/// together into a frame, the way the recorder converts it band by band.
fn grab_bands_into(src: &mut X11Source, m: &Monitor, full: bool, frame: &mut Frame) -> Grab {
    frame.fit(m.width, m.height);
    let mut scratch = Frame::default();
    let mut bands = Vec::new();
    let grab = src
        .grab_bands(m, full, &mut scratch, &mut |b: &Band<'_>| {
            bands.push(b.rows.clone());
            frame.put_band(b)
        })
        .unwrap();
    assert!(
        scratch.data.is_empty(),
        "the X11 source keeps no whole frame"
    );
    for r in &bands {
        assert!(
            r.start.is_multiple_of(2) && (r.end.is_multiple_of(2) || r.end == m.height),
            "band {r:?}"
        );
    }
    if let Grab::Changed(rows) = &grab {
        // Rows a changed masked area adds come after the damaged ones, in
        // any order, but together they are the span, each row once.
        let mut sorted = bands.clone();
        sorted.sort_by_key(|b| b.start);
        let mut at = rows.start;
        for b in &sorted {
            assert_eq!(b.start, at, "every row once: {bands:?} for {rows:?}");
            at = b.end;
        }
        assert_eq!(at, rows.end, "every row once: {bands:?} for {rows:?}");
    } else {
        assert!(bands.is_empty());
    }
    grab
}

#[test]
fn band_wise_grabs_after_damage_across_band_edges_equal_a_fresh_whole_grab() {
    // Odd width and height; 601 rows are three MIT-SHM bands (256 rows each).
    let x = Xvfb::start(641, 601);
    let p = Painter::new(&x.display);
    p.rect(0, 0, 641, 601, 0x203040);
    let secret = p.secret(100, 230, 81, 53);
    let other = p.rect(300, 10, 41, 41, 0xff8000);
    x.run("xdotool", &["mousemove", "321", "250"]);
    let mut src = X11Source::connect(Some(&x.display)).unwrap();
    src.set_masks(vec![pay_rule()]).unwrap();
    let m = src.monitors().unwrap().remove(0);
    let mut banded = Frame::default();
    src.poll().unwrap();
    assert_eq!(
        grab_bands_into(&mut src, &m, true, &mut banded),
        Grab::Changed(0..601)
    );
    let fresh = |f: &mut Frame| {
        let mut s = X11Source::connect(Some(&x.display)).unwrap();
        s.set_masks(vec![pay_rule()]).unwrap();
        s.poll().unwrap();
        s.grab(&m, f).unwrap();
    };
    let mut whole = Frame::default();
    fresh(&mut whole);
    assert!(
        banded.data == whole.data,
        "first grab: band-wise == whole frame"
    );

    // Damage across the band edges at rows 256 and 512: windows moved over
    // them, the masked one too, and the cursor on an edge.
    p.move_to(other, 500, 490);
    p.move_to(secret, 20, 240);
    x.run("xdotool", &["mousemove", "101", "511"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        src.poll().unwrap();
        grab_bands_into(&mut src, &m, false, &mut banded);
        fresh(&mut whole);
        if banded.data == whole.data {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "damage-driven band grabs never matched a fresh grab"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let green = banded
        .data
        .chunks_exact(4)
        .filter(|p| p[..3] == [0, 0xff, 0])
        .count();
    assert_eq!(green, 0, "the masked window stays painted");
    assert_eq!(
        bgr(&banded, 510, 500),
        [0x00, 0x80, 0xff],
        "the moved window is there"
    );
    // Nothing changed since: no band at all.
    src.poll().unwrap();
    assert_eq!(
        grab_bands_into(&mut src, &m, false, &mut banded),
        Grab::Unchanged
    );
}

#[test]
fn a_masked_window_churning_across_band_edges_never_reaches_a_band_wise_grab() {
    // 600 rows: bands 0..256, 256..512, 512..600; the windows move over all.
    let mut sc = churn_scene(320, 600, (10, 240));
    let mut frame = Frame::default();
    sc.src.poll().unwrap();
    grab_bands_into(&mut sc.src, &sc.m, true, &mut frame);
    assert_eq!(count(&frame, [0, 0xff, 0]), 0, "masked from the first grab");

    let (with_red, _) = sc.grabs_while_churning(&mut frame, |src, m, f| {
        grab_bands_into(src, m, false, f);
    });
    assert!(with_red > 150, "red in {with_red} of 300 grabs");
}
