//! quizroom: a live quiz server. A host opens a room, picks questions from
//! the merged bank catalog and broadcasts them; players buzz in or vote from
//! a browser; results are aggregated live and exported.
//!
//! The binary is a thin wrapper around [`run`], which tests call on port 0.

pub mod assets;
pub mod bank;
pub mod client_addr;
pub mod config;
pub mod healthcheck;
pub mod heap_trim;
pub mod http;
pub mod library;
pub mod live;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod state;
pub mod storage;

pub use config::Config;
pub use server::run;
