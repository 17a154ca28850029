//! Cluster mode: several nodes serve the same rooms, with Redis between
//! them. A room runs on one node, its owner: the node holding the room's
//! lease in Redis (`SET NX PX`, renewed while the room lives). A socket
//! that names a room owned elsewhere is attached to a local proxy for that
//! room (a [`RoomHandle`] like any other, so the socket layer is the same):
//! the proxy relays the socket's messages to the owner over the owner's
//! node channel, and the owner sends what the socket should see back over
//! this node's channel. Every node subscribes to one channel of its own, so
//! all a node hears from an owner arrives in the order it was sent.
//!
//! What leaves an owner: a broadcast is serialized once by the owner and
//! published once per node that holds any of its recipients (with the role
//! or the socket ids it is for, decided by the owner, so the privacy rules
//! of a local room hold unchanged); that node queues the same text to its
//! local sockets. A message for one socket goes only to the node holding
//! that socket.
//!
//! Redis client: the `redis` crate (with `tokio-comp` and its
//! `ConnectionManager`): the most used Rust client, maintained with Redis
//! itself, async on tokio, and its connection manager reconnects by itself
//! after Redis restarts, which is what a node needs to ride out an outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use dashmap::DashMap;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::live::room::ConnId;
use crate::live::rooms::{RoomHandle, ToRoom};
use crate::live::ws::outbox::{Outbox, PushError, CLOSE_RESTART, CLOSE_ROOM_GONE, CLOSE_SLOW};
use crate::protocol::{ClientMsg, PressTiming, Role};
use crate::state::AppState;

/// Version of the relay envelope below. Nodes with another version refuse
/// to join (and a message of another version is dropped and counted).
/// Version 2: a lease's value names the node's start too (see
/// [`lease_node`]), which version-1 nodes would read as a node id.
pub const RELAY_VERSION: u32 = 2;

/// How long a room's lease lasts without renewal: the time a dead owner
/// holds a room before another node may take it.
pub const LEASE_MS: u64 = 6_000;

/// How often an owner renews the leases of its rooms.
const RENEW_EVERY: Duration = Duration::from_millis(2_000);

/// How long this node waits for another node's answer to a question that
/// is not a socket's first message (the channel subscribed at start, a
/// results query).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How much sooner than the socket's identify timeout a relayed first
/// message gives up waiting for the owner's answer: the socket must hear
/// `cluster_unavailable` (and may try again) before its own deadline closes
/// it with 4003 "identify timeout". It covers the time between the socket's
/// connect and its first message, and the socket's own timer.
const HELLO_MARGIN: Duration = Duration::from_millis(1_000);

/// The shortest wait for the owner's answer to a relayed first message
/// when the identify timeout leaves room for it: an owner busy restoring a
/// room gets at least this long.
const HELLO_FLOOR: Duration = Duration::from_millis(1_000);

/// How long a relayed first message waits for the owner's answer, from the
/// socket's identify timeout (`identify_timeout_ms`): that timeout less
/// [`HELLO_MARGIN`], at least [`HELLO_FLOOR`], and always strictly shorter
/// than the identify timeout (half of it when it is too short for both), so
/// a socket whose hello the owner never answers (it died, a failover is
/// under way) gets the typed `cluster_unavailable` error, not a close.
pub fn hello_wait(identify_timeout_ms: u64) -> Duration {
    let identify = Duration::from_millis(identify_timeout_ms);
    let wait = identify.saturating_sub(HELLO_MARGIN).max(HELLO_FLOOR);
    if wait < identify {
        wait
    } else {
        identify / 2
    }
}

/// Most socket ids a broadcast names before it names roles instead.
const MAX_LISTED: usize = 64;

/// Renews a lease only while this node holds it.
const RENEW_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Releases a lease only while this node holds it.
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) else return 0 end";

/// The node id in a lease's value `NODE#START`: leases name the node's
/// start (a random id per process start) as well as the node, so a node
/// restarted with the same `--node-id` neither renews nor releases what
/// its earlier process held, and proxies see a restarted owner as a new
/// one and seat their sockets again.
pub fn lease_node(lease: &str) -> &str {
    lease.rsplit_once('#').map_or(lease, |(node, _)| node)
}

fn lease_key(code: &str) -> String {
    format!("quizroom:lease:{code}")
}

fn node_channel(node: &str) -> String {
    format!("quizroom:node:{node}")
}

/// The key every node checks its versions against on joining.
const VERSIONS_KEY: &str = "quizroom:cluster:versions";

/// Who receives a relayed message on the node it is sent to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// These sockets.
    Conns(Vec<ConnId>),
    /// Every identified socket of the room with one of these roles.
    Roles(Vec<Role>),
}

/// One message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Relay {
    /// To the owner: a remote socket's first message.
    Hello {
        room: String,
        from: String,
        conn: ConnId,
        msg: ClientMsg,
    },
    /// To the owner: a later message of a remote socket. A buzz carries
    /// what the socket's node measured of the client's clock and link
    /// (never read from the client's wire, so not inside `msg`): arrival
    /// on that node's wall clock, offset to it, one-way bound.
    Msg {
        room: String,
        conn: ConnId,
        msg: ClientMsg,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timing: Option<PressTiming>,
    },
    /// To the owner: a remote socket went away.
    Bye { room: String, conn: ConnId },
    /// To a socket's node: the role the owner gave it (`None`: refused),
    /// and the first message that seats it again wherever the room runs
    /// next (the owner died, or Redis was away and it missed messages).
    Role {
        room: String,
        conn: ConnId,
        role: Option<Role>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        again: Option<ClientMsg>,
    },
    /// To a socket's node: frame text for some of its sockets.
    Out {
        room: String,
        to: Target,
        text: String,
    },
    /// To a socket's node: close one socket.
    Close {
        room: String,
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// To the owner: the results of a running room, for an HTTP request
    /// made on node `from` (answered with [`Relay::Results`]).
    Query {
        room: String,
        from: String,
        id: u64,
        token: String,
        csv: bool,
    },
    /// To the asking node: the answer to [`Relay::Query`] `id`.
    Results { id: u64, answer: ResultsAnswer },
}

