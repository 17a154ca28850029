//! `GET /ws`: the WebSocket endpoint. The upgrade checks the Origin and sets
//! small explicit buffers; [`conn`] then runs the socket (reader and writer
//! tasks), [`outbox`] is its bounded outbound queue and [`limits`] its rate
//! limits.

pub mod conn;
pub mod limits;
pub mod outbox;

use std::net::SocketAddr;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::http::error::ApiError;
use crate::protocol::MAX_CLIENT_MESSAGE;
use crate::state::AppState;

/// Bytes read from the network at a time. Client messages are small (a
/// vote is under 100 bytes) and the buffer is allocated up front for every
/// socket, so it stays small; a bigger frame grows it as needed.
const READ_BUFFER: usize = 256;
/// Bytes gathered before writing to the network (flushes write sooner).
/// The buffer keeps the capacity it once reached for the socket's life, so
/// a burst to one slow reader must not leave a large buffer behind.
const WRITE_BUFFER: usize = 4 * 1024;
/// Most bytes buffered for writing; a bigger backlog fails the socket. Must
/// hold the largest server message (a full room's welcome).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// Frames and messages up to this size are read whole so the client gets a
/// clean close 1009 for anything over [`MAX_CLIENT_MESSAGE`]; beyond it the
/// socket fails at the protocol level (still answered with 1009 when possible).
pub const READ_LIMIT: usize = 16 * MAX_CLIENT_MESSAGE;

/// Upgrades to a WebSocket if the Origin is allowed.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !origin_allowed(&headers, state.config()) {
        tracing::info!(%peer, origin = ?headers.get(header::ORIGIN), "websocket origin refused");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_origin",
            "this origin may not open a socket to this server",
        )
        .into_response();
    }
    if state.is_shutting_down() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is restarting; try again shortly",
        )
        .into_response();
    }
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(READ_LIMIT)
        .max_frame_size(READ_LIMIT)
        .on_upgrade(move |socket| conn::serve(socket, state, peer.ip()))
}

/// Browsers always send Origin; a page on another site must not drive a
/// room from a visitor's browser. Allowed: no Origin at all (non-browser
/// clients), the server's own origin (Origin's host equals the Host header),
/// the origin of `public_url`, and every entry of `allowed_origins`
/// (`*` allows any).
pub fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase());
    if let (Some((_, authority)), Some(host)) = (origin.split_once("://"), host) {
        if authority == host {
            return true;
        }
    }
    let same = |allowed: &str| {
        let allowed = allowed.trim().trim_end_matches('/');
        allowed == "*" || allowed.eq_ignore_ascii_case(&origin)
    };
    config
        .public_url
        .as_deref()
        .map(origin_of)
        .is_some_and(|o| same(&o))
        || config.allowed_origins.iter().any(|allowed| same(allowed))
}

/// `scheme://authority` of a URL, dropping any path.
fn origin_of(url: &str) -> String {
    let url = url.trim();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split('/').next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        h
    }

    #[test]
    fn same_origin_and_originless_clients_are_allowed() {
        let config = Config::default();
        assert!(origin_allowed(&headers(None, "quiz.example:8080"), &config));
        assert!(origin_allowed(
            &headers(Some("http://quiz.example:8080"), "quiz.example:8080"),
            &config
        ));
        assert!(origin_allowed(
            &headers(Some("https://QUIZ.example"), "quiz.example"),
            &config
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), "quiz.example"),
            &config
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "quiz.example"),
            &config
        ));
    }

    #[test]
    fn configured_origins_are_allowed() {
        let config = Config {
            allowed_origins: vec!["https://slides.example/".into()],
            public_url: Some("https://quiz.example.org/base".into()),
            ..Config::default()
        };
        let h = |o| headers(Some(o), "10.0.0.5:8080");
        assert!(origin_allowed(&h("https://slides.example"), &config));
        assert!(origin_allowed(&h("https://quiz.example.org"), &config));
        assert!(!origin_allowed(&h("https://other.example"), &config));
    }
}
