//! Issue 12: evidence sealing after a crash. A final recording whose node
//! died before sealing it has no `evidence_manifests` row; the sealing
//! sweep (`rws::evidence::sweep`, at startup and periodically) seals it.
//! Made real here: a call is recorded by a real SRS (synthetic screen) to
//! completion, RWS is killed with `kill -9`, the manifest row is deleted in
//! RWS's own database (SQLite file or PostgreSQL, whichever
//! `SCREENREC_TEST_BACKEND` chose), and RWS starts again: the row comes
//! back without anyone exporting, and the export (which then only reads
//! it) verifies with `screenrec verify`.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::fixture::{Rws, Srs, TWO_GROUPS, get_as, write_directory};
use crate::util::{bin, now, tempdir, wait_for};

const ADMIN: (&str, &str) = ("admin", "adminpw");

/// The database URL of `rws` (its `--database`, else the default SQLite
/// file of its data dir `name`).
fn database_url(rws: &Rws, dir: &std::path::Path, name: &str) -> String {
    rws.database_env()
        .into_iter()
        .next()
        .map(|(_, url)| url)
        .unwrap_or_else(|| format!("sqlite://{}", dir.join(name).join("screenrec.db").display()))
}

/// Runs `sql` on RWS's database; rows affected.
fn execute(url: &str, sql: &'static str, bind: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = rws::store::connect::DatabaseUrl::parse(url).unwrap();
        let pool = rws::store::connect::connect(&url).await.unwrap();
        let done = sqlx::query(sql).bind(bind).execute(&pool).await.unwrap();
        pool.close().await;
        done.rows_affected()
    })
}

/// The manifest row's creation time, if there is one.
fn manifest_created(url: &str, recording: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = rws::store::connect::DatabaseUrl::parse(url).unwrap();
        let pool = rws::store::connect::connect(&url).await.unwrap();
        let m = rws::store::evidence::manifest(&pool, recording)
            .await
            .unwrap();
        pool.close().await;
        m.map(|m| m.created_at)
    })
}

fn voice(rws: &Rws, id: &str, kind: &str, call: &str) {
    let r = rws.post_events(
        &json!({"id": id, "type": kind, "call_id": call, "dn": "1001", "switch": "SIP_Switch", "timestamp": now()}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

fn recording(rws: &Rws, call: &str) -> serde_json::Value {
    let r = get_as(rws, ADMIN, &format!("/api/v2/recordings/{call}"));
    if r.status == 200 {
        r.json()
    } else {
        serde_json::Value::Null
    }
}

#[test]
fn a_final_recording_left_unsealed_by_a_crash_is_sealed_at_restart_and_verifies() {
    let dir = tempdir();
    write_directory(dir.path(), TWO_GROUPS);
    let mut rws = Rws::start(dir.path(), "rws");
    let _srs = Srs::start_agent(dir.path(), "srs-a", &rws.url, ("agent1", "pw1"));
    let call = "sweep-call";
    voice(&rws, "sw-1", "recording.started", call);
    wait_for("1 s of media", Duration::from_secs(30), || {
        let media = recording(&rws, call)["mediaFiles"].clone();
        media
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["duration"].as_str()?.parse::<u64>().ok())
            .any(|ms| ms >= 1000)
            .then_some(())
    });
    voice(&rws, "sw-2", "call.released", call);
    let id = wait_for("completed", Duration::from_secs(30), || {
        let rec = &recording(&rws, call)["screenRecordings"][0];
        (rec["state"] == "completed").then(|| rec["id"].as_str().unwrap().to_string())
    });
    let url = database_url(&rws, dir.path(), "rws");
    // The finalising node sealed it.
    let first = wait_for("sealed by the sealer", Duration::from_secs(20), || {
        manifest_created(&url, &id)
    });

    // The node dies and the manifest is lost with it (as if it had died
    // between finalising and sealing).
    rws.kill();
    assert_eq!(
        execute(
            &url,
            "DELETE FROM evidence_manifests WHERE recording_id = $1",
            &id
        ),
        1
    );
    assert_eq!(manifest_created(&url, &id), None);

    // Started again: the sweep seals it, nobody exported it.
    rws.start_again("rws");
    let second = wait_for("sealed by the sweep", Duration::from_secs(30), || {
        manifest_created(&url, &id)
    });
    assert_ne!(second, first, "a new manifest, signed after the restart");

    // The export uses that manifest, and verifies.
    let r = get_as(&rws, ADMIN, &format!("/api/v2/recordings/{call}/export"));
    assert_eq!(r.status, 200, "{}", r.text);
    let bundle = dir.path().join("sweep.zip");
    std::fs::write(&bundle, &r.bytes).unwrap();
    let out = Command::new(bin())
        .arg("verify")
        .arg(&bundle)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let manifest: serde_json::Value = {
        let mut z = ::evidence::zip::ZipReader::new(std::fs::File::open(&bundle).unwrap()).unwrap();
        let e = z
            .entries()
            .iter()
            .find(|e| e.name == "manifest.json")
            .cloned()
            .unwrap();
        serde_json::from_slice(&z.read_range(&e, 0, e.size).unwrap()).unwrap()
    };
    assert_eq!(manifest["created_at"], second.as_str());
    assert_eq!(manifest["recording"]["id"], id.as_str());
    assert_eq!(manifest_created(&url, &id), Some(second), "sealed once");
}
