//! `screenrec srs` (being built).

use std::process::ExitCode;

/// Flags of `screenrec srs`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `screenrec srs`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("screenrec srs is not built yet")
}
