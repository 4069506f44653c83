//! A small department run in CI: a few nodes on several postal codes of
//! La Réunion, meeting through a community relay, editing; each postal
//! code converges and no node receives a document of a postal code it
//! does not follow (the run fails otherwise).

use simulations::runs;
use simulations::scenario::{Scenario, department_population};

const SCENARIO: &str = r#"
run = "department"
about = "La Réunion at a tiny adoption rate."
seed = 3

[network]
latency_ms = 20
dial = 0

[population]
department = "974"
adoption = 0.00002
relays = 1

[edits]
per_citizen_per_day = 2.0
time_scale = 21600.0
duration_s = 8
quiet_s = 2
size_bytes = 200
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postal_codes_of_a_department_stay_apart_and_converge() {
    let scenario = Scenario::parse(SCENARIO).unwrap();
    let codes = department_population("974", 0.00002).unwrap();
    assert!(codes.len() >= 3, "several postal codes: {codes:?}");
    let report = runs::run(&scenario).await.unwrap();
    for line in &report.lines {
        println!("{line}");
    }
    let json = &report.json;
    assert_eq!(json["foreign_documents"], 0);
    assert_eq!(json["converged"], true);
    assert_eq!(
        json["nodes"].as_u64().unwrap(),
        codes.iter().map(|(_, n)| u64::from(*n)).sum::<u64>()
    );
    assert!(json["edits"].as_u64().unwrap() > 0, "the citizens edited");
    // Gossip and sync reached the nodes: they received bytes.
    assert!(json["received_bytes_per_s_mean"].as_f64().unwrap() > 0.0);
}
