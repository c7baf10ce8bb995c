//! `screenrec srs`: the agent-side Screen Recording Service, serving the
//! GIR-compatible loopback API on 127.0.0.1 (HTTP, or HTTPS with
//! `--tls-cert/--tls-key` or `--tls-self-signed`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use url::Url;

/// Flags of `screenrec srs`.
#[derive(clap::Args)]
pub struct Args {
    /// Loopback address to listen on (127.0.0.1:PORT or [::1]:PORT only).
    #[arg(long, env = "SCREENREC_SRS_LISTEN", default_value = "127.0.0.1:8086")]
    listen: SocketAddr,
    /// Spool folder: recordings waiting for upload, the self-signed certificate.
    #[arg(long, env = "SCREENREC_SRS_SPOOL")]
    spool: PathBuf,
    /// RWS to use when the desktop's login does not name one (URL with scheme and port).
    #[arg(long, env = "SCREENREC_SRS_SERVER")]
    server: Option<Url>,
    /// Disaster-recovery RWS when the login does not name one.
    #[arg(long, env = "SCREENREC_SRS_PEER_SERVER")]
    peer_server: Option<Url>,
    /// More RWS a login may name in `server`/`peer_server` (disaster-recovery sites), beside
    /// --server and --peer-server; repeatable. SRS never contacts any other RWS.
    #[arg(
        long = "allowed-server",
        env = "SCREENREC_SRS_ALLOWED_SERVERS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    allowed_servers: Vec<Url>,
    /// Desktop origin allowed to call SRS (`https://desk.example.com`, `https://*.example.com`); repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Seconds without /ping after which the RWS session ends.
    #[arg(long, env = "SCREENREC_SRS_PING_TIMEOUT", default_value_t = 60)]
    ping_timeout: u64,
    /// Seconds the RWS must keep failing before the session moves to the peer RWS.
    #[arg(long, env = "SCREENREC_SRS_FAILOVER_AFTER", default_value_t = 30)]
    failover_after: u64,
    /// TLS certificate (PEM) for HTTPS.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate for 127.0.0.1/localhost, made once and kept in the spool.
    #[arg(long)]
    tls_self_signed: bool,
    /// Certificate authority (PEM, one or more certificates) trusted for an RWS served over
    /// HTTPS with a private or self-signed certificate, beside the public ones.
    #[arg(long, env = "SCREENREC_SRS_RWS_CA", value_name = "PEM")]
    rws_ca: Option<PathBuf>,
    /// X display to record (default: $DISPLAY).
    #[arg(long, env = "SCREENREC_SRS_DISPLAY")]
    display: Option<String>,
    /// What to record: `x11` (the display) or `synthetic[:WxH[xN]]` (moving test content on N monitors, no display needed).
    #[arg(long, env = "SCREENREC_SRS_SOURCE", default_value = "x11")]
    source: String,
    /// Most the spool may hold (e.g. 2GiB, 500MiB); a recording that reaches it stops with spool_full.
    #[arg(long, env = "SCREENREC_SRS_SPOOL_QUOTA", default_value = "2GiB")]
    spool_quota: String,
    /// Upload bandwidth cap in kbit/s (home-office links); 0 = unlimited. A lower cap sent by
    /// RWS with a recording's start wins. The spool holds what waits.
    #[arg(
        long,
        env = "SCREENREC_SRS_UPLOAD_RATE",
        value_name = "KBIT",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    upload_rate: u32,
    /// Seconds a recording cut by an SRS restart (SIGTERM, or a crash found at start) waits for
    /// RWS to continue it once the agent's session is back; then it is closed and uploaded as it
    /// is.
    #[arg(long, env = "SCREENREC_SRS_RESUME_GRACE", default_value_t = 30)]
    resume_grace: u64,
}

