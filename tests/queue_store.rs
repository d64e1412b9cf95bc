//! The queue store's contract, checked once against both stores.
//!
//! Each conformance test is a plain async function of a [`Fixture`]; the
//! `conformance!` macro runs every one of them against the `MemoryStore`
//! (module `memory`) and against the `RedisStore` (module `redis`), so the two
//! cannot drift apart. The Redis-only tests that follow cover what the memory
//! store has no notion of: several instances, reconnecting, and Redis going
//! away and coming back.

mod support;

use car_server::domain::{ProjectId, UserId};
use car_server::queue::memory::MemoryStore;
use car_server::queue::redis::RedisStore;
use car_server::queue::store::{Lease, Left, Polled, QueueStore, Refusal, StoreError, Waiting};
use secrecy::SecretString;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::redis::{KeySpace, RedisServer};
use url::Url;

/// Long enough that nothing lapses during a test that does not wait for it.
const LONG: Duration = Duration::from_secs(60);

/// A store under test, and for Redis the key space it works in.
struct Fixture {
    store: Arc<dyn QueueStore>,
    /// Deletes the test's keys when the test ends.
    _keys: Option<KeySpace>,
}

#[derive(Clone, Copy)]
enum Kind {
    Memory,
    Redis,
}

impl Fixture {
    async fn open(kind: Kind, ready_ttl: Duration, refusal_ttl: Duration) -> Self {
        match kind {
            Kind::Memory => Self {
                store: Arc::new(MemoryStore::new(ready_ttl, refusal_ttl)),
                _keys: None,
            },
            Kind::Redis => {
                let keys = KeySpace::new();
                let store = redis_store(&keys, ready_ttl, refusal_ttl).await;
                Self {
                    store: Arc::new(store),
                    _keys: Some(keys),
                }
            }
        }
    }
}

async fn redis_store(keys: &KeySpace, ready_ttl: Duration, refusal_ttl: Duration) -> RedisStore {
    RedisStore::connect(&keys.url, None, &keys.prefix, ready_ttl, refusal_ttl)
        .await
        .expect("the test Redis accepts a connection")
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn project(id: &str) -> ProjectId {
    ProjectId::parse(id).unwrap()
}

fn waiting(user_id: &str, project_id: &str) -> Waiting {
    Waiting {
        user_id: user(user_id),
        project_id: project(project_id),
        user_ip: "203.0.113.7".parse().unwrap(),
        application_id: None,
        application_version_id: None,
    }
}

fn queued(index: u64, joined_empty_line: bool) -> Polled {
    Polled::Queued {
        index,
        joined_empty_line,
    }
}

fn refusal(code: &str) -> Refusal {
    Refusal {
        code: code.into(),
        message: format!("the cloud said {code}"),
        request_id: "req-1".into(),
    }
}

/// The place `user_id` reports when it polls `project_id` again.
async fn place(store: &dyn QueueStore, user_id: &str, project_id: &str) -> Polled {
    store.poll(&waiting(user_id, project_id)).await.unwrap()
}

async fn sorted_lines(store: &dyn QueueStore) -> Vec<(String, u64)> {
    let mut lines: Vec<_> = store
        .lines()
        .await
        .unwrap()
        .into_iter()
        .map(|(project_id, length)| (project_id.to_string(), length))
        .collect();
    lines.sort();
    lines
}

async fn lease(store: &dyn QueueStore, project_id: &str) -> Lease {
    store
        .try_lease(&project(project_id), LONG)
        .await
        .unwrap()
        .expect("nobody else holds the lease")
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Kind::Memory).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Kind::Redis).await;
                }
            )*
        }
    };
}

conformance!(
    users_join_in_order_and_learn_their_places,
    a_refresh_keeps_the_place_and_updates_the_fields,
    moving_to_another_project_goes_to_the_end_of_its_line,
    leaving_from_anywhere_moves_those_behind_up,
    silent_users_are_dropped_from_the_middle_of_a_line,
    admitted_users_stay_admitted_for_ready_ttl_then_lapse,
    a_refusal_is_reported_once_then_forgotten,
    leases_are_exclusive_and_only_the_holder_renews_or_releases,
    admit_needs_the_lease_and_a_user_still_in_its_line,
    lines_lists_only_non_empty_lines_with_their_lengths,
    ids_and_fields_with_quotes_and_other_scripts_come_back_intact,
);

