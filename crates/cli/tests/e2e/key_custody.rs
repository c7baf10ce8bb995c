//! Key custody (issue 10): `screenrec rws keys export` writes every tenant
//! private key to an age file (passphrase or `--to` recipients) that the
//! independent `age` CLI opens, with mode 0600 and never over an existing
//! file without `--force`; `keys import` brings the keys into a data dir
//! (idempotent; `--rewrap` after a lost master key) so old recordings play
//! again; both are audited.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::fixture::{Rws, Srs, basic, http};
use crate::util::{bin, tempdir, wait_for};

/// `screenrec rws keys ARGS…` with exactly this master key environment.
fn keys(args: &[&str], master: Option<&str>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["rws", "keys"]).args(args);
    cmd.env_remove("SCREENREC_MASTER_KEY");
    if let Some(m) = master {
        cmd.env("SCREENREC_MASTER_KEY", m);
    }
    cmd.output().unwrap()
}

/// `screenrec rws keys import FILE --data-dir DATA HOW…` (`HOW`: how to open
/// the export, e.g. `--passphrase-file P` or `-i IDENTITY`).
fn import(file: &str, data: &str, how: &[&str], master: Option<&str>) -> Output {
    let mut args = vec!["import", file, "--data-dir", data];
    args.extend_from_slice(how);
    keys(&args, master)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// An age X25519 identity made by the independent `age-keygen`; returns
/// (identity file, recipient).
fn age_identity(dir: &Path) -> (std::path::PathBuf, String) {
    let file = dir.join("custodian.txt");
    let st = Command::new("age-keygen")
        .arg("-o")
        .arg(&file)
        .output()
        .unwrap();
    assert!(st.status.success(), "age-keygen");
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&file)
        .output()
        .unwrap();
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(recipient.starts_with("age1"), "{recipient}");
    (file, recipient)
}

/// `age -d -i IDENTITY FILE` (the independent CLI), as text.
fn age_decrypt(identity: &Path, file: &Path) -> String {
    String::from_utf8(age_decrypt_bytes(identity, file)).unwrap()
}

/// `age -d -i IDENTITY FILE`.
fn age_decrypt_bytes(identity: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Recipients listed by `keys list`, with the active one's.
fn listed(data: &Path, master: Option<&str>) -> (Vec<String>, String) {
    let text = ok(&keys(
        &["list", "--data-dir", data.to_str().unwrap()],
        master,
    ));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let all = rows.iter().map(|r| r[1].to_string()).collect();
    let active = rows
        .iter()
        .find(|r| r.last() == Some(&"yes"))
        .map(|r| r[1].to_string())
        .unwrap();
    (all, active)
}

#[test]
fn rule8_key_export_is_0600_age_encrypted_and_never_overwritten_without_force() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let master = "33".repeat(32);
    ok(&keys(&["rotate", "--data-dir", d], Some(&master)));
    ok(&keys(&["rotate", "--data-dir", d], Some(&master)));
    let (recipients, active) = listed(&data, Some(&master));
    assert_eq!(recipients.len(), 2);
    let (identity, custodian) = age_identity(dir.path());
    let out = dir.path().join("keys.age");
    let o = out.to_str().unwrap();

    ok(&keys(
        &["export", "--data-dir", d, "--out", o, "--to", &custodian],
        Some(&master),
    ));
    assert_eq!(mode(&out), 0o600, "the export holds private keys");
    let sealed = std::fs::read(&out).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    assert!(
        !sealed.windows(14).any(|w| w == b"AGE-SECRET-KEY"),
        "nothing in the clear"
    );

    // The independent age CLI opens it; the plaintext is the documented
    // format: an age identity file with one described key per entry.
    let plain = age_decrypt(&identity, &out);
    assert!(
        plain.starts_with("# screenrec tenant keys: an age identity file. KEEP SECRET.\n"),
        "{plain}"
    );
    assert_eq!(plain.matches("\nAGE-SECRET-KEY-1").count(), 2, "{plain}");
    for r in &recipients {
        let line = plain
            .lines()
            .find(|l| {
                l.starts_with("# screenrec-key: id=") && l.ends_with(&format!("recipient={r}"))
            })
            .unwrap_or_else(|| panic!("no entry for {r}: {plain}"));
        assert_eq!(line.contains("active=true"), *r == active, "{line}");
    }

    // An existing file is never replaced without --force, whatever its mode.
    std::fs::write(&out, b"precious").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = failed(&keys(
        &["export", "--data-dir", d, "--out", o, "--to", &custodian],
        Some(&master),
    ));
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    ok(&keys(
        &[
            "export",
            "--data-dir",
            d,
            "--out",
            o,
            "--to",
            &custodian,
            "--force",
        ],
        Some(&master),
    ));
    assert_eq!(mode(&out), 0o600, "--force does not keep the old 0644");
    assert!(age_decrypt(&identity, &out).contains(&active));

    // A passphrase is never a flag value (it would show in `ps`).
    let flag = keys(
        &[
            "export",
            "--data-dir",
            d,
            "--out",
            o,
            "--passphrase",
            "hunter2hunter2",
            "--force",
        ],
        Some(&master),
    );
    assert!(!flag.status.success());
    // Without a terminal (setsid: no controlling tty) and without
    // --passphrase-file, export says how to give one.
    let no_tty = Command::new("setsid")
        .arg(bin())
        .args([
            "rws",
            "keys",
            "export",
            "--data-dir",
            d,
            "--out",
            &format!("{o}.2"),
        ])
        .env("SCREENREC_MASTER_KEY", &master)
        .output()
        .unwrap();
    let err = failed(&no_tty);
    assert!(err.contains("--passphrase-file"), "{err}");
    assert!(!Path::new(&format!("{o}.2")).exists());
}

