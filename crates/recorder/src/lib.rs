//! The recorder: screens in, one crash-safe video stream per monitor out.
//!
//! [`Recorder::start`] runs a loop on its own thread. Every tick (1/fps) it
//! asks the [`capture::Source`] what changed, and for each monitor stream:
//!
//! * **variable frame rate** — nothing changed: no frame (the previous one
//!   simply lasts longer), except a heartbeat frame at least every second so
//!   fragments keep flowing — a hand-made all-skip picture
//!   ([`H264Encoder::repeat_frame`]), not an encode; something changed:
//!   convert only the dirty rows, encode, mux;
//! * **keyframes** every `keyframe_interval` of wall time (and after resume);
//! * **blanking** — while paused, the frames are the flat PAUSED picture, the
//!   stream and its timeline go on;
//! * **hot-plug** — a monitor that appears starts its own stream, one that
//!   disappears ends its stream cleanly;
//! * **masking** — [`RecorderConfig::masks`] (or [`Recorder::set_masks`]
//!   mid-recording) go to the source, which paints matching windows into the
//!   captured frame before it is returned, so conversion and encoding never
//!   see them; the recorder reports when each rule starts and stops matching
//!   a mapped window ([`RecorderEvent::MaskStarted`]/[`RecorderEvent::MaskEnded`],
//!   by rule name, never by title) for the timeline;
//! * **apps** — with [`RecorderConfig::apps`], the active window's class and
//!   title (a masked window's title is its rule's name), debounced and
//!   rate-limited by [`apps::AppFilter`], as [`RecorderEvent::AppChanged`];
//!   nothing is reported while paused.
//!
//! Each finished segment goes to a [`media::sink::SegmentSink`] made by the
//! caller's [`SinkFactory`] (plain MP4 files for `screenrec record`,
//! encrypted spool files for SRS), which writes it durably before the loop
//! goes on. What happened is reported as [`RecorderEvent`]s on a channel.
//! This crate knows nothing of HTTP, SQL or async runtimes.

pub mod apps;
pub mod raw;

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use capture::{Frame, Grab, MaskAction, MaskRule, Monitor, Source};
use media::convert::I420Frame;
use media::encoder::{EncoderSettings, H264Encoder};
use media::fmp4::Fmp4Muxer;
use media::paused::paused_frame;
use media::sink::SegmentSink;

/// Fragment length while someone watches live ([`Recorder::set_live`]).
pub const LIVE_FRAGMENT: Duration = Duration::from_millis(1000);

/// Which monitors to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorSelection {
    /// Every monitor, including ones that appear later.
    All,
    /// The monitor at this index (monitors ordered by desktop position).
    Index(usize),
}

/// Recording settings.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Upper bound of frames per second.
    pub fps: u32,
    /// Pinned H.264 QP.
    pub quality: u8,
    /// Wall time between forced keyframes.
    pub keyframe_interval: Duration,
    /// Target fragment length.
    pub fragment: Duration,
    /// Longest gap between two frames, even on a still screen.
    pub heartbeat: Duration,
    /// Draw the mouse cursor.
    pub cursor: bool,
    /// Which monitors.
    pub monitors: MonitorSelection,
    /// Windows to mask (none by default).
    pub masks: Vec<MaskRule>,
    /// Follow the active window for the app lane (`None`: not followed).
    pub apps: Option<apps::AppOptions>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            fps: 5,
            quality: 14,
            keyframe_interval: Duration::from_secs(30),
            fragment: Duration::from_secs(2),
            heartbeat: Duration::from_secs(1),
            cursor: true,
            monitors: MonitorSelection::All,
            masks: Vec::new(),
            apps: None,
        }
    }
}

/// Makes the sink of each new monitor stream.
pub trait SinkFactory: Send {
    /// A sink for the `n`-th stream of the recording (0-based), which shows `monitor`.
    fn create(&mut self, monitor: &Monitor, n: usize) -> media::Result<Box<dyn SegmentSink>>;
}

