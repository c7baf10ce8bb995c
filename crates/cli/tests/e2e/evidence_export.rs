//! Issue 14 part 3: signed evidence export. A real SRS records a call
//! (with a pause) to a real RWS; the export bundle is checked by
//! `screenrec verify` (a fresh one passes; a flipped media byte, a deleted
//! event and a swapped key are each refused with a message naming them),
//! by an independent zip reader (Python's `zipfile`, CRCs included) and by
//! ffprobe (the MP4 inside decodes). Hostile: other groups, agents, no
//! credentials, unknown ids, a recording still running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixture::{Rws, Srs, TWO_GROUPS, basic, get_as, http, write_directory};
use crate::util::{bin, decodes_cleanly, tempdir, wait_for};

const ADMIN: (&str, &str) = ("admin", "adminpw");

fn voice(rws: &Rws, id: &str, kind: &str, call: &str) {
    rws.call_event(id, kind, call, "1001");
}

fn resource(rws: &Rws, call: &str) -> Value {
    rws.recording_as(ADMIN, call).unwrap_or(Value::Null)
}

fn wait_state(rws: &Rws, call: &str, state: &str) {
    wait_for(&format!("{call} {state}"), Duration::from_secs(20), || {
        (resource(rws, call)["screenRecordings"][0]["state"] == state).then_some(())
    });
}

