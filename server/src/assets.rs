//! The browser app, embedded in the binary so `cargo run --release` alone is
//! the whole product (no CDN; works offline on a LAN).

use rust_embed::RustEmbed;

/// Files under `web/`, embedded at compile time.
#[derive(RustEmbed)]
#[folder = "../web/"]
pub struct WebAssets;

/// The banks in `seeds/`, embedded at compile time, so the binary run from
/// any folder (or installed alone) still has its demo and seed banks when no
/// `seeds/` folder is next to it.
#[derive(RustEmbed)]
#[folder = "../seeds/"]
pub struct SeedBanks;