/// What the owner says to a results query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum ResultsAnswer {
    /// The results as JSON text, or as CSV when that was asked for.
    Results { text: String },
    /// The token is not the room's host token.
    Unauthorized,
    /// The room does not run there (it ended or moved meanwhile).
    Gone,
    /// The room's earlier questions could not be read back.
    Unavailable,
}

/// A relay message with its version and its sender's lease value
/// (`NODE#START`), as published: a proxy takes what an owner sends only
/// from the process it seated its sockets with, so a stale owner (frozen
/// past its lease, then woken) cannot close or feed sockets that moved.
#[derive(Debug, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(default)]
    sender: String,
    #[serde(flatten)]
    body: Relay,
}

/// [`Envelope`] for publishing, borrowing the message (no copy of a
/// broadcast's text).
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    v: u32,
    sender: &'a str,
    #[serde(flatten)]
    body: &'a Relay,
}

/// Decodes a published message into its sender's lease value and the
/// message; `None` (counted) when it is not one this node understands.
pub fn decode(payload: &[u8]) -> Option<(String, Relay)> {
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(env) if env.v == RELAY_VERSION => Some((env.sender, env.body)),
        _ => {
            crate::metrics::relay_dropped();
            None
        }
    }
}

/// Encodes a relay message sent by the process whose lease value is
/// `from`, for publishing.
pub fn encode(from: &str, body: &Relay) -> Option<String> {
    let env = EnvelopeRef {
        v: RELAY_VERSION,
        sender: from,
        body,
    };
    serde_json::to_string(&env).ok()
}

/// What the background publisher does, in order.
enum Outgoing {
    Publish { node: Arc<str>, payload: String },
    Release { code: String },
}

/// This node's part of the cluster. Shared behind an `Arc` in the state.
pub struct Cluster {
    node_id: Arc<str>,
    /// This process's lease value, `NODE#START`.
    lease: Arc<str>,
    redis: ConnectionManager,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// Proxies of rooms owned elsewhere that local sockets are in.
    proxies: DashMap<String, Proxy>,
    /// Whether the last Redis round trip worked.
    up: AtomicBool,
    /// Rooms this node holds the lease of and is restoring: what other
    /// nodes relay for them waits here until the room runs.
    arriving: DashMap<String, Vec<(String, Relay)>>,
    /// Results queries sent to other nodes, waiting for their answer.
    queries: DashMap<u64, oneshot::Sender<ResultsAnswer>>,
    next_query: std::sync::atomic::AtomicU64,
}

/// How to reach one proxy task.
#[derive(Clone)]
struct Proxy {
    handle: RoomHandle,
    inbound: mpsc::UnboundedSender<(String, Relay)>,
}

/// Why the cluster could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Redis could not be reached or refused a command.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The cluster runs another protocol or schema version.
    #[error(
        "this node speaks relay version {ours_relay} with schema {ours_schema}, the cluster \
         runs relay version {theirs_relay} with schema {theirs_schema}; refusing to join"
    )]
    Version {
        ours_relay: String,
        ours_schema: String,
        theirs_relay: String,
        theirs_schema: String,
    },
}