#[test]
fn key_custody_passphrase_import_into_a_new_data_dir_is_idempotent_and_a_wrong_passphrase_is_named()
{
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (ad, bd) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (ma, mb) = ("44".repeat(32), "55".repeat(32));
    ok(&keys(&["rotate", "--data-dir", ad], Some(&ma)));
    ok(&keys(&["rotate", "--data-dir", ad], Some(&ma)));
    let (old, old_active) = listed(&a, Some(&ma));
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let wrong = dir.path().join("wrong.txt");
    std::fs::write(&wrong, "incorrect horse battery staple\n").unwrap();
    let out = dir.path().join("keys.age");
    let o = out.to_str().unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, "abc\n").unwrap();
    let err = failed(&keys(
        &[
            "export",
            "--data-dir",
            ad,
            "--out",
            o,
            "--passphrase-file",
            short.to_str().unwrap(),
        ],
        Some(&ma),
    ));
    assert!(err.contains("at least"), "{err}");
    ok(&keys(
        &[
            "export",
            "--data-dir",
            ad,
            "--out",
            o,
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
        Some(&ma),
    ));
    assert_eq!(mode(&out), 0o600);

    let err = failed(&import(
        o,
        bd,
        &["--passphrase-file", wrong.to_str().unwrap()],
        Some(&mb),
    ));
    assert!(err.contains("wrong passphrase"), "{err}");
    let (identity, _) = age_identity(dir.path());
    let err = failed(&import(
        o,
        bd,
        &["-i", identity.to_str().unwrap()],
        Some(&mb),
    ));
    assert!(err.contains("encrypted to a passphrase"), "{err}");

    // A new data dir with another master key takes both keys and the
    // exported active one stays active.
    let text = ok(&import(
        o,
        bd,
        &["--passphrase-file", pass.to_str().unwrap()],
        Some(&mb),
    ));
    assert!(text.contains("2 key(s) added"), "{text}");
    let (new, new_active) = listed(&b, Some(&mb));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(new.clone()), sorted(old.clone()));
    assert_eq!(new_active, old_active);

    // Twice is fine: nothing added, nothing replaced.
    let text = ok(&import(
        o,
        bd,
        &["--passphrase-file", pass.to_str().unwrap()],
        Some(&mb),
    ));
    assert!(
        text.contains("0 key(s) added") && text.contains("2 already present"),
        "{text}"
    );
    assert_eq!(listed(&b, Some(&mb)), (new, new_active));

    // A data dir with keys of its own keeps them and its active key.
    let c = dir.path().join("c");
    let cd = c.to_str().unwrap();
    let mc = "66".repeat(32);
    ok(&keys(&["rotate", "--data-dir", cd], Some(&mc)));
    let (_, own_active) = listed(&c, Some(&mc));
    let text = ok(&import(
        o,
        cd,
        &["--passphrase-file", pass.to_str().unwrap()],
        Some(&mc),
    ));
    assert!(text.contains("2 key(s) added"), "{text}");
    let (all, active) = listed(&c, Some(&mc));
    assert_eq!(all.len(), 3);
    assert_eq!(active, own_active);
}

/// One call on DN 1001 recorded by a real SRS, released once some media
/// has arrived; waits until completed.
fn record_call(rws: &Rws, id: &str) {
    let admin = basic("admin", "adminpw");
    let rec = |rws: &Rws| {
        let r = http(
            "GET",
            &format!("{}/api/v2/recordings/{id}", rws.url),
            std::slice::from_ref(&admin),
            None,
        );
        (r.status == 200).then(|| r.json())
    };
    rws.call_event(&format!("{id}-s"), "recording.started", id, "1001");
    wait_for("some media uploaded", Duration::from_secs(20), || {
        let r = rec(rws)?;
        let ms: u64 = r["mediaFiles"][0]["duration"].as_str()?.parse().ok()?;
        (r["screenRecordings"][0]["state"] == "recording" && ms >= 500).then_some(())
    });
    rws.call_event(&format!("{id}-r"), "call.released", id, "1001");
    wait_for("recording completed", Duration::from_secs(20), || {
        (rec(rws)?["screenRecordings"][0]["state"] == "completed").then_some(())
    });
}

