//! A newcomer joins a postal code of 10,000 documents that a community
//! relay serves, over libp2p's in-process memory transport (Noise + Yamux,
//! no modelled latency): how long until the newcomer holds the whole
//! directory, and how many sync bytes it took.
//!
//! Run with `cargo bench -p communecter-node --bench bootstrap`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crdt_model::sample;
use node::identity::DataDir;
use node::ingest;
use node::local::{Join, Local};
use node::net::{self, NetConfig};
use node::relay::{Relay, RelayConfig};
use node::store::Origin;

const DOCUMENTS: usize = 10_000;

fn memory_config() -> NetConfig {
    NetConfig {
        listen: vec!["/memory/0".parse().expect("multiaddr")],
        mdns: false,
        memory: true,
        heartbeat: Duration::from_millis(200),
        ..NetConfig::default()
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let (key, _) = sample::author(5);
    let started = Instant::now();
    let envelopes = sample::directory(&key, "97400", DOCUMENTS);
    let directory_bytes: usize = envelopes.iter().map(Vec::len).sum();
    println!(
        "setup: {DOCUMENTS} signed documents ({directory_bytes} bytes of envelopes) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let relay = Relay::start(RelayConfig {
        dir: DataDir::resolve(Some(temp.path().join("relay"))).expect("data directory"),
        serve: vec!["97400".into()],
        net: memory_config(),
        addr_file: None,
        entry: None,
    })
    .await
    .expect("relay");
    for batch in envelopes.chunks(500) {
        ingest::ingest(&relay.store, Origin::Local, batch).expect("ingest");
    }
    let relay_address = relay.status().await.expect("status").listen[0]
        .parse()
        .expect("multiaddr");

    let dir = DataDir::resolve(Some(temp.path().join("newcomer"))).expect("data directory");
    let local = Arc::new(
        Local::init(
            &dir,
            &Join {
                postal_code: "97400".into(),
                name: Some("Nouvelle".into()),
                ..Join::default()
            },
        )
        .expect("join"),
    );
    let started = Instant::now();
    let mut config = memory_config();
    config.bootstrap = vec![relay_address];
    let (client, _task) = net::start(
        local.store.clone(),
        local.identity.network_seed,
        config,
        vec![local.profile.postal_key()],
    )
    .await
    .expect("network");
    let wanted = (DOCUMENTS + 1) as u64;
    while local.store.counts().expect("counts").documents < wanted {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the newcomer did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    // The session's report arrives just after its last ingest.
    let mut report = None;
    while report.is_none() && started.elapsed() < Duration::from_secs(600) {
        let status = client.status().await.expect("status");
        report = status
            .peers
            .iter()
            .flat_map(|peer| peer.syncs.iter())
            .filter_map(|sync| sync.report.clone())
            .max_by_key(|report| report.applied);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = report.expect("a sync report");
    println!(
        "bootstrap: {} documents in {:.2} s ({:.0} documents/s) from the relay",
        DOCUMENTS,
        elapsed.as_secs_f64(),
        DOCUMENTS as f64 / elapsed.as_secs_f64()
    );
    println!(
        "bootstrap: {} sync bytes in {} reconciliation rounds, {} envelopes received, {} applied ({:.2} × the envelopes' bytes)",
        report.bytes,
        report.rounds,
        report.received,
        report.applied,
        report.bytes as f64 / directory_bytes as f64
    );
    relay.stop();
}
