//! What a load run prints: one summary, as text or one JSON object.

use serde::Serialize;

/// The one summary `loadgen` prints.
#[derive(Debug, Serialize)]
pub(super) struct Summary {
    pub(super) agents: usize,
    pub(super) sessions_opened: u64,
    pub(super) sessions_held: usize,
    pub(super) open_secs: f64,
    pub(super) calls_posted: u64,
    pub(super) calls_skipped_all_busy: u64,
    pub(super) starts_received: u64,
    pub(super) starts_missing: u64,
    pub(super) stops_received: u64,
    pub(super) commands_received: u64,
    pub(super) latency_ms_p50: Option<f64>,
    pub(super) latency_ms_p99: Option<f64>,
    pub(super) latency_ms_max: Option<f64>,
    pub(super) upload_bytes: u64,
    pub(super) upload_mb_per_s: f64,
    pub(super) recordings_ended: u64,
    pub(super) errors: u64,
    pub(super) error_samples: Vec<String>,
}

/// Nearest-rank percentile of sorted values.
pub(super) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The summary as text.
pub(super) fn print_summary(s: &Summary) {
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
