//! Desktop origins (`allowed_origins` in the directory): the pattern
//! `scheme://host[:port]`, with `*` allowed only as the leftmost host labels
//! (`https://*.example.com`). SRS answers CORS for the origins that match,
//! and RWS opens the control channel to a page (the browser recorder) only
//! from an origin that matches.

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