async fn users_join_in_order_and_learn_their_places(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;

    assert_eq!(place(store, "ann", "cap-1").await, queued(0, true));
    assert_eq!(place(store, "bob", "cap-1").await, queued(1, false));
    assert_eq!(place(store, "cid", "cap-1").await, queued(2, false));
    // Another project has a line of its own.
    assert_eq!(place(store, "dan", "cap-2").await, queued(0, true));

    assert_eq!(place(store, "cid", "cap-1").await, queued(2, false));
    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));
    assert_eq!(place(store, "bob", "cap-1").await, queued(1, false));
    assert_eq!(
        store.head(&project("cap-1")).await.unwrap(),
        Some(waiting("ann", "cap-1"))
    );
}

async fn a_refresh_keeps_the_place_and_updates_the_fields(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    place(store, "ann", "cap-1").await;
    place(store, "bob", "cap-1").await;

    let moved_ann = Waiting {
        user_ip: "2001:db8::5".parse::<IpAddr>().unwrap(),
        application_id: Some("app-7".into()),
        application_version_id: Some("ver-3".into()),
        ..waiting("ann", "cap-1")
    };
    assert_eq!(store.poll(&moved_ann).await.unwrap(), queued(0, false));
    assert_eq!(place(store, "bob", "cap-1").await, queued(1, false));
    assert_eq!(
        store.head(&project("cap-1")).await.unwrap(),
        Some(moved_ann)
    );

    // Fields dropped by the page are dropped from the record too.
    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));
    assert_eq!(
        store.head(&project("cap-1")).await.unwrap(),
        Some(waiting("ann", "cap-1"))
    );
}

async fn moving_to_another_project_goes_to_the_end_of_its_line(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    place(store, "ann", "cap-1").await;
    place(store, "bob", "cap-1").await;
    place(store, "xia", "cap-2").await;
    place(store, "yan", "cap-2").await;

    assert_eq!(place(store, "ann", "cap-2").await, queued(2, false));
    assert_eq!(place(store, "bob", "cap-1").await, queued(0, false));
    assert_eq!(
        sorted_lines(store).await,
        vec![("cap-1".into(), 1), ("cap-2".into(), 3)]
    );

    // Moving into an empty line is joining an empty line.
    assert_eq!(place(store, "yan", "cap-3").await, queued(0, true));
    assert_eq!(place(store, "ann", "cap-2").await, queued(1, false));
    assert_eq!(
        store.leave(&user("ann")).await.unwrap(),
        Left::Line(project("cap-2"))
    );
}

async fn leaving_from_anywhere_moves_those_behind_up(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    for name in ["ann", "bob", "cid", "dan", "eve"] {
        place(store, name, "cap-1").await;
    }

    assert_eq!(
        store.leave(&user("cid")).await.unwrap(),
        Left::Line(project("cap-1"))
    );
    assert_eq!(place(store, "bob", "cap-1").await, queued(1, false));
    assert_eq!(place(store, "dan", "cap-1").await, queued(2, false));
    assert_eq!(place(store, "eve", "cap-1").await, queued(3, false));

    assert_eq!(
        store.leave(&user("ann")).await.unwrap(),
        Left::Line(project("cap-1"))
    );
    assert_eq!(place(store, "eve", "cap-1").await, queued(2, false));
    assert_eq!(
        store.head(&project("cap-1")).await.unwrap(),
        Some(waiting("bob", "cap-1"))
    );

    assert_eq!(
        store.leave(&user("eve")).await.unwrap(),
        Left::Line(project("cap-1"))
    );
    assert_eq!(store.leave(&user("eve")).await.unwrap(), Left::Absent);
    assert_eq!(store.leave(&user("zed")).await.unwrap(), Left::Absent);
    assert_eq!(sorted_lines(store).await, vec![("cap-1".into(), 2)]);

    // One who left and comes back starts again at the end.
    assert_eq!(place(store, "ann", "cap-1").await, queued(2, false));
}

