//! Where media objects live: `object_store`, the local filesystem under
//! `<data-dir>/media` by default, or an S3-compatible store named by an
//! `s3://bucket/prefix` URL. S3 is configured by the standard AWS
//! environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`: object_store's
//! `AmazonS3Builder::from_env`), and RWS checks at start that it can list
//! and write there ([`Storage::check`]), so a missing bucket or an endpoint
//! that does not answer stops RWS at once instead of failing the first upload.
//!
//! A local media folder (the default, or `file://`) is made 0700 at every
//! start (threat model, rule 8).
//!
//! Media is stored as uploaded: concatenated age streams, one per fMP4
//! segment. Nothing here ever sees plaintext. Uploads still in progress
//! are staged here too, as one object per acknowledged PATCH
//! ([`staging`]), so no upload needs a node's local disk.
//!
//! A local folder is written with `fsync` (file and directory) before a
//! write returns, as S3 is durable before it answers: a staged part is
//! acknowledged to SRS only once it would survive a power cut.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use tokio::io::AsyncReadExt;

pub mod staging;

/// The media store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The same store without retries, for the start-up check: a store that
    /// is down must be reported in seconds, not after the minutes of
    /// back-off that protect an upload.
    probe: Option<Arc<dyn ObjectStore>>,
    /// Where it is, for logs (no credentials).
    pub describe: String,
}

/// How long the start-up check waits for one answer of the object store.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The same, as object_store's configuration text.
const PROBE_TIMEOUT_TEXT: &str = "10s";

impl Storage {
    /// Opens the store: `url` (`s3://…`, `file:///…`) or `<data_dir>/media`.
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Storage, String> {
        match url {
            None => {
                let dir = data_dir.join("media");
                crate::private_files::private_dir(&dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                Self::open_local(&dir)
            }
            Some(raw) => {
                let url = url::Url::parse(raw)
                    .map_err(|e| format!("--storage '{raw}' is not a URL: {e}"))?;
                if url.scheme() == "s3" {
                    return Self::open_s3(raw, &url);
                }
                if url.scheme() == "file"
                    && let Ok(p) = url.to_file_path()
                {
                    crate::private_files::private_dir(&p)
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                    return Self::open_local(&p);
                }
                let (store, prefix) = object_store::parse_url_opts(&url, std::env::vars())
                    .map_err(|e| format!("--storage '{raw}': {e}"))?;
                Ok(Storage {
                    store: Arc::from(store),
                    prefix,
                    probe: None,
                    describe: format!(
                        "{}://{}{}",
                        url.scheme(),
                        url.host_str().unwrap_or(""),
                        url.path()
                    ),
                })
            }
        }
    }

    /// A local folder (already made private): fsync'd writes, and empty
    /// folders removed when their last object is (staging leaves none).
    fn open_local(dir: &Path) -> Result<Storage, String> {
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Storage {
            store: Arc::new(store),
            prefix: ObjectPath::default(),
            probe: None,
            describe: dir.display().to_string(),
        })
    }