impl Cluster {
    /// Connects to Redis at `url` as node `node_id`, checks that the
    /// cluster runs this node's relay and schema versions (the first node
    /// sets them), and starts the publisher. Call [`Cluster::start`] once
    /// the state holds it.
    pub async fn join(url: &str, node_id: &str) -> Result<Arc<Cluster>, JoinError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2)
            .set_max_delay(1_000);
        let mut redis = client.get_connection_manager_with_config(config).await?;
        let relay = RELAY_VERSION.to_string();
        let schema = crate::storage::postgres::SCHEMA_VERSION.to_string();
        let _: () = redis::pipe()
            .cmd("HSETNX")
            .arg(VERSIONS_KEY)
            .arg("relay")
            .arg(&relay)
            .ignore()
            .cmd("HSETNX")
            .arg(VERSIONS_KEY)
            .arg("schema")
            .arg(&schema)
            .ignore()
            .query_async(&mut redis)
            .await?;
        let theirs: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(VERSIONS_KEY)
            .query_async(&mut redis)
            .await?;
        let theirs_relay = theirs.get("relay").cloned().unwrap_or_default();
        let theirs_schema = theirs.get("schema").cloned().unwrap_or_default();
        if theirs_relay != relay || theirs_schema != schema {
            return Err(JoinError::Version {
                ours_relay: relay,
                ours_schema: schema,
                theirs_relay,
                theirs_schema,
            });
        }
        let (outgoing, queue) = mpsc::unbounded_channel();
        let start: u64 = rand::random();
        let cluster = Arc::new(Cluster {
            node_id: Arc::from(node_id),
            lease: Arc::from(format!("{node_id}#{start:016x}").as_str()),
            redis: redis.clone(),
            outgoing,
            proxies: DashMap::new(),
            up: AtomicBool::new(true),
            arriving: DashMap::new(),
            queries: DashMap::new(),
            next_query: std::sync::atomic::AtomicU64::new(1),
        });
        tokio::spawn(publish_loop(cluster.clone(), queue));
        Ok(cluster)
    }

    /// Starts listening on this node's channel and renewing leases;
    /// returns once the channel is subscribed (or after a few seconds), so
    /// a room created here right after start hears its remote sockets.
    pub async fn start(self: &Arc<Self>, state: &AppState, url: &str) -> Result<(), JoinError> {
        let client = redis::Client::open(url)?;
        let (ready, subscribed) = oneshot::channel();
        tokio::spawn(listen_loop(self.clone(), state.clone(), client, ready));
        tokio::spawn(renew_loop(self.clone(), state.clone()));
        if tokio::time::timeout(ANSWER_TIMEOUT, subscribed)
            .await
            .is_err()
        {
            tracing::warn!(node = %self.node_id, "cluster channel not subscribed yet");
        }
        Ok(())
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether Redis answered the last time it was asked.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn mark(&self, ok: bool) {
        self.up.store(ok, Ordering::Relaxed);
    }

    /// Takes the lease of room `code` if nobody holds it. `Err` when Redis
    /// cannot be asked.
    pub async fn claim(&self, code: &str) -> Result<bool, redis::RedisError> {
        let mut redis = self.redis.clone();
        let set: Result<Option<String>, _> = redis::cmd("SET")
            .arg(lease_key(code))
            .arg(&*self.lease)
            .arg("NX")
            .arg("PX")
            .arg(LEASE_MS)
            .query_async(&mut redis)
            .await;
        self.mark(set.is_ok());
        Ok(set?.is_some())
    }

    /// The node holding room `code`'s lease, if any. A lease of an
    /// earlier start of this node names this node but is not this
    /// process's: the room is about to be taken over.
    pub async fn owner_of(&self, code: &str) -> Result<Option<String>, redis::RedisError> {
        Ok(self
            .lease_of(code)
            .await?
            .map(|lease| lease_node(&lease).to_string()))
    }

    /// The value of room `code`'s lease (`NODE#START`), if any.
    pub async fn lease_of(&self, code: &str) -> Result<Option<String>, redis::RedisError> {
        let mut redis = self.redis.clone();
        let lease: Result<Option<String>, _> = redis::cmd("GET")
            .arg(lease_key(code))
            .query_async(&mut redis)
            .await;
        self.mark(lease.is_ok());
        lease
    }

    /// A proxy for room `code` when another node's process holds its
    /// lease; `None` when nobody does, or an earlier start of this node
    /// still does (the room is moving).
    pub async fn proxy_for(
        self: &Arc<Self>,
        state: &AppState,
        code: &str,
    ) -> Result<Option<RoomHandle>, redis::RedisError> {
        Ok(match self.lease_of(code).await? {
            Some(lease) if lease_node(&lease) != &*self.node_id => {
                Some(self.proxy(state, code, &lease))
            }
            _ => None,
        })
    }

    /// Whether node `node` is subscribed to its channel (so what is
    /// published to it now arrives).
    pub async fn listening(&self, node: &str) -> bool {
        let mut redis = self.redis.clone();
        let subs: Result<(String, i64), _> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(node_channel(node))
            .query_async(&mut redis)
            .await;
        self.mark(subs.is_ok());
        subs.is_ok_and(|(_, n)| n > 0)
    }

    /// Asks `owner` for the results of its running room `code` (as CSV or
    /// JSON text), so the results API answers on every node. `None` when
    /// no answer came within a few seconds.
    pub async fn query_results(
        &self,
        owner: &str,
        code: &str,
        token: &str,
        csv: bool,
    ) -> Option<ResultsAnswer> {
        let id = self.next_query.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.queries.insert(id, tx);
        self.send_to(
            &Arc::from(owner),
            &Relay::Query {
                room: code.to_string(),
                from: self.node_id.to_string(),
                id,
                token: token.to_string(),
                csv,
            },
        );
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, rx).await;
        self.queries.remove(&id);
        answer.ok().and_then(Result::ok)
    }

    /// Gives up the lease of room `code` (the room stopped here).
    pub fn release(&self, code: &str) {
        let _ = self.outgoing.send(Outgoing::Release {
            code: code.to_string(),
        });
    }

    /// Queues `body` for node `node`'s channel. Never waits: an owner task
    /// calls this while it carries out effects.
    pub fn send_to(&self, node: &Arc<str>, body: &Relay) {
        if let Some(payload) = encode(&self.lease, body) {
            let _ = self.outgoing.send(Outgoing::Publish {
                node: node.clone(),
                payload,
            });
        }
    }

    /// A handle for room `code`, whose lease is `lease` (another node's),
    /// that local sockets can attach to as if the room ran here.
    fn proxy(self: &Arc<Self>, state: &AppState, code: &str, lease: &str) -> RoomHandle {
        if let Some(p) = self.proxies.get(code) {
            if !p.handle.is_closed() {
                return p.handle.clone();
            }
        }
        let (tx, rx) = mpsc::channel(1024);
        let (inbound, from_owner) = mpsc::unbounded_channel();
        let handle = RoomHandle::remote(code, tx);
        self.proxies.insert(
            code.to_string(),
            Proxy {
                handle: handle.clone(),
                inbound,
            },
        );
        let task = ProxyTask {
            cluster: self.clone(),
            state: state.clone(),
            code: code.to_string(),
            owner: Arc::from(lease_node(lease)),
            lease: lease.to_string(),
            conns: HashMap::new(),
            waiting: HashMap::new(),
            local: None,
            outage: false,
        };
        tokio::spawn(task.run(rx, from_owner, handle.clone()));
        handle
    }
}

/// Most queued publishes and releases sent in one pipeline.
const PIPELINE: usize = 512;

/// Sends queued publishes and releases in order, over one connection that
/// reconnects by itself: whatever is queued (up to [`PIPELINE`]) goes out
/// as one pipeline, one round trip, so a vote storm's acks to other nodes
/// do not wait for each other's replies. A publish that fails while Redis
/// is down is dropped (the sockets it was for see the outage and are
/// seated again when it ends).
async fn publish_loop(cluster: Arc<Cluster>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    let mut redis = cluster.redis.clone();
    let mut batch = Vec::with_capacity(PIPELINE);
    while queue.recv_many(&mut batch, PIPELINE).await > 0 {
        let mut pipe = redis::pipe();
        for item in batch.drain(..) {
            match item {
                Outgoing::Publish { node, payload } => {
                    pipe.cmd("PUBLISH")
                        .arg(node_channel(&node))
                        .arg(payload)
                        .ignore();
                }
                Outgoing::Release { code } => {
                    pipe.cmd("EVAL")
                        .arg(RELEASE_SCRIPT)
                        .arg(1)
                        .arg(lease_key(&code))
                        .arg(&*cluster.lease)
                        .ignore();
                }
            }
        }
        let done: Result<(), redis::RedisError> = pipe.query_async(&mut redis).await;
        cluster.mark(done.is_ok());
        if let Err(e) = done {
            crate::metrics::relay_failed();
            tracing::debug!(error = %e, "cluster publish failed");
        }
    }
}

