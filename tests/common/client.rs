//! A WebSocket test client: send JSON, wait for a message of a given type
//! (with a timeout, never a guessed sleep), and inspect close frames. Every
//! received frame is kept so tests can check what a client was ever sent.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected message before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// What a client read from its socket.
#[derive(Debug)]
pub enum Event {
    /// A JSON text message.
    Json(Value),
    /// The server closed the socket (with its close frame, if any).
    Closed(Option<CloseFrame>),
}

/// One connected WebSocket client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every JSON message received so far, in order.
    pub log: Vec<Value>,
    /// Every raw text frame received so far, in order.
    pub raw: Vec<String>,
    closed: Option<Option<CloseFrame>>,
}

impl Client {
    /// Connects to `ws_url` without an Origin header (a non-browser client).
    pub async fn connect(ws_url: &str) -> Client {
        Client::connect_with_origin(ws_url, None)
            .await
            .expect("websocket connect")
    }

    /// Connects, optionally sending an Origin header like a browser does.
    pub async fn connect_with_origin(
        ws_url: &str,
        origin: Option<&str>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut request = ws_url.into_client_request()?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("origin header"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Client::wrap(ws))
    }

    /// Connects with extra request headers (as a reverse proxy adds them).
    pub async fn connect_with_headers(ws_url: &str, headers: &[(&'static str, &str)]) -> Client {
        let mut request = ws_url.into_client_request().expect("websocket url");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header value"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connect");
        Client::wrap(ws)
    }

    /// Connects over a socket whose receive buffer is tiny, so a client
    /// that stops reading backs up into the server quickly.
    pub async fn connect_small_buffer(addr: std::net::SocketAddr, ws_url: &str) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let request = ws_url.into_client_request().unwrap();
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
        Client::wrap(ws)
    }

    fn wrap(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            log: Vec::new(),
            raw: Vec::new(),
            closed: None,
        }
    }

    /// Sends one JSON object as a text frame.
    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_string()))
            .await
            .expect("send text frame");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send binary frame");
    }

    /// Sends a raw text frame, tolerating a socket the server already closed.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text.to_string())).await.is_ok()
    }

    /// The next message or close, or `None` if nothing came within `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        if let Some(frame) = &self.closed {
            return Some(Event::Closed(frame.clone()));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("server sent non-JSON {text:?}: {e}"));
                    self.raw.push(text.to_string());
                    self.log.push(value.clone());
                    return Some(Event::Json(value));
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = Some(frame.clone());
                    return Some(Event::Closed(frame));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.closed = Some(None);
                    return Some(Event::Closed(None));
                }
            }
        }
    }

    /// The next JSON message; fails the test on close or timeout.
    pub async fn recv(&mut self) -> Value {
        match self.next_event(WAIT).await {
            Some(Event::Json(value)) => value,
            Some(Event::Closed(frame)) => panic!("socket closed while waiting: {frame:?}"),
            None => panic!("no message within {WAIT:?}"),
        }
    }

    /// Skips messages until one of type `kind` arrives.
    pub async fn recv_until(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(Event::Json(value)) if value["type"] == kind => return value,
                Some(Event::Json(_)) => continue,
                Some(Event::Closed(frame)) => {
                    panic!(
                        "socket closed while waiting for {kind:?}: {frame:?}; got {:?}",
                        self.log
                            .iter()
                            .map(|m| m["type"].clone())
                            .collect::<Vec<_>>()
                    )
                }
                None => panic!("no {kind:?} message within {WAIT:?}; got {:?}", self.log),
            }
        }
    }

    /// Skips messages until one matches `pred`.
    pub async fn recv_matching(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(Event::Json(value)) if pred(&value) => return value,
                Some(Event::Json(_)) => continue,
                Some(Event::Closed(frame)) => {
                    panic!("socket closed while waiting for {what}: {frame:?}")
                }
                None => panic!("no {what} within {WAIT:?}; got {:?}", self.log),
            }
        }
    }

    /// Expects an `error` message with `code` next (skipping other types).
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let error = self.recv_until("error").await;
        assert_eq!(error["code"], code, "unexpected error: {error}");
        error
    }

    /// Reads until the server closes the socket; returns the close code
    /// (`None` if the socket ended without a close frame).
    pub async fn expect_close(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(Event::Json(_)) => continue,
                Some(Event::Closed(frame)) => return frame.map(|f| u16::from(f.code)),
                None => panic!("socket not closed within {WAIT:?}"),
            }
        }
    }

    /// Round-trips a `ping` to prove the socket is open and usable, and that
    /// everything the server sent before has been read.
    pub async fn ping(&mut self) {
        let t = rand_token();
        self.send_json(serde_json::json!({"type": "ping", "t": t}))
            .await;
        self.recv_matching("pong", |v| v["type"] == "pong" && v["t"] == t)
            .await;
    }

    /// Closes the socket from the client side (like a page refresh).
    pub async fn drop_connection(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn rand_token() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
