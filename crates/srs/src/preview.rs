//! On-demand live view of an agent who is not being recorded (RWS's
//! `preview` command, the directory's `live_view = "always"`; see
//! `docs/live-view.md`).
//!
//! SRS captures the screen with the same recorder as a recording (1 s
//! fragments, the directory's masks, every segment encrypted to the tenant)
//! but spools nothing: each encrypted segment goes through a small bounded
//! queue to RWS (`PUT {upload_url}/{stream}/{seq}` with the preview's
//! token), and RWS only streams it to the viewers. Nothing of a preview is
//! ever written to this PC's disk, so there is no spool copy to delete.
//!
//! A preview ends on RWS's `preview {on: false}` (the last viewer left),
//! when RWS answers 404/410 (it forgot the preview), after its
//! `max_duration_s`, or when a recording starts (a call always wins:
//! [`end_for_recording`]). The command arrives only on the session channel
//! to RWS ([`crate::link`]); the loopback API has no way to start one.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::fmp4::{Segment, SegmentKind};
use media::sink::SegmentSink;
use recorder::{MonitorSelection, Recorder, RecorderConfig, SinkFactory};

use crate::Srs;

/// Segments queued for RWS at most; beyond, new ones are dropped (a slow
/// link loses live frames rather than filling memory).
const QUEUE: usize = 16;
/// Longest preview SRS accepts, whatever RWS asks.
const MAX_DURATION: Duration = Duration::from_secs(30 * 60);

/// A preview running on this SRS.
pub(crate) struct Running {
    id: String,
    recorder: Option<Recorder>,
    /// The agent is told (`watched`).
    pub(crate) watched: bool,
    task: tokio::task::JoinHandle<()>,
}

/// What RWS's `preview {on: true}` carries.
pub struct PreviewCommand {
    /// The preview's id (a UUID).
    pub id: String,
    /// Tenant recipients.
    pub recipients: Vec<String>,
    /// Where the segments go (relative to `server`).
    pub upload_url: String,
    /// Bearer token for it.
    pub upload_token: String,
    /// The RWS holding the session.
    pub server: url::Url,
    /// Masking rules.
    pub masks: Vec<proto::control::MaskSpec>,
    /// Tell the agent.
    pub notice: bool,
    /// SRS ends it after this long.
    pub max_duration: Duration,
}

/// Starts a preview (`Err`: the reason sent back in the ack). A repeated
/// command for the running preview is a no-op; a recording running refuses
/// it (live view then reads the recording).
pub fn start(srs: &Srs, cmd: PreviewCommand) -> Result<(), String> {
    use proto::logsafe::escape;
    if !crate::recording::valid_id(&cmd.id) {
        return Err(format!(
            "preview_id '{}' is not a UUID: refused",
            escape(&cmd.id.chars().take(80).collect::<String>())
        ));
    }
    let recipients = cmd
        .recipients
        .iter()
        .map(|r| media::crypt::parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            "a recipient is not an age X25519 recipient: refusing to capture".to_string()
        })?;
    if recipients.is_empty() {
        return Err("no valid encryption recipient: refusing to capture in clear".into());
    }
    let url = cmd
        .server
        .join(&cmd.upload_url)
        .map_err(|e| format!("preview upload URL: {e}"))?;
    if !crate::servers::same_origin(&url, &cmd.server) || cmd.upload_token.is_empty() {
        return Err(format!(
            "preview upload URL '{}' is not on the RWS holding the session: refused",
            escape(url.as_str())
        ));
    }
    let masks = crate::recording::compile_masks(&cmd.masks)?;
    {
        let st = srs.rec_state();
        if st.is_recording() {
            return Err("a recording runs: live view reads the recording".into());
        }
        if st.preview.as_ref().is_some_and(|p| p.id == cmd.id) {
            return Ok(());
        }
    }
    stop(srs, None);
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    let source = crate::recording::open_source(&srs.config().source)?;
    let config = RecorderConfig {
        monitors: MonitorSelection::All,
        masks,
        ..RecorderConfig::default()
    };
    let recorder = Recorder::start(
        source,
        config,
        Box::new(MemorySinks {
            recipients: Arc::new(recipients),
            tx,
        }),
    )
    .map_err(|e| format!("cannot start live capture: {e}"))?;
    // 1 s fragments, each starting with a keyframe, from the first.
    recorder.set_live(true);
    let cap = if cmd.max_duration.is_zero() {
        MAX_DURATION
    } else {
        cmd.max_duration.min(MAX_DURATION)
    };
    let deadline = Instant::now() + cap;
    let task = tokio::runtime::Handle::try_current()
        .map_err(|e| format!("no runtime for the preview upload: {e}"))?
        .spawn(upload(
            srs.clone(),
            cmd.id.clone(),
            url,
            cmd.upload_token,
            rx,
            deadline,
        ));
    let mut st = srs.rec_state();
    st.preview = Some(Running {
        id: cmd.id.clone(),
        recorder: Some(recorder),
        watched: cmd.notice,
        task,
    });
    st.renotice_pub();
    tracing::info!(preview = %cmd.id, "live preview started");
    Ok(())
}

/// Stops the preview `id` (`None`: whichever runs). Blocks while the
/// recorder's threads end: call it off the async threads.
pub fn stop(srs: &Srs, id: Option<&str>) {
    let running = {
        let mut st = srs.rec_state();
        if st
            .preview
            .as_ref()
            .is_none_or(|p| id.is_some_and(|id| p.id != id))
        {
            return;
        }
        let p = st.preview.take();
        st.renotice_pub();
        p
    };
    if let Some(mut p) = running {
        p.task.abort();
        if let Some(r) = p.recorder.take()
            && let Err(e) = r.stop()
        {
            tracing::warn!(preview = %p.id, error = %e, "live preview capture ended with an error");
        }
        tracing::info!(preview = %p.id, "live preview stopped");
    }
}

