//! A PATCH's bookkeeping is one write transaction: the upload's offset and
//! segments and the recording's `last_activity` (which the orphan sweep
//! reads) are written together (`store::media::append`). This
//! checks, with real RWS and SRS processes on the selected backend, that
//! the activity still moves with the uploads: a call longer than
//! `--orphan-after` plus an orphan sweep keeps recording while SRS uploads
//! and ends `completed` (with the activity's UPDATE made a no-op, it
//! went `partial` 30 s into the call: checked once by hand). (That silence still ends a recording is
//! `recording::srs_gone_for_good_ends_partial_after_the_orphan_timeout_…`;
//! that a failed PATCH is no activity, the store's unit test.)

use std::time::{Duration, Instant};

use crate::fixture::{Rws, Srs};
use crate::util::{tempdir, wait_for};

/// The shortest `--orphan-after` RWS accepts.
const ORPHAN_AFTER: Duration = Duration::from_secs(10);
/// How often RWS runs the orphan sweep (every 30th tick of the 1 s
/// `dispatch::sweep`): the call must outlast a sweep that finds its
/// recording idle past `ORPHAN_AFTER` were the activity not moving.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

fn state(rws: &Rws, call: &str) -> Option<String> {
    let v = rws.recording_as(("sup", "suppw"), call)?;
    Some(v["screenRecordings"][0]["state"].as_str()?.to_string())
}

#[test]
fn uploads_keep_a_call_alive_past_the_orphan_timeout_and_a_sweep() {
    let dir = tempdir();
    let rws = Rws::start_with(dir.path(), "rws", &["--orphan-after", "10s"]);
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    rws.call_event("a1", "recording.started", "call-long", "1001");
    wait_for("the recording to run", Duration::from_secs(20), || {
        (state(&rws, "call-long").as_deref() == Some("recording")).then_some(())
    });
    // An orphan timeout and a sweep of uploading: still recording at
    // every look (without the activity, the sweep at most 30 s after RWS
    // started would give it up).
    let from = Instant::now();
    while from.elapsed() < ORPHAN_AFTER + SWEEP_EVERY {
        let s = state(&rws, "call-long");
        assert_eq!(
            s.as_deref(),
            Some("recording"),
            "{:?} into a call whose SRS uploads",
            from.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    rws.call_event("a2", "call.released", "call-long", "1001");
    let end = wait_for("the call to end", Duration::from_secs(30), || {
        state(&rws, "call-long").filter(|s| s != "recording" && s != "finalizing")
    });
    assert_eq!(end, "completed");
}
