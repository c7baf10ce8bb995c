//! `screenrec rws keys export` and `keys import`: the tenant's private keys
//! out of and into a data dir, age-encrypted, each audited (see
//! [`rws::custody`] for the format and the import rules).
//!
//! A passphrase is read from `--passphrase-file` or from the terminal, never
//! from a flag value: a flag's value is visible to every local user in `ps`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, bail};
use rws::custody::{self, Opener, Protection};

/// Shortest passphrase accepted for an export.
const MIN_PASSPHRASE_CHARS: usize = 10;

/// Flags of `keys export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The export file to write (mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Encrypt to this age X25519 recipient (age1…) instead of a passphrase; repeatable.
    #[arg(
        long = "to",
        value_name = "RECIPIENT",
        conflicts_with = "passphrase_file"
    )]
    to: Vec<String>,
    /// Read the passphrase from the first line of this file (else it is asked on the terminal).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
}

/// Flags of `keys import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The export file (from `keys export`).
    file: PathBuf,
    /// Age identity file for an export made with --to.
    #[arg(long, short = 'i', conflicts_with = "passphrase_file")]
    identity: Option<PathBuf>,
    /// Read the passphrase from the first line of this file (else it is asked on the terminal).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    /// Re-encrypt imported keys already present but unreadable with the current master key (after losing it).
    #[arg(long)]
    rewrap: bool,
}

/// Who runs the command, for the audit log.
fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// The file's absolute path for the audit log (as given when that fails).
fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The first line of a passphrase file.
fn passphrase_from_file(path: &Path) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--passphrase-file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        bail!(
            "--passphrase-file {}: the first line is empty",
            path.display()
        );
    }
    Ok(SecretString::from(line))
}

/// Asks on the terminal (no echo); `confirm` asks twice.
fn passphrase_from_tty(confirm: bool) -> anyhow::Result<SecretString> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt).context(
            "no terminal to ask the passphrase on: pass --passphrase-file FILE (or --to RECIPIENT for export)",
        )
    };
    let first = ask("Passphrase for the key export: ")?;
    if confirm && ask("Same passphrase again: ")? != first {
        bail!("the two passphrases differ");
    }
    Ok(SecretString::from(first))
}

