//! The Screen Recording Service (SRS): runs on the agent's PC.
//!
//! * [`api`]: the GIR-compatible loopback API the agent desktop calls —
//!   login (`GET|POST /api/v2/me`), polling (`GET /ping`), logout — with
//!   CSRF, the session cookie and the GWS envelope (`srs-local-api.md`).
//! * [`cors`]: CORS with a dynamic allow-list and the private-network
//!   pre-flight.
//! * [`link`]: the RWS link — the session opened on RWS with the agent's
//!   credentials, and the control channel (WebSocket) kept up with capped
//!   exponential back-off, moving to the peer RWS when the primary keeps
//!   failing.
//! * [`recording`]: start/stop/pause/resume from RWS and the desktop drive
//!   the recorder; encrypted media goes to the spool; crash recovery.
//! * [`upload`]: streams the spool to RWS with tus while recording.
//! * [`tls`]: HTTPS on loopback with a configured or self-signed certificate.
//! * [`host`]: loopback `Host` only (DNS-rebinding protection).
//! * [`servers`]: the RWS allow-list (`--server`, `--peer-server`,
//!   `--allowed-server`).
//! * [`notice`]: what the agent is told (`GET /api/v2/me/recording`).
//! * [`pace`]: the upload bandwidth cap (token bucket).
//!
//! Invariants: SRS listens on loopback only; the agent's password is
//! forwarded once to RWS and kept nowhere (only a salted hash of the
//! `Authorization` value stays in memory, to check `/ping`); nothing
//! secret is logged.

pub mod api;
pub mod cors;
pub mod error;
pub mod host;
pub mod link;
pub mod metrics;
pub mod notice;
pub mod pace;
pub mod preview;
pub mod recording;
pub mod servers;
pub mod spool;
#[cfg(test)]
mod test_support;
pub mod tls;
pub mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use cors::OriginPattern;
use url::Url;

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// RWS to use when the login does not name one.
    pub server: Option<Url>,
    /// Disaster-recovery RWS when the login does not name one.
    pub peer_server: Option<Url>,
    /// Desktop origins from configuration.
    pub allowed_origins: Vec<OriginPattern>,
    /// No `/ping` for this long ends the RWS session.
    pub ping_timeout: Duration,
    /// How long `server` must keep failing before the session moves to the peer.
    pub failover_after: Duration,
    /// Spool folder (recordings; the self-signed certificate in `tls/`).
    pub spool: PathBuf,
    /// Served over HTTPS (cookies then need `Secure; SameSite=None`).
    pub https: bool,
    /// What to record.
    pub source: recording::SourceSpec,
    /// Most bytes the spool may hold; a recording that reaches it stops
    /// with `spool_full` (what it recorded is kept and uploaded).
    pub spool_quota: u64,
    /// Extra certificate authorities trusted for RWS (a private CA or a
    /// self-signed RWS certificate), beside the public ones.
    pub rws_ca: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The loopback address SRS listens on (its port is the one `Host`
    /// must name).
    pub listen: SocketAddr,
    /// More RWS a login may name beside `server` and `peer_server`
    /// (disaster-recovery sites); no other RWS is ever contacted.
    pub allowed_servers: Vec<Url>,
    /// Upload bandwidth cap in kbit/s (`--upload-rate`; `None`: unlimited).
    /// A lower `upload_rate_kbit` from RWS's `start` wins.
    pub upload_rate_kbit: Option<u32>,
    /// How long a recording suspended by a restart (or found interrupted at
    /// start) waits for RWS to continue it before it is closed and uploaded
    /// as it is (`--resume-grace`).
    pub resume_grace: Duration,
}

/// The control channel's TLS settings: Mozilla's public roots (as the
/// HTTP client) plus the configured `rws_ca` certificates.
fn ws_tls_config(
    extra: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra {
        roots.add(c.clone()).map_err(|e| format!("--rws-ca: {e}"))?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Refuses any address that is not loopback.
pub fn check_loopback(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address: SRS listens on 127.0.0.1 or [::1] only, so that no other machine can reach the agent's session"
        ))
    }
}

