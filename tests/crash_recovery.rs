//! Crash recovery of the real `quizroom` binary: play games over WebSockets,
//! kill the server with SIGKILL at random moments, restart it on the same
//! data dir, and check that every question the players saw closed is still
//! in the results with exactly the answers that were acknowledged — none
//! lost, none counted twice — and that host and players resume with their
//! tokens. Also: SIGTERM exits 0 within 10 s with the open question saved.
//!
//! Each test runs on the embedded SQLite store and on PostgreSQL (a real
//! server the harness starts in a temporary folder).
//!
//! `QUIZROOM_CRASH_SEED=N` replays one sequence of kill points.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected reply may take.
const WAIT: Duration = Duration::from_secs(10);
/// Players per game.
const PLAYERS: usize = 3;
/// Independent games, each with its own data dir (or database).
const RUNS: usize = 4;
/// Games on PostgreSQL: fewer, the same kill points per game.
const PG_RUNS: usize = 2;

/// Which results store a server process runs on.
#[derive(Clone)]
enum Db {
    /// The SQLite file under the data dir (the default).
    Sqlite,
    /// A PostgreSQL database by URL.
    Postgres(String),
}
/// Kills per game.
const KILLS_PER_RUN: usize = 5;

/// The server binary, copied away from the target dir so a parallel build
/// cannot swap it out mid-test. `QUIZROOM_TEST_BIN` names another binary
/// (e.g. a private copy when several checkouts share one target dir).
///
/// Copies and spawns happen under one lock: a child forked by another test
/// thread while a copy is still open for writing would hold that file open
/// until it execs, and starting the copy then fails with "text file busy".
fn server_binary(dir: &Path) -> PathBuf {
    let copy = dir.join("quizroom-under-test");
    if !copy.exists() {
        let built = std::env::var_os("QUIZROOM_TEST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_quizroom")));
        let _forks = FORKS.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::copy(&built, &copy).expect("copy the server binary");
    }
    copy
}

/// Held while a binary copy is open for writing and while a child is spawned.
static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seeds")
}

/// A server child process and the address it listens on.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Proc {
    /// Starts the binary on port 0 with `data_dir` and waits for its
    /// "listening" log line (JSON logs) to learn the port.
    fn start(work: &Path, data_dir: &Path, db: &Db) -> Proc {
        let binary = server_binary(work);
        let forks = FORKS.lock().unwrap_or_else(|e| e.into_inner());
        let mut command = Command::new(binary);
        command
            .args(["--addr", "127.0.0.1:0", "--log-format", "json"])
            .arg("--seeds")
            .arg(seeds_dir())
            .arg("--data-dir")
            .arg(data_dir);
        if let Db::Postgres(url) = db {
            command.args(["--database-url", url]);
        }
        command
            .env("QUIZROOM_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // A child forked elsewhere in this process (the PostgreSQL harness
        // starts its servers outside the lock) while a copy was open for
        // writing holds that file open until it execs: "text file busy"
        // for a moment. Spawning again once it has exec'ed succeeds.
        let mut tries = 0;
        let mut child = loop {
            match command.spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other.expect("start the server binary"),
            }
        };
        drop(forks);
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = listening_addr(&line) {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                // Keep draining so the child never blocks on a full pipe.
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs its address within 30 s");
        Proc { child, addr }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }

    fn sigterm(&mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        // SAFETY: sending a signal to our own child process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
    }

    /// Waits for the child to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let v: Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// A WebSocket client whose every step may fail (the server may die).
struct Ws {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Ws> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
        Ok(Ws { ws })
    }

    async fn send(&mut self, v: Value) -> anyhow::Result<()> {
        self.ws.send(Message::text(v.to_string())).await?;
        Ok(())
    }

    /// The next message of `kind` (others are skipped); an `error` reply
    /// fails the step.
    async fn expect(&mut self, kind: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("no {kind} within {WAIT:?}"))?
                .ok_or_else(|| anyhow!("socket ended waiting for {kind}"))??;
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Close(frame) => bail!("closed waiting for {kind}: {frame:?}"),
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text)?;
            match v["type"].as_str() {
                Some(t) if t == kind => return Ok(v),
                Some("error") => bail!("error waiting for {kind}: {v}"),
                _ => {}
            }
        }
    }

    /// The close code the server ends this socket with.
    async fn close_code(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code.into()),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Seat {
    player_id: u64,
    resume_token: String,
}

