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
        ("--server", &args.server),
        ("--peer-server", &args.peer_server),
    ] {
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
    let config = srs::Config {
        server: args.server,
        peer_server: args.peer_server,
        allowed_origins,
        ping_timeout: Duration::from_secs(args.ping_timeout),
        failover_after: Duration::from_secs(args.failover_after),
        spool: args.spool.clone(),
        https,
    };
    let service = srs::Srs::new(config).map_err(anyhow::Error::msg)?;
    let tls = match (args.tls_cert, args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(srs::tls::CertFiles { cert, key }),
        (_, _, true) => Some(srs::tls::self_signed(&args.spool).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("--listen {}: cannot bind", args.listen))?;
    listener.set_nonblocking(true)?;
    if !media::ASM_ENABLED {
        tracing::warn!("OpenH264 was built without nasm: recording costs about twice the CPU");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let app = srs::router(service.clone());
        let watchdog = srs::spawn_watchdog(service.clone());
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
        if let Some(o) = origins {
            o.abort();
        }
        srs::shutdown(&service).await;
        tracing::info!("SRS stopped");
        served.context("serving the loopback API")?;
        Ok(ExitCode::SUCCESS)
    })
}
