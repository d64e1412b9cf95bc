//! The queue, seen from the pages that poll it: one black-box suite, run
//! against the memory store and against the Redis store.

use crate::helpers::TestApp;
use crate::support::redis::KeySpace;
use car_server::cloud::protocol::Action;
use car_server::config::{Settings, StoreSettings};
use car_server::simulator::SimulatorSettings;
use serde_json::json;
use std::time::{Duration, Instant};

/// Which store the service under test keeps its lines in.
#[derive(Debug, Clone, Copy)]
pub enum Store {
    Memory,
    Redis,
}

impl Store {
    async fn spawn(
        self,
        configure: impl FnOnce(&mut Settings),
        configure_sim: impl FnOnce(&mut SimulatorSettings),
    ) -> TestApp {
        let keys = match self {
            Store::Memory => None,
            Store::Redis => Some(KeySpace::new()),
        };
        let store = keys.as_ref().map(|keys| StoreSettings::Redis {
            url: keys.url.clone(),
            password: None,
            prefix: keys.prefix.clone(),
        });
        let mut app = TestApp::spawn_with(
            |settings| {
                if let Some(store) = store {
                    settings.queue.store = store;
                }
                configure(settings);
            },
            configure_sim,
        )
        .await;
        app.keys = keys;
        app
    }

    /// A service whose projects each have `capacity` machines.
    async fn with_capacity(self, capacity: u32) -> TestApp {
        self.spawn(|_| {}, |sim| sim.capacity = capacity).await
    }
}

/// Generates one `#[tokio::test]` per store for each scenario below.
macro_rules! for_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Store::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Store::Redis).await;
                }
            )*
        }
    };
}

for_both_stores!(
    a_free_machine_admits_at_once,
    users_wait_in_arrival_order,
    a_newcomer_joins_the_end_without_calling_the_cloud,
    leaving_moves_those_behind_up,
    a_silent_user_in_the_middle_is_dropped,
    stop_project_admits_the_head_at_once,
    machines_freed_together_admit_as_many_users_within_a_tick,
    a_permanently_refused_head_gets_10202_on_its_next_poll,
    another_projects_user_is_not_stuck_behind_a_line,
    enqueuing_for_another_project_moves_to_the_end_of_its_line,
    an_admission_lapses_after_ready_ttl,
    dequeue_of_an_admitted_user_frees_the_machine_for_the_next,
    strict_start_project_honours_the_line,
);

async fn a_free_machine_admits_at_once(store: Store) {
    let app = store.with_capacity(1).await;

    let reply = app
        .call(
            "/Enqueue",
            json!({"UserId": "u-1", "ProjectId": "cap-1", "RequestId": "r-1"}),
        )
        .await;

    assert_eq!(reply["Code"], 10101, "{reply}");
    assert_eq!(reply["RequestId"], "r-1");
    assert_eq!(
        reply["Data"],
        json!({"Index": 0, "UserId": "u-1", "ProjectId": "cap-1"})
    );
    assert_eq!(app.start_project("u-1", "cap-1").await["Code"], 0);
}

async fn users_wait_in_arrival_order(store: Store) {
    let app = store.with_capacity(0).await;

    for (index, user) in ["a", "b", "c"].iter().enumerate() {
        let reply = app.enqueue(user, "cap-1").await;
        assert_eq!(reply["Code"], 10100, "{reply}");
        assert_eq!(reply["Data"]["Index"], index, "{user}: {reply}");
    }
    // Polling again keeps one's place.
    assert_eq!(app.enqueue("b", "cap-1").await["Data"]["Index"], 1);
    assert_eq!(app.enqueue("a", "cap-1").await["Data"]["Index"], 0);
}

async fn a_newcomer_joins_the_end_without_calling_the_cloud(store: Store) {
    // No ticks during the test: a tick could admit "first" before the
    // newcomer arrives, leaving it an empty line.
    let app = store
        .spawn(
            |settings| settings.queue.check_interval = Duration::from_secs(60),
            |sim| sim.capacity = 1,
        )
        .await;
    assert_eq!(app.start_project("playing", "cap-1").await["Code"], 0);
    assert_eq!(app.enqueue("first", "cap-1").await["Code"], 10100);

    // A machine comes free in the cloud without this service knowing (the
    // session ended elsewhere): a newcomer who asked the cloud would get it
    // ahead of "first". It must not ask.
    app.sim.set_capacity(2);
    let reply = app.enqueue("newcomer", "cap-1").await;

    assert_eq!(reply["Code"], 10100, "{reply}");
    assert_eq!(reply["Data"]["Index"], 1);
    assert_eq!(app.sim.calls_for(Action::ApplyConcurrent, "newcomer"), 0);
    app.queue.wake();
    app.poll_until("first", "cap-1", 10101, Duration::from_secs(2))
        .await;
    assert_eq!(app.enqueue("newcomer", "cap-1").await["Code"], 10100);
}

