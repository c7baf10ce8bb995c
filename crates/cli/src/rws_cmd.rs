//! `screenrec rws` (being built).

use std::process::ExitCode;

/// Flags of `screenrec rws`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `screenrec rws`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("screenrec rws is not built yet")
}
