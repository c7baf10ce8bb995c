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
use crate::fixture::{Rws, Srs, basic, http, metric};
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
}

/// Three nodes.
fn start_cluster(dir: &std::path::Path, extra: &[&str]) -> Cluster {
    start_nodes(dir, 3, extra)
}

fn start_nodes(dir: &std::path::Path, n: usize, extra: &[&str]) -> Cluster {
    let pg = PgServer::shared();
    let database = pg.url(&pg.create_database());
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
    Cluster { nodes, lb }
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
    for n in &c.nodes {
        n.wait_sessions("every node to list agent1 connected", |s| {
            s.iter()
                .any(|x| x["user"] == "agent1" && x["state"] == "connected")
        });
    }

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
