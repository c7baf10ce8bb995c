//! CORS for the loopback API, by hand: the allow-list is dynamic (the
//! configured origins plus those RWS hands over at login), may hold
//! wildcards inside a host (`https://*.example.com`), must answer the
//! private-network pre-flight, and must put its headers on every response,
//! errors included, or the desktop cannot read them.
//!
//! A request whose `Origin` is not on the list gets no CORS headers and a
//! 403; a request without `Origin` (a native desktop) is served normally.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Srs;
use crate::error::ApiError;

/// An allowed-origin pattern: `scheme://host[:port]`, `*` allowed as the
/// leftmost host labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    port: Option<String>,
}

impl OriginPattern {
    /// Parses a pattern; a bare `*` and anything that is not an origin are refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().trim_end_matches('/');
        if s == "*" {
            return Err("a bare '*' is not accepted: list the desktop origins".into());
        }
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("'{s}' is not an origin (scheme://host[:port])"))?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("'{s}': the scheme must be http or https"));
        }
        if rest.is_empty() || rest.contains('/') {
            return Err(format!(
                "'{s}' is not an origin (scheme://host[:port], no path)"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => {
                if p.parse::<u16>().is_err() {
                    return Err(format!("'{s}': bad port"));
                }
                (h.to_string(), Some(p.to_string()))
            }
            _ => (rest.to_string(), None),
        };
        if host.contains('*') && !host.starts_with("*.") {
            return Err(format!(
                "'{s}': a wildcard must stand for whole leftmost labels (https://*.example.com)"
            ));
        }
        Ok(OriginPattern {
            scheme: scheme.to_string(),
            host: host.to_lowercase(),
            port,
        })
    }

    /// Does `origin` (as sent by a browser) match?
    pub fn matches(&self, origin: &str) -> bool {
        let Ok(o) = OriginPattern::parse(origin) else {
            return false;
        };
        if o.scheme != self.scheme || o.port != self.port || o.host.contains('*') {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(suffix) => {
                o.host.len() > suffix.len() + 1 && o.host.ends_with(&format!(".{suffix}"))
            }
            None => o.host == self.host,
        }
    }
}

const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, X-Support-CSRFP, X-CSRF-Token, X-Requested-With, Accept";

fn add_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-CSRF-HEADER, X-CSRF-Token"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

/// The CORS layer (an axum middleware).
pub async fn cors(State(srs): State<Srs>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return next.run(req).await;
    };
    let allowed = origin
        .to_str()
        .map(|o| srs.origin_allowed(o))
        .unwrap_or(false);
    let preflight = req.method() == Method::OPTIONS;
    if !allowed {
        tracing::debug!(origin = ?origin, "request from an origin not on the allow-list refused");
        return ApiError::forbidden("origin not allowed").into_response();
    }
    if preflight {
        let private_network = req
            .headers()
            .get("access-control-request-private-network")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let mut resp = StatusCode::NO_CONTENT.into_response();
        add_headers(resp.headers_mut(), &origin);
        if private_network {
            resp.headers_mut().insert(
                "access-control-allow-private-network",
                HeaderValue::from_static("true"),
            );
        }
        return resp;
    }
    let mut resp = next.run(req).await;
    add_headers(resp.headers_mut(), &origin);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = OriginPattern::parse("https://*.example.com").expect("pattern");
        assert!(p.matches("https://desk.example.com"));
        assert!(p.matches("https://a.b.example.com"));
        assert!(!p.matches("https://example.com"));
        assert!(!p.matches("http://desk.example.com"));
        assert!(!p.matches("https://evil-example.com"));
        assert!(!p.matches("https://desk.example.com:8443"));
        let q = OriginPattern::parse("http://127.0.0.1:8090").expect("pattern");
        assert!(q.matches("http://127.0.0.1:8090"));
        assert!(!q.matches("http://127.0.0.1:8091"));
        assert!(!q.matches("null"));
        assert!(OriginPattern::parse("*").is_err());
        assert!(OriginPattern::parse("https://ex*.com").is_err());
        assert!(OriginPattern::parse("https://x.com/path").is_err());
        assert!(OriginPattern::parse("ftp://x.com").is_err());
    }
}
