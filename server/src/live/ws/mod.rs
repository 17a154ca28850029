//! `GET /ws`: the WebSocket endpoint. The handshake is answered here
//! (Origin check, `101 Switching Protocols`); the upgraded TCP stream then
//! goes to [`conn`], one task per socket, which speaks the [`frame`] layer
//! itself, drains the socket's [`outbox`] and applies its [`limits`].
//!
//! The socket layer is written for memory: tens of thousands of idle
//! sockets must fit in a few KiB each, so no socket keeps a read or write
//! buffer, a second task, or a span.

pub mod clock_sync;
pub mod conformance;
pub mod conn;
pub mod fanout;
pub mod frame;
pub mod limits;
pub mod outbox;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::client_addr::client_addr;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::state::AppState;

/// The only WebSocket version there is (RFC 6455).
const WEBSOCKET_VERSION: &str = "13";

/// Answers a WebSocket handshake if it is well-formed and the Origin is
/// allowed, then runs the socket on its own task.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let headers = request.headers();
    let client = client_addr(peer.ip(), headers, &state.config().trusted_proxies);
    let accept = match handshake_key(headers) {
        Ok(key) => tungstenite::handshake::derive_accept_key(key.as_bytes()),
        Err(refusal) => return *refusal,
    };
    if !origin_allowed(headers, state.config()) {
        tracing::info!(%client, origin = ?headers.get(header::ORIGIN), "websocket origin refused");
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
    let Some(on_upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "not_upgradable",
            "this connection cannot switch to WebSocket",
        )
        .into_response();
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(%err, "websocket upgrade failed");
                return;
            }
        };
        // The server hands hyper plain TCP streams (see `server::serve_http`),
        // so the stream comes back out and the socket task owns it directly:
        // a task of its own, holding nothing of the upgrade.
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let stream = parts.io.into_inner();
                tokio::spawn(conn::serve(stream, parts.read_buf, state, client));
            }
            Err(_) => tracing::error!("upgraded connection is not a TCP stream"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// The client's `Sec-WebSocket-Key` if the request is a WebSocket
/// handshake (RFC 6455 section 4.2.1); otherwise the typed refusal.
fn handshake_key(headers: &HeaderMap) -> Result<&str, Box<Response>> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    let refuse = |message: &str| {
        Box::new(ApiError::new(StatusCode::BAD_REQUEST, "not_websocket", message).into_response())
    };
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(refuse("the Connection header must include 'upgrade'"));
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err(refuse("the Upgrade header must be 'websocket'"));
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some(WEBSOCKET_VERSION) {
        let mut response = ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "not_websocket",
            "only WebSocket version 13 is supported",
        )
        .into_response();
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static(WEBSOCKET_VERSION),
        );
        return Err(Box::new(response));
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| key.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| refuse("the Sec-WebSocket-Key header is missing"))
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
