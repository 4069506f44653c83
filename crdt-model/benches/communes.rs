//! Load time and look-up throughput of the communes table.
//!
//! Run with `cargo bench -p crdt-model --bench communes`. Plain
//! `std::time::Instant` timing; each throughput figure is the best of a few
//! rounds over thousands of real codes and names from the table itself.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crdt_model::communes::table;

/// Runs `round` (which performs `per_round` operations) until about
/// `budget` has elapsed and returns the best rate, in operations per second.
fn best_rate(per_round: usize, budget: Duration, mut round: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut best = 0.0f64;
    let mut checksum = 0usize;
    while start.elapsed() < budget {
        let t = Instant::now();
        checksum = checksum.wrapping_add(round());
        let rate = per_round as f64 / t.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    black_box(checksum);
    best
}

fn main() {
    let t = Instant::now();
    let communes = table();
    let load = t.elapsed();
    println!(
        "communes: load {:.1} ms ({} rows, {} postal codes, source {})",
        load.as_secs_f64() * 1e3,
        communes.len(),
        communes.postal_code_count(),
        communes.source()
    );

    let t = Instant::now();
    let first = communes.search("saint denis", 10);
    println!(
        "communes: search index build (first search) {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(!first.is_empty());

    let budget = Duration::from_millis(700);

    let postal: Vec<&str> = communes.postal_codes().collect();
    let rate = best_rate(postal.len(), budget, || {
        postal
            .iter()
            .map(|code| communes.by_postal_code(black_box(code)).len())
            .sum()
    });
    println!(
        "communes: by_postal_code {:.1} M lookups/s ({} codes)",
        rate / 1e6,
        postal.len()
    );

    let insee: Vec<&str> = communes.iter().step_by(7).map(|c| c.insee).collect();
    let rate = best_rate(insee.len(), budget, || {
        insee
            .iter()
            .filter(|code| communes.by_insee(black_box(code)).is_some())
            .count()
    });
    println!(
        "communes: by_insee {:.1} M lookups/s ({} codes)",
        rate / 1e6,
        insee.len()
    );

    let names: Vec<&str> = communes.iter().step_by(13).map(|c| c.name).collect();
    let rate = best_rate(names.len(), budget, || {
        names
            .iter()
            .map(|name| communes.search(black_box(name), 10).len())
            .sum()
    });
    println!(
        "communes: search (full names) {:.0} k queries/s ({} names, limit 10)",
        rate / 1e3,
        names.len()
    );

    let prefixes: Vec<String> = names
        .iter()
        .map(|name| name.chars().take(4).collect())
        .collect();
    let rate = best_rate(prefixes.len(), budget, || {
        prefixes
            .iter()
            .map(|prefix| communes.search(black_box(prefix), 10).len())
            .sum()
    });
    println!(
        "communes: search (4-letter prefixes) {:.0} k queries/s ({} prefixes, limit 10)",
        rate / 1e3,
        prefixes.len()
    );

    let t = Instant::now();
    let saint = communes.search("saint", 10);
    println!(
        "communes: search \"saint\" ({} hits kept) {:.1} µs",
        saint.len(),
        t.elapsed().as_secs_f64() * 1e6
    );
}
