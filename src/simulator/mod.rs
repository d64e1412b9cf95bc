//! TEMPORARY local stand-in so the crate compiles until the simulator branch merges.
use crate::cloud::protocol::Action;
use crate::cloud::tc3::Credentials;
use std::net::SocketAddr;
use std::time::Duration;
#[derive(Debug, Clone)]
pub struct FaultRule;
#[derive(Debug, Clone, Default)]
pub struct FaultRules(pub Vec<FaultRule>);
impl std::str::FromStr for FaultRules {
    type Err = String;
    fn from_str(_: &str) -> Result<Self, String> {
        Ok(Self::default())
    }
}
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    pub credentials: Credentials,
    pub capacity: u32,
    pub reservation_ttl: Duration,
    pub latency: Duration,
    pub faults: Vec<FaultRule>,
    pub max_clock_skew: Duration,
}
impl SimulatorSettings {
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            capacity: 2,
            reservation_ttl: Duration::from_secs(30),
            latency: Duration::ZERO,
            faults: vec![],
            max_clock_skew: Duration::from_secs(300),
        }
    }
}
#[derive(Clone)]
pub struct Simulator;
impl Simulator {
    pub fn new(_: SimulatorSettings) -> Self {
        Self
    }
    pub async fn start(self, _addr: SocketAddr) -> std::io::Result<RunningSimulator> {
        todo!()
    }
    pub fn calls(&self, _: Action) -> u64 {
        todo!()
    }
}
pub struct RunningSimulator {
    pub addr: SocketAddr,
    pub simulator: Simulator,
}
impl RunningSimulator {
    pub fn endpoint(&self) -> String {
        todo!()
    }
    pub async fn stop(self) {}
}
