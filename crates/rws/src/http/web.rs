//! The web files of the workspace's `web/` folder, embedded in the binary
//! (no Node.js or files needed at run time): `/srs-client.js`, `/desktop/`.
//! A path that names a folder serves its `index.html`; `/desktop` redirects
//! to `/desktop/` so relative imports resolve; `/` redirects to the
//! console, `/favicon.svg` (and `/favicon.ico`) is the product's icon.

use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "../../web/"]
struct Web;

/// Serves an embedded file, or a 404 envelope.
pub async fn static_file(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    // People type the bare host name: send them to the console.
    if path.is_empty() {
        return Redirect::temporary("/console/").into_response();
    }
    // Browsers ask for `/favicon.ico` on their own; the SVG answers it.
    let path = if path == "favicon.ico" {
        "favicon.svg"
    } else {
        path
    };
    let candidates = if path.ends_with('/') {
        vec![format!("{path}index.html")]
    } else {
        vec![path.to_string()]
    };
    for c in &candidates {
        if let Some(file) = Web::get(c) {
            let mime = mime_guess::from_path(c).first_or_octet_stream();
            let mut resp = file.data.into_owned().into_response();
            if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return resp;
        }
    }
    if !path.is_empty() && !path.ends_with('/') && Web::get(&format!("{path}/index.html")).is_some()
    {
        return Redirect::permanent(&format!("/{path}/")).into_response();
    }
    ApiError::NotFound(format!("no such path: {}", uri.path())).into_response()
}