/// Runs `keys export`.
pub async fn export(
    data_dir: &Path,
    database: &rws::store::connect::DatabaseUrl,
    args: ExportArgs,
) -> anyhow::Result<ExitCode> {
    let protection = if args.to.is_empty() {
        let p = match &args.passphrase_file {
            Some(f) => passphrase_from_file(f)?,
            None => passphrase_from_tty(true)?,
        };
        if p.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS {
            bail!("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters");
        }
        Protection::Passphrase(p)
    } else {
        let recipients = args
            .to
            .iter()
            .map(|r| media::crypt::parse_recipient(r).with_context(|| format!("--to {r}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Protection::Recipients(recipients)
    };
    if !args.force && args.out.exists() {
        bail!(
            "{} exists: pass --force to overwrite it",
            args.out.display()
        );
    }
    if let rws::store::connect::DatabaseUrl::Sqlite(file) = database
        && !file.exists()
    {
        bail!("{}: no RWS database here", file.display());
    }
    let db = rws::open_db_url(data_dir, database).await?;
    let master = custody::existing_master_key(data_dir)?;
    let keys = custody::collect(&db, &master).await?;
    if keys.is_empty() {
        bail!("{}: no tenant keys to export", data_dir.display());
    }
    let signing = rws::signing::collect(&db, &master).await?;
    let plain = custody::render(&keys, &rws::recordings::now());
    // The signing keys ride along as comment lines (see rws::custody).
    let plain = age::secrecy::SecretString::from(format!(
        "{}{}",
        plain.expose_secret(),
        custody::render_signing(&signing)
    ));
    let sealed = custody::seal(&plain, &protection)?;
    write_private(&args.out, &sealed, args.force)?;
    let ids: Vec<&str> = keys.iter().filter_map(|k| k.id.as_deref()).collect();
    let to = match &protection {
        Protection::Passphrase(_) => "a passphrase".to_string(),
        Protection::Recipients(_) => args.to.join(" "),
    };
    rws::compliance::audit(
        &db,
        &operator(),
        "keys_export",
        &absolute(&args.out),
        &format!(
            "{} key(s) {} and {} signing key(s) to {to}",
            ids.len(),
            ids.join(","),
            signing.len()
        ),
        None,
    )
    .await?;
    println!(
        "{}: {} key(s) exported, encrypted to {to}",
        args.out.display(),
        ids.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to `path` with mode 0600: through a new temporary file
/// renamed over `path` (so an existing file's looser mode is not kept, and
/// a crash leaves either the old or the new export), or, without `force`,
/// straight into a file that must not exist yet.
fn write_private(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)
    };
    let target = if force {
        let name = format!(
            ".{}.{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            uuid::Uuid::new_v4()
        );
        path.with_file_name(name)
    } else {
        path.to_path_buf()
    };
    let mut f = open(&target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists: pass --force to overwrite it", path.display())
        }
        _ => anyhow::Error::new(e).context(format!("writing {}", target.display())),
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", target.display()))?;
    if force {
        std::fs::rename(&target, path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs `keys import`.
pub async fn import(
    data_dir: &Path,
    database: &rws::store::connect::DatabaseUrl,
    args: ImportArgs,
) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let meta = std::fs::metadata(&args.file).with_context(|| name.clone())?;
    // The ciphertext is a little larger than the plaintext bound.
    if meta.len() > custody::MAX_EXPORT_BYTES * 2 {
        bail!("{name}: too large to be a key export");
    }
    let bytes = std::fs::read(&args.file).with_context(|| name.clone())?;
    let opener = if custody::is_passphrase_file(&bytes, &name)? {
        if args.identity.is_some() {
            bail!(
                "{name} is encrypted to a passphrase, not to an identity: pass --passphrase-file FILE or run on a terminal"
            );
        }
        Opener::Passphrase(match &args.passphrase_file {
            Some(f) => passphrase_from_file(f)?,
            None => passphrase_from_tty(false)?,
        })
    } else {
        let Some(path) = &args.identity else {
            bail!("{name} is encrypted to age recipients: pass --identity FILE");
        };
        Opener::Identities(vec![
            media::crypt::read_identity_file(path)
                .with_context(|| format!("--identity {}", path.display()))?,
        ])
    };
    let plain = custody::open(&bytes, &opener, &name)?;
    let keys = custody::parse(plain.expose_secret()).with_context(|| name.clone())?;
    let db = rws::open_db_url(data_dir, database).await?;
    let master = rws::keys::MasterKey::load(data_dir)?;
    let signing = custody::parse_signing(plain.expose_secret()).with_context(|| name.clone())?;
    let report = custody::import(&db, &master, &keys, args.rewrap).await?;
    let (signing_added, signing_rewrapped) =
        rws::signing::import(&db, &master, &signing, args.rewrap).await?;
    let detail = format!(
        "added {}; re-encrypted {}; already present {}{}",
        report.added.join(",").if_empty("none"),
        report.rewrapped.join(",").if_empty("none"),
        report.present.join(",").if_empty("none"),
        report
            .activated
            .as_deref()
            .map(|a| format!("; active {a}"))
            .unwrap_or_default()
    ) + &format!(
        "; signing keys added {}; signing keys re-encrypted {}",
        signing_added.join(",").if_empty("none"),
        signing_rewrapped.join(",").if_empty("none")
    );
    rws::compliance::audit(
        &db,
        &operator(),
        "keys_import",
        &absolute(&args.file),
        &detail,
        None,
    )
    .await?;
    println!(
        "{name}: {} key(s) added, {} re-encrypted with this master key, {} already present",
        report.added.len(),
        report.rewrapped.len(),
        report.present.len()
    );
    if let Some(a) = &report.activated {
        println!("active key: {a}");
    }
    println!(
        "{} signing key(s) added, {} re-encrypted with this master key",
        signing_added.len(),
        signing_rewrapped.len()
    );
    if !report.unreadable.is_empty() {
        eprintln!(
            "warning: key(s) {} of this data dir still do not decrypt with the master key; recordings made under them do not play until their export is imported with --rewrap",
            report.unreadable.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}

trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() {
            other.to_string()
        } else {
            self
        }
    }
}