/// What the test knows for sure, kept across kills.
#[derive(Debug, Default)]
struct Game {
    code: String,
    host_token: String,
    seats: Vec<Seat>,
    /// Questions the host saw closed: qid → acknowledged (player, choice).
    confirmed: BTreeMap<u64, BTreeMap<u64, u64>>,
    /// Votes sent for the question open at the kill: qid → (player, choice).
    in_flight: Option<(u64, BTreeMap<u64, u64>)>,
}

async fn http_json(req: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Creates the room, seats the players and plays the first question to a
/// close, so the room has a checkpoint with every seat in it.
async fn setup(addr: SocketAddr, game: &mut Game) -> anyhow::Result<(Ws, Vec<Ws>)> {
    let client = reqwest::Client::new();
    let (status, room) = http_json(
        client
            .post(format!("http://{addr}/api/rooms"))
            .json(&json!({"title": "crash test"})),
    )
    .await?;
    if status != 201 {
        bail!("create room: {status} {room}");
    }
    game.code = room["code"].as_str().context("code")?.to_string();
    game.host_token = room["host_token"].as_str().context("token")?.to_string();
    let mut host = Ws::connect(addr).await?;
    host.send(json!({"type":"host","room":game.code,"token":game.host_token}))
        .await?;
    host.expect("welcome").await?;
    let mut players = Vec::new();
    for i in 0..PLAYERS {
        let mut p = Ws::connect(addr).await?;
        p.send(json!({"type":"join","room":game.code,"name":format!("player{i}")}))
            .await?;
        let welcome = p.expect("welcome").await?;
        game.seats.push(Seat {
            player_id: welcome["player_id"].as_u64().context("player_id")?,
            resume_token: welcome["resume_token"]
                .as_str()
                .context("resume_token")?
                .to_string(),
        });
        players.push(p);
    }
    play_question(&mut host, &mut players, game, 0).await?;
    Ok((host, players))
}

/// Host and players take their seats back after a restart.
async fn resume(addr: SocketAddr, game: &Game) -> anyhow::Result<(Ws, Vec<Ws>)> {
    let mut host = Ws::connect(addr).await?;
    host.send(json!({"type":"host","room":game.code,"token":game.host_token}))
        .await?;
    host.expect("welcome").await.context("host resumes")?;
    let mut players = Vec::new();
    for seat in &game.seats {
        let mut p = Ws::connect(addr).await?;
        p.send(json!({"type":"resume","room":game.code,"resume_token":seat.resume_token}))
            .await?;
        let welcome = p.expect("welcome").await.context("player resumes")?;
        if welcome["player_id"].as_u64() != Some(seat.player_id) {
            bail!("resumed as {} not {}", welcome["player_id"], seat.player_id);
        }
        players.push(p);
    }
    Ok((host, players))
}

/// One self-assessment question: ask, every player votes, close, reveal.
/// The question counts as confirmed once the host sees it closed.
async fn play_question(
    host: &mut Ws,
    players: &mut [Ws],
    game: &mut Game,
    round: u64,
) -> anyhow::Result<()> {
    host.send(json!({"type":"ask","mode":"self"})).await?;
    let question = host.expect("question").await?;
    let qid = question["qid"].as_u64().context("qid")?;
    let mut votes = BTreeMap::new();
    game.in_flight = Some((qid, BTreeMap::new()));
    for (i, (p, seat)) in players.iter_mut().zip(&game.seats).enumerate() {
        let seen = p.expect("question").await?;
        if seen["qid"].as_u64() != Some(qid) {
            bail!("player saw qid {} not {qid}", seen["qid"]);
        }
        let choice = (round + i as u64) % 3;
        if let Some((_, sent)) = game.in_flight.as_mut() {
            sent.insert(seat.player_id, choice);
        }
        p.send(json!({"type":"vote","qid":qid,"choice":choice}))
            .await?;
        p.expect("ack").await?;
        votes.insert(seat.player_id, choice);
    }
    host.send(json!({"type":"close"})).await?;
    host.expect("closed").await?;
    // Closed is a boundary: from here on the question must survive.
    game.confirmed.insert(qid, votes);
    game.in_flight = None;
    host.send(json!({"type":"reveal"})).await?;
    host.expect("reveal").await?;
    Ok(())
}

async fn results(addr: SocketAddr, game: &Game) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let (status, body) = http_json(
        client
            .get(format!(
                "http://{addr}/api/rooms/{}/results?format=json",
                game.code
            ))
            .bearer_auth(&game.host_token),
    )
    .await?;
    if status != 200 {
        bail!("results: {status} {body}");
    }
    Ok(body)
}

