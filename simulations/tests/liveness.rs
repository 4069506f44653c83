//! Liveness: when a link goes dead, each side closes the connection once
//! its pings go unanswered (not left to TCP's retransmission backoff), and
//! once the link is back the two find each other within seconds, however
//! long the partition lasted.

use std::time::{Duration, Instant};

use node::model::document::Edit;
use node::model::schema::{Field, Value};
use node::net::links::Link;
use simulations::Simulation;

/// Connected peers of node `number`.
async fn peers(sim: &Simulation, number: u32) -> usize {
    let client = sim.nodes[number as usize]
        .client
        .as_ref()
        .expect("a running node");
    client.status().await.expect("the status").peers.len()
}

/// Waits until `condition` holds for `limit`; returns how long it took.
async fn within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut condition: impl FnMut() -> F,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_links_are_closed_and_heal_within_seconds_of_coming_back() {
    let mut sim = Simulation::new(
        Link {
            latency: Duration::from_millis(20),
            ..Link::default()
        },
        11,
    );
    // The production settings of liveness: pings every 5 s, 3 s to answer,
    // and lost peers dialled again after 30 s, then 60 s…: what heals
    // within seconds is the isolated node's dialling every 2 s.
    sim.net.redial_interval = Duration::from_secs(30);
    for _ in 0..2 {
        sim.add_node("97400").await.unwrap();
    }
    let shared = sim.add(0, "Jardin partagé").await.unwrap();
    sim.converged("97400", Duration::from_secs(30))
        .await
        .unwrap();

    sim.links.partition(&[0], &[1]);
    let closed = within(Duration::from_secs(30), || async {
        peers(&sim, 0).await == 0 && peers(&sim, 1).await == 0
    })
    .await
    .expect("both sides closed the dead connection");
    println!("dead connection closed on both sides after {closed:?}");
    assert!(closed <= Duration::from_secs(20), "{closed:?}");

    // A long partition: far past the redial backoff's first steps.
    sim.edit(
        1,
        shared,
        vec![Edit::Set(
            Field::ShortDescription,
            Value::Text("Ouvert le samedi".into()),
        )],
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;

    sim.links.heal();
    let healed = sim
        .converged("97400", Duration::from_secs(30))
        .await
        .unwrap();
    println!("healed: identical heads on both nodes {healed:?} after the link came back");
    assert!(healed <= Duration::from_secs(6), "{healed:?}");
}
