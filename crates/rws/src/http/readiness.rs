//! `GET /readyz` for load balancers and orchestrators: 200 when this node
//! can serve, i.e. its database answers a trivial query and its media
//! store answers a listing; 503 otherwise, naming what is down.
//!
//! `/healthz` only says the process is alive (restart it if not);
//! `/readyz` says whether to send it traffic. The answer is public, so it
//! names the part that failed but not the error (paths, endpoints): that
//! goes to the log.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::Rws;

/// Longest wait for each check: a load balancer probes every few seconds.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz`.
pub async fn readyz(State(rws): State<Rws>) -> Response {
    let (database, storage) =
        tokio::join!(check(crate::health::database(&rws)), check(storage(&rws)));
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readyz: the database does not answer");
    }
    if let Err(e) = &storage {
        tracing::warn!(error = %e, storage = %rws.storage.describe, "readyz: the media store does not answer");
    }
    let word = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "unreachable" };
    // A probe's answer is about this instant: no cache in between.
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    if database.is_ok() && storage.is_ok() {
        return (
            no_store,
            axum::Json(Readiness {
                database: "ok",
                status: "ready",
                status_code: None,
                status_message: None,
                storage: "ok",
            }),
        )
            .into_response();
    }
    let down: Vec<&str> = [("database", &database), ("storage", &storage)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        no_store,
        axum::Json(Readiness {
            database: word(&database),
            status: "not ready",
            status_code: Some(503),
            status_message: Some(format!(
                "not ready: {} unreachable (details in the RWS log)",
                down.join(" and ")
            )),
            storage: word(&storage),
        }),
    )
        .into_response()
}

/// The media store answers a listing; a local folder must also still be a
/// folder (listing a missing one succeeds with nothing in it).
async fn storage(rws: &Rws) -> Result<(), String> {
    let local = match rws.config.storage.as_deref() {
        None => Some(rws.config.data_dir.join("media")),
        Some(raw) => url::Url::parse(raw)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok()),
    };
    if let Some(dir) = local {
        let meta = tokio::fs::metadata(&dir)
            .await
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{}: not a directory", dir.display()));
        }
    }
    rws.storage.probe().await
}

/// Runs one check within [`CHECK_TIMEOUT`].
async fn check<E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

/// `GET /readyz`; when not ready, also the GWS envelope's `statusCode` and
/// `statusMessage` (fields in JSON name order).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    database: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_message: Option<String>,
    storage: &'static str,
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&Readiness {
            database: "ok",
            status: "not ready",
            status_code: Some(503),
            status_message: Some("down".into()),
            storage: "unreachable",
        });
    }
}
