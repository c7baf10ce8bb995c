//! The RWS allow-list (threat model rule 5): SRS sends the agent's
//! credentials, and takes commands, recipients, upload URLs and desktop
//! origins, only from the RWS it was configured with — `--server`,
//! `--peer-server` and each `--allowed-server` (disaster-recovery sites).
//!
//! A login body may still name `server`/`peer_server` (GIR desktops do),
//! but only one of those: anything else is refused before a connection is
//! made, so a web page or a tampered desktop configuration cannot send the
//! agent's password to a host of its choosing. With none configured at
//! all, every login is refused (secure default).
//!
//! URLs are compared normalised: scheme and host case-insensitive, the
//! scheme's default port made explicit, trailing slashes ignored.

use url::Url;

/// A URL reduced to what makes two RWS base URLs the same.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Normalised {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
    userinfo: (String, Option<String>),
}

fn normalise(u: &Url) -> Normalised {
    Normalised {
        scheme: u.scheme().to_ascii_lowercase(),
        host: u.host_str().unwrap_or_default().to_ascii_lowercase(),
        port: u.port_or_known_default(),
        path: u.path().trim_end_matches('/').to_string(),
        query: u.query().map(str::to_string),
        userinfo: (u.username().to_string(), u.password().map(str::to_string)),
    }
}

/// The RWS base URLs SRS may talk to.
#[derive(Debug, Clone, Default)]
pub struct AllowedServers {
    urls: Vec<Url>,
    normalised: Vec<Normalised>,
}

impl AllowedServers {
    /// From the configured URLs (`--server`, `--peer-server`, `--allowed-server`).
    pub fn new<'a>(urls: impl IntoIterator<Item = &'a Url>) -> AllowedServers {
        let urls: Vec<Url> = urls.into_iter().cloned().collect();
        let normalised = urls.iter().map(normalise).collect();
        AllowedServers { urls, normalised }
    }

    /// Is `u` one of the configured RWS URLs?
    pub fn allows(&self, u: &Url) -> bool {
        let n = normalise(u);
        self.normalised.contains(&n)
    }

    /// Is `u` on the same origin (scheme, host, port) as one of the
    /// configured RWS URLs? `ws`/`wss` count as `http`/`https` (the control
    /// channel).
    pub fn allows_origin(&self, u: &Url) -> bool {
        let scheme = match u.scheme() {
            "ws" => "http",
            "wss" => "https",
            s => s,
        };
        let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = u.port_or_known_default().or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        self.normalised
            .iter()
            .any(|n| n.scheme == scheme && n.host == host && n.port == port)
    }

    /// The list, for messages (`none` when empty).
    pub fn describe(&self) -> String {
        if self.urls.is_empty() {
            return "none".into();
        }
        self.urls
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Do `a` and `b` share scheme, host and port?
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme().eq_ignore_ascii_case(b.scheme())
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn normalised_comparison() {
        let a =
            AllowedServers::new(&[url("https://RWS.example.com/"), url("http://10.0.0.1:8090")]);
        assert!(a.allows(&url("https://rws.example.com")));
        assert!(a.allows(&url("https://rws.example.com:443/")));
        assert!(a.allows(&url("HTTP://10.0.0.1:8090/")));
        assert!(!a.allows(&url("http://rws.example.com")));
        assert!(!a.allows(&url("https://rws.example.com:8443")));
        assert!(!a.allows(&url("https://rws.example.com.evil.test")));
        assert!(!a.allows(&url("https://evil@rws.example.com")));
        assert!(!a.allows(&url("http://10.0.0.1:8091")));
        assert!(!AllowedServers::default().allows(&url("http://127.0.0.1:8090")));
    }

    #[test]
    fn origins() {
        let a = AllowedServers::new(&[url("https://rws.example.com/base/")]);
        assert!(a.allows_origin(&url("wss://rws.example.com/api/v2/srs/control")));
        assert!(a.allows_origin(&url("https://rws.example.com:443/x")));
        assert!(!a.allows_origin(&url("ws://rws.example.com/api/v2/srs/control")));
        assert!(!a.allows_origin(&url("wss://evil.test/api/v2/srs/control")));
        assert!(same_origin(
            &url("http://127.0.0.1:8090/api/v2/srs/uploads"),
            &url("http://127.0.0.1:8090")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:9999/api/v2/srs/uploads"),
            &url("http://127.0.0.1:8090")
        ));
    }
}