/// Media time uploaded so far (ms), the longest media file.
fn media_ms(rws: &Rws, call: &str) -> u64 {
    resource(rws, call)["mediaFiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["duration"].as_str()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Waits until `ms` more media time than now has been uploaded: the
/// recording advances by what RWS received, not by a sleep.
fn wait_media(rws: &Rws, call: &str, ms: u64) {
    let from = media_ms(rws, call);
    wait_for(
        &format!("{call} +{ms} ms of media"),
        Duration::from_secs(30),
        || (media_ms(rws, call) >= from + ms).then_some(()),
    );
}

fn verify(bundle: &Path, key: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("verify").arg(bundle);
    if let Some(k) = key {
        cmd.arg("--key").arg(k);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The bundle's entries, read with our reader (names and bytes).
fn entries(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    let mut r = ::evidence::zip::ZipReader::new(std::fs::File::open(bundle).unwrap()).unwrap();
    let list = r.entries().to_vec();
    list.into_iter()
        .map(|e| {
            let bytes = r.read_range(&e, 0, e.size).unwrap();
            (e.name, bytes)
        })
        .collect()
}

/// A new bundle with the same entries, `change` applied to them.
fn rewrite(bundle: &Path, out: &Path, change: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> PathBuf {
    let mut w = ::evidence::zip::ZipWriter::new();
    let mut bytes = Vec::new();
    for (name, data) in entries(bundle) {
        let data = change(&name, data);
        bytes.extend(w.entry(&name, &data).unwrap());
    }
    bytes.extend(w.finish().unwrap());
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

fn start(dir: &Path) -> (Rws, Srs) {
    write_directory(dir, TWO_GROUPS);
    let rws = Rws::start(dir, "rws");
    let srs = Srs::start_agent(dir, "srs-a", &rws.url, ("agent1", "pw1"));
    (rws, srs)
}

/// Records call `call` with a pause in the middle, until completed.
fn record_with_pause(rws: &Rws, call: &str) {
    voice(rws, &format!("{call}-1"), "recording.started", call);
    wait_state(rws, call, "recording");
    wait_media(rws, call, 1000);
    voice(rws, &format!("{call}-2"), "recording.paused", call);
    wait_state(rws, call, "paused");
    wait_media(rws, call, 1000);
    voice(rws, &format!("{call}-3"), "recording.resumed", call);
    wait_state(rws, call, "recording");
    wait_media(rws, call, 1000);
    voice(rws, &format!("{call}-4"), "call.released", call);
    wait_state(rws, call, "completed");
}

fn export(rws: &Rws, who: (&str, &str), call: &str) -> crate::fixture::Response {
    get_as(rws, who, &format!("/api/v2/recordings/{call}/export"))
}

#[test]
fn a_fresh_export_verifies_and_each_tampering_is_named() {
    let dir = tempdir();
    let (rws, _srs) = start(dir.path());
    record_with_pause(&rws, "ev-call");

    // The public key, as an auditor gets it.
    let key = get_as(&rws, ADMIN, "/api/v2/keys/signing");
    assert_eq!(key.status, 200, "{}", key.text);
    let key = key.json();
    assert_eq!(key["algorithm"], "ed25519");
    let pem = dir.path().join("tenant.pem");
    std::fs::write(&pem, key["pem"].as_str().unwrap()).unwrap();
    let b64 = dir.path().join("tenant.b64");
    std::fs::write(&b64, key["public_key"].as_str().unwrap()).unwrap();

    let r = export(&rws, ADMIN, "ev-call");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.contains("ev-call") && d.contains("evidence.zip")),
        "{:?}",
        r.headers
    );
    let bundle = dir.path().join("bundle.zip");
    std::fs::write(&bundle, &r.bytes).unwrap();

    // A fresh export verifies, with the key as PEM and as base64.
    for k in [&pem, &b64] {
        let (ok, out) = verify(&bundle, Some(k));
        assert!(ok, "{out}");
        assert!(
            out.starts_with("OK:") && out.contains("(the key given with --key)"),
            "{out}"
        );
    }
    // An independent reader: Python's zipfile lists the entries and checks
    // every CRC; ffprobe decodes the MP4 inside.
    let py = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print('\\n'.join(sorted(z.namelist())))",
        ])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let names = String::from_utf8_lossy(&py.stdout).to_string();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        vec![
            "events.json",
            "manifest.json",
            "manifest.sig",
            "media/stream-0.mp4",
            "signing-key.pem"
        ],
        "{names}"
    );
    let all = entries(&bundle);
    let get = |n: &str| all.iter().find(|(name, _)| name == n).unwrap().1.clone();
    let mp4 = dir.path().join("stream-0.mp4");
    std::fs::write(&mp4, get("media/stream-0.mp4")).unwrap();
    assert!(decodes_cleanly(&mp4), "the exported MP4 decodes");

    // The manifest: the pause is in the metadata, every segment's plaintext
    // hash came from SRS, the events are the call's.
    let manifest: Value = serde_json::from_slice(&get("manifest.json")).unwrap();
    assert_eq!(manifest["format"], "screenrec-evidence/1");
    assert_eq!(manifest["key_id"], key["key_id"]);
    assert_eq!(manifest["recording"]["call_id"], "ev-call");
    assert_eq!(manifest["recording"]["state"], "completed");
    let marks = manifest["recording"]["marks"].as_array().unwrap();
    assert!(marks.iter().any(|m| m["type"] == "paused"), "{marks:?}");
    let segs = manifest["media_files"][0]["segments"].as_array().unwrap();
    assert!(segs.len() >= 2, "{segs:?}");
    assert!(
        segs.iter().all(|s| s["plain_sha256_by"] == "srs"),
        "{segs:?}"
    );
    let events: Vec<Value> = serde_json::from_slice(&get("events.json")).unwrap();
    assert_eq!(manifest["events"]["count"], events.len());
    assert!(events.len() >= 4, "{events:?}");

    // An independent judge of the signature: OpenSSL, with the PEM key
    // from the API, over manifest.json as it is in the zip (docs/compliance.md).
    let man_path = dir.path().join("manifest.json");
    std::fs::write(&man_path, get("manifest.json")).unwrap();
    let sig_path = dir.path().join("manifest.sig.bin");
    let sig = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        String::from_utf8(get("manifest.sig")).unwrap().trim(),
    )
    .unwrap();
    std::fs::write(&sig_path, sig).unwrap();
    let openssl = |key: &Path| {
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(key)
            .arg("-rawin")
            .arg("-in")
            .arg(&man_path)
            .arg("-sigfile")
            .arg(&sig_path)
            .output()
            .unwrap()
    };
    let out = openssl(&pem);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bundled_pem = dir.path().join("bundled.pem");
    std::fs::write(&bundled_pem, get("signing-key.pem")).unwrap();
    assert!(openssl(&bundled_pem).status.success());

    // A second export is the same signed manifest (sealed once).
    let again = export(&rws, ADMIN, "ev-call");
    assert_eq!(again.status, 200);
    std::fs::write(dir.path().join("again.zip"), &again.bytes).unwrap();
    let again = entries(&dir.path().join("again.zip"));
    assert_eq!(
        again.iter().find(|(n, _)| n == "manifest.json").unwrap().1,
        get("manifest.json")
    );

    // One flipped byte in the media: the file, segment and byte range.
    let flipped = rewrite(&bundle, &dir.path().join("flipped.zip"), |name, mut d| {
        if name == "media/stream-0.mp4" {
            let at = d.len() / 2;
            d[at] ^= 0x01;
        }
        d
    });
    let (ok, out) = verify(&flipped, Some(&pem));
    assert!(!ok, "{out}");
    assert!(
        out.contains("media/stream-0.mp4: segment ")
            && out.contains("(bytes ")
            && out.contains("does not match its plaintext SHA-256"),
        "{out}"
    );

    // One event deleted from the timeline.
    let fewer = rewrite(&bundle, &dir.path().join("fewer.zip"), |name, d| {
        if name == "events.json" {
            let mut ev: Vec<Value> = serde_json::from_slice(&d).unwrap();
            ev.remove(1);
            serde_json::to_vec(&ev).unwrap()
        } else {
            d
        }
    });
    let (ok, out) = verify(&fewer, Some(&pem));
    assert!(!ok, "{out}");
    assert!(
        out.contains("events.json:") && out.contains("an event was removed, added or changed"),
        "{out}"
    );

    // The key swapped: inside the bundle (the manifest names another key),
    // and an auditor's key that is not the bundle's.
    let other = ::evidence::SigningKey::from_seed(&[42; 32]).public();
    let swapped = rewrite(&bundle, &dir.path().join("swapped.zip"), |name, d| {
        if name == "signing-key.pem" {
            other.to_pem().into_bytes()
        } else {
            d
        }
    });
    let (ok, out) = verify(&swapped, None);
    assert!(!ok, "{out}");
    assert!(
        out.contains("key: the manifest was signed with key"),
        "{out}"
    );
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.to_pem()).unwrap();
    let (ok, out) = verify(&bundle, Some(&other_pem));
    assert!(!ok, "{out}");
    assert!(out.contains("not the key given with --key"), "{out}");

    // A manifest re-signed by someone else's key, their key shipped along:
    // consistent in itself, refused against the tenant's key.
    let forged_key = ::evidence::SigningKey::from_seed(&[7; 32]);
    let forged = rewrite(
        &bundle,
        &dir.path().join("forged.zip"),
        |name, d| match name {
            "manifest.json" => {
                let mut m: Value = serde_json::from_slice(&d).unwrap();
                m["key_id"] = json!(forged_key.public().key_id());
                ::evidence::canonical::to_vec(&m)
            }
            _ => d,
        },
    );
    let forged_bytes = entries(&forged)
        .into_iter()
        .find(|(n, _)| n == "manifest.json")
        .unwrap()
        .1;
    let forged = rewrite(
        &forged,
        &dir.path().join("forged2.zip"),
        |name, d| match name {
            "manifest.sig" => forged_key.sign_b64(&forged_bytes).into_bytes(),
            "signing-key.pem" => forged_key.public().to_pem().into_bytes(),
            _ => d,
        },
    );
    assert!(verify(&forged, None).0, "self-consistent without --key");
    let (ok, out) = verify(&forged, Some(&pem));
    assert!(!ok && out.contains("key:"), "{out}");

    // An extra file slipped in is named.
    let extra = rewrite(&bundle, &dir.path().join("extra.zip"), |_, d| d);
    let mut w = ::evidence::zip::ZipWriter::new();
    let mut bytes = Vec::new();
    for (n, d) in entries(&extra)
        .into_iter()
        .chain([("notes.txt".to_string(), b"x".to_vec())])
    {
        bytes.extend(w.entry(&n, &d).unwrap());
    }
    bytes.extend(w.finish().unwrap());
    std::fs::write(&extra, bytes).unwrap();
    let (ok, out) = verify(&extra, Some(&pem));
    assert!(
        !ok && out.contains("notes.txt: is not covered by the manifest"),
        "{out}"
    );

    // Not a zip at all.
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"PK junk").unwrap();
    let (ok, out) = verify(&junk, None);
    assert!(!ok && out.contains("bundle:"), "{out}");

    // The export is in the audit log, with who and from where.
    let log = get_as(&rws, ADMIN, "/api/v2/audit?limit=1000").json();
    let rec_id = manifest["recording"]["id"].as_str().unwrap();
    let exports: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export" && e["target"] == rec_id)
        .collect();
    assert_eq!(exports.len(), 2, "{log:#}");
    assert!(
        exports
            .iter()
            .all(|e| e["user"] == "admin" && e["remote"] == "127.0.0.1")
    );
}