/// Listens on this node's channel, resubscribing after Redis comes back,
/// and hands each message to the room or proxy it is for.
async fn listen_loop(
    cluster: Arc<Cluster>,
    state: AppState,
    client: redis::Client,
    ready: oneshot::Sender<()>,
) {
    let channel = node_channel(&cluster.node_id);
    let mut ready = Some(ready);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel).await.is_ok() {
                    tracing::info!(node = %cluster.node_id, "listening on the cluster channel");
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                    let mut stream = pubsub.on_message();
                    while let Some(msg) = stream.next().await {
                        if let Some((from, relay)) = decode(msg.get_payload_bytes()) {
                            dispatch(&cluster, &state, from, relay).await;
                        }
                    }
                }
                tracing::warn!("cluster channel lost; resubscribing");
            }
            Err(e) => tracing::debug!(error = %e, "cluster channel unavailable"),
        }
        cluster.mark(false);
        if state.is_shutting_down() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Hands a relayed message to the local room (owner side) or to the
/// room's proxy (socket side).
async fn dispatch(cluster: &Arc<Cluster>, state: &AppState, from: String, relay: Relay) {
    if let Relay::Hello { room, .. } | Relay::Msg { room, .. } | Relay::Bye { room, .. } = &relay {
        if state.rooms().get(room).is_none() {
            if let Some(mut held) = cluster.arriving.get_mut(room) {
                held.push((from, relay));
                return;
            }
        }
    }
    match relay {
        Relay::Hello {
            room,
            from,
            conn,
            msg,
        } => match state.rooms().get(&room) {
            Some(handle) => {
                let cmd = ToRoom::RemoteHello {
                    node: Arc::from(from.as_str()),
                    conn,
                    msg,
                };
                if handle.send(cmd).await.is_err() {
                    refuse(cluster, &from, &room, conn);
                }
            }
            None => refuse(cluster, &from, &room, conn),
        },
        Relay::Msg {
            room,
            conn,
            mut msg,
            timing,
        } => {
            if let ClientMsg::Buzz { timing: slot, .. } = &mut msg {
                *slot = timing;
            }
            if let Some(handle) = state.rooms().get(&room) {
                let _ = handle.send(ToRoom::RemoteMessage { conn, msg }).await;
            }
        }
        Relay::Bye { room, conn } => {
            if let Some(handle) = state.rooms().get(&room) {
                let _ = handle.send(ToRoom::RemoteBye { conn }).await;
            }
        }
        Relay::Query {
            room,
            from,
            id,
            token,
            csv,
        } => {
            // Off the listening task: the room may read finished questions
            // back from the store.
            let (cluster, state) = (cluster.clone(), state.clone());
            tokio::spawn(async move {
                let answer = answer_query(&state, &room, &token, csv).await;
                cluster.send_to(&Arc::from(from.as_str()), &Relay::Results { id, answer });
            });
        }
        Relay::Results { id, answer } => {
            if let Some((_, waiter)) = cluster.queries.remove(&id) {
                let _ = waiter.send(answer);
            }
        }
        other @ (Relay::Role { .. } | Relay::Out { .. } | Relay::Close { .. }) => {
            let room = match &other {
                Relay::Role { room, .. } | Relay::Out { room, .. } | Relay::Close { room, .. } => {
                    room.clone()
                }
                _ => return,
            };
            if let Some(proxy) = cluster.proxies.get(&room) {
                let _ = proxy.inbound.send((from, other));
            }
        }
    }
}

/// The owner's answer to a results query for its room `code`.
async fn answer_query(state: &AppState, code: &str, token: &str, csv: bool) -> ResultsAnswer {
    let Some(room) = state.rooms().get(code) else {
        return ResultsAnswer::Gone;
    };
    if !room.is_host_token(token) {
        return ResultsAnswer::Unauthorized;
    }
    let reader = state.clone();
    let text = room
        .inspect(move |room| {
            let store = crate::storage::Persistence::store(&reader).map(|s| s.as_ref());
            let results = crate::storage::persist::room_results(store, room)?;
            if csv {
                Some(results.to_csv())
            } else {
                serde_json::to_string(&results).ok()
            }
        })
        .await;
    match text {
        Ok(Some(text)) => ResultsAnswer::Results { text },
        Ok(None) => ResultsAnswer::Unavailable,
        Err(_) => ResultsAnswer::Gone,
    }
}

/// Answers a relayed first message for a room this node does not run.
fn refuse(cluster: &Cluster, node: &str, room: &str, conn: ConnId) {
    let node: Arc<str> = Arc::from(node);
    let error = crate::protocol::ServerMsg::Error {
        code: "cluster_unavailable".into(),
        message: "the node running this room cannot be reached; try again".into(),
        you: None,
    };
    if let Ok(text) = serde_json::to_string(&error) {
        cluster.send_to(
            &node,
            &Relay::Out {
                room: room.to_string(),
                to: Target::Conns(vec![conn]),
                text,
            },
        );
    }
    cluster.send_to(
        &node,
        &Relay::Role {
            room: room.to_string(),
            conn,
            role: None,
            again: None,
        },
    );
}

