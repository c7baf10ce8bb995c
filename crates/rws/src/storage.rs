//! Where media objects live: `object_store`, the local filesystem under
//! `<data-dir>/media` by default. S3-compatible stores are reached with an
//! `s3://bucket/prefix` URL when RWS is built with the `s3` feature (it
//! pulls in a TLS stack with a C build, so it is not in the default build).
//!
//! A local media folder (the default, or `file://`) is made 0700 at every
//! start (threat model, rule 8).
//!
//! Media is stored as uploaded: concatenated age streams, one per fMP4
//! segment. Nothing here ever sees plaintext.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

/// The media store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Where it is, for logs (no credentials).
    pub describe: String,
}

impl Storage {
    /// Opens the store: `url` (`s3://…`, `file:///…`) or `<data_dir>/media`.
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Storage, String> {
        match url {
            None => {
                let dir = data_dir.join("media");
                crate::private_files::private_dir(&dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                Ok(Storage {
                    store: Arc::new(store),
                    prefix: ObjectPath::default(),
                    describe: dir.display().to_string(),
                })
            }
            Some(raw) => {
                let url = url::Url::parse(raw)
                    .map_err(|e| format!("--storage '{raw}' is not a URL: {e}"))?;
                if url.scheme() == "s3" && !cfg!(feature = "s3") {
                    return Err(format!(
                        "--storage '{raw}': this build has no S3 support; rebuild with `cargo build --features s3` or use a filesystem path"
                    ));
                }
                if url.scheme() == "file"
                    && let Ok(p) = url.to_file_path()
                {
                    crate::private_files::private_dir(&p)
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                }
                let (store, prefix) = object_store::parse_url_opts(&url, std::env::vars())
                    .map_err(|e| format!("--storage '{raw}': {e}"))?;
                Ok(Storage {
                    store: Arc::from(store),
                    prefix,
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

    fn path(&self, key: &str) -> ObjectPath {
        self.prefix
            .parts()
            .chain(ObjectPath::from(key).parts())
            .collect()
    }

    /// Copies a local file into the store as `key`, streaming in 8 MiB parts.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<u64, String> {
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(|e| format!("{}: {e}", file.display()))?;
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
