//! `screenrec loadgen make-directory`: agent `lg{i}` at place
//! `LG_Place_{i}` with DN `{DN_BASE + i}` on [`SWITCH`], every password the
//! same and hashed once.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use super::{DN_BASE, SWITCH};

#[derive(clap::Args)]
pub(super) struct MakeDirectoryArgs {
    /// How many agents (users `lg0`…, one place and one DN each).
    #[arg(long)]
    agents: usize,
    /// Where to write the directory (TOML).
    #[arg(long)]
    out: PathBuf,
    /// Every agent's password.
    #[arg(long, default_value = "loadgen")]
    password: String,
    /// Also add an administrator `admin` with this password.
    #[arg(long)]
    admin_password: Option<String>,
}

/// Writes the directory.
pub(super) fn make_directory(a: &MakeDirectoryArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::fmt::Write;
    if a.agents == 0 {
        bail!("--agents must be at least 1");
    }
    let started = Instant::now();
    let hash = rws::directory::hash_password(&a.password)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    let mut out = String::with_capacity(a.agents * 200);
    out.push_str(
        "# Written by `screenrec loadgen make-directory`.\nrecording_when = \"always\"\n\n",
    );
    let _ = writeln!(out, "[[switch]]\nname = \"{SWITCH}\"\n");
    for i in 0..a.agents {
        let _ = writeln!(
            out,
            "[[place]]\nname = \"LG_Place_{i}\"\ndevices = [{{ dn = \"{}\", switch = \"{SWITCH}\" }}]\n",
            DN_BASE + i as u64
        );
    }
    for i in 0..a.agents {
        let _ = writeln!(
            out,
            "[[user]]\nusername = \"lg{i}\"\npassword_hash = \"{hash}\"\nroles = [\"agent\"]\ndefault_place = \"LG_Place_{i}\"\n"
        );
    }
    if let Some(p) = &a.admin_password {
        let h = rws::directory::hash_password(p)
            .map_err(|e| anyhow::anyhow!("hashing the admin password: {e}"))?;
        let _ = writeln!(
            out,
            "[[user]]\nusername = \"admin\"\npassword_hash = \"{h}\"\nroles = [\"admin\"]\n"
        );
    }
    std::fs::write(&a.out, out).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "loadgen: wrote {} agents to {} in {:.2}s",
        a.agents,
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(std::process::ExitCode::SUCCESS)
}