/// Renews the leases of the rooms this node runs, every [`RENEW_EVERY`],
/// and soon again after Redis failed, so leases lost to a Redis restart
/// are claimed back before any other node may take those rooms over (see
/// [`TAKE_OVER_GRACE`]). A room whose lease another node holds now (this
/// node was cut off from Redis for longer than a lease) stops here.
async fn renew_loop(cluster: Arc<Cluster>, state: AppState) {
    let script = redis::Script::new(RENEW_SCRIPT);
    let mut redis = cluster.redis.clone();
    let mut failed = false;
    loop {
        tokio::time::sleep(if failed { RENEW_RETRY } else { RENEW_EVERY }).await;
        if state.is_shutting_down() {
            return;
        }
        failed = false;
        // Rooms whose writes the database refused: a newer owner runs them.
        if let Some(store) = crate::storage::Persistence::store(&state) {
            for code in store.fenced_rooms() {
                if let Some(handle) = state.rooms().get(&code) {
                    tracing::warn!(room = %code, "the room was taken over; handing it over");
                    let _ = handle.send(ToRoom::Yield).await;
                }
            }
        }
        for handle in state.rooms().handles() {
            let renewed: Result<i64, _> = script
                .key(lease_key(handle.code()))
                .arg(&*cluster.lease)
                .arg(LEASE_MS)
                .invoke_async(&mut redis)
                .await;
            cluster.mark(renewed.is_ok());
            match renewed {
                Ok(1) => {}
                Ok(_) => {
                    // Expired (Redis was away or restarted) or taken: take
                    // it back if free, else leave it to its new owner.
                    match cluster.claim(handle.code()).await {
                        Ok(true) => {
                            tracing::info!(room = handle.code(), "lease claimed back")
                        }
                        Ok(false) => {
                            tracing::warn!(
                                room = handle.code(),
                                "another node holds this room's lease; handing it over"
                            );
                            let _ = handle.send(ToRoom::Yield).await;
                        }
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
    }
}

/// How soon leases are renewed again after Redis failed.
const RENEW_RETRY: Duration = Duration::from_millis(250);

/// How often a node looks for stored running rooms that nobody runs.
const TAKE_OVER_EVERY: Duration = Duration::from_millis(1_000);

/// How long Redis must have been up without a restart before a node takes
/// over rooms with no lease: a restarted Redis has lost every lease, and
/// their live owners claim them back within [`RENEW_RETRY`] to
/// [`RENEW_EVERY`]; only a room still without a lease after that has no
/// owner. Without it two nodes could run one room after a Redis restart.
const TAKE_OVER_GRACE: Duration = Duration::from_millis(3_000);

/// Redis's `run_id`, which changes whenever the server restarts (and with
/// it every lease is gone).
async fn redis_run_id(cluster: &Cluster) -> Option<String> {
    let mut redis = cluster.redis.clone();
    let info: Result<String, _> = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut redis)
        .await;
    cluster.mark(info.is_ok());
    let info = info.ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .map(|id| id.trim().to_string())
}

/// Takes over running rooms whose owner is gone: every
/// [`TAKE_OVER_EVERY`], each room the shared store holds as running, not
/// live here and with no lease, is claimed; the node that gets the lease
/// restores it from its last checkpoint (open question, acknowledged
/// answers and all) and runs it. Sockets of the dead node resume on any
/// node with their tokens; sockets on other nodes are seated in the
/// restored room by their proxies. Nothing is taken over until Redis has
/// been up, the same server, for [`TAKE_OVER_GRACE`].
pub async fn take_over_loop(state: AppState) {
    let Some(cluster) = state.cluster().cloned() else {
        return;
    };
    let mut seen: Option<(String, tokio::time::Instant)> = None;
    loop {
        if state.is_shutting_down() {
            return;
        }
        match redis_run_id(&cluster).await {
            None => seen = None,
            Some(id) => {
                if seen.as_ref().is_none_or(|(known, _)| *known != id) {
                    seen = Some((id, tokio::time::Instant::now()));
                }
            }
        }
        if seen
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= TAKE_OVER_GRACE)
        {
            take_over_once(&cluster, &state).await;
        }
        tokio::time::sleep(TAKE_OVER_EVERY).await;
    }
}

/// Leases looked up in one `MGET`.
const LEASES_PER_MGET: usize = 500;

/// One look for rooms nobody runs. Costs, per node and second: one
/// index-only scan returning the running rooms' codes (a partial index on
/// `rooms(code)` for rooms not ended and with a snapshot; no snapshot is
/// read) and one `MGET` per 500 of them. Only a room with no lease is
/// claimed, and only the node that claims it reads its snapshot.
async fn take_over_once(cluster: &Arc<Cluster>, state: &AppState) {
    let codes = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || crate::storage::persist::running_codes(&state))
            .await
            .unwrap_or_default()
    };
    let codes: Vec<String> = codes
        .into_iter()
        .filter(|code| state.rooms().get(code).is_none())
        .collect();
    let mut free = Vec::new();
    for chunk in codes.chunks(LEASES_PER_MGET) {
        let mut redis = cluster.redis.clone();
        let keys: Vec<String> = chunk.iter().map(|c| lease_key(c)).collect();
        let owners: Result<Vec<Option<String>>, _> =
            redis::cmd("MGET").arg(&keys).query_async(&mut redis).await;
        cluster.mark(owners.is_ok());
        let Ok(owners) = owners else { return };
        free.extend(
            chunk
                .iter()
                .zip(owners)
                .filter(|(_, owner)| owner.is_none())
                .map(|(code, _)| code.clone()),
        );
    }
    for code in free {
        if state.is_shutting_down() {
            return;
        }
        match cluster.claim(&code).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        // Other nodes see the lease at once and seat their sockets here:
        // what they send waits until the room runs.
        cluster.arriving.insert(code.clone(), Vec::new());
        // The room's epoch is raised before it is read: from now on the
        // database refuses the checkpoints and results of whoever ran it
        // before (should it still be running it, cut off from Redis).
        let stored = {
            let (state, code) = (state.clone(), code.clone());
            tokio::task::spawn_blocking(move || {
                let store = crate::storage::Persistence::store(&state)?;
                match store.take_epoch(&code) {
                    Ok(Some(epoch)) => {
                        tracing::info!(room = %code, epoch, "room's fencing epoch taken");
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(room = %code, error = %e, "cannot take the room's epoch");
                        return None;
                    }
                }
                crate::storage::persist::running_room(&state, &code)
            })
            .await
            .ok()
            .flatten()
        };
        let restored = match stored {
            // Ended meanwhile (its owner was alive after all) or unreadable.
            None => None,
            Some(stored) => {
                let state = state.clone();
                tokio::task::spawn_blocking(move || {
                    crate::storage::persist::restore_room(&state, stored)
                })
                .await
                .ok()
                .flatten()
            }
        };
        match restored {
            Some(room) => {
                if crate::live::rooms::adopt_room(state, room).is_some() {
                    tracing::info!(room = %code, node = %cluster.node_id, "room taken over");
                } else {
                    cluster.release(&code);
                }
            }
            None => cluster.release(&code),
        }
        // Relays held meanwhile go to the room now (or are refused).
        let held = cluster
            .arriving
            .remove(&code)
            .map(|(_, held)| held)
            .unwrap_or_default();
        for (from, relay) in held {
            dispatch(cluster, state, from, relay).await;
        }
    }
}

