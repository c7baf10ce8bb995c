//! Issue 11, upload staging in the media store: an upload in progress
//! lives in the store (`staging/<media>/<offset>` objects) and the
//! database, never on a node's local disk, so an RWS `kill -9`ed mid-upload
//! is replaced by a fresh RWS with an empty data dir (same database, same
//! store) and the recording completes and plays; media still uploading
//! plays from its parts; staging files left on local disk by an earlier
//! RWS are moved into the store at start and finish.
//!
//! The store is the real S3 server (moto) with `SCREENREC_TEST_BACKEND=s3`
//! or `postgres-s3`, a local folder otherwise; the database is PostgreSQL
//! with `postgres-s3`, else a SQLite file outside both data dirs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::backends::S3Server;
use crate::fixture::{Rws, Srs};
use crate::util::{duration, tempdir, wait_for};

/// The key both nodes share (a fresh data dir has no `master.key`).
const MASTER_KEY: &str = "5ea1ed0f5ea1ed0f5ea1ed0f5ea1ed0f5ea1ed0f5ea1ed0f5ea1ed0f5ea1ed0f";

/// Where the staged parts are, seen from outside RWS.
enum Store {
    Folder(PathBuf),
    Bucket(&'static S3Server, String),
}

impl Store {
    /// The `staging/…` keys under the store's root.
    fn staged(&self) -> Vec<String> {
        match self {
            Store::Folder(root) => {
                let mut out = Vec::new();
                let staging = root.join("staging");
                for media in std::fs::read_dir(&staging).into_iter().flatten().flatten() {
                    for part in std::fs::read_dir(media.path())
                        .into_iter()
                        .flatten()
                        .flatten()
                    {
                        let name = part.file_name().to_string_lossy().into_owned();
                        // object_store's half-written files hold a '#'.
                        if !name.contains('#') {
                            out.push(format!(
                                "staging/{}/{name}",
                                media.file_name().to_string_lossy()
                            ));
                        }
                    }
                }
                out.sort();
                out
            }
            Store::Bucket(s3, bucket) => s3
                .list(bucket, "media/staging/")
                .into_iter()
                .filter_map(|k| k.strip_prefix("media/").map(str::to_string))
                .collect(),
        }
    }
}

/// RWS flags and environment for a database and store outside the data
/// dir, per `SCREENREC_TEST_BACKEND` (PostgreSQL is added by the fixture).
fn shared_backend(dir: &Path, force_folder: bool) -> (Vec<String>, Vec<(String, String)>, Store) {
    let backend = std::env::var("SCREENREC_TEST_BACKEND").unwrap_or_default();
    let mut args = Vec::new();
    let mut env = vec![("SCREENREC_MASTER_KEY".to_string(), MASTER_KEY.to_string())];
    if !backend.contains("postgres") {
        let db = dir.join("shared-db").join("rws.sqlite");
        args.extend([
            "--database".to_string(),
            format!("sqlite://{}", db.display()),
        ]);
    }
    let store = if backend.contains("s3") && !force_folder {
        let s3 = S3Server::shared();
        let bucket = s3.create_bucket();
        args.extend(["--storage".to_string(), format!("s3://{bucket}/media")]);
        env.extend(s3.env());
        Store::Bucket(s3, bucket)
    } else {
        let root = dir.join("store");
        args.extend([
            "--storage".to_string(),
            format!("file://{}", root.display()),
        ]);
        Store::Folder(root)
    };
    (args, env, store)
}

fn resource(rws: &Rws, call: &str) -> Option<Value> {
    rws.recording_as(("sup", "suppw"), call)
}

/// The call's one media file once it holds more than `more_than` plaintext
/// bytes and at least a second of video, and is not stored yet
/// (acknowledged PATCHes, still uploading).
fn wait_staged(rws: &Rws, call: &str, more_than: u64) -> Value {
    wait_for(
        &format!("media of {call} staged past {more_than} bytes"),
        Duration::from_secs(40),
        || {
            let r = resource(rws, call)?;
            let m = r["mediaFiles"].get(0)?.clone();
            let size: u64 = m["size"].as_str()?.parse().ok()?;
            let ms: u64 = m["duration"].as_str()?.parse().ok()?;
            (m["parameters"]["stored"] == false && size > more_than && ms >= 1000).then_some(m)
        },
    )
}

fn wait_final(rws: &Rws, call: &str) -> Value {
    wait_for(
        &format!("the recording of {call} to be final"),
        Duration::from_secs(40),
        || {
            let r = resource(rws, call)?;
            let state = r["screenRecordings"].get(0)?["state"].as_str()?.to_string();
            ["completed", "partial", "failed"]
                .contains(&state.as_str())
                .then_some(r)
        },
    )
}

fn size(media: &Value) -> u64 {
    media["size"].as_str().unwrap().parse().unwrap()
}

/// A node `kill -9`ed mid-upload; a fresh node (empty data dir, the old
/// one deleted) on the same database and store takes the upload on: SRS
/// resumes from the committed offset, the recording completes and plays.
/// Media still uploading plays from its staged parts on both nodes.
#[test]
fn an_upload_resumes_on_a_fresh_rws_with_an_empty_data_dir_and_plays() {
    let dir = tempdir();
    let (args, env, store) = shared_backend(dir.path(), false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut rws = Rws::start_with_env(dir.path(), "node-a", &args, &env);
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    rws.call_event("f1", "call.established", "call-fresh", "1001");
    rws.call_event("f2", "recording.started", "call-fresh", "1001");

    let before = wait_staged(&rws, "call-fresh", 0);
    let media_id = before["mediaId"].as_str().unwrap().to_string();
    // Playback while staged: read from the parts in the store.
    rws.play_media(&before, &dir.path().join("staged-a.mp4"));
    let staged = store.staged();
    assert!(
        !staged.is_empty()
            && staged
                .iter()
                .all(|k| k.starts_with(&format!("staging/{media_id}/"))),
        "the acknowledged PATCHes are parts in the store: {staged:?}"
    );
    assert!(
        !dir.path().join("node-a").join("uploads").exists(),
        "nothing staged on the node's disk"
    );

    rws.kill();
    std::fs::remove_dir_all(dir.path().join("node-a")).unwrap();
    rws.start_fresh("node-b");

    // SRS resumes on node B (HEAD answers the committed offset), and
    // node B plays what node A acknowledged plus what it took itself.
    let later = wait_staged(&rws, "call-fresh", size(&before));
    rws.play_media(&later, &dir.path().join("staged-b.mp4"));

    rws.call_event("f3", "call.released", "call-fresh", "1001");
    let r = wait_final(&rws, "call-fresh");
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    let media = &r["mediaFiles"][0];
    assert_eq!(media["mediaId"], media_id.as_str());
    assert_eq!(media["parameters"]["stored"], true);
    let out = dir.path().join("fresh.mp4");
    rws.play_media(media, &out);
    assert!(duration(&out) >= 1.0, "{} s", duration(&out));
    assert!(
        store.staged().is_empty(),
        "stored media leaves no parts: {:?}",
        store.staged()
    );
    assert!(!dir.path().join("node-b").join("uploads").exists());
    drop(srs);
}

/// An RWS upgraded mid-upload finds the previous version's staging file
/// (`<data-dir>/uploads/<media>`, possibly longer than the committed
/// offset: a PATCH that failed half-way); it moves the committed bytes into
/// the store at start, removes the file, and the upload finishes.
#[test]
fn a_staging_file_of_an_earlier_rws_is_moved_into_the_store_and_finishes() {
    let dir = tempdir();
    // A local store, whatever the backend: the test rewrites its files
    // into the earlier layout.
    let (args, env, store) = shared_backend(dir.path(), true);
    let Store::Folder(root) = &store else {
        unreachable!("a folder store was asked for")
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut rws = Rws::start_with_env(dir.path(), "rws", &args, &env);
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    rws.call_event("l1", "call.established", "call-legacy", "1001");
    rws.call_event("l2", "recording.started", "call-legacy", "1001");
    let media = wait_staged(&rws, "call-legacy", 0);
    let media_id = media["mediaId"].as_str().unwrap().to_string();
    rws.kill();

    // The earlier layout: one file of the bytes in offset order, plus
    // bytes of a PATCH that failed half-way; no parts in the store.
    let parts_dir = root.join("staging").join(&media_id);
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&parts_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.to_string_lossy().contains('#'))
        .collect();
    parts.sort();
    let mut legacy = Vec::new();
    for p in &parts {
        legacy.extend(std::fs::read(p).unwrap());
    }
    legacy.extend_from_slice(b"half-written PATCH, never acknowledged");
    std::fs::remove_dir_all(root.join("staging")).unwrap();
    let uploads = dir.path().join("rws").join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join(&media_id), &legacy).unwrap();

    rws.start_again("rws");
    assert!(
        rws.proc
            .output()
            .contains("staging file of an earlier RWS moved into the media store"),
        "{}",
        rws.proc.output()
    );
    assert!(
        !uploads.join(&media_id).exists(),
        "the staging file is removed once in the store"
    );
    assert!(
        store
            .staged()
            .contains(&format!("staging/{media_id}/{:020}", 0)),
        "{:?}",
        store.staged()
    );

    let later = wait_staged(&rws, "call-legacy", size(&media));
    rws.play_media(&later, &dir.path().join("legacy-staged.mp4"));
    rws.call_event("l3", "call.released", "call-legacy", "1001");
    let r = wait_final(&rws, "call-legacy");
    assert_eq!(r["screenRecordings"][0]["state"], "completed", "{r:#}");
    let out = dir.path().join("legacy.mp4");
    rws.play_media(&r["mediaFiles"][0], &out);
    assert!(duration(&out) >= 1.0, "{} s", duration(&out));
    assert!(store.staged().is_empty(), "{:?}", store.staged());
    drop(srs);
}
