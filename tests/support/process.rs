//! The `car_server` binary as a child process: for what only a whole process
//! shows (start-up checks, signals, several instances on one Redis).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The binary Cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_car_server"))
}

/// A free loopback port (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `car_server` command with a clean environment: nothing from the
/// developer's shell or `.env` leaks in.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `car_server` to completion and returns its status and stderr.
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), command(args, env).output())
        .await
        .expect("car_server exits by itself")
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A running `car_server`, listening on `port`.
pub struct Running {
    pub child: Child,
    pub port: u16,
    /// Lines the process wrote to stdout and stderr, as they come.
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Running {
    /// Starts `car_server` with `args` on a free port (PORT and BIND are
    /// set) and waits until it accepts connections.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        Self::start_on(port, args, env).await
    }

    pub async fn start_on(port: u16, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port_text = port.to_string();
        let mut env = env.to_vec();
        env.push(("PORT", &port_text));
        env.push(("BIND", "127.0.0.1"));
        let mut child = command(args, &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("car_server starts");

        let (sender, lines) = mpsc::unbounded_channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let _ = sender.send(line);
                }
            });
        }

        let mut running = Self {
            child,
            port,
            lines,
            seen: Vec::new(),
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = running.child.try_wait() {
                running.drain();
                panic!("car_server exited with {status}: {:#?}", running.seen);
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "car_server did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        running
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs a JSON body and returns the JSON reply.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        reqwest::Client::new()
            .post(self.url(path))
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Collects the lines written so far.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("car_server exits after SIGTERM")
            .unwrap();
        // Give the readers a moment to pass on the last lines.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.drain();
        status
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.id().expect("the process is running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    }

    /// Kills the process outright, as a crash would.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}
