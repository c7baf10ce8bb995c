//! `screenrec loadgen`: a load generator for RWS (issue 12, item 5).
//!
//! It plays N native SRS at once, each as one tokio task sharing one HTTP
//! client: the real session API (`POST /api/v2/srs/sessions` with the
//! agent's own Basic credentials), the real control channel (WebSocket,
//! `hello`, heartbeats at the interval RWS gives, an `ack` for every
//! command as SRS sends it) and, with `--upload`, tus uploads of small
//! synthetic age-encrypted segments with the `screenrec-segments` header,
//! then the end report. Meanwhile it posts call events at a fixed rate and
//! measures event → command latency: from just before the POST of a call's
//! `call.established` + `recording.started` leaves to the `start` frame
//! arriving at the simulated SRS that holds the call's DN.
//!
//! `screenrec loadgen make-directory` writes the directory it needs: agent
//! `lg{i}` at place `LG_Place_{i}` with DN `{100000 + i}` on switch
//! `LG_Switch`, every password the same. The password is hashed once and
//! written as `password_hash` for everyone (the directory accepts a
//! pre-hashed argon2id PHC string), so writing 10,000 users takes one hash,
//! not 10,000; RWS still runs one real verification per session open.
//!
//! The parts: [`directory`] (`make-directory`), [`events`] (the call
//! events and their pacing), [`sessions`] (session open, the control
//! channel of each simulated SRS), [`uploads`] (tus uploads and the end
//! report), [`report`] (the summary) and [`request`] (the one way every
//! HTTP request is sent, checked and, where RWS asks for it, retried).

mod directory;
mod events;
mod report;
mod request;
mod sessions;
mod uploads;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;
use std::path::PathBuf;
use tokio::sync::{Semaphore, watch};

use events::{DRAIN, post_events};
use report::{Summary, percentile, print_summary};
use sessions::{agent, open_session};

/// The switch every generated DN is on.
pub const SWITCH: &str = "LG_Switch";
/// DN of agent `i` is `DN_BASE + i`.
pub const DN_BASE: u64 = 100_000;

/// `screenrec loadgen`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    sub: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Sub {
    /// Write a directory with N agents for the load generator.
    MakeDirectory(directory::MakeDirectoryArgs),
}

#[derive(clap::Args)]
pub(super) struct RunArgs {
    /// RWS base URL (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    pub(super) url: Option<String>,
    /// How many simulated SRS (agents `lg0` … `lg{N-1}` of make-directory).
    #[arg(long, default_value_t = 100)]
    pub(super) agents: usize,
    /// The agents' password.
    #[arg(long, default_value = "loadgen")]
    pub(super) password: String,
    /// RWS's integration token, for posting call events.
    #[arg(long, env = "SCREENREC_INTEGRATION_TOKEN", hide_env_values = true)]
    pub(super) integration_token: Option<String>,
    /// Calls started per second (0: no events, only hold the sessions).
    #[arg(long, default_value_t = 10.0)]
    pub(super) events_per_sec: f64,
    /// How long to post events, in seconds (the sessions are held that long).
    #[arg(long, default_value_t = 30)]
    pub(super) secs: u64,
    /// How long each call lasts (call.established → call.released), seconds.
    #[arg(long, default_value_t = 5.0)]
    pub(super) call_secs: f64,
    /// Upload synthetic encrypted segments while a recording runs.
    #[arg(long)]
    pub(super) upload: bool,
    /// Plaintext size of one synthetic segment, KiB.
    #[arg(long, default_value_t = 64)]
    pub(super) segment_kib: usize,
    /// One segment (one tus PATCH) every this many milliseconds per recording.
    #[arg(long, default_value_t = 1000)]
    pub(super) segment_ms: u64,
    /// Session opens in flight at once (each costs RWS one argon2 check).
    #[arg(long, default_value_t = 8)]
    pub(super) open_concurrency: usize,
    /// Give up opening the sessions after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub(super) open_timeout: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub(super) json: bool,
    /// Write one JSON line per call (call id, DN, recording id, latency).
    #[arg(long)]
    pub(super) calls_out: Option<PathBuf>,
}

/// Runs `screenrec loadgen`.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    match args.sub {
        Some(Sub::MakeDirectory(a)) => directory::make_directory(&a),
        None => run_load(args.run),
    }
}

/// What every task shares.
pub(super) struct Shared {
    pub(super) http: reqwest::Client,
    pub(super) url: String,
    pub(super) password: String,
    pub(super) upload: bool,
    pub(super) segment_bytes: usize,
    pub(super) segment_every: Duration,
    /// Agent `i` is in a call (no new call is given to it).
    pub(super) busy: Vec<AtomicBool>,
    /// Agent `i` has a recording running (or still uploading).
    pub(super) recording: Vec<AtomicBool>,
    /// Agent `i`'s control channel is up.
    pub(super) connected: Vec<AtomicBool>,
    /// Calls posted and not yet started: call id → (agent, POST time).
    pub(super) pending: Mutex<HashMap<String, (usize, Instant)>>,
    pub(super) calls: Mutex<Vec<CallRecord>>,
    pub(super) latencies_ms: Mutex<Vec<f64>>,
    pub(super) commands: AtomicU64,
    pub(super) starts: AtomicU64,
    pub(super) stops: AtomicU64,
    pub(super) upload_bytes: AtomicU64,
    pub(super) recordings_ended: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) error_samples: Mutex<Vec<String>>,
}

impl Shared {
    pub(super) fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut s = self.error_samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() < 20 {
            tracing::warn!("{what}");
            s.push(what);
        }
    }
}

