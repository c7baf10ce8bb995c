//! Helpers shared by the end-to-end tests: temp dirs, free ports, child
//! processes that die with the test, polling with a deadline, Xvfb.

#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the `screenrec` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_screenrec"))
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("screenrec-e2e-")
        .tempdir()
        .expect("temp dir")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The current time, RFC 3339 (event timestamps).
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `limit`
/// with `what` in the message. Never a fixed sleep.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (SIGKILL) when dropped; its stderr and stdout go
/// to a log file that is printed when the test panics.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    name: String,
}

impl Proc {
    /// Starts `screenrec ARGS...` with extra environment variables.
    pub fn screenrec(name: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc::spawn(name, dir, cmd)
    }

    /// Starts any command, logging to `dir/NAME.log` (appended, so a
    /// restarted process keeps one log).
    pub fn spawn(name: &str, dir: &Path, mut cmd: Command) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // A level the test set on `cmd` wins over the default.
        if std::env::var_os("SCREENREC_LOG").is_none()
            && !cmd.get_envs().any(|(k, _)| k == "SCREENREC_LOG")
        {
            cmd.env("SCREENREC_LOG", "info,screenrec=debug,srs=debug,rws=debug");
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc {
            child,
            log,
            name: name.to_string(),
        }
    }

    /// The process's output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (up to `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        signal(self.child.id(), libc_sigterm());
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- {} ({}) -----", self.name, self.log.display());
            eprintln!("{}", self.output());
        }
    }
}

fn libc_sigterm() -> &'static str {
    "TERM"
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// An Xvfb server on a free display number (`-displayfd`), `-noreset` so
/// RandR monitors set with `xrandr --setmonitor` survive clients leaving.
pub struct Xvfb {
    proc: Proc,
    /// `:N`
    pub display: String,
}

impl Xvfb {
    /// Starts `Xvfb -screen 0 WxHx24`.
    pub fn start(dir: &Path, width: u32, height: u32) -> Xvfb {
        let (read, write) = std::io::pipe().expect("pipe");
        let mut cmd = Command::new("Xvfb");
        cmd.args([
            "-displayfd",
            "3",
            "-screen",
            "0",
            &format!("{width}x{height}x24"),
            "-nolisten",
            "tcp",
            "-noreset",
        ]);
        // Hand the pipe's write end to Xvfb as fd 3.
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = write.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; only the child's fd table changes.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let proc = Proc::spawn("xvfb", dir, cmd);
        drop(write);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(read), &mut line)
            .expect("Xvfb display number");
        let n: u32 = line.trim().parse().expect("Xvfb printed a display number");
        Xvfb {
            proc,
            display: format!(":{n}"),
        }
    }

    /// Runs an X client (xrandr, xdotool, ...) on this display; panics if it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// An X client that keeps solid-colour windows mapped at known places
/// (override-redirect: no window manager needed).
pub struct Painter {
    conn: x11rb::rust_connection::RustConnection,
    root: u32,
}

impl Painter {
    pub fn new(display: &str) -> Painter {
        use x11rb::connection::Connection;
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
        let root = conn.setup().roots[screen].root;
        Painter { conn, root }
    }

    /// Maps a window of colour `rgb` (0xRRGGBB); returns its id.
    pub fn rect(&self, x: i16, y: i16, w: u16, h: u16, rgb: u32) -> u32 {
        use x11rb::connection::Connection;
        use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};
        use x11rb::wrapper::ConnectionExt as _;
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
}

/// ffprobe's answer for `entries` (e.g. `stream=codec_name,width`), as key=value lines.
pub fn ffprobe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            entries,
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Presentation times of every video frame, in seconds.
pub fn frame_times(path: &Path) -> Vec<f64> {
    ffprobe(path, "frame=pts_time")
        .lines()
        .filter_map(|l| l.strip_prefix("pts_time=")?.parse().ok())
        .collect()
}

/// The container duration in seconds.
pub fn duration(path: &Path) -> f64 {
    ffprobe(path, "format=duration")
        .lines()
        .find_map(|l| l.strip_prefix("duration=")?.parse().ok())
        .unwrap_or(0.0)
}