async fn silent_users_are_dropped_from_the_middle_of_a_line(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    for name in ["ann", "bob", "cid", "dan"] {
        place(store, name, "cap-1").await;
    }
    place(store, "xia", "cap-2").await;

    tokio::time::sleep(Duration::from_millis(400)).await;
    // ann and dan keep polling; bob, cid and xia fall silent.
    place(store, "ann", "cap-1").await;
    place(store, "dan", "cap-1").await;

    let mut dropped = store.drop_silent(Duration::from_millis(250)).await.unwrap();
    dropped.sort();
    assert_eq!(
        dropped,
        vec![
            (user("bob"), project("cap-1")),
            (user("cid"), project("cap-1")),
            (user("xia"), project("cap-2")),
        ]
    );

    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));
    assert_eq!(place(store, "dan", "cap-1").await, queued(1, false));
    assert_eq!(sorted_lines(store).await, vec![("cap-1".into(), 2)]);
    assert_eq!(
        store.drop_silent(Duration::from_millis(250)).await.unwrap(),
        vec![]
    );

    // A dropped user who polls again joins the end.
    assert_eq!(place(store, "bob", "cap-1").await, queued(2, false));
}

async fn admitted_users_stay_admitted_for_ready_ttl_then_lapse(kind: Kind) {
    let ready_ttl = Duration::from_millis(600);
    let fixture = Fixture::open(kind, ready_ttl, LONG).await;
    let store = &*fixture.store;
    place(store, "ann", "cap-1").await;
    place(store, "bob", "cap-1").await;
    let lease = lease(store, "cap-1").await;

    assert!(store.admit(&lease, &user("ann")).await.unwrap());
    let admitted_at = Instant::now();
    assert_eq!(place(store, "ann", "cap-1").await, Polled::Admitted);
    assert_eq!(place(store, "bob", "cap-1").await, queued(0, false));
    assert_eq!(sorted_lines(store).await, vec![("cap-1".into(), 1)]);

    // Polling while admitted extends nothing: a poll at 400 ms that renewed
    // the admission would keep it alive past 800 ms.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(place(store, "ann", "cap-1").await, Polled::Admitted);
    // Someone else's admission round does not disturb it.
    store.drop_silent(LONG).await.unwrap();
    assert_eq!(place(store, "ann", "cap-1").await, Polled::Admitted);
    assert!(admitted_at.elapsed() < ready_ttl, "the test ran too slowly");

    tokio::time::sleep(Duration::from_millis(800).saturating_sub(admitted_at.elapsed())).await;
    assert_eq!(place(store, "ann", "cap-1").await, queued(1, false));

    // Leaving while admitted says so.
    let lease = lease_again(store, &lease).await;
    assert!(store.admit(&lease, &user("bob")).await.unwrap());
    assert_eq!(
        store.leave(&user("bob")).await.unwrap(),
        Left::Admitted(project("cap-1"))
    );
    assert_eq!(store.leave(&user("bob")).await.unwrap(), Left::Absent);
}

/// The same line's lease, still held.
async fn lease_again(store: &dyn QueueStore, lease: &Lease) -> Lease {
    assert!(store.renew(lease, LONG).await.unwrap());
    lease.clone()
}

