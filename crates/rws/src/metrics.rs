//! Prometheus metrics at `GET /metrics` (OpenMetrics text, with the
//! `prometheus-client` crate): SRS sessions by state, recordings by state,
//! upload bytes and lag, event intake, HTTP latency by route. Gauges that
//! describe the database are computed at scrape time. The endpoint and the
//! request-counting middleware are [`crate::http::metrics`].

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::Rws;

pub(crate) type Labels = Vec<(String, String)>;

fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric of RWS.
pub struct Metrics {
    pub(crate) registry: Registry,
    pub(crate) http: Family<Labels, Histogram, fn() -> Histogram>,
    /// Events posted, by result (`accepted`, `duplicate`, `rejected`).
    pub events: Family<Labels, Counter>,
    /// Bytes appended to uploads.
    pub upload_bytes: Counter,
    pub(crate) sessions: Family<Labels, Gauge>,
    pub(crate) recordings: Family<Labels, Gauge>,
    pub(crate) upload_lag: Gauge<f64, AtomicU64>,
    /// Password checks by result (`ok`, `failed`, `throttled`, `busy`).
    pub logins: Family<Labels, Counter>,
    /// Connections closed at once: over `--max-connections`.
    pub connections_refused: Counter,
    /// Runs of the retention rules on this node (one node of a cluster).
    pub retention_runs: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("screenrec_rws");
        let http = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route and status",
            http.clone(),
        );
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events",
            "Events posted to the intake, by result",
            events.clone(),
        );
        let upload_bytes = Counter::default();
        registry.register(
            "upload_bytes",
            "Bytes received on tus uploads",
            upload_bytes.clone(),
        );
        let sessions = Family::<Labels, Gauge>::default();
        registry.register("srs_sessions", "SRS sessions by state", sessions.clone());
        let recordings = Family::<Labels, Gauge>::default();
        registry.register(
            "recordings",
            "Screen recordings by state",
            recordings.clone(),
        );
        let upload_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "upload_lag_seconds",
            "Longest time since an unfinished recording last received bytes",
            upload_lag.clone(),
        );
        let logins = Family::<Labels, Counter>::default();
        registry.register(
            "logins",
            "Password checks (Basic, console, SRS session open) by result",
            logins.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections refused over the connection cap",
            connections_refused.clone(),
        );
        let retention_runs = Counter::default();
        registry.register(
            "retention_runs",
            "Runs of the retention rules on this node (with several nodes, only the one holding the singleton lock runs them)",
            retention_runs.clone(),
        );
        Metrics {
            retention_runs,
            logins,
            connections_refused,
            registry,
            http,
            events,
            upload_bytes,
            sessions,
            recordings,
            upload_lag,
        }
    }
}

/// Counts one event-intake result.
pub fn event(rws: &Rws, result: &str, n: u64) {
    rws.metrics
        .events
        .get_or_create(&vec![("result".to_string(), result.to_string())])
        .inc_by(n);
}

/// Counts one password check.
pub fn login(rws: &Rws, result: &str) {
    rws.metrics
        .logins
        .get_or_create(&vec![("result".to_string(), result.to_string())])
        .inc();
}
