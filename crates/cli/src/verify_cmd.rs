//! `screenrec verify BUNDLE.zip [--key PUB]`: checks a signed evidence
//! export offline (no RWS, no age keys): the key, the signature over
//! `manifest.json`, the event timeline's hash, and every media file's
//! plaintext segment by segment. Prints the first thing that does not hold
//! (file, segment, byte range) and exits 1; exits 0 only when all holds.
//! The checks are the `evidence` crate's ([`evidence::verify_bundle`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// `screenrec verify` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The export bundle (the zip from `GET /api/v2/recordings/{call_id}/export`).
    pub bundle: PathBuf,
    /// The public key you trust (PEM, or the raw key in base64, as
    /// `GET /api/v2/keys/signing` gives it). Without it the bundle's own
    /// signing-key.pem is used: that proves the bundle is intact, not whose
    /// it is.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
}

/// Runs `verify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = match &args.key {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--key {}", path.display()))?;
            Some(
                evidence::PublicKey::parse(&text)
                    .with_context(|| format!("--key {}", path.display()))?,
            )
        }
        None => None,
    };
    match evidence::verify_bundle(&args.bundle, key.as_ref()) {
        Ok(v) => {
            println!(
                "OK: {}: recording {}, {} media file(s), {} segment(s), {} event(s); signed by key {}{}",
                args.bundle.display(),
                v.recording_id,
                v.media_files,
                v.segments,
                v.events,
                v.key_id,
                if v.key_given {
                    " (the key given with --key)"
                } else {
                    " (the bundle's own key: pass --key to check whose it is)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(mismatch) => {
            println!("FAILED: {}: {mismatch}", args.bundle.display());
            Ok(ExitCode::from(1))
        }
    }
}
