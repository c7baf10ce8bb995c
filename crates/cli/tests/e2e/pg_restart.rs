//! Issue 11, "a PostgreSQL restart mid-call": RWS on PostgreSQL (and S3)
//! with a real SRS recording a call; the PostgreSQL server is stopped and
//! started again on the same port while the call goes on. RWS's `/readyz`
//! says the database is down while it is, the pool replaces its dead
//! connections, and the recording ends `completed` and plays.

use std::time::Duration;

use crate::backends::{PgServer, S3Server};
use crate::fixture::{Rws, Srs, http, metric};
use crate::pg_s3::wait_final;
use crate::util::{duration, tempdir, wait_for};

/// `GET /readyz`: its status and body.
fn readyz(rws: &Rws) -> (u16, serde_json::Value) {
    let r = http("GET", &format!("{}/readyz", rws.url), &[], None);
    (r.status, r.json())
}

fn frames(srs: &Srs) -> f64 {
    metric(&srs.metrics(), "screenrec_srs_frames_total")
}

#[test]
fn postgresql_restart_mid_call_the_recording_completes() {
    let dir = tempdir();
    // A server of its own: the shared one must not go down under other tests.
    let pg = PgServer::start();
    let database = pg.url(&pg.create_database());
    let s3 = S3Server::shared();
    let storage = format!("s3://{}/media", s3.create_bucket());
    let rws = Rws::start_with_env(
        dir.path(),
        "rws",
        &["--database", &database, "--storage", &storage],
        &s3.env(),
    );
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    assert_eq!(readyz(&rws).0, 200);

    rws.call_event("s1", "call.established", "call-pg", "1001");
    rws.call_event("s2", "recording.started", "call-pg", "1001");
    wait_for("SRS to encode 20 frames", Duration::from_secs(30), || {
        (frames(&srs) >= 20.0).then_some(())
    });

    pg.stop();
    // While PostgreSQL is down, readiness names the database (and only it).
    let (status, body) = wait_for(
        "/readyz to say the database is down",
        Duration::from_secs(20),
        || {
            let (status, body) = readyz(&rws);
            (status == 503).then_some((status, body))
        },
    );
    assert_eq!(status, 503);
    assert_eq!(body["database"], "unreachable", "{body}");
    assert_eq!(body["storage"], "ok", "{body}");
    // SRS records on into its spool meanwhile.
    let during = frames(&srs);
    wait_for(
        "SRS to go on recording while the database is down",
        Duration::from_secs(30),
        || (frames(&srs) >= during + 10.0).then_some(()),
    );

    pg.start_again();
    wait_for(
        "/readyz to be ready again after the restart",
        Duration::from_secs(30),
        || (readyz(&rws).0 == 200).then_some(()),
    );
    // More of the call after the restart, uploaded over new connections.
    let after = frames(&srs);
    wait_for(
        "SRS to encode 20 more frames",
        Duration::from_secs(30),
        || (frames(&srs) >= after + 20.0).then_some(()),
    );
    rws.call_event("s3", "call.released", "call-pg", "1001");

    let r = wait_final(&rws, "call-pg");
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    let mp4 = dir.path().join("pg-restart.mp4");
    rws.play_h264(&r["mediaFiles"][0], &mp4, (160, 120));
    // The whole call is there: recorded before, during and after the
    // outage (SRS encodes at several frames a second).
    let seconds = duration(&mp4);
    assert!(seconds > 1.0, "{seconds} s played");
    drop(srs);
}