async fn leaving_moves_those_behind_up(store: Store) {
    let app = store.with_capacity(0).await;
    for user in ["a", "b", "c", "d"] {
        app.enqueue(user, "cap-1").await;
    }

    assert_eq!(app.dequeue("b").await["Code"], 0);
    assert_eq!(app.dequeue("a").await["Code"], 0);

    assert_eq!(app.enqueue("c", "cap-1").await["Data"]["Index"], 0);
    assert_eq!(app.enqueue("d", "cap-1").await["Data"]["Index"], 1);
    // Leaving when not queued is not an error.
    let reply = app
        .call("/Dequeue", json!({"UserId": "nobody", "RequestId": "r"}))
        .await;
    assert_eq!(reply, json!({"Code": 0, "Msg": "Ok", "RequestId": "r"}));
}

async fn a_silent_user_in_the_middle_is_dropped(store: Store) {
    let app = store
        .spawn(
            |settings| settings.queue.enqueue_timeout = Duration::from_millis(500),
            |sim| sim.capacity = 0,
        )
        .await;
    for user in ["a", "b", "c"] {
        app.enqueue(user, "cap-1").await;
    }

    // "a" and "c" keep polling; "b", in the middle, goes quiet.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        app.enqueue("a", "cap-1").await;
        app.enqueue("c", "cap-1").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(app.enqueue("c", "cap-1").await["Data"]["Index"], 1);
    // "b" comes back to the end of the line.
    assert_eq!(app.enqueue("b", "cap-1").await["Data"]["Index"], 2);
}

async fn stop_project_admits_the_head_at_once(store: Store) {
    // Ticks far apart, so that only the wake-up can explain a fast admission.
    let app = store
        .spawn(
            |settings| settings.queue.check_interval = Duration::from_secs(30),
            |sim| sim.capacity = 1,
        )
        .await;
    assert_eq!(app.start_project("playing", "cap-1").await["Code"], 0);
    let waiting: Vec<String> = (0..7).map(|n| format!("w{n}")).collect();
    for user in &waiting {
        assert_eq!(app.enqueue(user, "cap-1").await["Code"], 10100);
    }

    let stopped = Instant::now();
    assert_eq!(app.stop_project("playing").await["Code"], 0);
    app.poll_until("w0", "cap-1", 10101, Duration::from_millis(300))
        .await;
    let admitted_after = stopped.elapsed();

    assert!(
        admitted_after < Duration::from_millis(300),
        "{admitted_after:?}"
    );
    assert_eq!(app.enqueue("w1", "cap-1").await["Data"]["Index"], 0);
    println!("StopProject to the head's 10101: {admitted_after:?}");
}

async fn machines_freed_together_admit_as_many_users_within_a_tick(store: Store) {
    let app = store
        .spawn(
            |settings| settings.queue.check_interval = Duration::from_millis(500),
            |sim| sim.capacity = 3,
        )
        .await;
    for user in ["p1", "p2", "p3"] {
        assert_eq!(app.start_project(user, "cap-1").await["Code"], 0);
    }
    for user in ["w1", "w2", "w3", "w4", "w5"] {
        assert_eq!(app.enqueue(user, "cap-1").await["Code"], 10100);
    }

    // Freed behind the service's back, so that only a tick admits them.
    app.sim.set_capacity(6);
    let freed = Instant::now();
    for user in ["w1", "w2", "w3"] {
        app.poll_until(user, "cap-1", 10101, Duration::from_millis(600))
            .await;
    }
    let elapsed = freed.elapsed();

    assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
    let fourth = app.enqueue("w4", "cap-1").await;
    assert_eq!(fourth["Code"], 10100, "{fourth}");
    assert_eq!(fourth["Data"]["Index"], 0);
    println!("three machines freed to three admissions: {elapsed:?}");
}

