//! Console login and logout, and the two request gates: HTTP Basic on
//! any route and the console's CSRF check. Who a request is
//! ([`crate::auth::authenticate`]) is the core's.

use crate::auth::console_sessions as sessions;
use crate::auth::{
    CONSOLE_COOKIE, CONSOLE_SESSION_HOURS, GATE_VERIFIED, basic_credentials, cookie_token,
    new_token, token_hash,
};
use crate::error::ApiError;
use crate::http::authz::{ClientIp, client_ip};
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// Middleware: a request with `Authorization: Basic` is checked here, on
/// every route, before its body is read: refused (401/429/503) or passed on
/// with the verified user for [`authenticate`].
pub async fn basic_gate(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut req = req;
    let addr = client_ip(&req);
    req.extensions_mut().insert(ClientIp(addr));
    let (username, password) = match basic_credentials(req.headers()) {
        Ok(Some(credentials)) => credentials,
        Ok(None) => return GATE_VERIFIED.scope(None, next.run(req)).await,
        Err(e) => return e.into_response(),
    };
    match crate::auth::login(&rws, addr, &username, &password).await {
        Ok(user) => GATE_VERIFIED.scope(Some(user), next.run(req)).await,
        Err(resp) => resp,
    }
}

/// `POST /api/v2/auth/login` `{"username", "password"}`: a console session
/// (cookie `RWSSESSION`, HttpOnly, SameSite=Strict, 8 hours).
pub async fn console_login(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    axum::Extension(ClientIp(addr)): axum::Extension<ClientIp>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        username: String,
        password: String,
    }
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(format!(
            "request body: {e} (expected {{\"username\", \"password\"}})"
        ))
    })?;
    let user = match crate::auth::login(&rws, addr, &login.username, &login.password).await {
        Ok(u) => u,
        Err(refused) => return Ok(refused),
    };
    let token = new_token();
    let csrf = new_token();
    let now = time::OffsetDateTime::now_utc();
    let expires = now + time::Duration::hours(CONSOLE_SESSION_HOURS);
    sessions::open_console_session(
        &rws.db,
        &sessions::NewConsoleSession {
            token_hash: &token_hash(&token),
            username: &user.username,
            created_at: &crate::recording::rfc3339(now),
            expires_at: &crate::recording::rfc3339(expires),
            csrf: &csrf,
        },
    )
    .await?;
    tracing::info!(user = %proto::logsafe::Escaped(&user.username), "console login");
    let mut resp = axum::Json(LoggedIn {
        csrf_token: csrf,
        user: crate::http::sorted_value(&user.resource()),
    })
    .into_response();
    let cookie = format!(
        "{CONSOLE_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        CONSOLE_SESSION_HOURS * 3600
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /api/v2/auth/logout`: ends the console session.
pub async fn console_logout(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if let Some(token) = cookie_token(&headers) {
        sessions::close_console_session(&rws.db, &token_hash(&token)).await?;
    }
    let mut resp = axum::Json(LoggedOut { status_code: 0 }).into_response();
    resp.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        axum::http::HeaderValue::from_static(
            "RWSSESSION=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(resp)
}

/// Requests authenticated by the console cookie that change something
/// (not GET/HEAD/OPTIONS) must carry the session's `X-CSRF-Token`; only a
/// request whose `Authorization: Basic` authenticates it is exempt.
pub async fn csrf_guard(
    axum::extract::State(rws): axum::extract::State<crate::Rws>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = path == "/api/v2/auth/login" || path == "/api/v2/auth/logout";
    // Only Basic credentials take the place of the cookie (`authenticate`
    // tries them first and never falls back): any other Authorization
    // header (a junk `Bearer`) leaves the cookie deciding, so CSRF applies.
    let basic = !matches!(basic_credentials(req.headers()), Ok(None));
    if !safe
        && !exempt
        && !basic
        && let Some(token) = cookie_token(req.headers())
    {
        let expected = sessions::console_session_csrf(&rws.db, &token_hash(&token))
            .await
            .unwrap_or(None);
        let given = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ok = expected
            .is_some_and(|e| !e.is_empty() && bool::from(e.as_bytes().ct_eq(given.as_bytes())));
        if !ok {
            return ApiError::Forbidden(
                "Missing or invalid Csrf token (X-CSRF-Token from the login answer)".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// `POST /api/v2/auth/login`: who logged in and the CSRF token the console
/// sends back on every change (fields in JSON name order).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedIn {
    csrf_token: String,
    user: serde_json::Value,
}

/// `POST /api/v2/auth/logout`: the GWS "done".
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedOut {
    status_code: i32,
}

#[cfg(test)]
mod json_order_tests {
    use super::*;
    use crate::http::assert_json_order;

    #[test]
    fn fields_are_in_json_name_order() {
        assert_json_order(&LoggedIn {
            csrf_token: "t".into(),
            user: serde_json::Value::Null,
        });
        assert_json_order(&LoggedOut { status_code: 0 });
    }
}
