//! The server under test as a real process (`fangzha serve`), killed with SIGKILL and started
//! again on the same data directory and database; and the fresh database it uses.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

/// How long one start may take before the test calls it a failed restart. Generous: the
/// machine is shared with compiles.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A port that is free now and below the kernel's ephemeral range. Between a kill and the
/// next start nothing listens on the server's port; a port from the ephemeral range could
/// meanwhile become the local end of an outgoing connection (another test's connection to
/// PostgreSQL, or the client's own reconnect, which then connects to itself), and the next
/// start would fail to bind it.
fn stable_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    // Above the well-known services this machine runs (PostgreSQL, MariaDB, Redis, ...).
    let low = 20_000.min(ephemeral_low.saturating_sub(1_000));
    let mut rng = rand::rng();
    for _ in 0..1_000 {
        let port = rng.random_range(low..ephemeral_low);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{ephemeral_low}");
}

/// How to start the server: always the same binary, data directory, database and port.
pub struct ServerSpec {
    /// The data directory (secrets, the SQLite file, the server's log).
    pub data_dir: PathBuf,
    /// The database URL.
    pub database_url: String,
    /// The port, the same for every start so the client keeps one address.
    pub port: u16,
}

impl ServerSpec {
    /// A spec on a port that is free now (actix binds with `SO_REUSEADDR`, so the same port
    /// can be bound again right after a kill).
    pub fn new(data_dir: &Path, database_url: &str) -> ServerSpec {
        let port = stable_port();
        ServerSpec {
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.to_owned(),
            port,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The file every start appends its standard error to.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("server.log")
    }

    /// A `fangzha` command on this data directory and database (the working directory is
    /// the data directory, so no stray `./fangzha.toml` is read).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fangzha"));
        cmd.current_dir(&self.data_dir)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--database")
            .arg(&self.database_url)
            .env_remove("RUST_LOG")
            .env("FANGZHA__LOG_LEVEL", "warn")
            // A small pool: each start opens it whole, and one phone needs few connections.
            .env("FANGZHA__DB_POOL_SIZE", "2")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `fangzha serve` (without waiting for it to answer).
    pub fn start(&self) -> Server {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("server log");
        let child = self
            .command()
            .arg("serve")
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn fangzha serve");
        Server { child }
    }

    /// Waits until `/healthz` answers 200 (the server opened the database, migrated and
    /// listens). Fails if the process exits or takes longer than [`START_LIMIT`].
    pub fn wait_ready(&self, server: &mut Server) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "the server exited during start-up ({status}); log:\n{}",
                    self.log_tail()
                ));
            }
            if healthy(self.port) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > START_LIMIT {
                return Err(format!(
                    "the server did not answer /healthz within {START_LIMIT:?}; log:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A running server process; killed (SIGKILL) when dropped, so a failing test leaves none.
pub struct Server {
    child: Child,
}

impl Server {
    /// SIGKILL, then reap the process (a no-op once it is dead).
    pub fn kill(&mut self) {
        // `Child::kill` sends SIGKILL on Unix: no shutdown code of the server runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET /healthz` over a plain socket: true on a 200 answer.
fn healthy(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}
