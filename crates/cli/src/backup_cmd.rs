//! `screenrec rws backup --out DIR`: a consistent copy of a single-node RWS
//! (embedded SQLite database, media, `master.key`) while it runs. The copy
//! is laid out as a data dir: restoring is copying it back (see
//! `docs/operations.md`). PostgreSQL deployments back up with `pg_dump`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

/// Flags of `rws backup`.
#[derive(clap::Args)]
pub struct BackupArgs {
    /// New (or empty) directory for the backup; made 0700.
    #[arg(long)]
    out: PathBuf,
    /// RWS's data directory (default: data_dir in --config).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// RWS's configuration file (e.g. /etc/screenrec/rws.toml): data_dir, storage and database are read from it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// RWS's media storage URL, if not the default <data-dir>/media (default: storage in --config).
    #[arg(long)]
    storage: Option<String>,
    /// RWS's database URL (default: database in --config; none: the embedded SQLite). A PostgreSQL URL is refused: use pg_dump.
    #[arg(long)]
    database: Option<String>,
}

/// The keys of RWS's `--config` file a backup needs (the rest is ignored
/// here; `screenrec rws` itself checks the whole file).
#[derive(Default)]
struct Keys {
    data_dir: Option<PathBuf>,
    storage: Option<String>,
    database: Option<String>,
}

fn read_config(path: &std::path::Path) -> anyhow::Result<Keys> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--config {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("--config {}", path.display()))?;
    let string = |key: &str| -> anyhow::Result<Option<String>> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("--config {}: {key} must be a string", path.display()),
        }
    };
    Ok(Keys {
        data_dir: string("data_dir")?.map(PathBuf::from),
        storage: string("storage")?,
        database: string("database")?,
    })
}

/// Refuses to run as another user than the data dir's owner: SQLite may
/// create the database's `-wal`/`-shm` files, and a root-owned one would
/// stop RWS (user `screenrec`) from opening its database.
fn same_user_as(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user (no unsafe call).
    let Ok(me) = std::fs::metadata("/proc/self") else {
        return Ok(());
    };
    let owner = std::fs::metadata(data_dir)
        .with_context(|| format!("--data-dir {}", data_dir.display()))?
        .uid();
    if owner != me.uid() {
        bail!(
            "{} belongs to another user (uid {owner}): run the backup as that user, e.g. `sudo -u screenrec screenrec rws backup …`",
            data_dir.display()
        );
    }
    Ok(())
}

/// Runs `screenrec rws backup`.
pub async fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => Keys::default(),
    };
    // Parsed, not matched on text, so `postgresql://` and upper-case schemes
    // are caught too, and an error never repeats a password.
    let database = args
        .database
        .or(file.database)
        .map(|raw| rws::store::connect::DatabaseUrl::parse(&raw))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--database: {e}"))?;
    if let Some(url @ rws::store::connect::DatabaseUrl::Postgres(_)) = &database {
        bail!(
            "--database {url} is PostgreSQL: `screenrec rws backup` copies a SQLite database only; back PostgreSQL up with pg_dump (docs/operations.md, \"Backup\")"
        );
    }
    let Some(data_dir) = args.data_dir.or(file.data_dir) else {
        bail!("--data-dir is required (or data_dir in --config)");
    };
    // A SQLite `--database` may live outside the data dir; the snapshot is
    // still written as `<out>/screenrec.db`.
    let database =
        database.unwrap_or_else(|| rws::store::connect::DatabaseUrl::default_for(&data_dir));
    let db_file = match &database {
        rws::store::connect::DatabaseUrl::Sqlite(path) => path.clone(),
        rws::store::connect::DatabaseUrl::Postgres(_) => data_dir.join("screenrec.db"),
    };
    if !db_file.is_file() {
        return Err(rws::backup::BackupError::NoDatabase(db_file).into());
    }
    same_user_as(&data_dir)?;
    let storage = args.storage.or(file.storage);
    let media = match storage.as_deref() {
        None => Some(data_dir.join("media")),
        Some(raw) => {
            let url = url::Url::parse(raw).with_context(|| format!("--storage {raw:?}"))?;
            if url.scheme() == "file" {
                let path = url
                    .to_file_path()
                    .map_err(|()| anyhow::anyhow!("--storage {raw:?}: not a local path"))?;
                Some(path)
            } else {
                None
            }
        }
    };
    rws::backup::prepare_out(&args.out)?;
    let db = rws::open_db_url(&data_dir, &database).await?;
    let report = rws::backup::run(&db, &data_dir, media.as_deref(), &args.out).await?;
    db.close().await;
    println!(
        "backup in {}: database {} bytes, {} media files ({} bytes), {} uploads in progress, master.key {}",
        args.out.display(),
        report.database_bytes,
        report.media_files,
        report.media_bytes,
        report.staging_files,
        if report.master_key {
            "copied"
        } else {
            "NOT copied"
        }
    );
    if media.is_none()
        && let Some(s) = &storage
    {
        println!(
            "media is in {s} and was not copied: back the bucket up with the store's own tools (versioning, replication)"
        );
    }
    if !report.master_key {
        println!(
            "the master key comes from {} (no master.key in the data dir): keep it safe apart from this backup, the recordings cannot be played without it",
            rws::keys::MASTER_KEY_ENV
        );
    }
    Ok(ExitCode::SUCCESS)
}
