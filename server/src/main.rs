//! The `quizroom` binary: `quizroom [serve flags]` runs the server,
//! `quizroom check FILE… [--json]` validates bank files.

use clap::{Parser, Subcommand};
use quizroom::config::{Config, LogFormat};

#[derive(Parser)]
#[command(name = "quizroom", version, about = "A live quiz server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Cmd {
    /// Parse bank files and print a summary (or the parsed JSON).
    Check {
        /// Bank files to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Print the parsed-bank JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Ask the server at `--addr` for `/healthz`; exit 0 if healthy (for container health checks).
    Healthcheck,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUIZROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files and scripts reading
    // `listening addr=...` get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.config.log_format);
    match cli.command {
        Some(Cmd::Check { files, json }) => {
            let result = quizroom::bank::check::run(
                &files,
                json,
                &mut std::io::stdout().lock(),
                &mut std::io::stderr().lock(),
            );
            match result {
                Ok(true) => Ok(()),
                Ok(false) => std::process::exit(1),
                // `quizroom check … | head` closing the pipe early is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Some(Cmd::Healthcheck) => {
            quizroom::healthcheck::probe(cli.config.addr)?;
            Ok(())
        }
        None => serve(cli.config),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let addr = config.addr;
    let listener = match runtime.block_on(async { listen(addr) }) {
        Ok(listener) => listener,
        Err(e) => {
            // One clear line for the operator, not a backtrace.
            tracing::error!("cannot listen on {addr}: {}", bind_hint(&e));
            std::process::exit(2);
        }
    };
    runtime.block_on(quizroom::run(listener, config, stop_signal()))
}

/// What a failed bind means, in words an operator can act on.
fn bind_hint(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (another quizroom or program holds the port; pick another with --addr)".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges; try a port above 1024)".into()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "no network interface has that address (use 0.0.0.0 or 127.0.0.1)".into()
        }
        _ => e.to_string(),
    }
}

/// Pending handshakes the kernel queues before the server accepts them.
/// A classroom joining at once (hundreds of phones in a second) overflows
/// the 128 a plain `bind` asks for, and each overflow costs the phone a
/// one-second SYN retransmit; the kernel still caps it at `somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (container stop, systemd), the
/// two ways a server is asked to stop; either starts a graceful shutdown.
async fn stop_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