async fn a_refusal_is_reported_once_then_forgotten(kind: Kind) {
    let refusal_ttl = Duration::from_millis(300);
    let fixture = Fixture::open(kind, LONG, refusal_ttl).await;
    let store = &*fixture.store;
    for name in ["ann", "bob", "cid", "dan"] {
        place(store, name, "cap-1").await;
    }
    let lease = lease(store, "cap-1").await;

    store
        .refuse(&lease, &user("ann"), &refusal("InvalidParameter"))
        .await
        .unwrap();
    assert_eq!(place(store, "bob", "cap-1").await, queued(0, false));
    assert_eq!(
        place(store, "ann", "cap-1").await,
        Polled::Refused(refusal("InvalidParameter"))
    );
    // Reported once: the next poll queues ann afresh, at the end.
    assert_eq!(place(store, "ann", "cap-1").await, queued(3, false));

    // Leaving forgets a refusal too.
    store
        .refuse(&lease, &user("bob"), &refusal("ResourceNotFound"))
        .await
        .unwrap();
    assert_eq!(store.leave(&user("bob")).await.unwrap(), Left::Absent);
    assert_eq!(place(store, "bob", "cap-1").await, queued(3, false));

    // A refusal nobody polls for lapses after its time.
    store
        .refuse(&lease, &user("cid"), &refusal("ResourceNotFound"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    store.drop_silent(LONG).await.unwrap();
    assert_eq!(place(store, "cid", "cap-1").await, queued(3, false));

    // Refusing someone who is not in the lease's line changes nothing.
    store
        .refuse(&lease, &user("zed"), &refusal("ResourceNotFound"))
        .await
        .unwrap();
    assert_eq!(place(store, "zed", "cap-1").await, queued(4, false));
}

async fn leases_are_exclusive_and_only_the_holder_renews_or_releases(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    let cap_1 = project("cap-1");

    let first = store.try_lease(&cap_1, LONG).await.unwrap().unwrap();
    assert_eq!(first.project_id, cap_1);
    assert_eq!(store.try_lease(&cap_1, LONG).await.unwrap(), None);
    // Each line has a lease of its own.
    assert!(
        store
            .try_lease(&project("cap-2"), LONG)
            .await
            .unwrap()
            .is_some()
    );

    let forged = Lease {
        project_id: cap_1.clone(),
        token: format!("{}-forged", first.token),
    };
    assert!(!store.renew(&forged, LONG).await.unwrap());
    store.release(&forged).await.unwrap();
    assert_eq!(store.try_lease(&cap_1, LONG).await.unwrap(), None);

    assert!(store.renew(&first, LONG).await.unwrap());
    store.release(&first).await.unwrap();
    let second = store.try_lease(&cap_1, LONG).await.unwrap().unwrap();
    assert_ne!(second.token, first.token);
    // The former holder can neither renew nor release the new lease.
    assert!(!store.renew(&first, LONG).await.unwrap());
    store.release(&first).await.unwrap();
    assert_eq!(store.try_lease(&cap_1, LONG).await.unwrap(), None);
    store.release(&second).await.unwrap();

    // A lease lapses when not renewed, and its holder loses it for good.
    let short = store
        .try_lease(&cap_1, Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .renew(&short, Duration::from_millis(200))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!store.renew(&short, LONG).await.unwrap());
    let third = store.try_lease(&cap_1, LONG).await.unwrap().unwrap();
    assert!(!store.renew(&short, LONG).await.unwrap());
    assert!(store.renew(&third, LONG).await.unwrap());
}

async fn admit_needs_the_lease_and_a_user_still_in_its_line(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    place(store, "ann", "cap-1").await;
    place(store, "bob", "cap-1").await;
    place(store, "xia", "cap-2").await;

    // Without the lease.
    let forged = Lease {
        project_id: project("cap-1"),
        token: "forged".into(),
    };
    assert!(!store.admit(&forged, &user("ann")).await.unwrap());
    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));

    // With another line's lease.
    let other = lease(store, "cap-2").await;
    assert!(!store.admit(&other, &user("ann")).await.unwrap());
    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));

    // With a lease that lapsed.
    let lapsed = store
        .try_lease(&project("cap-1"), Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(!store.admit(&lapsed, &user("ann")).await.unwrap());
    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));

    // With the lease, but the user left meanwhile, or never was in the line.
    let held = lease(store, "cap-1").await;
    store.leave(&user("ann")).await.unwrap();
    assert!(!store.admit(&held, &user("ann")).await.unwrap());
    assert!(!store.admit(&held, &user("xia")).await.unwrap());
    assert_eq!(place(store, "ann", "cap-1").await, queued(1, false));
    assert_eq!(place(store, "xia", "cap-2").await, queued(0, false));

    // With the lease and the user waiting.
    assert!(store.admit(&held, &user("bob")).await.unwrap());
    assert_eq!(place(store, "bob", "cap-1").await, Polled::Admitted);
    assert_eq!(place(store, "ann", "cap-1").await, queued(0, false));
    // Admitting twice does nothing the second time.
    assert!(!store.admit(&held, &user("bob")).await.unwrap());
}

async fn lines_lists_only_non_empty_lines_with_their_lengths(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    assert_eq!(sorted_lines(store).await, vec![]);

    for name in ["ann", "bob", "cid"] {
        place(store, name, "cap-1").await;
    }
    place(store, "xia", "cap-2").await;
    assert_eq!(
        sorted_lines(store).await,
        vec![("cap-1".into(), 3), ("cap-2".into(), 1)]
    );

    store.leave(&user("xia")).await.unwrap();
    assert_eq!(sorted_lines(store).await, vec![("cap-1".into(), 3)]);

    let lease = lease(store, "cap-1").await;
    store.admit(&lease, &user("ann")).await.unwrap();
    store
        .refuse(&lease, &user("bob"), &refusal("InvalidParameter"))
        .await
        .unwrap();
    assert_eq!(sorted_lines(store).await, vec![("cap-1".into(), 1)]);
    store.admit(&lease, &user("cid")).await.unwrap();
    assert_eq!(sorted_lines(store).await, vec![]);
    assert_eq!(store.head(&project("cap-1")).await.unwrap(), None);
}