/// One call as the load generator saw it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct CallRecord {
    pub(super) call_id: String,
    pub(super) dn: String,
    pub(super) agent: String,
    pub(super) recording_id: Option<String>,
    pub(super) latency_ms: Option<f64>,
}

fn run_load(a: RunArgs) -> anyhow::Result<std::process::ExitCode> {
    let Some(url) = a.url.clone() else {
        bail!("--url is required (the RWS to load)");
    };
    if a.agents == 0 {
        bail!("--agents must be at least 1");
    }
    if !(a.events_per_sec >= 0.0 && a.events_per_sec.is_finite()) {
        bail!("--events-per-sec must be a number ≥ 0");
    }
    if !(a.call_secs > 0.0 && a.call_secs.is_finite()) {
        bail!("--call-secs must be a number > 0");
    }
    if a.events_per_sec > 0.0 && a.integration_token.is_none() {
        bail!("--integration-token (or SCREENREC_INTEGRATION_TOKEN) is needed to post events");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()?;
        let shared = Arc::new(Shared {
            http,
            url: url.trim_end_matches('/').to_string(),
            password: a.password.clone(),
            upload: a.upload,
            segment_bytes: a.segment_kib.max(1) * 1024,
            segment_every: Duration::from_millis(a.segment_ms.max(10)),
            busy: (0..a.agents).map(|_| AtomicBool::new(false)).collect(),
            recording: (0..a.agents).map(|_| AtomicBool::new(false)).collect(),
            connected: (0..a.agents).map(|_| AtomicBool::new(false)).collect(),
            pending: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            latencies_ms: Mutex::new(Vec::new()),
            commands: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            stops: AtomicU64::new(0),
            upload_bytes: AtomicU64::new(0),
            recordings_ended: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            error_samples: Mutex::new(Vec::new()),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let opened = Arc::new(AtomicU64::new(0));
        let settled = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(a.open_concurrency.max(1)));
        let open_deadline = Instant::now() + Duration::from_secs(a.open_timeout);
        let t_open = Instant::now();
        let mut tasks = Vec::with_capacity(a.agents);
        for i in 0..a.agents {
            let s = shared.clone();
            let stop = stop_rx.clone();
            let gate = gate.clone();
            let opened = opened.clone();
            let settled = settled.clone();
            tasks.push(tokio::spawn(async move {
                let session = {
                    let _permit = gate.acquire().await;
                    open_session(&s, i, open_deadline).await
                };
                let session = match session {
                    Ok(r) => r,
                    Err(e) => {
                        s.error(format!("agent lg{i}: opening the session: {e:#}"));
                        settled.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                opened.fetch_add(1, Ordering::Relaxed);
                agent(s, i, session, stop, &settled).await;
            }));
        }
        // All sessions connected (or given up) before the first event.
        while settled.load(Ordering::Relaxed) < a.agents {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let open_secs = t_open.elapsed().as_secs_f64();
        eprintln!(
            "loadgen: {} of {} sessions open in {open_secs:.1}s",
            opened.load(Ordering::Relaxed),
            a.agents
        );

        let t_run = Instant::now();
        let upload_before = shared.upload_bytes.load(Ordering::Relaxed);
        let (posted, skipped) = post_events(&shared, &a).await;
        // Let the last calls end (release, stop, upload, end report).
        let drain_until =
            Instant::now() + Duration::from_secs_f64(a.call_secs) + DRAIN + Duration::from_secs(5);
        while Instant::now() < drain_until && shared.busy.iter().any(|b| b.load(Ordering::Relaxed))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let run_secs = t_run.elapsed().as_secs_f64();
        let held = shared
            .connected
            .iter()
            .filter(|c| c.load(Ordering::Relaxed))
            .count();
        let still_busy = shared
            .busy
            .iter()
            .filter(|b| b.load(Ordering::Relaxed))
            .count();
        if still_busy > 0 {
            shared.error(format!(
                "{still_busy} calls had not finished {} s after their release",
                DRAIN.as_secs()
            ));
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let missing = {
            let p = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.len() as u64
        };
        if missing > 0 {
            shared.error(format!("{missing} calls never got their start"));
        }
        let mut lat = shared
            .latencies_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        lat.sort_by(f64::total_cmp);
        let upload_bytes = shared.upload_bytes.load(Ordering::Relaxed) - upload_before;
        let summary = Summary {
            agents: a.agents,
            sessions_opened: opened.load(Ordering::Relaxed),
            sessions_held: held,
            open_secs,
            calls_posted: posted,
            calls_skipped_all_busy: skipped,
            starts_received: shared.starts.load(Ordering::Relaxed),
            starts_missing: missing,
            stops_received: shared.stops.load(Ordering::Relaxed),
            commands_received: shared.commands.load(Ordering::Relaxed),
            latency_ms_p50: percentile(&lat, 0.50),
            latency_ms_p99: percentile(&lat, 0.99),
            latency_ms_max: lat.last().copied(),
            upload_bytes,
            upload_mb_per_s: upload_bytes as f64 / 1e6 / run_secs.max(1e-9),
            recordings_ended: shared.recordings_ended.load(Ordering::Relaxed),
            errors: shared.errors.load(Ordering::Relaxed),
            error_samples: shared
                .error_samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        if let Some(path) = &a.calls_out {
            let calls = shared
                .calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let text: String = calls
                .iter()
                .filter_map(|c| serde_json::to_string(c).ok())
                .map(|l| l + "\n")
                .collect();
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        if a.json {
            println!("{}", serde_json::to_string(&summary)?);
        } else {
            print_summary(&summary);
        }
        Ok(if summary.errors == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        })
    })
}