/// A recording is about to start: the preview gives the screen up.
pub fn end_for_recording(srs: &Srs) {
    stop(srs, None);
}

/// Sends the queued segments to RWS until the queue closes, RWS forgets
/// the preview, or the deadline passes; then stops the capture.
async fn upload(
    srs: Srs,
    id: String,
    url: url::Url,
    token: String,
    mut rx: tokio::sync::mpsc::Receiver<(usize, u64, Vec<u8>)>,
    deadline: Instant,
) {
    let base = url.as_str().trim_end_matches('/').to_string();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = tokio::time::timeout(left, rx.recv()).await;
        let Ok(Some((stream, seq, body))) = next else {
            tracing::info!(preview = %id, "live preview over (its time cap, or the capture ended)");
            break;
        };
        let resp = srs
            .http()
            .put(format!("{base}/{stream}/{seq}"))
            .bearer_auth(&token)
            .body(body)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {}
            Ok(r) if matches!(r.status().as_u16(), 404 | 410 | 401 | 403) => {
                tracing::info!(preview = %id, status = %r.status(), "RWS no longer takes this preview");
                break;
            }
            Ok(r) => tracing::warn!(preview = %id, status = %r.status(), "preview segment refused"),
            Err(e) => tracing::warn!(preview = %id, error = %e, "preview segment not sent"),
        }
    }
    let srs2 = srs.clone();
    let _ = tokio::task::spawn_blocking(move || {
        // Not `stop(srs, Some(&id))` from here: that aborts this task; take
        // the recorder and stop it directly.
        let running = {
            let mut st = srs2.rec_state();
            if st.preview.as_ref().is_some_and(|p| p.id == id) {
                let p = st.preview.take();
                st.renotice_pub();
                p
            } else {
                None
            }
        };
        if let Some(mut p) = running
            && let Some(r) = p.recorder.take()
        {
            let _ = r.stop();
        }
    })
    .await;
}

/// Encrypts each segment in memory and queues it for [`upload`].
struct MemorySinks {
    recipients: Arc<Vec<age::x25519::Recipient>>,
    tx: tokio::sync::mpsc::Sender<(usize, u64, Vec<u8>)>,
}

impl SinkFactory for MemorySinks {
    fn create(
        &mut self,
        _monitor: &capture::Monitor,
        n: usize,
    ) -> media::Result<Box<dyn SegmentSink>> {
        Ok(Box::new(MemorySink {
            stream: n,
            next: 0,
            recipients: self.recipients.clone(),
            tx: self.tx.clone(),
        }))
    }
}

struct MemorySink {
    stream: usize,
    next: u64,
    recipients: Arc<Vec<age::x25519::Recipient>>,
    tx: tokio::sync::mpsc::Sender<(usize, u64, Vec<u8>)>,
}

impl SegmentSink for MemorySink {
    fn write_segment(&mut self, segment: &Segment) -> media::Result<u64> {
        let cipher = media::crypt::encrypt_segment(&segment.bytes, &self.recipients)?;
        let seq = match segment.kind {
            SegmentKind::Init => 0,
            _ => self.next.max(1),
        };
        self.next = seq + 1;
        let n = cipher.len() as u64;
        if self.tx.try_send((self.stream, seq, cipher)).is_err() {
            // Full (RWS slow) or closed (the preview ends): live frames
            // are not worth memory.
            tracing::debug!(stream = self.stream, seq, "preview segment dropped");
        }
        Ok(n)
    }

    fn path(&self) -> &Path {
        Path::new("(memory: live preview)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_support::{recipient, service};

    fn cmd(id: &str, url: &str) -> PreviewCommand {
        PreviewCommand {
            id: id.into(),
            recipients: vec![recipient()],
            upload_url: url.into(),
            upload_token: "tok".into(),
            server: url::Url::parse("http://127.0.0.1:1/").unwrap(),
            masks: Vec::new(),
            notice: true,
            max_duration: Duration::from_secs(60),
        }
    }

    const ID: &str = "6f1c2a8e-3d4b-4c5d-8e9f-0a1b2c3d4e5f";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_what_rws_never_sends_and_writes_nothing_to_the_spool() {
        let spool = tempfile::tempdir().unwrap();
        let srs = service(spool.path());
        let e = start(&srs, cmd("../../etc", "/api/v2/srs/previews/x")).unwrap_err();
        assert!(e.contains("not a UUID"), "{e}");
        let e = start(&srs, cmd(ID, "http://evil.example/steal")).unwrap_err();
        assert!(e.contains("not on the RWS"), "{e}");
        let mut clear = cmd(ID, "/api/v2/srs/previews/x");
        clear.recipients = vec!["not-a-key".into()];
        assert!(start(&srs, clear).is_err(), "no valid recipient");
        assert!(srs.rec_state().preview.is_none());

        // A valid one runs (its uploads fail: nothing listens), is told to
        // the agent, and leaves no file anywhere in the spool.
        let srs2 = srs.clone();
        tokio::task::spawn_blocking(move || start(&srs2, cmd(ID, "/api/v2/srs/previews/x")))
            .await
            .unwrap()
            .unwrap();
        assert!(srs.rec_state().preview.is_some());
        assert!(srs.rec_state().notice().watched);
        let srs2 = srs.clone();
        tokio::task::spawn_blocking(move || stop(&srs2, Some(ID)))
            .await
            .unwrap();
        assert!(srs.rec_state().preview.is_none());
        assert!(!srs.rec_state().notice().watched);
        let files: Vec<_> = walk(spool.path());
        assert!(files.is_empty(), "{files:?}");
    }

    fn walk(p: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }
}
