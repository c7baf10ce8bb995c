//! `screenrec record` (being built).

use std::process::ExitCode;

/// Flags of `screenrec record`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `screenrec record`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("screenrec record is not built yet")
}
