//! Test support for the unit tests of this crate: an [`Srs`] service as
//! the tests of several modules need it, made one way. Compiled for tests
//! only.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use crate::Srs;
use crate::recording::SourceSpec;

/// An SRS service spooling to `spool`, with a small synthetic screen
/// (64x48, 1 fps) and an RWS address nothing listens on (port 1), so the
/// tests exercise SRS alone.
pub fn service(spool: &Path) -> Srs {
    Srs::new(crate::Config {
        server: Some(url::Url::parse("http://127.0.0.1:1/").unwrap()),
        peer_server: None,
        allowed_origins: Vec::new(),
        ping_timeout: Duration::from_secs(60),
        failover_after: Duration::from_secs(30),
        spool: spool.to_path_buf(),
        https: false,
        source: SourceSpec::Synthetic(64, 48, 1),
        spool_quota: 1 << 30,
        rws_ca: Vec::new(),
        listen: "127.0.0.1:1".parse().unwrap(),
        allowed_servers: Vec::new(),
        upload_rate_kbit: None,
        resume_grace: Duration::from_secs(30),
    })
    .unwrap()
}

/// A fresh age recipient (the tenant key a `start` or `preview` command
/// carries), as its string form.
pub fn recipient() -> String {
    age::x25519::Identity::generate().to_public().to_string()
}
