//! Bounds of live view (`crates/rws/src/live.rs`, `preview.rs`;
//! `docs/live-view.md`) that the functional tests in `live_view.rs` do not
//! reach, with real RWS and SRS processes (synthetic screens):
//!
//! * the server-wide cap, `MAX_VIEWERS` = 32 per RWS: four agents recorded
//!   and watched by eight viewers each (the per-recording cap), 32 in all.
//!   The 33rd viewer is refused with `429` in the GWS envelope saying the
//!   server is full, whichever agent it asks for, and is not audited as a
//!   view; the 32 keep streaming after the refusal; one leaving frees
//!   exactly one slot. (The per-recording cap of 8 and its message are
//!   checked by `live_view::hostile_live_view_is_refused_in_the_envelope`.)
//! * an on-demand preview (`live_view = "always"`) whose SRS dies
//!   (`kill -9`) does not hold its viewer: the stream ends within the 15 s
//!   without a new fragment, the view's end is audited, and the next
//!   viewer is told the agent has no SRS (`409`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fixture::{Rws, Srs, assert_envelope, basic, http, write_directory};
use crate::live_view::{audit, live_url, media_start};
use crate::util::{tempdir, wait_for};

/// Agents recorded and watched (four times the per-recording cap of 8 is
/// the server's cap of 32).
const AGENTS: usize = 4;
/// Viewers of each agent.
const PER_AGENT: usize = 8;

/// One group of `AGENTS` agents (`agentN`/`pwN` on `Place_100N`) and an
/// admin, who may watch any of them.
fn directory() -> String {
    let mut d = String::from(
        "recording_when = \"always\"\n\n[[switch]]\nname = \"SIP_Switch\"\n\n\
         [[user]]\nusername = \"admin\"\npassword = \"adminpw\"\nroles = [\"admin\"]\n",
    );
    for n in 1..=AGENTS {
        d.push_str(&format!(
            "\n[[place]]\nname = \"Place_100{n}\"\n\
             devices = [{{ dn = \"100{n}\", switch = \"SIP_Switch\" }}]\n\n\
             [[user]]\nusername = \"agent{n}\"\npassword = \"pw{n}\"\n\
             roles = [\"agent\"]\ndefault_place = \"Place_100{n}\"\n"
        ));
    }
    d
}