/// What the recorder reports.
#[derive(Debug, Clone)]
pub enum RecorderEvent {
    /// A monitor stream began.
    StreamStarted {
        /// Stream number.
        stream: usize,
        /// The monitor.
        monitor: Monitor,
        /// Where its media goes.
        path: std::path::PathBuf,
        /// Wall-clock time of the stream's media time zero.
        started_at: SystemTime,
    },
    /// A segment is durably on disk.
    SegmentWritten {
        /// Stream number.
        stream: usize,
        /// Bytes written to disk.
        bytes: u64,
        /// Media time of the segment's first sample.
        start: Duration,
        /// Media time it covers.
        duration: Duration,
    },
    /// Frames are blanked from this media time on.
    Paused {
        /// Media time of the first stream.
        at: Duration,
    },
    /// Frames show the screen again from this media time on.
    Resumed {
        /// Media time of the first stream.
        at: Duration,
    },
    /// A mask rule started matching a mapped window (its windows are painted
    /// from this media time on).
    MaskStarted {
        /// The rule's name.
        rule: String,
        /// What the rule does.
        action: MaskAction,
        /// Media time of the first stream.
        at: Duration,
    },
    /// No mapped window matches the rule any more (or the recording ended).
    MaskEnded {
        /// The rule's name.
        rule: String,
        /// Media time of the first stream.
        at: Duration,
    },
    /// Another window became active (see [`apps`]).
    AppChanged {
        /// Its `WM_CLASS` class, bounded.
        class: String,
        /// Its title (a masked window: the rule's name), bounded; `None`
        /// when titles are off.
        title: Option<String>,
        /// Media time (of the first stream) it became active.
        at: Duration,
    },
    /// A monitor stream ended (its monitor disappeared, or the recording stopped).
    StreamEnded {
        /// Stream number.
        stream: usize,
        /// Media time covered.
        duration: Duration,
        /// Frames encoded.
        frames: u64,
    },
}

/// How a recording ended.
#[derive(Debug)]
pub struct Summary {
    /// Streams that were recorded, with their final duration and frame count.
    pub streams: Vec<StreamSummary>,
    /// The error that stopped the recording early (disk full, display lost), if any.
    pub error: Option<RecorderError>,
    /// Events sent while stopping and not read before [`Recorder::stop`]
    /// (the last `SegmentWritten`, `MaskEnded` of spans open at the end, …).
    pub events: Vec<RecorderEvent>,
}

