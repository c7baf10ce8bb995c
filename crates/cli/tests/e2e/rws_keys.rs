//! Tenant keys: made at first start, private keys encrypted at rest with the
//! master key, rotation keeps old keys, SRS receives only recipients.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::fixture::{Rws, basic, http};
use crate::util::{bin, tempdir};

fn keys(data: &std::path::Path, action: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.args(["rws", "keys", action, "--data-dir"]).arg(data);
    cmd.env_remove("SCREENREC_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn first_start_makes_a_key_encrypted_at_rest_and_sessions_get_only_the_recipient() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let data = dir.path().join("rws");
    let master = data.join("master.key");
    assert_eq!(
        std::fs::metadata(&master).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        rws.proc.output().contains("SCREENREC_MASTER_KEY"),
        "a warning names the variable"
    );

    let r = http(
        "POST",
        &format!("{}/api/v2/srs/sessions", rws.url),
        &[basic("agent1", "pw1")],
        Some(br#"{"srs_version":"t"}"#.to_vec()),
    );
    let body = r.json();
    let recipients = body["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1);
    assert!(recipients[0].as_str().unwrap().starts_with("age1"));
    assert!(
        !r.text.contains("AGE-SECRET-KEY"),
        "no private key leaves RWS"
    );

    // Nothing on disk holds a private key in the clear (the data dir's
    // files: on the postgres-s3 pass the rows are in PostgreSQL, written
    // by the same code).
    for f in ["screenrec.db", "screenrec.db-wal"] {
        let bytes = std::fs::read(data.join(f)).unwrap_or_default();
        assert!(!bytes.windows(14).any(|w| w == b"AGE-SECRET-KEY"), "{f}");
    }

    // The same database RWS uses, whatever SCREENREC_TEST_BACKEND chose.
    let db_env = rws.database_env();
    let db_env: Vec<(&str, &str)> = db_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let list = keys(&data, "list", &db_env);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        text.contains(recipients[0].as_str().unwrap()) && text.contains("yes"),
        "{text}"
    );
}

#[test]
fn rotation_keeps_old_keys_and_a_wrong_master_key_stops_rws() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let master = "11".repeat(32);
    let env = [("SCREENREC_MASTER_KEY", master.as_str())];
    let first = keys(&data, "rotate", &env);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        !data.join("master.key").exists(),
        "the environment's master key is used, no file"
    );
    let second = keys(&data, "rotate", &env);
    assert!(second.status.success());
    let text = String::from_utf8_lossy(&keys(&data, "list", &env).stdout).into_owned();
    assert_eq!(text.lines().count(), 3, "header + 2 keys: {text}");
    assert_eq!(text.matches("yes").count(), 1, "one active: {text}");
    let new_id = String::from_utf8_lossy(&second.stdout)
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&new_id) && l.ends_with("yes")),
        "{text}"
    );

    let wrong = keys(&data, "list", &[("SCREENREC_MASTER_KEY", &"22".repeat(32))]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("does not decrypt with this master key")
    );
    let bad = keys(&data, "list", &[("SCREENREC_MASTER_KEY", "xyz")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("64 hex characters"));
}