async fn ids_and_fields_with_quotes_and_other_scripts_come_back_intact(kind: Kind) {
    let fixture = Fixture::open(kind, LONG, LONG).await;
    let store = &*fixture.store;
    // Printable, so valid; JSON escapes the quotes and backslashes.
    let (odd_user, odd_project) = ("用户 \"甲\" \\ {1}:*", "cap-\"七\"\\/é");
    let odd = Waiting {
        application_id: Some("app \"7\" \\ 応用".into()),
        application_version_id: Some("ver:\u{1F680}".into()),
        ..waiting(odd_user, "cap-1")
    };
    place(store, "ann", "cap-1").await;
    assert_eq!(store.poll(&odd).await.unwrap(), queued(1, false));
    store.leave(&user("ann")).await.unwrap();
    assert_eq!(
        store.head(&project("cap-1")).await.unwrap(),
        Some(odd.clone())
    );

    // Moving reads the project back out of the stored record.
    let moved = Waiting {
        project_id: project(odd_project),
        ..odd.clone()
    };
    assert_eq!(store.poll(&moved).await.unwrap(), queued(0, true));
    assert_eq!(sorted_lines(store).await, vec![(odd_project.into(), 1)]);
    assert_eq!(
        store.head(&project(odd_project)).await.unwrap(),
        Some(moved)
    );

    let lease = lease(store, odd_project).await;
    assert!(store.admit(&lease, &user(odd_user)).await.unwrap());
    assert_eq!(
        store.leave(&user(odd_user)).await.unwrap(),
        Left::Admitted(project(odd_project))
    );
    assert_eq!(sorted_lines(store).await, vec![]);
}

// ----- Redis only -----

#[tokio::test]
async fn two_redis_instances_share_one_line_and_one_lease() {
    let keys = KeySpace::new();
    let east = redis_store(&keys, LONG, LONG).await;
    let west = redis_store(&keys, LONG, LONG).await;

    assert_eq!(place(&east, "ann", "cap-1").await, queued(0, true));
    assert_eq!(place(&west, "bob", "cap-1").await, queued(1, false));
    assert_eq!(place(&west, "ann", "cap-1").await, queued(0, false));
    assert_eq!(place(&east, "bob", "cap-1").await, queued(1, false));
    assert_eq!(sorted_lines(&east).await, sorted_lines(&west).await);

    let lease = lease(&east, "cap-1").await;
    assert_eq!(west.try_lease(&project("cap-1"), LONG).await.unwrap(), None);
    // The lease is its token: the other instance may not admit without it.
    let forged = Lease {
        project_id: project("cap-1"),
        token: "west".into(),
    };
    assert!(!west.admit(&forged, &user("ann")).await.unwrap());
    assert!(east.admit(&lease, &user("ann")).await.unwrap());
    assert_eq!(place(&west, "ann", "cap-1").await, Polled::Admitted);
    assert_eq!(place(&west, "bob", "cap-1").await, queued(0, false));
}

