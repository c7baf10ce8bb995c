//! `screenrec rws import-directory` and the import at start: validation,
//! idempotence, password hashing, the shipped example files.

use std::process::Command;

use crate::util::{bin, tempdir};

fn import(file: &std::path::Path, data: &std::path::Path) -> std::process::Output {
    Command::new(bin())
        .args(["rws", "import-directory"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn example_directories_import_and_a_second_import_changes_nothing() {
    for example in ["examples/directory.toml", "examples/demo-directory.toml"] {
        let dir = tempdir();
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(example);
        let out = import(&file, dir.path());
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let again = import(&file, dir.path());
        assert!(again.status.success());
        let text = String::from_utf8_lossy(&again.stdout);
        assert!(
            text.contains("0 added, 0 updated, 0 removed"),
            "{example}: {text}"
        );
        // Plain passwords are never stored: only argon2id hashes.
        let db = std::fs::read(dir.path().join("screenrec.db")).unwrap();
        let wal = std::fs::read(dir.path().join("screenrec.db-wal")).unwrap_or_default();
        for secret in ["change-me", "agent1-demo", "admin-demo"] {
            let found = db.windows(secret.len()).any(|w| w == secret.as_bytes())
                || wal.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{example}: '{secret}' stored in clear");
        }
        assert!(
            db.windows(9).any(|w| w == b"$argon2id") || wal.windows(9).any(|w| w == b"$argon2id")
        );
    }
}

#[test]
fn a_bad_directory_names_file_line_and_item_and_changes_nothing() {
    let dir = tempdir();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[switch]]\nname = \"S\"\n[[place]]\nname = \"P\"\ndevices = [{ dn = \"1\", switch = \"S\" }]\n[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\n",
    )
    .unwrap();
    assert!(import(&good, dir.path()).status.success());
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[switch]]\nname = \"S\"\n[[user]]\nusername = \"b\"\npassword = \"y\"\nroles = [\"agent\"]\ndefault_place = \"Nope\"\n",
    )
    .unwrap();
    let out = import(&bad, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3: user 'b': default_place 'Nope' does not exist"),
        "{err}"
    );
    // Nothing changed: importing the good file again is a no-op.
    let again = import(&good, dir.path());
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 added, 0 updated, 0 removed"));
}

#[test]
fn rws_refuses_to_start_on_a_bad_directory() {
    let dir = tempdir();
    let bad = dir.path().join("d.toml");
    std::fs::write(&bad, "[[user]]\nusername = \"a\"\n").unwrap();
    let out = Command::new(bin())
        .args(["rws", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--directory")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("d.toml:1: user 'a': password (or password_hash) is required"),
        "{err}"
    );
}

#[test]
fn rws_reads_a_config_file_and_flags_override_it() {
    let dir = tempdir();
    let directory = dir.path().join("directory.toml");
    std::fs::write(&directory, crate::fixture::DIRECTORY).unwrap();
    let port = crate::util::free_port();
    let config = dir.path().join("rws.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = {:?}\ndirectory = {:?}\nsilence_timeout = 30\n",
            dir.path().join("data").to_string_lossy(),
            directory.to_string_lossy()
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["rws", "--config"])
        .arg(&config)
        .args(["--silence-timeout", "45", "--print-config"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("listen = \"127.0.0.1:{port}\"")),
        "{text}"
    );
    assert!(
        text.contains("silence_timeout = 45"),
        "the flag wins: {text}"
    );
    let _rws = crate::util::Proc::screenrec(
        "rws",
        dir.path(),
        &["rws", "--config", &config.to_string_lossy()],
        &[],
    );
    let url = format!("http://127.0.0.1:{port}");
    crate::util::wait_for(
        "RWS from its config file",
        std::time::Duration::from_secs(20),
        || {
            (crate::fixture::http("GET", &format!("{url}/healthz"), &[], None).status == 200)
                .then_some(())
        },
    );
    let r = crate::fixture::http(
        "POST",
        &format!("{url}/api/v2/srs/sessions"),
        &[crate::fixture::basic("agent1", "pw1")],
        Some(br#"{"srs_version":"t"}"#.to_vec()),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["silence_timeout_s"], 30);
    // An unknown key in the config file is an error naming the file.
    std::fs::write(&config, "colour = \"red\"\n").unwrap();
    let out = Command::new(bin())
        .args(["rws", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--config") && err.contains("colour"), "{err}");
}
