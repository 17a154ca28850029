//! Real PostgreSQL and Redis servers for tests, on free loopback ports in
//! temporary folders, stopped when dropped. Uses Debian's packages
//! (`postgresql`, `redis-server`; scripts/test.sh installs them when
//! missing). PostgreSQL refuses to run as root, so as root its binaries run
//! as the `postgres` user (or `nobody`) in a folder that user owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until something accepts TCP connections on `port`.
fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The folder with `initdb` and `pg_ctl`: `QUIZROOM_PG_BIN`, else the
/// newest /usr/lib/postgresql/N/bin.
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("QUIZROOM_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is not installed (apt-get install postgresql; scripts/test.sh does)")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The user PostgreSQL runs as when we are root, with its uid and gid.
fn pg_user() -> (String, u32, u32) {
    for name in ["postgres", "nobody"] {
        let out = Command::new("id").args(["-u", name]).output();
        let gid = Command::new("id").args(["-g", name]).output();
        if let (Ok(out), Ok(gid)) = (out, gid) {
            let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
            let gid = String::from_utf8_lossy(&gid.stdout).trim().parse().ok();
            if let (true, Some(uid), Some(gid)) = (out.status.success(), uid, gid) {
                return (name.to_string(), uid, gid);
            }
        }
    }
    panic!("no postgres or nobody user to run PostgreSQL as");
}

/// A command for a PostgreSQL binary, run as the unprivileged user when
/// we are root.
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let (user, _, _) = pg_user();
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path has no NUL");
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
    assert_eq!(rc, 0, "chown {}", path.display());
}

/// A PostgreSQL cluster of its own: `initdb` in a temporary folder,
/// `pg_ctl start` on a free port, trust auth for the `postgres` user on
/// loopback only. `pg_ctl stop` when dropped.
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    next_db: std::sync::atomic::AtomicUsize,
}

impl Postgres {
    /// Initializes and starts a cluster (a few seconds).
    pub fn start() -> Postgres {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("quizroom-pg-")
            .tempdir()
            .expect("a temp dir");
        if is_root() {
            let (_, uid, gid) = pg_user();
            chown_tree(dir.path(), uid, gid);
        }
        let data = dir.path().join("data");
        let out = pg_command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = Postgres {
            port: free_port(),
            dir,
            data,
            bin,
            next_db: std::sync::atomic::AtomicUsize::new(0),
        };
        pg.start_server();
        pg
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{log}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "PostgreSQL is not listening: {log}"
        );
    }

    /// Stops the server at once (as a crash would), keeping its data.
    pub fn stop(&self) {
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Starts the server again on the same port and data.
    pub fn restart(&self) {
        self.start_server();
    }

    /// URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh database and returns its URL, so tests sharing one
    /// cluster never see each other's rooms.
    pub fn new_database(&self) -> String {
        let n = self
            .next_db
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("quizroom_{n}");
        let out = pg_command(&self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(&name)
            .stdin(Stdio::null())
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A redis-server of its own on a free port, persisting nothing;
/// killed when dropped.
pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Redis {
    /// Starts redis-server and waits until it accepts connections.
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("quizroom-redis-")
            .tempdir()
            .expect("a temp dir");
        let mut redis = Redis {
            port: free_port(),
            dir,
            child: None,
        };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data goes: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(
            std::env::var("QUIZROOM_REDIS_BIN").unwrap_or_else(|_| "redis-server".into()),
        )
        .args(["--port", &self.port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(self.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server (apt-get install redis-server; scripts/test.sh does)");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(10)),
            "redis-server is not listening on {}",
            self.port
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
