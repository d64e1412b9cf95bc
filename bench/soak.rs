//! The soak: mixed traffic against a running `car_server` for a set time,
//! counting every answer that is not what a page should get.
//!
//! Run by `bench/soak.sh`, which starts `car_server --simulate` on loopback.
//! `PAGES` simulated pages each loop through a page's life on one of a few
//! projects: poll Enqueue (every 50–400 ms) until 10101, StartProject, hold
//! the session a few seconds, StopProject. Along the way some pages give up
//! and Dequeue, some fall silent while queued (so that the service drops
//! them), and some send a malformed request instead. Each answer is checked:
//!
//! - **connection errors**: no HTTP answer at all;
//! - **5xx**: any status of 500 or more;
//! - **not JSON**: a body that is not a JSON object with a numeric `Code`;
//! - **unexpected codes**: a `Code` (or HTTP status) the request should not
//!   get, e.g. a 10002 anywhere, or anything but 10001 to a malformed body.
//!
//! The server's RSS (from `/proc/<SERVER_PID>/status`) is read at the start,
//! every minute, and at the end. Settings (environment): `SERVICE`,
//! `SERVER_PID`, `SOAK_SECONDS` (default 600), `SOAK_PAGES` (default 300),
//! `SOAK_PROJECTS` (default 5).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a soak counts; shared by the pages.
#[derive(Default)]
struct Tally {
    /// Answers by endpoint and code, e.g. `Enqueue 10100`.
    answers: BTreeMap<String, u64>,
    /// Requests that got no HTTP answer, by error.
    connection_errors: BTreeMap<String, u64>,
    /// Answers with a status of 500 or more.
    server_errors: u64,
    /// Answers whose body is not a JSON object with a numeric Code.
    not_json: u64,
    /// Answers with a code the request should not get, by endpoint and code.
    unexpected: BTreeMap<String, u64>,
}

#[derive(Clone)]
struct Page {
    client: reqwest::Client,
    base: String,
    tally: Arc<Mutex<Tally>>,
    /// A small xorshift state: the soak needs variety, not quality.
    seed: u64,
}

/// A request a page sends, and which codes it may get back.
struct Call {
    /// For the tally, e.g. `Enqueue` or `malformed`.
    label: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    expected: &'static [u64],
    /// The HTTP status expected; 200 for the endpoints.
    status: u16,
}

