//! Issue 12, several RWS nodes: three `screenrec rws` processes on one real
//! PostgreSQL and one S3 server (moto), behind a small round-robin TCP load
//! balancer written here (it skips a backend that refuses connections, as
//! a real one's health check would). Real SRS processes reach RWS only
//! through the balancer.
//!
//! Needs PostgreSQL's server programs (`scripts/setup.sh`); it runs in every
//! pass, whatever `SCREENREC_TEST_BACKEND` says (it picks its backends).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backends::{PgServer, S3Server};
use crate::fixture::{Rws, Srs, assert_envelope, basic, http, metric};
use crate::util::{Sse, decodes_cleanly, duration, free_port, sse, tempdir, wait_for};

/// A round-robin TCP balancer on 127.0.0.1: each connection goes to the
/// next backend that accepts it; bytes are copied both ways.
struct Balancer {
    url: String,
    stop: Arc<AtomicBool>,
}

impl Balancer {
    fn start(backends: Vec<String>) -> Balancer {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let backends = Arc::new(Mutex::new(backends));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let list = backends.lock().unwrap().clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                // Round robin, skipping backends that refuse (dead nodes).
                let upstream = (0..list.len()).find_map(|i| {
                    let addr = &list[(first + i) % list.len()];
                    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1)).ok()
                });
                let Some(upstream) = upstream else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                pipe(client, upstream);
            }
        });
        Balancer {
            url: format!("http://127.0.0.1:{port}"),
            stop,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn pipe(a: TcpStream, b: TcpStream) {
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 << 10];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Write);
            let _ = from.shutdown(Shutdown::Read);
        });
    };
    copy(a.try_clone().unwrap(), b.try_clone().unwrap());
    copy(b, a);
}

/// Nodes on one new database and bucket, sharing a master key.
struct Cluster {
    nodes: Vec<Rws>,
    lb: Balancer,
    /// The database's name (for `PgServer::psql`).
    db: String,
}

impl Cluster {
    /// Waits until every node lists a connected session of each of `users`
    /// (rows, not one node's memory).
    fn wait_connected(&self, users: &[&str]) {
        for n in &self.nodes {
            n.wait_sessions(&format!("every node to list {users:?} connected"), |s| {
                users.iter().all(|u| {
                    s.iter()
                        .any(|x| x["user"] == *u && x["state"] == "connected")
                })
            });
        }
    }
}

/// Three nodes.
fn start_cluster(dir: &std::path::Path, extra: &[&str]) -> Cluster {
    start_nodes(dir, 3, extra)
}

fn start_nodes(dir: &std::path::Path, n: usize, extra: &[&str]) -> Cluster {
    let pg = PgServer::shared();
    let db = pg.create_database();
    let database = pg.url(&db);
    let s3 = S3Server::shared();
    let storage = format!("s3://{}/media", s3.create_bucket());
    let mut env = s3.env();
    env.push(("SCREENREC_MASTER_KEY".into(), "ab".repeat(32)));
    let mut flags = vec!["--database", &database, "--storage", &storage];
    flags.extend_from_slice(extra);
    let nodes: Vec<Rws> = (1..=n)
        .map(|i| Rws::start_with_env(dir, &format!("node{i}"), &flags, &env))
        .collect();
    let lb = Balancer::start(
        nodes
            .iter()
            .map(|n| n.url.trim_start_matches("http://").to_string())
            .collect(),
    );
    Cluster { nodes, lb, db }
}

/// The node whose log says it holds a control channel, counting only log
/// lines after `skip` bytes of each log.
fn holder(nodes: &[Rws], skip: &[usize]) -> Option<usize> {
    nodes.iter().enumerate().position(|(i, n)| {
        n.proc
            .output()
            .get(skip[i]..)
            .unwrap_or("")
            .contains("control channel connected")
    })
}

fn log_sizes(nodes: &[Rws]) -> Vec<usize> {
    nodes.iter().map(|n| n.proc.output().len()).collect()
}

fn frames(srs: &Srs) -> f64 {
    metric(&srs.metrics(), "screenrec_srs_frames_total")
}

/// The recording of `call` as node `rws` reports it, once final.
fn wait_final(rws: &Rws, call: &str, limit: Duration) -> serde_json::Value {
    wait_final_as(rws, call, limit, ("sup", "suppw"))
}

