//! Recording on the agent PC: `start`/`stop`/`pause`/`resume` from RWS (and
//! pause/resume from the desktop) drive the recorder; media goes to the
//! spool encrypted, one folder per recording (layout and manifest:
//! [`crate::spool`]).
//!
//! The active window's changes (the app lane) come from the recorder as
//! events and are kept in the manifest next to the marks; they reach RWS
//! with the end report, like the marks: crash-safe with the spool, and
//! authorised by the recording's own upload token.
//!
//! Commands are idempotent by recording id. The manifest says `recording`
//! until the recorder has stopped and written its last fragment. A restart
//! does not end a recording: on SIGTERM it is `suspended` ([`suspend`]); a
//! manifest still saying `recording` when SRS starts means SRS died
//! mid-recording, and it is suspended as interrupted ([`recover`]). Either
//! way what the spool holds uploads, RWS's `start` with `resume` continues
//! the same recording in new streams with a `gap` … `gap_end` span
//! ([`resume`]), and one nobody continues is closed after the grace
//! ([`finish_suspended`]; `srs_restarted`, partial, after a crash). The
//! uploader ([`crate::upload`]) deletes a folder only after RWS confirmed
//! the whole recording.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use capture::{Monitor, Source};
use media::sink::{EncryptedFileSink, SegmentSink};
use proto::control::{FromAgent, MonitorInfo, RecordingStatus, StopReason};
use proto::upload::Mark;
use recorder::{MonitorSelection, Recorder, RecorderConfig, SinkFactory};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Srs;
use crate::spool::{RecDir, SpoolState, Wake, create_private_dir, set_private};

/// Where SRS captures the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// An X display (`None`: `$DISPLAY`).
    X11(Option<String>),
    /// Moving test content: monitor width, height and how many monitors
    /// side by side (machines without a display, tests).
    Synthetic(u32, u32, u32),
}

pub(crate) struct Active {
    stats: std::sync::Arc<recorder::RecorderStats>,
    id: String,
    dir: RecDir,
    recorder: Option<Recorder>,
    deadline: Instant,
    paused: bool,
    /// Why it is paused (`desktop`, or RWS's reason).
    pause_reason: Option<String>,
    manifest: Manifest,
    /// Wall-clock time of media time zero (mask marks are placed from it).
    started: OffsetDateTime,
    /// Names of the masking rules matching a mapped window right now.
    masked: Vec<String>,
    /// Someone watches live and the directory says the agent is told
    /// (`live_notice`): the notice says `watched`.
    watched: bool,
}

/// Recording state of the service.
#[derive(Default)]
pub(crate) struct RecState {
    active: Option<Active>,
    /// Recordings this SRS has started (a repeated `start` is a no-op).
    known: HashSet<String>,
    /// The desktop asked for a pause (PCI): applies to recordings started
    /// while it holds, too.
    desktop_paused: bool,
    /// What the agent is told (`GET /api/v2/me/recording`), kept current
    /// by every change below.
    notice: crate::notice::Notice,
    /// An on-demand live preview ([`crate::preview`]), never together with
    /// a recording.
    pub(crate) preview: Option<crate::preview::Running>,
}

impl RecState {
    /// A recording runs.
    pub(crate) fn is_recording(&self) -> bool {
        self.active.is_some()
    }

    /// [`RecState::renotice`] for [`crate::preview`].
    pub(crate) fn renotice_pub(&mut self) {
        self.renotice();
    }

    pub(crate) fn known_extend(&mut self, ids: Vec<String>) {
        self.known.extend(ids);
    }

    /// Recomputes the agent notice after a change (its `since` moves only
    /// when the state or reason changed).
    fn renotice(&mut self) {
        let now = now_rfc3339();
        let next = match &self.active {
            // Idle, but watched while a preview runs with `live_notice`.
            None => crate::notice::Observed {
                watched: self.preview.as_ref().is_some_and(|p| p.watched),
                ..crate::notice::Observed::idle()
            },
            Some(a) => crate::notice::Observed {
                state: if a.paused {
                    crate::notice::RecordingState::Paused
                } else if !a.masked.is_empty() {
                    crate::notice::RecordingState::Masked
                } else {
                    crate::notice::RecordingState::Recording
                },
                reason: if a.paused {
                    a.pause_reason.clone()
                } else {
                    // The rules' names, never a window title.
                    (!a.masked.is_empty()).then(|| a.masked.join(", "))
                },
                recording_id: Some(a.id.clone()),
                interaction_id: Some(a.manifest.interaction_id.clone()),
                watched: a.watched,
            },
        };
        self.notice.observe(next, now);
    }

