//! `screenrec rws`: the Recording Web Service, and `screenrec rws
//! import-directory` to load a directory file without starting the server.
//!
//! Settings come from defaults, then `--config FILE` (TOML), then
//! `SCREENREC_RWS_*` environment variables, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Flags of `screenrec rws`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<RwsCommand>,
    /// Address to listen on.
    #[arg(long, env = "SCREENREC_RWS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory (created on first start): SQLite database, media.
    #[arg(long, env = "SCREENREC_RWS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory file (TOML: users, places, DNs), imported at every start.
    #[arg(long, env = "SCREENREC_RWS_DIRECTORY")]
    directory: Option<PathBuf>,
    /// Configuration file (TOML) with the same keys as these flags (snake_case).
    #[arg(long, env = "SCREENREC_RWS_CONFIG")]
    config: Option<PathBuf>,
    /// Seconds between heartbeats on the control channel.
    #[arg(long, env = "SCREENREC_RWS_HEARTBEAT_INTERVAL")]
    heartbeat_interval: Option<u64>,
    /// Seconds of silence after which an SRS session is dropped.
    #[arg(long, env = "SCREENREC_RWS_SILENCE_TIMEOUT")]
    silence_timeout: Option<u64>,
    /// Base URL agents' SRS use to reach this RWS (default: the Host of each request).
    #[arg(long, env = "SCREENREC_RWS_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bearer token telephony/chat integrations use for POST /api/v2/events (event intake is off without it).
    #[arg(long, env = "SCREENREC_INTEGRATION_TOKEN", hide_env_values = true)]
    integration_token: Option<String>,
    /// File holding the integration token (preferred: a flag's value is visible to every local user in `ps`).
    #[arg(
        long,
        env = "SCREENREC_RWS_INTEGRATION_TOKEN_FILE",
        value_name = "FILE"
    )]
    integration_token_file: Option<PathBuf>,
    /// Longest screen recording (e.g. 4h, 90m); it then stops with reason max_duration.
    #[arg(long, env = "SCREENREC_RWS_MAX_RECORDING_DURATION", value_parser = humantime::parse_duration)]
    max_recording_duration: Option<Duration>,
    /// A recording whose SRS sends nothing for this long is closed with what arrived (e.g. 15m).
    #[arg(long, env = "SCREENREC_RWS_ORPHAN_AFTER", value_parser = humantime::parse_duration)]
    orphan_after: Option<Duration>,
    /// How often the retention rules run (e.g. 1h, the default; with several nodes, on one of them).
    #[arg(long, env = "SCREENREC_RWS_PURGE_INTERVAL", value_parser = humantime::parse_duration)]
    purge_interval: Option<Duration>,
    /// Media storage URL (file:///path, or s3://bucket/prefix with the AWS_* environment); default <data-dir>/media.
    #[arg(long, env = "SCREENREC_RWS_STORAGE")]
    storage: Option<String>,
    /// Database URL: sqlite:///path/screenrec.db (default <data-dir>/screenrec.db) or postgres://user:password@host:port/database.
    #[arg(
        long,
        env = "SCREENREC_RWS_DATABASE",
        hide_env_values = true,
        value_name = "URL"
    )]
    database: Option<String>,
    /// URL that receives every recording state change as a JSON POST (retried until 2xx); repeatable.
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "SCREENREC_RWS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "SCREENREC_RWS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Print the resulting configuration and exit.
    #[arg(long)]
    print_config: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(clap::Subcommand)]