/// [`wait_final`] as `who`.
fn wait_final_as(rws: &Rws, call: &str, limit: Duration, who: (&str, &str)) -> serde_json::Value {
    wait_for(
        &format!("the recording of {call} to be final"),
        limit,
        || {
            let r = http(
                "GET",
                &format!("{}/api/v2/recordings/{call}", rws.url),
                &[basic(who.0, who.1)],
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

/// Plays the call's first media file from `rws`; its length in seconds.
fn played_seconds(rws: &Rws, rec: &serde_json::Value, dir: &std::path::Path, name: &str) -> f64 {
    let media = &rec["mediaFiles"][0];
    let played = http(
        "GET",
        &format!("{}{}", rws.url, media["mediaUri"].as_str().unwrap()),
        &[basic("sup", "suppw")],
        None,
    );
    assert_eq!(played.status, 200, "{}", played.text);
    let mp4 = dir.join(name);
    std::fs::write(&mp4, &played.bytes).unwrap();
    assert!(decodes_cleanly(&mp4), "{name} does not decode cleanly");
    duration(&mp4)
}

#[test]
fn events_to_one_node_srs_on_another_playback_from_the_third_and_a_node_lost_mid_call() {
    let dir = tempdir();
    let mut c = start_cluster(dir.path(), &[]);
    let skip = log_sizes(&c.nodes);
    let srs = Srs::start_agent(dir.path(), "srs", &c.lb.url, ("agent1", "pw1"));
    let h = wait_for(
        "a node to hold the SRS's control channel",
        Duration::from_secs(20),
        || holder(&c.nodes, &skip),
    );
    let events = (h + 1) % 3;
    let player = (h + 2) % 3;
    // Every node lists the session, connected (rows, not one node's memory).
    c.wait_connected(&["agent1"]);

    // Events to a node that does not hold the channel: the start command
    // travels through PostgreSQL to the holder.
    let t0 = Instant::now();
    c.nodes[events].call_event("c1", "call.established", "call-a", "1001");
    c.nodes[events].call_event("c2", "recording.started", "call-a", "1001");
    wait_for("SRS to encode 20 frames", Duration::from_secs(20), || {
        (frames(&srs) >= 20.0).then_some(())
    });
    let start_latency = t0.elapsed();
    c.nodes[events].call_event("c3", "call.released", "call-a", "1001");
    let rec = wait_final(&c.nodes[player], "call-a", Duration::from_secs(30));
    assert_eq!(rec["screenRecordings"][0]["state"], "completed", "{rec:#}");
    let seconds = played_seconds(&c.nodes[player], &rec, dir.path(), "call-a.mp4");
    assert!(seconds > 1.0, "{seconds} s played");

    // kill -9 of the node holding the channel in the middle of a call.
    let skip = log_sizes(&c.nodes);
    let t_start = Instant::now();
    c.nodes[events].call_event("d1", "call.established", "call-b", "1001");
    c.nodes[events].call_event("d2", "recording.started", "call-b", "1001");
    let before = frames(&srs);
    wait_for(
        "SRS to record the second call",
        Duration::from_secs(20),
        || (frames(&srs) >= before + 20.0).then_some(()),
    );
    c.nodes[h].kill();
    let alive: Vec<usize> = (0..3).filter(|i| *i != h).collect();
    let uploaded = |c: &Cluster| -> f64 {
        alive
            .iter()
            .map(|i| metric(&c.nodes[*i].metrics(), "screenrec_rws_upload_bytes_total"))
            .sum()
    };
    let uploaded_at_kill = uploaded(&c);
    // SRS reconnects through the balancer to a surviving node within 10 s.
    let killed_at = Instant::now();
    let new_holder = wait_for(
        "SRS to reconnect to another node",
        Duration::from_secs(10),
        || {
            alive.iter().copied().find(|i| {
                c.nodes[*i]
                    .proc
                    .output()
                    .get(skip[*i]..)
                    .unwrap_or("")
                    .contains("control channel connected")
            })
        },
    );
    let reconnect = killed_at.elapsed();
    let after = frames(&srs);
    wait_for(
        "SRS to record on after the loss",
        Duration::from_secs(20),
        || (frames(&srs) >= after + 20.0).then_some(()),
    );
    // The uploads go on, on the surviving nodes (from the offsets in
    // PostgreSQL; staged parts in the bucket).
    wait_for(
        "uploads to continue on the surviving nodes",
        Duration::from_secs(20),
        || (uploaded(&c) > uploaded_at_kill).then_some(()),
    );
    let other = alive.iter().copied().find(|i| *i != new_holder).unwrap();
    c.nodes[other].call_event("d3", "call.released", "call-b", "1001");
    let call_length = t_start.elapsed().as_secs_f64();
    let rec = wait_final(&c.nodes[other], "call-b", Duration::from_secs(60));
    let state = rec["screenRecordings"][0]["state"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        state == "completed" || state == "partial",
        "a call across a node's loss ends completed or partial: {rec:#}"
    );
    let seconds = played_seconds(&c.nodes[new_holder], &rec, dir.path(), "call-b.mp4");
    eprintln!(
        "cluster: start latency {start_latency:?}, reconnect after kill -9 {reconnect:?}, call {call_length:.1} s, played {seconds:.1} s, state {state}"
    );
    assert!(
        seconds >= call_length - 3.0 - 1.0,
        "at most 3 s missing: the call lasted {call_length:.1} s (events included), {seconds:.1} s played"
    );
    if state == "partial" {
        // A gap is never hidden: it is marked on the recording.
        assert!(rec.to_string().contains("gap"), "{rec:#}");
    }
    drop(srs);
}

#[test]
fn the_singleton_jobs_run_on_one_node_and_move_when_it_dies() {
    let dir = tempdir();
    let mut c = start_cluster(dir.path(), &["--purge-interval", "1s"]);
    let runs = |c: &Cluster| -> Vec<f64> {
        c.nodes
            .iter()
            .map(|n| {
                metric(
                    &crate::fixture::scrape(&n.url),
                    "screenrec_rws_retention_runs_total",
                )
            })
            .collect()
    };
    let leader = wait_for("one node to run retention", Duration::from_secs(20), || {
        let r = runs(&c);
        r.iter().position(|x| *x >= 2.0)
    });
    let first = runs(&c);
    wait_for(
        "the leader to run retention twice more",
        Duration::from_secs(20),
        || (runs(&c)[leader] >= first[leader] + 2.0).then_some(()),
    );
    let second = runs(&c);
    for i in (0..3).filter(|i| *i != leader) {
        assert_eq!(
            second[i], first[i],
            "node {i} ran retention beside node {leader}: {second:?}"
        );
        assert_eq!(second[i], 0.0, "{second:?}");
    }
    c.nodes[leader].kill();
    let alive: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let metrics_of = |i: usize| {
        metric(
            &crate::fixture::scrape(&c.nodes[i].url),
            "screenrec_rws_retention_runs_total",
        )
    };
    let next = wait_for(
        "another node to run retention",
        Duration::from_secs(20),
        || alive.iter().copied().find(|i| metrics_of(*i) >= 2.0),
    );
    let other = alive.iter().copied().find(|i| *i != next).unwrap();
    let base = (metrics_of(next), metrics_of(other));
    wait_for("the new leader to run on", Duration::from_secs(20), || {
        (metrics_of(next) >= base.0 + 2.0).then_some(())
    });
    assert_eq!(metrics_of(other), base.1, "only one node runs retention");
    // Through the balancer, the cluster still answers.
    let r = http("GET", &format!("{}/readyz", c.lb.url), &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
}

/// `POST /api/v2/srs/sessions/{id}/commands` as admin on the node at `url`.
fn command(url: &str, session: &str, timeout_s: u64) -> crate::fixture::Response {
    http(
        "POST",
        &format!("{url}/api/v2/srs/sessions/{session}/commands?timeout_s={timeout_s}"),
        &[
            basic("admin", "adminpw"),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(br#"{"command": "config"}"#.to_vec()),
    )
}

#[test]
fn hostile_forged_acks_on_one_node_never_answer_another_sessions_command() {
    use crate::hostile_agent::Hostile;
    use serde_json::json;
    let dir = tempdir();
    let c = start_cluster(dir.path(), &[]);
    // The honest agent's channel is on node 1, the rogue agent's on node 0;
    // the administrator asks node 2.
    let honest = Hostile::login(&c.nodes[1], "agent1", "pw1", None);
    let rogue = Hostile::login(&c.nodes[0], "agent2", "pw2", None);
    for n in &c.nodes {
        n.wait_sessions("every node to list both sessions", |s| {
            s.iter().filter(|x| x["state"] == "connected").count() == 2
        });
    }
    let admin = {
        let url = c.nodes[2].url.clone();
        let session = honest.session_id.clone();
        std::thread::spawn(move || command(&url, &session, 3))
    };
    // A flood of acks for every small seq (and absurd ones) on the rogue's
    // own channel, while the honest SRS has not answered.
    while !admin.is_finished() {
        for seq in (1..=20u64).chain([u64::MAX, 1 << 53]) {
            rogue.send(json!({"type": "ack", "seq": seq, "ok": false, "error": "forged"}));
        }
    }
    let r = admin.join().unwrap();
    assert_eq!(
        r.status, 202,
        "only the honest SRS's own ack may answer its command: {}",
        r.text
    );
    assert_eq!(r.json()["queued"], true, "{}", r.text);
    // The honest SRS gets the queued command across nodes and answers it;
    // a second command is then answered end to end through PostgreSQL.
    let first = honest.expect("config");
    let again = {
        let url = c.nodes[2].url.clone();
        let session = honest.session_id.clone();
        std::thread::spawn(move || command(&url, &session, 10))
    };
    let second = honest.expect("config");
    assert!(second["seq"].as_u64().unwrap() > first["seq"].as_u64().unwrap());
    let r = again.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["ok"], true, "{}", r.text);
    assert_eq!(r.json()["seq"], second["seq"], "{}", r.text);
    // Someone else's id, a made-up one: 404 in the GWS envelope on any node.
    let r = command(&c.nodes[0].url, "00000000-0000-4000-8000-000000000000", 1);
    assert_eq!(r.status, 404, "{}", r.text);
    drop(rogue);
}

/// 20 concurrent calls across 2 nodes: `screenrec loadgen` (20 simulated
/// SRS with real sessions, control channels and uploads) through the
/// balancer, so sessions, channels, events and PATCHes land on both nodes.
#[test]
fn twenty_concurrent_calls_across_two_nodes_all_complete() {
    use std::process::Command;
    const N: usize = 20;
    let dir = tempdir();
    let directory = dir.path().join("directory.toml");
    let made = Command::new(crate::util::bin())
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
    let c = start_nodes(dir.path(), 2, &[]);
    let calls_out = dir.path().join("calls.jsonl");
    // 20 calls started within a second, 4 s each: all 20 at once.
    let out = Command::new(crate::util::bin())
        .args(["loadgen", "--url", &c.lb.url, "--agents", &N.to_string()])
        .args([
            "--password",
            "lgpw",
            "--integration-token",
            crate::fixture::INTEGRATION_TOKEN,
        ])
        .args(["--events-per-sec", "20", "--secs", "1", "--call-secs", "4"])
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
    eprintln!("cluster loadgen: {summary}");
    assert_eq!(summary["sessions_held"], N, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["starts_missing"], 0, "{summary}");
    let posted = summary["calls_posted"].as_u64().unwrap();
    assert!(posted >= N as u64, "{summary}");
    assert_eq!(summary["starts_received"], posted, "{summary}");
    assert_eq!(summary["stops_received"], posted, "{summary}");
    // Both nodes held control channels (the balancer spread them).
    for (i, n) in c.nodes.iter().enumerate() {
        assert!(
            n.proc.output().contains("control channel connected"),
            "node {i} held no control channel"
        );
    }
    for line in std::fs::read_to_string(&calls_out).unwrap().lines() {
        let call: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = call["call_id"].as_str().unwrap();
        // Read from either node: the rows are shared.
        let node = &c.nodes[id.len() % 2];
        let r = wait_for(
            &format!("recording of {id} completed"),
            Duration::from_secs(30),
            || {
                let r = crate::fixture::get_as(
                    node,
                    ("admin", "adminpw"),
                    &format!("/api/v2/recordings/{id}"),
                );
                (r.status == 200 && r.json()["screenRecordings"][0]["state"] == "completed")
                    .then(|| r.json())
            },
        );
        assert_eq!(r["screenRecordings"][0]["id"], call["recording_id"], "{r}");
        assert_eq!(
            r["mediaFiles"][0]["parameters"]["uploadComplete"], true,
            "{r}"
        );
    }
}

/// The `recording` events in an SSE text: `(event_id, call_id, state)`.
fn sse_events(sse: &Sse) -> Vec<(String, String, String)> {
    sse.data()
        .into_iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            (s("event_id"), s("call_id"), s("state"))
        })
        .collect()
}

/// Issue 12 part 3. Webhooks come from the durable outbox, delivered by
/// the node running the singleton jobs: killed (-9) while a delivery is in
/// flight (the receiver holds it), another node delivers the same event,
/// same id, and every state change of the call reaches the receiver at
/// least once. SSE subscribers on every surviving node see every change,
/// whichever node made it; a supervisor of another group sees none.
#[test]
fn webhooks_survive_kill_9_of_the_delivering_node_and_sse_shows_every_nodes_changes() {
    use crate::webhook_outbox::{Behaviour, Hook, assert_consistent};
    let dir = tempdir();
    crate::fixture::write_directory(dir.path(), crate::fixture::TWO_GROUPS);
    let hook = Hook::start(Behaviour::HoldFirst(|b| b["state"] == "recording"));
    let mut c = start_cluster(dir.path(), &["--webhook", &hook.url]);
    let supa: Vec<_> = c
        .nodes
        .iter()
        .map(|n| sse(&n.url, ("supa", "pwa")))
        .collect();
    let supb: Vec<_> = c
        .nodes
        .iter()
        .map(|n| sse(&n.url, ("supb", "pwb")))
        .collect();
    let skip = log_sizes(&c.nodes);
    let srs = Srs::start_agent(dir.path(), "srs", &c.lb.url, ("agent1", "pw1"));
    let h = wait_for(
        "a node to hold the SRS's control channel",
        Duration::from_secs(20),
        || holder(&c.nodes, &skip),
    );
    let events = (h + 1) % 3;
    c.nodes[events].call_event("w1", "call.established", "call-w", "1001");
    c.nodes[events].call_event("w2", "recording.started", "call-w", "1001");
    let held = wait_for(
        "the delivery of 'recording' to be held by the receiver",
        Duration::from_secs(30),
        || hook.deliveries().into_iter().find(|d| d.answered == 0),
    );
    assert_eq!(held.body["call_id"], "call-w", "{held:?}");
    // The delivering node is the one running the singleton jobs.
    let leader = wait_for(
        "the node running the singleton jobs",
        Duration::from_secs(5),
        || {
            c.nodes.iter().position(|n| {
                n.proc
                    .output()
                    .contains("this node runs the singleton jobs")
            })
        },
    );
    c.nodes[leader].kill();
    wait_for(
        "the held delivery to be cut by the kill (it was that node's)",
        Duration::from_secs(10),
        || hook.deliveries().iter().any(|d| d.cut).then_some(()),
    );
    let alive: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let again = wait_for(
        "another node to deliver the held event again (once its claim ran out)",
        Duration::from_secs(40),
        || {
            hook.deliveries()
                .into_iter()
                .find(|d| d.answered == 204 && d.header_id == held.header_id)
        },
    );
    assert_eq!(again.body, held.body);
    wait_for("SRS to record", Duration::from_secs(30), || {
        (frames(&srs) >= 10.0).then_some(())
    });
    c.nodes[alive[0]].call_event("w3", "call.released", "call-w", "1001");
    let rec = wait_final_as(
        &c.nodes[alive[1]],
        "call-w",
        Duration::from_secs(60),
        ("admin", "adminpw"),
    );
    let last = rec["screenRecordings"][0]["state"]
        .as_str()
        .unwrap()
        .to_string();

    // SSE: every surviving node's supa stream shows the same changes of
    // call-w, up to the final one, whichever node made each.
    let changes = |i: usize| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = sse_events(&supa[i])
            .into_iter()
            .filter(|(_, call, _)| call == "call-w")
            .map(|(id, _, state)| (id, state))
            .collect();
        v.sort();
        v
    };
    let seen = wait_for(
        "every surviving node's SSE to show the same changes, the final one included",
        Duration::from_secs(20),
        || {
            let a = changes(alive[0]);
            let done = a.iter().any(|(_, s)| *s == last) && alive.iter().all(|i| changes(*i) == a);
            done.then_some(a)
        },
    );
    let states: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    for want in ["requested", "recording", last.as_str()] {
        assert!(states.contains(&want), "SSE saw {states:?}");
    }
    let made_by: Vec<usize> = (0..3)
        .filter(|i| {
            c.nodes[*i]
                .proc
                .output()
                .lines()
                .any(|l| l.contains("recording state") && l.contains(&format!("state={last}")))
        })
        .collect();
    eprintln!(
        "cluster webhooks: leader {leader} killed, final '{last}' made by node(s) {made_by:?}, SSE on {alive:?} saw {states:?}"
    );

    // Webhooks: every change SSE saw was accepted by the receiver at least
    // once, nothing else was, and the held one came twice (held, then again).
    let ids: std::collections::BTreeSet<String> = seen.iter().map(|(id, _)| id.clone()).collect();
    let accepted = wait_for(
        "every change to reach the webhook",
        Duration::from_secs(20),
        || {
            let got: std::collections::BTreeSet<String> = hook
                .deliveries()
                .into_iter()
                .filter(|d| d.answered == 204)
                .map(|d| d.header_id)
                .collect();
            (got == ids).then_some(got)
        },
    );
    assert_eq!(accepted, ids);
    let all = hook.deliveries();
    assert_consistent(&all);
    let copies = all.iter().filter(|d| d.header_id == held.header_id).count();
    assert!(copies >= 2, "the held event came {copies} times: {all:#?}");

    // Rule 7 across nodes: supb (team_b) saw nothing of agent1, anywhere.
    for (i, s) in supb.iter().enumerate() {
        assert!(
            sse_events(s).is_empty(),
            "supb on node {i} saw {:?}",
            sse_events(s)
        );
    }
    drop(srs);
}

/// Issue 12: the events stream resumes on any node. An admin's stream on
/// node 1 sees the changes made on every node, in id order; a supervisor
/// connecting to node 3 with the `Last-Event-ID` of an early change gets
/// the later changes of their group only, whichever node made them, with
/// the ids node 1 gave them, then the live ones.
#[test]
fn the_events_stream_resumes_on_another_node_with_last_event_id() {
    use crate::sse_resume::{
        assert_increasing, end, first_of, one_event, seen, wait_call, wait_id, window,
    };
    use crate::util::sse_from;
    let dir = tempdir();
    crate::fixture::write_directory(dir.path(), crate::fixture::TWO_GROUPS);
    let c = start_cluster(dir.path(), &[]);
    let _a = Srs::start_agent(dir.path(), "srs-a", &c.lb.url, ("agent1", "pw1"));
    let _b = Srs::start_agent(dir.path(), "srs-b", &c.lb.url, ("agent2", "pw2"));
    let admin = sse_from(&c.nodes[0].url, ("admin", "adminpw"), None);
    one_event(&c.nodes[1], "x-1", "1001");
    let id1 = first_of(&wait_call(&admin, "x-1"), "x-1");
    end(&c.nodes[2], "x-1", "1001");
    one_event(&c.nodes[1], "x-2", "1002");
    one_event(&c.nodes[2], "x-3", "1001");
    end(&c.nodes[1], "x-3", "1001");
    one_event(&c.nodes[0], "x-4", "1001");
    for call in ["x-2", "x-3", "x-4"] {
        wait_call(&admin, call);
    }
    let supa = sse_from(&c.nodes[2].url, ("supa", "pwa"), Some(&id1.to_string()));
    wait_call(&supa, "x-4");
    end(&c.nodes[0], "x-4", "1001");
    one_event(&c.nodes[1], "x-5", "1001");
    let m = first_of(&wait_call(&supa, "x-5"), "x-5");
    let live = wait_id(&admin, m);
    assert_increasing(&live);
    let got = window(&seen(&supa), i64::MIN, m, None);
    assert_eq!(got, window(&live, id1, m, Some("agent1")), "{live:?}");
    for call in ["x-3", "x-4", "x-5"] {
        assert!(got.iter().any(|e| e.1 == call), "{call}: {got:?}");
    }
    assert!(seen(&supa).iter().all(|e| e.2 == "agent1"));
    assert_increasing(&seen(&supa));
}

/// A live viewer reading `GET /api/v2/live/{agent}?monitor=0` from one node
/// in a thread of its own until told to leave (it then closes the
/// connection, as a closed console tab does).
struct LiveViewer {
    status: u16,
    bytes: Arc<Mutex<Vec<u8>>>,
    ended: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveViewer {
    fn open(rws: &Rws, agent: &str, who: (&str, &str)) -> LiveViewer {
        let url = crate::live_view::live_url(rws, agent, "?monitor=0");
        let (k, v) = basic(who.0, who.1);
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (b, e, s) = (bytes.clone(), ended.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(mut resp) = reqwest::Client::new().get(&url).header(k, v).send().await
                else {
                    let _ = tx.send(0);
                    return;
                };
                let status = resp.status().as_u16();
                let _ = tx.send(status);
                if status != 200 {
                    let body = resp.bytes().await.unwrap_or_default();
                    b.lock().unwrap().extend_from_slice(&body);
                    return;
                }
                while !s.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(200), resp.chunk()).await {
                        Err(_) => continue,
                        Ok(Ok(Some(c))) => b.lock().unwrap().extend_from_slice(&c),
                        Ok(_) => {
                            e.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        });
        let status = rx.recv_timeout(Duration::from_secs(40)).unwrap_or(0);
        LiveViewer {
            status,
            bytes,
            ended,
            stop,
            thread: Some(thread),
        }
    }

    /// Complete fragments (`moof` boxes at the top level) received so far.
    fn fragments(&self) -> usize {
        let buf = self.bytes.lock().unwrap();
        let (mut at, mut n) = (0, 0);
        while at + 8 <= buf.len() {
            let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            if size < 8 || at + size > buf.len() {
                break;
            }
            n += usize::from(&buf[at + 4..at + 8] == b"moof");
            at += size;
        }
        n
    }

    fn wait_fragments(&self, what: &str, n: usize) {
        wait_for(what, Duration::from_secs(30), || {
            (self.fragments() >= n).then_some(())
        });
    }

    /// Leaves (closes the connection); what it received.
    fn leave(mut self) -> Vec<u8> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.bytes.lock().unwrap().clone()
    }
}

const ALWAYS: &str = "live_view = \"always\"\nlive_notice = true\n";

/// Preview segment `PUT`s a node answered 204 (its request metrics).
fn preview_puts(rws: &Rws) -> f64 {
    rws.metrics()
        .lines()
        .filter(|l| {
            l.starts_with("screenrec_rws_http_request_duration_seconds_count{")
                && l.contains("/api/v2/srs/previews/")
                && l.contains("status=\"204\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Rows of the preview tables mentioning `id` (0 once it is gone).
fn preview_rows(c: &Cluster, id: &str) -> i64 {
    let out = PgServer::shared().psql(
        &c.db,
        &format!(
            "SELECT (SELECT COUNT(*) FROM live_previews WHERE id = '{id}') \
             + (SELECT COUNT(*) FROM live_preview_viewers WHERE preview_id = '{id}') \
             + (SELECT COUNT(*) FROM live_preview_segments WHERE preview_id = '{id}')"
        ),
    );
    out.trim().parse().unwrap()
}

/// Every `preview {on: true}` the command queue carried: id → upload
/// token (what SRS got; a test stands in for a hostile SRS with it).
fn preview_tokens(c: &Cluster) -> std::collections::HashMap<String, String> {
    PgServer::shared()
        .psql(&c.db, "SELECT body FROM srs_commands")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "preview" && v["on"] == true)
        .map(|v| {
            (
                v["preview_id"].as_str().unwrap().to_string(),
                v["upload_token"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The preview id of the newest `live_view` audit row of `agent`.
fn preview_of(rws: &Rws, agent: &str) -> String {
    wait_for(
        "the preview's live_view row",
        Duration::from_secs(20),
        || {
            crate::live_view::audit(rws, "live_view")
                .into_iter()
                .filter(|e| e["target"] == agent)
                .find_map(|e| {
                    let d = e["detail"].as_str()?.strip_prefix("preview ")?;
                    Some(d.split_whitespace().next()?.to_string())
                })
        },
    )
}

fn watched(srs: &Srs, who: (&str, &str)) -> bool {
    let r = http(
        "GET",
        &format!("{}/api/v2/me/recording", srs.url),
        &[basic(who.0, who.1)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["watched"] == true
}

fn put_segment(rws: &Rws, path: &str, token: &str, body: Vec<u8>) -> crate::fixture::Response {
    http(
        "PUT",
        &format!("{}/api/v2/srs/previews/{path}", rws.url),
        &[("Authorization".into(), format!("Bearer {token}"))],
        Some(body),
    )
}

/// An age-looking body of `n` bytes (RWS checks the magic, not the rest).
fn age_body(n: usize) -> Vec<u8> {
    let mut b = b"age-encryption.org/v1\n".to_vec();
    b.resize(n, b'x');
    b
}

/// Issue 12 leftover: on-demand live view (`live_view = "always"`) across
/// three nodes without sticky sessions. SRS's control channel is on node
/// A; viewers of the unrecorded agent are on B and C; SRS's segment PUTs
/// go through the round-robin balancer, and a viewer receives more
/// fragments than its own node took (the rest landed on another node). The
/// stream decodes, the audit rows are written; the viewer on C leaving
/// does not end the preview (B still streams), the last one leaving ends
/// it: SRS stops capturing and every row of it is gone. Then a node with
/// the only viewer is killed (`kill -9`): the preview ends within the 15 s
/// idle limit (its lease runs out, the sweep drops its viewers) and its
/// rows are gone.
#[test]
fn live_preview_across_nodes_ends_with_its_last_viewer_and_with_the_viewers_dead_node() {
    let dir = tempdir();
    crate::fixture::write_directory(
        dir.path(),
        &format!("{ALWAYS}{}", crate::fixture::TWO_GROUPS),
    );
    let mut c = start_cluster(dir.path(), &[]);
    let skip = log_sizes(&c.nodes);
    let srs = Srs::start_agent(dir.path(), "srs", &c.lb.url, ("agent1", "pw1"));
    let a = wait_for(
        "a node to hold the SRS's control channel",
        Duration::from_secs(20),
        || holder(&c.nodes, &skip),
    );
    c.wait_connected(&["agent1"]);
    let (b, cc) = ((a + 1) % 3, (a + 2) % 3);
    let puts_before: Vec<f64> = c.nodes.iter().map(preview_puts).collect();

    // Two viewers on the two nodes without the channel.
    let on_b = LiveViewer::open(&c.nodes[b], "agent1", ("supa", "pwa"));
    assert_eq!(
        on_b.status,
        200,
        "{}",
        String::from_utf8_lossy(&on_b.bytes.lock().unwrap())
    );
    let on_c = LiveViewer::open(&c.nodes[cc], "agent1", ("admin", "adminpw"));
    assert_eq!(
        on_c.status,
        200,
        "{}",
        String::from_utf8_lossy(&on_c.bytes.lock().unwrap())
    );
    let id = preview_of(&c.nodes[a], "agent1");
    assert!(watched(&srs, ("agent1", "pw1")), "the agent is told");
    on_b.wait_fragments("5 fragments on B", 5);
    on_c.wait_fragments("3 fragments on C", 3);
    let puts: Vec<f64> = c
        .nodes
        .iter()
        .zip(&puts_before)
        .map(|(n, before)| preview_puts(n) - before)
        .collect();
    eprintln!("preview segment PUTs per node (channel on {a}, viewers on {b} and {cc}): {puts:?}");
    assert!(puts.iter().sum::<f64>() >= 5.0, "{puts:?}");
    let (got_b, got_c) = (on_b.fragments(), on_c.fragments());
    assert!(
        got_b as f64 > puts[b] || got_c as f64 > puts[cc],
        "a viewer received fragments its node never took: B got {got_b} (took {}), C got {got_c} (took {})",
        puts[b],
        puts[cc]
    );

    // C leaves: the preview goes on for B (the count is cluster-wide).
    let bytes_c = on_c.leave();
    let left = on_b.fragments();
    on_b.wait_fragments("B to stream on after C left", left + 2);
    assert!(!on_b.ended.load(Ordering::Relaxed));
    assert_eq!(preview_tokens(&c).len(), 1, "one preview for two viewers");

    // B leaves: the last viewer on any node; SRS stops, the rows go.
    let bytes_b = on_b.leave();
    let left_at = Instant::now();
    wait_for("SRS to stop the preview", Duration::from_secs(10), || {
        let log = srs.proc.output();
        (log.contains("live preview stopped") && log.contains(&id)).then_some(())
    });
    wait_for("the agent no longer told", Duration::from_secs(10), || {
        (!watched(&srs, ("agent1", "pw1"))).then_some(())
    });
    wait_for("the preview's rows to go", Duration::from_secs(10), || {
        (preview_rows(&c, &id) == 0).then_some(())
    });
    eprintln!(
        "preview ended {:?} after its last viewer left",
        left_at.elapsed()
    );
    for (name, bytes) in [("b", bytes_b), ("c", bytes_c)] {
        let file = dir.path().join(format!("preview-{name}.mp4"));
        std::fs::write(&file, &bytes).unwrap();
        assert!(decodes_cleanly(&file), "viewer {name}'s stream decodes");
        let frames = crate::util::frame_times(&file).len();
        assert!(frames >= 5, "viewer {name}: {frames} frames");
    }
    // Audited on whichever node: a start and an end per viewer.
    for (who, action) in [
        ("supa", "live_view"),
        ("admin", "live_view"),
        ("supa", "live_view_end"),
        ("admin", "live_view_end"),
    ] {
        wait_for(
            &format!("{action} of {who}"),
            Duration::from_secs(10),
            || {
                crate::live_view::audit(&c.nodes[a], action)
                    .into_iter()
                    .find(|e| {
                        e["user"] == who
                            && e["target"] == "agent1"
                            && e["detail"].as_str().is_some_and(|d| d.contains(&id))
                    })
            },
        );
    }

    // A node with the only viewer dies: the preview ends all the same.
    let v = LiveViewer::open(&c.nodes[b], "agent1", ("supa", "pwa"));
    assert_eq!(v.status, 200);
    v.wait_fragments("the new preview to stream on B", 2);
    let id2 = preview_of(&c.nodes[a], "agent1");
    assert_ne!(id2, id);
    c.nodes[b].kill();
    let killed = Instant::now();
    let gone = wait_for(
        "the dead node's preview to end",
        Duration::from_secs(30),
        || (preview_rows(&c, &id2) == 0).then_some(killed.elapsed()),
    );
    wait_for(
        "SRS to stop the second preview",
        Duration::from_secs(10),
        || {
            let log = srs.proc.output();
            log.match_indices("live preview stopped")
                .any(|(i, _)| log[i..].lines().next().is_some_and(|l| l.contains(&id2)))
                .then_some(())
        },
    );
    eprintln!("preview ended {gone:?} after kill -9 of its viewer's node");
    assert!(
        gone <= Duration::from_secs(15),
        "the preview of a dead node's viewer ended {gone:?} after the kill (limit 15 s)"
    );
    drop(v);
    drop(srs);
}

/// The same, hostile: segment PUTs on nodes other than where the preview
/// was made, by someone holding a token. Another preview's token: 401 on
/// every node; a replayed init and an older sequence number: 409; past
/// the 16 MiB budget: 413 and nothing kept of it; a seq past 2^63: 400;
/// after the end: 404; a made-up id: 404. The real preview streams on.
#[test]
fn hostile_preview_segments_on_other_nodes_are_refused() {
    let dir = tempdir();
    crate::fixture::write_directory(
        dir.path(),
        &format!("{ALWAYS}{}", crate::fixture::TWO_GROUPS),
    );
    let c = start_cluster(dir.path(), &[]);
    let srs1 = Srs::start_agent(dir.path(), "srs1", &c.lb.url, ("agent1", "pw1"));
    let srs2 = Srs::start_agent(dir.path(), "srs2", &c.lb.url, ("agent2", "pw2"));
    c.wait_connected(&["agent1", "agent2"]);
    let v1 = LiveViewer::open(&c.nodes[0], "agent1", ("admin", "adminpw"));
    assert_eq!(v1.status, 200);
    let v2 = LiveViewer::open(&c.nodes[1], "agent2", ("admin", "adminpw"));
    assert_eq!(v2.status, 200);
    let p1 = preview_of(&c.nodes[0], "agent1");
    let p2 = preview_of(&c.nodes[0], "agent2");
    let tokens = preview_tokens(&c);
    let (t1, t2) = (tokens[&p1].clone(), tokens[&p2].clone());

    for n in &c.nodes {
        let r = put_segment(n, &format!("{p1}/0/999999"), &t2, age_body(100));
        assert_envelope(&r, 401, "another preview's token");
    }
    let r = put_segment(&c.nodes[2], &format!("{p1}/0/0"), &t1, age_body(100));
    assert_envelope(&r, 409, "a second init segment");
    let r = put_segment(&c.nodes[1], &format!("{p1}/0/1"), &t1, age_body(100));
    assert_envelope(&r, 409, "an older sequence number");
    let r = put_segment(
        &c.nodes[2],
        &format!("{p1}/0/99999999999999999999"),
        &t1,
        age_body(100),
    );
    assert_envelope(&r, 400, "a seq past 2^63");
    // The budget: 8 MiB on a monitor SRS does not have, then 8 MiB more.
    let big = (8 << 20) - 64;
    let r = put_segment(&c.nodes[1], &format!("{p1}/9/0"), &t1, age_body(big));
    assert_eq!(r.status, 204, "{}", r.text);
    let r = put_segment(&c.nodes[2], &format!("{p1}/9/1"), &t1, age_body(big));
    assert_envelope(&r, 413, "past the preview's budget");
    let held: i64 = PgServer::shared()
        .psql(
            &c.db,
            &format!("SELECT CAST(SUM(size) AS BIGINT) FROM live_preview_segments WHERE preview_id = '{p1}'"),
        )
        .trim()
        .parse()
        .unwrap();
    assert!(held <= 16 << 20, "the preview holds {held} bytes");
    // The real preview streams on.
    let n = v1.fragments();
    v1.wait_fragments("agent1's preview to stream on", n + 2);
    let r = put_segment(
        &c.nodes[2],
        "00000000-0000-4000-8000-000000000000/0/0",
        &t1,
        age_body(100),
    );
    assert_envelope(&r, 404, "no such preview");

    // After the end: the rows are gone, the token opens nothing.
    v1.leave();
    wait_for("preview 1's rows to go", Duration::from_secs(10), || {
        (preview_rows(&c, &p1) == 0).then_some(())
    });
    for n in &c.nodes {
        let r = put_segment(n, &format!("{p1}/0/999999"), &t1, age_body(100));
        assert_envelope(&r, 404, "a segment after the end");
    }
    v2.leave();
    wait_for("preview 2's rows to go", Duration::from_secs(10), || {
        (preview_rows(&c, &p2) == 0).then_some(())
    });
    drop((srs1, srs2));
}

/// The caps of on-demand previews count every node: eight viewers of one
/// preview spread over three nodes, and the ninth is refused (`429`) on
/// every node; the 10-minute cap (the preview's end moved to the past in
/// PostgreSQL, as time would) ends every node's viewers, SRS stops and the
/// rows go; sixteen previews registered by another node fill the
/// cluster's 16, so a new one is refused (`429`) until they are gone. A
/// call starting still wins: the preview's viewer ends, its rows go, and
/// the next viewer (on another node) watches the recording.
#[test]
fn live_preview_caps_count_every_node() {
    let dir = tempdir();
    crate::fixture::write_directory(
        dir.path(),
        &format!("{ALWAYS}{}", crate::fixture::TWO_GROUPS),
    );
    let c = start_cluster(dir.path(), &[]);
    let srs = Srs::start_agent(dir.path(), "srs", &c.lb.url, ("agent1", "pw1"));
    c.wait_connected(&["agent1"]);
    let viewers: Vec<LiveViewer> = (0..8)
        .map(|i| {
            let v = LiveViewer::open(&c.nodes[i % 3], "agent1", ("admin", "adminpw"));
            assert_eq!(v.status, 200, "viewer {i}");
            v
        })
        .collect();
    for n in &c.nodes {
        let r = http(
            "GET",
            &crate::live_view::live_url(n, "agent1", "?monitor=0"),
            &[basic("supa", "pwa")],
            None,
        );
        assert_envelope(&r, 429, "the ninth viewer of one preview");
        assert!(r.text.contains("8 live viewers"), "{}", r.text);
    }
    assert_eq!(preview_tokens(&c).len(), 1, "one preview for eight viewers");
    let id = preview_of(&c.nodes[0], "agent1");
    for v in &viewers {
        v.wait_fragments("every viewer to stream", 2);
    }

    // The cap: the preview's end is now.
    PgServer::shared().psql(
        &c.db,
        &format!("UPDATE live_previews SET ends_at = '2000-01-01T00:00:00.000Z' WHERE id = '{id}'"),
    );
    let capped = Instant::now();
    wait_for(
        "every node's viewers to end",
        Duration::from_secs(10),
        || {
            viewers
                .iter()
                .all(|v| v.ended.load(Ordering::Relaxed))
                .then_some(())
        },
    );
    wait_for(
        "the capped preview's rows to go",
        Duration::from_secs(10),
        || (preview_rows(&c, &id) == 0).then_some(()),
    );
    wait_for(
        "SRS to stop the capped preview",
        Duration::from_secs(10),
        || {
            let log = srs.proc.output();
            log.match_indices("live preview stopped")
                .any(|(i, _)| log[i..].lines().next().is_some_and(|l| l.contains(&id)))
                .then_some(())
        },
    );
    eprintln!(
        "capped preview ended {:?} after its end passed",
        capped.elapsed()
    );
    for v in viewers {
        v.leave();
    }

    // Sixteen previews that another node runs fill the cluster's cap.
    let node = PgServer::shared().psql(&c.db, "SELECT node FROM cluster_nodes LIMIT 1");
    let node = node.trim();
    for i in 0..16 {
        PgServer::shared().psql(
            &c.db,
            &format!(
                "INSERT INTO live_previews(id, agent, session_id, token_hash, started_at, ends_at, last_at) \
                 VALUES ('fake-{i}', 'elsewhere{i}', 'no-session', 'x', '2026-01-01T00:00:00.000Z', \
                 '2999-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'); \
                 INSERT INTO live_preview_viewers(viewer, preview_id, node, since) \
                 VALUES ('fake-viewer-{i}', 'fake-{i}', '{node}', '2026-01-01T00:00:00.000Z')"
            ),
        );
    }
    for n in &c.nodes {
        let r = http(
            "GET",
            &crate::live_view::live_url(n, "agent1", "?monitor=0"),
            &[basic("admin", "adminpw")],
            None,
        );
        assert_envelope(&r, 429, "a 17th preview in the cluster");
        assert!(r.text.contains("16 on-demand live views"), "{}", r.text);
    }
    PgServer::shared().psql(
        &c.db,
        "DELETE FROM live_preview_viewers WHERE viewer LIKE 'fake-%'; \
         DELETE FROM live_previews WHERE id LIKE 'fake-%'",
    );
    let v = LiveViewer::open(&c.nodes[1], "agent1", ("admin", "adminpw"));
    assert_eq!(v.status, 200, "a slot is free again");
    v.wait_fragments("the new preview to stream", 2);
    let id3 = preview_of(&c.nodes[0], "agent1");

    // A call starts (its event on a third node): the call wins, the
    // preview ends everywhere, and the next viewer watches the recording.
    c.nodes[2].call_event("k1", "recording.started", "call-wins", "1001");
    wait_for(
        "the preview's viewer to end",
        Duration::from_secs(15),
        || v.ended.load(Ordering::Relaxed).then_some(()),
    );
    wait_for("the preview's rows to go", Duration::from_secs(10), || {
        (preview_rows(&c, &id3) == 0).then_some(())
    });
    v.leave();
    crate::live_view::media_start(&c.nodes[0], "call-wins");
    let w = LiveViewer::open(&c.nodes[0], "agent1", ("supa", "pwa"));
    assert_eq!(w.status, 200, "the recording is watched");
    w.wait_fragments("the recording's live view", 2);
    let row = wait_for(
        "the recorded view's audit row",
        Duration::from_secs(10),
        || {
            crate::live_view::audit(&c.nodes[2], "live_view")
                .into_iter()
                .find(|e| e["user"] == "supa")
        },
    );
    assert!(
        row["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("recording ")),
        "{row}"
    );
    w.leave();
    drop(srs);
}
