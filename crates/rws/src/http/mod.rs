//! The HTTP layer: every route of RWS, the middleware around them and one
//! module of thin handlers per resource. A handler parses the request,
//! authorizes it, calls the core (the modules at the crate's top level) and
//! renders the answer; it holds no rule of its own and no SQL (that is
//! `store/`'s). Nothing below this module imports it
//! (`scripts/check-layers.py`).
//!
//! Middleware, outermost first: the HTTP/2 `Host` ([`h2_host`]), security
//! headers, CORS for the browser recorder's allowed desktops ([`browser`]),
//! the body deadline ([`limits`]), the console's Basic challenge, the Basic
//! gate and the CSRF check ([`auth`]), the rejection envelope
//! ([`rejection`]), the body limit and the request metrics ([`metrics`]).

pub mod auth;
pub mod authz;
pub mod browser;
pub mod compliance;
pub mod control;
pub mod events;
pub mod evidence;
pub mod h2_host;
pub mod lifecycle;
pub mod limits;
pub mod live;
pub mod me;
pub mod metrics;
pub mod readiness;
pub mod recordings;
pub mod rejection;
pub mod search;
pub mod security_headers;
pub mod sessions;
pub mod uploads;
pub mod web;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::{ApiError, Rws};

/// Every route of RWS.
pub fn router(rws: Rws) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readiness::readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/api/v2/openapi.json", get(openapi))
        .route(
            "/api/v2/srs/sessions",
            post(sessions::open).get(sessions::list),
        )
        .route(
            "/api/v2/srs/sessions/{id}",
            axum::routing::delete(sessions::close),
        )
        .route("/api/v2/srs/sessions/{id}/commands", post(control::command))
        .route("/api/v2/srs/origins", get(sessions::origins))
        .route("/api/v2/events", post(events::intake))
        .route("/api/v2/interactions/{id}/events", get(events::timeline))
        .route("/api/v2/srs/control", get(control::control))
        .route(
            "/api/v2/srs/uploads",
            post(uploads::create).options(uploads::options),
        )
        .route(
            "/api/v2/srs/uploads/{id}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch)
                .delete(uploads::terminate)
                .options(uploads::options)
                .layer(DefaultBodyLimit::max(crate::uploads::MAX_PATCH)),
        )
        .route(
            "/api/v2/srs/recordings/{id}/end",
            // Room for a full app lane (MAX_APP_MARKS changes with their
            // longest class and title) besides the marks.
            axum::routing::put(uploads::end).layer(DefaultBodyLimit::max(4 << 20)),
        )
        .route("/api/v2/auth/login", post(auth::console_login))
        .route("/api/v2/auth/logout", post(auth::console_logout))
        .route("/api/v2/me", get(me::me))
        .route("/api/v2/recordings", get(search::search))
        .route("/api/v2/audit", get(compliance::audit_log))
        .route("/api/v2/holds", post(compliance::hold_agent))
        .route("/api/v2/retention/run", post(compliance::run_retention))
        .route("/api/v2/recordings/events", get(lifecycle::sse))
        .route(
            "/api/v2/recordings/{call_id}",
            get(recordings::resource).delete(compliance::delete),
        )
        .route(
            "/api/v2/recordings/{call_id}/hold",
            axum::routing::put(compliance::hold_call),
        )
        .route(
            "/api/v2/recordings/{call_id}/labels/{label}",
            axum::routing::put(compliance::label).delete(compliance::label),
        )
        .route(
            "/api/v2/recordings/{call_id}/download/{media_id}",
            get(recordings::download),
        )
        .route(
            "/api/v2/recordings/{call_id}/play/{media_id}",
            get(recordings::play),
        )
        .route("/api/v2/live/{agent}", get(live::watch))
        .route(
            "/api/v2/srs/previews/{id}/{stream}/{seq}",
            axum::routing::put(live::preview_segment)
                .layer(DefaultBodyLimit::max(crate::segments::MAX_SEGMENT as usize)),
        )
        .route("/api/v2/keys/signing", get(evidence::signing_key))
        .route("/api/v2/recordings/{call_id}/export", get(evidence::export))
        .route_layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            metrics::track,
        ))
        .fallback(web::static_file)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(256 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            rejection::envelope,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            auth::csrf_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            auth::basic_gate,
        ))
        .layer(axum::middleware::from_fn(console_challenge))
        .layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            limits::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            browser::cors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            rws.clone(),
            security_headers::add,
        ))
        .layer(axum::middleware::from_fn(h2_host::add))
        .with_state(rws)
}

/// The OpenAPI 3.1 document of every endpoint (`api/openapi.json`, made by
/// `api/generate.py`; `e2e/openapi.rs` checks real responses against it).
async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../api/openapi.json"),
    )
}

/// Browsers show their own login box on a `WWW-Authenticate: Basic`
/// challenge; the console has its own login form, so its requests (marked
/// `X-Screenrec-Console`) get the 401 without the challenge.
async fn console_challenge(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let console = req.headers().contains_key("x-screenrec-console");
    let mut resp = next.run(req).await;
    if console {
        resp.headers_mut()
            .remove(axum::http::header::WWW_AUTHENTICATE);
    }
    resp
}

/// `GET /healthz`.
#[derive(Debug, serde::Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// A value of a type defined elsewhere (`proto`'s) as the JSON value
/// `json!` made of it: keys sorted, so the bodies that embed one keep the
/// bytes they had (the struct's own field order is not sorted).
pub(crate) fn sorted_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Fails when `body`'s JSON fields are not in the byte order of their names:
/// the bodies used to be `json!` maps, which serde_json writes sorted, and a
/// struct that lists its fields in that order writes the same bytes.
#[cfg(test)]
pub(crate) fn assert_json_order<T: serde::Serialize>(body: &T) {
    let as_declared = serde_json::to_string(body).unwrap_or_default();
    let sorted = serde_json::to_value(body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    assert_eq!(as_declared, sorted, "declare the fields in JSON name order");
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&Health {
            status: "ok",
            version: "1",
        });
    }
}
