//! End-to-end tests: real `screenrec` processes on loopback ports, a real
//! SQLite file, real Xvfb displays, ffprobe as an independent decoder.
//!
//! One test binary (faster to link than one per file); one module per area.
//! Shared helpers are in [`util`].

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

mod util;

/// The Xvfb helper itself works: a display number comes back and xdpyinfo sees the screen.
#[test]
fn xvfb_helper_starts_a_display() {
    let dir = util::tempdir();
    let x = util::Xvfb::start(dir.path(), 640, 480);
    let info = x.run("xdpyinfo", &[]);
    assert!(info.contains("640x480 pixels"), "{info}");
}
mod agent_notice;
mod app_lane;
mod app_lane_live;
mod backends;
mod browser_session;
mod cluster;
mod compliance;
mod console_polish;
mod control_channel;
mod evidence_export;
mod fixture;
mod hostile_agent;
mod hostile_page;
mod hostile_stranger;
mod hostile_web;
mod key_custody;
mod lighter;
mod live_view;
mod live_view_bounds;
mod loadgen;
mod masking;
mod masking_rws;
mod metrics;
mod openapi;
mod ops;
mod pg_restart;
mod pg_s3;
mod rbac;
mod record;
mod recording;
mod restart;
mod rws_directory;
mod rws_events;
mod rws_keys;
mod sealing_sweep;
mod segments_upgrade;
mod spool;
mod srs_conformance;
mod sse_resume;
mod upload_activity;
mod upload_rate_rws;
mod upload_staging;
mod webhook_outbox;
