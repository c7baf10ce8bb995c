//! Issue 12: the recording events stream (`GET /api/v2/recordings/events`)
//! is resumable. Each event's SSE `id:` is its place in the event log; a
//! client reconnecting with `Last-Event-ID` gets the events it missed, in
//! order, still filtered by the viewer's groups, then the live ones. On
//! whichever backend `SCREENREC_TEST_BACKEND` chose (on PostgreSQL a node
//! hears its own events back through NOTIFY); across nodes in
//! `cluster.rs`. Hostile: another group's supervisor never gets another
//! group's events in a replay; a forged `Last-Event-ID` is a 400 envelope,
//! a huge one replays nothing and the stream still goes on.

use std::time::Duration;

use crate::fixture::{Rws, Srs, TWO_GROUPS, basic, http, write_directory};
use crate::util::{Sse, sse_from, tempdir, wait_for};

const ADMIN: (&str, &str) = ("admin", "adminpw");

/// One `recording` event of a stream: `(id, call_id, agent)`.
pub type Seen = (i64, String, String);

/// The `recording` events read so far, in order.
pub fn seen(stream: &Sse) -> Vec<Seen> {
    stream
        .text()
        .split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<i64>().ok();
                }
                if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str::<serde_json::Value>(v.trim()).ok();
                }
            }
            let data = data?;
            let s = |k: &str| data[k].as_str().unwrap_or("").to_string();
            Some((id?, s("call_id"), s("agent")))
        })
        .collect()
}

/// Waits until the stream has an event of `call`; returns all read so far.
pub fn wait_call(stream: &Sse, call: &str) -> Vec<Seen> {
    wait_for(
        &format!("an event of {call}"),
        Duration::from_secs(20),
        || {
            let s = seen(stream);
            s.iter().any(|e| e.1 == call).then_some(s)
        },
    )
}

/// The calls of a stream's events, in order.
pub fn calls(events: &[Seen]) -> Vec<&str> {
    events.iter().map(|e| e.1.as_str()).collect()
}

/// Ids strictly increasing.
pub fn assert_increasing(events: &[Seen]) {
    assert!(
        events.windows(2).all(|w| w[0].0 < w[1].0),
        "ids not increasing: {events:?}"
    );
}

/// A recording RWS makes at once (no SRS on the DN: it is created
/// `failed`, for no agent): one state change, one event.
pub fn one_event(rws: &Rws, call: &str, dn: &str) {
    rws.call_event(&format!("{call}-e"), "call.established", call, dn);
    rws.call_event(&format!("{call}-s"), "recording.started", call, dn);
}

/// Ends call `call` (its recording goes on to `finalizing` and so on): the
/// agent's next call gets a recording of its own rather than joining it.
pub fn end(rws: &Rws, call: &str, dn: &str) {
    rws.call_event(&format!("{call}-r"), "call.released", call, dn);
}

/// The first event of `call` in `events` (its id).
pub fn first_of(events: &[Seen], call: &str) -> i64 {
    events.iter().find(|e| e.1 == call).unwrap().0
}

/// The events with `after < id <= upto`, of `agent` when given.
pub fn window(events: &[Seen], after: i64, upto: i64, agent: Option<&str>) -> Vec<Seen> {
    events
        .iter()
        .filter(|e| e.0 > after && e.0 <= upto && agent.is_none_or(|a| e.2 == a))
        .cloned()
        .collect()
}

/// Waits until the stream has read an event with an id of at least `id`
/// (so, being in id order without gaps, every earlier one too).
pub fn wait_id(stream: &Sse, id: i64) -> Vec<Seen> {
    wait_for(&format!("event {id}"), Duration::from_secs(20), || {
        let s = seen(stream);
        s.iter().any(|e| e.0 >= id).then_some(s)
    })
}

