//! The directory's `upload_rate_kbit` reaches SRS: a real RWS sends, in
//! each `start`, the cap that applies to the agent (user > lowest of their
//! groups > top level; none: absent), read here by the hostile SRS client;
//! and `screenrec rws import-directory` refuses a bad value with its line.

use std::process::Command;

use crate::fixture::{Rws, write_directory};
use crate::hostile_agent::Hostile;
use crate::util::{bin, tempdir};

/// agent1: its own 150 (its group says 400); agent2: in groups of 400 and
/// 300; agent3: no value anywhere (no top-level value either).
const RATES: &str = r#"
recording_when = "always"

[[switch]]
name = "SIP_Switch"

[[place]]
name = "Place_1001"
devices = [{ dn = "1001", switch = "SIP_Switch" }]

[[place]]
name = "Place_1002"
devices = [{ dn = "1002", switch = "SIP_Switch" }]

[[place]]
name = "Place_1003"
devices = [{ dn = "1003", switch = "SIP_Switch" }]

[[user]]
username = "agent1"
password = "pw1"
roles = ["agent"]
default_place = "Place_1001"
upload_rate_kbit = 150

[[user]]
username = "agent2"
password = "pw2"
roles = ["agent"]
default_place = "Place_1002"

[[user]]
username = "agent3"
password = "pw3"
roles = ["agent"]
default_place = "Place_1003"

[[user]]
username = "admin"
password = "adminpw"
roles = ["admin"]

[[group]]
name = "home"
agents = ["agent1", "agent2"]
upload_rate_kbit = 400

[[group]]
name = "rural"
agents = ["agent2"]
upload_rate_kbit = 300
"#;

#[test]
fn rws_sends_the_directory_upload_rate_in_start_user_then_lowest_group_else_absent() {
    let dir = tempdir();
    write_directory(dir.path(), RATES);
    let rws = Rws::start(dir.path(), "rws");
    for (user, pass, dn, want) in [
        ("agent1", "pw1", "1001", Some(150)),
        ("agent2", "pw2", "1002", Some(300)),
        ("agent3", "pw3", "1003", None),
    ] {
        let h = Hostile::login(&rws, user, pass, None);
        rws.wait_sessions(&format!("{user} connected"), |s| {
            s.iter()
                .any(|x| x["user"] == user && x["state"] == "connected")
        });
        let call = format!("call-{user}");
        rws.call_event(&format!("{call}-s"), "recording.started", &call, dn);
        let start = h.expect("start");
        assert_eq!(
            start.get("upload_rate_kbit").and_then(|v| v.as_u64()),
            want,
            "{user}: {start}"
        );
        if want.is_none() {
            assert!(start.get("upload_rate_kbit").is_none(), "{user}: {start}");
        }
        rws.call_event(&format!("{call}-r"), "call.released", &call, dn);
        h.expect("stop");
    }
}

#[test]
fn import_directory_refuses_a_bad_upload_rate_with_its_line() {
    let dir = tempdir();
    for (value, shown) in [
        ("0", "0"),
        ("-100", "-100"),
        ("2000000", "2000000"),
        ("\"fast\"", "\"fast\""),
    ] {
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            format!(
                "[[user]]\nusername = \"a\"\npassword = \"x\"\nroles = [\"agent\"]\nupload_rate_kbit = {value}\n"
            ),
        )
        .unwrap();
        let out = Command::new(bin())
            .args(["rws", "import-directory"])
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "bad.toml:1: user 'a': upload_rate_kbit must be an integer from 1 to 1000000 (kbit/s), not {shown}"
        );
        assert!(err.contains(&want), "{value}: {err}");
    }
}
