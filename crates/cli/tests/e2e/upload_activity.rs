//! A PATCH's bookkeeping is one write transaction: the upload's offset and
//! segments and the recording's `last_activity` (which the orphan sweep
//! reads) are written together (`store::media::append_and_touch`). This
//! checks, with real RWS and SRS processes on the selected backend, that
//! the activity still moves with the uploads: a call twice as long as
//! `--orphan-after` keeps recording while SRS uploads and ends
//! `completed`. (That silence still ends a recording is
//! `recording::srs_gone_for_good_ends_partial_after_the_orphan_timeout_…`;
//! that a failed PATCH is no activity, the store's unit test.)

use std::time::{Duration, Instant};

use crate::fixture::{Rws, Srs};
use crate::util::{tempdir, wait_for};

/// The shortest `--orphan-after` RWS accepts.
const ORPHAN_AFTER: Duration = Duration::from_secs(10);

fn state(rws: &Rws, call: &str) -> Option<String> {
    let v = rws.recording_as(("sup", "suppw"), call)?;
    Some(v["screenRecordings"][0]["state"].as_str()?.to_string())
}

#[test]
fn uploads_keep_a_call_alive_past_twice_the_orphan_timeout() {
    let dir = tempdir();
    let rws = Rws::start_with(dir.path(), "rws", &["--orphan-after", "10s"]);
    let _srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    rws.call_event("a1", "recording.started", "call-long", "1001");
    wait_for("the recording to run", Duration::from_secs(20), || {
        (state(&rws, "call-long").as_deref() == Some("recording")).then_some(())
    });
    // Two orphan timeouts of uploading: still recording at every look.
    let from = Instant::now();
    while from.elapsed() < 2 * ORPHAN_AFTER {
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
