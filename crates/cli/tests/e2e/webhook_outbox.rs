//! Issue 12 part 3: webhooks from the durable outbox. A webhook receiver
//! written here ([`Hook`]) records every request (the `screenrec-event-id`
//! header, the body, what it answered) and can hold one delivery open
//! (to kill the delivering RWS in the middle of it) or answer with a
//! redirect. These tests run on one node (SQLite, or whatever
//! `SCREENREC_TEST_BACKEND` picks); the cluster ones are in `cluster.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fixture::Rws;
use crate::util::{tempdir, wait_for};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The `screenrec-event-id` header.
    pub header_id: String,
    /// The body.
    pub body: Value,
    /// What the receiver answered: 0 while held (never answered).
    pub answered: u16,
    /// A held delivery whose sender closed the connection (it died).
    pub cut: bool,
}

/// What the receiver does with a request.
#[derive(Clone)]
pub enum Behaviour {
    /// Answers 204.
    Accept,
    /// Holds the first request whose body matches (never answers it; notes
    /// when the sender goes away), answers 204 to every other.
    HoldFirst(fn(&Value) -> bool),
    /// Holds every request (a receiver that never answers).
    HoldAll,
    /// Answers `307` to this location.
    Redirect(String),
}

/// A webhook receiver on 127.0.0.1.
pub struct Hook {
    pub url: String,
    pub got: Arc<Mutex<Vec<Delivery>>>,
}

impl Hook {
    pub fn start(behaviour: Behaviour) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(Mutex::new(false));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (sink, held, behaviour) = (sink.clone(), held.clone(), behaviour.clone());
                std::thread::spawn(move || serve(stream, &sink, &held, &behaviour));
            }
        });
        Hook { url, got }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, sink: &Mutex<Vec<Delivery>>, held: &Mutex<bool>, b: &Behaviour) {
    let mut reader = BufReader::new(stream);
    let (mut len, mut header_id) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("screenrec-event-id:") {
            header_id = v.trim().to_string();
        }
    }
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let hold = match b {
        Behaviour::HoldFirst(matches) => {
            let mut h = held.lock().unwrap();
            let hold = !*h && matches(&body);
            *h |= hold;
            hold
        }
        Behaviour::HoldAll => true,
        _ => false,
    };
    let answer: u16 = match (b, hold) {
        (_, true) => 0,
        (Behaviour::Redirect(_), _) => 307,
        _ => 204,
    };
    let index = {
        let mut s = sink.lock().unwrap();
        s.push(Delivery {
            header_id,
            body,
            answered: answer,
            cut: false,
        });
        s.len() - 1
    };
    let stream = reader.get_mut();
    if hold {
        // Never answers: waits for the sender to go away (EOF or reset).
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 256];
        while start.elapsed() < Duration::from_secs(120) {
            match stream.read(&mut buf) {
                Ok(0) => {
                    sink.lock().unwrap()[index].cut = true;
                    return;
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    sink.lock().unwrap()[index].cut = true;
                    return;
                }
            }
        }
        return;
    }
    let head = match b {
        Behaviour::Redirect(to) => format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        _ => "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let _ = stream.write_all(head.as_bytes());
}

/// Every request for one event id carries the same body, and the header
/// names the body's `event_id` (receivers de-duplicate by it).
pub fn assert_consistent(deliveries: &[Delivery]) {
    for d in deliveries {
        assert_eq!(
            d.body["event_id"].as_str().unwrap_or("<none>"),
            d.header_id,
            "the event id header names the body's event: {d:?}"
        );
        for e in deliveries.iter().filter(|e| e.header_id == d.header_id) {
            assert_eq!(e.body, d.body, "one event id, two bodies");
        }
    }
}

/// A recording RWS makes at once: `recording.started` for an agent with no
/// SRS session ends `failed` (one state change, one event).
fn failed_recording(rws: &Rws, call: &str) {
    rws.call_event(&format!("{call}-e"), "call.established", call, "1001");
    rws.call_event(&format!("{call}-s"), "recording.started", call, "1001");
}