#[tokio::test]
async fn redis_instances_racing_for_places_and_leases_never_collide() {
    let keys = KeySpace::new();
    let east = Arc::new(redis_store(&keys, LONG, LONG).await);
    let west = Arc::new(redis_store(&keys, LONG, LONG).await);

    // 200 users join at once through both instances: every place is taken
    // exactly once, and only one of them found the line empty.
    let mut joins = Vec::new();
    for n in 0..200 {
        let store = if n % 2 == 0 {
            east.clone()
        } else {
            west.clone()
        };
        joins.push(tokio::spawn(async move {
            store
                .poll(&waiting(&format!("user-{n}"), "cap-1"))
                .await
                .unwrap()
        }));
    }
    let mut places = Vec::new();
    let mut joined_empty = 0;
    for join in joins {
        match join.await.unwrap() {
            Polled::Queued {
                index,
                joined_empty_line,
            } => {
                places.push(index);
                joined_empty += u32::from(joined_empty_line);
            }
            other => panic!("expected a place, got {other:?}"),
        }
    }
    places.sort();
    assert_eq!(places, (0..200).collect::<Vec<u64>>());
    assert_eq!(joined_empty, 1);

    // Twenty admitters on two instances race for one line's lease.
    let mut tries = Vec::new();
    for n in 0..20 {
        let store = if n % 2 == 0 {
            east.clone()
        } else {
            west.clone()
        };
        tries.push(tokio::spawn(async move {
            store.try_lease(&project("cap-1"), LONG).await.unwrap()
        }));
    }
    let mut winners = 0;
    for attempt in tries {
        winners += usize::from(attempt.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn redis_state_survives_a_reconnect() {
    let keys = KeySpace::new();
    let first = redis_store(&keys, LONG, LONG).await;
    for name in ["ann", "bob", "cid"] {
        place(&first, name, "cap-1").await;
    }
    let lease = lease(&first, "cap-1").await;
    assert!(first.admit(&lease, &user("ann")).await.unwrap());
    first
        .refuse(&lease, &user("bob"), &refusal("InvalidParameter"))
        .await
        .unwrap();
    drop(first);

    // A restarted instance finds everyone where they were.
    let second = redis_store(&keys, LONG, LONG).await;
    assert_eq!(place(&second, "ann", "cap-1").await, Polled::Admitted);
    assert_eq!(
        place(&second, "bob", "cap-1").await,
        Polled::Refused(refusal("InvalidParameter"))
    );
    assert_eq!(place(&second, "cid", "cap-1").await, queued(0, false));
    assert_eq!(
        second.try_lease(&project("cap-1"), LONG).await.unwrap(),
        None
    );
    assert!(second.renew(&lease, LONG).await.unwrap());
}

#[tokio::test]
async fn redis_drop_silent_works_through_more_than_one_batch() {
    let keys = KeySpace::new();
    let store = redis_store(&keys, LONG, LONG).await;
    // More than one script's batch (500), spread over two lines.
    for n in 0..1203 {
        let project_id = if n % 3 == 0 { "cap-1" } else { "cap-2" };
        place(&store, &format!("user-{n}"), project_id).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    place(&store, "user-1202", "cap-2").await;

    let dropped = store.drop_silent(Duration::from_millis(200)).await.unwrap();
    assert_eq!(dropped.len(), 1202);
    assert!(
        !dropped
            .iter()
            .any(|(user_id, _)| user_id.as_str() == "user-1202")
    );
    assert_eq!(sorted_lines(&store).await, vec![("cap-2".into(), 1)]);
    assert_eq!(place(&store, "user-1202", "cap-2").await, queued(0, false));
}

#[tokio::test]
async fn redis_calls_fail_fast_while_redis_is_away_and_recover_when_it_returns() {
    let mut server = RedisServer::start(&[]).expect("a private redis-server");
    let keys = KeySpace::on(server.url());
    let store = redis_store(&keys, LONG, LONG).await;
    assert_eq!(place(&store, "ann", "cap-1").await, queued(0, true));

    server.stop();
    for attempt in 0..3 {
        let started = Instant::now();
        let polled = store.poll(&waiting("ann", "cap-1")).await;
        assert!(
            matches!(polled, Err(StoreError(_))),
            "attempt {attempt}: {polled:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "attempt {attempt} took {:?}",
            started.elapsed()
        );

        let started = Instant::now();
        assert!(store.ping().await.is_err());
        assert!(store.lines().await.is_err());
        assert!(store.try_lease(&project("cap-1"), LONG).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(6));
    }

    // Back on the same port, empty (nothing was saved) and without the
    // scripts: the store reconnects and loads them again by itself.
    server.restart().expect("redis-server starts again");
    let back = Instant::now();
    let polled = loop {
        match store.poll(&waiting("ann", "cap-1")).await {
            Ok(polled) => break polled,
            Err(error) if back.elapsed() < Duration::from_secs(5) => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("still failing 5 s after Redis returned: {error}"),
        }
    };
    assert_eq!(polled, queued(0, true));
    store.ping().await.unwrap();
    assert_eq!(sorted_lines(&store).await, vec![("cap-1".into(), 1)]);
}

#[tokio::test]
async fn connecting_to_an_unreachable_redis_fails_promptly_and_says_where() {
    let port = support::redis::free_port().unwrap();
    let url = Url::parse(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    let started = Instant::now();
    let error = RedisStore::connect(&url, None, "car_server:", LONG, LONG)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(error.0.contains("cannot reach Redis"), "{error}");
    assert!(error.0.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test]
async fn the_redis_password_comes_from_the_url_or_else_redis_pwd() {
    let secret = "s3cret-Pa55";
    let server = RedisServer::start(&["--requirepass", secret]).expect("a private redis-server");
    let keys =
        KeySpace::on(Url::parse(&format!("redis://:{secret}@127.0.0.1:{}/", server.port)).unwrap());
    let bare = server.url();
    let connect = |url: Url, password: Option<&str>| {
        let prefix = keys.prefix.clone();
        let password = password.map(|password| SecretString::from(password.to_owned()));
        async move { RedisStore::connect(&url, password.as_ref(), &prefix, LONG, LONG).await }
    };

    // No password, or a wrong one: a clear refusal that never repeats it.
    for password in [None, Some("wrong-Pa55")] {
        let error = connect(bare.clone(), password).await.unwrap_err();
        assert!(error.0.contains("refused the credentials"), "{error}");
        assert!(!error.0.contains("wrong-Pa55"), "{error}");
    }

    // REDIS_PWD when the URL has none.
    let store = connect(bare.clone(), Some(secret)).await.unwrap();
    assert_eq!(place(&store, "ann", "cap-1").await, queued(0, true));
    assert!(!format!("{store:?}").contains(secret));

    // The URL's own password wins over REDIS_PWD.
    let with_password = keys.url.clone();
    let store = connect(with_password, Some("wrong-Pa55")).await.unwrap();
    assert_eq!(place(&store, "ann", "cap-1").await, queued(0, false));

    // A URL with a wrong password is refused without echoing it.
    let wrong = Url::parse(&format!("redis://:wrong-Pa55@127.0.0.1:{}/", server.port)).unwrap();
    let error = connect(wrong, Some(secret)).await.unwrap_err();
    assert!(error.0.contains("refused the credentials"), "{error}");
    assert!(!error.0.contains("wrong-Pa55"), "{error}");
}

#[tokio::test]
async fn redis_keys_stay_under_the_prefix_and_go_when_the_line_empties() {
    let keys = KeySpace::new();
    let store = redis_store(&keys, LONG, LONG).await;
    place(&store, "ann", "cap-1").await;
    place(&store, "bob", "cap-2").await;
    let lease = lease(&store, "cap-1").await;
    store.admit(&lease, &user("ann")).await.unwrap();

    let mut found = keys.keys();
    found.sort();
    let expected: Vec<String> = [
        "admitted:ann",
        "arrivals",
        "lease:cap-1",
        "line:cap-2",
        "lines",
        "seen",
        "users",
    ]
    .iter()
    .map(|key| format!("{}{key}", keys.prefix))
    .collect();
    assert_eq!(found, expected);

    store.leave(&user("ann")).await.unwrap();
    store.leave(&user("bob")).await.unwrap();
    store.release(&lease).await.unwrap();
    assert_eq!(keys.keys(), vec![format!("{}arrivals", keys.prefix)]);
}

#[tokio::test]
async fn redis_calls_fail_fast_while_redis_hangs_and_recover_when_it_wakes() {
    let server = RedisServer::start(&[]).expect("a private redis-server");
    let keys = KeySpace::on(server.url());
    let store = redis_store(&keys, LONG, LONG).await;
    assert_eq!(place(&store, "ann", "cap-1").await, queued(0, true));

    // A hung server accepts connections and answers nothing: only timeouts
    // can end a call.
    server.pause();
    for attempt in 0..3 {
        let started = Instant::now();
        let polled = store.poll(&waiting("ann", "cap-1")).await;
        let took = started.elapsed();
        assert!(polled.is_err(), "attempt {attempt}: {polled:?}");
        assert!(
            took < Duration::from_millis(2500),
            "attempt {attempt} took {took:?}"
        );
    }
    server.resume();

    let back = Instant::now();
    loop {
        match store.poll(&waiting("ann", "cap-1")).await {
            Ok(polled) => {
                assert_eq!(polled, queued(0, false));
                break;
            }
            Err(error) if back.elapsed() < Duration::from_secs(5) => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("still failing 5 s after Redis woke: {error}"),
        }
    }
}
