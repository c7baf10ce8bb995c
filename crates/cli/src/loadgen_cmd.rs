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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Subcommand;
use futures_util::{SinkExt, StreamExt};
use proto::control::{AgentState, FromAgent, MonitorInfo, RecordingStatus, StopReason, ToAgent};
use proto::upload::{RecordingEnd, SEGMENTS_HEADER, meta};
use proto::{OpenSessionRequest, OpenSessionResponse};
use serde::Serialize;
use sha2::Digest;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

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
    MakeDirectory(MakeDirectoryArgs),
}

#[derive(clap::Args)]
struct MakeDirectoryArgs {
    /// How many agents (users `lg0`…, one place and one DN each).
    #[arg(long)]
    agents: usize,
    /// Where to write the directory (TOML).
    #[arg(long)]
    out: PathBuf,
    /// Every agent's password.
    #[arg(long, default_value = "loadgen")]
    password: String,
    /// Also add an administrator `admin` with this password.
    #[arg(long)]
    admin_password: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// RWS base URL (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    url: Option<String>,
    /// How many simulated SRS (agents `lg0` … `lg{N-1}` of make-directory).
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// The agents' password.
    #[arg(long, default_value = "loadgen")]
    password: String,
    /// RWS's integration token, for posting call events.
    #[arg(long, env = "SCREENREC_INTEGRATION_TOKEN", hide_env_values = true)]
    integration_token: Option<String>,
    /// Calls started per second (0: no events, only hold the sessions).
    #[arg(long, default_value_t = 10.0)]
    events_per_sec: f64,
    /// How long to post events, in seconds (the sessions are held that long).
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// How long each call lasts (call.established → call.released), seconds.
    #[arg(long, default_value_t = 5.0)]
    call_secs: f64,
    /// Upload synthetic encrypted segments while a recording runs.
    #[arg(long)]
    upload: bool,
    /// Plaintext size of one synthetic segment, KiB.
    #[arg(long, default_value_t = 64)]
    segment_kib: usize,
    /// One segment (one tus PATCH) every this many milliseconds per recording.
    #[arg(long, default_value_t = 1000)]
    segment_ms: u64,
    /// Session opens in flight at once (each costs RWS one argon2 check).
    #[arg(long, default_value_t = 8)]
    open_concurrency: usize,
    /// Give up opening the sessions after this many seconds.
    #[arg(long, default_value_t = 900)]
    open_timeout: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write one JSON line per call (call id, DN, recording id, latency).
    #[arg(long)]
    calls_out: Option<PathBuf>,
}

/// Runs `screenrec loadgen`.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    match args.sub {
        Some(Sub::MakeDirectory(a)) => make_directory(&a),
        None => run_load(args.run),
    }
}

