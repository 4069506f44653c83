//! A small vote run in CI: twenty nodes, fifteen confirmed members voting,
//! the commune split in two half-way with an admin closing on each side;
//! once healed, every node reports the same tally, the one of the side
//! whose closing has the lower hash (the run fails otherwise).

use simulations::runs;
use simulations::scenario::Scenario;

const SCENARIO: &str = r#"
run = "vote"
about = "A small commune votes, split during the vote."
seed = 5

[network]
latency_ms = 20
jitter_ms = 5
dial = 3

[population]
nodes = 20
postal_code = "97400"

[partition]
seconds = 1

[vote]
voters = 15
seconds = 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_vote_ends_with_one_outcome_everywhere() {
    let scenario = Scenario::parse(SCENARIO).unwrap();
    let report = runs::run(&scenario).await.unwrap();
    for line in &report.lines {
        println!("{line}");
    }
    let json = &report.json;
    assert_eq!(json["votes_cast"], 15);
    let side = json["closing_side"].as_str().unwrap();
    let side_counted = json[format!("{side}_counted")].as_u64().unwrap();
    assert_eq!(json["counted"].as_u64().unwrap(), side_counted);
    // Each side saw its own votes and those from before the split: the
    // other side's later votes are left out.
    assert_eq!(
        json["counted"].as_u64().unwrap() + json["left_out"].as_u64().unwrap(),
        15
    );
    assert!(json["left_out"].as_u64().unwrap() > 0, "{json}");
    assert!(json["agreement_s"].as_f64().unwrap() >= 0.0);
}