    /// `s3://bucket/prefix`, everything else from the `AWS_*` environment.
    fn open_s3(raw: &str, url: &url::Url) -> Result<Storage, String> {
        // reqwest is built without a default TLS provider; RWS uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bucket = url.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(format!(
                "--storage '{raw}': no bucket (expected s3://bucket/prefix)"
            ));
        }
        let builder = AmazonS3Builder::from_env().with_url(raw);
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .map(|e| redact_url(&e))
            .unwrap_or_else(|| "AWS".to_string());
        let describe = format!("s3://{bucket}{} at {endpoint}", url.path());
        let store = builder
            .clone()
            .build()
            .map_err(|e| format!("--storage '{raw}': {e}"))?;
        let probe = builder
            .with_retry(RetryConfig {
                max_retries: 0,
                retry_timeout: PROBE_TIMEOUT,
                ..RetryConfig::default()
            })
            // Keys, not `with_client_options`, which would drop the
            // environment's client settings (AWS_ALLOW_HTTP).
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                PROBE_TIMEOUT_TEXT,
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                PROBE_TIMEOUT_TEXT,
            )
            .build()
            .map_err(|e| format!("--storage '{raw}': {e}"))?;
        let prefix =
            ObjectPath::from_url_path(url.path()).map_err(|e| format!("--storage '{raw}': {e}"))?;
        Ok(Storage {
            store: Arc::new(store),
            prefix,
            probe: Some(Arc::new(probe)),
            describe,
        })
    }

    /// For a remote store: lists the prefix and writes, reads back and
    /// removes a small object, so that a wrong bucket, endpoint or
    /// credential is a start-up error naming the store. (A local folder was
    /// already checked when it was made private.)
    pub async fn check(&self) -> Result<(), String> {
        let Some(probe) = &self.probe else {
            return Ok(());
        };
        let fail = |what: &str, e: object_store::Error| {
            let why = match &e {
                object_store::Error::NotFound { .. } => {
                    "not found (does the bucket exist?)".to_string()
                }
                _ if e.to_string().contains("NoSuchBucket") => {
                    "the bucket does not exist".to_string()
                }
                _ => e.to_string(),
            };
            format!("{}: cannot {what}: {why}", self.describe)
        };
        probe
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| fail("list", e))?;
        let key = self.path(&format!(".start-check-{}", uuid::Uuid::new_v4()));
        probe
            .put(&key, Bytes::from_static(b"screenrec start-up check").into())
            .await
            .map_err(|e| fail("write", e))?;
        probe.delete(&key).await.map_err(|e| fail("delete", e))?;
        tracing::info!(store = %self.describe, "media store reachable and writable");
        Ok(())
    }

    fn path(&self, key: &str) -> ObjectPath {
        self.prefix
            .parts()
            .chain(ObjectPath::from(key).parts())
            .collect()
    }

    /// Copies the first `len` bytes of a local file into the store as
    /// `key`, streaming in 8 MiB parts; an error if the file is shorter.
    pub async fn put_file_prefix(&self, key: &str, file: &Path, len: u64) -> Result<u64, String> {
        let f = tokio::fs::File::open(file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let mut f = f.take(len);
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(|e| e.to_string())?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .await
                .map_err(|e| format!("{}: {e}", file.display()))?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(4)
                .await
                .map_err(|e| e.to_string())?;
            writer.write(&buf[..n]);
            total += n as u64;
        }
        if total != len {
            writer.abort().await.map_err(|e| e.to_string())?;
            return Err(format!("{}: {total} bytes, expected {len}", file.display()));
        }
        writer.finish().await.map_err(|e| e.to_string())?;
        Ok(total)
    }

    /// Bytes `range` of object `key`.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, String> {
        self.store
            .get_range(&self.path(key), range)
            .await
            .map_err(|e| e.to_string())
    }

    /// The whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, String> {
        self.store
            .get(&self.path(key))
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())
    }

    /// The size of object `key`, `None` if there is none.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, String> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Removes object `key` (missing is fine).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Storage {
    /// Whether the store answers (`/readyz`): the first page of a listing
    /// under the prefix (one request to S3, however many objects; a lazy
    /// directory walk locally). An empty store is fine.
    pub async fn probe(&self) -> Result<(), String> {
        use futures_util::StreamExt;
        match self.store.list(Some(&self.prefix)).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
        }
    }
}

/// `url` without its user name and password (for logs and errors).
fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "an endpoint that is not a URL".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_need_a_bucket_and_endpoints_are_shown_without_credentials() {
        let dir = std::env::temp_dir();
        let err = Storage::open(Some("s3:///media"), &dir)
            .err()
            .unwrap_or_default();
        assert!(err.contains("no bucket"), "{err}");
        assert_eq!(
            redact_url("http://key:secret@s3.example:9000/"),
            "http://s3.example:9000"
        );
        assert_eq!(redact_url("not a url"), "an endpoint that is not a URL");
    }
}