/// A local stand-in for a room owned by another node.
struct ProxyTask {
    cluster: Arc<Cluster>,
    state: AppState,
    code: String,
    /// The owner's node id: its channel.
    owner: Arc<str>,
    /// The owner's lease value: another value (even of the same node, a
    /// restarted process) is a new owner.
    lease: String,
    /// Local sockets in the room.
    conns: HashMap<ConnId, ProxyConn>,
    /// First messages waiting for the owner's answer.
    waiting: HashMap<ConnId, Waiting>,
    /// The room was restored on this node: its sockets go straight to it.
    local: Option<RoomHandle>,
    /// Redis could not be asked at the last look (the sockets were told).
    outage: bool,
}

/// One local socket of a proxied room.
struct ProxyConn {
    outbox: Outbox,
    /// The role the owner gave it, once it did.
    role: Option<Role>,
    /// The first message that seats it again, from the owner.
    again: Option<ClientMsg>,
}

/// A first message sent to the owner and not yet answered.
struct Waiting {
    /// The socket task waiting for its role; `None` when the proxy itself
    /// seated an attached socket again (after a move or an outage).
    reply: Option<oneshot::Sender<Option<Role>>>,
    until: tokio::time::Instant,
}

impl ProxyTask {
    async fn run(
        mut self,
        mut from_sockets: mpsc::Receiver<ToRoom>,
        mut from_owner: mpsc::UnboundedReceiver<(String, Relay)>,
        handle: RoomHandle,
    ) {
        let mut sweep = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                cmd = from_sockets.recv() => match cmd {
                    Some(cmd) => self.on_socket(cmd).await,
                    None => break,
                },
                relay = from_owner.recv() => match relay {
                    Some((from, relay)) => self.on_owner(&from, relay),
                    None => break,
                },
                // A first message's wait runs out on time, not at the
                // next sweep: it must end before the socket's identify
                // timeout (see [`hello_wait`]).
                _ = tokio::time::sleep_until(self.next_expiry()), if !self.waiting.is_empty() => {
                    self.expire_waiting();
                }
                _ = sweep.tick() => {
                    self.expire_waiting();
                    if self.conns.is_empty() && self.waiting.is_empty() {
                        break;
                    }
                    if self.local.is_none() {
                        self.check_owner().await;
                    }
                }
            }
        }
        self.cluster
            .proxies
            .remove_if(&self.code, |_, p| p.handle.same_room(&handle));
        if self.local.is_none() {
            for (_, c) in self.conns.drain() {
                c.outbox.close(CLOSE_ROOM_GONE, "room closed");
            }
        }
    }

    /// Looks up who holds the room's lease: a new owner gets the sockets
    /// seated again; Redis unreachable tells the sockets so; Redis back
    /// after that seats them again with the same owner, since what it sent
    /// meanwhile was lost.
    async fn check_owner(&mut self) {
        match self.cluster.lease_of(&self.code).await {
            Err(_) => {
                if !self.outage {
                    self.outage = true;
                    for c in self.conns.values() {
                        send_cluster_unavailable(&c.outbox);
                    }
                }
            }
            // An earlier start of this node still holds the lease (it died
            // and came back): the room is not running; wait for whoever
            // takes it over.
            Ok(Some(lease))
                if lease != self.lease
                    && lease_node(&lease) == &*self.cluster.node_id
                    && lease != *self.cluster.lease => {}
            Ok(Some(lease)) if lease != self.lease => {
                self.outage = false;
                self.rehome(lease).await;
            }
            Ok(_) => {
                // Redis is back; once the owner listens again, what it sent
                // meanwhile (lost) is replaced by a fresh welcome.
                if self.outage && self.cluster.listening(&self.owner).await {
                    self.outage = false;
                    tracing::info!(room = %self.code, "Redis is back; seating sockets again");
                    self.seat_again(true);
                }
            }
        }
    }

    /// The owner died and `owner` restored the room: every socket is
    /// seated there with the message its old owner gave it, and gets the
    /// restored room's `welcome`, without reconnecting.
    async fn rehome(&mut self, lease: String) {
        if lease == *self.cluster.lease {
            // Restored here: hand the sockets to the room itself (once it
            // is registered; the next sweep looks again).
            let Some(room) = self.state.rooms().get(&self.code) else {
                return;
            };
            tracing::info!(room = %self.code, "room restored on this node; sockets moved to it");
            let mut unseated = Vec::new();
            for (conn, c) in &self.conns {
                match &c.again {
                    Some(msg) => {
                        let (reply, _) = oneshot::channel();
                        let hello = ToRoom::Hello {
                            conn: *conn,
                            msg: msg.clone(),
                            outbox: c.outbox.clone(),
                            reply,
                        };
                        if room.send(hello).await.is_err() {
                            unseated.push(*conn);
                        }
                    }
                    None => unseated.push(*conn),
                }
            }
            self.drop_unseated(&unseated);
            self.local = Some(room);
            return;
        }
        tracing::info!(room = %self.code, owner = %lease, "room moved to another node; sockets follow");
        // The same node restarted knows nothing of these sockets: no
        // goodbye for their old places either.
        self.owner = Arc::from(lease_node(&lease));
        self.lease = lease;
        self.seat_again(false);
    }

    /// Sends every attached socket's seating message to the owner (after
    /// a goodbye for its old place when the owner is the same one).
    fn seat_again(&mut self, same_owner: bool) {
        let until = tokio::time::Instant::now() + self.hello_wait();
        let mut unseated = Vec::new();
        let mut hellos = Vec::new();
        for (conn, c) in &self.conns {
            match &c.again {
                Some(msg) => hellos.push((*conn, msg.clone())),
                None => unseated.push(*conn),
            }
        }
        for (conn, msg) in hellos {
            if same_owner {
                self.relay(Relay::Bye {
                    room: self.code.clone(),
                    conn,
                });
            }
            self.relay(Relay::Hello {
                room: self.code.clone(),
                from: self.cluster.node_id.to_string(),
                conn,
                msg,
            });
            self.waiting
                .entry(conn)
                .or_insert(Waiting { reply: None, until });
        }
        self.drop_unseated(&unseated);
    }

    /// Sockets that cannot be seated again are closed with 1012, so the
    /// client reconnects and identifies itself.
    fn drop_unseated(&mut self, conns: &[ConnId]) {
        for conn in conns {
            if let Some(c) = self.conns.remove(conn) {
                c.outbox.close(CLOSE_RESTART, "room moved to another node");
            }
            if let Some(Waiting {
                reply: Some(reply), ..
            }) = self.waiting.remove(conn)
            {
                let _ = reply.send(None);
            }
        }
    }

    fn relay(&self, body: Relay) {
        self.cluster.send_to(&self.owner, &body);
    }

    async fn on_socket(&mut self, cmd: ToRoom) {
        if let Some(room) = &self.local {
            if let ToRoom::Disconnected { conn } = &cmd {
                self.conns.remove(conn);
            }
            let _ = room.send(cmd).await;
            return;
        }
        match cmd {
            ToRoom::Hello {
                conn,
                msg,
                outbox,
                reply,
            } => {
                self.conns.insert(
                    conn,
                    ProxyConn {
                        outbox,
                        role: None,
                        again: None,
                    },
                );
                self.waiting.insert(
                    conn,
                    Waiting {
                        reply: Some(reply),
                        until: tokio::time::Instant::now() + self.hello_wait(),
                    },
                );
                self.relay(Relay::Hello {
                    room: self.code.clone(),
                    from: self.cluster.node_id.to_string(),
                    conn,
                    msg,
                });
            }
            ToRoom::Message { conn, msg } => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                if self.outage {
                    // Redis is away: say so rather than lose it silently.
                    send_cluster_unavailable(&c.outbox);
                    return;
                }
                let timing = match &msg {
                    ClientMsg::Buzz { timing, .. } => *timing,
                    _ => None,
                };
                self.relay(Relay::Msg {
                    room: self.code.clone(),
                    conn,
                    msg,
                    timing,
                });
            }
            ToRoom::Disconnected { conn } if self.conns.remove(&conn).is_some() => {
                self.relay(Relay::Bye {
                    room: self.code.clone(),
                    conn,
                });
            }
            // Read-only queries run where the room runs; there is none here.
            _ => {}
        }
    }

    fn on_owner(&mut self, from: &str, relay: Relay) {
        if self.local.is_some() {
            // The room runs here now: whatever its old owner still sends
            // is stale.
            return;
        }
        if from != self.lease {
            // Another process than the one the sockets are seated with: a
            // stale owner, or a node refusing a first message for a room
            // it does not run (taken as such: the socket is told at once).
            if let Relay::Role {
                conn, role: None, ..
            } = relay
            {
                if lease_node(from) == &*self.owner {
                    self.refused(conn);
                }
            }
            return;
        }
        match relay {
            Relay::Role {
                conn, role, again, ..
            } => {
                let waited = self.waiting.remove(&conn);
                let seated_again = matches!(&waited, Some(Waiting { reply: None, .. }));
                if let Some(Waiting {
                    reply: Some(reply), ..
                }) = waited
                {
                    let _ = reply.send(role);
                }
                match role {
                    Some(role) => {
                        if let Some(entry) = self.conns.get_mut(&conn) {
                            entry.role = Some(role);
                            entry.again = again;
                        }
                    }
                    None if seated_again => self.drop_unseated(&[conn]),
                    None => {
                        self.conns.remove(&conn);
                    }
                }
            }
            Relay::Out { to, text, .. } => self.deliver(&to, text),
            Relay::Close {
                conn, code, reason, ..
            } => {
                if let Some(c) = self.conns.remove(&conn) {
                    c.outbox.close(code, &reason);
                }
            }
            _ => {}
        }
    }

    /// A node that does not run the room refused socket `conn`'s first
    /// message: a joining socket is told the cluster is unavailable, one
    /// being seated again is closed with 1012 and reconnects.
    fn refused(&mut self, conn: ConnId) {
        match self.waiting.remove(&conn) {
            Some(Waiting {
                reply: Some(reply), ..
            }) => {
                if let Some(c) = self.conns.remove(&conn) {
                    send_cluster_unavailable(&c.outbox);
                }
                let _ = reply.send(None);
            }
            Some(Waiting { reply: None, .. }) => self.drop_unseated(&[conn]),
            None => {}
        }
    }

    /// Queues one text to every local socket `to` names; one that is too
    /// slow is dropped and the owner told it left.
    fn deliver(&mut self, to: &Target, text: String) {
        let frame = Message::Text(Utf8Bytes::from(text));
        let targets: Vec<ConnId> = match to {
            Target::Conns(conns) => conns.clone(),
            Target::Roles(roles) => self
                .conns
                .iter()
                .filter(|(_, c)| c.role.is_some_and(|r| roles.contains(&r)))
                .map(|(conn, _)| *conn)
                .collect(),
        };
        for conn in targets {
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if let Err(PushError::Full) = c.outbox.try_push_ref(&frame) {
                if let Some(c) = self.conns.remove(&conn) {
                    c.outbox.abort(CLOSE_SLOW, "slow");
                    crate::metrics::slow_client_evicted();
                    self.relay(Relay::Bye {
                        room: self.code.clone(),
                        conn,
                    });
                }
            }
        }
    }

    /// See [`hello_wait`]: from this node's identify timeout.
    fn hello_wait(&self) -> Duration {
        hello_wait(self.state.config().identify_timeout_ms)
    }

    /// When the first waiting first message runs out (far off when none
    /// waits).
    fn next_expiry(&self) -> tokio::time::Instant {
        self.waiting
            .values()
            .map(|w| w.until)
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + ANSWER_TIMEOUT)
    }

    /// First messages the owner never answered (it died, or Redis is
    /// away): a joining socket learns the cluster is unavailable; one the
    /// proxy was seating again is closed with 1012 and reconnects.
    fn expire_waiting(&mut self) {
        let now = tokio::time::Instant::now();
        let late: Vec<ConnId> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.until <= now)
            .map(|(conn, _)| *conn)
            .collect();
        for conn in late {
            match self.waiting.remove(&conn) {
                Some(Waiting {
                    reply: Some(reply), ..
                }) => {
                    if let Some(c) = self.conns.remove(&conn) {
                        send_cluster_unavailable(&c.outbox);
                    }
                    let _ = reply.send(None);
                }
                Some(Waiting { reply: None, .. }) => self.drop_unseated(&[conn]),
                None => {}
            }
        }
    }
}

