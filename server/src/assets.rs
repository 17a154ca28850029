//! The browser app, embedded in the binary so `cargo run --release` alone is
//! the whole product (no CDN; works offline on a LAN).

use rust_embed::RustEmbed;

/// Files under `web/`, embedded at compile time.
#[derive(RustEmbed)]
#[folder = "../web/"]
pub struct WebAssets;
