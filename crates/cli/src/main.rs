//! `screenrec`: open, self-hostable screen recording for contact centres.
//!
//! This binary only parses flags, loads configuration, installs tracing and
//! calls the service crates. Each subcommand lives in its own module:
//!
//! * `screenrec srs`: the agent-side Screen Recording Service ([`srs_cmd`]).
//! * `screenrec rws`: the Recording Web Service ([`rws_cmd`]).
//! * `screenrec record`: record the local screen to MP4 files ([`record_cmd`]).
//! * `screenrec sim`: post scripted call/chat scenarios to RWS ([`sim_cmd`]).
//! * `screenrec demo`: everything in one process, a call a minute ([`demo_cmd`]).
//! * `screenrec loadgen`: N simulated SRS against one RWS, measured ([`loadgen`]).
//! * `screenrec verify`: check a signed evidence export offline ([`verify_cmd`]).
//!
//! Errors are printed once, with their chain, and mapped to exit codes here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod backup_cmd;
mod demo_cmd;
mod keys_cmd;
mod loadgen;
mod record_cmd;
mod rws_cmd;
mod sim_cmd;
mod srs_cmd;
mod verify_cmd;

#[derive(Parser)]
#[command(
    name = "screenrec",
    version,
    about = "Open, self-hostable screen recording for contact centres"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent-side Screen Recording Service (loopback API for the desktop).
    Srs(srs_cmd::Args),
    /// Run the Recording Web Service (server), or manage its data.
    Rws(Box<rws_cmd::Args>),
    /// Record the local screen to fragmented MP4 files, without a server.
    Record(record_cmd::Args),
    /// Post scripted call/chat scenarios to RWS's event intake.
    Sim(sim_cmd::Args),
    /// Run RWS + SRS + a recorded call every minute, in one process.
    Demo(demo_cmd::Args),
    /// Load RWS with N simulated SRS sessions and call events; measure it.
    Loadgen(loadgen::Args),
    /// Check a signed evidence export (zip) offline; exit 0 only when all holds.
    Verify(verify_cmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Srs(args) => srs_cmd::run(args),
        Command::Rws(args) => rws_cmd::run(*args),
        Command::Record(args) => record_cmd::run(args),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Loadgen(args) => loadgen::run(args),
        Command::Verify(args) => verify_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("screenrec: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr; `RUST_LOG` (or `SCREENREC_LOG`) picks the level.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("SCREENREC_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or journal holds no escape
        // sequence at all, so one typed by a user stands out (escaped).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