/// Every frame decoded to RGB24, scaled to `w` x `h`.
pub fn decode_frames(path: &Path, w: u32, h: u32) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            &format!("scale={w}:{h}:flags=neighbor"),
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact((w * h * 3) as usize)
        .map(<[u8]>::to_vec)
        .collect()
}

/// `ffmpeg -v error` decodes the whole file without a message.
pub fn decodes_cleanly(path: &Path) -> bool {
    // `-enc_time_base -1` keeps the file's own 90 kHz clock: by default the
    // null output rounds timestamps to 1/r_frame_rate, and two frames of our
    // variable-rate video closer than that (a capture tick woken late, then
    // the next one on time) become "non monotonically increasing dts" — an
    // error of ffmpeg's output, not of our file.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    if !(out.status.success() && out.stderr.is_empty()) {
        eprintln!(
            "ffmpeg on {}: {}\n{}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        return false;
    }
    true
}

/// RGB of pixel (x, y) of a `w`-wide RGB24 frame.
pub fn rgb(frame: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
    let i = ((y * w + x) * 3) as usize;
    [frame[i], frame[i + 1], frame[i + 2]]
}

/// Colours within a small tolerance (video is lossy).
pub fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 16)
}

/// A background reader of RWS's server-sent events
/// (`GET /api/v2/recordings/events`), the one SSE reader of the e2e tests.
/// The text read so far accumulates in [`Sse::text`]; [`Sse::data`] parses
/// its `data:` lines. The reader thread ends with the test process (or
/// when the server closes the stream).
pub struct Sse {
    text: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Sse {
    /// Everything read so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The JSON payload of every `data:` line read so far, in order
    /// (lines that are not JSON are skipped: keep-alive comments, partial
    /// last lines still being read).
    pub fn data(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect()
    }
}

/// Subscribes to `GET {base}/api/v2/recordings/events` as `who` (basic
/// auth) in the background. Returns once RWS answered the subscription,
/// so nothing emitted afterwards is missed (no sleep to wait for it);
/// panics unless the answer is `200`.
pub fn sse(base: &str, who: (&str, &str)) -> Sse {
    sse_from(base, who, None)
}

/// [`sse`] resuming a stream: with `Last-Event-ID: last_event_id` when
/// given (RWS first replays what came after that event). RWS subscribes
/// the stream to live events before it answers, so returning on the
/// answer is the real condition, on one node; across nodes a test waits
/// for an event it caused instead.
pub fn sse_from(base: &str, who: (&str, &str), last_event_id: Option<&str>) -> Sse {
    use std::sync::{Arc, Mutex};
    let text = Arc::new(Mutex::new(String::new()));
    let answered = Arc::new(Mutex::new(None::<u16>));
    let (url, user, pass) = (
        format!("{base}/api/v2/recordings/events"),
        who.0.to_string(),
        who.1.to_string(),
    );
    let last = last_event_id.map(str::to_string);
    {
        let (text, answered) = (text.clone(), answered.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut req = reqwest::Client::new()
                    .get(&url)
                    .basic_auth(user, Some(pass));
                if let Some(last) = last {
                    req = req.header("Last-Event-ID", last);
                }
                let Ok(mut resp) = req.send().await else {
                    *answered.lock().unwrap() = Some(0);
                    return;
                };
                *answered.lock().unwrap() = Some(resp.status().as_u16());
                while let Ok(Some(chunk)) = resp.chunk().await {
                    text.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk));
                }
            });
        });
    }
    let status = wait_for("the SSE answer", Duration::from_secs(15), || {
        *answered.lock().unwrap()
    });
    assert_eq!(status, 200, "SSE subscription as {}", who.0);
    Sse { text }
}

/// Every file under `root` (recursively; none when it does not exist),
/// sorted: what a process left on disk.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Every file under `root` whose bytes contain `needle` (logs, databases
/// and their WAL, spools): where a secret leaked to.
pub fn files_containing(root: &Path, needle: &[u8]) -> Vec<String> {
    files_under(root)
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .collect()
}
