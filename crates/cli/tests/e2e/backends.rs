//! Real database and object-store servers for tests: a PostgreSQL cluster
//! (`initdb` + `pg_ctl`, Debian's `postgresql`) and an S3 server (moto's
//! server mode, `target/moto-venv`, installed by `scripts/setup.sh`), each a
//! process on a free loopback port with its files in a temp dir.
//!
//! [`PgServer::shared`] and [`S3Server::shared`] start one server per test
//! process on first use; each RWS gets a fresh database
//! ([`PgServer::create_database`]) and a fresh bucket
//! ([`S3Server::create_bucket`]). Every server has a watchdog (`sh` reading
//! a pipe only this process holds): when the test process ends, however it
//! ends, the pipe closes and the watchdog stops the server and removes its
//! files, so no `postgres` or `moto_server` outlives the tests.
//!
//! [`rws_backend`] reads `SCREENREC_TEST_BACKEND` for the e2e fixture:
//! unset or `sqlite` (the default: SQLite + filesystem), `s3` (SQLite + S3)
//! or `postgres-s3`.
//!
//! This file has no dependency beyond std (and the `psql`/`curl` programs),
//! so RWS's own tests include it too (`#[path]`).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Password of the test cluster's superuser (`screenrec`).
pub const PG_PASSWORD: &str = "pg-test-pw-7c41";
/// Credentials moto accepts (it checks none).
pub const S3_KEY_ID: &str = "screenrec-test";
/// See [`S3_KEY_ID`].
pub const S3_SECRET: &str = "screenrec-test-secret";
/// The region the buckets are made in.
pub const S3_REGION: &str = "us-east-1";

static NAMES: AtomicU32 = AtomicU32::new(0);

/// A name unique in this test process (databases, buckets).
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NAMES.fetch_add(1, Ordering::Relaxed)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Root cannot run `postgres`: as root, the server runs as `nobody`.
fn as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A command as the server user (`runuser -u nobody --` when root), run
/// from the temp dir (the test's own folder may be closed to `nobody`).
fn server_command(program: &Path) -> Command {
    let mut c = if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    c.current_dir(std::env::temp_dir());
    c
}

/// A folder of the server user's, in the temp dir.
fn server_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir(&dir).expect("server dir");
    if as_root() {
        run(
            "chown nobody",
            Command::new("chown").args(["nobody:nogroup"]).arg(&dir),
        );
    }
    dir
}

/// A shell that runs `cleanup` when this process's end of its stdin closes
/// (this process exited or dropped the [`Watchdog`]).
struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Watchdog {
    fn start(setup: &str, cleanup: &str) -> Watchdog {
        // Ctrl-C reaches the whole process group: the watchdog ignores it
        // and cleans up when the pipe closes.
        let script = format!("trap '' INT TERM HUP\n{setup}\nread _ignored\n{cleanup}\n");
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog shell");
        Watchdog {
            stdin: child.stdin.take(),
            child,
        }
    }

    /// Runs the cleanup now and waits for it.
    fn finish(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.finish();
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// The folder of PostgreSQL's server programs: `SCREENREC_PG_BIN`, else the
/// newest `/usr/lib/postgresql/<version>/bin`, else `PATH`.
pub fn pg_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SCREENREC_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A PostgreSQL cluster of its own (temp dir, free port, password auth).
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    /// The folder of the server's Unix socket (and of `data`).
    pub dir: PathBuf,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Server options beyond port and socket (TLS).
    options: String,
    watchdog: Watchdog,
}

impl PgServer {
    /// The server of this test process, started on first use.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// `initdb` a new cluster and start it (waits until it accepts
    /// connections). Dropping it stops it and removes its files.
    pub fn start() -> PgServer {
        Self::start_with(false)
    }

    /// Same, with TLS on (a self-signed certificate made by `openssl`);
    /// clients may still connect without TLS.
    pub fn start_tls() -> PgServer {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> PgServer {
        let bin = pg_bin_dir().expect(
            "PostgreSQL server programs (initdb, pg_ctl): run scripts/setup.sh or set SCREENREC_PG_BIN",
        );
        let dir = server_dir("screenrec-pg-");
        let data = dir.join("data");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, PG_PASSWORD).expect("pwfile");
        if as_root() {
            run(
                "chown pwfile",
                Command::new("chown").arg("nobody:nogroup").arg(&pwfile),
            );
        }
        run(
            "initdb",
            server_command(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "screenrec",
                    "--auth=scram-sha-256",
                    "--no-locale",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", pwfile.display())),
        );
        let port = free_port();
        // The watchdog stops the server (and removes its files) when this
        // process ends or the server is dropped; `pg_ctl stop` of a stopped
        // server fails harmlessly.
        let user = if as_root() {
            "runuser -u nobody -- "
        } else {
            ""
        };
        let cleanup = format!(
            "{user}{} -D {} stop -m immediate -w >/dev/null 2>&1\nrm -rf {}",
            shell_quote(&bin.join("pg_ctl")),
            shell_quote(&data),
            shell_quote(&dir)
        );
        let watchdog = Watchdog::start("", &cleanup);
        let mut options = String::new();
        if tls {
            let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
            run(
                "openssl req",
                Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    ])
                    .args(["-subj", "/CN=127.0.0.1", "-keyout"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            );
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("key mode");
            if as_root() {
                run(
                    "chown key",
                    Command::new("chown")
                        .arg("nobody:nogroup")
                        .arg(&key)
                        .arg(&cert),
                );
            }
            options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            );
        }
        let server = PgServer {
            bin,
            data,
            dir,
            port,
            options,
            watchdog,
        };
        server.start_again();
        server
    }

    /// `pg_ctl start` on the same port and files (after [`PgServer::stop`]).
    pub fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{}",
            self.port,
            self.dir.display(),
            self.options
        );
        run(
            "pg_ctl start",
            server_command(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-w", "-t", "60", "-o", &opts, "-l"])
                .arg(self.dir.join("server.log"))
                .arg("start"),
        );
        poll(
            "PostgreSQL to accept connections",
            Duration::from_secs(30),
            || TcpStream::connect(("127.0.0.1", self.port)).ok(),
        );
    }

    /// `pg_ctl stop -m fast` (clients are disconnected); waits.
    pub fn stop(&self) {
        run(
            "pg_ctl stop",
            server_command(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-w", "-m", "fast", "stop"]),
        );
    }

    /// `postgres://screenrec:…@127.0.0.1:PORT/db`
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://screenrec:{PG_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// SQL through `psql` as the superuser; its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        run(
            "psql",
            Command::new(self.bin.join("psql"))
                .env("PGPASSWORD", PG_PASSWORD)
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
                .arg(&self.dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "screenrec",
                    "-d",
                    db,
                    "-c",
                    sql,
                ]),
        )
    }

    /// A new, empty database; its name.
    pub fn create_database(&self) -> String {
        let name = unique("rws");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

/// The moto server program: `SCREENREC_MOTO_SERVER`, else the venv that
/// `scripts/setup.sh` makes under `target/`, else `PATH`.
pub fn moto_server_program() -> PathBuf {
    if let Some(p) = std::env::var_os("SCREENREC_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/moto-venv/bin/moto_server");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("moto_server")
    }
}

