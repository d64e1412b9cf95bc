//! The Redis queue store, for several instances sharing one line per project.
//!
//! Every change is one Lua script (in `redis/*.lua`, each opened by
//! `prelude.lua`), run with EVALSHA and loaded again when Redis answers
//! NOSCRIPT, so each change is atomic however many instances poll and admit
//! at once. Scripts read the time with Redis's `TIME`, and expiries are Redis
//! key expiries: the instances' own clocks never enter into it.
//!
//! The keys, each under the configured prefix (`car_server:` by default):
//!
//! | key                | type       | holds                                        |
//! |--------------------|------------|----------------------------------------------|
//! | `arrivals`         | string     | the global arrival counter (INCR)            |
//! | `line:{project}`   | sorted set | users waiting for the project, by arrival    |
//! | `lines`            | set        | projects whose line is not empty             |
//! | `seen`             | sorted set | every queued user, by last poll (server ms)  |
//! | `users`            | hash       | user → JSON: project, UserIp, ApplicationId… |
//! | `admitted:{user}`  | string     | the project, expiring after `READY_TTL`      |
//! | `refused:{user}`   | string     | the cloud's refusal (JSON), expiring         |
//! | `lease:{project}`  | string     | the admission lease's token, expiring        |
//!
//! A place in line is a `ZRANK`, O(log n). Dropping silent users walks `seen`
//! from its oldest end in bounded batches, so it costs the users it drops,
//! wherever they stand in their lines. The poll of a user already waiting is
//! one round trip of four Redis calls.
//!
//! Requirements on the Redis: a single server or a primary with replicas, not
//! a Cluster (scripts build the key of the line a user leaves from what they
//! read, so not every key can be declared up front); version 5 or newer
//! (scripts that read `TIME` and then write); and an eviction policy that
//! never evicts these keys (`noeviction`, or a `volatile-*` policy), since a
//! lost key loses users.
//!
//! While Redis is unreachable every call fails within [`CALL_DEADLINE`] with
//! a [`StoreError`], and the connection comes back by itself when Redis does.
//! A call that times out may still have been carried out by Redis. Every
//! script leaves a state that the next poll or admission round reads
//! correctly either way; at worst a lease taken by a call that timed out
//! holds its line back until the lease lapses.
//!
//! `refuse`, like the memory store's, does not check the lease: dropping a
//! user the cloud refused for good is right whoever holds the line.

use super::store::{Lease, Left, Polled, QueueStore, Refusal, StoreError, Waiting};
use crate::domain::{ProjectId, UserId};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError, Script, ScriptInvocation, Value,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;
use url::Url;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long Redis may take to answer one command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The most any store call may take, reconnecting and reloading a script
/// included: past it the service answers 10002 rather than hang.
pub const CALL_DEADLINE: Duration = Duration::from_secs(2);

/// How many silent users one `drop_silent` script looks at before giving
/// Redis back to other clients.
const DROP_BATCH: usize = 500;

pub struct RedisStore {
    /// Reconnects by itself; cloned per call (it is a handle on one shared
    /// multiplexed connection), so calls from many requests pipeline.
    connection: ConnectionManager,
    /// Put before every key name, so that deployments can share a Redis.
    prefix: String,
    /// How long an admitted user may take to call StartProject.
    ready_ttl: Duration,
    /// How long a refusal waits for the refused user's next poll.
    refusal_ttl: Duration,
    /// Built once: each knows its SHA1, which EVALSHA sends instead of the
    /// script's text.
    scripts: Scripts,
}