impl Page {
    fn random(&mut self, below: u64) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed % below
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.random(100) < percent
    }

    async fn pause(&mut self, from_ms: u64, to_ms: u64) {
        let ms = from_ms + self.random(to_ms - from_ms + 1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends one call, checks the answer, and returns its Code (0 when
    /// there was none).
    async fn send(&self, call: Call) -> u64 {
        let mut request = self
            .client
            .post(format!("{}{}", self.base, call.path))
            .body(call.body);
        if let Some(content_type) = call.content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timeout"
                } else if error.is_connect() {
                    "connect"
                } else {
                    "other"
                };
                *self
                    .tally()
                    .connection_errors
                    .entry(kind.to_owned())
                    .or_default() += 1;
                return 0;
            }
        };
        let status = response.status().as_u16();
        let body = response.bytes().await;
        let code = body
            .ok()
            .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
            .and_then(|reply| reply["Code"].as_u64());

        let mut tally = self.tally();
        if status >= 500 {
            tally.server_errors += 1;
        }
        let Some(code) = code else {
            tally.not_json += 1;
            return 0;
        };
        *tally
            .answers
            .entry(format!("{} {status} {code}", call.label))
            .or_default() += 1;
        if status != call.status || !call.expected.contains(&code) {
            *tally
                .unexpected
                .entry(format!("{} {status} {code}", call.label))
                .or_default() += 1;
        }
        code
    }

    fn json(
        label: &'static str,
        path: &'static str,
        body: Value,
        expected: &'static [u64],
    ) -> Call {
        Call {
            label,
            path,
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
            expected,
            status: 200,
        }
    }

    /// One of the malformed requests pages or attackers send.
    fn malformed(&mut self, user: &str) -> Call {
        let bad = |path, content_type, body: &[u8], status| Call {
            label: "malformed",
            path,
            content_type,
            body: body.to_vec(),
            expected: &[10001],
            status,
        };
        match self.random(8) {
            0 => bad("/Enqueue", Some("application/json"), b"{\"UserId\":", 200),
            1 => bad(
                "/Enqueue",
                Some("application/json"),
                br#"{"UserId":null,"ProjectId":"cap-soak-0"}"#,
                200,
            ),
            2 => bad(
                "/StartProject",
                Some("application/json"),
                br#"{"UserId":{"nested":1},"ProjectId":"cap-soak-0"}"#,
                200,
            ),
            3 => bad(
                "/Dequeue",
                Some("application/x-www-form-urlencoded"),
                b"UserId=%FF",
                200,
            ),
            4 => bad("/StopProject", None, &vec![b'x'; 20_000], 200),
            5 => bad(
                "/Enqueue",
                Some("application/json"),
                format!(r#"{{"UserId":"{user}","UserId":"twice","ProjectId":"p"}}"#).as_bytes(),
                200,
            ),
            6 => bad("/NoSuchPath", Some("application/json"), b"{}", 404),
            _ => bad(
                "/Enqueue",
                Some("multipart/form-data; boundary=x"),
                b"--x--",
                200,
            ),
        }
    }

    /// One life of a page: queue, play, leave. Returns early when the page
    /// gives up or falls silent, or leaves the line at `deadline`.
    async fn life(&mut self, user: &str, project: &str, deadline: Instant) {
        if self.chance(5) {
            let call = self.malformed(user);
            self.send(call).await;
        }

        let started = Instant::now();
        loop {
            let code = self
                .send(Self::json(
                    "Enqueue",
                    "/Enqueue",
                    json!({"UserId": user, "ProjectId": project, "RequestId": "soak"}),
                    &[10100, 10101],
                ))
                .await;
            if code == 10101 {
                break;
            }
            // 1 in 200 polls: the page gives up properly, or is closed.
            match self.random(200) {
                0 => {
                    self.send(Self::json(
                        "Dequeue",
                        "/Dequeue",
                        json!({"UserId": user}),
                        &[0],
                    ))
                    .await;
                    return;
                }
                1 => return,
                _ => {}
            }
            if started.elapsed() > Duration::from_secs(120) || Instant::now() > deadline {
                self.send(Self::json(
                    "Dequeue",
                    "/Dequeue",
                    json!({"UserId": user}),
                    &[0],
                ))
                .await;
                return;
            }
            self.pause(50, 400).await;
        }

        if self.chance(3) {
            // Admitted, then left before starting: the reservation goes back.
            self.send(Self::json(
                "Dequeue",
                "/Dequeue",
                json!({"UserId": user}),
                &[0],
            ))
            .await;
            return;
        }
        let code = self
            .send(Self::json(
                "StartProject",
                "/StartProject",
                json!({"UserId": user, "ProjectId": project, "ClientSession": "soak-session"}),
                &[0],
            ))
            .await;
        if code != 0 {
            return;
        }
        self.pause(500, 5000).await;
        self.send(Self::json(
            "StopProject",
            "/StopProject",
            json!({"UserId": user}),
            &[0],
        ))
        .await;
    }
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let setting = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
    let base = setting("SERVICE", "http://127.0.0.1:3000");
    let pid = setting("SERVER_PID", "");
    let seconds: u64 = setting("SOAK_SECONDS", "600")
        .parse()
        .expect("SOAK_SECONDS is a number");
    let pages: u64 = setting("SOAK_PAGES", "300")
        .parse()
        .expect("SOAK_PAGES is a number");
    let projects: u64 = setting("SOAK_PROJECTS", "5")
        .parse()
        .expect("SOAK_PROJECTS is a number");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(pages as usize)
        .build()
        .expect("an HTTP client");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let rss_start = rss_kib(&pid);
    println!(
        "soak: {pages} pages on {projects} projects for {seconds}s; server RSS {rss_start:?} KiB"
    );

    let mut tasks = tokio::task::JoinSet::new();
    for number in 0..pages {
        let mut page = Page {
            client: client.clone(),
            base: base.clone(),
            tally: tally.clone(),
            seed: 0x9E37_79B9_7F4A_7C15 ^ (number + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
        };
        tasks.spawn(async move {
            let mut life = 0;
            while Instant::now() < deadline {
                let user = format!("soak-{number}-{life}");
                let project = format!("cap-soak-{}", page.random(projects));
                page.life(&user, &project, deadline).await;
                life += 1;
            }
        });
    }

    let mut minutes = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(60),
    );
    let mut rss_max = rss_start.unwrap_or(0);
    loop {
        tokio::select! {
            _ = minutes.tick() => {
                let rss = rss_kib(&pid);
                rss_max = rss_max.max(rss.unwrap_or(0));
                let requests: u64 = tally.lock().unwrap().answers.values().sum();
                println!("soak: {:>4}s  {requests} answers  server RSS {rss:?} KiB", started.elapsed().as_secs());
            }
            done = tasks.join_next() => if done.is_none() { break },
        }
    }
    let rss_end = rss_kib(&pid);

    let tally = tally.lock().unwrap();
    let answers: u64 = tally.answers.values().sum();
    let connection_errors: u64 = tally.connection_errors.values().sum();
    let unexpected: u64 = tally.unexpected.values().sum();
    println!("soak: answers by endpoint, HTTP status and Code:");
    for (key, count) in &tally.answers {
        println!("  {key:<28} {count}");
    }
    for (key, count) in &tally.connection_errors {
        println!("  connection error ({key}): {count}");
    }
    for (key, count) in &tally.unexpected {
        println!("  unexpected: {key}: {count}");
    }
    println!(
        "RESULT seconds={} answers={answers} connection_errors={connection_errors} server_errors={} not_json={} unexpected={unexpected} rss_start_kib={} rss_end_kib={} rss_max_kib={}",
        started.elapsed().as_secs(),
        tally.server_errors,
        tally.not_json,
        rss_start.unwrap_or(0),
        rss_end.unwrap_or(0),
        rss_max.max(rss_end.unwrap_or(0)),
    );
}