    /// The notice as it stands.
    pub(crate) fn notice(&self) -> crate::notice::Notice {
        self.notice.clone()
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

pub use crate::spool::{Manifest, StreamMeta, rec_root};

/// Is `id` (from RWS) a UUID, the only form that may become a spool path?
pub fn valid_id(id: &str) -> bool {
    // Hyphenated form only: `Uuid::parse_str` also takes braces and URNs.
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

pub(crate) fn open_source(spec: &SourceSpec) -> Result<Box<dyn Source>, String> {
    match spec {
        SourceSpec::Synthetic(w, h, n) => Ok(Box::new(capture::synthetic::SyntheticSource::row(
            *w, *h, *n,
        ))),
        SourceSpec::X11(display) => {
            let name = display
                .clone()
                .or_else(|| std::env::var("DISPLAY").ok())
                .ok_or_else(|| "no display to record: start SRS with --display or $DISPLAY set, or --source synthetic".to_string())?;
            capture::x11::X11Source::connect(Some(&name))
                .map(|s| Box::new(s) as Box<dyn Source>)
                .map_err(|e| format!("cannot capture display {name}: {e}"))
        }
    }
}

/// Makes the encrypted sink of each monitor stream and enforces the quota.
struct SpoolSinks {
    dir: RecDir,
    recipients: Vec<age::x25519::Recipient>,
    used: Arc<AtomicU64>,
    quota: u64,
    /// Woken after each segment is durable: the uploader sends it at once.
    wake: Wake,
    /// The number of the recorder's first stream in the folder: 0, or after
    /// a resume the count of streams the previous SRS wrote (their files stay
    /// and upload as media files of their own).
    first_stream: usize,
}

impl SinkFactory for SpoolSinks {
    fn create(&mut self, monitor: &Monitor, n: usize) -> media::Result<Box<dyn SegmentSink>> {
        let n = self.first_stream + n;
        let meta = StreamMeta {
            stream: n,
            monitor: MonitorInfo {
                name: monitor.name.clone(),
                x: monitor.x,
                y: monitor.y,
                width: monitor.width,
                height: monitor.height,
                primary: monitor.primary,
            },
            started_at: rfc3339(OffsetDateTime::from(SystemTime::now())),
        };
        self.dir.save_stream_meta(&meta)?;
        let media = self.dir.media_path(n);
        let sink = EncryptedFileSink::create(&media, self.recipients.clone())?;
        // The sink creates its files with the umask's mode: make them private.
        set_private(&media, 0o600)?;
        set_private(&EncryptedFileSink::index_path(&media), 0o600)?;
        Ok(Box::new(QuotaSink {
            inner: sink,
            used: self.used.clone(),
            quota: self.quota,
            wake: self.wake.clone(),
            stream: n,
        }))
    }
}

/// Refuses a segment that would take the spool past its quota.
/// Wakes the uploader once a segment is on disk.
struct QuotaSink {
    inner: EncryptedFileSink,
    used: Arc<AtomicU64>,
    quota: u64,
    wake: Wake,
    stream: usize,
}

/// The message of a quota error (recognised to report `spool_full`).
const QUOTA_MESSAGE: &str = "spool quota reached";

impl SegmentSink for QuotaSink {
    fn write_segment(&mut self, segment: &media::fmp4::Segment) -> media::Result<u64> {
        let need = segment.bytes.len() as u64 + 1024;
        if self.used.load(Ordering::Relaxed) + need > self.quota {
            return Err(media::MediaError::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!("{QUOTA_MESSAGE} ({} bytes)", self.quota),
            )));
        }
        let n = self.inner.write_segment(segment)?;
        self.used.fetch_add(n + 120, Ordering::Relaxed);
        // Logged so the wake-to-PATCH latency can be measured (see
        // `docs/srs.md`): the uploader logs `PATCH starting` with the same end.
        let cipher_end = self.inner.index().last().map_or(0, |e| e.cipher_end());
        tracing::debug!(stream = self.stream, cipher_end, "segment spooled");
        self.wake.notify_one();
        Ok(n)
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

fn status(srs: &Srs, id: &str, state: RecordingStatus, reason: Option<String>) {
    status_at(srs, id, state, reason, now_rfc3339());
}

/// A status whose time is a timeline mark's (so RWS stores the mark once,
/// whether it hears it here or in the end report).
fn status_at(srs: &Srs, id: &str, state: RecordingStatus, reason: Option<String>, at: String) {
    srs.send_to_rws(FromAgent::Status {
        recording_id: id.to_string(),
        state,
        reason,
        at,
        bytes_spooled: srs.inner.spool_used.load(Ordering::Relaxed),
    });
}

/// What `start` needs.
pub struct StartCommand {
    /// Recording id.
    pub recording_id: String,
    /// Interaction.
    pub interaction_id: String,
    /// Stop by itself after this long.
    pub max_duration: Duration,
    /// Capture settings.
    pub capture: proto::CaptureSettings,
    /// age recipients.
    pub recipients: Vec<String>,
    /// tus creation URL (absolute or relative to `server`).
    pub upload_url: String,
    /// Upload token.
    pub upload_token: String,
    /// The RWS holding the session.
    pub server: url::Url,
    /// Upload cap from RWS (kbit/s), if any.
    pub upload_rate_kbit: Option<u32>,
    /// Masking rules from the directory.
    pub masks: Vec<proto::control::MaskSpec>,
    /// Report window titles on the app lane (the directory's `app_titles`).
    pub app_titles: bool,
    /// Continue the suspended recording of this id (after an SRS restart)
    /// rather than start a new one: see [`resume`].
    pub resume: bool,
}

/// Compiles the masking rules of a `start`. A rule SRS cannot compile
/// refuses the whole start with the reason: recording without it would put
/// the very window it protects on the video.
pub(crate) fn compile_masks(
    specs: &[proto::control::MaskSpec],
) -> Result<Vec<capture::MaskRule>, String> {
    if specs.len() > proto::control::MAX_MASKS {
        return Err(format!(
            "{} masking rules (at most {}): not recording",
            specs.len(),
            proto::control::MAX_MASKS
        ));
    }
    specs
        .iter()
        .map(|m| {
            let action: capture::MaskAction = m.action.parse()?;
            capture::MaskRule::new(&m.name, m.title.as_deref(), m.class.as_deref(), action)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "masking rule refused, not recording: {}",
                proto::logsafe::escape(&e.to_string())
            )
        })
}

/// Checks what a `start` from RWS names before anything touches the disk
/// (rules 5 and 6): the id must be a UUID (it becomes a spool folder), every
/// recipient an age X25519 recipient, and the upload URL must be on the
/// RWS holding the session (the upload token goes there). Returns the
/// recipients and the absolute upload URL.
fn check_start(cmd: &StartCommand) -> Result<(Vec<age::x25519::Recipient>, url::Url), String> {
    use proto::logsafe::escape;
    if !valid_id(&cmd.recording_id) {
        return Err(format!(
            "recording_id '{}' is not a UUID: refused",
            escape(&cmd.recording_id.chars().take(80).collect::<String>())
        ));
    }
    let recipients = cmd
        .recipients
        .iter()
        .map(|r| {
            media::crypt::parse_recipient(r).map_err(|_| {
                format!(
                    "recipient '{}' is not an age X25519 recipient (age1…): refusing to record",
                    escape(&r.chars().take(80).collect::<String>())
                )
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if recipients.is_empty() {
        return Err("no valid encryption recipient: refusing to record in clear".into());
    }
    let upload_url = cmd.server.join(&cmd.upload_url).map_err(|e| {
        format!(
            "upload URL '{}': {e}",
            escape(&cmd.upload_url.chars().take(200).collect::<String>())
        )
    })?;
    if !crate::servers::same_origin(&upload_url, &cmd.server) {
        return Err(format!(
            "upload URL '{}' is not on the RWS holding the session ({}): refused",
            escape(upload_url.as_str()),
            cmd.server
        ));
    }
    Ok((recipients, upload_url))
}

/// Applies `start`; `Err` is the reason sent back in the ack.
pub fn start(srs: &Srs, cmd: StartCommand) -> Result<(), String> {
    // A call always wins over an on-demand live preview (same screen).
    crate::preview::end_for_recording(srs);
    if cmd.resume {
        return resume(srs, cmd);
    }
    let (recipients, upload_url) = check_start(&cmd)?;
    let masks = compile_masks(&cmd.masks)?;
    // Before the recording state's lock (never both held).
    let agent = current_agent(srs);
    let st = srs.rec_state();
    if st.known.contains(&cmd.recording_id)
        || rec_root(&srs.config().spool)
            .join(&cmd.recording_id)
            .exists()
    {
        return Ok(());
    }
    if let Some(a) = &st.active {
        return Err(format!("recording {} is still in progress", a.id));
    }
    let used = srs.inner.spool_used.clone();
    let quota = srs.config().spool_quota;
    if used.load(Ordering::Relaxed) + 16 * 1024 > quota {
        return Err(format!(
            "spool_full: the spool holds {} bytes of its {quota}-byte quota",
            used.load(Ordering::Relaxed)
        ));
    }
    let dir = RecDir::of(&srs.config().spool, &cmd.recording_id);
    create_private_dir(dir.path()).map_err(|e| format!("spool {}: {e}", dir.path().display()))?;
    let manifest = Manifest {
        recording_id: cmd.recording_id.clone(),
        interaction_id: cmd.interaction_id.clone(),
        server: cmd.server.to_string(),
        upload_url: upload_url.to_string(),
        upload_token: cmd.upload_token.clone(),
        started_at: now_rfc3339(),
        state: SpoolState::Recording,
        reason: None,
        interrupted: false,
        stopped_at: None,
        marks: Vec::new(),
        apps: Vec::new(),
        upload_rate_kbit: cmd.upload_rate_kbit.filter(|k| *k > 0),
        gap_from: None,
        agent,
    };
    dir.save_manifest(&manifest)
        .map_err(|e| format!("spool {}: {e}", dir.path().display()))?;
    let recorder = match launch(srs, &cmd, masks, recipients, &dir, 0) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(dir.path());
            return Err(e);
        }
    };
    tracing::info!(recording = %cmd.recording_id, interaction = %proto::logsafe::escape(&cmd.interaction_id), "recording started");
    activate(srs, st, &cmd, dir, recorder, manifest);
    status(srs, &cmd.recording_id, RecordingStatus::Recording, None);
    Ok(())
}

/// The agent logged in now (kept in the manifest: only the same agent's
/// session continues a recording after a restart).
fn current_agent(srs: &Srs) -> Option<String> {
    srs.session().as_ref().map(|s| s.user.user_name.clone())
}

/// Opens the source and starts the recorder writing into `dir`, its streams
/// numbered from `first_stream`.
fn launch(
    srs: &Srs,
    cmd: &StartCommand,
    masks: Vec<capture::MaskRule>,
    recipients: Vec<age::x25519::Recipient>,
    dir: &RecDir,
    first_stream: usize,
) -> Result<Recorder, String> {
    let source = open_source(&srs.config().source)?;
    let config = RecorderConfig {
        fps: cmd.capture.fps.clamp(1, 30),
        quality: cmd.capture.quality,
        keyframe_interval: Duration::from_secs(cmd.capture.keyframe_interval_s.max(1) as u64),
        cursor: cmd.capture.cursor,
        monitors: MonitorSelection::All,
        masks,
        apps: Some(recorder::apps::AppOptions {
            titles: cmd.app_titles,
        }),
        ..RecorderConfig::default()
    };
    let sinks = SpoolSinks {
        dir: dir.clone(),
        recipients,
        used: srs.inner.spool_used.clone(),
        quota: srs.config().spool_quota,
        wake: srs.inner.upload_wake.clone(),
        first_stream,
    };
    let watch = srs.inner.watch_wake.clone();
    let wake: recorder::Waker = Arc::new(move || watch.notify_one());
    Recorder::start_waking(source, config, Box::new(sinks), Some(wake))
        .map_err(|e| format!("cannot start recording: {e}"))
}

/// Makes the started recorder the active recording (holding the desktop's
/// pause if there is one) and wakes the watch for its deadline.
fn activate(
    srs: &Srs,
    mut st: MutexGuard<'_, RecState>,
    cmd: &StartCommand,
    dir: RecDir,
    recorder: Recorder,
    manifest: Manifest,
) {
    st.known.insert(cmd.recording_id.clone());
    let mut active = Active {
        stats: recorder.stats(),
        id: cmd.recording_id.clone(),
        dir,
        recorder: Some(recorder),
        deadline: Instant::now() + cmd.max_duration,
        paused: false,
        pause_reason: None,
        manifest,
        started: OffsetDateTime::now_utc(),
        masked: Vec::new(),
        watched: false,
    };
    let held = if st.desktop_paused {
        set_paused(&mut active, true, "desktop")
    } else {
        None
    };
    st.active = Some(active);
    st.renotice();
    drop(st);
    // The watch learns the new deadline.
    srs.inner.watch_wake.notify_one();
    if let Some(at) = held {
        status_at(
            srs,
            &cmd.recording_id,
            RecordingStatus::Paused,
            Some("desktop".into()),
            at,
        );
    }
}

/// The reason of a restart's `gap` marks: a clean restart (SIGTERM), or a
/// crash found at start (what was not on disk is lost).
pub const GAP_RESTARTED: &str = "srs_restarted";
/// See [`GAP_RESTARTED`].
pub const GAP_INTERRUPTED: &str = "srs_interrupted";

/// Continues a suspended recording after an SRS restart, on RWS's `start`
/// with `resume`: same recording id and folder, new streams (new media
/// files, each with its own start time, so the player keeps them on the
/// call's clock), the upload token kept in the manifest. The span between
/// the last fragment of the previous SRS and now is marked `gap` …
/// `gap_end`. Refused unless the folder is suspended, was started by the
/// same RWS and for the agent logged in now.
pub fn resume(srs: &Srs, cmd: StartCommand) -> Result<(), String> {
    let (recipients, _) = check_start(&cmd)?;
    let masks = compile_masks(&cmd.masks)?;
    // Before the recording state's lock (never both held).
    let agent = current_agent(srs);
    let st = srs.rec_state();
    if let Some(a) = &st.active {
        if a.id == cmd.recording_id {
            return Ok(());
        }
        return Err(format!("recording {} is still in progress", a.id));
    }
    let dir = RecDir::of(&srs.config().spool, &cmd.recording_id);
    let Some(mut manifest) = dir.load_manifest() else {
        return Err(format!(
            "no spooled recording {} on this PC to continue",
            cmd.recording_id
        ));
    };
    if manifest.state != SpoolState::Suspended {
        return Err(format!(
            "recording {} is not suspended here (it ended): not continued",
            cmd.recording_id
        ));
    }
    let same_server = url::Url::parse(&manifest.server)
        .is_ok_and(|u| crate::servers::same_origin(&u, &cmd.server));
    if !same_server {
        return Err(format!(
            "recording {} was started by another RWS ({}): not continued",
            cmd.recording_id,
            proto::logsafe::escape(&manifest.server)
        ));
    }
    if manifest.agent.is_some() && manifest.agent != agent {
        return Err(format!(
            "recording {} was started for another agent: not continued",
            cmd.recording_id
        ));
    }
    let first_stream = dir.streams().len();
    let gap_end = now_rfc3339();
    let recorder = launch(srs, &cmd, masks, recipients, &dir, first_stream)?;
    let reason = if manifest.interrupted {
        GAP_INTERRUPTED
    } else {
        GAP_RESTARTED
    };
    let gap_from = manifest
        .gap_from
        .take()
        .unwrap_or_else(|| manifest.started_at.clone());
    manifest.marks.push(Mark {
        at: gap_from.clone(),
        kind: "gap".into(),
        reason: reason.into(),
    });
    manifest.marks.push(Mark {
        at: gap_end.clone(),
        kind: "gap_end".into(),
        reason: reason.into(),
    });
    manifest.state = SpoolState::Recording;
    manifest.agent = manifest.agent.or(agent);
    if let Err(e) = dir.save_manifest(&manifest) {
        tracing::error!(recording = %cmd.recording_id, error = %e, "saving the recording manifest");
    }
    tracing::info!(recording = %cmd.recording_id, first_stream, gap_from = %gap_from, gap_end = %gap_end, "recording continued after an SRS restart");
    activate(srs, st, &cmd, dir, recorder, manifest);
    Ok(())
}

/// Pauses or resumes; returns the time of the mark when it changed.
fn set_paused(a: &mut Active, paused: bool, reason: &str) -> Option<String> {
    if a.paused == paused {
        return None;
    }
    a.paused = paused;
    a.pause_reason = paused.then(|| reason.to_string());
    if let Some(r) = &a.recorder {
        if paused {
            r.pause();
        } else {
            r.resume();
        }
    }
    let at = now_rfc3339();
    a.manifest.marks.push(Mark {
        at: at.clone(),
        kind: if paused { "paused" } else { "resumed" }.into(),
        reason: reason.into(),
    });
    if let Err(e) = a.dir.save_manifest(&a.manifest) {
        tracing::warn!(error = %e, "saving the recording manifest");
    }
    Some(at)
}

/// Applies `pause`/`resume` from RWS; unknown or ended recordings are a no-op.
pub fn pause(srs: &Srs, recording_id: &str, paused: bool, reason: &str) {
    let changed = {
        let mut st = srs.rec_state();
        // The desktop's PCI pause wins over an RWS resume.
        let hold = st.desktop_paused;
        let changed = match st.active.as_mut() {
            Some(a) if a.id == recording_id && (paused || !hold) => set_paused(a, paused, reason),
            _ => None,
        };
        st.renotice();
        changed
    };
    if let Some(at) = changed {
        let state = if paused {
            RecordingStatus::Paused
        } else {
            RecordingStatus::Recording
        };
        status_at(srs, recording_id, state, Some(reason.into()), at);
    }
}

/// Applies `live` from RWS: shorter fragments while someone watches (see
/// [`recorder::Recorder::set_live`]) and, with `notice`, `watched` in the
/// agent's notice. A recording that is not the running one: a no-op (it
/// ended while the command was on its way).
pub fn live(srs: &Srs, recording_id: &str, on: bool, notice: bool) {
    let mut st = srs.rec_state();
    if let Some(a) = st.active.as_mut().filter(|a| a.id == recording_id) {
        if let Some(r) = &a.recorder {
            r.set_live(on);
        }
        a.watched = on && notice;
        tracing::info!(recording = %recording_id, on, "live view");
    }
    st.renotice();
}

/// The desktop's pause/resume (PCI); returns whether a recording is running.
pub fn desktop_pause(srs: &Srs, paused: bool) -> bool {
    let (changed, id) = {
        let mut st = srs.rec_state();
        st.desktop_paused = paused;
        let out = match st.active.as_mut() {
            Some(a) => (set_paused(a, paused, "desktop"), Some(a.id.clone())),
            None => (None, None),
        };
        st.renotice();
        out
    };
    if let (Some(at), Some(id)) = (changed, &id) {
        let state = if paused {
            RecordingStatus::Paused
        } else {
            RecordingStatus::Recording
        };
        status_at(srs, id, state, Some("desktop".into()), at);
    }
    id.is_some()
}

/// What the agent is told now (`GET /api/v2/me/recording`).
pub fn notice(srs: &Srs) -> crate::notice::Notice {
    srs.rec_state().notice()
}

/// Whether the desktop holds a pause.
pub fn desktop_paused(srs: &Srs) -> bool {
    srs.rec_state().desktop_paused
}

/// Frames and encoder nanoseconds of the running recording, and whether one runs.
pub fn live_stats(srs: &Srs) -> (u64, u64, bool) {
    match &srs.rec_state().active {
        Some(a) => (
            a.stats.frames.load(Ordering::Relaxed),
            a.stats.encode_ns.load(Ordering::Relaxed),
            true,
        ),
        None => (0, 0, false),
    }
}

/// Keeps a masked span on the timeline: `masked`/`unmasked` marks with the
/// rule's name as the reason (never the window's title), at media time
/// `at` after the start.
fn mask_mark(a: &mut Active, rule: &str, on: bool, at: Duration) {
    if on {
        if a.masked.iter().any(|r| r == rule) {
            return;
        }
        a.masked.push(rule.to_string());
    } else if let Some(i) = a.masked.iter().position(|r| r == rule) {
        a.masked.remove(i);
    } else {
        return;
    }
    let when = time::Duration::try_from(at)
        .ok()
        .and_then(|d| a.started.checked_add(d))
        .unwrap_or_else(OffsetDateTime::now_utc);
    a.manifest.marks.push(Mark {
        at: rfc3339(when),
        kind: if on { "masked" } else { "unmasked" }.into(),
        reason: rule.to_string(),
    });
    if let Err(e) = a.dir.save_manifest(&a.manifest) {
        tracing::warn!(error = %e, "saving the recording manifest");
    }
}

/// Keeps an active-window change for the app lane, at media time `at`
/// after the start (the recorder debounced, bounded and rate-limited it; a
/// masked window's title is already its rule's name). At most
/// [`proto::upload::MAX_APP_MARKS`] per recording: the rest are dropped.
///
/// Kept in the manifest (for the end report, and across a `kill -9`) and
/// sent to RWS at once as an `app` frame, so the lane shows during the
/// call. The outbox holds it while the control channel is down and sends
/// it on reconnect; a frame lost with a dying connection still arrives
/// with the end report, and RWS keeps each change once (same `at`).
fn app_mark(srs: &Srs, a: &mut Active, class: String, title: Option<String>, at: Duration) {
    if a.manifest.apps.len() >= proto::upload::MAX_APP_MARKS {
        return;
    }
    let when = time::Duration::try_from(at)
        .ok()
        .and_then(|d| a.started.checked_add(d))
        .unwrap_or_else(OffsetDateTime::now_utc);
    let mark = proto::upload::AppMark {
        at: rfc3339(when),
        class,
        title,
    };
    srs.send_to_rws(FromAgent::App {
        recording_id: a.id.clone(),
        at: mark.at.clone(),
        class: mark.class.clone(),
        title: mark.title.clone(),
    });
    a.manifest.apps.push(mark);
    if let Err(e) = a.dir.save_manifest(&a.manifest) {
        tracing::warn!(error = %e, "saving the recording manifest");
    }
}

/// Keeps the mask spans of recorder events; true when a segment was written.
fn apply_events(srs: &Srs, a: &mut Active, events: Vec<recorder::RecorderEvent>) -> bool {
    let mut wrote = false;
    for ev in events {
        match ev {
            recorder::RecorderEvent::SegmentWritten { .. } => wrote = true,
            recorder::RecorderEvent::MaskStarted { rule, at, .. } => mask_mark(a, &rule, true, at),
            recorder::RecorderEvent::MaskEnded { rule, at } => mask_mark(a, &rule, false, at),
            recorder::RecorderEvent::AppChanged { class, title, at } => {
                app_mark(srs, a, class, title, at)
            }
            _ => {}
        }
    }
    wrote
}

/// The recording in progress.
pub fn active_id(srs: &Srs) -> Option<(String, bool)> {
    srs.rec_state()
        .active
        .as_ref()
        .map(|a| (a.id.clone(), a.paused))
}

/// Stops the recording `recording_id` (or whichever is active when `None`):
/// the recorder writes its last fragment, the manifest says `stopped`, RWS
/// hears `status stopped`, the uploader finishes it.
pub async fn stop(srs: &Srs, recording_id: Option<&str>, reason: StopReason) {
    let Some((mut a, summary)) = stop_recorder(srs, recording_id).await else {
        // Not recording it: a recording suspended by a restart ends here
        // (the call ended while SRS was down).
        if let Some(id) = recording_id {
            finish_suspended(srs, Some(id), reason);
        }
        return;
    };
    let mut reason = reason;
    if matches!(&summary, Some(Err(_))) {
        reason = StopReason::CaptureFailed;
    }
    if a.manifest.interrupted {
        // Continued after a crash: what ends is still a partial recording.
        reason = StopReason::SrsRestarted;
    }
    a.manifest.state = SpoolState::Stopped;
    a.manifest.reason = Some(reason);
    a.manifest.stopped_at = Some(now_rfc3339());
    if let Err(e) = a.dir.save_manifest(&a.manifest) {
        tracing::error!(recording = %a.id, error = %e, "saving the recording manifest");
    }
    tracing::info!(recording = %a.id, reason = reason.as_str(), "recording stopped");
    status(
        srs,
        &a.id,
        RecordingStatus::Stopped,
        Some(reason.as_str().into()),
    );
    srs.inner.upload_wake.notify_one();
}

/// The recorder's outcome when it was stopped (`None`: it had gone).
type StopSummary = Option<Result<recorder::Summary, recorder::RecorderError>>;

/// Takes the active recording (`recording_id`, or any when `None`) and
/// stops its recorder: the last fragment is written, the spans still open
/// are closed on its timeline.
async fn stop_recorder(srs: &Srs, recording_id: Option<&str>) -> Option<(Active, StopSummary)> {
    let taken = {
        let mut st = srs.rec_state();
        let taken = match &st.active {
            Some(a) if recording_id.is_none_or(|id| id == a.id) => st.active.take(),
            _ => None,
        };
        st.renotice();
        taken
    };
    let mut a = taken?;
    let m = &srs.inner.metrics;
    m.frames_done
        .fetch_add(a.stats.frames.load(Ordering::Relaxed), Ordering::Relaxed);
    m.encode_ns_done
        .fetch_add(a.stats.encode_ns.load(Ordering::Relaxed), Ordering::Relaxed);
    let recorder = a.recorder.take();
    let mut summary = tokio::task::spawn_blocking(move || recorder.map(|r| r.stop()))
        .await
        .ok()
        .flatten();
    if let Some(Ok(s)) = summary.as_mut() {
        // The recorder ends the spans still open when it stops.
        apply_events(srs, &mut a, std::mem::take(&mut s.events));
    }
    if let Some(Ok(s)) = &summary
        && let Some(e) = &s.error
    {
        tracing::warn!(recording = %a.id, error = %e, "the recorder had stopped early");
    }
    Some((a, summary))
}

/// On SIGTERM (a restart): stops the active recording *without ending it*.
/// The last fragment is written, the manifest says `suspended` with the
/// gap's start, RWS hears `restarting`; the uploader sends what is on disk
/// and the next SRS continues the recording ([`resume`]). Returns its id.
pub async fn suspend(srs: &Srs) -> Option<String> {
    let (mut a, _) = stop_recorder(srs, None).await?;
    let gap_from = last_media_time(&a.dir, &a.manifest);
    a.manifest.state = SpoolState::Suspended;
    a.manifest.gap_from = Some(gap_from.clone());
    if let Err(e) = a.dir.save_manifest(&a.manifest) {
        tracing::error!(recording = %a.id, error = %e, "saving the recording manifest");
    }
    tracing::info!(recording = %a.id, gap_from = %gap_from, "recording suspended for a restart: the next SRS continues it");
    srs.send_to_rws(FromAgent::Restarting {
        recording_id: a.id.clone(),
        at: gap_from,
    });
    srs.inner.upload_wake.notify_one();
    Some(a.id)
}

/// Ends the suspended recordings no `start` with `resume` claimed (`only`:
/// that one; `None`: all, after the resume grace): `stopped`, so the
/// uploader finishes them — `srs_restarted` (partial) after a crash,
/// `reason` after a clean restart.
pub fn finish_suspended(srs: &Srs, only: Option<&str>, reason: StopReason) {
    let active = active_id(srs).map(|(id, _)| id);
    for dir in crate::spool::recording_dirs(&srs.config().spool) {
        let Some(mut m) = dir.load_manifest() else {
            continue;
        };
        if m.state != SpoolState::Suspended
            || only.is_some_and(|id| id != m.recording_id)
            || active.as_deref() == Some(m.recording_id.as_str())
        {
            continue;
        }
        let reason = if m.interrupted {
            StopReason::SrsRestarted
        } else {
            reason
        };
        m.state = SpoolState::Stopped;
        m.reason = Some(reason);
        m.stopped_at = Some(m.gap_from.take().unwrap_or_else(now_rfc3339));
        match dir.save_manifest(&m) {
            Ok(()) => {
                tracing::warn!(recording = %m.recording_id, reason = reason.as_str(), "suspended recording not continued: uploading what the spool holds")
            }
            Err(e) => {
                tracing::error!(recording = %m.recording_id, error = %e, "ending a suspended recording")
            }
        }
    }
    srs.inner.upload_wake.notify_one();
}

/// Watches the active recording: its events (mask spans, pauses), a
/// recorder that stopped by itself (spool full, display gone) and the
/// maximum duration. Event-driven: the recorder thread wakes it after each
/// event and when it ends, `start` when there is a new deadline; the only
/// timer is that deadline.
pub fn spawn_watch(srs: Srs) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let deadline = srs.rec_state().active.as_ref().map(|a| a.deadline);
            match deadline {
                Some(d) => {
                    tokio::select! {
                        () = srs.inner.watch_wake.notified() => {}
                        () = tokio::time::sleep_until(tokio::time::Instant::from_std(d)) => {}
                    }
                }
                None => srs.inner.watch_wake.notified().await,
            }
            let verdict = {
                let mut st = srs.rec_state();
                let verdict = match &mut st.active {
                    None => None,
                    Some(a) => {
                        let mut wrote = false;
                        let mut events = Vec::new();
                        if let Some(r) = &a.recorder {
                            while let Ok(ev) = r.events().try_recv() {
                                events.push(ev);
                            }
                        }
                        wrote |= apply_events(&srs, a, events);
                        if wrote {
                            srs.inner.upload_wake.notify_one();
                        }
                        if a.recorder.as_ref().is_some_and(|r| r.is_finished()) {
                            Some((a.id.clone(), None))
                        } else if Instant::now() >= a.deadline {
                            Some((a.id.clone(), Some(StopReason::MaxDuration)))
                        } else {
                            None
                        }
                    }
                };
                // Mask spans may have begun or ended: the agent is told.
                st.renotice();
                verdict
            };
            match verdict {
                Some((id, Some(reason))) => stop(&srs, Some(&id), reason).await,
                Some((id, None)) => {
                    // The recorder ended by itself: find out why.
                    let taken = {
                        let mut st = srs.rec_state();
                        st.active.as_mut().and_then(|a| a.recorder.take())
                    };
                    let mut summary = match taken {
                        Some(r) => tokio::task::spawn_blocking(move || r.stop()).await.ok(),
                        None => None,
                    };
                    if let Some(Ok(s)) = summary.as_mut()
                        && let Some(a) = srs.rec_state().active.as_mut()
                    {
                        apply_events(&srs, a, std::mem::take(&mut s.events));
                    }
                    let reason = match &summary {
                        Some(Ok(s)) => match &s.error {
                            Some(e)
                                if e.to_string().contains(QUOTA_MESSAGE)
                                    || e.to_string().to_lowercase().contains("no space") =>
                            {
                                StopReason::SpoolFull
                            }
                            _ => StopReason::CaptureFailed,
                        },
                        _ => StopReason::CaptureFailed,
                    };
                    tracing::error!(recording = %id, reason = reason.as_str(), "the recorder stopped by itself");
                    let why = match &summary {
                        Some(Ok(s)) => s.error.as_ref().map(|e| e.to_string()),
                        _ => None,
                    };
                    srs.set_last_error(Some(format!(
                        "recording stopped ({}): {}",
                        reason.as_str(),
                        why.unwrap_or_default()
                    )));
                    stop(&srs, Some(&id), reason).await;
                }
                None => {}
            }
        }
    })
}