/// Tells a socket that the room's node cannot be reached.
pub fn send_cluster_unavailable(outbox: &Outbox) {
    let error = crate::protocol::ServerMsg::Error {
        code: "cluster_unavailable".into(),
        message: "the node running this room cannot be reached; try again".into(),
        you: None,
    };
    if let Ok(text) = serde_json::to_string(&error) {
        let _ = outbox.try_push_text(Utf8Bytes::from(text));
    }
}

/// Who on a remote node receives a broadcast the owner sends to `to`
/// (resolved to `conns` on that node): a role-wide audience by role when
/// the list would be long, else the exact sockets.
pub fn target_for(to: &crate::live::room::Audience, conns: Vec<ConnId>) -> Target {
    use crate::live::room::Audience;
    if conns.len() <= MAX_LISTED {
        return Target::Conns(conns);
    }
    match to {
        Audience::Host => Target::Roles(vec![Role::Host]),
        Audience::Screens => Target::Roles(vec![Role::Screen]),
        Audience::Players => Target::Roles(vec![Role::Player]),
        Audience::HostAndScreens => Target::Roles(vec![Role::Host, Role::Screen]),
        Audience::All => Target::Roles(vec![Role::Host, Role::Screen, Role::Player]),
        // Not a whole role: the owner names the sockets.
        Audience::Conn(_) | Audience::Player(_) | Audience::Owner => Target::Conns(conns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_hello_gives_up_before_the_socket_identify_timeout() {
        assert_eq!(hello_wait(5_000), Duration::from_millis(4_000));
        assert_eq!(hello_wait(30_000), Duration::from_millis(29_000));
        // Too short for the margin: the floor, still under the timeout.
        assert_eq!(hello_wait(1_500), Duration::from_millis(1_000));
        // Too short for the floor too: half of it.
        assert_eq!(hello_wait(800), Duration::from_millis(400));
        assert_eq!(hello_wait(0), Duration::ZERO);
        for ms in [1, 999, 1_000, 1_001, 1_999, 2_000, 2_001, 5_000, 60_000] {
            assert!(hello_wait(ms) < Duration::from_millis(ms), "{ms}");
        }
    }

    #[test]
    fn a_relayed_buzz_keeps_the_timing_its_node_measured() {
        let timing = PressTiming {
            arrival: 1_700_000_000_123,
            offset_ms: Some(-3_600_000.5),
            bound_ms: 312,
        };
        let buzz = Relay::Msg {
            room: "ABCDEF".into(),
            conn: 9,
            msg: ClientMsg::Buzz {
                qid: 3,
                pressed_ms: Some(1_699_996_400_000.0),
                timing: None,
            },
            timing: Some(timing),
        };
        assert_eq!(
            decode(encode("node-a#1", &buzz).unwrap().as_bytes()),
            Some(("node-a#1".to_string(), buzz))
        );
        // Other messages carry none, and an envelope without it still decodes.
        let plain = r#"{"v":2,"t":"msg","room":"ABCDEF","conn":9,"msg":{"type":"ping"}}"#;
        assert!(matches!(
            decode(plain.as_bytes()),
            Some((_, Relay::Msg { timing: None, .. }))
        ));
    }

    #[test]
    fn relay_messages_round_trip_and_strangers_are_dropped() {
        let msg = Relay::Out {
            room: "ABCDEF".into(),
            to: Target::Roles(vec![Role::Player]),
            text: "{\"type\":\"tally\"}".into(),
        };
        let wire = encode("node-a#1", &msg).unwrap();
        assert_eq!(decode(wire.as_bytes()), Some(("node-a#1".to_string(), msg)));
        let hello = Relay::Hello {
            room: "ABCDEF".into(),
            from: "node-b".into(),
            conn: 7,
            msg: ClientMsg::Screen {
                room: "ABCDEF".into(),
            },
        };
        assert_eq!(
            decode(encode("node-b#2", &hello).unwrap().as_bytes()),
            Some(("node-b#2".to_string(), hello))
        );
        let before = crate::metrics::relay_dropped_count();
        assert_eq!(decode(b"not json"), None);
        let newer = wire.replacen("\"v\":2", "\"v\":99", 1);
        assert_eq!(decode(newer.as_bytes()), None);
        assert!(crate::metrics::relay_dropped_count() >= before + 2);
    }

    #[test]
    fn long_audiences_go_by_role_short_ones_by_socket() {
        use crate::live::room::Audience;
        assert_eq!(
            target_for(&Audience::Players, vec![1, 2]),
            Target::Conns(vec![1, 2])
        );
        let many: Vec<ConnId> = (0..100).collect();
        assert_eq!(
            target_for(&Audience::Players, many.clone()),
            Target::Roles(vec![Role::Player])
        );
        // One player's sockets are always named, never widened to a role.
        assert_eq!(
            target_for(
                &Audience::Player(crate::protocol::PlayerId(3)),
                many.clone()
            ),
            Target::Conns(many)
        );
    }
}
