//! `communecter import` of 10,000 rows, on the release binary, offline
//! (the store directly) and through a running node: rows per second as the
//! command reports them. Formats: CSV and Communecter's public API JSON.
//!
//! Run with `cargo bench -p communecter --bench import`.

use std::path::Path;

use serde_json::{Value, json};
use support::{Communecter, Process};

const BIN: &str = env!("CARGO_BIN_EXE_communecter");
const ROWS: usize = 10_000;

fn csv_file(path: &Path) {
    let mut csv =
        String::from("name,kind,type,category,tags,short_description,street,postal_code,lat,lon\n");
    for n in 0..ROWS {
        csv.push_str(&format!(
            "Association {n},organization,ngo,culture,quartier{};musique,Une association du quartier,{} rue du Port,97400,-20.{:04},55.{:04}\n",
            n % 20,
            n % 300 + 1,
            n,
            n / 2
        ));
    }
    std::fs::write(path, csv).expect("write CSV");
}

fn communecter_api_file(path: &Path) {
    let entities: serde_json::Map<String, Value> = (0..ROWS)
        .map(|n| {
            (
                format!("5f{n:08x}"),
                json!({
                    "name": format!("Commerce {n}"),
                    "type": "LocalBusiness",
                    "shortDescription": "Commerce de proximité",
                    "address": {"streetAddress": format!("{} rue de Paris", n % 300 + 1), "postalCode": "97400", "addressLocality": "Saint-Denis", "addressCountry": "FR"},
                    "geo": {"latitude": format!("-20.{n:04}"), "longitude": "55.45"},
                    "tags": ["commerce", format!("rue{}", n % 30)],
                }),
            )
        })
        .collect();
    std::fs::write(
        path,
        serde_json::to_vec(&json!({"entities": entities})).unwrap(),
    )
    .expect("write JSON");
}

fn main() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let csv = temp.path().join("rows.csv");
    let api = temp.path().join("communecter.json");
    csv_file(&csv);
    communecter_api_file(&api);
    println!(
        "{:<40} {:>8} {:>9} {:>10}",
        "import", "rows", "seconds", "rows/s"
    );
    for (label, file) in [
        ("CSV, offline", &csv),
        ("Communecter API JSON, offline", &api),
    ] {
        let bench = Communecter::new(BIN, temp.path().join(label.replace([' ', ','], "-")));
        bench.json(&["init", "--postal-code", "97400", "--name", "Bench"]);
        let report = bench.json(&["import", file.to_str().unwrap()]);
        assert_eq!(report["imported"], ROWS, "{report}");
        println!(
            "{label:<40} {:>8} {:>9.2} {:>10.0}",
            report["rows"],
            report["seconds"].as_f64().unwrap(),
            report["rows_per_second"].as_f64().unwrap()
        );
    }
    // Through a running node.
    let bench = Communecter::new(BIN, temp.path().join("node"));
    let addr = temp.path().join("node.json");
    let mut node = Process::spawn(
        bench
            .command(&["node", "--offline", "--api", "127.0.0.1:0"])
            .args(["--postal-code", "97400", "--name", "Bench", "--addr-file"])
            .arg(&addr),
    );
    node.published(&addr, |_| true);
    let report = bench.json(&["import", csv.to_str().unwrap()]);
    drop(node);
    assert_eq!(report["imported"], ROWS, "{report}");
    println!(
        "{:<40} {:>8} {:>9.2} {:>10.0}",
        "CSV, through a running node",
        report["rows"],
        report["seconds"].as_f64().unwrap(),
        report["rows_per_second"].as_f64().unwrap()
    );
}
