//! Issue 11 (PostgreSQL and S3) end to end: RWS storing media in a real S3
//! server process (moto), a call recorded through a real SRS and played
//! back; start-up errors for a bucket that does not exist and an endpoint
//! that does not answer; `--database` validated with its password never
//! shown; the test servers gone when the test process ends.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::backends::{PG_PASSWORD, PgServer, S3_SECRET, S3Server, cmdline, pids_named};
use crate::fixture::{Rws, Srs, basic, http, metric};
use crate::util::{Proc, bin, free_port, tempdir, wait_for};

/// `screenrec rws` with `args` (and a test data dir), expected to stop by
/// itself; its exit status and output.
fn rws_that_stops(dir: &Path, args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let data = dir.join("data").to_string_lossy().into_owned();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut all = vec!["rws", "--listen", &listen, "--data-dir", &data];
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut p = Proc::screenrec("rws-stops", dir, &all, &env);
    let status = wait_for("RWS to stop by itself", Duration::from_secs(40), || {
        p.exited()
    });
    let out = p.output();
    std::fs::remove_file(&p.log).unwrap();
    (status.success(), out)
}

/// Waits until every screen recording of `call` is final; the resource.
pub(crate) fn wait_final(rws: &Rws, call: &str) -> serde_json::Value {
    wait_for(
        &format!("the recording of {call} to be final"),
        Duration::from_secs(30),
        || {
            let r = http(
                "GET",
                &format!("{}/api/v2/recordings/{call}", rws.url),
                &[basic("sup", "suppw")],
                None,
            );
            if r.status != 200 {
                return None;
            }
            let v = r.json();
            let recs = v["screenRecordings"].as_array()?;
            let done = !recs.is_empty()
                && recs.iter().all(|x| {
                    ["completed", "partial", "failed"].contains(&x["state"].as_str().unwrap_or(""))
                });
            done.then_some(v)
        },
    )
}

#[test]
fn a_call_recorded_into_s3_plays_back_and_its_media_is_in_the_bucket() {
    let dir = tempdir();
    let s3 = S3Server::shared();
    let bucket = s3.create_bucket();
    let storage = format!("s3://{bucket}/media");
    let rws = Rws::start_with_env(dir.path(), "rws", &["--storage", &storage], &s3.env());
    assert!(
        rws.proc.output().contains(&format!("s3://{bucket}/media")),
        "RWS names its store"
    );
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));

    rws.call_event("s1", "call.established", "call-s3", "1001");
    rws.call_event("s2", "recording.started", "call-s3", "1001");
    // Some seconds of video, counted by SRS itself.
    wait_for("SRS to encode 40 frames", Duration::from_secs(30), || {
        (metric(&srs.metrics(), "screenrec_srs_frames_total") >= 40.0).then_some(())
    });
    rws.call_event("s3", "call.released", "call-s3", "1001");
    let r = wait_final(&rws, "call-s3");
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");

    // Playback reads the object back from S3 and decrypts it.
    let mp4 = dir.path().join("s3.mp4");
    rws.play_h264(&r["mediaFiles"][0], &mp4, (160, 120));

    // The bucket, read through the S3 API: one media object under the
    // prefix, ciphertext (age), nothing left by the start-up check.
    let keys = s3.list(&bucket, "");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with("media/"), "{keys:?}");
    let object = s3.get(&bucket, &keys[0]);
    assert!(
        object.starts_with(b"age-encryption.org/v1"),
        "stored encrypted"
    );
    assert!(
        !object.windows(4).any(|w| w == b"ftyp" || w == b"mdat"),
        "no MP4 box in clear in the bucket"
    );
    let played = std::fs::metadata(&mp4).unwrap().len() as usize;
    assert!(object.len() > played, "age adds its overhead");
    // Media does not land on the node's disk.
    let local = dir.path().join("rws").join("media");
    assert!(
        !local.exists() || std::fs::read_dir(&local).unwrap().count() == 0,
        "media also written to {}",
        local.display()
    );
    drop(srs);
}

