//! `screenrec demo`: the whole product in one process, for a first look.
//! RWS (SQLite + filesystem storage in the data dir) with the demo
//! directory, an SRS recording this machine's display (the synthetic
//! source when there is none), agent1 logged in as a desktop would be, and
//! a recorded call every minute. Prints the URLs and the demo logins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::sim_cmd::{Parties, Scenario, Sim};

/// The demo directory (demo passwords only).
const DIRECTORY: &str = include_str!("../../../examples/demo-directory.toml");

/// Flags of `screenrec demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Where the demo keeps its data (database, media, spool).
    #[arg(long, env = "SCREENREC_DEMO_DIR", default_value = "screenrec-demo")]
    data_dir: PathBuf,
    /// RWS address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    rws_listen: SocketAddr,
    /// SRS address (loopback).
    #[arg(long, default_value = "127.0.0.1:8086")]
    srs_listen: SocketAddr,
    /// What SRS records: `auto` (the display when there is one, else synthetic), `x11`, `synthetic`.
    #[arg(long, default_value = "auto")]
    source: String,
    /// Time between two demo calls.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// Length of each demo call.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    call_length: Duration,
    /// Leave agent1 to the browser recorder: the demo does not log agent1 in
    /// on its SRS (which would take the place back), and you record the calls
    /// from a Chrome or Edge tab on the printed desktop URL.
    #[arg(long, env = "SCREENREC_DEMO_RECORD_IN_BROWSER")]
    record_in_browser: bool,
}

/// Runs `screenrec demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Err(why) = srs::check_loopback(&args.srs_listen) {
        bail!("--srs-listen {}: {why}", args.srs_listen);
    }
    if args.call_length < Duration::from_secs(3) || args.every <= args.call_length {
        bail!("--call-length must be at least 3s and shorter than --every");
    }
    let source = match args.source.as_str() {
        "auto" => match capture::x11::X11Source::connect(None) {
            Ok(_) => srs::recording::SourceSpec::X11(None),
            Err(_) => srs::recording::SourceSpec::Synthetic(1280, 720, 1),
        },
        "x11" => srs::recording::SourceSpec::X11(None),
        "synthetic" => srs::recording::SourceSpec::Synthetic(1280, 720, 1),
        other => bail!("--source {other}: expected auto, x11 or synthetic"),
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("--data-dir {}", args.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_async(args, source))
}