/// An S3 server (moto) on a free loopback port.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    dir: PathBuf,
    watchdog: Watchdog,
}

impl S3Server {
    /// The server of this test process, started on first use.
    pub fn shared() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(S3Server::start)
    }

    /// Starts moto's server mode and waits until it answers.
    pub fn start() -> S3Server {
        let program = moto_server_program();
        assert!(
            !program.is_absolute() || program.exists(),
            "{} is missing: run scripts/setup.sh or set SCREENREC_MOTO_SERVER",
            program.display()
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("screenrec-s3-"));
        std::fs::create_dir(&dir).expect("s3 dir");
        let log = dir.join("server.log");
        let setup = format!(
            "{} -H 127.0.0.1 -p {port} >{} 2>&1 &\nserver=$!",
            shell_quote(&program),
            shell_quote(&log)
        );
        let cleanup = format!("kill $server\nwait $server\nrm -rf {}", shell_quote(&dir));
        let watchdog = Watchdog::start(&setup, &cleanup);
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "moto_server ({}) did not start: run scripts/setup.sh or set SCREENREC_MOTO_SERVER\n{}",
                    program.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server {
            endpoint,
            dir,
            watchdog,
        }
    }

    /// A new, empty bucket; its name.
    pub fn create_bucket(&self) -> String {
        let name = unique("rws-").replace('x', "-");
        run(
            "create bucket",
            Command::new("curl").args([
                "-sS",
                "-f",
                "-X",
                "PUT",
                &format!("{}/{name}", self.endpoint),
            ]),
        );
        name
    }

    /// Keys of the objects under `prefix` in `bucket` (ListObjectsV2).
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let xml = run(
            "list bucket",
            Command::new("curl").args([
                "-sS",
                "-f",
                &format!("{}/{bucket}?list-type=2&prefix={prefix}", self.endpoint),
            ]),
        );
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// Bytes of object `key` in `bucket`.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sS", "-f", &format!("{}/{bucket}/{key}", self.endpoint)])
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "GET {bucket}/{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The `AWS_*` environment of a client of this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", S3_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
            ("AWS_REGION", S3_REGION),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// Extra flags and environment of one test RWS for the backend chosen by
/// `SCREENREC_TEST_BACKEND`; flags the test gives itself (`--storage`,
/// `--database`) win.
pub fn rws_backend(extra: &[&str]) -> (Vec<String>, Vec<(String, String)>) {
    let choice = std::env::var("SCREENREC_TEST_BACKEND").unwrap_or_default();
    let (postgres, s3) = match choice.as_str() {
        "" | "sqlite" => (false, false),
        "s3" => (false, true),
        "postgres-s3" => (true, true),
        other => panic!("SCREENREC_TEST_BACKEND={other}: expected sqlite, s3 or postgres-s3"),
    };
    let mut args = Vec::new();
    let mut env = Vec::new();
    if postgres && !extra.contains(&"--database") {
        let pg = PgServer::shared();
        args.push("--database".to_string());
        args.push(pg.url(&pg.create_database()));
    }
    if s3 && !extra.contains(&"--storage") {
        let server = S3Server::shared();
        args.push("--storage".to_string());
        args.push(format!("s3://{}/media", server.create_bucket()));
        env = server.env();
    }
    (args, env)
}

/// Process ids of running programs named exactly `name` (`pgrep -x`).
pub fn pids_named(name: &str) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-x", name])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The command line of process `pid`.
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}