#[test]
fn a_missing_bucket_or_a_dead_endpoint_stops_rws_at_start() {
    let dir = tempdir();
    let s3 = S3Server::shared();

    let (ok, out) = rws_that_stops(
        dir.path(),
        &["--storage", "s3://no-such-bucket-here/media"],
        &s3.env(),
    );
    assert!(!ok, "RWS started without its bucket:\n{out}");
    assert!(out.contains("s3://no-such-bucket-here/media"), "{out}");
    assert!(out.contains("the bucket does not exist"), "{out}");
    assert!(!out.contains(S3_SECRET), "{out}");

    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut env = s3.env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL".into(), dead.clone()));
    let started = Instant::now();
    let (ok, out) = rws_that_stops(dir.path(), &["--storage", "s3://media-bucket/x"], &env);
    assert!(!ok, "RWS started without its S3 endpoint:\n{out}");
    assert!(
        out.contains(&format!("s3://media-bucket/x at {dead}")),
        "{out}"
    );
    assert!(out.contains("cannot list"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn database_urls_are_validated_and_their_password_is_never_shown() {
    let dir = tempdir();
    let (ok, out) = rws_that_stops(dir.path(), &["--database", "mysql://u:Hunter2pw@h/db"], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("--database"), "{out}");
    assert!(out.contains("postgres://"), "says what is accepted: {out}");
    assert!(!out.contains("Hunter2pw"), "{out}");

    // A PostgreSQL URL: shown redacted by --print-config and in a start-up
    // error (here a wrong password, from the environment).
    let pg = PgServer::shared();
    let url = pg.url(&pg.create_database());
    let (ok, out) = rws_that_stops(dir.path(), &["--database", &url, "--print-config"], &[]);
    assert!(ok, "{out}");
    let shown = format!(
        "database = \"postgres://screenrec:***@127.0.0.1:{}/",
        pg.port
    );
    assert!(out.contains(&shown), "{out}");
    assert!(!out.contains(PG_PASSWORD), "{out}");
    let wrong = url.replace(PG_PASSWORD, "Wrong-Hunter2pw");
    let env = vec![("SCREENREC_RWS_DATABASE".to_string(), wrong)];
    let (ok, out) = rws_that_stops(dir.path(), &[], &env);
    assert!(!ok, "{out}");
    assert!(out.contains("postgres://screenrec:***@"), "{out}");
    assert!(out.contains("password authentication failed"), "{out}");
    assert!(!out.contains("Hunter2pw"), "{out}");
}

#[test]
fn a_sqlite_database_elsewhere_is_created_private_and_used() {
    let dir = tempdir();
    let db = dir.path().join("db-elsewhere").join("rws.sqlite");
    let url = format!("sqlite://{}", db.display());
    let rws = Rws::start_with(dir.path(), "rws", &["--database", &url]);
    let r = http(
        "GET",
        &format!("{}/api/v2/me", rws.url),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(
        r.status, 200,
        "the directory was imported there: {}",
        r.text
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert!(
        !dir.path().join("rws").join("screenrec.db").exists(),
        "the default database was made too"
    );
    // `rws backup` takes the same SQLite URL (only PostgreSQL is refused):
    // the snapshot holds the directory imported there.
    let out = dir.path().join("backup");
    let o = Command::new(bin())
        .args(["rws", "backup", "--data-dir"])
        .arg(dir.path().join("rws"))
        .args(["--database", &url, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let snapshot = out.join("screenrec.db");
    assert_eq!(mode(&snapshot), 0o600);
    let users = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", snapshot.display()))
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = 'admin'")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    });
    assert_eq!(users, 1, "the snapshot is the database of --database");
}

/// Run only by [`test_servers_stop_when_the_test_process_ends`], as a child
/// process: starts both servers, prints where they are, and exits.
#[test]
#[ignore = "helper: a child process of test_servers_stop_when_the_test_process_ends"]
fn child_starts_both_servers_and_exits() {
    let pg = PgServer::shared();
    let s3 = S3Server::shared();
    pg.psql("postgres", "SELECT 1");
    s3.create_bucket();
    println!("PGDIR={} S3={}", pg.dir.display(), s3.endpoint);
}

#[test]
fn test_servers_stop_when_the_test_process_ends() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pg_s3::child_starts_both_servers_and_exits",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| Some(&l[l.find("PGDIR=")? + "PGDIR=".len()..]))
        .unwrap_or_else(|| panic!("no PGDIR line in\n{text}"));
    let (pgdir, s3) = line.split_once(" S3=").unwrap();
    let s3_port = s3.rsplit(':').next().unwrap().to_string();
    wait_for(
        "the child's postgres and moto_server to stop",
        Duration::from_secs(30),
        || {
            let postgres = pids_named("postgres")
                .into_iter()
                .any(|p| cmdline(p).contains(pgdir));
            let moto = pids_named("moto_server")
                .into_iter()
                .chain(pids_named("python3"))
                .any(|p| {
                    let c = cmdline(p);
                    c.contains("moto_server") && c.contains(&format!("-p {s3_port}"))
                });
            (!postgres && !moto && !Path::new(pgdir).exists()).then_some(())
        },
    );
}