fn download(rws: &Rws, id: &str) -> crate::fixture::Response {
    let admin = basic("admin", "adminpw");
    let r = http(
        "GET",
        &format!("{}/api/v2/recordings/{id}", rws.url),
        std::slice::from_ref(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let uri = r.json()["mediaFiles"][0]["mediaUri"]
        .as_str()
        .unwrap()
        .replace("/play/", "/download/");
    http("GET", &format!("{}{uri}", rws.url), &[admin], None)
}

#[test]
fn key_custody_lost_master_key_import_with_rewrap_makes_old_recordings_play_and_is_audited() {
    let dir = tempdir();
    // SQLite + filesystem on every backend: the test opens a stored media
    // object from the data dir with the exported key, outside screenrec.
    let pinned = crate::fixture::sqlite_fs(dir.path(), "rws");
    let pinned: Vec<&str> = pinned.iter().map(String::as_str).collect();
    let mut rws = Rws::start_with(dir.path(), "rws", &pinned);
    let data = dir.path().join("rws");
    let d = data.to_str().unwrap();
    let srs = Srs::start_agent(dir.path(), "srs", &rws.url, ("agent1", "pw1"));
    record_call(&rws, "kc-1");
    let signing_key = |rws: &Rws| {
        let r = http(
            "GET",
            &format!("{}/api/v2/keys/signing", rws.url),
            &[basic("admin", "adminpw")],
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["key_id"].as_str().unwrap().to_string()
    };
    let signer = signing_key(&rws);
    let before = download(&rws, "kc-1");
    assert_eq!(before.status, 200, "{}", before.text);
    assert!(
        before.bytes.windows(4).any(|w| w == b"ftyp"),
        "decrypted MP4"
    );
    drop(srs);
    rws.kill();

    let (identity, custodian) = age_identity(dir.path());
    let out = dir.path().join("keys.age");
    let o = out.to_str().unwrap();
    ok(&keys(
        &["export", "--data-dir", d, "--out", o, "--to", &custodian],
        None,
    ));

    // Without screenrec: the decrypted export is an age identity file that
    // opens the stored media's first segment (the init segment).
    let plain = dir.path().join("keys.txt");
    std::fs::write(&plain, age_decrypt(&identity, &out)).unwrap();
    let media = files(&data.join("media"));
    assert_eq!(media.len(), 1, "{media:?}");
    let cipher = std::fs::read(&media[0]).unwrap();
    let magic = b"age-encryption.org/v1\n";
    let second = (1..cipher.len())
        .find(|&i| cipher[i..].starts_with(magic))
        .unwrap_or(cipher.len());
    let segment = dir.path().join("segment0.age");
    std::fs::write(&segment, &cipher[..second]).unwrap();
    let init = age_decrypt_bytes(&plain, &segment);
    assert_eq!(&init[4..8], b"ftyp", "the init segment");

    // The master key is lost: the stored keys no longer open, RWS would
    // not start, recordings cannot be played.
    std::fs::remove_file(data.join("master.key")).unwrap();
    let err = failed(&keys(&["list", "--data-dir", d], None));
    assert!(
        err.contains("does not decrypt with this master key"),
        "{err}"
    );
    // Import does not silently re-encrypt under a possibly mistyped key…
    let err = failed(&import(o, d, &["-i", identity.to_str().unwrap()], None));
    assert!(err.contains("--rewrap"), "{err}");
    // …but does when told to.
    let text = ok(&import(
        o,
        d,
        &["-i", identity.to_str().unwrap(), "--rewrap"],
        None,
    ));
    assert!(text.contains("1 re-encrypted"), "{text}");
    assert!(
        text.contains("0 signing key(s) added, 1 re-encrypted"),
        "the signing key travels with the export: {text}"
    );
    assert_eq!(mode(&data.join("master.key")), 0o600, "a new master key");

    rws.start_again("rws");
    assert_eq!(
        signing_key(&rws),
        signer,
        "the same signing key after the import"
    );
    let after = download(&rws, "kc-1");
    assert_eq!(after.status, 200, "{}", after.text);
    assert!(
        after.bytes == before.bytes,
        "the old recording plays as before"
    );

    let audit = http(
        "GET",
        &format!("{}/api/v2/audit", rws.url),
        &[basic("admin", "adminpw")],
        None,
    )
    .json();
    let entries = audit["entries"].as_array().unwrap();
    let export = entries
        .iter()
        .find(|e| e["action"] == "keys_export")
        .expect("export audited");
    assert!(export["target"].as_str().unwrap().ends_with("keys.age"));
    assert!(export["user"].as_str().unwrap().starts_with("cli:"));
    assert!(export["detail"].as_str().unwrap().contains(&custodian));
    let imports: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "keys_import")
        .collect();
    assert_eq!(
        imports.len(),
        1,
        "the refused import changed nothing: {imports:?}"
    );
    assert!(
        imports[0]["detail"]
            .as_str()
            .unwrap()
            .contains("re-encrypted")
    );
}