/// The logged-in agent, as SRS keeps it.
pub(crate) struct LocalSession {
    pub(crate) user: proto::UserResource,
    /// Salted SHA-256 of the `Authorization` header value of the login.
    pub(crate) credential_hash: [u8; 32],
    pub(crate) salt: [u8; 16],
    pub(crate) cookie: String,
    pub(crate) csrf: Option<String>,
    pub(crate) last_ping: Instant,
    /// The ping timer expired, or RWS ended the session: `/ping` answers 401
    /// until a new login.
    pub(crate) stale: bool,
    pub(crate) rws: link::RwsSession,
    pub(crate) link: Option<link::LinkHandle>,
}

struct Inner {
    config: Config,
    session: Mutex<Option<LocalSession>>,
    rws_origins: Mutex<Vec<OriginPattern>>,
    http: reqwest::Client,
    /// TLS for the control channel (WebSocket): the public roots plus `rws_ca`.
    ws_tls: Arc<rustls::ClientConfig>,
    rec: Mutex<recording::RecState>,
    /// Frames for RWS (status reports), sent when the control channel is up.
    outbox: Mutex<std::collections::VecDeque<proto::control::FromAgent>>,
    outbox_wake: tokio::sync::Notify,
    /// Woken by the spool's writer (a segment is durable) and by `stop`.
    upload_wake: spool::Wake,
    /// Woken by the recorder thread (an event, its end) and by `start`.
    watch_wake: spool::Wake,
    spool_used: Arc<std::sync::atomic::AtomicU64>,
    metrics: metrics::Metrics,
    last_error: Mutex<Option<String>>,
    /// `server`, `peer_server` and `allowed_servers`.
    allowed_servers: servers::AllowedServers,
    /// Paces upload bodies to the bandwidth cap.
    pacer: Mutex<pace::Pacer>,
    /// Upload passes finished (a restart waits for one after the last
    /// fragment, see [`shutdown`]).
    upload_passes: std::sync::atomic::AtomicU64,
}

/// Shared state of the service.
#[derive(Clone)]
pub struct Srs {
    inner: Arc<Inner>,
}