enum RwsCommand {
    /// Manage the tenant's encryption keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        /// The data directory.
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Validate and import a directory file into a data dir, then exit.
    ImportDirectory {
        /// The directory file.
        file: PathBuf,
        /// The data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Copy the embedded database (consistent snapshot), media and master.key into a new directory, while RWS runs.
    Backup(crate::backup_cmd::BackupArgs),
}

#[derive(clap::Subcommand)]
enum KeysAction {
    /// List the keys (the active one encrypts new recordings).
    List,
    /// Make a new active key; old keys stay for old recordings.
    Rotate,
    /// Write every private key to an age-encrypted file (disaster recovery, legal discovery).
    Export(crate::keys_cmd::ExportArgs),
    /// Add the keys of an export to this data dir (idempotent; existing keys stay).
    Import(crate::keys_cmd::ImportArgs),
}

/// The `--config` file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    directory: Option<PathBuf>,
    heartbeat_interval: Option<u64>,
    silence_timeout: Option<u64>,
    public_url: Option<String>,
    integration_token: Option<String>,
    integration_token_file: Option<PathBuf>,
    max_recording_duration: Option<String>,
    orphan_after: Option<String>,
    storage: Option<String>,
    database: Option<String>,
    #[serde(default)]
    webhooks: Vec<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    auth_hash_workers: Option<usize>,
    auth_hash_queue: Option<usize>,
    auth_cache_ttl: Option<String>,
    auth_free_failures: Option<u32>,
    auth_backoff_max: Option<String>,
    auth_user_backoff_max: Option<String>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    body_min_rate: Option<u64>,
    max_connections: Option<usize>,
    idle_timeout: Option<String>,
}

