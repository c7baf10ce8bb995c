//! Property tests (issue 10, rule 3): the `Authorization` header a stranger
//! sends (Basic and Bearer) gives credentials, nothing, or a 401, never a
//! panic; credentials we encode come back as they were.

#![allow(clippy::unwrap_used)]
#![allow(missing_docs)]

use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use base64::Engine;
use proptest::prelude::*;
use rws::auth::{basic_credentials, bearer_token};

fn with(value: &[u8]) -> Option<HeaderMap> {
    let v = HeaderValue::from_bytes(value).ok()?;
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, v);
    Some(h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn authorization_random_bytes(
        scheme in prop_oneof![Just(&b"Basic "[..]), Just(&b"basic "[..]), Just(&b"Bearer "[..]), Just(&b""[..])],
        rest in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let Some(h) = with(&[scheme, &rest[..]].concat()) else { return Ok(()) };
        if let Err(e) = basic_credentials(&h) {
            prop_assert_eq!(axum::response::IntoResponse::into_response(e).status().as_u16(), 401);
        }
        let _ = bearer_token(&h);
    }

    #[test]
    fn basic_round_trip(user in "[^:\\p{Cc}]{0,30}", pass in "\\PC{0,30}", cut in 0usize..100) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let h = with(format!("Basic {b64}").as_bytes()).unwrap();
        prop_assert_eq!(basic_credentials(&h).unwrap(), Some((user, pass)));
        let truncated = format!("Basic {}", &b64[..cut.min(b64.len())]);
        if let Err(e) = basic_credentials(&with(truncated.as_bytes()).unwrap()) {
            prop_assert_eq!(axum::response::IntoResponse::into_response(e).status().as_u16(), 401);
        }
    }
}
