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
