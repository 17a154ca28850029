//! Server configuration: every setting is a flag and an environment variable,
//! so the same binary runs on a laptop, behind a proxy, or in a container.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::client_addr::TrustedProxy;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The default `--seeds` folder; when it is not in the working directory the
/// banks built into the binary are used instead.
pub const DEFAULT_SEEDS: &str = "seeds";

/// Everything the server needs to run. Tests build it with [`Config::default`]
/// and override fields.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "QUIZROOM_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Folder of question-bank files loaded at start.
    #[arg(long, env = "QUIZROOM_SEEDS", default_value = DEFAULT_SEEDS)]
    pub seeds: PathBuf,

    /// Folder for the results database.
    #[arg(long, env = "QUIZROOM_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Extra allowed WebSocket origins (comma separated); same origin is always allowed.
    #[arg(long, env = "QUIZROOM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Public base URL used in join links (e.g. https://quiz.example.org).
    #[arg(long, env = "QUIZROOM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Most players per room.
    #[arg(long, env = "QUIZROOM_ROOM_CAPACITY", default_value_t = 2000)]
    pub room_capacity: usize,

    /// Most live rooms per server.
    #[arg(long, env = "QUIZROOM_MAX_ROOMS", default_value_t = 2000)]
    pub max_rooms: usize,

    /// Seconds a dropped player's seat is kept for resume.
    #[arg(long, env = "QUIZROOM_RESUME_WINDOW_SECS", default_value_t = 300)]
    pub resume_window_secs: u64,

    /// Seconds a room with no host connected is kept before cleanup.
    #[arg(long, env = "QUIZROOM_HOST_GRACE_SECS", default_value_t = 1800)]
    pub host_grace_secs: u64,

    /// Milliseconds a new socket has to identify itself.
    #[arg(long, env = "QUIZROOM_IDENTIFY_TIMEOUT_MS", default_value_t = 5000)]
    pub identify_timeout_ms: u64,

    /// Seconds between keepalive pings; a peer silent for three intervals is dead.
    #[arg(long, env = "QUIZROOM_PING_SECS", default_value_t = 10)]
    pub ping_secs: u64,

    /// Outbound messages queued per socket before it is dropped as slow.
    #[arg(long, env = "QUIZROOM_OUTBOUND_QUEUE", default_value_t = 256)]
    pub outbound_queue: usize,

    /// Hours results of ended rooms are kept.
    #[arg(long, env = "QUIZROOM_RETENTION_HOURS", default_value_t = 24)]
    pub retention_hours: u64,

    /// Token required to upload banks (none: anyone may upload).
    #[arg(long, env = "QUIZROOM_ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// Log format.
    #[arg(long, env = "QUIZROOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Reverse proxies (addresses or networks, comma-separated) whose
    /// `X-Forwarded-For` names the client; needed behind nginx or Caddy so
    /// per-address limits see players, not the proxy.
    #[arg(long, env = "QUIZROOM_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<TrustedProxy>,

    /// PostgreSQL database for results and the hosts' libraries instead of
    /// the SQLite files under the data dir (e.g.
    /// postgres://quizroom@127.0.0.1/quizroom); every node of a cluster
    /// uses the same one.
    #[arg(long, env = "QUIZROOM_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Redis for cluster mode (e.g. redis://127.0.0.1:6379): nodes with the
    /// same Redis and database serve the same rooms. Needs --database-url.
    #[arg(long, env = "QUIZROOM_REDIS_URL")]
    pub redis_url: Option<String>,

    /// This node's name in the cluster (default: random).
    #[arg(long, env = "QUIZROOM_NODE_ID")]
    pub node_id: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:8080".parse().expect("literal address"),
            seeds: PathBuf::from(DEFAULT_SEEDS),
            data_dir: PathBuf::from("data"),
            allowed_origins: Vec::new(),
            public_url: None,
            room_capacity: 2000,
            max_rooms: 2000,
            resume_window_secs: 300,
            host_grace_secs: 1800,
            identify_timeout_ms: 5000,
            ping_secs: 10,
            outbound_queue: 256,
            retention_hours: 24,
            admin_token: None,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            database_url: None,
            redis_url: None,
            node_id: None,
        }
    }
}
