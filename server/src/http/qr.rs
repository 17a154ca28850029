//! `GET /api/qr.svg?text=...`: a QR code as SVG, drawn by the server so the
//! host console and the big screen can show a scannable join link without
//! any script library or network access.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::state::AppState;

/// Longest text a QR code is made for, in bytes: a join link is far
/// shorter, and the cap keeps the work per request small.
pub const MAX_QR_TEXT: usize = 512;

/// Routes for QR codes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/qr.svg", get(qr_svg))
}

#[derive(Deserialize)]
struct QrQuery {
    #[serde(default)]
    text: String,
}

async fn qr_svg(query: Result<Query<QrQuery>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(QrQuery { text }) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let image = render_svg(&text)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            // The picture depends only on the query string.
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        image,
    )
        .into_response())
}

/// Renders `text` as an SVG QR code (medium error correction, quiet zone).
pub fn render_svg(text: &str) -> Result<String, ApiError> {
    if text.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_text",
            "query parameter `text` is required",
        ));
    }
    if text.len() > MAX_QR_TEXT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "text_too_long",
            format!("`text` is longer than {MAX_QR_TEXT} bytes"),
        ));
    }
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "text_too_long",
            format!("cannot encode `text` as a QR code: {e}"),
        )
    })?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_join_link() {
        let image = render_svg("http://192.168.1.20:8080/join/ABC234").expect("renders");
        assert!(image.starts_with("<?xml") || image.starts_with("<svg"));
        assert!(image.contains("<svg"));
        assert!(image.contains("#000000"));
    }

    #[test]
    fn refuses_empty_and_long_text() {
        assert_eq!(render_svg("").unwrap_err().code, "missing_text");
        let long = "x".repeat(MAX_QR_TEXT + 1);
        assert_eq!(render_svg(&long).unwrap_err().code, "text_too_long");
    }
}
