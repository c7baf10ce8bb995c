//! `screenrec loadgen` against a real RWS (issue 12, item 5): 20 simulated
//! SRS sessions, one call each, uploads on. Every session must get the
//! `start` of its own call, and every recording must exist on RWS, complete,
//! for the right agent, DN and call.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use crate::fixture::{INTEGRATION_TOKEN, Rws, get_as};
use crate::util::{bin, tempdir, wait_for};

const N: usize = 20;

/// 20 sessions held, 20 calls (10/s for 2 s, 1 s each) on 20 distinct
/// agents, each `start` at the agent holding the call's DN, no error, and
/// each call's recording `completed` on RWS with its uploaded media.
#[test]
fn loadgen_20_sessions_each_get_their_start_and_recordings_exist() {
    let dir = tempdir();
    let directory = dir.path().join("directory.toml");
    let made = Command::new(bin())
        .args(["loadgen", "make-directory", "--agents", &N.to_string()])
        .arg("--out")
        .arg(&directory)
        .args(["--password", "lgpw", "--admin-password", "adminpw"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Rws::start keeps a directory.toml already there.
    let rws = Rws::start(dir.path(), "rws");

    let calls_out = dir.path().join("calls.jsonl");
    let out = Command::new(bin())
        .args(["loadgen", "--url", &rws.url, "--agents", &N.to_string()])
        .args([
            "--password",
            "lgpw",
            "--integration-token",
            INTEGRATION_TOKEN,
        ])
        .args(["--events-per-sec", "10", "--secs", "2", "--call-secs", "1"])
        .args(["--upload", "--segment-kib", "16", "--segment-ms", "250"])
        .args(["--open-timeout", "60", "--json"])
        .arg("--calls-out")
        .arg(&calls_out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "loadgen failed\n{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["sessions_opened"], N, "{summary}");
    assert_eq!(summary["sessions_held"], N, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["starts_missing"], 0, "{summary}");
    let posted = summary["calls_posted"].as_u64().unwrap();
    assert!(posted >= N as u64, "{summary}");
    assert_eq!(summary["starts_received"], posted, "{summary}");
    assert_eq!(summary["stops_received"], posted, "{summary}");
    assert_eq!(summary["recordings_ended"], posted, "{summary}");
    assert!(summary["upload_bytes"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["latency_ms_p99"].as_f64().is_some(), "{summary}");

    let calls: Vec<serde_json::Value> = std::fs::read_to_string(&calls_out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len() as u64, posted);
    // The first N calls went round the N agents: every session had a call.
    let agents: HashSet<&str> = calls.iter().map(|c| c["agent"].as_str().unwrap()).collect();
    assert_eq!(agents.len(), N, "{calls:?}");
    for c in &calls {
        let agent = c["agent"].as_str().unwrap();
        let dn = c["dn"].as_str().unwrap();
        // lg{i} holds DN 100000 + i: the start reached the DN's holder.
        let i: u64 = agent.trim_start_matches("lg").parse().unwrap();
        assert_eq!(dn, (100_000 + i).to_string(), "{c}");
        let call = c["call_id"].as_str().unwrap();
        let rec = c["recording_id"]
            .as_str()
            .expect("every call has its recording");
        let r = wait_for(
            &format!("recording of call {call} completed"),
            Duration::from_secs(20),
            || {
                let r = get_as(
                    &rws,
                    ("admin", "adminpw"),
                    &format!("/api/v2/recordings/{call}"),
                );
                (r.status == 200 && r.json()["screenRecordings"][0]["state"] == "completed")
                    .then(|| r.json())
            },
        );
        let sr = &r["screenRecordings"][0];
        assert_eq!(sr["id"], rec, "{r}");
        assert_eq!(sr["agentId"], agent, "{r}");
        assert_eq!(sr["dn"], dn, "{r}");
        let media = r["mediaFiles"].as_array().unwrap();
        assert_eq!(media.len(), 1, "{r}");
        assert_eq!(media[0]["parameters"]["uploadComplete"], true, "{r}");
    }
}
