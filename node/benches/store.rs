//! The store under a commune of 10,000 entities: ingest throughput (one
//! change per transaction, and batched), size on disk, list and search
//! latency.
//!
//! Run with `cargo bench -p communecter-node --bench store`. With
//! `COMMUNECTER_BENCH_HOME=DIR`, the data directory is kept in DIR (with an
//! identity), so that the CLI's cold start can be timed on it afterwards.

use std::time::{Duration, Instant};

use crdt_model::document::{self, Edit, Genesis};
use crdt_model::schema::{Field, Kind, Value};
use crdt_model::signed::SignedChange;
use node::identity::DataDir;
use node::ingest;
use node::local::{Join, Local};
use node::store::Filter;
use node::store::Origin;

const ENTITIES: usize = 10_000;
const UNBATCHED: usize = 1_000;
const BATCH: usize = 500;

const CATEGORIES: &[&str] = &[
    "garage",
    "boulangerie",
    "crèche",
    "pharmacie",
    "librairie",
    "épicerie",
    "coiffeur",
    "restaurant",
    "théâtre",
    "école de musique",
    "jardin partagé",
    "club de football",
];
const WORDS: &[&str] = &[
    "Payet",
    "Hoarau",
    "Grondin",
    "Fontaine",
    "Técher",
    "Rivière",
    "Barachois",
    "Butor",
    "Source",
    "Bellepierre",
    "Providence",
    "Montgaillard",
    "Chaudron",
    "Moufia",
    "Camélias",
    "Vauban",
    "Océan",
    "Soleil",
    "Bois-de-Nèfles",
    "Sainte-Clotilde",
];

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index].as_secs_f64() * 1e3
}

fn main() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let home = std::env::var_os("COMMUNECTER_BENCH_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().join("home"));
    let dir = DataDir::resolve(Some(home.clone())).expect("data directory");
    let local = Local::init(
        &dir,
        &Join {
            postal_code: "97400".into(),
            name: Some("Bench".into()),
            ..Join::default()
        },
    )
    .expect("init (the data directory must be new)");
    let actor = local.identity.actor(local.profile.device);

    // Prepare 10,000 signed genesis changes, each with a category, two tags
    // and a description.
    let started = Instant::now();
    let envelopes: Vec<Vec<u8>> = (0..ENTITIES)
        .map(|n| {
            let category = CATEGORIES[n % CATEGORIES.len()];
            let name = format!(
                "{} {} {}",
                category,
                WORDS[n % WORDS.len()],
                WORDS[(n / WORDS.len()) % WORDS.len()]
            );
            let genesis = Genesis {
                kind: if n % 5 == 0 {
                    Kind::Place
                } else {
                    Kind::Organization
                },
                name,
                postal_code: "97400".into(),
                country: "FR".into(),
                open_edition: None,
            };
            let mut edits = vec![
                Edit::AddTag(format!("quartier {}", WORDS[n % 7])),
                Edit::AddTag(format!("tag{}", n % 50)),
                Edit::Set(
                    Field::ShortDescription,
                    Value::Text(format!(
                        "Au cœur du quartier {}, depuis {}",
                        WORDS[n % 13],
                        1950 + n % 70
                    )),
                ),
            ];
            if n % 5 != 0 {
                edits.push(Edit::Set(Field::Category, Value::Text(category.into())));
            }
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&(n as u64).to_le_bytes());
            let created = document::create(&genesis, &actor, 1_764_000_000_000, nonce, &edits)
                .expect("valid entity");
            SignedChange::sign(
                &local.identity.signing_key,
                created.id,
                "97400",
                created.change.raw_bytes(),
            )
            .expect("sign")
            .encode()
        })
        .collect();
    println!(
        "setup: {ENTITIES} signed entities prepared in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    for envelope in &envelopes[..UNBATCHED] {
        let outcome = ingest::ingest(&local.store, Origin::Local, std::slice::from_ref(envelope))
            .expect("ingest");
        assert!(outcome[0].is_stored());
    }
    let elapsed = started.elapsed();
    println!(
        "ingest: {:.0} changes/s committed one per transaction ({UNBATCHED} changes)",
        UNBATCHED as f64 / elapsed.as_secs_f64()
    );
    let started = Instant::now();
    for batch in envelopes[UNBATCHED..].chunks(BATCH) {
        let outcomes = ingest::ingest(&local.store, Origin::Local, batch).expect("ingest");
        assert!(outcomes.iter().all(|o| o.is_stored()));
    }
    let elapsed = started.elapsed();
    let batched = ENTITIES - UNBATCHED;
    println!(
        "ingest: {:.0} changes/s committed in batches of {BATCH} ({batched} changes)",
        batched as f64 / elapsed.as_secs_f64()
    );

    let bytes = std::fs::metadata(dir.store_path())
        .expect("store file")
        .len();
    println!(
        "store: {:.1} MiB on disk, {:.0} bytes per entity",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / (ENTITIES + 1) as f64
    );
    let mut local = local;
    let started = Instant::now();
    let (_, compacted) = std::sync::Arc::get_mut(&mut local.store)
        .expect("nothing else holds the store")
        .compact(&dir.store_path())
        .expect("compact");
    println!(
        "store: {:.1} MiB after compaction ({:.0} bytes per entity) in {:.0} ms",
        compacted as f64 / (1024.0 * 1024.0),
        compacted as f64 / (ENTITIES + 1) as f64,
        started.elapsed().as_secs_f64() * 1e3
    );

    let mut samples = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let listed = local
            .store
            .list(&Filter {
                postal_key: Some("97400".into()),
                ..Filter::default()
            })
            .expect("list");
        samples.push(started.elapsed());
        assert_eq!(listed.len(), ENTITIES + 1);
    }
    println!(
        "list: whole postal code ({} entities) p50 {:.1} ms, p95 {:.1} ms",
        ENTITIES + 1,
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95)
    );
    let mut samples = Vec::new();
    for n in 0..50 {
        let started = Instant::now();
        let listed = local
            .store
            .list(&Filter {
                tag: Some(format!("tag{n}")),
                ..Filter::default()
            })
            .expect("list");
        samples.push(started.elapsed());
        assert_eq!(listed.len(), ENTITIES / 50);
    }
    println!(
        "list: by tag (200 entities each) p50 {:.2} ms, p95 {:.2} ms",
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95)
    );

    let queries = [
        "garage payet",
        "boulangerie",
        "creche",
        "theatre source",
        "musique",
        "jardin butor",
        "pharmacie chaudron",
        "librairie",
        "epicerie moufia",
        "coiffeur",
        "restaurant ocean",
        "football",
        "bellepierre",
        "sainte clotilde",
        "nefles",
    ];
    let mut samples = Vec::new();
    let mut hits = 0;
    for _ in 0..10 {
        for query in queries {
            let started = Instant::now();
            hits += local
                .store
                .search(query, &Filter::default(), 20)
                .expect("search")
                .len();
            samples.push(started.elapsed());
        }
    }
    println!(
        "search: {} queries (limit 20, {} hits in all) p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        samples.len(),
        hits,
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95),
        percentile(&mut samples, 1.0)
    );
    println!("data directory: {}", home.display());
}