/// Agents with a real SRS each (synthetic screen): their calls' events
/// carry the agent, so group visibility applies. Recordings go on changing
/// state in the background, so the assertions compare windows of ids, not
/// counts: an SSE stream is in id order without gaps, so once it has read
/// id M it has read everything it may see up to M.
#[test]
fn a_reconnect_with_last_event_id_gets_what_it_missed_in_order_within_its_groups() {
    let dir = tempdir();
    write_directory(dir.path(), TWO_GROUPS);
    let rws = Rws::start(dir.path(), "rws");
    let _a = Srs::start_agent(dir.path(), "srs-a", &rws.url, ("agent1", "pw1"));
    let _b = Srs::start_agent(dir.path(), "srs-b", &rws.url, ("agent2", "pw2"));
    let admin = sse_from(&rws.url, ADMIN, None);
    one_event(&rws, "r-1", "1001");
    let id1 = first_of(&wait_call(&admin, "r-1"), "r-1");
    end(&rws, "r-1", "1001");
    // Missed by whoever was disconnected after r-1's first event.
    one_event(&rws, "r-2", "1001");
    one_event(&rws, "r-3", "1002");
    wait_call(&admin, "r-2");
    wait_call(&admin, "r-3");

    // supa (team_a: agent1) reconnects after it: agent1's events replayed,
    // never agent2's; then live ones, again agent1's only.
    let supa = sse_from(&rws.url, ("supa", "pwa"), Some(&id1.to_string()));
    wait_call(&supa, "r-2");
    end(&rws, "r-3", "1002");
    one_event(&rws, "r-4", "1002");
    end(&rws, "r-2", "1001");
    one_event(&rws, "r-5", "1001");
    let m = first_of(&wait_call(&supa, "r-5"), "r-5");
    let live = wait_id(&admin, m);
    let got = window(&seen(&supa), i64::MIN, m, None);
    assert_eq!(got, window(&live, id1, m, Some("agent1")), "{live:?}");
    for call in ["r-2", "r-5"] {
        assert!(got.iter().any(|e| e.1 == call), "{call}: {got:?}");
    }
    assert!(seen(&supa).iter().all(|e| e.2 == "agent1"), "{got:?}");
    assert_increasing(&seen(&supa));
    assert_increasing(&live);
    assert!(live.iter().any(|e| e.1 == "r-4" && e.2 == "agent2"));

    // The admin reconnecting after id1 gets everything since, with the ids
    // the live stream had.
    let again = sse_from(&rws.url, ADMIN, Some(&id1.to_string()));
    let replayed = wait_id(&again, m);
    assert_eq!(
        window(&replayed, i64::MIN, m, None),
        window(&live, id1, m, None)
    );

    // supb (team_b: agent2) from the start of the log: agent2's only.
    let supb = sse_from(&rws.url, ("supb", "pwb"), Some("0"));
    let m4 = first_of(&wait_call(&supb, "r-4"), "r-4");
    let got = window(&seen(&supb), i64::MIN, m4, None);
    assert_eq!(got, window(&live, 0, m4, Some("agent2")));
    assert!(got.iter().any(|e| e.1 == "r-3"), "{got:?}");
    assert!(seen(&supb).iter().all(|e| e.2 == "agent2"));
}

#[test]
fn hostile_a_forged_last_event_id_is_refused_and_a_huge_one_replays_nothing() {
    let dir = tempdir();
    write_directory(dir.path(), TWO_GROUPS);
    let rws = Rws::start(dir.path(), "rws");
    one_event(&rws, "h-1", "1001");
    let admin = sse_from(&rws.url, ADMIN, None);
    one_event(&rws, "h-2", "1001");
    wait_call(&admin, "h-2");
    let url = format!("{}/api/v2/recordings/events", rws.url);
    for forged in [
        "abc",
        "-1",
        "1e3",
        "0x10",
        " ",
        "99999999999999999999",
        "9223372036854775808",
        "1234567890123456789",
        "1,2",
        "c0ffee00-0000-4000-8000-000000000000",
    ] {
        let r = http(
            "GET",
            &url,
            &[
                basic(ADMIN.0, ADMIN.1),
                ("Last-Event-ID".into(), forged.into()),
            ],
            None,
        );
        assert_eq!(r.status, 400, "{forged:?}: {}", r.text);
        let body = r.json();
        assert_eq!(body["statusCode"], 10, "{forged:?}: {body}");
        assert!(
            body["statusMessage"]
                .as_str()
                .unwrap()
                .contains("Last-Event-ID"),
            "{body}"
        );
    }
    // Not even a stream for an agent, whatever the id.
    let r = http(
        "GET",
        &url,
        &[basic("agent1", "pw1"), ("Last-Event-ID".into(), "0".into())],
        None,
    );
    assert_eq!(r.status, 403, "{}", r.text);

    // A well-formed id past the end: nothing replayed, and the stream is
    // not silenced: the next event arrives.
    let huge = sse_from(&rws.url, ADMIN, Some("999999999999999999"));
    one_event(&rws, "h-3", "1001");
    let got = wait_call(&huge, "h-3");
    assert_eq!(calls(&got), ["h-3"], "{got:?}");
}
