//! A tiny HTTP/1.1 client for the few setup calls the generator makes
//! (create rooms, upload a bank, health checks). One request per
//! connection, `Connection: close`, bounded in time and size.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response body read (setup answers are small).
const MAX_RESPONSE: usize = 8 * 1024 * 1024;

/// An HTTP answer: status code and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends one request and reads the whole answer within `limit`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    content_type: &str,
    limit: Duration,
) -> anyhow::Result<Response> {
    send(addr, method, path_and_query, body, content_type, "", limit).await
}

/// A `GET` with `Authorization: Bearer TOKEN` (results, history), read
/// whole within `limit`.
pub async fn get_authorized(
    addr: SocketAddr,
    path_and_query: &str,
    token: &str,
    limit: Duration,
) -> anyhow::Result<Response> {
    let auth = format!("Authorization: Bearer {token}\r\n");
    send(addr, "GET", path_and_query, b"", "text/plain", &auth, limit).await
}

/// One request with `extra` header lines (each ending in CRLF).
async fn send(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    content_type: &str,
    extra: &str,
    limit: Duration,
) -> anyhow::Result<Response> {
    tokio::time::timeout(limit, async {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        let head = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
            if raw.len() > MAX_RESPONSE {
                bail!("response from {addr} is over {MAX_RESPONSE} bytes");
            }
        }
        parse_response(&raw)
    })
    .await
    .with_context(|| format!("{method} {path_and_query} took over {limit:?}"))?
}

/// Splits a raw HTTP/1.1 response into status and (de-chunked) body.
fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in response")?;
    let head = std::str::from_utf8(&raw[..split]).context("response head is not UTF-8")?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..eol])?;
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {size_hex:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_response() {
        let r = parse_response(b"HTTP/1.1 201 Created\r\ncontent-length: 11\r\n\r\n{\"code\":1}\n")
            .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, "{\"code\":1}\n");
    }

    #[test]
    fn parses_chunked_response() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "Wikipedia");
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_response(b"nonsense").is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[tokio::test]
    async fn talks_to_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(5).any(|w| w == b"hello") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "request ended early");
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let r = request(
            addr,
            "POST",
            "/x?y=1",
            b"hello",
            "text/plain",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                body: "ok".into()
            }
        );
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /x?y=1 HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Content-Length: 5"), "{req}");
    }
}
