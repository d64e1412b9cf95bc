//! A Redis for the tests, and a key space of their own inside it.
//!
//! [`shared_url`] finds one Redis for the whole test binary: the one named by
//! `CAR_TEST_REDIS_URL`, else one already answering on 127.0.0.1:6379, else a
//! private `redis-server` started on a free port with persistence off. Tests
//! share it safely because each works under its own random key prefix
//! ([`KeySpace`]), whose keys are deleted when the test ends, pass or fail.
//!
//! [`RedisServer`] is a private server that a test may stop and start again,
//! for the behaviour while Redis is away. Every server started here is
//! watched by a small shell loop that kills it once the test binary is gone,
//! since a test binary runs no destructors for its statics and may itself be
//! killed.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use url::Url;

/// Names a Redis for the tests instead of looking for one.
pub const URL_VARIABLE: &str = "CAR_TEST_REDIS_URL";

/// How long a starting `redis-server` may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The Redis every test of this binary shares; found or started once.
pub fn shared_url() -> Url {
    static SHARED: OnceLock<Result<Url, String>> = OnceLock::new();
    SHARED
        .get_or_init(find_or_start)
        .clone()
        .unwrap_or_else(|problem| panic!("no Redis for the tests: {problem}"))
}

fn find_or_start() -> Result<Url, String> {
    if let Ok(named) = std::env::var(URL_VARIABLE) {
        let url = Url::parse(&named).map_err(|error| format!("{URL_VARIABLE}: {error}"))?;
        return match ping(&url, Duration::from_secs(2)) {
            Ok(()) => Ok(url),
            Err(error) => Err(format!(
                "{URL_VARIABLE} names a Redis that does not answer PING: {error}"
            )),
        };
    }

    let local = Url::parse("redis://127.0.0.1:6379/").expect("a valid URL");
    if ping(&local, Duration::from_millis(500)).is_ok() {
        return Ok(local);
    }

    // Kept for the binary's life: the static is never dropped, and the
    // watchdog stops the server when the binary exits.
    static PRIVATE: OnceLock<RedisServer> = OnceLock::new();
    let server = RedisServer::start(&[]).map_err(|problem| {
        format!(
            "set {URL_VARIABLE}, run a Redis on 127.0.0.1:6379, or install redis-server \
             ({problem})"
        )
    })?;
    Ok(PRIVATE.get_or_init(|| server).url())
}

/// Succeeds when the Redis at `url` answers PING within `timeout`.
pub fn ping(url: &Url, timeout: Duration) -> Result<(), String> {
    let client = ::redis::Client::open(url.as_str()).map_err(|error| error.to_string())?;
    let mut connection = client
        .get_connection_with_timeout(timeout)
        .map_err(|error| error.to_string())?;
    ::redis::cmd("PING")
        .query::<String>(&mut connection)
        .map(drop)
        .map_err(|error| error.to_string())
}

/// A key prefix of one test's own, under the test Redis; its keys are
/// deleted on drop, so a failing test leaves nothing behind either.
pub struct KeySpace {
    pub url: Url,
    pub prefix: String,
}

impl KeySpace {
    /// A fresh prefix in the shared Redis.
    pub fn new() -> Self {
        Self::on(shared_url())
    }

    /// A fresh prefix in the Redis at `url`.
    pub fn on(url: Url) -> Self {
        let prefix = format!(
            "car_server_test:{}:",
            hex::encode(rand::random::<[u8; 8]>())
        );
        Self { url, prefix }
    }

    /// The names of every key under this prefix.
    pub fn keys(&self) -> Vec<String> {
        let Ok(client) = ::redis::Client::open(self.url.as_str()) else {
            return Vec::new();
        };
        let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return Vec::new();
        };
        // The prefix is hex and colons, with nothing SCAN's pattern treats
        // specially.
        let pattern = format!("{}*", self.prefix);
        let mut keys = Vec::new();
        let mut cursor = 0_u64;
        loop {
            let page: Result<(u64, Vec<String>), _> = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut connection);
            let Ok((next, page)) = page else {
                return keys;
            };
            keys.extend(page);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

impl Drop for KeySpace {
    fn drop(&mut self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        // Best effort: a Redis already gone (a test that stopped it) has
        // nothing left to clean.
        if let Ok(client) = ::redis::Client::open(self.url.as_str())
            && let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(1))
        {
            let _: Result<i64, _> = ::redis::cmd("DEL").arg(&keys).query(&mut connection);
        }
    }
}

/// A `redis-server` of one test's own, on a port it keeps across restarts.
pub struct RedisServer {
    pub port: u16,
    /// Arguments after the port, kept to start the same server again.
    extra: Vec<String>,
    process: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port; `extra` goes on its command line
    /// (e.g. `["--requirepass", "…"]`).
    pub fn start(extra: &[&str]) -> Result<Self, String> {
        let mut server = Self {
            port: free_port()?,
            extra: extra.iter().map(|arg| arg.to_string()).collect(),
            process: None,
        };
        server.restart()?;
        Ok(server)
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("redis://127.0.0.1:{}/", self.port)).expect("a valid URL")
    }

    /// Kills the server at once, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is
    /// answered, as with a hung server or a network partition.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let process = self.process.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .args([&format!("-{name}"), &process.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Starts the server again on the same port (empty: nothing is saved).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let mut process = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot run redis-server: {error}"))?;
        watch(process.id());

        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = process.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                ));
            }
            // A server with a password answers NOAUTH: that is up, too.
            match ping(&self.url(), Duration::from_millis(200)) {
                Ok(()) => break,
                Err(error) if error.contains("NOAUTH") => break,
                Err(error) if started.elapsed() > START_TIMEOUT => {
                    let _ = process.kill();
                    let _ = process.wait();
                    return Err(format!(
                        "redis-server on port {} did not answer: {error}",
                        self.port
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        self.process = Some(process);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port: {error}"))
}

/// Kills `server` once this test binary has exited. The loop also ends when
/// the server is gone first (stopped by its test), and then kills nothing.
fn watch(server: u32) {
    let script = r#"while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done
kill -0 "$1" 2>/dev/null || kill "$2" 2>/dev/null"#;
    let watchdog = Command::new("sh")
        .args(["-c", script, "watchdog"])
        .arg(std::process::id().to_string())
        .arg(server.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut watchdog) = watchdog {
        // Reaped on a thread of its own so that it leaves no zombie behind.
        std::thread::spawn(move || watchdog.wait());
    }
}
