//! The Recording Web Service (RWS): the server side of screenrec.
//!
//! Three layers, dependencies pointing down only (`docs/architecture.md`,
//! checked by `scripts/check-layers.py`):
//!
//! * [`http`]: thin axum handlers, one module per resource, the router and
//!   the middleware; authorization as extractors ([`http::authz`]).
//! * the core, the modules at this level: the control hub ([`hub`]), the
//!   recording policy ([`dispatch`], [`policy`]), uploads ([`uploads`]),
//!   applying the recording rules and the playback read plan
//!   ([`recordings`]), state-change events ([`lifecycle`]), tenant keys
//!   ([`keys`], [`custody`]), the directory ([`directory`]), visibility,
//!   holds, retention and audit ([`compliance`]), authentication ([`auth`],
//!   [`password_pool`], [`throttle`]), limits ([`limits`]), media objects
//!   ([`storage`]), metrics ([`metrics`]), hostile-input checks
//!   ([`segments`], [`agent_input`]).
//! * [`store`]: every SQL statement, returning domain types; below it
//!   [`recording`]: the recording rules — states, allowed moves, finishing,
//!   orphans, maximum duration — pure and unit-tested (no SQL, no HTTP).
//!
//! This file is the composition root: [`Config`], [`Rws`] (the shared
//! state every layer above `store` reads) and start-up.
//!
//! Entry points: [`Rws::open`] (data dir, migrations, directory import) and
//! [`serve`] with a bound listener and a shutdown future; [`router`] builds
//! every route so tests can call it without a socket.
//!
//! Invariants: passwords are stored only as argon2id hashes and session
//! tokens only as SHA-256 hashes; neither is ever logged. Heartbeats are kept
//! in memory (no database write per heartbeat), so one node holds many
//! thousands of sessions.

pub mod agent_input;
pub mod app_lane;
pub mod auth;
pub mod backup;
pub mod call_view;
pub mod cluster;
pub mod compliance;
pub mod custody;
pub mod directory;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod evidence;
pub mod health;
pub mod http;
pub mod hub;
pub mod keys;
pub mod lifecycle;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod password_pool;
pub mod playback;
pub mod policy;
pub mod preview;
pub mod recording;
pub mod recordings;
pub mod restart;
pub mod search;
pub mod segments;
pub mod signing;
pub mod srs_sessions;
pub mod storage;
pub mod store;
pub mod throttle;
pub mod uploads;
pub mod webhooks;

pub mod private_files;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::store::Pool;

pub use error::ApiError;
pub use http::router;

/// Validated settings of one RWS. `Debug` redacts the integration token.
#[derive(Clone)]
pub struct Config {
    /// Where the database (and later media) live.
    pub data_dir: PathBuf,
    /// How often each side of the control channel sends a heartbeat.
    pub heartbeat_interval: Duration,
    /// A session whose SRS has been silent this long is dropped.
    pub silence_timeout: Duration,
    /// Base URL SRS uses to reach this RWS (for the control-channel URL);
    /// `None`: taken from each request's Host header.
    pub public_url: Option<String>,
    /// Bearer token of `POST /api/v2/events`; `None`: event intake is off.
    pub integration_token: Option<String>,
    /// Longest screen recording; it is stopped with `max_duration` then.
    pub max_recording_duration: Duration,
    /// A recording whose SRS sends nothing for this long is closed with
    /// what arrived (`partial`) or `failed`.
    pub orphan_after: Duration,
    /// Media store URL (`s3://…`, `file:///…`); `None`: `<data-dir>/media`.
    pub storage: Option<String>,
    /// URLs that receive every recording state change (POST, JSON).
    pub webhooks: Vec<String>,
    /// How often the retention rules are applied.
    pub purge_interval: Duration,
    /// Served over HTTPS: URLs made from a request's Host say `https`/`wss`.
    pub https: bool,
    /// Password pool, login throttle, timeouts, connection cap.
    pub limits: limits::Limits,
    /// `--database`; `None`: `<data-dir>/screenrec.db`.
    pub database: Option<store::connect::DatabaseUrl>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("silence_timeout", &self.silence_timeout)
            .field("public_url", &self.public_url)
            .field("max_recording_duration", &self.max_recording_duration)
            .field("orphan_after", &self.orphan_after)
            .field("storage", &self.storage)
            .field("webhooks", &self.webhooks)
            .field("https", &self.https)
            .field("limits", &self.limits)
            .field("database", &self.database)
            .field(
                "integration_token",
                &self.integration_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("screenrec-data"),
            heartbeat_interval: Duration::from_secs(10),
            silence_timeout: Duration::from_secs(60),
            public_url: None,
            integration_token: None,
            max_recording_duration: Duration::from_secs(4 * 3600),
            orphan_after: Duration::from_secs(15 * 60),
            storage: None,
            webhooks: Vec::new(),
            purge_interval: Duration::from_secs(3600),
            https: false,
            limits: limits::Limits::default(),
            database: None,
        }
    }
}

