//! The CAR client against the simulator, below the HTTP API: the calls the
//! endpoints do not make directly.

use car_server::cloud::CarClient;
use car_server::cloud::client::CloudSettings;
use car_server::cloud::error::Class;
use car_server::cloud::protocol::ApplyConcurrent;
use car_server::cloud::tc3::Credentials;
use car_server::simulator::{RunningSimulator, Simulator, SimulatorSettings};
use std::num::NonZeroU32;

fn credentials() -> Credentials {
    Credentials::new("AKIDclienttest", "client-test-secret-key")
}

async fn simulator(capacity: u32) -> RunningSimulator {
    let mut settings = SimulatorSettings::new(credentials());
    settings.capacity = capacity;
    Simulator::new(settings)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(simulator: &RunningSimulator, region: Option<&str>) -> CarClient {
    CarClient::new(CloudSettings {
        endpoint: simulator.endpoint().parse().unwrap(),
        region: region.map(str::to_owned),
        credentials: credentials(),
        timeout: None,
        rate_limit: NonZeroU32::new(50).unwrap(),
    })
    .unwrap()
}

fn apply(user_id: &str) -> ApplyConcurrent {
    ApplyConcurrent {
        user_id: user_id.into(),
        user_ip: "203.0.113.7".into(),
        project_id: "cap-count".into(),
        application_id: None,
        application_version_id: None,
    }
}

#[tokio::test]
async fn describe_concurrent_count_reports_the_projects_machines() {
    let simulator = simulator(3).await;
    let client = client(&simulator, Some("ap-guangzhou"));
    client.apply_concurrent(&apply("a")).await.unwrap();
    client.apply_concurrent(&apply("b")).await.unwrap();

    let count = client.describe_concurrent_count("cap-count").await.unwrap();

    assert_eq!((count.total, count.running), (3, 2));
    assert!(!count.request_id.is_empty());
}

#[tokio::test]
async fn a_client_without_a_region_is_accepted() {
    let simulator = simulator(1).await;
    let client = client(&simulator, None);

    let request_id = client.apply_concurrent(&apply("a")).await.unwrap();
    assert!(!request_id.is_empty());

    let full = client.apply_concurrent(&apply("b")).await.unwrap_err();
    assert_eq!(full.class(), Class::NoIdle);
    assert_eq!(full.code(), "ResourceNotFound.NoIdle");
}