#[test]
fn export_is_refused_outside_the_viewers_rights() {
    let dir = tempdir();
    let (rws, _srs) = start(dir.path());
    voice(&rws, "h-1", "recording.started", "h-call");
    wait_state(&rws, "h-call", "recording");

    // Still recording: nothing to seal yet.
    let r = export(&rws, ADMIN, "h-call");
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("is recording"), "{}", r.text);

    wait_media(&rws, "h-call", 500);
    voice(&rws, "h-2", "call.released", "h-call");
    wait_state(&rws, "h-call", "completed");

    // The supervisor of agent1's group may export; the other group's does
    // not see the call at all, an agent may not export, a stranger is 401.
    assert_eq!(export(&rws, ("supa", "pwa"), "h-call").status, 200);
    let r = export(&rws, ("supb", "pwb"), "h-call");
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(!r.text.contains("agent1"), "{}", r.text);
    assert_eq!(export(&rws, ("agent1", "pw1"), "h-call").status, 403);
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/h-call/export", rws.url),
        &[],
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text);
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/h-call/export", rws.url),
        &[basic("admin", "wrong")],
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        get_as(&rws, ("agent1", "pw1"), "/api/v2/keys/signing").status,
        200,
        "the public key is public to any signed-in user"
    );
    let r = http(
        "GET",
        &format!("{}/api/v2/keys/signing", rws.url),
        &[],
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text);

    // Unknown ids, someone else's recording id, a huge query: 4xx with a
    // reason, never a 500.
    let r = export(&rws, ADMIN, "no-such-call");
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(
        r.json()["statusMessage"]
            .as_str()
            .unwrap()
            .contains("no-such-call")
    );
    let r = get_as(
        &rws,
        ADMIN,
        "/api/v2/recordings/h-call/export?recording=someone-else",
    );
    assert_eq!(r.status, 404, "{}", r.text);
    let long = "x".repeat(4000);
    let r = get_as(&rws, ADMIN, &format!("/api/v2/recordings/{long}/export"));
    assert!((400..500).contains(&r.status), "{}", r.status);
    // supb is refused even naming the recording id outright.
    let rec = resource(&rws, "h-call")["screenRecordings"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = get_as(
        &rws,
        ("supb", "pwb"),
        &format!("/api/v2/recordings/h-call/export?recording={rec}"),
    );
    assert_eq!(r.status, 404, "{}", r.text);

    // Only the allowed exports were audited.
    let log = get_as(&rws, ADMIN, "/api/v2/audit?limit=1000").json();
    let who: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export")
        .map(|e| e["user"].as_str().unwrap())
        .collect();
    assert_eq!(who, vec!["supa"], "{log:#}");
}