impl Srs {
    /// Builds the service. Installs the process-wide TLS provider (ring).
    pub fn new(config: Config) -> Result<Srs, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let extra_roots = config
            .rws_ca
            .iter()
            .map(|c| reqwest::Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--rws-ca: {e}"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .tls_certs_merge(extra_roots)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let ws_tls = ws_tls_config(&config.rws_ca)?;
        // The spool holds upload tokens and media: private to the service
        // user whatever the umask (rule 8).
        for dir in [config.spool.clone(), spool::rec_root(&config.spool)] {
            spool::create_private_dir(&dir)
                .map_err(|e| format!("--spool {}: {e}", dir.display()))?;
        }
        let allowed_servers = servers::AllowedServers::new(
            config
                .server
                .iter()
                .chain(config.peer_server.iter())
                .chain(config.allowed_servers.iter()),
        );
        let used = spool::usage(&config.spool);
        Ok(Srs {
            inner: Arc::new(Inner {
                config,
                session: Mutex::new(None),
                rws_origins: Mutex::new(Vec::new()),
                http,
                ws_tls,
                rec: Mutex::new(recording::RecState::default()),
                outbox: Mutex::new(std::collections::VecDeque::new()),
                outbox_wake: tokio::sync::Notify::new(),
                upload_wake: Arc::new(tokio::sync::Notify::new()),
                watch_wake: Arc::new(tokio::sync::Notify::new()),
                spool_used: Arc::new(std::sync::atomic::AtomicU64::new(used)),
                metrics: metrics::Metrics::default(),
                last_error: Mutex::new(None),
                allowed_servers,
                pacer: Mutex::new(pace::Pacer::default()),
                upload_passes: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// Notes the last error (reported to RWS with the heartbeats); `None`
    /// clears it once things work again.
    pub(crate) fn set_last_error(&self, e: Option<String>) {
        *self
            .inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = e;
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn rec_state(&self) -> MutexGuard<'_, recording::RecState> {
        self.inner.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame for RWS (sent as soon as the control channel is up;
    /// frames of a session that ended are dropped with it). Full (a long
    /// outage): the oldest app-lane frame goes first — it still reaches RWS
    /// with the end report, a `status` would not —, else the oldest frame.
    pub(crate) fn send_to_rws(&self, msg: proto::control::FromAgent) {
        let mut q = self.inner.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= 1000 {
            let app = q
                .iter()
                .position(|m| matches!(m, proto::control::FromAgent::App { .. }));
            match app {
                Some(i) => {
                    q.remove(i);
                }
                None => {
                    q.pop_front();
                }
            }
        }
        q.push_back(msg);
        drop(q);
        self.inner.outbox_wake.notify_one();
    }

    pub(crate) fn take_outbox(&self) -> Vec<proto::control::FromAgent> {
        self.inner
            .outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }

    pub(crate) fn requeue_front(&self, msgs: Vec<proto::control::FromAgent>) {
        let mut q = self.inner.outbox.lock().unwrap_or_else(|e| e.into_inner());
        for m in msgs.into_iter().rev() {
            q.push_front(m);
        }
    }

    /// Settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The RWS this SRS may talk to.
    pub fn allowed_servers(&self) -> &servers::AllowedServers {
        &self.inner.allowed_servers
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn ws_tls(&self) -> Arc<rustls::ClientConfig> {
        self.inner.ws_tls.clone()
    }

    pub(crate) fn session(&self) -> MutexGuard<'_, Option<LocalSession>> {
        // A poisoned lock means a panic mid-update; keep serving.
        self.inner.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the origins RWS handed over.
    pub(crate) fn set_rws_origins(&self, origins: &[String]) {
        let parsed: Vec<OriginPattern> = origins
            .iter()
            .filter_map(|o| match OriginPattern::parse(o) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(origin = %proto::logsafe::escape(o), error = %proto::logsafe::escape(&e), "ignoring an origin RWS sent");
                    None
                }
            })
            .collect();
        *self
            .inner
            .rws_origins
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = parsed;
    }

    /// Is this browser origin on the allow-list (configuration + RWS)?
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.inner
            .config
            .allowed_origins
            .iter()
            .any(|p| p.matches(origin))
            || self
                .inner
                .rws_origins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|p| p.matches(origin))
    }
}

/// Every route of the loopback API.
pub fn router(srs: Srs) -> Router {
    Router::new()
        .route(
            "/api/v2/me",
            get(api::me_get).post(api::me_post).options(api::preflight),
        )
        .route(
            "/api/v2/me/",
            get(api::me_get).post(api::me_post).options(api::preflight),
        )
        .route("/ping", get(api::ping).options(api::preflight))
        .route("/ping/", get(api::ping).options(api::preflight))
        .route(
            "/api/v2/me/recording",
            axum::routing::post(api::me_recording)
                .get(api::me_recording_get)
                .options(api::preflight)
                .layer(axum::extract::DefaultBodyLimit::max(api::BODY_LIMIT)),
        )
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::scrape))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            srs.clone(),
            cors::cors,
        ))
        // Outside CORS: a rebinding page sends no Origin, only its Host.
        .layer(axum::middleware::from_fn_with_state(
            srs.clone(),
            host::loopback_only,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(srs)
}

/// Starts the ping watchdog: when the desktop stops polling, the RWS
/// session ends and SRS refuses RWS commands until a new login.
pub fn spawn_watchdog(srs: Srs) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = (srs.config().ping_timeout / 10)
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            tokio::time::sleep(period).await;
            api::expire_if_silent(&srs).await;
        }
    })
}

