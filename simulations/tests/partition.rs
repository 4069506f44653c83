//! A small simulation run in CI: twenty nodes of one postal code on links of
//! 50 ms, split in two for a while, editing on both sides, then healed;
//! every node must end with the same documents and the same heads.

use std::time::Duration;

use node::model::document::Edit;
use node::model::schema::{Field, Value};
use node::net::links::Link;
use simulations::Simulation;

const NODES: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commune_split_in_two_converges_once_healed() {
    let mut sim = Simulation::new(
        Link {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            ..Link::default()
        },
        7,
    );
    for _ in 0..NODES {
        sim.add_node("97400").await.unwrap();
    }
    let shared = sim.add(0, "Maison des associations").await.unwrap();
    let joined = sim
        .converged("97400", Duration::from_secs(60))
        .await
        .unwrap();
    println!(
        "{NODES} nodes hold the same {} documents after {joined:?}",
        NODES + 1
    );

    let (west, east): (Vec<u32>, Vec<u32>) = (0..NODES).partition(|n| n % 2 == 0);
    sim.links.partition(&west, &east);
    // Both sides edit the same entity and add their own.
    sim.edit(
        west[1],
        shared,
        vec![Edit::Set(
            Field::ShortDescription,
            Value::Text("Côté ouest".into()),
        )],
    )
    .await
    .unwrap();
    sim.edit(
        east[1],
        shared,
        vec![Edit::Set(
            Field::ShortDescription,
            Value::Text("Côté est".into()),
        )],
    )
    .await
    .unwrap();
    for n in 0..3 {
        sim.add(west[n + 2], &format!("Ouest {n}")).await.unwrap();
        sim.add(east[n + 2], &format!("Est {n}")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let states = sim.states("97400").unwrap();
    assert_ne!(
        states[west[0] as usize], states[east[0] as usize],
        "the partition let changes through"
    );

    sim.links.heal();
    let healed = sim
        .converged("97400", Duration::from_secs(120))
        .await
        .unwrap();
    println!("healed: identical heads on all {NODES} nodes after {healed:?}");
    let states = sim.states("97400").unwrap();
    assert_eq!(states[0].len(), NODES as usize + 1 + 6);
    // The concurrent edits merged the same way everywhere.
    let descriptions: Vec<Option<String>> = sim
        .nodes
        .iter()
        .map(|node| {
            node.local
                .store
                .entity(&shared)
                .unwrap()
                .and_then(|entity| entity.text(Field::ShortDescription).map(str::to_owned))
        })
        .collect();
    assert!(
        descriptions
            .iter()
            .all(|d| d == &descriptions[0] && d.is_some())
    );
}