/// The store's Lua scripts, each with the shared prelude in front.
struct Scripts {
    poll: Script,
    leave: Script,
    lines: Script,
    drop_silent: Script,
    head: Script,
    admit: Script,
    refuse: Script,
    renew: Script,
    release: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&[include_str!("redis/prelude.lua"), body].concat());
        Self {
            poll: script(include_str!("redis/poll.lua")),
            leave: script(include_str!("redis/leave.lua")),
            lines: script(include_str!("redis/lines.lua")),
            drop_silent: script(include_str!("redis/drop_silent.lua")),
            head: script(include_str!("redis/head.lua")),
            admit: script(include_str!("redis/admit.lua")),
            refuse: script(include_str!("redis/refuse.lua")),
            renew: script(include_str!("redis/renew.lua")),
            release: script(include_str!("redis/release.lua")),
        }
    }

    fn all(&self) -> [&Script; 9] {
        [
            &self.poll,
            &self.leave,
            &self.lines,
            &self.drop_silent,
            &self.head,
            &self.admit,
            &self.refuse,
            &self.renew,
            &self.release,
        ]
    }
}

/// What the store keeps about a queued user besides its place: what
/// admission needs to call ApplyConcurrent. Short field names, since a line
/// may hold a million of these. `Cow` rather than `&str`, because a value
/// with a quote or a backslash is escaped in JSON and cannot be borrowed
/// back out of it.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    /// The project whose line the user waits in; the scripts read it.
    #[serde(borrow)]
    p: Cow<'a, str>,
    /// UserIp.
    ip: IpAddr,
    /// ApplicationId.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    a: Option<Cow<'a, str>>,
    /// ApplicationVersionId.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    v: Option<Cow<'a, str>>,
}

impl RedisStore {
    /// Connects to the Redis at `url` and loads the scripts, so that a wrong
    /// address or password stops the start with a message saying which.
    /// `password` (REDIS_PWD) is used only when the URL carries none.
    pub async fn connect(
        url: &Url,
        password: Option<&SecretString>,
        prefix: &str,
        ready_ttl: Duration,
        refusal_ttl: Duration,
    ) -> Result<Self, StoreError> {
        let address = redacted(url);
        let mut info = url.clone().into_connection_info().map_err(|error| {
            StoreError(format!("the Redis URL {address} is not usable: {error}"))
        })?;
        if let Some(password) = password
            && info.redis_settings().password().is_none()
        {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(password.expose_secret());
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(|error| {
            StoreError(format!("the Redis URL {address} is not usable: {error}"))
        })?;

        // No retries inside one connection attempt: while Redis is down a
        // call should fail at once rather than wait out a backoff. The
        // manager tries again on the next call, which is how it recovers.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| StoreError(connect_failure(&address, &error)))?;

        // A Redis that wants a password accepts the connection without one
        // and refuses the first command, so ask something before going on.
        let pong: Result<String, RedisError> =
            deadline(redis::cmd("PING").query_async(&mut connection.clone())).await;
        pong.map_err(|error| StoreError(connect_failure(&address, &error)))?;

        let store = Self {
            connection,
            prefix: prefix.to_owned(),
            ready_ttl,
            refusal_ttl,
            scripts: Scripts::new(),
        };
        // Loading every script now proves that this Redis runs Lua scripts
        // (some managed offerings do not) before the service says it is up.
        for script in store.scripts.all() {
            let mut connection = store.connection.clone();
            deadline(script.prepare_invoke().load_async(&mut connection))
                .await
                .map_err(|error| {
                    StoreError(format!("Redis at {address} did not load a script: {error}"))
                })?;
        }
        tracing::info!(redis = %address, prefix, "queue store connected to Redis");
        Ok(store)
    }

    /// Starts a call of `script`, with the prefix as its first argument.
    fn call<'a>(&self, script: &'a Script) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix);
        invocation
    }

    /// Runs a script call on the shared connection.
    async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        Ok(deadline(invocation.invoke_async(&mut connection)).await?)
    }
}

impl fmt::Debug for RedisStore {
    // By hand: the connection's own Debug would print its settings, and
    // nothing that could hold the password is printed from here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("ready_ttl", &self.ready_ttl)
            .field("refusal_ttl", &self.refusal_ttl)
            .finish_non_exhaustive()
    }
}

