//! HTTPS on loopback: a desktop served over HTTPS must call SRS over HTTPS
//! (mixed content). The certificate comes from configuration, or SRS makes
//! a self-signed one for `127.0.0.1` and `localhost` once and keeps it in
//! `<spool>/tls/` (reused on every start, so a user who trusted it once
//! keeps it trusted).

use std::path::{Path, PathBuf};

/// Certificate and key files (PEM).
pub struct CertFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The self-signed certificate in `<spool>/tls/`, created when missing.
pub fn self_signed(spool: &Path) -> Result<CertFiles, String> {
    let dir = spool.join("tls");
    let files = CertFiles {
        cert: dir.join("srs-cert.pem"),
        key: dir.join("srs-key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    crate::spool::create_private_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .map_err(|e| format!("generating the self-signed certificate: {e}"))?;
    std::fs::write(&files.cert, certified.cert.pem())
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    write_private(&files.key, certified.signing_key.serialize_pem().as_bytes())?;
    tracing::info!(cert = %files.cert.display(), "self-signed certificate for 127.0.0.1/localhost created");
    Ok(files)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}
