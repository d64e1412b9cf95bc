//! Configuration: command-line flags and environment variables, read once at
//! start and checked before anything listens.
//!
//! Every setting is a flag with an environment variable of the same meaning
//! (flags win; a `.env` file in the working directory is read first). Values
//! are parsed by clap, so a bad one stops the start with a message naming the
//! flag and its variable; [`Cli::settings`] then checks the combinations no
//! single value can (credentials, `SALT` with `API_SIGN`, Redis with
//! `REDIS_QUEUE`). Nothing falls back silently to a default.

use crate::cloud::tc3::Credentials;
use crate::simulator::{FaultRules, SimulatorSettings};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use secrecy::SecretString;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;
use url::Url;

/// The business backend for Tencent Cloud Application Cloud Rendering: it
/// starts and stops a user's cloud stream, and keeps a fair line while every
/// machine is taken.
#[derive(Debug, Parser)]
#[command(name = "car_server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the CAR API simulator alone, for front-end work and for testing
    /// other backends (no cloud account needed).
    #[command(
        after_help = "It listens on PORT and BIND and takes SIM_CAPACITY, SIM_RESERVATION_TTL, SIM_LATENCY and SIM_FAULTS: set them in the environment, or as flags before the subcommand, e.g. `car_server --port 4000 --bind 127.0.0.1 --sim-capacity 3 simulator` (see `car_server --help`). Its control API (/_simulator/...) is unauthenticated: bind to 127.0.0.1 unless the network is yours."
    )]
    Simulator(SimulatorArgs),
    /// Probe a running car_server's /healthz and exit 0 when it answers (for
    /// container health checks).
    Healthcheck(HealthcheckArgs),
}