/// Bounds a Redis call by [`CALL_DEADLINE`], whatever state the connection
/// is in.
async fn deadline<T>(call: impl Future<Output = Result<T, RedisError>>) -> Result<T, RedisError> {
    tokio::time::timeout(CALL_DEADLINE, call)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()))
}

impl From<RedisError> for StoreError {
    fn from(error: RedisError) -> Self {
        StoreError(format!("redis: {error}"))
    }
}

/// Host, port and database of a Redis URL: never its user or password.
fn redacted(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port().unwrap_or(6379);
    format!("{}://{host}:{port}{}", url.scheme(), url.path())
}

fn connect_failure(address: &str, error: &RedisError) -> String {
    let refused_credentials = error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"));
    match error.kind() {
        _ if refused_credentials => format!(
            "Redis at {address} refused the credentials (check REDIS_PWD or the URL's password): {error}"
        ),
        ErrorKind::Io => format!("cannot reach Redis at {address}: {error}"),
        _ => format!("cannot connect to Redis at {address}: {error}"),
    }
}

/// A duration as PX milliseconds. PX refuses 0 (and a lease or admission
/// shorter than a millisecond means nothing), and refuses expiries past the
/// year 292 million, hence the cap at some thirty thousand years.
fn millis(duration: Duration) -> u64 {
    const LONGEST: u64 = 1_000_000_000_000_000;
    u64::try_from(duration.as_millis())
        .unwrap_or(LONGEST)
        .clamp(1, LONGEST)
}

