//! The browser app: every app route (`/`, `/host`, `/join/{code}`, `/edit`,
//! `/screen/{code}`, ...) gets the same `index.html`, whose script picks the
//! view from the path; files under `/assets/` come from the embedded `web/`
//! folder with their content type and an ETag, so browsers revalidate
//! cheaply and a new binary's files are picked up at once.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::assets::WebAssets;
use crate::state::AppState;

/// What the app's pages may load: only this server (no CDN, no inline
/// script), WebSockets to it, and the QR images it draws.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; connect-src 'self' ws: wss:; object-src 'none'; \
base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Routes for the web app and its static files.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/host", get(index))
        .route("/host/{code}", get(index))
        .route("/join", get(index))
        .route("/join/{code}", get(index))
        .route("/screen", get(index))
        .route("/screen/{code}", get(index))
        .route("/edit", get(index))
        .route("/edit/{id}", get(index))
        .route("/edit/q/{id}", get(index))
        .route("/panel/{code}", get(index))
        .route("/favicon.ico", get(favicon))
        .route("/assets/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn favicon(headers: HeaderMap) -> Response {
    serve("favicon.svg", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// Serves one embedded file, answering `304 Not Modified` when the
/// browser already holds this exact version.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return not_found();
    }
    let Some(file) = WebAssets::get(path) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let content_type = content_type(path, file.metadata.mimetype());
    let mut out = HeaderMap::new();
    insert(&mut out, header::CACHE_CONTROL, "no-cache");
    insert(&mut out, header::ETAG, &etag);
    insert(&mut out, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if path.ends_with(".html") {
        insert(&mut out, header::CONTENT_SECURITY_POLICY, CSP);
        insert(&mut out, header::REFERRER_POLICY, "no-referrer");
        insert(&mut out, header::X_FRAME_OPTIONS, "DENY");
    }
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    insert(&mut out, header::CONTENT_TYPE, &content_type);
    (StatusCode::OK, out, file.data.into_owned()).into_response()
}

/// The content type for a file, with a charset for text so Cyrillic in
/// scripts and pages is never misread.
fn content_type(path: &str, guessed: &str) -> String {
    let ext = path.rsplit('.').next().unwrap_or_default();
    let base = match ext {
        "html" => "text/html",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "txt" => "text/plain",
        _ => guessed,
    };
    if base.starts_with("text/") || base == "image/svg+xml" || base == "application/json" {
        format!("{base}; charset=utf-8")
    } else {
        base.to_string()
    }
}

fn insert(map: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        map.insert(name, value);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types_carry_a_charset() {
        assert_eq!(
            content_type("js/main.js", "application/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("app.css", "text/css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("x.png", "image/png"), "image/png");
    }

    #[test]
    fn index_and_scripts_are_embedded() {
        for path in ["index.html", "app.css", "js/main.js", "js/i18n.js"] {
            assert!(WebAssets::get(path).is_some(), "{path} missing");
        }
    }

    #[test]
    fn refuses_path_tricks() {
        let headers = HeaderMap::new();
        assert_eq!(
            serve("../Cargo.toml", &headers).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve("js//main.js", &headers).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(serve("nope.js", &headers).status(), StatusCode::NOT_FOUND);
    }
}