/// The outbox is durable: RWS killed (-9) in the middle of a delivery
/// delivers the same event again, with the same id, once started again.
#[test]
fn a_delivery_cut_by_kill_9_is_delivered_again_after_the_restart() {
    let dir = tempdir();
    let hook = Hook::start(Behaviour::HoldFirst(|b| b["state"] == "failed"));
    let mut rws = Rws::start_with(dir.path(), "rws", &["--webhook", &hook.url]);
    failed_recording(&rws, "call-held");
    let held = wait_for("the delivery to be held", Duration::from_secs(15), || {
        hook.deliveries().into_iter().find(|d| d.answered == 0)
    });
    assert_eq!(held.body["call_id"], "call-held", "{held:?}");
    rws.kill();
    wait_for(
        "the held delivery's connection to be cut by the kill",
        Duration::from_secs(10),
        || hook.deliveries().iter().any(|d| d.cut).then_some(()),
    );
    rws.start_again("rws");
    let again = wait_for(
        "the event to be delivered again after the restart (once its claim ran out)",
        Duration::from_secs(40),
        || {
            hook.deliveries()
                .into_iter()
                .find(|d| d.answered == 204 && d.header_id == held.header_id)
        },
    );
    assert_eq!(again.body, held.body);
    let all = hook.deliveries();
    assert_consistent(&all);
    // Delivered once it was answered: no further copies arrive.
    let accepted = |all: &[Delivery]| {
        all.iter()
            .filter(|d| d.header_id == held.header_id && d.answered == 204)
            .count()
    };
    assert_eq!(accepted(&all), 1, "{all:#?}");
    // The next event goes out at once (the job is not stuck on the old one).
    failed_recording(&rws, "call-next");
    wait_for("the next event", Duration::from_secs(10), || {
        hook.deliveries()
            .iter()
            .any(|d| d.body["call_id"] == "call-next" && d.answered == 204)
            .then_some(())
    });
    assert_eq!(accepted(&hook.deliveries()), 1, "{:#?}", hook.deliveries());
}

/// Hostile receiver: a redirect is not followed (it could point the event
/// at any address RWS reaches) and counts as a failure, so the delivery is
/// retried at the receiver itself.
#[test]
fn hostile_a_webhook_redirect_is_not_followed_and_the_delivery_is_retried() {
    let dir = tempdir();
    let elsewhere = Hook::start(Behaviour::Accept);
    let hook = Hook::start(Behaviour::Redirect(elsewhere.url.clone()));
    let rws = Rws::start_with(dir.path(), "rws", &["--webhook", &hook.url]);
    failed_recording(&rws, "call-redirect");
    let tries = wait_for(
        "two attempts at the receiver",
        Duration::from_secs(15),
        || {
            let d = hook.deliveries();
            (d.len() >= 2).then_some(d)
        },
    );
    assert_consistent(&tries);
    assert_eq!(tries[0].header_id, tries[1].header_id, "{tries:#?}");
    assert!(
        elsewhere.deliveries().is_empty(),
        "the redirect was followed: {:#?}",
        elsewhere.deliveries()
    );
    drop(rws);
}

/// Hostile receiver: one that never answers holds its own attempts (each
/// ends at the 10 s timeout), not another receiver's deliveries: every
/// event reaches the healthy receiver within seconds.
#[test]
fn hostile_a_receiver_that_never_answers_does_not_hold_back_another() {
    let dir = tempdir();
    let stuck = Hook::start(Behaviour::HoldAll);
    let healthy = Hook::start(Behaviour::Accept);
    let rws = Rws::start_with(
        dir.path(),
        "rws",
        &["--webhook", &stuck.url, "--webhook", &healthy.url],
    );
    for i in 0..4 {
        let call = format!("call-stuck-{i}");
        failed_recording(&rws, &call);
        wait_for(
            &format!("{call} at the healthy receiver"),
            Duration::from_secs(4),
            || {
                healthy
                    .deliveries()
                    .iter()
                    .any(|d| d.body["call_id"] == call.as_str() && d.answered == 204)
                    .then_some(())
            },
        );
    }
    // The stuck receiver got every event too (and retries, once attempts
    // time out), never answering.
    wait_for(
        "every event at the stuck receiver",
        Duration::from_secs(5),
        || {
            let ids: std::collections::BTreeSet<String> = stuck
                .deliveries()
                .into_iter()
                .map(|d| d.header_id)
                .collect();
            (ids.len() == 4).then_some(())
        },
    );
    assert!(stuck.deliveries().iter().all(|d| d.answered == 0));
    assert_consistent(&healthy.deliveries());
    drop(rws);
}