/// A reply the scripts never give: the keys were changed by someone else.
fn malformed(what: &str, value: &Value) -> StoreError {
    StoreError(format!("redis: unexpected reply to {what}: {value:?}"))
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

fn user_id(value: &Value) -> Option<UserId> {
    text(value).and_then(|text| UserId::parse(text).ok())
}

fn project_id(value: &Value) -> Option<ProjectId> {
    text(value).and_then(|text| ProjectId::parse(text).ok())
}

fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

#[async_trait]
impl QueueStore for RedisStore {
    async fn poll(&self, waiting: &Waiting) -> Result<Polled, StoreError> {
        let record = serde_json::to_string(&Record {
            p: waiting.project_id.as_str().into(),
            ip: waiting.user_ip,
            a: waiting.application_id.as_deref().map(Cow::from),
            v: waiting.application_version_id.as_deref().map(Cow::from),
        })
        .expect("a record always serializes");
        let reply: Vec<Value> = self
            .run(
                self.call(&self.scripts.poll)
                    .arg(waiting.user_id.as_str())
                    .arg(waiting.project_id.as_str())
                    .arg(&record),
            )
            .await?;

        let polled = match reply.as_slice() {
            [tag, index, joined] if text(tag) == Some("queued") => count(index)
                .zip(count(joined))
                .map(|(index, joined)| Polled::Queued {
                    index,
                    joined_empty_line: joined == 1,
                }),
            [tag] if text(tag) == Some("admitted") => Some(Polled::Admitted),
            [tag, refusal] if text(tag) == Some("refused") => text(refusal)
                .and_then(|json| serde_json::from_str(json).ok())
                .map(Polled::Refused),
            _ => None,
        };
        polled.ok_or_else(|| malformed("poll", &Value::Array(reply)))
    }

    async fn leave(&self, user_id: &UserId) -> Result<Left, StoreError> {
        let reply: Vec<Value> = self
            .run(self.call(&self.scripts.leave).arg(user_id.as_str()))
            .await?;
        let left = match reply.as_slice() {
            [tag, project] if text(tag) == Some("admitted") => {
                project_id(project).map(Left::Admitted)
            }
            [tag, project] if text(tag) == Some("line") => project_id(project).map(Left::Line),
            [tag] if text(tag) == Some("absent") => Some(Left::Absent),
            _ => None,
        };
        left.ok_or_else(|| malformed("leave", &Value::Array(reply)))
    }

    async fn lines(&self) -> Result<Vec<(ProjectId, u64)>, StoreError> {
        let reply: Vec<Value> = self.run(&self.call(&self.scripts.lines)).await?;
        reply
            .chunks(2)
            .map(|pair| match pair {
                [project, length] => project_id(project).zip(count(length)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("lines", &Value::Array(reply)))
    }

    async fn drop_silent(
        &self,
        silent_for: Duration,
    ) -> Result<Vec<(UserId, ProjectId)>, StoreError> {
        let silent_ms = millis(silent_for);
        let mut dropped = Vec::new();
        loop {
            let (looked_at, batch): (usize, Vec<Value>) = self
                .run(
                    self.call(&self.scripts.drop_silent)
                        .arg(silent_ms)
                        .arg(DROP_BATCH),
                )
                .await?;
            for pair in batch.chunks(2) {
                let user = match pair {
                    [user, project] => user_id(user).zip(project_id(project)),
                    _ => None,
                };
                dropped.push(
                    user.ok_or_else(|| malformed("drop_silent", &Value::Array(batch.clone())))?,
                );
            }
            if looked_at < DROP_BATCH {
                return Ok(dropped);
            }
        }
    }

    async fn head(&self, project_id: &ProjectId) -> Result<Option<Waiting>, StoreError> {
        let reply: Option<(String, String)> = self
            .run(self.call(&self.scripts.head).arg(project_id.as_str()))
            .await?;
        let Some((user, record)) = reply else {
            return Ok(None);
        };
        let head = serde_json::from_str::<Record>(&record)
            .ok()
            .zip(UserId::parse(user).ok())
            .map(|(record, user_id)| Waiting {
                user_id,
                project_id: project_id.clone(),
                user_ip: record.ip,
                application_id: record.a.map(Cow::into_owned),
                application_version_id: record.v.map(Cow::into_owned),
            });
        head.map(Some).ok_or_else(|| {
            StoreError(format!(
                "redis: unreadable record at the head of {project_id}"
            ))
        })
    }

    async fn admit(&self, lease: &Lease, user_id: &UserId) -> Result<bool, StoreError> {
        self.run(
            self.call(&self.scripts.admit)
                .arg(lease.project_id.as_str())
                .arg(&lease.token)
                .arg(user_id.as_str())
                .arg(millis(self.ready_ttl)),
        )
        .await
    }

    async fn refuse(
        &self,
        lease: &Lease,
        user_id: &UserId,
        refusal: &Refusal,
    ) -> Result<(), StoreError> {
        let refusal = serde_json::to_string(refusal).expect("a refusal always serializes");
        let _: i64 = self
            .run(
                self.call(&self.scripts.refuse)
                    .arg(lease.project_id.as_str())
                    .arg(user_id.as_str())
                    .arg(&refusal)
                    .arg(millis(self.refusal_ttl)),
            )
            .await?;
        Ok(())
    }

    async fn try_lease(
        &self,
        project_id: &ProjectId,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        // Random, so that a holder whose lease lapsed can never pass for
        // the next holder, on this instance or another.
        let token = hex::encode(rand::random::<[u8; 16]>());
        let taken: Value = deadline(
            redis::cmd("SET")
                .arg(format!("{}lease:{project_id}", self.prefix))
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut self.connection.clone()),
        )
        .await?;
        Ok((taken != Value::Nil).then(|| Lease {
            project_id: project_id.clone(),
            token,
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.run(
            self.call(&self.scripts.renew)
                .arg(lease.project_id.as_str())
                .arg(&lease.token)
                .arg(millis(ttl)),
        )
        .await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let _: i64 = self
            .run(
                self.call(&self.scripts.release)
                    .arg(lease.project_id.as_str())
                    .arg(&lease.token),
            )
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String =
            deadline(redis::cmd("PING").query_async(&mut self.connection.clone())).await?;
        Ok(())
    }
}