/// Settings of the service itself.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Run against a built-in CAR simulator on a loopback port with throwaway
    /// credentials: the whole product, no cloud account.
    #[arg(long, env = "SIMULATE", value_name = "SIMULATE", value_parser = parse_switch, default_value = "N", num_args = 0..=1, default_missing_value = "Y", action = ArgAction::Set)]
    pub simulate: bool,

    /// Tencent Cloud SecretId. Required unless --simulate.
    #[arg(
        long,
        env = "SECRET_ID",
        value_name = "SECRET_ID",
        hide_env_values = true
    )]
    pub secret_id: Option<String>,

    /// Tencent Cloud SecretKey. Required unless --simulate.
    #[arg(
        long,
        env = "SECRET_KEY",
        value_name = "SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// Port to listen on.
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Address to listen on.
    #[arg(long, env = "BIND", value_name = "BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Base URL of the CAR API (international site: https://car.intl.tencentcloudapi.com).
    #[arg(long, env = "CAR_ENDPOINT", value_name = "CAR_ENDPOINT", default_value = "https://car.tencentcloudapi.com", value_parser = parse_endpoint)]
    pub car_endpoint: Url,

    /// Sent as X-TC-Region; an empty value leaves the header out.
    #[arg(
        long,
        env = "CAR_REGION",
        value_name = "CAR_REGION",
        default_value = "ap-guangzhou"
    )]
    pub car_region: String,

    /// Overrides every cloud call's deadline (ApplyConcurrent 20s, CreateSession 5s, others 5s).
    #[arg(long, env = "CAR_TIMEOUT", value_name = "CAR_TIMEOUT", value_parser = parse_positive_duration)]
    pub car_timeout: Option<Duration>,

    /// Cloud requests per second allowed per action (the cloud's limit is 100).
    #[arg(long, env = "CAR_RATE_LIMIT", value_name = "CAR_RATE_LIMIT", default_value = "80", value_parser = parse_rate_limit)]
    pub car_rate_limit: NonZeroU32,

    /// Require the request signature `Sign` on every request (Y/N).
    #[arg(long, env = "API_SIGN", value_name = "API_SIGN", value_parser = parse_switch, default_value = "N", action = ArgAction::Set)]
    pub api_sign: bool,

    /// The salt appended before hashing `Sign`. Required with API_SIGN=Y.
    #[arg(long, env = "SALT", value_name = "SALT", hide_env_values = true)]
    pub salt: Option<String>,

    /// When set, signed requests must carry a `Timestamp` (unix seconds) within this window.
    #[arg(long, env = "SIGN_MAX_AGE", value_name = "SIGN_MAX_AGE", value_parser = parse_positive_duration)]
    pub sign_max_age: Option<Duration>,

    /// Keep the queue in Redis, shared by every instance (Y/N).
    #[arg(long, env = "REDIS_QUEUE", value_name = "REDIS_QUEUE", value_parser = parse_switch, default_value = "N", action = ArgAction::Set)]
    pub redis_queue: bool,

    /// Redis URL, e.g. redis://host:6379/0. Required with REDIS_QUEUE=Y.
    #[arg(long, env = "REDIS", value_name = "REDIS", value_parser = parse_redis_url)]
    pub redis: Option<Url>,

    /// Redis password, when the URL carries none.
    #[arg(
        long,
        env = "REDIS_PWD",
        value_name = "REDIS_PWD",
        hide_env_values = true
    )]
    pub redis_pwd: Option<String>,

    /// Prefix of every Redis key, so that deployments can share a Redis.
    #[arg(
        long,
        env = "REDIS_PREFIX",
        value_name = "REDIS_PREFIX",
        default_value = "car_server:"
    )]
    pub redis_prefix: String,

    /// Drop a queued user who has not polled for this long.
    #[arg(long, env = "ENQUEUE_TIMEOUT", value_name = "ENQUEUE_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub enqueue_timeout: Duration,

    /// How often admission runs (it also runs at once when a machine is freed).
    #[arg(long, env = "QUEUE_CHECK_INTERVAL", value_name = "QUEUE_CHECK_INTERVAL", default_value = "1s", value_parser = parse_positive_duration)]
    pub queue_check_interval: Duration,

    /// How long an admitted user may take to call StartProject.
    #[arg(long, env = "READY_TTL", value_name = "READY_TTL", default_value = "30s", value_parser = parse_positive_duration)]
    pub ready_ttl: Duration,

    /// StartProject honours the line: only admitted users, or anyone while the line is empty (Y/N).
    #[arg(long, env = "QUEUE_STRICT", value_name = "QUEUE_STRICT", value_parser = parse_switch, default_value = "N", action = ArgAction::Set)]
    pub queue_strict: bool,

    /// Peers whose X-Forwarded-For / X-Real-IP are believed: CIDRs or addresses, comma-separated; "none" trusts nobody.
    #[arg(long, env = "TRUST_PROXY", value_name = "TRUST_PROXY", default_value = DEFAULT_TRUSTED_PROXIES, value_parser = parse_cidrs)]
    pub trust_proxy: TrustedProxies,

    /// The ProjectIds this service serves, comma-separated; empty serves any. Others get 10001 without reaching the cloud.
    #[arg(long, env = "PROJECTS", value_name = "PROJECTS", default_value = "", value_parser = parse_projects)]
    pub projects: AllowedProjects,

    /// Allowed CORS origins, comma-separated, or * for any.
    #[arg(long, env = "CORS_ORIGINS", value_name = "CORS_ORIGINS", default_value = "*", value_parser = parse_origins)]
    pub cors_origins: CorsOrigins,

    /// Largest request body accepted, in bytes (256 to 1048576).
    #[arg(long, env = "BODY_LIMIT", value_name = "BODY_LIMIT", default_value_t = 16 * 1024)]
    pub body_limit: usize,

    /// Most connections served at once; further ones wait in the kernel's backlog.
    #[arg(
        long,
        env = "MAX_CONNECTIONS",
        value_name = "MAX_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_connections: usize,

    /// A client must send its request headers, and then its body, each within this time.
    #[arg(long, env = "HEADER_TIMEOUT", value_name = "HEADER_TIMEOUT", default_value = "5s", value_parser = parse_positive_duration)]
    pub header_timeout: Duration,

    /// A request must be answered within this time (longer than the cloud's deadlines).
    #[arg(long, env = "REQUEST_TIMEOUT", value_name = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub request_timeout: Duration,

    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", value_name = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub shutdown_timeout: Duration,

    /// Log format: text or json. Levels come from RUST_LOG.
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub sim: SimArgs,
}

/// Settings of the simulator, used by `--simulate` and `car_server simulator`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Machines per project in the simulator.
    #[arg(
        long,
        env = "SIM_CAPACITY",
        value_name = "SIM_CAPACITY",
        default_value_t = 2
    )]
    pub sim_capacity: u32,

    /// How long the simulator holds an ApplyConcurrent reservation without a CreateSession.
    #[arg(long, env = "SIM_RESERVATION_TTL", value_name = "SIM_RESERVATION_TTL", default_value = "30s", value_parser = parse_positive_duration)]
    pub sim_reservation_ttl: Duration,

    /// Latency the simulator adds to every answer.
    #[arg(long, env = "SIM_LATENCY", value_name = "SIM_LATENCY", default_value = "0s", value_parser = parse_duration)]
    pub sim_latency: Duration,

    /// Errors the simulator injects, e.g. CreateSession:InternalError:0.2,ApplyConcurrent:ResourceUnavailable.Timeout:0.05
    #[arg(
        long,
        env = "SIM_FAULTS",
        value_name = "SIM_FAULTS",
        default_value = ""
    )]
    pub sim_faults: FaultRules,
}

