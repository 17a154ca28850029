//! PostgreSQL and Redis of the generator's own, for cluster runs that must
//! reproduce with one command: each on a free loopback port in a scratch
//! folder, persisting nothing beyond the run, stopped when dropped. Uses
//! Debian's packages (`postgresql`, `redis-server`; scripts/test.sh
//! installs them). PostgreSQL refuses to run as root, so as root its
//! binaries run as the `postgres` user (or `nobody`) through `runuser`, in
//! a folder that user owns. The same approach as the black-box tests'
//! tests/common/services.rs, with errors instead of panics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

/// A scratch folder of its own under the system temp dir.
fn scratch(prefix: &str) -> anyhow::Result<PathBuf> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// The folder with `initdb` and `pg_ctl`: `QUIZROOM_PG_BIN`, else the
/// newest /usr/lib/postgresql/N/bin.
fn pg_bin() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("QUIZROOM_PG_BIN") {
        return Ok(PathBuf::from(dir));
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
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL is not installed (apt-get install postgresql), \
             or give --database-url"
        ),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The user PostgreSQL runs as when we are root, with its uid and gid.
fn pg_user() -> anyhow::Result<(String, u32, u32)> {
    for name in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, name]).output().ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return Ok((name.to_string(), uid, gid));
        }
    }
    bail!("no postgres or nobody user to run PostgreSQL as")
}

/// A command for a PostgreSQL binary, run as the unprivileged user when
/// we are root.
fn pg_command(program: &Path) -> anyhow::Result<Command> {
    Ok(if is_root() {
        let (user, _, _) = pg_user()?;
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    })
}

fn chown(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::chown(c.as_ptr(), uid, gid) };
    if rc != 0 {
        bail!(
            "chown {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// A PostgreSQL cluster of its own: `initdb` in a scratch folder,
/// `pg_ctl start` on a free port, trust auth for the `postgres` user on
/// loopback only. Stopped (`pg_ctl stop -m immediate`) and deleted when
/// dropped.
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl Postgres {
    /// Initializes and starts a cluster (a few seconds) and creates the
    /// database `quizroom`.
    pub fn start() -> anyhow::Result<Postgres> {
        let bin = pg_bin()?;
        let dir = scratch("quizroom-bench-pg")?;
        if is_root() {
            let (_, uid, gid) = pg_user()?;
            chown(&dir, uid, gid)?;
        }
        let pg = Postgres {
            port: free_port()?,
            dir,
            bin,
        };
        let data = pg.dir.join("data");
        let out = pg_command(&pg.bin.join("initdb"))?
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .stdin(Stdio::null())
            .output()
            .context("run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=200",
            pg.port,
            pg.dir.display()
        );
        let log = pg.dir.join("log");
        let out = pg_command(&pg.bin.join("pg_ctl"))?
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .args(["-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .context("run pg_ctl start")?;
        if !out.status.success() || !wait_for_port(pg.port, Duration::from_secs(10)) {
            bail!(
                "PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let out = pg_command(&pg.bin.join("createdb"))?
            .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U"])
            .args(["postgres", "quizroom"])
            .stdin(Stdio::null())
            .output()
            .context("run createdb")?;
        if !out.status.success() {
            bail!("createdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(pg)
    }

    /// URL of the `quizroom` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/quizroom", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Ok(mut cmd) = pg_command(&self.bin.join("pg_ctl")) {
            let _ = cmd
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server of its own on a free port, persisting nothing; killed
/// when dropped.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl Redis {
    /// Starts redis-server (`QUIZROOM_REDIS_BIN` or the one on PATH) and
    /// waits until it accepts connections.
    pub fn start() -> anyhow::Result<Redis> {
        let dir = scratch("quizroom-bench-redis")?;
        let port = free_port()?;
        let bin = std::env::var("QUIZROOM_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("start {bin} (apt-get install redis-server), or give --redis-url")
            })?;
        let redis = Redis { port, dir, child };
        if !wait_for_port(port, Duration::from_secs(10)) {
            bail!("redis-server is not listening on {port}");
        }
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