/// Runs `screenrec rws`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(RwsCommand::Backup(a)) = args.command {
        return crate::backup_cmd::run(a).await;
    }
    // The maintenance subcommands open the database RWS uses: that of
    // `SCREENREC_RWS_DATABASE` (clap reads it into `--database`, a flag that
    // cannot itself precede a subcommand), else the data dir's.
    let database_arg = args.database.clone();
    let database = |data_dir: &Path| -> anyhow::Result<rws::store::connect::DatabaseUrl> {
        match &database_arg {
            Some(raw) => rws::store::connect::DatabaseUrl::parse(raw)
                .map_err(|e| anyhow::anyhow!("--database: {e}")),
            None => Ok(rws::store::connect::DatabaseUrl::default_for(data_dir)),
        }
    };
    if let Some(RwsCommand::ImportDirectory { file, data_dir }) = &args.command {
        let db = rws::open_db_url(data_dir, &database(data_dir)?).await?;
        let report = rws::import_directory_file(&db, file).await?;
        println!(
            "{}: imported ({} added, {} updated, {} removed)",
            file.display(),
            report.added,
            report.updated,
            report.removed
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(RwsCommand::Keys { action, data_dir }) = args.command {
        let Some(data_dir) = data_dir else {
            bail!("--data-dir is required");
        };
        let url = database(&data_dir)?;
        let action = match action {
            KeysAction::Export(a) => return crate::keys_cmd::export(&data_dir, &url, a).await,
            KeysAction::Import(a) => return crate::keys_cmd::import(&data_dir, &url, a).await,
            other => other,
        };
        let db = rws::open_db_url(&data_dir, &url).await?;
        let master = rws::keys::MasterKey::load(&data_dir)?;
        if let KeysAction::Rotate = action {
            let first = rws::keys::list(&db).await?.is_empty();
            let current = rws::keys::ensure(&db, &master).await?;
            let key = if first {
                current
            } else {
                rws::keys::rotate(&db, &master).await?
            };
            println!("new active key {} ({})", key.id, key.recipient);
            return Ok(ExitCode::SUCCESS);
        }
        rws::keys::ensure(&db, &master).await?;
        println!(
            "{:<36}  {:<62}  {:<30}  active",
            "id", "recipient", "created"
        );
        for k in rws::keys::list(&db).await? {
            println!(
                "{:<36}  {:<62}  {:<30}  {}",
                k.id,
                k.recipient,
                k.created_at,
                if k.active { "yes" } else { "" }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--config {}", path.display()))?;
            toml_parse(&text).with_context(|| format!("--config {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let limits = resolve_limits(&args.limits, &file)?;
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8090)));
    let Some(data_dir) = args.data_dir.or(file.data_dir) else {
        bail!("--data-dir is required (or data_dir in --config, or SCREENREC_RWS_DATA_DIR)");
    };
    let directory = args.directory.or(file.directory);
    let heartbeat = args
        .heartbeat_interval
        .or(file.heartbeat_interval)
        .unwrap_or(10);
    let silence = args.silence_timeout.or(file.silence_timeout).unwrap_or(60);
    if heartbeat == 0 || silence == 0 || heartbeat >= silence {
        bail!(
            "--heartbeat-interval ({heartbeat}) must be at least 1 and below --silence-timeout ({silence})"
        );
    }
    // Control channels must not look idle between two heartbeats.
    if limits.idle_timeout <= Duration::from_secs(heartbeat.saturating_mul(2)) {
        bail!(
            "--idle-timeout ({}) must be above twice --heartbeat-interval ({heartbeat} s)",
            humantime::format_duration(limits.idle_timeout)
        );
    }
    let public_url = args.public_url.or(file.public_url);
    if let Some(u) = &public_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--public-url {u}: expected http://… or https://…");
    }
    let integration_token = match (
        args.integration_token.or(file.integration_token),
        args.integration_token_file.or(file.integration_token_file),
    ) {
        (Some(_), Some(_)) => bail!(
            "give the integration token once: --integration-token-file or --integration-token (or their env/config keys), not both"
        ),
        (token, None) => token,
        (None, Some(path)) => Some(read_token_file(&path)?),
    };
    if let Some(t) = &integration_token
        && t.len() < 16
    {
        bail!("--integration-token: use at least 16 characters (e.g. openssl rand -hex 32)");
    }
    let file_duration = |name: &str, v: &Option<String>| -> anyhow::Result<Option<Duration>> {
        v.as_deref()
            .map(|s| {
                humantime::parse_duration(s).with_context(|| format!("{name} = {s:?} in --config"))
            })
            .transpose()
    };
    let max_recording_duration = match args.max_recording_duration {
        Some(d) => d,
        None => file_duration("max_recording_duration", &file.max_recording_duration)?
            .unwrap_or(Duration::from_secs(4 * 3600)),
    };
    let orphan_after = match args.orphan_after {
        Some(d) => d,
        None => file_duration("orphan_after", &file.orphan_after)?
            .unwrap_or(Duration::from_secs(15 * 60)),
    };
    if max_recording_duration < Duration::from_secs(1) {
        bail!("--max-recording-duration must be at least 1s");
    }
    if orphan_after < Duration::from_secs(10) {
        bail!("--orphan-after must be at least 10s");
    }
    let mut webhooks = file.webhooks.clone();
    webhooks.extend(args.webhooks.iter().cloned());
    for w in &webhooks {
        let ok = url::Url::parse(w).is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https");
        if !ok {
            bail!("--webhook {w}: expected an http:// or https:// URL");
        }
    }
    let tls_files = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => bail!("--tls-cert needs --tls-key (tls_key in --config)"),
        (None, Some(_)) => bail!("--tls-key needs --tls-cert (tls_cert in --config)"),
    };
    // Parsed here, not by clap, whose error would repeat the value (and its password).
    let database = args
        .database
        .or(file.database)
        .map(|raw| rws::store::connect::DatabaseUrl::parse(&raw))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--database: {e}"))?;
    let config = rws::Config {
        database,
        limits,
        integration_token,
        data_dir,
        heartbeat_interval: Duration::from_secs(heartbeat),
        silence_timeout: Duration::from_secs(silence),
        public_url,
        max_recording_duration,
        orphan_after,
        storage: args.storage.or(file.storage),
        webhooks,
        purge_interval: args
            .purge_interval
            .unwrap_or(Duration::from_secs(3600))
            .max(Duration::from_secs(1)),
        https: tls_files.is_some(),
    };
    if args.print_config {
        println!("listen = \"{listen}\"");
        println!("data_dir = {:?}", config.data_dir.display().to_string());
        if let Some(d) = &config.database {
            println!("database = {:?}", d.to_string());
        }
        if let Some(d) = &directory {
            println!("directory = {:?}", d.display().to_string());
        }
        println!("heartbeat_interval = {heartbeat}");
        println!("silence_timeout = {silence}");
        if let Some(u) = &config.public_url {
            println!("public_url = {u:?}");
        }
        if config.integration_token.is_some() {
            println!("integration_token = \"<redacted>\"");
        }
        if let Some((cert, key)) = &tls_files {
            println!("tls_cert = {:?}", cert.display().to_string());
            println!("tls_key = {:?}", key.display().to_string());
        }
        print_limits(&config.limits);
        return Ok(ExitCode::SUCCESS);
    }

    // Loaded before anything else starts, so a bad file stops RWS at once.
    let tls = match &tls_files {
        Some((cert, key)) => Some(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "--tls-cert {} / --tls-key {}: cannot load the certificate and key",
                        cert.display(),
                        key.display()
                    )
                })?,
        ),
        None => None,
    };
    let service = rws::Rws::open(config).await?;
    match &directory {
        Some(path) => {
            let report = service.import_directory(path).await?;
            tracing::info!(
                file = %path.display(),
                added = report.added,
                updated = report.updated,
                removed = report.removed,
                "directory imported"
            );
        }
        None => tracing::warn!("no --directory given: using the directory already in the data dir"),
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen {listen}: cannot bind"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %listen, scheme, "RWS listening");
    rws::serve_with(listener, service, tls, shutdown_signal()).await?;
    tracing::info!("RWS stopped");
    Ok(ExitCode::SUCCESS)
}