/// Errors starting RWS.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data dir cannot be created or used.
    #[error("data dir {path}: {source}")]
    DataDir {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be read at start.
    #[error("database {url}: {source}")]
    Database {
        /// The database (its password redacted when shown).
        url: store::connect::DatabaseUrl,
        /// Why.
        source: sqlx::Error,
    },
    /// The directory file is wrong.
    #[error(transparent)]
    Directory(#[from] directory::DirectoryError),
    /// The directory file cannot be read.
    #[error("directory file {path}: {source}")]
    DirectoryFile {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Applying the directory failed.
    #[error("importing the directory: {0}")]
    Import(sqlx::Error),
    /// The master key or the tenant keys.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// The media store cannot be opened.
    #[error("media storage: {0}")]
    Storage(String),
    /// The database of `--database` cannot be opened or migrated.
    #[error(transparent)]
    Connect(#[from] store::connect::ConnectError),
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct Rws {
    /// Settings.
    pub config: Arc<Config>,
    /// The database.
    pub db: Pool,
    /// Live SRS sessions.
    pub hub: Arc<hub::Hub>,
    /// Decrypts the tenant keys (playback).
    pub master: Arc<keys::MasterKey>,
    /// Media objects.
    pub storage: storage::Storage,
    /// Recording state changes.
    pub lifecycle: Arc<lifecycle::Lifecycle>,
    /// One PATCH at a time per upload.
    pub upload_locks: Arc<uploads::UploadLocks>,
    /// The policy runs one batch at a time.
    pub dispatch_lock: Arc<tokio::sync::Mutex<()>>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Failed logins on every way in.
    pub throttle: Arc<throttle::Throttle>,
    /// argon2 verifications and the verified-credential cache.
    pub passwords: Arc<password_pool::PasswordPool>,
    /// This node of a cluster (PostgreSQL); `None` on SQLite (one node).
    pub cluster: Option<Arc<cluster::Cluster>>,
    /// Live viewers (issue 14).
    pub live: Arc<live::Viewers>,
}

impl Rws {
    /// Creates the data dir and database (running migrations) and loads the
    /// sessions that were live when RWS last stopped.
    pub async fn open(config: Config) -> Result<Rws, StartError> {
        let url = config
            .database
            .clone()
            .unwrap_or_else(|| store::connect::DatabaseUrl::default_for(&config.data_dir));
        let db = open_db_url(&config.data_dir, &url).await?;
        let master = keys::MasterKey::load(&config.data_dir)?;
        let key = keys::ensure(&db, &master).await?;
        tracing::info!(key = %key.id, recipient = %key.recipient, "tenant key ready");
        let signing = signing::ensure(&db, &master).await?;
        tracing::info!(key = %signing.key_id(), "signing key ready");
        let hub = Arc::new(hub::Hub::default());
        let storage = storage::Storage::open(config.storage.as_deref(), &config.data_dir)
            .map_err(StartError::Storage)?;
        storage.check().await.map_err(StartError::Storage)?;
        private_files::private_files(&config.data_dir, &["master.key"]).map_err(|source| {
            StartError::DataDir {
                path: config.data_dir.clone(),
                source,
            }
        })?;
        let lifecycle = Arc::new(lifecycle::Lifecycle::new(config.webhooks.clone()));
        let limits = &config.limits;
        let throttle = Arc::new(throttle::Throttle::new(limits.throttle));
        let passwords = Arc::new(password_pool::PasswordPool::new(
            limits.hash_workers,
            limits.hash_queue,
            limits.auth_cache_ttl,
            limits::AUTH_CACHE_MAX,
        ));
        let rws = Rws {
            config: Arc::new(config),
            db,
            hub,
            master: Arc::new(master),
            storage,
            lifecycle,
            upload_locks: Arc::default(),
            dispatch_lock: Arc::default(),
            metrics: Arc::default(),
            throttle,
            passwords,
            cluster: match &url {
                store::connect::DatabaseUrl::Postgres(raw) => {
                    Some(Arc::new(cluster::Cluster::new(raw.clone())))
                }
                store::connect::DatabaseUrl::Sqlite(_) => None,
            },
            live: Arc::default(),
        };
        // Uploads in progress across an upgrade from local staging files.
        uploads::adopt_local_staging(&rws)
            .await
            .map_err(StartError::Storage)?;
        hub::load_sessions(&rws)
            .await
            .map_err(|source| StartError::Database {
                url: url.clone(),
                source,
            })?;
        // One node: no preview can run while it starts (in a cluster the
        // others' previews run on; a dead node's are swept).
        if rws.cluster.is_none() {
            store::previews::clear(&rws.db)
                .await
                .map_err(|source| StartError::Database { url, source })?;
        }
        Ok(rws)
    }

    /// Reads, validates and applies a directory file.
    pub async fn import_directory(
        &self,
        path: &Path,
    ) -> Result<directory::ImportReport, StartError> {
        let report = import_directory_file(&self.db, path).await;
        self.passwords.forget_all();
        report
    }
}

/// Opens (creating) `<data_dir>/screenrec.db` and runs the migrations:
/// the default `--database`, also what the maintenance subcommands open.
pub async fn open_db(data_dir: &Path) -> Result<Pool, StartError> {
    open_db_url(
        data_dir,
        &store::connect::DatabaseUrl::default_for(data_dir),
    )
    .await
}

/// Opens the database of `--database` (SQLite or PostgreSQL), runs its
/// migrations and moves old segment indexes into rows.
pub async fn open_db_url(
    data_dir: &Path,
    url: &store::connect::DatabaseUrl,
) -> Result<Pool, StartError> {
    // The data dir holds the master key (and, by default, the database).
    private_files::private_dir(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    // Creates a SQLite file and its folder with their private modes, WAL on.
    let db = store::connect::connect(url).await?;
    // Segment indexes of a database older than the `segments` table.
    store::media::convert_segment_index(&db)
        .await
        .map_err(|source| StartError::Database {
            url: url.clone(),
            source,
        })?;
    Ok(db)
}

/// Reads, validates and applies a directory file to a database.
pub async fn import_directory_file(
    db: &Pool,
    path: &Path,
) -> Result<directory::ImportReport, StartError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartError::DirectoryFile {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = directory::parse(&path.display().to_string(), &text)?;
    directory::import(db, &dir)
        .await
        .map_err(StartError::Import)
}

/// Serves RWS on `listener` until `shutdown` completes; the background
/// tasks (silence timeout) stop with it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    rws: Rws,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, rws, None, shutdown).await
}

/// Serves RWS over HTTPS when `tls` is given (the certificate agents' SRS
/// and supervisors' browsers verify), plain HTTP otherwise (behind a
/// TLS-terminating proxy, or the demo). In-flight requests get 10 s at
/// shutdown; SSE streams are cut then.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    rws: Rws,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(hub::sweep(rws.clone()));
    let recordings_sweeper = tokio::spawn(dispatch::sweep(rws.clone()));
    let retention = tokio::spawn(compliance::scheduler(rws.clone()));
    let cluster_tasks = match &rws.cluster {
        Some(c) => cluster::spawn(&rws, c.clone()),
        None => Vec::new(),
    };
    // On PostgreSQL this node's SSE subscribers get even its own events
    // through the cluster listener: answer nobody (not even /healthz)
    // before it LISTENs, or a stream opened at once would miss them.
    if let Some(c) = &rws.cluster
        && !c.wait_listening(std::time::Duration::from_secs(10)).await
    {
        tracing::warn!(
            "the cluster listener is not up after 10 s; serving anyway (SSE streams miss events until it is)"
        );
    }
    let sealer = tokio::spawn(evidence::sealer(rws.clone()));
    let seal_sweep = tokio::spawn(evidence::sweep(rws.clone()));
    let webhooks = tokio::spawn(webhooks::job(rws.clone()));
    let previews = tokio::spawn(preview::sweep(rws.clone()));
    let limits = rws.config.limits.clone();
    let refused = rws.metrics.connections_refused.clone();
    let app = router(rws).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let handle = axum_server::Handle::new();
    let stopper = {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        })
    };
    let listener = listener.into_std()?;
    let header_timeout = limits.header_timeout;
    let result = match tls {
        Some(config) => {
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(
                limits::CapAcceptor::new(
                    limits.max_connections,
                    limits.idle_timeout,
                    false,
                    refused.clone(),
                ),
            );
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle);
            server
                .http_builder()
                .http1()
                .header_read_timeout(header_timeout);
            server.serve(app).await
        }
        None => {
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(limits::CapAcceptor::new(
                    limits.max_connections,
                    limits.idle_timeout,
                    true,
                    refused,
                ))
                .handle(handle);
            server
                .http_builder()
                .http1()
                .header_read_timeout(header_timeout);
            server.serve(app).await
        }
    };
    stopper.abort();
    sweeper.abort();
    recordings_sweeper.abort();
    retention.abort();
    for task in cluster_tasks {
        task.abort();
    }
    sealer.abort();
    seal_sweep.abort();
    webhooks.abort();
    previews.abort();
    result
}