/// Every confirmed question is there with exactly its acknowledged votes;
/// no question or answer appears twice; nothing counts a vote not sent.
fn check_results(results: &Value, game: &Game) {
    let questions = results["questions"].as_array().expect("questions array");
    let mut seen_qids = HashSet::new();
    for q in questions {
        let qid = q["qid"].as_u64().expect("qid");
        assert!(seen_qids.insert(qid), "qid {qid} appears twice: {results}");
        let answers = q["answers"].as_array().expect("answers");
        let mut voters = HashSet::new();
        let mut counted = 0u64;
        for a in answers {
            if a["answered"] == json!(true) {
                counted += 1;
                let pid = a["player_id"].as_u64().expect("player_id");
                assert!(
                    voters.insert(pid),
                    "player {pid} counted twice in qid {qid}"
                );
            }
        }
        let counts: u64 = q["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(counts, counted, "counts disagree with answers in qid {qid}");
        assert_eq!(q["answered"].as_u64(), Some(counted), "qid {qid}");
        assert!(
            counted <= PLAYERS as u64,
            "more answers than players in qid {qid}"
        );
    }
    for (qid, votes) in &game.confirmed {
        let q = questions
            .iter()
            .find(|q| q["qid"].as_u64() == Some(*qid))
            .unwrap_or_else(|| panic!("confirmed qid {qid} lost: {results}"));
        let mut expected = vec![0u64; 3];
        for choice in votes.values() {
            expected[*choice as usize] += 1;
        }
        let counts: Vec<u64> = q["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert_eq!(counts, expected, "qid {qid} counts changed: {q}");
        for a in q["answers"].as_array().expect("answers") {
            if a["answered"] != json!(true) {
                continue;
            }
            let pid = a["player_id"].as_u64().expect("player_id");
            let choice = votes.get(&pid).copied();
            assert_eq!(
                a["choices"],
                json!([choice.expect("an answer from a player who voted")]),
                "qid {qid} player {pid}"
            );
        }
    }
}

/// The answers table holds each acknowledged vote of a confirmed question
/// once, and nothing for a question the restored room does not have.
fn check_answer_rows(data_dir: &Path, db: &Db, game: &Game, restored_qids: &HashSet<u64>) {
    let rows = stored_answers(data_dir, db, &game.code);
    let mut keys = HashSet::new();
    for (qid, player, kind, _) in &rows {
        assert!(
            keys.insert((*qid, *player, kind.clone())),
            "answer row twice"
        );
        if kind == "seat" {
            // A seat is stored as it is taken, outside any question.
            assert_eq!(*qid, 0, "a seat row belongs to no question");
            continue;
        }
        assert!(
            restored_qids.contains(qid),
            "answer row for qid {qid}, which the room does not have"
        );
    }
    for seat in &game.seats {
        assert!(
            keys.contains(&(0, seat.player_id, "seat".to_string())),
            "no stored seat for player {}",
            seat.player_id
        );
    }
    for (qid, votes) in &game.confirmed {
        for (player, choice) in votes {
            let row = rows
                .iter()
                .find(|(q, p, k, _)| q == qid && p == player && k == "vote")
                .unwrap_or_else(|| panic!("no stored vote for qid {qid} player {player}"));
            let payload = &row.3;
            assert_eq!(
                payload["choices"],
                json!([choice]),
                "stored vote {qid}/{player}"
            );
        }
    }
}

/// The answers table's rows of room `code`: (qid, player, kind, payload),
/// read straight from the database the server wrote.
fn stored_answers(data_dir: &Path, db: &Db, code: &str) -> Vec<(u64, u64, String, Value)> {
    match db {
        Db::Sqlite => {
            let conn = rusqlite::Connection::open(data_dir.join(quizroom::storage::store::DB_FILE))
                .unwrap();
            let mut stmt = conn
                .prepare("SELECT qid, player, kind, payload FROM answers WHERE room = ?1")
                .unwrap();
            stmt.query_map([code], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get(2)?,
                    serde_json::from_str(&r.get::<_, String>(3)?).unwrap(),
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        }
        Db::Postgres(url) => {
            use quizroom::storage::Store;
            let store = quizroom::storage::postgres::PgStore::open(url, Duration::from_secs(3600))
                .expect("open the PostgreSQL store");
            store
                .answers(code)
                .unwrap()
                .into_iter()
                .map(|a| (u64::from(a.qid), u64::from(a.player), a.kind, a.payload))
                .collect()
        }
    }
}

/// Plays questions until `stop_after` elapses (then the caller kills) or
/// the server dies.
async fn play_until(
    host: &mut Ws,
    players: &mut [Ws],
    game: &mut Game,
    round: &mut u64,
    stop_after: Duration,
) {
    let deadline = tokio::time::Instant::now() + stop_after;
    loop {
        *round += 1;
        let step = play_question(host, players, game, *round);
        match tokio::time::timeout_at(deadline, step).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_finished() {
    sigkill_at_random_points(RUNS, |_| Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_finished_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    sigkill_at_random_points(PG_RUNS, |_| Db::Postgres(pg.new_database())).await;
}

/// Plays `runs` games, each on the store `db_for(run)`, killing the server
/// at random points and checking what comes back after each restart.
async fn sigkill_at_random_points(runs: usize, db_for: impl Fn(usize) -> Db) {
    let seed = std::env::var("QUIZROOM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(quizroom::storage::store::now_ms);
    eprintln!("crash test seed {seed} (QUIZROOM_CRASH_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();

    for run in 0..runs {
        let db = db_for(run);
        let data_dir = work.path().join(format!("data-{run}"));
        let mut game = Game::default();
        let mut round = 0;
        let mut server = Proc::start(work.path(), &data_dir, &db);
        let (mut host, mut players) = setup(server.addr, &mut game).await.expect("setup");

        for kill in 0..KILLS_PER_RUN {
            // Kill somewhere inside the next few questions: mid-vote,
            // between close and reveal, right after a boundary...
            let after = Duration::from_millis(rng.random_range(0..400));
            play_until(&mut host, &mut players, &mut game, &mut round, after).await;
            server.kill9();
            drop((host, players));
            eprintln!(
                "run {run} kill {kill}: after {after:?}, {} questions confirmed",
                game.confirmed.len()
            );

            server = Proc::start(work.path(), &data_dir, &db);
            let stored = results(server.addr, &game)
                .await
                .expect("results after restart");
            check_results(&stored, &game);
            let restored: HashSet<u64> = stored["questions"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|q| q["qid"].as_u64())
                .collect();
            // A question open at the kill comes back open (its answers
            // stay stored); either way its votes were counted at most once.
            let mut restored = restored;
            restored.extend(game.in_flight.take().map(|(qid, _)| qid));
            check_answer_rows(&data_dir, &db, &game, &restored);
            (host, players) = resume(server.addr, &game)
                .await
                .expect("resume after restart");
            // The game goes on where it stopped.
            round += 1;
            play_question(&mut host, &mut players, &mut game, round)
                .await
                .expect("a question after the restart");
        }

        // End the game, kill, and the ended room's results are still served.
        host.send(json!({"type":"end"})).await.unwrap();
        host.expect("ended").await.unwrap();
        server.kill9();
        drop((host, players));
        server = Proc::start(work.path(), &data_dir, &db);
        let stored = results(server.addr, &game)
            .await
            .expect("ended room results");
        assert_eq!(stored["ended"], json!(true), "{stored}");
        check_results(&stored, &game);
        let client = reqwest::Client::new();
        let (status, history) = http_json(
            client
                .get(format!("http://{}/api/rooms", server.addr))
                .bearer_auth(&game.host_token),
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
        let listed = history["rooms"].as_array().unwrap();
        assert!(
            listed
                .iter()
                .any(|r| r["code"] == json!(game.code) && r["status"] == json!("ended")),
            "{history}"
        );
        server.kill9();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_saves_the_open_question_and_exits_zero() {
    sigterm_saves_the_open_question(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_saves_the_open_question_and_exits_zero_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    sigterm_saves_the_open_question(Db::Postgres(pg.new_database())).await;
}

async fn sigterm_saves_the_open_question(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let mut server = Proc::start(work.path(), &data_dir, &db);
    let mut game = Game::default();
    let (mut host, mut players) = setup(server.addr, &mut game).await.expect("setup");

    // Open a question and have every vote acknowledged, then stop.
    host.send(json!({"type":"ask","mode":"self"}))
        .await
        .unwrap();
    let qid = host.expect("question").await.unwrap()["qid"]
        .as_u64()
        .unwrap();
    let mut votes = BTreeMap::new();
    for (p, seat) in players.iter_mut().zip(&game.seats) {
        p.expect("question").await.unwrap();
        p.send(json!({"type":"vote","qid":qid,"choice":2}))
            .await
            .unwrap();
        p.expect("ack").await.unwrap();
        votes.insert(seat.player_id, 2);
    }
    let stopped = Instant::now();
    server.sigterm();
    assert_eq!(host.close_code().await, Some(1012), "host closed with 1012");
    for p in &mut players {
        assert_eq!(p.close_code().await, Some(1012), "player closed with 1012");
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(10));
        (status, server)
    })
    .await
    .unwrap();
    let (status, _server) = status;
    let status = status.expect("exited within 10 s");
    assert!(status.success(), "exit status {status}");
    assert!(stopped.elapsed() < Duration::from_secs(10));

    // The question that was open is closed on restore with its votes.
    game.confirmed.insert(qid, votes);
    let server = Proc::start(work.path(), &data_dir, &db);
    let stored = results(server.addr, &game).await.expect("results");
    check_results(&stored, &game);
    let (_host, _players) = resume(server.addr, &game).await.expect("resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_killed_in_its_lobby_comes_back_for_its_host() {
    a_room_killed_in_its_lobby(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_killed_in_its_lobby_comes_back_for_its_host_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    a_room_killed_in_its_lobby(Db::Postgres(pg.new_database())).await;
}

async fn a_room_killed_in_its_lobby(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let mut server = Proc::start(work.path(), &data_dir, &db);
    let client = reqwest::Client::new();
    let (status, room) = http_json(
        client
            .post(format!("http://{}/api/rooms", server.addr))
            .json(&json!({"title": "lobby"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    // Killed before anything happened in the room.
    server.kill9();

    let server = Proc::start(work.path(), &data_dir, &db);
    let mut host = Ws::connect(server.addr).await.unwrap();
    host.send(json!({"type":"host","room":room["code"],"token":room["host_token"]}))
        .await
        .unwrap();
    host.expect("welcome")
        .await
        .expect("the host gets its room back");
    let (status, history) = http_json(
        client
            .get(format!("http://{}/api/rooms", server.addr))
            .bearer_auth(room["host_token"].as_str().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(history["rooms"][0]["code"], room["code"], "{history}");
    assert_eq!(history["rooms"][0]["status"], "running", "{history}");
}

/// What one player sends in `mode` for question `qid`.
fn answer_msg(mode: &str, qid: u64, i: usize) -> Value {
    match mode {
        "buzz" => json!({"type":"buzz","qid":qid}),
        "text" => json!({"type":"answer","qid":qid,"text":format!("answer {i}")}),
        _ => json!({"type":"vote","qid":qid,"choice": i % 2}),
    }
}

/// Whether a resumed player's `pending` shows the input it sent.
fn pending_shows(mode: &str, pending: &Value, i: usize) -> bool {
    match mode {
        "buzz" => pending["buzzed"] == json!(true),
        "text" => pending["text"] == json!(format!("answer {i}")),
        _ => pending["choices"] == json!([i % 2]),
    }
}

/// Kill -9 while a question of each mode is open and answers are arriving:
/// every answer a player got an `ack` for is back after the restart, on the
/// same open question, shown to the player as its own; the timer is frozen
/// until the host resumes it, and the results count the answers once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_open_question_of_every_mode_loses_no_acknowledged_answer() {
    sigkill_during_an_open_question(|_| Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_open_question_of_every_mode_loses_no_acknowledged_answer_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    sigkill_during_an_open_question(|_| Db::Postgres(pg.new_database())).await;
}

/// One room per mode, each on the store `db_for(mode)`.
async fn sigkill_during_an_open_question(db_for: impl Fn(&str) -> Db) {
    const SEATS: usize = 8;
    let seed = quizroom::storage::store::now_ms();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let (mut acked_total, mut found_total) = (0, 0);
    for mode in ["vote", "poll", "self", "buzz", "text"] {
        let data_dir = work.path().join(format!("data-{mode}"));
        let db = db_for(mode);
        let mut server = Proc::start(work.path(), &data_dir, &db);
        let client = reqwest::Client::new();
        let (status, room) = http_json(
            client
                .post(format!("http://{}/api/rooms", server.addr))
                .json(&json!({"title": mode})),
        )
        .await
        .unwrap();
        assert_eq!(status, 201);
        let mut game = Game {
            code: room["code"].as_str().unwrap().to_string(),
            host_token: room["host_token"].as_str().unwrap().to_string(),
            ..Game::default()
        };
        let mut host = Ws::connect(server.addr).await.unwrap();
        host.send(json!({"type":"host","room":game.code,"token":game.host_token}))
            .await
            .unwrap();
        host.expect("welcome").await.unwrap();
        let mut players = Vec::new();
        for i in 0..SEATS {
            let mut p = Ws::connect(server.addr).await.unwrap();
            p.send(json!({"type":"join","room":game.code,"name":format!("p{i}")}))
                .await
                .unwrap();
            let welcome = p.expect("welcome").await.unwrap();
            game.seats.push(Seat {
                player_id: welcome["player_id"].as_u64().unwrap(),
                resume_token: welcome["resume_token"].as_str().unwrap().to_string(),
            });
            players.push(p);
        }
        host.send(json!({"type":"ask","mode":mode,"time_limit_ms":120_000}))
            .await
            .unwrap();
        let qid = host.expect("question").await.unwrap()["qid"]
            .as_u64()
            .unwrap();
        for p in &mut players {
            p.expect("question").await.unwrap();
        }
        // Half answer and wait for the ack; the rest answer at once and the
        // kill lands while their acks are on the way.
        let mut acked = Vec::new();
        for (i, p) in players.iter_mut().enumerate().take(SEATS / 2) {
            p.send(answer_msg(mode, qid, i)).await.unwrap();
            p.expect("ack").await.unwrap();
            acked.push(i);
        }
        for (i, p) in players.iter_mut().enumerate().skip(SEATS / 2) {
            p.send(answer_msg(mode, qid, i)).await.unwrap();
        }
        let window = Duration::from_millis(rng.random_range(0..4));
        for (i, p) in players.iter_mut().enumerate().skip(SEATS / 2) {
            if let Ok(Ok(_)) = tokio::time::timeout(window, p.expect("ack")).await {
                acked.push(i);
            }
        }
        server.kill9();
        drop((host, players));

        let server = Proc::start(work.path(), &data_dir, &db);
        let (mut host, players) = resume(server.addr, &game).await.expect("resume");
        drop(players);
        // Each acknowledged player finds its own input on the open question.
        let mut found = 0;
        for &i in &acked {
            let mut p = Ws::connect(server.addr).await.unwrap();
            p.send(json!({"type":"resume","room":game.code,
                "resume_token":game.seats[i].resume_token}))
                .await
                .unwrap();
            let state = p.expect("welcome").await.unwrap()["state"].clone();
            assert_eq!(state["question"]["qid"], json!(qid), "{mode}: {state}");
            assert_eq!(state["question"]["open"], json!(true), "{mode}: {state}");
            assert_eq!(state["question"]["paused"], json!(true), "{mode}: {state}");
            if pending_shows(mode, &state["pending"], i) {
                found += 1;
            } else {
                eprintln!("{mode}: player {i} lost its acknowledged input: {state}");
            }
        }
        eprintln!(
            "{mode}: {} answers acknowledged before the kill, {found} back after it",
            acked.len()
        );
        assert_eq!(found, acked.len(), "{mode}: acknowledged answers lost");
        acked_total += acked.len();
        found_total += found;
        // The host resumes the timer and closes: the results count every
        // acknowledged answer once, and nothing that was never sent.
        host.send(json!({"type":"pause","paused":false}))
            .await
            .unwrap();
        host.expect("timer").await.unwrap();
        host.send(json!({"type":"close"})).await.unwrap();
        host.expect("closed").await.unwrap();
        let stored = results(server.addr, &game).await.expect("results");
        let q = &stored["questions"][0];
        assert_eq!(q["qid"], json!(qid), "{stored}");
        let answered = q["answered"].as_u64().unwrap() as usize;
        assert!(
            answered >= acked.len() && answered <= SEATS,
            "{mode}: {answered} answered, {} acknowledged: {q}",
            acked.len()
        );
        for &i in &acked {
            let pid = game.seats[i].player_id;
            let row = q["answers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["player_id"] == json!(pid))
                .expect("a row per player");
            assert_eq!(row["answered"], json!(true), "{mode}: {row}");
        }
    }
    eprintln!(
        "all modes: {acked_total} acknowledged, {found_total} restored, {} lost",
        acked_total - found_total
    );
}

/// Seats a player in `code` as `name`; returns its socket and seat.
async fn take_seat(addr: SocketAddr, code: &str, name: &str) -> (Ws, Seat) {
    let mut p = Ws::connect(addr).await.unwrap();
    p.send(json!({"type":"join","room":code,"name":name}))
        .await
        .unwrap();
    let welcome = p.expect("welcome").await.unwrap();
    let seat = Seat {
        player_id: welcome["player_id"].as_u64().unwrap(),
        resume_token: welcome["resume_token"].as_str().unwrap().to_string(),
    };
    (p, seat)
}

/// Creates a room and connects its host.
async fn open_room(addr: SocketAddr, title: &str) -> (Game, Ws) {
    let (status, room) = http_json(
        reqwest::Client::new()
            .post(format!("http://{addr}/api/rooms"))
            .json(&json!({"title": title})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    let game = Game {
        code: room["code"].as_str().unwrap().to_string(),
        host_token: room["host_token"].as_str().unwrap().to_string(),
        ..Game::default()
    };
    let mut host = Ws::connect(addr).await.unwrap();
    host.send(json!({"type":"host","room":game.code,"token":game.host_token}))
        .await
        .unwrap();
    host.expect("welcome").await.unwrap();
    (game, host)
}

/// Kill -9 right after players were welcomed to seats no checkpoint holds
/// yet (joins in the lobby, and joins after the open question's checkpoint):
/// each seat comes back on resume with its id, name, score and the vote it
/// was acknowledged, and scores on the reveal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_taken_after_the_last_checkpoint_survive_sigkill() {
    seats_taken_after_the_last_checkpoint(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_taken_after_the_last_checkpoint_survive_sigkill_on_postgres() {
    let pg = tokio::task::spawn_blocking(common::services::Postgres::start)
        .await
        .unwrap();
    seats_taken_after_the_last_checkpoint(Db::Postgres(pg.new_database())).await;
}

async fn seats_taken_after_the_last_checkpoint(db: Db) {
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let mut server = Proc::start(work.path(), &data_dir, &db);
    let addr = server.addr;

    // Room 1: players welcomed in the lobby, nothing else happens.
    let (lobby, _lobby_host) = open_room(addr, "lobby seats").await;
    let mut lobby_seats = Vec::new();
    for i in 0..3 {
        let (p, seat) = take_seat(addr, &lobby.code, &format!("early{i}")).await;
        lobby_seats.push((p, seat));
    }

    // Room 2: one scored question, then a second one open; three players
    // join after its checkpoint, one of them votes and is acknowledged.
    let (game, mut host) = open_room(addr, "late seats").await;
    let (mut first, first_seat) = take_seat(addr, &game.code, "first").await;
    host.send(json!({"type":"ask","mode":"vote","topics":[]}))
        .await
        .unwrap();
    let q1 = host.expect("question").await.unwrap();
    let seen = first.expect("question").await.unwrap();
    assert_eq!(seen["options"], q1["options"]);
    first
        .send(json!({"type":"vote","qid":q1["qid"],"choices":q1["correct"]}))
        .await
        .unwrap();
    first.expect("ack").await.unwrap();
    host.send(json!({"type":"reveal"})).await.unwrap();
    host.expect("reveal").await.unwrap();
    let first_score = first.expect("you").await.unwrap()["score"]
        .as_i64()
        .unwrap();
    assert!(first_score > 0);
    host.send(json!({"type":"ask","mode":"vote","topics":[]}))
        .await
        .unwrap();
    let q2 = host.expect("question").await.unwrap();
    let qid2 = q2["qid"].as_u64().unwrap();
    // The full key (a drawn question may be multi-select).
    let key = q2["correct"].clone();
    let mut late = Vec::new();
    for i in 0..3 {
        late.push(take_seat(addr, &game.code, &format!("late{i}")).await);
    }
    // late0 sees the question in its welcome and votes the key.
    late[0]
        .0
        .send(json!({"type":"vote","qid":qid2,"choices":key}))
        .await
        .unwrap();
    late[0].0.expect("ack").await.unwrap();
    server.kill9();
    drop((host, first));

    let server = Proc::start(work.path(), &data_dir, &db);
    let addr = server.addr;
    let resume_seat = |code: String, seat: Seat| async move {
        let mut p = Ws::connect(addr).await.unwrap();
        p.send(json!({"type":"resume","room":code,"resume_token":seat.resume_token}))
            .await
            .unwrap();
        let welcome = p
            .expect("welcome")
            .await
            .unwrap_or_else(|e| panic!("seat {} lost in the crash: {e}", seat.player_id));
        assert_eq!(welcome["player_id"].as_u64(), Some(seat.player_id));
        (p, welcome)
    };
    for (i, (_, seat)) in lobby_seats.iter().enumerate() {
        let (_, w) = resume_seat(lobby.code.clone(), seat.clone()).await;
        assert_eq!(w["state"]["you"]["name"], format!("early{i}"));
        assert_eq!(w["state"]["you"]["score"], 0);
    }
    let (_first, w) = resume_seat(game.code.clone(), first_seat.clone()).await;
    assert_eq!(w["state"]["you"]["score"], first_score);
    let mut back = Vec::new();
    for (i, (_, seat)) in late.iter().enumerate() {
        let (p, w) = resume_seat(game.code.clone(), seat.clone()).await;
        let state = &w["state"];
        assert_eq!(state["you"]["name"], format!("late{i}"));
        assert_eq!(state["you"]["score"], 0);
        assert_eq!(state["question"]["qid"], json!(qid2), "{state}");
        let expected = if i == 0 { key.clone() } else { Value::Null };
        assert_eq!(state["pending"]["choices"], expected, "late{i}: {state}");
        back.push(p);
    }
    // A new player gets the next seat, not one of the restored ones.
    let (_, newcomer) = take_seat(addr, &game.code, "newcomer").await;
    assert_eq!(newcomer.player_id, late[2].1.player_id + 1);
    let mut host = Ws::connect(addr).await.unwrap();
    host.send(json!({"type":"host","room":game.code,"token":game.host_token}))
        .await
        .unwrap();
    host.expect("welcome").await.unwrap();
    host.send(json!({"type":"reveal"})).await.unwrap();
    let reveal = host.expect("reveal").await.unwrap();
    let late0 = late[0].1.player_id.to_string();
    assert!(
        reveal["points"][&late0].as_i64().unwrap_or(0) > 0,
        "the acknowledged vote of a restored seat scores: {reveal}"
    );
    let you = back[0].expect("you").await.unwrap();
    assert!(you["score"].as_i64().unwrap() > 0, "{you}");
}
