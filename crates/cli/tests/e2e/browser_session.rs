//! The browser recorder's edges on a real RWS (issue 15), as a hostile page
//! or client would probe them; the recorder itself runs in Chromium in
//! `tests/browser/browser-srs.test.mjs`.
//!
//! A session opened with `kind: browser` is listed as such; its control
//! channel takes the token from `Sec-WebSocket-Protocol` (a page cannot set
//! `Authorization`) and answers with the control subprotocol; a handshake
//! whose `Origin` is not in the directory's `allowed_origins` is refused
//! with 403 in the GWS envelope before the upgrade, even with a valid token.

use serde_json::json;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fixture::{Rws, basic, http};
use crate::util::tempdir;

/// Opens a browser-kind session for agent1; returns (session id, token, control URL).
fn open_browser_session(rws: &Rws) -> (String, String, String) {
    let r = http(
        "POST",
        &format!("{}/api/v2/srs/sessions", rws.url),
        &[
            basic("agent1", "pw1"),
            ("Content-Type".into(), "application/json".into()),
        ],
        Some(
            json!({"srs_version": "srs-browser/test", "kind": "browser"})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    (s("session_id"), s("token"), s("control_url"))
}

/// A WebSocket handshake to `url` with these headers: Ok(selected
/// subprotocol) or Err((HTTP status, body)).
fn handshake(
    url: &str,
    headers: &[(&'static str, String)],
) -> Result<Option<String>, (u16, String)> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match tokio_tungstenite::connect_async(req).await {
            Ok((_ws, resp)) => Ok(resp
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string())),
            Err(tungstenite::Error::Http(resp)) => Err((
                resp.status().as_u16(),
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string(),
            )),
            Err(e) => Err((0, e.to_string())),
        }
    })
}

#[test]
fn rule1_a_page_on_a_foreign_origin_gets_no_control_channel_even_with_a_valid_token() {
    let dir = tempdir();
    let rws = Rws::start(dir.path(), "rws");
    let (id, token, url) = open_browser_session(&rws);
    let listed = rws.sessions();
    let me = listed
        .iter()
        .find(|s| s["session_id"] == id.as_str())
        .unwrap();
    assert_eq!(me["kind"], "browser", "{listed:?}");

    let protocols = format!("screenrec-control.v1, screenrec-token.{token}");
    for evil in ["https://evil.example", "http://desk.test:8001", "null"] {
        let refused = handshake(
            &url,
            &[
                ("Origin", evil.to_string()),
                ("Sec-WebSocket-Protocol", protocols.clone()),
            ],
        );
        let (status, body) = refused.expect_err(evil);
        assert_eq!(status, 403, "{evil}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["statusCode"], 3, "{body}");
        assert!(
            v["statusMessage"]
                .as_str()
                .unwrap()
                .contains("allowed_origins"),
            "{body}"
        );
    }
    // Nothing connected: the session is still only opened.
    let me = rws
        .sessions()
        .into_iter()
        .find(|s| s["session_id"] == id.as_str())
        .unwrap();
    assert_eq!(me["state"], "opened");

    // An allowed origin (a wildcard pattern of the directory) with the token
    // in the subprotocol list: upgraded, the control subprotocol selected.
    let ok = handshake(
        &url,
        &[
            ("Origin", "https://desk.example.com".to_string()),
            ("Sec-WebSocket-Protocol", protocols.clone()),
        ],
    );
    assert_eq!(ok, Ok(Some("screenrec-control.v1".to_string())));
    // A wrong token in the subprotocol list is refused like a wrong bearer.
    let wrong = handshake(
        &url,
        &[
            ("Origin", "https://desk.example.com".to_string()),
            (
                "Sec-WebSocket-Protocol",
                "screenrec-control.v1, screenrec-token.nope".to_string(),
            ),
        ],
    );
    assert_eq!(wrong.map_err(|(s, _)| s), Err(401));
}