/// `car_server simulator`: the simulator alone.
#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// The SecretId the simulator accepts.
    #[arg(
        long,
        env = "SECRET_ID",
        value_name = "SECRET_ID",
        hide_env_values = true
    )]
    pub secret_id: Option<String>,

    /// The SecretKey the simulator checks signatures with.
    #[arg(
        long,
        env = "SECRET_KEY",
        value_name = "SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
}

/// `car_server healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to probe; by default the local service on PORT.
    #[arg(long, value_name = "URL")]
    pub url: Option<Url>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Loopback and the private ranges: where a load balancer or a reverse proxy
/// usually stands.
pub const DEFAULT_TRUSTED_PROXIES: &str =
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7";

/// The peers whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&peer))
    }
}

/// The projects requests may name.
#[derive(Debug, Clone, Default)]
pub struct AllowedProjects(Option<HashSet<String>>);

impl AllowedProjects {
    /// Only these projects.
    pub fn only(projects: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(Some(projects.into_iter().map(Into::into).collect()))
    }

    pub fn allows(&self, project_id: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|allowed| allowed.contains(project_id))
    }
}

/// The origins a browser may call from.
#[derive(Debug, Clone)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

/// Everything the service needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub cloud: CloudTarget,
    pub car_region: Option<String>,
    pub car_timeout: Option<Duration>,
    pub car_rate_limit: NonZeroU32,
    /// `None` when API_SIGN is off.
    pub sign: Option<SignSettings>,
    pub queue: QueueSettings,
    pub http: HttpSettings,
    /// The projects served; requests naming others are refused up front.
    pub projects: AllowedProjects,
    pub log_format: LogFormat,
}

/// Where cloud calls go.
#[derive(Debug, Clone)]
pub enum CloudTarget {
    /// The real CAR API.
    Cloud {
        endpoint: Url,
        credentials: Credentials,
    },
    /// A simulator started in this process (`--simulate`).
    Simulated(SimulatorSettings),
}

#[derive(Debug, Clone)]
pub struct SignSettings {
    pub salt: SecretString,
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub store: StoreSettings,
    pub enqueue_timeout: Duration,
    pub check_interval: Duration,
    pub ready_ttl: Duration,
    pub strict: bool,
}

impl QueueSettings {
    /// `memory` or `redis`, for logs.
    pub fn store_kind(&self) -> &'static str {
        match self.store {
            StoreSettings::Memory => "memory",
            StoreSettings::Redis { .. } => "redis",
        }
    }
}

#[derive(Debug, Clone)]
pub enum StoreSettings {
    Memory,
    Redis {
        url: Url,
        password: Option<SecretString>,
        prefix: String,
    },
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub trust_proxy: TrustedProxies,
    pub cors_origins: CorsOrigins,
    pub body_limit: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl Settings {
    /// Defaults for a service on `listen` talking to `cloud`: what tests and
    /// embedders start from.
    pub fn new(listen: SocketAddr, cloud: CloudTarget) -> Self {
        Self {
            listen,
            cloud,
            car_region: Some("ap-guangzhou".to_owned()),
            car_timeout: None,
            car_rate_limit: NonZeroU32::new(80).expect("non-zero"),
            sign: None,
            queue: QueueSettings {
                store: StoreSettings::Memory,
                enqueue_timeout: Duration::from_secs(30),
                check_interval: Duration::from_secs(1),
                ready_ttl: Duration::from_secs(30),
                strict: false,
            },
            http: HttpSettings {
                trust_proxy: parse_cidrs(DEFAULT_TRUSTED_PROXIES).expect("valid default"),
                cors_origins: CorsOrigins::Any,
                body_limit: 16 * 1024,
                max_connections: 10_000,
                header_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(30),
                shutdown_timeout: Duration::from_secs(30),
            },
            projects: AllowedProjects::default(),
            log_format: LogFormat::Text,
        }
    }
}

/// A combination of values that cannot work; the message names the settings.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl ServeArgs {
    /// Checks what no single value's parser can, and assembles [`Settings`].
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let cloud = if self.simulate {
            CloudTarget::Simulated(
                self.sim
                    .settings(Credentials::new("AKIDsimulator", random_secret())),
            )
        } else {
            CloudTarget::Cloud {
                endpoint: self.car_endpoint.clone(),
                credentials: required_credentials(&self.secret_id, &self.secret_key)?,
            }
        };