/// At start: recordings whose manifest still says `recording` were cut short
/// by a crash; they become `suspended` and interrupted (their segments
/// upload; RWS may continue them with `resume`, else
/// [`finish_suspended`] closes them after the grace).
pub fn recover(spool: &Path) -> Vec<String> {
    let mut known = Vec::new();
    for dir in crate::spool::recording_dirs(spool) {
        let Some(mut m) = dir.load_manifest() else {
            continue;
        };
        known.push(m.recording_id.clone());
        if m.state == SpoolState::Recording {
            let end = last_media_time(&dir, &m);
            m.state = SpoolState::Suspended;
            m.interrupted = true;
            m.gap_from = Some(end);
            match dir.save_manifest(&m) {
                Ok(()) => {
                    tracing::warn!(recording = %m.recording_id, "SRS had stopped mid-recording: uploading what the spool holds; RWS may continue it")
                }
                Err(e) => {
                    tracing::error!(recording = %m.recording_id, error = %e, "recovering a recording")
                }
            }
        }
    }
    known
}

/// The wall-clock end of the last fragment on disk of any stream (a
/// stream whose index is corrupt counts from its start, and is logged).
fn last_media_time(dir: &RecDir, m: &Manifest) -> String {
    let mut best: Option<OffsetDateTime> = None;
    for (n, meta) in dir.streams() {
        let end_ms = match dir.index(n) {
            Ok(ix) => ix.end_ms(),
            Err(e) => {
                tracing::error!(recording = %m.recording_id, error = %e, "a spooled segment index is corrupt");
                0
            }
        };
        if let Ok(t) = OffsetDateTime::parse(&meta.started_at, &Rfc3339) {
            let end = t + Duration::from_millis(end_ms);
            if best.is_none_or(|b| end > b) {
                best = Some(end);
            }
        }
    }
    best.map(rfc3339).unwrap_or_else(|| m.started_at.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::test_support::{recipient, service};

    fn manifest(state: SpoolState) -> Manifest {
        Manifest {
            recording_id: "0b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f".into(),
            interaction_id: "call-1".into(),
            server: "http://127.0.0.1:1/".into(),
            upload_url: "http://127.0.0.1:1/api/v2/srs/uploads".into(),
            upload_token: "tok".into(),
            started_at: "2026-11-30T10:00:00.000Z".into(),
            state,
            reason: None,
            interrupted: false,
            stopped_at: None,
            marks: Vec::new(),
            apps: Vec::new(),
            upload_rate_kbit: None,
            gap_from: None,
            agent: Some("agent1".into()),
        }
    }

    /// A crash leaves `recording`: recovery makes it suspended and
    /// interrupted (not stopped: RWS may continue it), the gap from the end
    /// of what is on disk; a suspended or stopped one is left as it is.
    #[test]
    fn recovery_suspends_a_recording_cut_by_a_crash() {
        let spool = tempfile::tempdir().unwrap();
        let ids = [
            (
                "0b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f",
                SpoolState::Recording,
            ),
            (
                "1b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f",
                SpoolState::Suspended,
            ),
            ("2b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f", SpoolState::Stopped),
        ];
        for (id, state) in ids {
            let dir = RecDir::of(spool.path(), id);
            create_private_dir(dir.path()).unwrap();
            let mut m = manifest(state);
            m.recording_id = id.into();
            dir.save_manifest(&m).unwrap();
        }
        let known = recover(spool.path());
        assert_eq!(known.len(), 3);
        let crashed = RecDir::of(spool.path(), ids[0].0).load_manifest().unwrap();
        assert_eq!(crashed.state, SpoolState::Suspended);
        assert!(crashed.interrupted);
        // No stream on disk: the gap starts at the recording's start.
        assert_eq!(
            crashed.gap_from.as_deref(),
            Some("2026-11-30T10:00:00.000Z")
        );
        assert_eq!(crashed.stopped_at, None);
        let clean = RecDir::of(spool.path(), ids[1].0).load_manifest().unwrap();
        assert_eq!(
            (clean.state, clean.interrupted),
            (SpoolState::Suspended, false)
        );
        let done = RecDir::of(spool.path(), ids[2].0).load_manifest().unwrap();
        assert_eq!(done.state, SpoolState::Stopped);
    }

    /// A long outage fills the outbox: app-lane frames (which the end
    /// report carries again) make room before any `status` frame does.
    #[test]
    fn a_full_outbox_drops_app_frames_before_status_frames() {
        let spool = tempfile::tempdir().unwrap();
        let srs = service(spool.path());
        let status = |i: u64| FromAgent::Status {
            recording_id: "r".into(),
            state: RecordingStatus::Recording,
            reason: None,
            at: format!("{i}"),
            bytes_spooled: i,
        };
        let app = |i: u64| FromAgent::App {
            recording_id: "r".into(),
            at: format!("{i}"),
            class: "C".into(),
            title: None,
        };
        srs.send_to_rws(status(0));
        for i in 1..1000 {
            srs.send_to_rws(app(i));
        }
        for i in 1000..1500 {
            srs.send_to_rws(status(i));
        }
        let q = srs.take_outbox();
        assert_eq!(q.len(), 1000);
        assert_eq!(q[0], status(0));
        let statuses = q
            .iter()
            .filter(|m| matches!(m, FromAgent::Status { .. }))
            .count();
        assert_eq!(statuses, 501);
        // The oldest app frames went; the newest stay, in order.
        assert_eq!(q[1], app(501));
        assert_eq!(q[499], app(999));
    }

    fn resume_cmd(id: &str, server: &str) -> StartCommand {
        StartCommand {
            recording_id: id.into(),
            interaction_id: "call-1".into(),
            max_duration: Duration::from_secs(60),
            capture: proto::CaptureSettings::default(),
            recipients: vec![recipient()],
            upload_url: "/api/v2/srs/uploads".into(),
            upload_token: String::new(),
            server: url::Url::parse(server).unwrap(),
            upload_rate_kbit: None,
            masks: Vec::new(),
            app_titles: true,
            resume: true,
        }
    }

    /// A `start` with `resume` continues only a suspended recording of this
    /// spool, from the RWS that started it, for the agent logged in (none
    /// here: the manifest's agent1 is someone else); nothing is recorded
    /// and the folder is left as it was when refused.
    #[test]
    fn resume_is_refused_for_another_rws_another_agent_or_an_ended_recording() {
        let spool = tempfile::tempdir().unwrap();
        let srs = service(spool.path());
        let id = "0b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f";
        let dir = RecDir::of(spool.path(), id);
        create_private_dir(dir.path()).unwrap();
        let mut m = manifest(SpoolState::Suspended);
        m.gap_from = Some("2026-11-30T10:00:05.000Z".into());
        dir.save_manifest(&m).unwrap();
        let refused = |cmd: StartCommand| start(&srs, cmd).unwrap_err();

        let e = refused(resume_cmd(id, "http://rogue.example:1/"));
        assert!(e.contains("another RWS"), "{e}");
        let e = refused(resume_cmd(id, "http://127.0.0.1:1/"));
        assert!(e.contains("another agent"), "{e}");
        let e = refused(resume_cmd("../../etc", "http://127.0.0.1:1/"));
        assert!(e.contains("not a UUID"), "{e}");
        let e = refused(resume_cmd(
            "1b7c3f8e-1d2a-4c5b-9e8f-7a6b5c4d3e2f",
            "http://127.0.0.1:1/",
        ));
        assert!(e.contains("no spooled recording"), "{e}");
        m.state = SpoolState::Stopped;
        dir.save_manifest(&m).unwrap();
        let e = refused(resume_cmd(id, "http://127.0.0.1:1/"));
        assert!(e.contains("not suspended"), "{e}");

        let after = dir.load_manifest().unwrap();
        assert!(after.marks.is_empty() && dir.streams().is_empty());
        assert!(active_id(&srs).is_none());
    }

    #[test]
    fn the_suspended_state_is_stored_as_its_name() {
        let v = serde_json::to_value(manifest(SpoolState::Suspended)).unwrap();
        assert_eq!(v["state"], "suspended");
        assert!(v.get("gap_from").is_none(), "absent until suspended");
        let back: Manifest = serde_json::from_value(v).unwrap();
        assert_eq!(back.state, SpoolState::Suspended);
        assert_eq!(back.agent.as_deref(), Some("agent1"));
    }
}
