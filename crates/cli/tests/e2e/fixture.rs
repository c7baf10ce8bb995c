//! A real RWS (temp data dir, test directory) and real SRS processes, and
//! a small blocking HTTP client for the tests.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;

use crate::util::{Proc, free_port, wait_for};

/// The directory the SRS/RWS tests load.
pub const DIRECTORY: &str = r#"
recording_when = "always"
allowed_origins = ["http://desk.test:8000", "https://*.example.com"]

[[switch]]
name = "SIP_Switch"

[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]

[[place]]
name = "Place_1002"
devices = [{ dn = "1002", switch = "SIP_Switch" }]

[[place]]
name = "Place_Hot"
devices = [{ dn = "2001", switch = "SIP_Switch" }, { dn = "2002", switch = "SIP_Switch" }]

[[user]]
username = "agent1"
password = "pw1"
first_name = "Ada"
last_name = "Agent"
roles = ["agent"]
default_place = "Place_1001"

[[user]]
username = "agent2"
password = "pw2"
roles = ["agent"]
default_place = "Place_1002"

[[user]]
username = "nodefault"
password = "pw3"
roles = ["agent"]

[[user]]
username = "admin"
password = "adminpw"
roles = ["admin"]

[[user]]
username = "sup"
password = "suppw"
roles = ["supervisor"]
"#;

/// Two groups, one agent and one supervisor each: `team_a` (supa sees
/// agent1 on Place_1001) and `team_b` (supb sees agent2 on Place_1002),
/// plus an admin. Write it with [`write_directory`].
pub const TWO_GROUPS: &str = r#"
recording_when = "always"

[[switch]]
name = "SIP_Switch"

[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]

[[place]]
name = "Place_1002"
devices = [{ dn = "1002", switch = "SIP_Switch" }]

[[user]]
username = "agent1"
password = "pw1"
roles = ["agent"]
default_place = "Place_1001"

[[user]]
username = "agent2"
password = "pw2"
roles = ["agent"]
default_place = "Place_1002"

[[user]]
username = "supa"
password = "pwa"
roles = ["supervisor"]

[[user]]
username = "supb"
password = "pwb"
roles = ["supervisor"]

[[user]]
username = "admin"
password = "adminpw"
roles = ["admin"]

[[group]]
name = "team_a"
supervisors = ["supa"]
agents = ["agent1"]

[[group]]
name = "team_b"
supervisors = ["supb"]
agents = ["agent2"]
"#;

/// Writes `toml` as `dir/directory.toml`, the file [`Rws::start`] loads
/// (it writes [`DIRECTORY`] only when there is none).
pub fn write_directory(dir: &Path, toml: &str) {
    std::fs::write(dir.join("directory.toml"), toml).unwrap();
}

/// The integration token the test RWS accepts on `POST /api/v2/events`.
pub const INTEGRATION_TOKEN: &str = "test-integration-token-0123";

/// A running RWS.
pub struct Rws {
    pub proc: Proc,
    pub url: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
}

/// Flags that keep the RWS `name` in `dir` on SQLite and the filesystem of
/// its data dir whatever `SCREENREC_TEST_BACKEND` says: for the few tests
/// whose subject is those files (their modes, their bytes, a SQLite backup).
pub fn sqlite_fs(dir: &Path, name: &str) -> Vec<String> {
    let data = dir.join(name);
    vec![
        "--database".into(),
        format!("sqlite://{}", data.join("screenrec.db").display()),
        "--storage".into(),
        format!("file://{}", data.join("media").display()),
    ]
}

impl Rws {
    /// Starts RWS with the test directory; heartbeat 1 s, silence timeout 3 s.
    pub fn start(dir: &Path, name: &str) -> Rws {
        Self::start_with(dir, name, &[])
    }

    /// Same, with extra flags.
    pub fn start_with(dir: &Path, name: &str, extra: &[&str]) -> Rws {
        Self::start_with_env(dir, name, extra, &[])
    }

    /// `SCREENREC_RWS_DATABASE` of this RWS's `--database` (none for the
    /// default): for maintenance commands run on its data dir
    /// (`rws import-directory`, `rws keys`), which then open the same
    /// database whatever `SCREENREC_TEST_BACKEND` chose.
    pub fn database_env(&self) -> Vec<(String, String)> {
        let i = self.args.iter().position(|a| a == "--database");
        i.and_then(|i| self.args.get(i + 1))
            .map(|url| vec![("SCREENREC_RWS_DATABASE".to_string(), url.clone())])
            .unwrap_or_default()
    }