        let sign = if self.api_sign {
            let salt = self
                .salt
                .as_deref()
                .filter(|salt| !salt.is_empty())
                .ok_or_else(|| {
                    ConfigError("API_SIGN=Y needs SALT (the salt of the request signature)".into())
                })?;
            Some(SignSettings {
                salt: SecretString::from(salt.to_owned()),
                max_age: self.sign_max_age,
            })
        } else {
            if self.sign_max_age.is_some() {
                return Err(ConfigError(
                    "SIGN_MAX_AGE only applies to signed requests: set API_SIGN=Y or unset it"
                        .into(),
                ));
            }
            None
        };

        let store = if self.redis_queue {
            let url = self.redis.clone().ok_or_else(|| {
                ConfigError("REDIS_QUEUE=Y needs REDIS (e.g. redis://127.0.0.1:6379/0)".into())
            })?;
            StoreSettings::Redis {
                url,
                password: self
                    .redis_pwd
                    .clone()
                    .filter(|password| !password.is_empty())
                    .map(SecretString::from),
                prefix: self.redis_prefix.clone(),
            }
        } else {
            StoreSettings::Memory
        };

        if !(256..=1 << 20).contains(&self.body_limit) {
            return Err(ConfigError(
                "BODY_LIMIT must be between 256 and 1048576 bytes".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError("MAX_CONNECTIONS must be at least 1".into()));
        }

        Ok(Settings {
            listen: SocketAddr::new(self.bind, self.port),
            cloud,
            car_region: Some(self.car_region.clone()).filter(|region| !region.is_empty()),
            car_timeout: self.car_timeout,
            car_rate_limit: self.car_rate_limit,
            sign,
            queue: QueueSettings {
                store,
                enqueue_timeout: self.enqueue_timeout,
                check_interval: self.queue_check_interval,
                ready_ttl: self.ready_ttl,
                strict: self.queue_strict,
            },
            http: HttpSettings {
                trust_proxy: self.trust_proxy.clone(),
                cors_origins: self.cors_origins.clone(),
                body_limit: self.body_limit,
                max_connections: self.max_connections,
                header_timeout: self.header_timeout,
                request_timeout: self.request_timeout,
                shutdown_timeout: self.shutdown_timeout,
            },
            projects: self.projects.clone(),
            log_format: self.log_format,
        })
    }
}

impl SimArgs {
    pub fn settings(&self, credentials: Credentials) -> SimulatorSettings {
        let mut settings = SimulatorSettings::new(credentials);
        settings.capacity = self.sim_capacity;
        settings.reservation_ttl = self.sim_reservation_ttl;
        settings.latency = self.sim_latency;
        settings.faults = self.sim_faults.0.clone();
        settings
    }
}

impl SimulatorArgs {
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        required_credentials(&self.secret_id, &self.secret_key)
    }
}

fn required_credentials(
    secret_id: &Option<String>,
    secret_key: &Option<String>,
) -> Result<Credentials, ConfigError> {
    match (
        secret_id.as_deref().filter(|id| !id.is_empty()),
        secret_key.as_deref().filter(|key| !key.is_empty()),
    ) {
        (Some(id), Some(key)) => Ok(Credentials::new(id, key)),
        (None, None) => Err(ConfigError(
            "SECRET_ID and SECRET_KEY are required (or run with --simulate to use the built-in simulator)"
                .into(),
        )),
        (None, Some(_)) => Err(ConfigError("SECRET_ID is required with SECRET_KEY".into())),
        (Some(_), None) => Err(ConfigError("SECRET_KEY is required with SECRET_ID".into())),
    }
}

/// A key for the simulator that nobody outside this process knows.
fn random_secret() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Y/N switches; also true/false, 1/0, yes/no, any case.
pub fn parse_switch(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "1" | "on" => Ok(true),
        "n" | "no" | "false" | "0" | "off" => Ok(false),
        _ => Err("expected Y or N (also true/false, 1/0)".into()),
    }
}

/// Durations written like `30s`, `500ms`, `2m`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|_| "expected a duration such as 30s, 500ms or 2m".to_owned())
}

