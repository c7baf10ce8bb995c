//! DNS-rebinding protection (threat model rule 5): SRS answers only
//! requests addressed to a loopback name.
//!
//! A page on `evil.example` can make its own name resolve to 127.0.0.1;
//! its requests to `http://evil.example:8086` are then same-origin (no
//! `Origin` header, so CORS does not see them) and reach SRS. The one thing
//! the browser cannot forge is `Host`: it stays `evil.example:8086`. So
//! every request — before CORS, authentication or any action — must name
//! `127.0.0.1`, `localhost` or `[::1]` with the port SRS listens on (or no
//! port when that port is the scheme's default); anything else gets 403.

use axum::extract::{Request, State};
use axum::http::{StatusCode as Http, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use proto::StatusCode;

use crate::Srs;
use crate::error::ApiError;

/// Names a loopback request may carry in `Host`.
const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// Is `host` (a `Host` header or an URI authority) a loopback name on `port`?
pub fn host_allowed(host: &str, port: u16, https: bool) -> bool {
    let host = host.trim();
    let (name, given_port) = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => {
                let (name, rest) = host.split_at(end + 1);
                match rest.strip_prefix(':') {
                    Some(p) => (name, Some(p)),
                    None if rest.is_empty() => (name, None),
                    None => return false,
                }
            }
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, p)) => (name, Some(p)),
            None => (host, None),
        }
    };
    if !LOOPBACK_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        return false;
    }
    let default_port = if https { 443 } else { 80 };
    match given_port {
        None => port == default_port,
        // Digits only: `u16::from_str` would also take `+8086`.
        // Canonical digits only: no sign, no leading zeros ("08086").
        Some(p) => p == port.to_string(),
    }
}

/// The middleware: refuses a request whose `Host` (or HTTP/2 authority) is
/// not loopback, with 403 in the GWS envelope.
pub async fn loopback_only(State(srs): State<Srs>, req: Request, next: Next) -> Response {
    let port = srs.config().listen.port();
    let https = srs.config().https;
    // Every `Host` header (a second one must not slip through) and the
    // HTTP/2 (or absolute-form) authority.
    let named: Vec<String> = req
        .headers()
        .get_all(header::HOST)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .chain(req.uri().authority().map(|a| a.as_str().to_string()))
        .collect();
    if !named.is_empty() && named.iter().all(|h| host_allowed(h, port, https)) {
        return next.run(req).await;
    }
    let shown = named
        .iter()
        .find(|h| !host_allowed(h, port, https))
        .map(|h| proto::logsafe::escape(&h.chars().take(100).collect::<String>()))
        .unwrap_or_else(|| "(none)".into());
    tracing::warn!(host = %shown, path = %req.uri().path(), "request refused: Host is not a loopback name (DNS rebinding?)");
    ApiError::new(
        Http::FORBIDDEN,
        StatusCode::Forbidden,
        format!(
            "Host '{shown}' refused: SRS answers only requests to 127.0.0.1, localhost or [::1] on port {port} (DNS-rebinding protection)"
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn loopback_names_with_the_right_port_only() {
        for ok in [
            "127.0.0.1:8086",
            "localhost:8086",
            "LOCALHOST:8086",
            "[::1]:8086",
        ] {
            assert!(host_allowed(ok, 8086, false), "{ok}");
        }
        for bad in [
            "evil.example:8086",
            "evil.example",
            "127.0.0.1:8087",
            "127.0.0.1",
            "127.0.0.1:+8086",
            "127.0.0.1:08086",
            "127.0.0.1:8086:1",
            "localhost.:8086",
            "127.0.0.2:8086",
            "[::1]x:8086",
            "[::1",
            "user@127.0.0.1:8086",
            "",
        ] {
            assert!(!host_allowed(bad, 8086, false), "{bad}");
        }
        assert!(host_allowed("127.0.0.1", 80, false));
        assert!(host_allowed("[::1]", 443, true));
        assert!(!host_allowed("127.0.0.1", 443, false));
    }

    /// Random `Host` values built from the characters that matter: never a
    /// panic, and whatever is accepted is exactly a loopback name with the
    /// port (the parser has no other way to say yes).
    #[test]
    fn random_hosts_never_panic_and_only_loopback_passes() {
        const PIECES: [&str; 16] = [
            "127.0.0.1",
            "localhost",
            "[::1]",
            "[",
            "]",
            ":",
            "8086",
            "80",
            "+",
            ".",
            "evil",
            "é",
            "\u{0}",
            " ",
            "@",
            "0",
        ];
        let allowed = ["127.0.0.1:8086", "localhost:8086", "[::1]:8086"];
        for _ in 0..20_000 {
            let n = rand::random::<u8>() % 6;
            let host: String = (0..n)
                .map(|_| PIECES[rand::random::<u8>() as usize % PIECES.len()])
                .collect();
            if host_allowed(&host, 8086, false) {
                let h = host.trim().to_ascii_lowercase();
                assert!(allowed.contains(&h.as_str()), "accepted {host:?}");
            }
        }
    }
}