/// The integration token from a file (one line; surrounding whitespace and
/// the final newline are not part of it).
fn read_token_file(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--integration-token-file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() || token.contains(['\n', '\r']) {
        bail!(
            "--integration-token-file {}: expected the token on one line",
            path.display()
        );
    }
    Ok(token.to_string())
}

fn toml_parse(text: &str) -> anyhow::Result<FileConfig> {
    Ok(toml::from_str(text)?)
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Flags bounding what unauthenticated clients may cost (threat model rule 4).
#[derive(clap::Args)]
struct LimitArgs {
    /// Threads that verify passwords (argon2id, 19 MiB each); default: the number of cores.
    #[arg(long, env = "SCREENREC_RWS_AUTH_HASH_WORKERS")]
    auth_hash_workers: Option<usize>,
    /// Password checks that may wait for a thread; more are answered 503 with Retry-After (default 32).
    #[arg(long, env = "SCREENREC_RWS_AUTH_HASH_QUEUE")]
    auth_hash_queue: Option<usize>,
    /// How long a verified Basic credential is remembered (default 60s; 0s: never).
    #[arg(long, env = "SCREENREC_RWS_AUTH_CACHE_TTL", value_parser = humantime::parse_duration)]
    auth_cache_ttl: Option<Duration>,
    /// Failed logins an address may make for one user before it must wait (default 5; 4x that per address and per user).
    #[arg(long, env = "SCREENREC_RWS_AUTH_FREE_FAILURES")]
    auth_free_failures: Option<u32>,
    /// Longest wait of an address after failed logins (default 60s; the wait starts at 5s and doubles).
    #[arg(long, env = "SCREENREC_RWS_AUTH_BACKOFF_MAX", value_parser = humantime::parse_duration)]
    auth_backoff_max: Option<Duration>,
    /// Longest wait failures from many addresses impose on one user name, for addresses that failed for it (default 10s).
    #[arg(long, env = "SCREENREC_RWS_AUTH_USER_BACKOFF_MAX", value_parser = humantime::parse_duration)]
    auth_user_backoff_max: Option<Duration>,
    /// Longest wait for a request's headers, and for the next request on an idle kept-alive connection (default 30s).
    #[arg(long, env = "SCREENREC_RWS_HEADER_TIMEOUT", value_parser = humantime::parse_duration)]
    header_timeout: Option<Duration>,
    /// Time for a request body before --body-min-rate extends it; a slower body gets 408 (default 30s).
    #[arg(long, env = "SCREENREC_RWS_BODY_TIMEOUT", value_parser = humantime::parse_duration)]
    body_timeout: Option<Duration>,
    /// Each this many body bytes received extend the body deadline by one second (default 1024).
    #[arg(long, env = "SCREENREC_RWS_BODY_MIN_RATE")]
    body_min_rate: Option<u64>,
    /// Concurrent connections, WebSocket control channels included; more are answered 503 (default 20000).
    #[arg(long, env = "SCREENREC_RWS_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Close a connection on which nothing is read or written this long; above twice --heartbeat-interval (default 120s).
    #[arg(long, env = "SCREENREC_RWS_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    idle_timeout: Option<Duration>,
}

/// Flags over `--config` over defaults, checked.
fn resolve_limits(args: &LimitArgs, file: &FileConfig) -> anyhow::Result<rws::limits::Limits> {
    let d = rws::limits::Limits::default();
    let duration =
        |flag: Option<Duration>, key: &str, v: &Option<String>, default: Duration| match flag {
            Some(d) => Ok(d),
            None => v
                .as_deref()
                .map(|s| {
                    humantime::parse_duration(s)
                        .with_context(|| format!("{key} = {s:?} in --config"))
                })
                .transpose()
                .map(|d| d.unwrap_or(default)),
        };
    let limits = rws::limits::Limits {
        hash_workers: args
            .auth_hash_workers
            .or(file.auth_hash_workers)
            .unwrap_or(d.hash_workers),
        hash_queue: args
            .auth_hash_queue
            .or(file.auth_hash_queue)
            .unwrap_or(d.hash_queue),
        auth_cache_ttl: duration(
            args.auth_cache_ttl,
            "auth_cache_ttl",
            &file.auth_cache_ttl,
            d.auth_cache_ttl,
        )?,
        throttle: rws::throttle::Policy {
            free: args
                .auth_free_failures
                .or(file.auth_free_failures)
                .unwrap_or(d.throttle.free),
            max_delay: duration(
                args.auth_backoff_max,
                "auth_backoff_max",
                &file.auth_backoff_max,
                d.throttle.max_delay,
            )?,
            user_max_delay: duration(
                args.auth_user_backoff_max,
                "auth_user_backoff_max",
                &file.auth_user_backoff_max,
                d.throttle.user_max_delay,
            )?,
        },
        header_timeout: duration(
            args.header_timeout,
            "header_timeout",
            &file.header_timeout,
            d.header_timeout,
        )?,
        body_timeout: duration(
            args.body_timeout,
            "body_timeout",
            &file.body_timeout,
            d.body_timeout,
        )?,
        body_min_rate: args
            .body_min_rate
            .or(file.body_min_rate)
            .unwrap_or(d.body_min_rate),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(d.max_connections),
        idle_timeout: duration(
            args.idle_timeout,
            "idle_timeout",
            &file.idle_timeout,
            d.idle_timeout,
        )?,
    };
    if limits.hash_workers == 0 || limits.hash_queue == 0 {
        bail!("--auth-hash-workers and --auth-hash-queue must be at least 1");
    }
    if limits.throttle.free == 0 {
        bail!("--auth-free-failures must be at least 1");
    }
    if limits.header_timeout < Duration::from_secs(1)
        || limits.body_timeout < Duration::from_secs(1)
    {
        bail!("--header-timeout and --body-timeout must be at least 1s");
    }
    if limits.body_min_rate == 0 {
        bail!("--body-min-rate must be at least 1 (bytes per second)");
    }
    if limits.max_connections < 16 {
        bail!("--max-connections must be at least 16");
    }
    Ok(limits)
}

fn print_limits(l: &rws::limits::Limits) {
    let t = |d: Duration| humantime::format_duration(d).to_string();
    println!("auth_hash_workers = {}", l.hash_workers);
    println!("auth_hash_queue = {}", l.hash_queue);
    println!("auth_cache_ttl = {:?}", t(l.auth_cache_ttl));
    println!("auth_free_failures = {}", l.throttle.free);
    println!("auth_backoff_max = {:?}", t(l.throttle.max_delay));
    println!("auth_user_backoff_max = {:?}", t(l.throttle.user_max_delay));
    println!("header_timeout = {:?}", t(l.header_timeout));
    println!("body_timeout = {:?}", t(l.body_timeout));
    println!("body_min_rate = {}", l.body_min_rate);
    println!("max_connections = {}", l.max_connections);
    println!("idle_timeout = {:?}", t(l.idle_timeout));
}