fn parse_positive_duration(value: &str) -> Result<Duration, String> {
    let duration = parse_duration(value)?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

fn parse_rate_limit(value: &str) -> Result<NonZeroU32, String> {
    let rate: u32 = value
        .trim()
        .parse()
        .map_err(|_| "expected a whole number of requests per second".to_owned())?;
    match NonZeroU32::new(rate) {
        Some(rate) if rate.get() <= 100 => Ok(rate),
        _ => Err("must be between 1 and 100 (the cloud allows 100 per second per action)".into()),
    }
}

fn parse_endpoint(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if url.path() != "/" || url.query().is_some() {
        return Err("the CAR API lives at the root of its host: give no path or query".into());
    }
    Ok(url)
}

fn parse_redis_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|error| format!("not a URL: {error}"))?;
    if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none() {
        return Err("expected a redis:// URL with a host, e.g. redis://127.0.0.1:6379/0".into());
    }
    Ok(url)
}

/// CIDRs or single addresses, comma-separated; `none` or nothing trusts no one.
pub fn parse_cidrs(value: &str) -> Result<TrustedProxies, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("none") {
        return Ok(TrustedProxies::default());
    }
    value
        .split(',')
        .map(str::trim)
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is neither a CIDR (10.0.0.0/8) nor an address"))
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

fn parse_projects(value: &str) -> Result<AllowedProjects, String> {
    let projects: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|project| !project.is_empty())
        .collect();
    if projects.is_empty() {
        return Ok(AllowedProjects::default());
    }
    for project in &projects {
        crate::domain::ProjectId::parse(*project).map_err(|invalid| invalid.0)?;
    }
    Ok(AllowedProjects::only(projects))
}

fn parse_origins(value: &str) -> Result<CorsOrigins, String> {
    let value = value.trim();
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    let origins: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(str::to_owned)
        .collect();
    if origins.is_empty() {
        return Err("expected * or a comma-separated list of origins".into());
    }
    for origin in &origins {
        let url = Url::parse(origin).map_err(|_| format!("{origin:?} is not an origin"))?;
        if url.origin().ascii_serialization() != origin.trim_end_matches('/') {
            return Err(format!(
                "{origin:?} is not an origin (scheme://host[:port], no path)"
            ));
        }
    }
    Ok(CorsOrigins::List(origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, String> {
        let cli = Cli::try_parse_from(std::iter::once("car_server").chain(args.iter().copied()))
            .map_err(|error| error.to_string())?;
        cli.serve.settings().map_err(|error| error.to_string())
    }

    #[test]
    fn switches_accept_the_documented_spellings() {
        for yes in ["Y", "y", "true", "1", "TRUE", "yes"] {
            assert_eq!(parse_switch(yes), Ok(true), "{yes}");
        }
        for no in ["N", "n", "false", "0", "no"] {
            assert_eq!(parse_switch(no), Ok(false), "{no}");
        }
        assert!(parse_switch("maybe").is_err());
    }

    #[test]
    fn durations_are_written_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn missing_credentials_stop_the_start_naming_them() {
        let error = parse(&["--secret-id", ""]).unwrap_err();
        assert!(
            error.contains("SECRET_ID") && error.contains("SECRET_KEY"),
            "{error}"
        );
    }

    #[test]
    fn signing_without_a_salt_stops_the_start_naming_salt() {
        let error = parse(&["--simulate", "--api-sign", "Y"]).unwrap_err();
        assert!(error.contains("SALT"), "{error}");
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let error = parse(&["--simulate", "--enqueue-timeout", "forever"]).unwrap_err();
        assert!(error.contains("ENQUEUE_TIMEOUT"), "{error}");
        let error = parse(&["--simulate", "--trust-proxy", "10.0.0.0/33"]).unwrap_err();
        assert!(error.contains("TRUST_PROXY"), "{error}");
        let error = parse(&["--simulate", "--car-rate-limit", "500"]).unwrap_err();
        assert!(error.contains("CAR_RATE_LIMIT"), "{error}");
    }

    #[test]
    fn redis_queue_needs_a_redis_url() {
        let error = parse(&["--simulate", "--redis-queue", "Y"]).unwrap_err();
        assert!(error.contains("REDIS"), "{error}");
    }

    #[test]
    fn trusted_proxies_take_cidrs_and_plain_addresses() {
        let proxies = parse_cidrs("10.0.0.0/8, 203.0.113.9").unwrap();
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("203.0.113.9".parse().unwrap()));
        assert!(!proxies.contains("203.0.113.10".parse().unwrap()));
        assert!(parse_cidrs("none").unwrap().0.is_empty());
    }

    #[test]
    fn simulate_needs_no_credentials() {
        let settings = parse(&["--simulate"]).unwrap();
        assert!(matches!(settings.cloud, CloudTarget::Simulated(_)));
    }
}