async fn a_permanently_refused_head_gets_10202_on_its_next_poll(store: Store) {
    let app = store.with_capacity(0).await;
    app.enqueue("refused", "cap-1").await;
    app.enqueue("next", "cap-1").await;

    app.sim
        .fail_next(Action::ApplyConcurrent, "OperationDenied", 1);
    app.sim.set_capacity(1);
    app.poll_until("next", "cap-1", 10101, Duration::from_secs(2))
        .await;

    let reply = app.enqueue("refused", "cap-1").await;
    assert_eq!(reply["Code"], 10202, "{reply}");
    assert_eq!(reply["Error"]["Code"], "OperationDenied");
    // Reported once: the next poll queues the user afresh.
    assert_eq!(app.enqueue("refused", "cap-1").await["Code"], 10100);
}

async fn another_projects_user_is_not_stuck_behind_a_line(store: Store) {
    let app = store.with_capacity(1).await;
    assert_eq!(app.start_project("playing", "cap-busy").await["Code"], 0);
    for user in ["a", "b"] {
        assert_eq!(app.enqueue(user, "cap-busy").await["Code"], 10100);
    }

    let reply = app.enqueue("elsewhere", "cap-free").await;

    assert_eq!(reply["Code"], 10101, "{reply}");
    assert_eq!(reply["Data"]["Index"], 0);
}

async fn enqueuing_for_another_project_moves_to_the_end_of_its_line(store: Store) {
    let app = store.with_capacity(0).await;
    for user in ["a", "b"] {
        app.enqueue(user, "cap-1").await;
    }
    app.enqueue("x", "cap-2").await;

    let moved = app.enqueue("a", "cap-2").await;

    assert_eq!(moved["Data"]["Index"], 1, "{moved}");
    assert_eq!(moved["Data"]["ProjectId"], "cap-2");
    assert_eq!(app.enqueue("b", "cap-1").await["Data"]["Index"], 0);
}

async fn an_admission_lapses_after_ready_ttl(store: Store) {
    let app = store
        .spawn(
            |settings| settings.queue.ready_ttl = Duration::from_millis(400),
            |sim| {
                sim.capacity = 1;
                sim.reservation_ttl = Duration::from_millis(600);
            },
        )
        .await;
    assert_eq!(app.enqueue("idle", "cap-1").await["Code"], 10101);
    assert_eq!(app.enqueue("next", "cap-1").await["Code"], 10100);

    // "idle" never starts: its admission lapses here, its reservation in
    // the cloud, and "next" gets the machine.
    app.poll_until("next", "cap-1", 10101, Duration::from_secs(3))
        .await;
    let reply = app.enqueue("idle", "cap-1").await;
    assert_eq!(reply["Code"], 10100, "{reply}");
}

async fn dequeue_of_an_admitted_user_frees_the_machine_for_the_next(store: Store) {
    let app = store
        .spawn(
            |settings| settings.queue.check_interval = Duration::from_secs(30),
            |sim| sim.capacity = 1,
        )
        .await;
    assert_eq!(app.enqueue("leaver", "cap-1").await["Code"], 10101);
    assert_eq!(app.enqueue("next", "cap-1").await["Code"], 10100);

    assert_eq!(app.dequeue("leaver").await["Code"], 0);

    app.poll_until("next", "cap-1", 10101, Duration::from_millis(500))
        .await;
    assert_eq!(app.start_project("next", "cap-1").await["Code"], 0);
}

async fn strict_start_project_honours_the_line(store: Store) {
    let app = store
        .spawn(
            |settings| settings.queue.strict = true,
            |sim| sim.capacity = 1,
        )
        .await;
    // Nobody waits: a direct start is fine.
    assert_eq!(app.start_project("playing", "cap-1").await["Code"], 0);
    assert_eq!(app.enqueue("first", "cap-1").await["Code"], 10100);

    let jumper = app.start_project("jumper", "cap-1").await;

    assert_eq!(jumper["Code"], 10100, "{jumper}");
    assert_eq!(jumper["Data"]["Index"], 1);
    assert_eq!(app.sim.calls_for(Action::ApplyConcurrent, "jumper"), 0);

    assert_eq!(app.stop_project("playing").await["Code"], 0);
    app.poll_until("first", "cap-1", 10101, Duration::from_secs(2))
        .await;
    assert_eq!(app.start_project("first", "cap-1").await["Code"], 0);
}
