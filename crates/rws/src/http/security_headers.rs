//! Security headers on every answer (threat model, rule 9).
//!
//! * `Content-Security-Policy`: our pages load scripts and styles only
//!   from their own origin (no inline code in `web/`), cannot be framed
//!   (`frame-ancestors 'none'`), and may connect anywhere over HTTP(S) and
//!   WebSocket because the agent desktop talks to the agent's SRS on a
//!   loopback port the agent types in.
//! * `X-Frame-Options: DENY` for browsers without `frame-ancestors`.
//! * `X-Content-Type-Options: nosniff`: a recording or a JSON answer is
//!   never run as a script or rendered as HTML.
//! * `Referrer-Policy: no-referrer`: call ids in console URLs do not leak.
//! * Under TLS: `Strict-Transport-Security`, and the console cookie gets
//!   `Secure` (it is never sent over plain HTTP to the same host).
//!
//! Nothing here limits who may *read* `/srs-client.js` or the desktop from
//! another origin (no `Cross-Origin-Resource-Policy`): agent desktops
//! import them cross-origin.

use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, SET_COOKIE, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::Rws;

/// The policy the console, desktop and recordings pages work under.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; media-src 'self' blob:; connect-src 'self' http: https: ws: wss:; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One year; browsers remember to use HTTPS for this host.
const HSTS: &str = "max-age=31536000";

/// Middleware: adds the headers (unless a handler set its own).
pub async fn add(State(rws): State<Rws>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let https = rws.config.https;
    let h = resp.headers_mut();
    set_default(h, CONTENT_SECURITY_POLICY, CSP);
    set_default(h, X_FRAME_OPTIONS, "DENY");
    set_default(h, X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(h, REFERRER_POLICY, "no-referrer");
    if https {
        set_default(h, STRICT_TRANSPORT_SECURITY, HSTS);
        secure_cookies(h);
    }
    resp
}

fn set_default(h: &mut HeaderMap, name: axum::http::HeaderName, value: &'static str) {
    if !h.contains_key(&name) {
        h.insert(name, HeaderValue::from_static(value));
    }
}

/// Adds `; Secure` to every `Set-Cookie` that lacks it.
fn secure_cookies(h: &mut HeaderMap) {
    let cookies: Vec<HeaderValue> = h.get_all(SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    h.remove(SET_COOKIE);
    for c in cookies {
        let secured = match c.to_str() {
            Ok(text)
                if !text
                    .split(';')
                    .any(|a| a.trim().eq_ignore_ascii_case("secure")) =>
            {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(c)
            }
            _ => c,
        };
        h.append(SET_COOKIE, secured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_is_added_once() {
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("A=1; HttpOnly"));
        h.append(SET_COOKIE, HeaderValue::from_static("B=2; Secure"));
        secure_cookies(&mut h);
        let all: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(all, ["A=1; HttpOnly; Secure", "B=2; Secure"]);
    }
}
