//! `screenrec rws`: the Recording Web Service, and `screenrec rws
//! import-directory` to load a directory file without starting the server.
//!
//! Settings come from defaults, then `--config FILE` (TOML), then
//! `SCREENREC_RWS_*` environment variables, then flags.

use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Longest screen recording (e.g. 4h, 90m); it then stops with reason max_duration.
    #[arg(long, env = "SCREENREC_RWS_MAX_RECORDING_DURATION", value_parser = humantime::parse_duration)]
    max_recording_duration: Option<Duration>,
    /// A recording whose SRS sends nothing for this long is closed with what arrived (e.g. 15m).
    #[arg(long, env = "SCREENREC_RWS_ORPHAN_AFTER", value_parser = humantime::parse_duration)]
    orphan_after: Option<Duration>,
    /// Media storage URL (file:///path, or s3://bucket/prefix in builds with the s3 feature); default <data-dir>/media.
    #[arg(long, env = "SCREENREC_RWS_STORAGE")]
    storage: Option<String>,
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
    max_recording_duration: Option<String>,
    orphan_after: Option<String>,
    storage: Option<String>,
    #[serde(default)]
    webhooks: Vec<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

/// Runs `screenrec rws`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(RwsCommand::ImportDirectory { file, data_dir }) = args.command {
        let db = rws::open_db(&data_dir).await?;
        let report = rws::import_directory_file(&db, &file).await?;
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
        let action = match action {
            KeysAction::Export(a) => return crate::keys_cmd::export(&data_dir, a).await,
            KeysAction::Import(a) => return crate::keys_cmd::import(&data_dir, a).await,
            other => other,
        };
        let db = rws::open_db(&data_dir).await?;
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
    let public_url = args.public_url.or(file.public_url);
    if let Some(u) = &public_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        bail!("--public-url {u}: expected http://… or https://…");
    }
    let integration_token = args.integration_token.or(file.integration_token);
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
    let config = rws::Config {
        integration_token,
        data_dir,
        heartbeat_interval: Duration::from_secs(heartbeat),
        silence_timeout: Duration::from_secs(silence),
        public_url,
        max_recording_duration,
        orphan_after,
        storage: args.storage.or(file.storage),
        webhooks,
        purge_interval: Duration::from_secs(3600),
        https: tls_files.is_some(),
    };
    if args.print_config {
        println!("listen = \"{listen}\"");
        println!("data_dir = {:?}", config.data_dir.display().to_string());
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