async fn run_async(args: Args, source: srs::recording::SourceSpec) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = hex_token();
    let rws_url = format!("http://{}", args.rws_listen);
    let srs_url = format!("http://{}", args.srs_listen);

    // RWS.
    let directory = args.data_dir.join("demo-directory.toml");
    // The demo directory allows the desktop on the default port; on another
    // --rws-listen port the desktop's origin is that port's (the browser
    // recorder's control channel and SRS's CORS check it).
    let port = args.rws_listen.port().to_string();
    let text = DIRECTORY
        .replace("//127.0.0.1:8090\"", &format!("//127.0.0.1:{port}\""))
        .replace("//localhost:8090\"", &format!("//localhost:{port}\""));
    std::fs::write(&directory, text).context("writing the demo directory")?;
    let config = rws::Config {
        data_dir: args.data_dir.join("rws"),
        integration_token: Some(token.clone()),
        public_url: Some(rws_url.clone()),
        ..rws::Config::default()
    };
    let rws = rws::Rws::open(config).await?;
    rws.import_directory(&directory).await?;
    let listener = tokio::net::TcpListener::bind(args.rws_listen)
        .await
        .with_context(|| format!("--rws-listen {}: cannot bind", args.rws_listen))?;
    let rws_task = tokio::spawn(rws::serve(listener, rws, crate::rws_cmd::shutdown_signal()));

    // SRS.
    let recording_what = match &source {
        srs::recording::SourceSpec::X11(_) => format!(
            "the display {}",
            std::env::var("DISPLAY").unwrap_or_default()
        ),
        srs::recording::SourceSpec::Synthetic(w, h, _) => {
            format!("synthetic test content {w}x{h} (no display found)")
        }
    };
    let service = srs::Srs::new(srs::Config {
        server: Some(url::Url::parse(&rws_url)?),
        peer_server: None,
        allowed_origins: Vec::new(),
        ping_timeout: Duration::from_secs(60),
        failover_after: Duration::from_secs(30),
        spool: args.data_dir.join("spool"),
        https: false,
        source,
        spool_quota: 2 << 30,
        rws_ca: Vec::new(),
        listen: args.srs_listen,
        // The demo desktop names its page's origin as `server`: the same
        // RWS whether the browser opened it as 127.0.0.1 or localhost.
        allowed_servers: vec![url::Url::parse(&format!(
            "http://localhost:{}",
            args.rws_listen.port()
        ))?],
        upload_rate_kbit: None,
        resume_grace: Duration::from_secs(30),
    })
    .map_err(anyhow::Error::msg)?;
    let listener = std::net::TcpListener::bind(args.srs_listen)
        .with_context(|| format!("--srs-listen {}: cannot bind", args.srs_listen))?;
    listener.set_nonblocking(true)?;
    let _watchdog = srs::spawn_watchdog(service.clone());
    let _origins = srs::spawn_origin_refresh(service.clone());
    let _background = srs::spawn_recording(service.clone());
    let app = srs::router(service.clone());
    let srs_task = tokio::spawn(async move {
        axum_server::from_tcp(listener)?
            .serve(app.into_make_service())
            .await
    });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // The demo desktop: agent1 logged in, polling (unless agent1 records
    // in a browser tab: a native login would replace that session).
    wait_healthy(&client, &format!("{rws_url}/healthz")).await?;
    wait_healthy(&client, &format!("{srs_url}/healthz")).await?;
    if !args.record_in_browser {
        let client = client.clone();
        let me = format!("{srs_url}/api/v2/me");
        let ping = format!("{srs_url}/ping");
        tokio::spawn(async move {
            loop {
                let alive = client
                    .get(&ping)
                    .basic_auth("agent1", Some("agent1-demo"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !alive {
                    let _ = client
                        .get(&me)
                        .basic_auth("agent1", Some("agent1-demo"))
                        .send()
                        .await;
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        });
    }
    println!(
        "
screenrec demo is running (data in {data})
  console       : {rws_url}/console/       log in as supervisor / supervisor-demo (or admin / admin-demo)
  recordings    : {rws_url}/recordings/    the recent recordings on one page
  agent desktop : {rws_url}/desktop/       (SRS {srs_url}; agents agent1 / agent1-demo, agent2 / agent2-demo)
  in the browser: {browser}
  recording     : {recording_what}
  calls         : one every {every}, {len} long, on agent1's DN 1001
  integration   : screenrec sim --rws {rws_url} --token {token} --scenario transfer
Ctrl-C stops it.
",
        data = args.data_dir.display(),
        browser = if args.record_in_browser {
            format!("open {rws_url}/desktop/?recorder=browser in Chrome or Edge, log in as agent1 / agent1-demo and share the entire screen: the calls are recorded in that tab")
        } else {
            "restart with --record-in-browser to record agent1 from a Chrome or Edge tab instead of the SRS (docs/browser-recorder.md)".to_string()
        },
        every = humantime::format_duration(args.every),
        len = humantime::format_duration(args.call_length),
    );

    let sim = Sim {
        client,
        rws: url::Url::parse(&rws_url)?,
        token,
        switch: "SIP_Switch".into(),
        verbose: false,
    };
    let parties = Parties {
        a: "1001".into(),
        b: "1002".into(),
        agent: "agent1".into(),
        queue: "Sales".into(),
    };
    let calls = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for n in 1.. {
            let id = format!("demo-{}-{n}", std::process::id());
            println!("call {id}: started");
            match sim
                .play(Scenario::Basic, &id, &parties, args.call_length)
                .await
            {
                Ok(()) => {
                    println!("call {id}: ended; its screen recording is at {rws_url}/recordings/")
                }
                Err(e) => eprintln!("call {id}: {e:#}"),
            }
            tokio::time::sleep(args.every - args.call_length).await;
        }
    };
    tokio::select! {
        () = calls => {}
        r = rws_task => { r??; }
        r = srs_task => { r??; }
    }
    srs::shutdown(&service).await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_healthy(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not answer")
}

fn hex_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