/// Recovers recordings a crash cut short, then starts the uploader and the
/// recording watch.
pub fn spawn_recording(srs: Srs) -> Vec<tokio::task::JoinHandle<()>> {
    let known = recording::recover(&srs.config().spool);
    srs.rec_state().known_extend(known);
    let grace = {
        let srs = srs.clone();
        tokio::spawn(async move {
            // RWS continues a suspended recording once the agent's session
            // is back; past the grace it is closed as it is.
            tokio::time::sleep(srs.config().resume_grace).await;
            recording::finish_suspended(&srs, None, proto::control::StopReason::Shutdown);
        })
    };
    vec![
        upload::spawn(srs.clone()),
        recording::spawn_watch(srs),
        grace,
    ]
}

/// Longest a stop for a restart waits for the uploads of the last
/// fragments (what is not sent by then is sent by the next SRS).
pub const RESTART_UPLOAD_WAIT: Duration = Duration::from_secs(5);

/// On service stop (SIGTERM): a recording in progress is *suspended*, not
/// ended — its last fragment is written, RWS hears `restarting`, the
/// uploads of what is on disk get up to [`RESTART_UPLOAD_WAIT`], and the
/// RWS session is kept so that the next SRS continues the same recording
/// (docs/srs.md "Upgrades mid-call"). Without a recording, the RWS session
/// is ended as before.
pub async fn shutdown(srs: &Srs) {
    let suspended = recording::suspend(srs).await;
    if suspended.is_some() {
        wait_uploaded(srs, RESTART_UPLOAD_WAIT).await;
        // `restarting` leaves with the control channel's next send.
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline
            && !srs
                .inner
                .outbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let ended = srs.session().take();
    if let Some(mut s) = ended {
        if let Some(l) = s.link.take() {
            l.stop_and_wait(Duration::from_secs(1)).await;
        }
        if !s.stale && suspended.is_none() {
            link::end_session(srs, &s.rws).await;
        }
    }
}

/// Waits (at most `limit`) for an upload pass that starts after now and
/// leaves nothing unacknowledged.
async fn wait_uploaded(srs: &Srs, limit: Duration) {
    use std::sync::atomic::Ordering;
    let before = srs.inner.upload_passes.load(Ordering::Relaxed);
    srs.inner.upload_wake.notify_one();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        // The last fragment was on disk before `before` was read, and a
        // pass measures the backlog from the files when it ends: a pass
        // ending after now with no backlog has sent it.
        if srs.inner.upload_passes.load(Ordering::Relaxed) > before
            && srs.inner.metrics.backlog.load(Ordering::Relaxed) == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(
        backlog = srs.inner.metrics.backlog.load(Ordering::Relaxed),
        "stopping before every fragment was uploaded: the next SRS sends the rest"
    );
}

/// Keeps the desktop origins of the configured RWS (`--server`) in the
/// allow-list before any login: the browser's first pre-flight must already
/// pass. Retries every 2 s until RWS answers, then refreshes every minute.
pub fn spawn_origin_refresh(srs: Srs) -> Option<tokio::task::JoinHandle<()>> {
    let server = srs.config().server.clone()?;
    Some(tokio::spawn(async move {
        let url = format!(
            "{}/api/v2/srs/origins",
            server.as_str().trim_end_matches('/')
        );
        loop {
            let fetched = async {
                let r = srs.http().get(&url).send().await.ok()?;
                let v: serde_json::Value = r.error_for_status().ok()?.json().await.ok()?;
                let list: Vec<String> =
                    serde_json::from_value(v.get("allowed_origins")?.clone()).ok()?;
                Some(list)
            }
            .await;
            let wait = match fetched {
                Some(list) => {
                    srs.set_rws_origins(&list);
                    Duration::from_secs(60)
                }
                None => Duration::from_secs(2),
            };
            tokio::time::sleep(wait).await;
        }
    }))
}