/// One stream of a finished recording.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    /// The monitor.
    pub monitor: Monitor,
    /// Where the media went.
    pub path: std::path::PathBuf,
    /// Media time covered.
    pub duration: Duration,
    /// Frames encoded.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Errors of the recorder.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The screen source failed.
    #[error(transparent)]
    Capture(#[from] capture::CaptureError),
    /// Encoding or writing failed (disk full shows up here as an I/O error).
    #[error(transparent)]
    Media(#[from] media::MediaError),
    /// The selected monitor does not exist.
    #[error("monitor {index} does not exist: the desktop has {count} monitor(s), 0..{count}")]
    NoSuchMonitor {
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// The recorder thread is gone.
    #[error("the recorder thread stopped unexpectedly")]
    ThreadGone,
}

enum Control {
    Pause,
    Resume,
    SetMasks(Vec<MaskRule>),
    Live(bool),
    Stop,
}

/// Counters of a running recorder, for metrics.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Frames encoded, all streams.
    pub frames: std::sync::atomic::AtomicU64,
    /// Time spent in the H.264 encoder, nanoseconds.
    pub encode_ns: std::sync::atomic::AtomicU64,
    /// Frames (among `frames`) that repeat the previous picture without
    /// the encoder: heartbeats of an unchanged screen.
    pub repeats: std::sync::atomic::AtomicU64,
}

/// A running recording.
pub struct Recorder {
    stats: std::sync::Arc<RecorderStats>,
    control: Sender<Control>,
    events: Receiver<RecorderEvent>,
    thread: Option<JoinHandle<Summary>>,
    /// Set by the thread as it ends, before it wakes the owner (the
    /// `JoinHandle` says finished only a moment later).
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Called on the recorder thread after each [`RecorderEvent`] is sent and
/// once when the thread ends, so an async owner can wait for news instead
/// of polling [`Recorder::events`] and [`Recorder::is_finished`] (e.g. a
/// `tokio::sync::Notify::notify_one`).
pub type Waker = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The event channel of the recorder thread, waking its owner on each send.
struct Events {
    tx: Sender<RecorderEvent>,
    wake: Option<Waker>,
}

impl Events {
    fn send(&self, ev: RecorderEvent) -> Result<(), mpsc::SendError<RecorderEvent>> {
        let sent = self.tx.send(ev);
        if let Some(w) = &self.wake {
            w();
        }
        sent
    }
}

impl Recorder {
    /// Checks the monitor selection and starts recording on a new thread.
    pub fn start(
        source: Box<dyn Source>,
        config: RecorderConfig,
        sinks: Box<dyn SinkFactory>,
    ) -> Result<Recorder, RecorderError> {
        Self::start_waking(source, config, sinks, None)
    }

    /// [`Recorder::start`], calling `wake` after each event and when the
    /// recorder thread ends.
    pub fn start_waking(
        mut source: Box<dyn Source>,
        config: RecorderConfig,
        sinks: Box<dyn SinkFactory>,
        wake: Option<Waker>,
    ) -> Result<Recorder, RecorderError> {
        let called = Instant::now();
        let monitors = source.monitors()?;
        if let MonitorSelection::Index(index) = config.monitors
            && index >= monitors.len()
        {
            return Err(RecorderError::NoSuchMonitor {
                index,
                count: monitors.len(),
            });
        }
        // Fail early on a bad quality value, before any file exists (a
        // check, not a throw-away encoder: its memory would stay resident).
        EncoderSettings {
            qp: config.quality,
            max_fps: config.fps,
        }
        .check()?;
        source.set_cursor(config.cursor);
        source.set_masks(config.masks.clone())?;
        if config.apps.is_some()
            && let Err(e) = source.track_active_window()
        {
            // The recording matters more than its app lane.
            tracing::warn!(error = %e, "cannot follow the active window: no app lane");
        }
        let apps = config.apps.map(|o| apps::AppFilter::new(o, Instant::now()));
        let (control, control_rx) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let stats = std::sync::Arc::new(RecorderStats::default());
        let loop_stats = stats.clone();
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread_ended = ended.clone();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                let on_exit = wake.clone();
                let summary = Loop {
                    source,
                    config,
                    sinks,
                    events: Events {
                        tx: events_tx,
                        wake,
                    },
                    streams: Vec::new(),
                    ended: Vec::new(),
                    next_stream: 0,
                    paused: false,
                    origin: Instant::now(),
                    selected: None,
                    stats: loop_stats,
                    masked: Vec::new(),
                    apps,
                    called,
                    live: false,
                }
                .run(control_rx);
                thread_ended.store(true, std::sync::atomic::Ordering::SeqCst);
                if let Some(w) = on_exit {
                    w();
                }
                summary
            })
            .map_err(|e| RecorderError::Media(media::MediaError::Io(e)))?;
        Ok(Recorder {
            stats,
            control,
            events,
            thread: Some(thread),
            ended,
        })
    }

    /// Frames and encode time so far.
    pub fn stats(&self) -> std::sync::Arc<RecorderStats> {
        self.stats.clone()
    }

    /// Blanks the frames from now on (the stream goes on).
    pub fn pause(&self) {
        let _ = self.control.send(Control::Pause);
    }

    /// Shows the screen again.
    pub fn resume(&self) {
        let _ = self.control.send(Control::Resume);
    }

    /// Replaces the mask rules from the next frame on (e.g. when the
    /// directory changes mid-call); an empty list masks nothing.
    pub fn set_masks(&self, rules: Vec<MaskRule>) {
        let _ = self.control.send(Control::SetMasks(rules));
    }

    /// Someone watches live (`true`) or the last viewer left: while live,
    /// every stream cuts [`LIVE_FRAGMENT`] fragments and one at each
    /// keyframe, and the next frame is a keyframe, so a viewer who joins
    /// gets a starting point within a second; afterwards the configured
    /// fragment length again.
    pub fn set_live(&self, live: bool) {
        let _ = self.control.send(Control::Live(live));
    }

    /// Events reported so far (and as they come).
    pub fn events(&self) -> &Receiver<RecorderEvent> {
        &self.events
    }

    /// True once the recording thread has ended by itself (an error).
    pub fn is_finished(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::SeqCst)
            || self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Finishes every stream (last fragment written) and returns the summary.
    pub fn stop(mut self) -> Result<Summary, RecorderError> {
        let _ = self.control.send(Control::Stop);
        let mut summary = self
            .thread
            .take()
            .ok_or(RecorderError::ThreadGone)?
            .join()
            .map_err(|_| RecorderError::ThreadGone)?;
        summary.events = self.events.try_iter().collect();
        Ok(summary)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Stream {
    n: usize,
    monitor: Monitor,
    /// Scratch for sources that grab whole frames (not X11: it hands out
    /// bands and this stays empty).
    frame: Frame,
    /// The next grab must hand out every row (the picture is new).
    needs_full: bool,
    picture: I420Frame,
    encoder: H264Encoder,
    muxer: Fmp4Muxer,
    sink: Box<dyn SegmentSink>,
    origin: Instant,
    init_written: bool,
    last_encode: Option<Instant>,
    last_keyframe: Option<Instant>,
    showing_paused: bool,
    force_keyframe: bool,
    /// A write failed (disk full): write nothing more, so the file ends at
    /// its last complete fragment with no hole in its timeline.
    write_failed: bool,
    frames: u64,
    bytes: u64,
    /// The first fragment (the first frame alone) is on disk.
    first_fragment_written: bool,
}

struct Loop {
    source: Box<dyn Source>,
    config: RecorderConfig,
    sinks: Box<dyn SinkFactory>,
    events: Events,
    streams: Vec<Stream>,
    ended: Vec<StreamSummary>,
    next_stream: usize,
    paused: bool,
    origin: Instant,
    /// For `MonitorSelection::Index`: the monitor chosen at start.
    selected: Option<Monitor>,
    stats: std::sync::Arc<RecorderStats>,
    /// Rules matching a mapped window as of the last tick.
    masked: Vec<String>,
    /// The app lane's filter, when followed.
    apps: Option<apps::AppFilter>,
    /// When `Recorder::start` was called (for the start-latency log line).
    called: Instant,
    /// Someone watches live ([`Recorder::set_live`]).
    live: bool,
}

impl Loop {
    fn run(mut self, control: Receiver<Control>) -> Summary {
        let error = self.record(&control).err();
        if let Some(e) = &error {
            tracing::error!(error = %e, "recording stopped early");
        }
        let now = Instant::now();
        self.report_masks(Vec::new());
        for s in std::mem::take(&mut self.streams) {
            self.end_stream(s, now);
        }
        Summary {
            streams: std::mem::take(&mut self.ended),
            error,
            events: Vec::new(),
        }
    }

    fn record(&mut self, control: &Receiver<Control>) -> Result<(), RecorderError> {
        let monitors = self.source.monitors()?;
        let wanted: Vec<Monitor> = match self.config.monitors {
            MonitorSelection::All => monitors,
            MonitorSelection::Index(i) => monitors.into_iter().skip(i).take(1).collect(),
        };
        if let MonitorSelection::Index(_) = self.config.monitors {
            self.selected = wanted.first().cloned();
        }
        for m in wanted {
            self.start_stream(m)?;
        }
        let interval = Duration::from_secs_f64(1.0 / self.config.fps.max(1) as f64);
        let mut next_tick = Instant::now();
        loop {
            self.tick()?;
            next_tick += interval;
            let now = Instant::now();
            if next_tick < now {
                next_tick = now; // we fell behind: do not try to catch up
            }
            loop {
                let wait = next_tick.saturating_duration_since(Instant::now());
                match control.recv_timeout(wait) {
                    Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    Ok(Control::Pause) => self.set_paused(true),
                    Ok(Control::Resume) => self.set_paused(false),
                    Ok(Control::SetMasks(rules)) => {
                        self.config.masks = rules.clone();
                        if let Err(e) = self.source.set_masks(rules) {
                            tracing::warn!(error = %e, "mask rules not applied");
                        }
                    }
                    Ok(Control::Live(live)) => self.set_live(live),
                    Err(RecvTimeoutError::Timeout) => break,
                }
            }
        }
    }

    fn set_live(&mut self, live: bool) {
        if self.live == live {
            return;
        }
        self.live = live;
        let fragment = if live {
            LIVE_FRAGMENT.min(self.config.fragment)
        } else {
            self.config.fragment
        };
        for s in self.streams.iter_mut() {
            s.muxer.set_fragment_duration(fragment, live);
            s.force_keyframe |= live;
        }
        tracing::info!(live, "live view changed the fragment length");
    }

    fn set_paused(&mut self, paused: bool) {
        if self.paused == paused {
            return;
        }
        self.paused = paused;
        let at = self.origin.elapsed();
        let _ = self.events.send(if paused {
            RecorderEvent::Paused { at }
        } else {
            RecorderEvent::Resumed { at }
        });
        tracing::info!(paused, at_ms = at.as_millis() as u64, "blanking changed");
        // Encode the change right away rather than at the next tick.
        if let Err(e) = self.tick() {
            tracing::warn!(error = %e, "tick after pause/resume failed");
        }
    }

    fn start_stream(&mut self, monitor: Monitor) -> Result<(), RecorderError> {
        let n = self.next_stream;
        self.next_stream += 1;
        let sink = self.sinks.create(&monitor, n)?;
        let encoder = H264Encoder::new(EncoderSettings {
            qp: self.config.quality,
            max_fps: self.config.fps,
        })?;
        let picture = I420Frame::new(monitor.width, monitor.height)?;
        let mut muxer = Fmp4Muxer::new(picture.width(), picture.height(), self.config.fragment);
        if self.live {
            muxer.set_fragment_duration(LIVE_FRAGMENT.min(self.config.fragment), true);
        }
        tracing::info!(stream = n, monitor = %monitor.name, path = %sink.path().display(), "stream started");
        let _ = self.events.send(RecorderEvent::StreamStarted {
            stream: n,
            monitor: monitor.clone(),
            path: sink.path().to_path_buf(),
            started_at: SystemTime::now(),
        });
        self.streams.push(Stream {
            n,
            monitor,
            frame: Frame::default(),
            needs_full: true,
            picture,
            encoder,
            muxer,
            sink,
            origin: Instant::now(),
            init_written: false,
            last_encode: None,
            last_keyframe: None,
            showing_paused: false,
            force_keyframe: false,
            write_failed: false,
            frames: 0,
            bytes: 0,
            first_fragment_written: false,
        });
        Ok(())
    }

    fn end_stream(&mut self, mut s: Stream, now: Instant) {
        let end = now.duration_since(s.origin);
        match s.muxer.finish(end) {
            Ok(Some(seg)) if s.init_written && !s.write_failed => {
                match s.sink.write_segment(&seg) {
                    Ok(b) => s.bytes += b,
                    Err(e) => tracing::error!(stream = s.n, error = %e, "last fragment lost"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(stream = s.n, error = %e, "finishing the stream failed"),
        }
        let duration = if s.frames > 0 { end } else { Duration::ZERO };
        tracing::info!(
            stream = s.n,
            frames = s.frames,
            duration_ms = duration.as_millis() as u64,
            "stream ended"
        );
        let _ = self.events.send(RecorderEvent::StreamEnded {
            stream: s.n,
            duration,
            frames: s.frames,
        });
        self.ended.push(StreamSummary {
            monitor: s.monitor,
            path: s.sink.path().to_path_buf(),
            duration,
            frames: s.frames,
            bytes: s.bytes,
        });
    }

    fn follow_monitors(&mut self) -> Result<(), RecorderError> {
        let now_monitors = self.source.monitors()?;
        let now = Instant::now();
        // End streams whose monitor is gone (or changed geometry: it restarts).
        let (keep, gone): (Vec<Stream>, Vec<Stream>) = std::mem::take(&mut self.streams)
            .into_iter()
            .partition(|s| now_monitors.contains(&s.monitor));
        self.streams = keep;
        for s in gone {
            self.end_stream(s, now);
        }
        let wanted: Vec<Monitor> = match &self.selected {
            None => now_monitors,
            // A single selected monitor is followed by name (a resolution
            // change restarts its stream).
            Some(sel) => now_monitors
                .into_iter()
                .filter(|m| m.name == sel.name)
                .take(1)
                .collect(),
        };
        for m in wanted {
            if !self.streams.iter().any(|s| s.monitor == m) {
                self.start_stream(m)?;
            }
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), RecorderError> {
        if self.source.poll()? {
            self.follow_monitors()?;
        }
        let now = Instant::now();
        let mut streams = std::mem::take(&mut self.streams);
        let mut result = Ok(());
        for s in &mut streams {
            if let Err(e) = self.tick_stream(s, now) {
                result = Err(e);
                break;
            }
        }
        self.streams = streams;
        let active = self.source.active_masks();
        self.report_masks(active);
        self.report_app();
        result
    }

    /// Reports the active window once it changed and held (see [`apps`]).
    fn report_app(&mut self) {
        let Some(filter) = &mut self.apps else { return };
        if self.paused {
            filter.hold();
            return;
        }
        let window = self.source.active_window();
        if let Some(c) = filter.observe(Instant::now(), window.as_ref()) {
            let at = c.since.saturating_duration_since(self.origin);
            // The class only: titles are not logged.
            tracing::debug!(class = ?c.class, at_ms = at.as_millis() as u64, "active window changed");
            let _ = self.events.send(RecorderEvent::AppChanged {
                class: c.class,
                title: c.title,
                at,
            });
        }
    }

    /// Reports the rules that started or stopped matching since the last tick.
    fn report_masks(&mut self, active: Vec<String>) {
        if active == self.masked {
            return;
        }
        let at = self.origin.elapsed();
        for rule in self.masked.iter().filter(|r| !active.contains(r)) {
            tracing::info!(rule = %rule, at_ms = at.as_millis() as u64, "mask ended");
            let _ = self.events.send(RecorderEvent::MaskEnded {
                rule: rule.clone(),
                at,
            });
        }
        for rule in active.iter().filter(|r| !self.masked.contains(r)) {
            let action = self
                .config
                .masks
                .iter()
                .filter(|m| m.name() == rule)
                .map(MaskRule::action)
                .max()
                .unwrap_or_default();
            tracing::info!(rule = %rule, %action, at_ms = at.as_millis() as u64, "mask started");
            let _ = self.events.send(RecorderEvent::MaskStarted {
                rule: rule.clone(),
                action,
                at,
            });
        }
        self.masked = active;
    }

    fn tick_stream(&mut self, s: &mut Stream, now: Instant) -> Result<(), RecorderError> {
        let (w, h) = (s.monitor.width, s.monitor.height);
        let mut changed = false;
        if self.paused {
            if !s.showing_paused {
                let blank = paused_frame(w, h);
                s.picture.convert_rows(&blank, w as usize * 4, w, h, 0..h)?;
                s.showing_paused = true;
                s.force_keyframe = true;
                changed = true;
            }
        } else {
            // The first grab, and the first back from blanking, convert the
            // whole current screen; later ones the rows that changed. The
            // rows arrive band by band (the X11 source keeps no whole frame).
            let full = s.needs_full || s.showing_paused;
            let picture = &mut s.picture;
            let mut converted = Ok(());
            let grab = self
                .source
                .grab_bands(&s.monitor, full, &mut s.frame, &mut |band| {
                    if converted.is_ok() {
                        converted =
                            picture.convert_band(band.data, band.stride, w, h, band.rows.clone());
                    }
                })?;
            converted?;
            s.needs_full = false;
            if s.showing_paused {
                s.showing_paused = false;
                // A keyframe where the screen comes back, so a seek there
                // lands on content rather than on the paused picture.
                s.force_keyframe = true;
                changed = true;
            } else if let Grab::Changed(_) = grab {
                changed = true;
            }
        }
        // The second frame comes at the next tick whatever the screen does:
        // it closes the first fragment (see `Fmp4Muxer::new`), so the start
        // of the recording is on disk one frame interval after it began.
        let heartbeat_due = s.frames == 1
            || s.last_encode
                .is_none_or(|t| now.duration_since(t) >= self.config.heartbeat);
        // A forced keyframe (resume, live view) is encoded at once.
        if !changed && !heartbeat_due && !s.force_keyframe {
            return Ok(());
        }
        let keyframe = s
            .last_keyframe
            .is_none_or(|t| now.duration_since(t) >= self.config.keyframe_interval)
            || s.force_keyframe;
        let pts = now.duration_since(s.origin);
        // A heartbeat on an unchanged picture repeats the last one with a
        // hand-made all-skip frame instead of a full encode (~10 ms at
        // 1080p): a still screen then costs almost nothing.
        let repeat = if !changed && !keyframe {
            s.encoder.repeat_frame()
        } else {
            None
        };
        let encoded = match repeat {
            Some(frame) => {
                self.stats
                    .repeats
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(frame)
            }
            None => {
                let started = Instant::now();
                let encoded = s
                    .encoder
                    .encode(&s.picture, keyframe, pts.as_millis() as u64)?;
                self.stats.encode_ns.fetch_add(
                    started.elapsed().as_nanos() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                encoded
            }
        };
        let Some(encoded) = encoded else {
            return Ok(());
        };
        s.last_encode = Some(now);
        s.force_keyframe = false;
        if encoded.keyframe {
            s.last_keyframe = Some(now);
        }
        if !s.init_written {
            let Some((sps, pps)) = s.encoder.parameter_sets() else {
                return Ok(());
            };
            let init = s.muxer.init_segment(sps, pps)?;
            s.bytes += write(s, &init)?;
            s.init_written = true;
        }
        s.frames += 1;
        self.stats
            .frames
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(seg) = s.muxer.push(encoded.sample, pts, encoded.keyframe)? {
            let bytes = write(s, &seg)?;
            s.bytes += bytes;
            if !s.first_fragment_written {
                s.first_fragment_written = true;
                // The benchmark's start-latency figure reads this line.
                tracing::info!(
                    stream = s.n,
                    since_start_ms = self.called.elapsed().as_secs_f64() * 1000.0,
                    "first fragment on disk"
                );
            }
            let _ = self.events.send(RecorderEvent::SegmentWritten {
                stream: s.n,
                bytes,
                start: seg.start,
                duration: seg.duration,
            });
        }
        Ok(())
    }
}

fn write(s: &mut Stream, segment: &media::fmp4::Segment) -> Result<u64, RecorderError> {
    s.sink.write_segment(segment).map_err(|e| {
        s.write_failed = true;
        e.into()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use capture::synthetic::SyntheticSource;
    use std::sync::{Arc, Mutex};

    /// The synthetic screen, with mask rules accepted and "matching windows" set by the test.
    struct Masked {
        inner: SyntheticSource,
        active: Arc<Mutex<Vec<String>>>,
    }

    impl Source for Masked {
        fn monitors(&mut self) -> capture::Result<Vec<Monitor>> {
            self.inner.monitors()
        }
        fn poll(&mut self) -> capture::Result<bool> {
            self.inner.poll()
        }
        fn grab(&mut self, m: &Monitor, f: &mut Frame) -> capture::Result<Grab> {
            self.inner.grab(m, f)
        }
        fn set_cursor(&mut self, _on: bool) {}
        fn set_masks(&mut self, _rules: Vec<MaskRule>) -> capture::Result<()> {
            Ok(())
        }
        fn active_masks(&self) -> Vec<String> {
            self.active.lock().unwrap().clone()
        }
    }

    struct Files(std::path::PathBuf);

    impl SinkFactory for Files {
        fn create(&mut self, _m: &Monitor, n: usize) -> media::Result<Box<dyn SegmentSink>> {
            let path = self.0.join(format!("{n}.mp4"));
            Ok(Box::new(media::sink::PlainFileSink::create(&path)?))
        }
    }

    fn next_mask_event(r: &Recorder) -> RecorderEvent {
        loop {
            let e = r.events().recv_timeout(Duration::from_secs(5)).unwrap();
            if matches!(
                e,
                RecorderEvent::MaskStarted { .. } | RecorderEvent::MaskEnded { .. }
            ) {
                return e;
            }
        }
    }

    #[test]
    fn mask_spans_are_reported_by_rule_name_and_closed_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let active = Arc::new(Mutex::new(Vec::new()));
        let source = Masked {
            inner: SyntheticSource::single(64, 48),
            active: active.clone(),
        };
        let rule = MaskRule::new("pay", Some("Card"), None, MaskAction::Pause).unwrap();
        let config = RecorderConfig {
            masks: vec![rule],
            fps: 30,
            ..RecorderConfig::default()
        };
        let r =
            Recorder::start(Box::new(source), config, Box::new(Files(dir.path().into()))).unwrap();
        *active.lock().unwrap() = vec!["pay".into()];
        let RecorderEvent::MaskStarted { rule, action, .. } = next_mask_event(&r) else {
            panic!("a start first");
        };
        assert_eq!((rule.as_str(), action), ("pay", MaskAction::Pause));
        active.lock().unwrap().clear();
        assert!(
            matches!(next_mask_event(&r), RecorderEvent::MaskEnded { rule, .. } if rule == "pay")
        );
        *active.lock().unwrap() = vec!["pay".into()];
        assert!(matches!(
            next_mask_event(&r),
            RecorderEvent::MaskStarted { .. }
        ));
        let summary = r.stop().unwrap();
        assert!(
            summary
                .events
                .iter()
                .any(|e| matches!(e, RecorderEvent::MaskEnded { rule, .. } if rule == "pay")),
            "the open span ends with the recording: {:?}",
            summary.events
        );
    }

    /// A sink whose second write fails (the recorder then ends by itself).
    struct FailsSecond(usize);

    impl SegmentSink for FailsSecond {
        fn write_segment(&mut self, s: &media::fmp4::Segment) -> media::Result<u64> {
            self.0 += 1;
            if self.0 >= 2 {
                return Err(media::MediaError::Io(std::io::Error::other("disk gone")));
            }
            Ok(s.bytes.len() as u64)
        }
        fn path(&self) -> &std::path::Path {
            std::path::Path::new("fails-second")
        }
    }

    struct FailingSinks;

    impl SinkFactory for FailingSinks {
        fn create(&mut self, _m: &Monitor, _n: usize) -> media::Result<Box<dyn SegmentSink>> {
            Ok(Box::new(FailsSecond(0)))
        }
    }

    /// The next `n` fragments written: (start, duration).
    fn next_fragments(r: &Recorder, n: usize) -> Vec<(Duration, Duration)> {
        let mut out = Vec::new();
        while out.len() < n {
            match r.events().recv_timeout(Duration::from_secs(10)).unwrap() {
                RecorderEvent::SegmentWritten {
                    start, duration, ..
                } => out.push((start, duration)),
                _ => continue,
            }
        }
        out
    }

    #[test]
    fn live_mode_cuts_one_second_fragments_and_a_keyframe_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let config = RecorderConfig {
            fps: 10,
            ..RecorderConfig::default()
        };
        let r = Recorder::start(
            Box::new(SyntheticSource::single(64, 48)),
            config,
            Box::new(Files(dir.path().into())),
        )
        .unwrap();
        // The first fragment is the first frame alone; then 2 s ones.
        let normal = next_fragments(&r, 2);
        assert!(normal[1].1 >= Duration::from_millis(1900), "{normal:?}");
        r.set_live(true);
        // The fragment open at the switch ends early at the forced
        // keyframe; every one after it is about 1 s.
        let live = next_fragments(&r, 4);
        assert!(
            live.iter().all(|(_, d)| *d <= Duration::from_millis(1150)),
            "{live:?}"
        );
        assert!(
            live[1..]
                .iter()
                .all(|(_, d)| *d >= Duration::from_millis(900)),
            "{live:?}"
        );
        r.set_live(false);
        let back = next_fragments(&r, 2);
        assert!(back[1].1 >= Duration::from_millis(1900), "{back:?}");
        let summary = r.stop().unwrap();
        assert_eq!(summary.streams.len(), 1);
        // The file still decodes as one stream: fragments of mixed length
        // are ordinary fMP4.
        let bytes = std::fs::read(dir.path().join("0.mp4")).unwrap();
        let mut at = 0;
        let mut keyed = Vec::new();
        while at + 8 <= bytes.len() {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            if &bytes[at + 4..at + 8] == b"moof" {
                keyed.push(media::fmp4::fragment_starts_with_keyframe(&bytes[at..]).unwrap());
            }
            at += size.max(8);
        }
        // The first fragment, and the one that began at the forced keyframe.
        assert!(keyed.iter().filter(|k| **k).count() >= 2, "{keyed:?}");
    }

    #[test]
    fn the_waker_runs_after_each_event_and_when_the_thread_ends() {
        let (tx, rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let wake: Waker = Arc::new(move || {
            let _ = tx.lock().unwrap().send(());
        });
        let r = Recorder::start_waking(
            Box::new(SyntheticSource::single(64, 48)),
            RecorderConfig::default(),
            Box::new(FailingSinks),
            Some(wake),
        )
        .unwrap();
        // Only wakes drive this loop: a missing one (after an event, or at
        // the thread's end) runs into the deadline.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            rx.recv_timeout(left)
                .expect("a wake before the recorder ended by itself");
            events.extend(r.events().try_iter());
            if r.is_finished() {
                break;
            }
        }
        assert!(
            events
                .iter()
                .any(|e| matches!(e, RecorderEvent::StreamStarted { .. })),
            "{events:?}"
        );
        let summary = r.stop().unwrap();
        assert!(summary.error.is_some(), "it ended on the sink's error");
    }

    /// A screen that never changes after its first grab.
    struct Still {
        monitor: Monitor,
        grabbed: bool,
    }

    impl Source for Still {
        fn monitors(&mut self) -> capture::Result<Vec<Monitor>> {
            Ok(vec![self.monitor.clone()])
        }
        fn poll(&mut self) -> capture::Result<bool> {
            Ok(false)
        }
        fn grab(&mut self, m: &Monitor, f: &mut Frame) -> capture::Result<Grab> {
            if std::mem::replace(&mut self.grabbed, true) {
                return Ok(Grab::Unchanged);
            }
            f.fit(m.width, m.height);
            for (i, b) in f.data.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            Ok(Grab::Changed(0..m.height))
        }
        fn set_cursor(&mut self, _on: bool) {}
        fn set_masks(&mut self, _rules: Vec<MaskRule>) -> capture::Result<()> {
            Ok(())
        }
        fn active_masks(&self) -> Vec<String> {
            Vec::new()
        }
    }

    #[test]
    fn heartbeats_of_a_still_screen_are_repeat_frames_not_encodes() {
        let dir = tempfile::tempdir().unwrap();
        let source = Still {
            monitor: SyntheticSource::single(64, 48).monitors().unwrap()[0].clone(),
            grabbed: false,
        };
        let config = RecorderConfig {
            fps: 20,
            heartbeat: Duration::from_millis(100),
            ..RecorderConfig::default()
        };
        let r =
            Recorder::start(Box::new(source), config, Box::new(Files(dir.path().into()))).unwrap();
        let stats = r.stats();
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats.frames.load(std::sync::atomic::Ordering::Relaxed) < 8 {
            assert!(Instant::now() < deadline, "heartbeats keep coming");
            let _ = r.events().recv_timeout(Duration::from_millis(50));
        }
        let summary = r.stop().unwrap();
        let frames = summary.streams[0].frames;
        let repeats = stats.repeats.load(std::sync::atomic::Ordering::Relaxed);
        // The first picture is the only encode: every later frame is a heartbeat.
        assert_eq!(repeats, frames - 1, "{frames} frames");
    }

    #[test]
    fn mask_rules_on_a_source_without_windows_are_refused_before_recording() {
        let dir = tempfile::tempdir().unwrap();
        let rule = MaskRule::new("pay", Some("Card"), None, MaskAction::Blank).unwrap();
        let config = RecorderConfig {
            masks: vec![rule],
            ..RecorderConfig::default()
        };
        let err = Recorder::start(
            Box::new(SyntheticSource::single(64, 48)),
            config,
            Box::new(Files(dir.path().into())),
        )
        .err()
        .unwrap();
        assert!(matches!(
            err,
            RecorderError::Capture(capture::CaptureError::MaskingUnsupported)
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file");
    }
}
