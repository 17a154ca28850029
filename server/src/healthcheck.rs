//! `quizroom healthcheck`: asks a running server's `/healthz` and exits 0 or
//! 1, so a container image needs no curl (the runtime image has no shell).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Seconds the probe may take in total before it counts as a failure.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why the probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No connection, or it broke.
    #[error("{addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server answered, but not `200`.
    #[error("{addr}: /healthz answered {status_line:?}")]
    Unhealthy {
        addr: SocketAddr,
        status_line: String,
    },
}

/// The address to probe for a server listening on `listen`: a wildcard
/// listen address is reached on loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Sends `GET /healthz` to the server listening on `listen` and checks for `200`.
pub fn probe(listen: SocketAddr) -> Result<(), ProbeError> {
    let addr = probe_addr(listen);
    let io = |source| ProbeError::Io { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(io)?;
    let mut head = Vec::with_capacity(256);
    // The status line is all that matters; read at most a small head.
    let _ = Read::by_ref(&mut stream)
        .take(256)
        .read_to_end(&mut head)
        .map_err(io)?;
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default().to_string();
    let ok = status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200");
    if ok {
        Ok(())
    } else {
        Err(ProbeError::Unhealthy { addr, status_line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_probed_on_loopback() {
        let a: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(probe_addr(a), "127.0.0.1:8080".parse().unwrap());
        let b: SocketAddr = "[::]:9000".parse().unwrap();
        assert_eq!(probe_addr(b), "[::1]:9000".parse().unwrap());
        let c: SocketAddr = "127.0.0.2:1".parse().unwrap();
        assert_eq!(probe_addr(c), c);
    }

    #[test]
    fn a_closed_port_fails() {
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(matches!(probe(addr), Err(ProbeError::Io { .. })));
    }

    #[tokio::test]
    async fn a_running_server_is_healthy() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config {
            addr,
            seeds: dir.path().join("no-seeds"),
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::run(listener, config, async {
            let _ = rx.await;
        }));
        let probed = tokio::task::spawn_blocking(move || probe(addr))
            .await
            .unwrap();
        assert!(probed.is_ok(), "{probed:?}");
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
}
