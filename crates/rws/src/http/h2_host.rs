//! HTTP/2 requests name their host in the `:authority` pseudo-header, which
//! hyper puts in the request URI, not in a `Host` header. Code that builds
//! URLs from the request's host (the control-channel URL given to SRS)
//! reads `Host`; this layer copies the URI's authority there when a request
//! has none, so HTTP/1.1 and HTTP/2 clients get the same answers. (SRS's
//! HTTP client speaks HTTP/2 over TLS since the S3 client, which needs it,
//! is in every build.)

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::HOST;
use axum::middleware::Next;
use axum::response::Response;

/// Sets `Host` from the URI's authority when the request has no `Host`.
pub async fn add(mut req: Request, next: Next) -> Response {
    if !req.headers().contains_key(HOST)
        && let Some(value) = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(HOST, value);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, Request};
    use axum::routing::get;
    use tower::ServiceExt;

    async fn host(headers: HeaderMap) -> String {
        headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("none")
            .to_string()
    }

    async fn answer(req: Request<Body>) -> String {
        let app = Router::new()
            .route("/", get(host))
            .layer(axum::middleware::from_fn(super::add));
        let res = app.oneshot(req).await.unwrap_or_else(|e| match e {});
        let body = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn the_authority_becomes_the_host_only_when_there_is_none() {
        let h2 = Request::get("https://rws.example:8443/")
            .body(Body::empty())
            .unwrap_or_default();
        assert_eq!(answer(h2).await, "rws.example:8443");
        let h1 = Request::get("https://rws.example:8443/")
            .header("Host", "given.example")
            .body(Body::empty())
            .unwrap_or_default();
        assert_eq!(answer(h1).await, "given.example");
        let neither = Request::get("/").body(Body::empty()).unwrap_or_default();
        assert_eq!(answer(neither).await, "none");
    }
}
