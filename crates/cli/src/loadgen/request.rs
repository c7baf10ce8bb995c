//! The one way the load generator sends an HTTP request: build it, send
//! it, check the status, and — only where RWS asks for it (a 5xx while it
//! sheds load, a refused connection at its connection cap) — send it again
//! with a growing pause until a deadline.

use std::time::{Duration, Instant};

use anyhow::bail;
use reqwest::{RequestBuilder, Response, StatusCode};

/// What to do with a 5xx or a failed connection.
#[derive(Debug, Clone, Copy)]
pub(super) enum Retry {
    /// Fail at once.
    Never,
    /// Try again (100 ms, doubling to 2 s) until this instant.
    Until(Instant),
}

/// Sends the request `build` makes (built again for every attempt) and
/// answers the response when its status is `expect`; anything else is an
/// error `"{what}: HTTP {status}: {body}"`.
pub(super) async fn request(
    what: &str,
    expect: StatusCode,
    retry: Retry,
    build: impl Fn() -> RequestBuilder,
) -> anyhow::Result<Response> {
    let mut wait = Duration::from_millis(100);
    loop {
        let why = match build().send().await {
            Ok(r) if r.status() == expect => return Ok(r),
            Ok(r) if r.status().is_server_error() && matches!(retry, Retry::Until(_)) => {
                format!("HTTP {}", r.status())
            }
            Ok(r) => {
                let status = r.status();
                bail!(
                    "{what}: HTTP {status}: {}",
                    r.text().await.unwrap_or_default()
                );
            }
            Err(e) if matches!(retry, Retry::Until(_)) => format!("{e}"),
            Err(e) => bail!("{what}: {e}"),
        };
        let Retry::Until(deadline) = retry else {
            bail!("{what}: {why}");
        };
        if Instant::now() + wait > deadline {
            bail!("{what}: gave up at the deadline; last answer: {why}");
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}