fn make_directory(a: &MakeDirectoryArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::fmt::Write;
    if a.agents == 0 {
        bail!("--agents must be at least 1");
    }
    let started = Instant::now();
    let hash = rws::directory::hash_password(&a.password)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let mut out = String::with_capacity(a.agents * 200);
    out.push_str(
        "# Written by `screenrec loadgen make-directory`.\nrecording_when = \"always\"\n\n",
    );
    let _ = writeln!(out, "[[switch]]\nname = \"{SWITCH}\"\n");
    for i in 0..a.agents {
        let _ = writeln!(
            out,
            "[[place]]\nname = \"LG_Place_{i}\"\ndevices = [{{ dn = \"{}\", switch = \"{SWITCH}\" }}]\n",
            DN_BASE + i as u64
        );
    }
    for i in 0..a.agents {
        let _ = writeln!(
            out,
            "[[user]]\nusername = \"lg{i}\"\npassword_hash = \"{hash}\"\nroles = [\"agent\"]\ndefault_place = \"LG_Place_{i}\"\n"
        );
    }
    if let Some(p) = &a.admin_password {
        let h = rws::directory::hash_password(p)
            .map_err(|e| anyhow::anyhow!("hashing the admin password: {e}"))?;
        let _ = writeln!(
            out,
            "[[user]]\nusername = \"admin\"\npassword_hash = \"{h}\"\nroles = [\"admin\"]\n"
        );
    }
    std::fs::write(&a.out, out).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "loadgen: wrote {} agents to {} in {:.2}s",
        a.agents,
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// What every task shares.
struct Shared {
    http: reqwest::Client,
    url: String,
    password: String,
    upload: bool,
    segment_bytes: usize,
    segment_every: Duration,
    /// Agent `i` is in a call (no new call is given to it).
    busy: Vec<AtomicBool>,
    /// Agent `i` has a recording running (or still uploading).
    recording: Vec<AtomicBool>,
    /// Agent `i`'s control channel is up.
    connected: Vec<AtomicBool>,
    /// Calls posted and not yet started: call id → (agent, POST time).
    pending: Mutex<HashMap<String, (usize, Instant)>>,
    calls: Mutex<Vec<CallRecord>>,
    latencies_ms: Mutex<Vec<f64>>,
    commands: AtomicU64,
    starts: AtomicU64,
    stops: AtomicU64,
    upload_bytes: AtomicU64,
    recordings_ended: AtomicU64,
    errors: AtomicU64,
    error_samples: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, what: String) {
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
struct CallRecord {
    call_id: String,
    dn: String,
    agent: String,
    recording_id: Option<String>,
    latency_ms: Option<f64>,
}

/// The one summary `loadgen` prints.
#[derive(Debug, Serialize)]
struct Summary {
    agents: usize,
    sessions_opened: u64,
    sessions_held: usize,
    open_secs: f64,
    calls_posted: u64,
    calls_skipped_all_busy: u64,
    starts_received: u64,
    starts_missing: u64,
    stops_received: u64,
    commands_received: u64,
    latency_ms_p50: Option<f64>,
    latency_ms_p99: Option<f64>,
    latency_ms_max: Option<f64>,
    upload_bytes: u64,
    upload_mb_per_s: f64,
    recordings_ended: u64,
    errors: u64,
    error_samples: Vec<String>,
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

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn print_summary(s: &Summary) {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
    println!(
        "sessions held      {} of {} (opened {} in {:.1}s)",
        s.sessions_held, s.agents, s.sessions_opened, s.open_secs
    );
    println!(
        "calls posted       {} ({} skipped: every agent busy)",
        s.calls_posted, s.calls_skipped_all_busy
    );
    println!(
        "commands received  {} (start {}, stop {}; {} starts missing)",
        s.commands_received, s.starts_received, s.stops_received, s.starts_missing
    );
    println!(
        "event→start        p50 {}  p99 {}  max {}",
        ms(s.latency_ms_p50),
        ms(s.latency_ms_p99),
        ms(s.latency_ms_max)
    );
    println!(
        "upload             {:.2} MB/s ({} bytes; {} recordings ended)",
        s.upload_mb_per_s, s.upload_bytes, s.recordings_ended
    );
    println!("errors             {}", s.errors);
    for e in &s.error_samples {
        println!("  {e}");
    }
}

/// Posts `call.established` at the given rate to free agents, each call
/// released `call_secs` later. Returns (posted, skipped because every
/// connected agent was busy).
async fn post_events(s: &Arc<Shared>, a: &RunArgs) -> (u64, u64) {
    let (mut posted, mut skipped) = (0u64, 0u64);
    let Some(token) = a
        .integration_token
        .clone()
        .filter(|_| a.events_per_sec > 0.0)
    else {
        tokio::time::sleep(Duration::from_secs(a.secs)).await;
        return (0, 0);
    };
    let token = Arc::new(token);
    let every = Duration::from_secs_f64(1.0 / a.events_per_sec);
    let end = Instant::now() + Duration::from_secs(a.secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let n = s.busy.len();
    let mut cursor = 0usize;
    let call_len = Duration::from_secs_f64(a.call_secs);
    while Instant::now() < end {
        tick.tick().await;
        let free = (0..n).map(|k| (cursor + k) % n).find(|&i| {
            s.connected[i].load(Ordering::Relaxed)
                && s.busy[i]
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
        });
        let Some(i) = free else {
            skipped += 1;
            continue;
        };
        cursor = (i + 1) % n;
        posted += 1;
        let s = s.clone();
        let token = token.clone();
        tokio::spawn(async move { call(&s, i, &token, call_len).await });
    }
    (posted, skipped)
}

/// One call on agent `i`: established with its voice recording running
/// (one batch: `call.established`, `recording.started`, which is what makes
/// RWS record a voice agent), `call_len`, released.
async fn call(s: &Shared, i: usize, token: &str, call_len: Duration) {
    let call_id = uuid::Uuid::new_v4().to_string();
    let dn = (DN_BASE + i as u64).to_string();
    s.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(call_id.clone(), (i, Instant::now()));
    if let Err(e) = post_event(
        s,
        token,
        &["call.established", "recording.started"],
        &call_id,
        &dn,
    )
    .await
    {
        s.error(format!("call.established for {dn}: {e:#}"));
        s.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&call_id);
        s.busy[i].store(false, Ordering::Relaxed);
        return;
    }
    tokio::time::sleep(call_len).await;
    if let Err(e) = post_event(s, token, &["call.released"], &call_id, &dn).await {
        s.error(format!("call.released for {dn}: {e:#}"));
    }
    // The agent takes no new call until this one's recording has ended
    // (stopped, uploaded, end reported): a call overlapping it would only
    // be linked to it, with no `start` of its own.
    let deadline = Instant::now() + DRAIN;
    let started = loop {
        let started = !s
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&call_id);
        if (started && !s.recording[i].load(Ordering::Relaxed)) || Instant::now() > deadline {
            break started;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if !started {
        s.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(CallRecord {
                call_id,
                dn,
                agent: format!("lg{i}"),
                recording_id: None,
                latency_ms: None,
            });
    }
    s.busy[i].store(false, Ordering::Relaxed);
}

/// How long a call's recording may take to end after its release.
const DRAIN: Duration = Duration::from_secs(30);

/// Posts one batch of voice events of `kinds` for the call, in that order.
async fn post_event(
    s: &Shared,
    token: &str,
    kinds: &[&str],
    call_id: &str,
    dn: &str,
) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body: Vec<serde_json::Value> = kinds
        .iter()
        .map(|kind| {
            serde_json::json!({
                "id": uuid::Uuid::new_v4().to_string(),
                "type": kind,
                "call_id": call_id,
                "dn": dn,
                "switch": SWITCH,
                "timestamp": now,
            })
        })
        .collect();
    let r = s
        .http
        .post(format!("{}/api/v2/events", s.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    if !status.is_success() {
        bail!("HTTP {status}: {}", r.text().await.unwrap_or_default());
    }
    Ok(())
}

/// Opens agent `i`'s session, retrying what RWS asks to retry (503 when its
/// password queue is full, connection refused at its connection cap).
async fn open_session(
    s: &Shared,
    i: usize,
    deadline: Instant,
) -> anyhow::Result<OpenSessionResponse> {
    let body = OpenSessionRequest {
        place: None,
        devices: None,
        srs_version: env!("CARGO_PKG_VERSION").to_string(),
        hostname: Some(format!("loadgen-{i}")),
        standby: false,
        kind: Default::default(),
    };
    let auth = format!("Basic {}", B64.encode(format!("lg{i}:{}", s.password)));
    let mut wait = Duration::from_millis(100);
    loop {
        let why = match s
            .http
            .post(format!("{}/api/v2/srs/sessions", s.url))
            .header(reqwest::header::AUTHORIZATION, &auth)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == reqwest::StatusCode::CREATED => return Ok(r.json().await?),
            Ok(r) if r.status().is_server_error() => format!("HTTP {}", r.status()),
            Ok(r) => {
                let status = r.status();
                bail!("HTTP {status}: {}", r.text().await.unwrap_or_default());
            }
            Err(e) => format!("{e}"),
        };
        if Instant::now() + wait > deadline {
            bail!("gave up at the open deadline; last answer: {why}");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The recording a simulated SRS is making: its uploader stops when told.
struct Active {
    recording_id: String,
    stop: watch::Sender<bool>,
}

/// One simulated SRS from its open session on: control channel, acks,
/// heartbeats, recordings.
async fn agent(
    s: Arc<Shared>,
    i: usize,
    session: OpenSessionResponse,
    mut stop: watch::Receiver<bool>,
    settled: &AtomicUsize,
) {
    let ws = match connect(&session).await {
        Ok(ws) => ws,
        Err(e) => {
            s.error(format!("agent lg{i}: control channel: {e:#}"));
            settled.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let (mut tx, mut rx) = ws.split();
    let hello = FromAgent::Hello {
        session_id: session.session_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        monitors: vec![monitor()],
        state: AgentState::Idle,
        active_recording: None,
        last_seq: 0,
    };
    if let Err(e) = send(&mut tx, &hello).await {
        s.error(format!("agent lg{i}: hello: {e:#}"));
        settled.fetch_add(1, Ordering::Relaxed);
        return;
    }
    s.connected[i].store(true, Ordering::Relaxed);
    settled.fetch_add(1, Ordering::Relaxed);
    let mut heartbeat =
        tokio::time::interval(Duration::from_secs(session.heartbeat_interval_s.max(1)));
    heartbeat.tick().await;
    let mut last_seq = 0u64;
    let mut active: Option<Active> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = heartbeat.tick() => {
                let hb = FromAgent::Heartbeat {
                    recording: active.as_ref().map(|a| a.recording_id.clone()),
                    upload_backlog_bytes: 0,
                    last_error: None,
                };
                if let Err(e) = send(&mut tx, &hb).await {
                    s.error(format!("agent lg{i}: heartbeat: {e:#}"));
                    break;
                }
            }
            frame = rx.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => {
                        s.error(format!("agent lg{i}: RWS closed the control channel"));
                        break;
                    }
                    Some(Err(e)) => {
                        s.error(format!("agent lg{i}: control channel: {e}"));
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let cmd: ToAgent = match serde_json::from_str(&text) {
                    Ok(c) => c,
                    Err(e) => {
                        s.error(format!("agent lg{i}: unreadable frame from RWS: {e}"));
                        continue;
                    }
                };
                let Some(seq) = cmd.seq() else { continue };
                s.commands.fetch_add(1, Ordering::Relaxed);
                // Applied once; a resent command is acknowledged again only.
                let fresh = seq > last_seq;
                last_seq = last_seq.max(seq);
                let ack = FromAgent::Ack { seq, ok: true, error: None };
                if let Err(e) = send(&mut tx, &ack).await {
                    s.error(format!("agent lg{i}: ack: {e:#}"));
                    break;
                }
                if !fresh {
                    continue;
                }
                let status = match cmd {
                    ToAgent::Start { recording_id, interaction_id, recipients, upload_url, upload_token, .. } => {
                        s.recording[i].store(true, Ordering::Relaxed);
                        on_start(&s, i, &recording_id, &interaction_id);
                        let (stop_tx, stop_rx) = watch::channel(false);
                        if s.upload {
                            let s = s.clone();
                            let rec = recording_id.clone();
                            tokio::spawn(async move {
                                if let Err(e) = upload(&s, &rec, &recipients, &upload_url, &upload_token, stop_rx).await {
                                    s.error(format!("agent lg{i}: upload of {rec}: {e:#}"));
                                }
                                s.recording[i].store(false, Ordering::Relaxed);
                            });
                        }
                        active = Some(Active { recording_id: recording_id.clone(), stop: stop_tx });
                        Some((recording_id, RecordingStatus::Recording, None))
                    }
                    ToAgent::Stop { recording_id, reason, .. } => {
                        s.stops.fetch_add(1, Ordering::Relaxed);
                        if let Some(a) = active.take() {
            let _ = a.stop.send(true);
        }
                        if !s.upload {
                            s.recording[i].store(false, Ordering::Relaxed);
                        }
                        Some((recording_id, RecordingStatus::Stopped, Some(reason.as_str().to_string())))
                    }
                    ToAgent::Bye { reason, .. } => {
                        s.error(format!("agent lg{i}: RWS ended the session ({reason:?})"));
                        break;
                    }
                    _ => None,
                };
                if let Some((recording_id, state, reason)) = status {
                    let st = FromAgent::Status { recording_id, state, reason, at: now(), bytes_spooled: 0 };
                    if let Err(e) = send(&mut tx, &st).await {
                        s.error(format!("agent lg{i}: status: {e:#}"));
                        break;
                    }
                }
            }
        }
    }
    s.connected[i].store(false, Ordering::Relaxed);
    if let Some(a) = active.take() {
        let _ = a.stop.send(true);
    }
    let _ = tx.send(Message::Close(None)).await;
}

/// A `start` arrived at agent `i` for the call `interaction_id`.
fn on_start(s: &Shared, i: usize, recording_id: &str, interaction_id: &str) {
    s.starts.fetch_add(1, Ordering::Relaxed);
    let found = s
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(interaction_id);
    let Some((expected, posted)) = found else {
        s.error(format!(
            "agent lg{i}: start for a call it was not given ({interaction_id})"
        ));
        return;
    };
    let ms = posted.elapsed().as_secs_f64() * 1000.0;
    if expected != i {
        s.error(format!(
            "call {interaction_id} for lg{expected} started on lg{i}"
        ));
    }
    s.latencies_ms
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ms);
    s.calls
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(CallRecord {
            call_id: interaction_id.to_string(),
            dn: (DN_BASE + expected as u64).to_string(),
            agent: format!("lg{i}"),
            recording_id: Some(recording_id.to_string()),
            latency_ms: Some(ms),
        });
}

fn monitor() -> MonitorInfo {
    MonitorInfo {
        name: "LG-1".into(),
        x: 0,
        y: 0,
        width: 1280,
        height: 720,
        primary: true,
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn connect(session: &OpenSessionResponse) -> anyhow::Result<Ws> {
    let mut req = session.control_url.as_str().into_client_request()?;
    req.headers_mut().insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", session.token).parse()?,
    );
    // Small buffers: 10,000 channels × the 128 KiB default would be the
    // load generator's own 1.3 GB.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(req, Some(config), true),
    )
    .await
    .context("timed out")??;
    Ok(ws)
}

async fn send<S>(tx: &mut S, msg: &FromAgent) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    tx.send(Message::text(serde_json::to_string(msg)?)).await?;
    Ok(())
}

/// Uploads one recording as SRS does: one tus upload (deferred length), a
/// PATCH of one encrypted segment every `segment_every` with the segments
/// header, the final length once stopped, then the end report.
async fn upload(
    s: &Shared,
    recording_id: &str,
    recipients: &[String],
    upload_url: &str,
    token: &str,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let recipients = recipients
        .iter()
        .map(|r| media::crypt::parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    // One age stream, sent as every segment: each PATCH is still a complete
    // age stream RWS can open, and the load generator spends its CPU on
    // sending rather than encrypting.
    let plain = vec![0u8; s.segment_bytes];
    let cipher = Arc::new(media::crypt::encrypt_segment(&plain, &recipients)?);
    let checksum = B64.encode(sha2::Sha256::digest(cipher.as_slice()));
    let started_at = now();
    let md = [
        (meta::RECORDING_ID, recording_id.to_string()),
        (meta::STREAM, "0".to_string()),
        (meta::MONITOR, serde_json::to_string(&monitor())?),
        (meta::STARTED_AT, started_at),
        (meta::FILETYPE, "video/mp4+age".to_string()),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {}", B64.encode(v)))
    .collect::<Vec<_>>()
    .join(",");
    // RWS may give the creation URL relative to itself, as SRS resolves it.
    let upload_url = url::Url::parse(&format!("{}/", s.url))?.join(upload_url)?;
    let r = s
        .http
        .post(upload_url.clone())
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Defer-Length", "1")
        .header("Upload-Metadata", md)
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::CREATED {
        bail!(
            "create: HTTP {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let location = r
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("create: no Location")?;
    let url = upload_url.join(location)?.to_string();
    let mut offset = 0u64;
    let mut end_ms = 0u64;
    let mut tick = tokio::time::interval(s.segment_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        end_ms += s.segment_every.as_millis() as u64;
        let header = format!("{}:{}:{end_ms}", cipher.len(), plain.len());
        let r = s
            .http
            .patch(&url)
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .header("Upload-Checksum", format!("sha256 {checksum}"))
            .header(SEGMENTS_HEADER, header)
            .body(cipher.as_slice().to_vec())
            .send()
            .await?;
        if r.status() != reqwest::StatusCode::NO_CONTENT {
            bail!(
                "PATCH at {offset}: HTTP {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        offset += cipher.len() as u64;
        s.upload_bytes
            .fetch_add(cipher.len() as u64, Ordering::Relaxed);
    }
    let r = s
        .http
        .patch(&url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .header("Upload-Length", offset.to_string())
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::NO_CONTENT {
        bail!(
            "final PATCH: HTTP {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let end = RecordingEnd {
        reason: StopReason::CallReleased,
        interrupted: false,
        stopped_at: now(),
        media_files: 1,
        marks: Vec::new(),
        apps: Vec::new(),
    };
    let r = s
        .http
        .put(upload_url.join(&format!("/api/v2/srs/recordings/{recording_id}/end"))?)
        .bearer_auth(token)
        .json(&end)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "end: HTTP {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    s.recordings_ended.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
