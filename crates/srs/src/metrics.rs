//! Prometheus metrics of SRS at `GET /metrics` (loopback only, like the
//! rest of SRS): frames encoded and encoder time (rate() of them gives the
//! capture fps and the encode cost), process CPU, spool bytes, upload
//! backlog, bytes sent and the upload cap, whether a recording runs.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::Srs;

/// Every metric of SRS.
pub struct Metrics {
    registry: Registry,
    frames: Counter,
    encode_seconds: Counter<f64, AtomicU64>,
    cpu_seconds: Counter<f64, AtomicU64>,
    spool_bytes: Gauge,
    upload_backlog: Gauge,
    recording: Gauge,
    upload_sent: Counter,
    upload_rate_limit: Gauge,
    /// Media bytes sent to RWS in PATCH bodies (set by the uploader).
    pub uploaded: AtomicU64,
    /// Frames of recordings that ended.
    pub frames_done: AtomicU64,
    /// Encoder nanoseconds of recordings that ended.
    pub encode_ns_done: AtomicU64,
    /// Bytes in the spool not yet acknowledged by RWS (set by the uploader).
    pub backlog: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("screenrec_srs");
        let frames = Counter::default();
        registry.register(
            "frames",
            "Frames encoded (rate: capture fps)",
            frames.clone(),
        );
        let encode_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "encode_seconds",
            "Time spent in the H.264 encoder",
            encode_seconds.clone(),
        );
        let cpu_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "process_cpu_seconds",
            "CPU time of the SRS process (user + system)",
            cpu_seconds.clone(),
        );
        let spool_bytes = Gauge::default();
        registry.register("spool_bytes", "Bytes in the spool", spool_bytes.clone());
        let upload_backlog = Gauge::default();
        registry.register(
            "upload_backlog_bytes",
            "Spooled bytes RWS has not acknowledged yet",
            upload_backlog.clone(),
        );
        let recording = Gauge::default();
        registry.register("recording", "1 while a recording runs", recording.clone());
        let upload_sent = Counter::default();
        registry.register(
            "upload_sent_bytes",
            "Media bytes sent to RWS in upload bodies (rate: upload bandwidth)",
            upload_sent.clone(),
        );
        let upload_rate_limit = Gauge::default();
        registry.register(
            "upload_rate_limit_bytes_per_second",
            "The upload bandwidth cap in force (0: unlimited)",
            upload_rate_limit.clone(),
        );
        Metrics {
            upload_sent,
            upload_rate_limit,
            uploaded: AtomicU64::new(0),
            registry,
            frames,
            encode_seconds,
            cpu_seconds,
            spool_bytes,
            upload_backlog,
            recording,
            frames_done: AtomicU64::new(0),
            encode_ns_done: AtomicU64::new(0),
            backlog: AtomicU64::new(0),
        }
    }
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at ")".
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ")".
    (ticks(11) + ticks(12)) / 100.0
}

/// `GET /metrics`.
pub async fn scrape(State(srs): State<Srs>) -> Response {
    let m = &srs.inner.metrics;
    let (frames, encode_ns, active) = crate::recording::live_stats(&srs);
    let frames = m.frames_done.load(Ordering::Relaxed) + frames;
    let encode = (m.encode_ns_done.load(Ordering::Relaxed) + encode_ns) as f64 / 1e9;
    m.frames.inc_by(frames.saturating_sub(m.frames.get()));
    m.encode_seconds
        .inc_by((encode - m.encode_seconds.get()).max(0.0));
    m.cpu_seconds
        .inc_by((cpu_seconds() - m.cpu_seconds.get()).max(0.0));
    m.spool_bytes
        .set(srs.inner.spool_used.load(Ordering::Relaxed) as i64);
    m.upload_backlog
        .set(m.backlog.load(Ordering::Relaxed) as i64);
    m.recording.set(i64::from(active));
    m.upload_sent.inc_by(
        m.uploaded
            .load(Ordering::Relaxed)
            .saturating_sub(m.upload_sent.get()),
    );
    m.upload_rate_limit.set(
        srs.inner
            .pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rate()
            .map_or(0, |r| i64::try_from(r).unwrap_or(i64::MAX)),
    );
    match proto::metrics_text::render(&m.registry) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(proto::metrics_text::CONTENT_TYPE),
            )],
            body,
        )
            .into_response(),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "encoding metrics failed",
        )
            .into_response(),
    }
}