/// A viewer streaming in the background: when each chunk arrived, and
/// when and how the stream ended.
struct Viewer {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    /// `(when, cleanly)`: `true` when the server ended the body, `false`
    /// on a broken stream.
    ended: Arc<Mutex<Option<(Instant, bool)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Viewer {
    /// Whether a chunk arrived after `t`.
    fn got_after(&self, t: Instant) -> bool {
        self.arrivals.lock().unwrap().iter().any(|a| *a > t)
    }

    fn ended(&self) -> Option<(Instant, bool)> {
        *self.ended.lock().unwrap()
    }
}

/// Opens `GET /api/v2/live/{agent}` as admin on `rt`: `Ok` with the
/// viewer reading in the background when the answer is `200`, else the
/// status and body.
fn open(rt: &tokio::runtime::Runtime, rws: &Rws, agent: &str) -> Result<Viewer, (u16, String)> {
    let url = live_url(rws, agent, "?monitor=0");
    let (k, v) = basic("admin", "adminpw");
    let mut resp = rt
        .block_on(reqwest::Client::new().get(&url).header(k, v).send())
        .expect("live request");
    let status = resp.status().as_u16();
    if status != 200 {
        return Err((status, rt.block_on(resp.text()).unwrap_or_default()));
    }
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(Mutex::new(None));
    let (seen, end) = (arrivals.clone(), ended.clone());
    // Reads continuously, so a chunk's arrival is (about) when RWS sent it.
    let task = rt.spawn(async move {
        let cleanly = loop {
            match resp.chunk().await {
                Ok(Some(_)) => seen.lock().unwrap().push(Instant::now()),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        *end.lock().unwrap() = Some((Instant::now(), cleanly));
    });
    Ok(Viewer {
        arrivals,
        ended,
        task,
    })
}

/// Asserts that `agent`'s next viewer is refused because the server is full.
fn assert_server_full(rws: &Rws, agent: &str) {
    let r = http(
        "GET",
        &live_url(rws, agent, "?monitor=0"),
        &[basic("admin", "adminpw")],
        None,
    );
    assert_envelope(&r, 429, &format!("viewer 33, of {agent}"));
    let msg = r.json()["statusMessage"].as_str().unwrap_or("").to_string();
    assert!(
        msg.contains("already streams 32 live views"),
        "the server's cap, not the recording's: {msg}"
    );
}

#[test]
fn live_view_33rd_viewer_is_refused_the_32_keep_streaming_and_a_leave_frees_a_slot() {
    let dir = tempdir();
    write_directory(dir.path(), &directory());
    let rws = Rws::start(dir.path(), "rws");
    let _srs: Vec<Srs> = (1..=AGENTS)
        .map(|n| {
            Srs::start_agent(
                dir.path(),
                &format!("srs{n}"),
                &rws.url,
                (&format!("agent{n}"), &format!("pw{n}")),
            )
        })
        .collect();
    for n in 1..=AGENTS {
        rws.call_event(
            &format!("cap{n}"),
            "recording.started",
            &format!("call-cap{n}"),
            &format!("100{n}"),
        );
    }
    for n in 1..=AGENTS {
        media_start(&rws, &format!("call-cap{n}"));
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut viewers: Vec<Viewer> = Vec::new();
    for n in 1..=AGENTS {
        for i in 0..PER_AGENT {
            let v = open(&rt, &rws, &format!("agent{n}"))
                .unwrap_or_else(|e| panic!("viewer {i} of agent{n}: {e:?}"));
            viewers.push(v);
        }
    }
    assert_eq!(viewers.len(), 32);

    // The 33rd: refused as the server's, whichever agent it asks for
    // (every agent is also at its own cap, so the server's is checked
    // first), and refusals are no views in the audit log.
    assert_server_full(&rws, "agent1");
    assert_server_full(&rws, "agent4");
    let refused = Instant::now();
    assert_eq!(
        audit(&rws, "live_view").len(),
        32,
        "one live_view row per admitted viewer, none for a refusal"
    );

    // The 32 keep streaming: each gets data sent after the refusal.
    wait_for(
        "every one of the 32 viewers to receive more after the refusal",
        Duration::from_secs(20),
        || viewers.iter().all(|v| v.got_after(refused)).then_some(()),
    );

    // One viewer of agent2 leaves: RWS notices at its next write (≤ 1 s of
    // fragments) and lets exactly one new viewer in.
    let gone = viewers.remove(PER_AGENT);
    gone.task.abort();
    let back = wait_for(
        "the freed slot to admit a new viewer of agent2",
        Duration::from_secs(15),
        || match open(&rt, &rws, "agent2") {
            Ok(v) => Some(v),
            Err((429, _)) => None,
            Err(e) => panic!("while a slot frees: {e:?}"),
        },
    );
    let admitted = Instant::now();
    wait_for("the new viewer to stream", Duration::from_secs(15), || {
        back.got_after(admitted).then_some(())
    });
    viewers.push(back);
    assert_server_full(&rws, "agent3");
    assert_eq!(audit(&rws, "live_view").len(), 33);
    for v in &viewers {
        v.task.abort();
    }
}

#[test]
fn live_preview_whose_srs_dies_ends_its_viewer_within_the_idle_limit() {
    let dir = tempdir();
    write_directory(
        dir.path(),
        &format!("live_view = \"always\"\n{}", directory()),
    );
    let rws = Rws::start(dir.path(), "rws");
    let mut srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let viewer = open(&rt, &rws, "agent1").unwrap_or_else(|e| panic!("preview: {e:?}"));
    // Fragments flow (1 s each in a preview): the init and at least two.
    wait_for("the preview to stream", Duration::from_secs(20), || {
        (viewer.arrivals.lock().unwrap().len() >= 3).then_some(())
    });
    assert!(viewer.got_after(started));
    assert_eq!(viewer.ended(), None, "streaming while SRS lives");

    srs.proc.kill9();
    let killed = Instant::now();
    let (at, _) = wait_for(
        "the viewer's stream to end after SRS died",
        Duration::from_secs(40),
        || viewer.ended(),
    );
    let after = at.duration_since(killed);
    eprintln!("preview viewer ended {after:?} after SRS was killed");
    assert!(
        after <= Duration::from_secs(15 + 5),
        "a dead SRS's preview held its viewer {after:?} (limit: 15 s without a new fragment)"
    );
    // The view's end is audited, like any other.
    let end = wait_for("live_view_end", Duration::from_secs(10), || {
        audit(&rws, "live_view_end")
            .into_iter()
            .find(|e| e["user"] == "admin" && e["target"] == "agent1")
    });
    assert!(
        end["detail"]
            .as_str()
            .is_some_and(|d| d.contains("preview")),
        "{end}"
    );
    // The agent has no SRS any more: the next viewer is told so.
    let r = wait_for(
        "409 for an agent without SRS",
        Duration::from_secs(20),
        || {
            let r = http(
                "GET",
                &live_url(&rws, "agent1", "?monitor=0"),
                &[basic("admin", "adminpw")],
                None,
            );
            (r.status != 200 && r.status != 0).then_some(r)
        },
    );
    assert_envelope(&r, 409, "a preview of an agent whose SRS died");
}