    /// The media objects RWS holds, wherever its `--storage` puts them (the
    /// data dir's `media/` folder or an S3 bucket): the same assertion then
    /// holds on every `SCREENREC_TEST_BACKEND`.
    pub fn media_objects(&self) -> Vec<String> {
        let arg = |flag: &str| {
            let i = self.args.iter().position(|a| a == flag)?;
            self.args.get(i + 1).cloned()
        };
        if let Some(s3) = arg("--storage")
            .as_deref()
            .and_then(|s| s.strip_prefix("s3://"))
        {
            let (bucket, prefix) = s3.split_once('/').unwrap_or((s3, ""));
            let prefix = if prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", prefix.trim_end_matches('/'))
            };
            return crate::backends::S3Server::shared().list(bucket, &prefix);
        }
        let folder = match arg("--storage") {
            Some(file) => std::path::PathBuf::from(file.trim_start_matches("file://")),
            None => Path::new(&arg("--data-dir").unwrap()).join("media"),
        };
        crate::util::files_under(&folder)
    }

    /// Same, with extra environment; the database and media store are those
    /// of `SCREENREC_TEST_BACKEND` ([`crate::backends::rws_backend`]).
    pub fn start_with_env(dir: &Path, name: &str, extra: &[&str], env: &[(String, String)]) -> Rws {
        let (backend_args, mut backend_env) = crate::backends::rws_backend(extra);
        backend_env.extend(env.iter().cloned());
        let directory = dir.join("directory.toml");
        if !directory.exists() {
            std::fs::write(&directory, DIRECTORY).unwrap();
        }
        let port = free_port();
        let args: Vec<String> = [
            "rws",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            &dir.join(name).to_string_lossy(),
            "--directory",
            &directory.to_string_lossy(),
            "--heartbeat-interval",
            "1",
            "--silence-timeout",
            "3",
            "--integration-token",
            INTEGRATION_TOKEN,
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .chain(backend_args)
        .collect();
        let mut rws = Rws {
            proc: spawn(name, dir, &args, &backend_env),
            url: format!(
                "{}://127.0.0.1:{port}",
                if extra.contains(&"--tls-cert") {
                    "https"
                } else {
                    "http"
                }
            ),
            args,
            env: backend_env,
            dir: dir.to_path_buf(),
        };
        rws.wait_healthy();
        rws
    }

    fn wait_healthy(&mut self) {
        let url = format!("{}/healthz", self.url);
        wait_for("RWS /healthz", Duration::from_secs(20), || {
            (http("GET", &url, &[], None).status == 200).then_some(())
        });
    }

    /// kill -9, then start again on the same port and data dir.
    pub fn restart(&mut self, name: &str) {
        self.proc.kill9();
        self.proc = spawn(name, &self.dir, &self.args, &self.env);
        self.wait_healthy();
    }

    /// Stops RWS (kill -9) without starting it again.
    pub fn kill(&mut self) {
        self.proc.kill9();
    }

    /// Starts RWS again after [`Rws::kill`] (same port, same data dir).
    pub fn start_again(&mut self, name: &str) {
        self.proc = spawn(name, &self.dir, &self.args, &self.env);
        self.wait_healthy();
    }

    /// Starts RWS again after [`Rws::kill`] as a fresh node: same port,
    /// flags, database and store, but a new, empty data dir `name` (the
    /// database and store must be given by flags, not live in the old one).
    pub fn start_fresh(&mut self, name: &str) {
        let data = self.dir.join(name).to_string_lossy().into_owned();
        if let Some(i) = self.args.iter().position(|a| a == "--data-dir") {
            self.args[i + 1] = data;
        }
        self.start_again(name);
    }

    /// `POST /api/v2/events` with the integration token.
    pub fn post_events(&self, body: &serde_json::Value) -> Response {
        http(
            "POST",
            &format!("{}/api/v2/events", self.url),
            &[
                (
                    "Authorization".into(),
                    format!("Bearer {INTEGRATION_TOKEN}"),
                ),
                ("Content-Type".into(), "application/json".into()),
            ],
            Some(body.to_string().into_bytes()),
        )
    }

    /// `POST /api/v2/auth/login` (the console's form); the answer as is.
    pub fn console_login(&self, user: &str, pass: &str) -> Response {
        self.console_login_via(user, pass, http)
    }

    /// Same, sent by `send` (same arguments as [`http`]), e.g. from
    /// another source address.
    pub fn console_login_via(
        &self,
        user: &str,
        pass: &str,
        send: impl FnOnce(&str, &str, &[(String, String)], Option<Vec<u8>>) -> Response,
    ) -> Response {
        send(
            "POST",
            &format!("{}/api/v2/auth/login", self.url),
            &[("Content-Type".into(), "application/json".into())],
            Some(
                serde_json::json!({"username": user, "password": pass})
                    .to_string()
                    .into_bytes(),
            ),
        )
    }

    /// A console login that must succeed (asserts 200); its session
    /// cookie as a `Cookie` header.
    pub fn console_cookie(&self, user: &str, pass: &str) -> (String, String) {
        let r = self.console_login(user, pass);
        assert_eq!(r.status, 200, "{}", r.text);
        r.cookie()
    }

    /// `GET /metrics` (asserts 200); the exposition text.
    pub fn metrics(&self) -> String {
        scrape(&self.url)
    }

    /// One voice event now on switch `SIP_Switch` (`kind`: its `type`),
    /// which RWS must accept (asserts 200).
    pub fn call_event(&self, id: &str, kind: &str, call: &str, dn: &str) {
        let r = self.post_events(&serde_json::json!({
            "id": id, "type": kind, "call_id": call, "dn": dn,
            "switch": "SIP_Switch", "timestamp": crate::util::now(),
        }));
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// `GET /api/v2/recordings/{call}` as `who`: the GIR resource when
    /// the answer is 200, else `None` (not there yet, or not visible).
    pub fn recording_as(&self, who: (&str, &str), call: &str) -> Option<serde_json::Value> {
        let r = get_as(self, who, &format!("/api/v2/recordings/{call}"));
        (r.status == 200).then(|| r.json())
    }

    /// Waits (as `who`, up to 30 s) until a media file of `call` holds at
    /// least `ms` of screen on RWS (its `duration`, which grows with each
    /// upload): the real condition for a call with content, where the
    /// `recording` state is only SRS's answer to `start`.
    pub fn wait_screen(&self, who: (&str, &str), call: &str, ms: u64) {
        wait_for(
            &format!("{call}: {ms} ms of screen on RWS"),
            Duration::from_secs(30),
            || {
                let v = self.recording_as(who, call)?;
                v["mediaFiles"]
                    .as_array()?
                    .iter()
                    .any(|f| f["duration"].as_str().and_then(|d| d.parse::<u64>().ok()) >= Some(ms))
                    .then_some(())
            },
        );
    }

    /// `GET /api/v2/srs/sessions` as admin.
    pub fn sessions(&self) -> Vec<serde_json::Value> {
        let r = http(
            "GET",
            &format!("{}/api/v2/srs/sessions", self.url),
            &[basic("admin", "adminpw")],
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["sessions"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the session list satisfies `f`.
    pub fn wait_sessions(
        &self,
        what: &str,
        f: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        wait_for(what, Duration::from_secs(20), || {
            let s = self.sessions();
            f(&s).then_some(s)
        })
    }
}

fn spawn(name: &str, dir: &Path, args: &[String], env: &[(String, String)]) -> Proc {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Proc::screenrec(name, dir, &refs, &env)
}

/// A running SRS.
pub struct Srs {
    pub proc: Proc,
    pub url: String,
}

impl Srs {
    /// Starts SRS with extra flags; waits for /healthz.
    pub fn start(dir: &Path, name: &str, extra: &[&str]) -> Srs {
        Self::start_scheme(dir, name, extra, "http")
    }

    /// Same, for `https` when a TLS flag is given.
    pub fn start_scheme(dir: &Path, name: &str, extra: &[&str], scheme: &str) -> Srs {
        Self::launch(dir, name, extra, scheme, &[])
    }

    /// [`Srs::start`] with `SCREENREC_LOG=debug` (everything, every crate).
    pub fn start_debug(dir: &Path, name: &str, extra: &[&str]) -> Srs {
        Self::launch(dir, name, extra, "http", &[("SCREENREC_LOG", "debug")])
    }

    fn launch(dir: &Path, name: &str, extra: &[&str], scheme: &str, env: &[(&str, &str)]) -> Srs {
        let port = free_port();
        let spool = dir.join(format!("{name}-spool"));
        let mut args = vec![
            "srs".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--spool".into(),
            spool.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::screenrec(name, dir, &refs, env);
        let url = format!("{scheme}://127.0.0.1:{port}");
        let health = format!("{url}/healthz");
        wait_for("SRS /healthz", Duration::from_secs(20), || {
            (http("GET", &health, &[], None).status == 200).then_some(())
        });
        Srs { proc, url }
    }

    /// Logs in with GET and credentials; returns the response.
    pub fn login(&self, user: &str, pass: &str) -> Response {
        http(
            "GET",
            &format!("{}/api/v2/me", self.url),
            &[basic(user, pass)],
            None,
        )
    }

    /// Logs in with a configuration body.
    pub fn login_with(
        &self,
        user: &str,
        pass: &str,
        body: serde_json::Value,
        extra: &[(String, String)],
    ) -> Response {
        let mut headers = vec![
            basic(user, pass),
            ("Content-Type".into(), "application/json".into()),
        ];
        headers.extend(extra.iter().cloned());
        http(
            "POST",
            &format!("{}/api/v2/me", self.url),
            &headers,
            Some(body.to_string().into_bytes()),
        )
    }

    /// Starts SRS with a synthetic 160x120 screen, connected to `server`
    /// (an RWS URL, or a stand-in's).
    pub fn start_synthetic(dir: &Path, name: &str, server: &str) -> Srs {
        Self::start(
            dir,
            name,
            &["--server", server, "--source", "synthetic:160x120"],
        )
    }

    /// Same, then logs `user` in (asserts 200).
    pub fn start_agent(dir: &Path, name: &str, server: &str, user: (&str, &str)) -> Srs {
        let srs = Self::start_synthetic(dir, name, server);
        let r = srs.login(user.0, user.1);
        assert_eq!(r.status, 200, "{}", r.text);
        srs
    }

    /// `GET /metrics` (asserts 200); the exposition text.
    pub fn metrics(&self) -> String {
        scrape(&self.url)
    }

    /// `GET /ping` with these headers.
    pub fn ping(&self, headers: &[(String, String)]) -> Response {
        http("GET", &format!("{}/ping", self.url), headers, None)
    }
}

/// `GET {url}/metrics` (asserts 200); the exposition text.
pub fn scrape(url: &str) -> String {
    let r = http("GET", &format!("{url}/metrics"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

/// The value of the first sample of `series` (name and labels exactly as
/// exposed) in a `/metrics` text; panics when there is none.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// `GET {rws}{path}` with `who`'s Basic credentials; the answer as is.
pub fn get_as(rws: &Rws, who: (&str, &str), path: &str) -> Response {
    http(
        "GET",
        &format!("{}{path}", rws.url),
        &[basic(who.0, who.1)],
        None,
    )
}

/// `("Authorization", "Basic …")`.
pub fn basic(user: &str, pass: &str) -> (String, String) {
    (
        "Authorization".into(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        ),
    )
}

/// An HTTP answer.
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// `statusCode` of the GWS envelope.
    pub fn code(&self) -> i64 {
        self.json()["statusCode"].as_i64().unwrap_or(-1)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_lowercase()).map(String::as_str)
    }

    /// `SRSSESSION=…` from Set-Cookie, as a Cookie header.
    pub fn cookie(&self) -> (String, String) {
        let c = self.header("set-cookie").expect("a session cookie");
        (
            "Cookie".into(),
            c.split(';').next().unwrap_or_default().to_string(),
        )
    }
}

/// One blocking HTTP request (self-signed certificates accepted: the tests
/// talk to our own loopback HTTPS).
pub fn http(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
) -> Response {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        send(client, method, url, headers, body).await
    })
}

/// One request with `client` (a status 0 `Response` carrying the error
/// text when it could not be sent).
pub async fn send(
    client: reqwest::Client,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<Vec<u8>>,
) -> Response {
    let mut req = client.request(method.parse().unwrap(), url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let headers = r
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            let bytes = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Response {
                status,
                headers,
                text: String::from_utf8_lossy(&bytes).into_owned(),
                bytes,
            }
        }
        Err(e) => Response {
            status: 0,
            headers: HashMap::new(),
            text: e.to_string(),
            bytes: Vec::new(),
        },
    }
}

/// Playback checks the recording tests share: a media file played back
/// through RWS as the directory's supervisor `sup`, written out and judged
/// by ffmpeg/ffprobe.
impl Rws {
    /// Plays `media` (one `mediaFiles[]` entry of the recording resource)
    /// into `to`: 200, `video/mp4`, as many bytes as its `size` says, and
    /// the MP4 decodes without an error.
    pub fn play_media(&self, media: &serde_json::Value, to: &Path) {
        let uri = media["mediaUri"].as_str().expect("mediaUri");
        let r = get_as(self, ("sup", "suppw"), uri);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("video/mp4"));
        assert_eq!(
            r.bytes.len().to_string(),
            media["size"].as_str().expect("size")
        );
        std::fs::write(to, &r.bytes).expect("write the played media");
        assert!(
            crate::util::decodes_cleanly(to),
            "{} does not decode",
            to.display()
        );
    }

    /// Plays `media` into `to` as [`Rws::play_media`] does, and ffprobe
    /// finds an H.264 stream of `width`×`height` in it.
    pub fn play_h264(&self, media: &serde_json::Value, to: &Path, (width, height): (u32, u32)) {
        self.play_media(media, to);
        let streams = crate::util::ffprobe(to, "stream=codec_name,width,height");
        assert!(
            streams.contains(&format!("codec_name=h264\nwidth={width}\nheight={height}")),
            "{} is not H.264 {width}x{height}: {streams}",
            to.display()
        );
    }
}

/// Asserts that `r` is a refusal with `status` in the GWS envelope: a
/// positive `statusCode` and a `statusMessage` that says something
/// (`what` names the request in the failure message).
pub fn assert_envelope(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text);
    let v = r.json();
    assert!(
        v["statusCode"].as_i64().is_some_and(|c| c > 0),
        "{what}: {v}"
    );
    assert!(
        v["statusMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {v}"
    );
}
