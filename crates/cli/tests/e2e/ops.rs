//! Operations (issue 12, "Install like server software"): `/readyz` for
//! load balancers, and `screenrec rws backup` taken while RWS records,
//! restored into a new data dir the way docs/operations.md says.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::fixture::{Rws, Srs, basic, http};
use crate::util::{bin, duration, tempdir, wait_for};

fn readyz(rws: &Rws) -> crate::fixture::Response {
    http("GET", &format!("{}/readyz", rws.url), &[], None)
}

/// `/readyz` is public and 200 when the database and media store answer;
/// when the media folder is gone it is 503 in the envelope, naming the
/// storage (not its path), while `/healthz` stays 200; back when it returns.
#[test]
fn readyz_is_503_naming_the_storage_while_the_media_folder_is_gone() {
    let dir = tempdir();
    // Filesystem media on every backend: the test removes the folder.
    let pinned = crate::fixture::sqlite_fs(dir.path(), "rws");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    let rws = Rws::start_with(dir.path(), "rws", &pinned);
    let r = readyz(&rws);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ready", "database": "ok", "storage": "ok"})
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let media = dir.path().join("rws/media");
    std::fs::rename(&media, dir.path().join("media.away")).unwrap();
    std::fs::write(&media, "not a folder").unwrap();
    let r = readyz(&rws);
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert_eq!(body["statusCode"], 503);
    assert_eq!(body["database"], "ok");
    assert_eq!(body["storage"], "unreachable");
    let message = body["statusMessage"].as_str().unwrap();
    assert!(message.contains("storage unreachable"), "{message}");
    assert!(!message.contains(dir.path().to_str().unwrap()), "{message}");
    assert_eq!(
        http("GET", &format!("{}/healthz", rws.url), &[], None).status,
        200
    );

    std::fs::remove_file(&media).unwrap();
    std::fs::rename(dir.path().join("media.away"), &media).unwrap();
    assert_eq!(readyz(&rws).status, 200);
}

/// The recording resource of `call` as admin, when RWS answers 200.
fn recording(rws: &Rws, call: &str) -> Option<serde_json::Value> {
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/{call}", rws.url),
        &[basic("admin", "adminpw")],
        None,
    );
    (r.status == 200).then(|| r.json())
}

/// Starts a recording of `call` on DN 1001 and waits for some media.
fn start_call(rws: &Rws, call: &str) {
    rws.call_event(&format!("{call}-s"), "recording.started", call, "1001");
    wait_for("some media uploaded", Duration::from_secs(20), || {
        let r = recording(rws, call)?;
        let ms: u64 = r["mediaFiles"][0]["duration"].as_str()?.parse().ok()?;
        (r["screenRecordings"][0]["state"] == "recording" && ms >= 500).then_some(())
    });
}

/// Releases `call` and waits until its recording is completed.
fn end_call(rws: &Rws, call: &str) {
    rws.call_event(&format!("{call}-r"), "call.released", call, "1001");
    wait_for("recording completed", Duration::from_secs(20), || {
        (recording(rws, call)?["screenRecordings"][0]["state"] == "completed").then_some(())
    });
}

fn backup(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(["rws", "backup"])
        .args(args)
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Copies a backup into a data dir, as docs/operations.md's restore does
/// with `cp -a BACKUP/. DATA_DIR/`.
fn restore(backup: &Path, data_dir: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", backup.display()))
        .arg(data_dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Record a call, then take a backup (through `--config`, as the packaged
/// install does) while RWS runs and a second call is being recorded;
/// restore it into a new data dir and start a new RWS there: the first
/// call is there, completed, and plays (ffprobe reads a video of the
/// length RWS reports). The master key stays 0600 in the backup.
#[test]
fn backup_while_recording_restores_into_a_new_data_dir_and_the_recording_plays() {
    let dir = tempdir();
    // SQLite + filesystem on every backend: `rws backup` copies those
    // (PostgreSQL is backed up with pg_dump, S3 with the store's tools).
    let pinned = crate::fixture::sqlite_fs(dir.path(), "rws");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    let rws = Rws::start_with(dir.path(), "rws", &pinned);
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    start_call(&rws, "bk-1");
    end_call(&rws, "bk-1");
    let before = recording(&rws, "bk-1").unwrap();
    start_call(&rws, "bk-2");

    let config = dir.path().join("rws.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:1\"\n",
            dir.path().join("rws").display().to_string()
        ),
    )
    .unwrap();
    let out = dir.path().join("backup");
    let o = backup(&[
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("master.key copied"), "{stdout}");
    assert_eq!(mode(&out.join("master.key")), 0o600);
    assert_eq!(mode(&out.join("screenrec.db")), 0o600);
    assert_eq!(mode(&out), 0o700);
    // RWS kept working during the backup.
    end_call(&rws, "bk-2");

    // A second backup into the same folder is refused, not merged.
    let again = backup(&[
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let restored_dir = dir.path().join("restored");
    std::fs::create_dir(&restored_dir).unwrap();
    restore(&out, &restored_dir);
    let pinned = crate::fixture::sqlite_fs(dir.path(), "restored");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    let restored = Rws::start_with(dir.path(), "restored", &pinned);
    let after = recording(&restored, "bk-1").expect("bk-1 in the restored RWS");
    assert_eq!(after["screenRecordings"][0]["state"], "completed");
    assert_eq!(
        after["mediaFiles"][0]["size"],
        before["mediaFiles"][0]["size"]
    );
    let uri = after["mediaFiles"][0]["mediaUri"].as_str().unwrap();
    let play = http(
        "GET",
        &format!("{}{uri}", restored.url),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_eq!(play.status, 200, "{}", play.text);
    let mp4 = dir.path().join("restored.mp4");
    std::fs::write(&mp4, &play.bytes).unwrap();
    let reported: f64 = after["mediaFiles"][0]["duration"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1000.0;
    let probed = duration(&mp4);
    assert!(
        probed > 0.4 && (probed - reported).abs() < 1.0,
        "ffprobe {probed} s, RWS says {reported} s"
    );
}

/// A PostgreSQL database is refused with a pointer to pg_dump, and
/// nothing is written.
#[test]
fn backup_refuses_a_postgresql_database_and_names_pg_dump() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let o = backup(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--database",
        "postgres://screenrec@db.example/screenrec",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!out.exists());
}

/// Run as another user than the data dir's owner (root for a data dir of
/// `screenrec`), the backup refuses and says how to run it, rather than
/// leave root-owned database files that RWS could not open.
#[test]
fn backup_refuses_to_run_as_another_user_than_the_data_dirs_owner() {
    let dir = tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("screenrec.db"), b"").unwrap();
    // nobody (65534) exists on every Debian; the tests run as root (CI).
    let chown = Command::new("chown")
        .args(["-R", "65534"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(
        chown.success(),
        "chown needs root: the e2e tests run as root"
    );
    let out = dir.path().join("out");
    let o = backup(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("sudo -u screenrec"), "{err}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        1,
        "nothing made in the data dir"
    );
}
