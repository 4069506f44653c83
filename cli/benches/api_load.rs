//! The local API under load, on the release binary: the memory of a node
//! holding 20,000 entities while 20 clients export the whole directory at
//! once, then while 50 clients list, search, show and export for several
//! rounds (does it plateau?). Memory is the node's `VmRSS`, sampled every
//! 50 ms from `/proc`, and its `VmHWM` (peak).
//!
//! Run with `cargo bench -p communecter --bench api_load`; the rounds of
//! the second part last `API_LOAD_ROUND_SECS` seconds (40 by default).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::http::Client;
use support::{Communecter, Process};

const BIN: &str = env!("CARGO_BIN_EXE_communecter");
const ENTITIES: usize = 20_000;
const EXPORTERS: usize = 20;
const CLIENTS: usize = 50;
const ROUNDS: usize = 4;

fn csv_file(path: &Path) {
    let mut csv = String::from(
        "name,kind,type,category,tags,short_description,description,street,postal_code,lat,lon\n",
    );
    for n in 0..ENTITIES {
        csv.push_str(&format!(
            "Association {n},organization,ngo,culture,quartier{};musique,Une association du quartier,\"{}\",{} rue du Port,97400,-20.{:04},55.{:04}\n",
            n % 20,
            "Ateliers, concerts et entraide entre voisins. ".repeat(8),
            n % 300 + 1,
            n % 10_000,
            n / 2 % 10_000,
        ));
    }
    std::fs::write(path, csv).expect("write CSV");
}

/// The node's resident memory and its peak so far, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Samples the node's resident memory until `stop`; returns the highest.
fn sampler(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak = 0f64;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(memory(pid).0);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

fn main() {
    let round = Duration::from_secs(
        std::env::var("API_LOAD_ROUND_SECS")
            .ok()
            .and_then(|secs| secs.parse().ok())
            .unwrap_or(40),
    );
    let temp = tempfile::tempdir().expect("temporary directory");
    let csv = temp.path().join("rows.csv");
    csv_file(&csv);
    let bench = Communecter::new(BIN, temp.path().join("node"));
    let addr = temp.path().join("node.json");
    let mut node = Process::spawn(
        bench
            .command(&["node", "--offline", "--api", "127.0.0.1:0"])
            .args(["--postal-code", "97400", "--name", "Bench", "--addr-file"])
            .arg(&addr),
    );
    let published = node.published(&addr, |_| true);
    let api = published["api"]
        .as_str()
        .expect("the API address")
        .to_owned();
    let report = bench.json(&["import", csv.to_str().unwrap()]);
    assert_eq!(report["imported"], ENTITIES, "{report}");
    let pid = node.id();
    let (idle, _) = memory(pid);
    println!("{ENTITIES} entities imported; node RSS {idle:.1} MiB");

    // 20 whole exports at once.
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = sampler(pid, stop.clone());
    let started = Instant::now();
    let exports: Vec<_> = (0..EXPORTERS)
        .map(|_| {
            let url = format!("{api}/api/export/jsonld");
            std::thread::spawn(move || Client::new().get_counted(&url))
        })
        .collect();
    let mut bytes = Vec::new();
    for export in exports {
        let (status, size) = export.join().unwrap().expect("an export");
        assert_eq!(status, 200);
        bytes.push(size);
    }
    stop.store(true, Ordering::Relaxed);
    let peak = sampling.join().unwrap();
    println!(
        "{EXPORTERS} JSON-LD exports at once: {:.1} s, {:.1} MB each, node RSS peak {peak:.1} MiB",
        started.elapsed().as_secs_f64(),
        bytes[0] as f64 / 1e6,
    );
    assert!(bytes.iter().all(|size| *size == bytes[0]), "{bytes:?}");

    // 50 clients for several rounds.
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (api, done, failed, stop) =
                (api.clone(), done.clone(), failed.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = Client::new();
                let mut n = client;
                while !stop.load(Ordering::Relaxed) {
                    let path = match n % 10 {
                        0 => "/api/export/csv".to_owned(),
                        1..=3 => "/api/entities?postal_code=97400".to_owned(),
                        4..=6 => format!("/api/search?q=association+{}", n % 997),
                        _ => format!("/api/search?q=quartier{}", n % 20),
                    };
                    match http.get_counted(&format!("{api}{path}")) {
                        Ok((200, _)) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    n += 7;
                }
            })
        })
        .collect();
    println!("{CLIENTS} clients, rounds of {} s:", round.as_secs());
    println!(
        "{:>6} {:>10} {:>8} {:>9} {:>9}",
        "round", "requests", "failed", "RSS MiB", "peak MiB"
    );
    let mut before = 0;
    for n in 1..=ROUNDS {
        std::thread::sleep(round);
        let (rss, peak) = memory(pid);
        let requests = done.load(Ordering::Relaxed);
        println!(
            "{n:>6} {:>10} {:>8} {rss:>9.1} {peak:>9.1}",
            requests - before,
            failed.load(Ordering::Relaxed)
        );
        before = requests;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    drop(node);
}