/// The certificates of `--rws-ca`: a PEM file with at least one.
fn read_ca(
    path: &std::path::Path,
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--rws-ca {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!(
            "--rws-ca {}: no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// Parses `2GiB`, `500MiB`, `64KiB`, `1000000` (bytes), also GB/MB/KB (×1000).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn parse_source(spec: &str, display: Option<String>) -> anyhow::Result<srs::recording::SourceSpec> {
    if spec == "x11" {
        return Ok(srs::recording::SourceSpec::X11(display));
    }
    let bad = || {
        anyhow::anyhow!(
            "--source {spec}: expected x11 or synthetic[:WxH[xN]] (even sizes 16..8192, N monitors 1..4)"
        )
    };
    if let Some(rest) = spec.strip_prefix("synthetic") {
        let (w, h, n) = match rest.strip_prefix(':') {
            None if rest.is_empty() => (1280, 720, 1),
            Some(size) => {
                let nums: Vec<u32> = size
                    .split('x')
                    .map(|p| p.parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad())?;
                match nums[..] {
                    [w, h] => (w, h, 1),
                    [w, h, n] => (w, h, n),
                    _ => return Err(bad()),
                }
            }
            None => return Err(bad()),
        };
        let size_ok = |v: u32| (16..=8192).contains(&v) && v.is_multiple_of(2);
        if !size_ok(w) || !size_ok(h) || !(1..=4).contains(&n) {
            return Err(bad());
        }
        return Ok(srs::recording::SourceSpec::Synthetic(w, h, n));
    }
    Err(bad())
}

/// Runs `screenrec srs`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Err(why) = srs::check_loopback(&args.listen) {
        bail!("--listen {}: {why}", args.listen);
    }
    if args.ping_timeout == 0 {
        bail!("--ping-timeout must be at least 1 second");
    }
    for (flag, url) in [
        ("--server", args.server.as_ref()),
        ("--peer-server", args.peer_server.as_ref()),
    ]
    .into_iter()
    .chain(
        args.allowed_servers
            .iter()
            .map(|u| ("--allowed-server", Some(u))),
    ) {
        if let Some(u) = url
            && u.scheme() != "http"
            && u.scheme() != "https"
        {
            bail!("{flag} {u}: the scheme must be http or https");
        }
    }
    let allowed_origins = args
        .allowed_origins
        .iter()
        .map(|o| {
            srs::cors::OriginPattern::parse(o)
                .map_err(|e| anyhow::anyhow!("--allowed-origin {o}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let https = args.tls_cert.is_some() || args.tls_self_signed;
    let source = parse_source(&args.source, args.display.clone())?;
    let spool_quota = parse_size(&args.spool_quota)
        .filter(|q| *q >= 64 << 10)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--spool-quota {}: expected a size of at least 64KiB, like 2GiB or 500MiB",
                args.spool_quota
            )
        })?;
    let rws_ca = match &args.rws_ca {
        Some(path) => read_ca(path)?,
        None => Vec::new(),
    };
    // Bound first: the port SRS really listens on is the one `Host` must name.
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("--listen {}: cannot bind", args.listen))?;
    let listen = listener.local_addr()?;
    let config = srs::Config {
        server: args.server,
        peer_server: args.peer_server,
        allowed_origins,
        ping_timeout: Duration::from_secs(args.ping_timeout),
        failover_after: Duration::from_secs(args.failover_after),
        spool: args.spool.clone(),
        https,
        source,
        spool_quota,
        rws_ca,
        listen,
        allowed_servers: args.allowed_servers,
        upload_rate_kbit: (args.upload_rate > 0).then_some(args.upload_rate),
        resume_grace: Duration::from_secs(args.resume_grace),
    };
    let service = srs::Srs::new(config).map_err(anyhow::Error::msg)?;
    let tls = match (args.tls_cert, args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(srs::tls::CertFiles { cert, key }),
        (_, _, true) => Some(srs::tls::self_signed(&args.spool).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    listener.set_nonblocking(true)?;
    if !media::ASM_ENABLED {
        tracing::warn!("OpenH264 was built without nasm: recording costs about twice the CPU");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let app = srs::router(service.clone());
        let watchdog = srs::spawn_watchdog(service.clone());
        let background = srs::spawn_recording(service.clone());
        let origins = srs::spawn_origin_refresh(service.clone());
        let handle = axum_server::Handle::new();
        {
            let handle = handle.clone();
            tokio::spawn(async move {
                crate::rws_cmd::shutdown_signal().await;
                handle.graceful_shutdown(Some(Duration::from_secs(5)));
            });
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(address = %args.listen, scheme, "SRS listening");
        let make = app.into_make_service();
        let served = match tls {
            Some(files) => {
                let config =
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                        .await
                        .with_context(|| {
                            format!(
                                "TLS certificate {} / key {}",
                                files.cert.display(),
                                files.key.display()
                            )
                        })?;
                let mut server = axum_server::from_tcp_rustls(listener, config)?.handle(handle);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(Duration::from_secs(10));
                server.serve(make).await
            }
            None => {
                let mut server = axum_server::from_tcp(listener)?.handle(handle);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(Duration::from_secs(10));
                server.serve(make).await
            }
        };
        watchdog.abort();
        srs::shutdown(&service).await;
        // Give the uploader a moment to finish the recordings that ended;
        // what it cannot send now is sent at the next start. (A recording
        // suspended for the restart stays: the next SRS continues it.)
        for _ in 0..50 {
            let pending = srs::spool::recording_dirs(&args.spool)
                .iter()
                .filter(|d| {
                    d.load_manifest()
                        .is_none_or(|m| m.state != srs::spool::SpoolState::Suspended)
                })
                .count();
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for task in background {
            task.abort();
        }
        if let Some(o) = origins {
            o.abort();
        }
        tracing::info!("SRS stopped");
        served.context("serving the loopback API")?;
        Ok(ExitCode::SUCCESS)
    })
}
