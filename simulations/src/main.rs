//! Scenarios of many Communecter nodes in one process, printing their
//! figures as a table and as JSON.
//!
//! ```sh
//! cargo run -p simulations --release -- propagation --nodes 100 --latency-ms 100 --size 1000
//! cargo run -p simulations --release -- partition --nodes 40
//! ```

use std::time::Duration;

use node::links::Link;
use node::model::automerge::ReadDoc;
use node::model::document::Edit;
use node::model::schema::{Field, Value};
use serde_json::json;
use simulations::{SimError, Simulation};
use tokio::time::Instant;

const USAGE: &str = "usage: simulations <propagation|partition> [--nodes N] [--latency-ms MS] [--size BYTES] [--messages M] [--seed S]";

struct Options {
    scenario: String,
    nodes: u32,
    latency: Duration,
    size: usize,
    messages: usize,
    seed: u64,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().ok_or(USAGE)?;
    let mut options = Options {
        scenario,
        nodes: 100,
        latency: Duration::from_millis(100),
        size: 1_000,
        messages: 10,
        seed: 1,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{what} must be a whole number, not {value:?}"))
        };
        match flag.as_str() {
            "--nodes" => options.nodes = number("--nodes")? as u32,
            "--latency-ms" => options.latency = Duration::from_millis(number("--latency-ms")?),
            "--size" => options.size = number("--size")? as usize,
            "--messages" => options.messages = number("--messages")? as usize,
            "--seed" => options.seed = number("--seed")?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if options.nodes < 2 {
        return Err("a simulation needs at least 2 nodes".into());
    }
    Ok(options)
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match options.scenario.as_str() {
            "propagation" => propagation(&options).await,
            "partition" => partition(&options).await,
            other => Err(format!("unknown scenario {other:?}\n{USAGE}").into()),
        }
    });
    if let Err(error) = result {
        eprintln!("simulation failed: {error}");
        std::process::exit(1);
    }
}

/// `nodes` nodes of 97400 on links of `latency`, all connected.
async fn commune(options: &Options) -> Result<Simulation, SimError> {
    let started = Instant::now();
    let mut sim = Simulation::new(
        Link {
            latency: options.latency,
            ..Link::default()
        },
        options.seed,
    );
    for _ in 0..options.nodes {
        sim.add_node("97400").await?;
    }
    let settled = sim.converged("97400", Duration::from_secs(600)).await?;
    eprintln!(
        "{} nodes started in {:.1} s; their profiles reached everyone {:.1} s later",
        options.nodes,
        (started.elapsed() - settled).as_secs_f64(),
        settled.as_secs_f64()
    );
    Ok(sim)
}

/// Text of about `bytes` bytes that compresses badly.
fn text_of(bytes: usize, seed: u64) -> String {
    let mut state = seed | 1;
    (0..bytes / 2)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Latin-1 supplement letters: two bytes each in UTF-8.
            char::from_u32(0xC0 + (state % 0x3F) as u32).unwrap_or('é')
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn propagation(options: &Options) -> Result<(), SimError> {
    let sim = commune(options).await?;
    let nodes = sim.nodes.len();
    let mut rows = Vec::new();
    for message in 0..options.messages {
        let origin = (message * 7919 % nodes) as u32;
        let received_before: u64 = (0..nodes as u32).map(|n| sim.links.received(n)).sum();
        let mut arrivals = Vec::new();
        let mut listeners = Vec::new();
        for node in &sim.nodes {
            listeners.push(node.local.store.subscribe());
        }
        let id = sim.add(origin, &format!("Message {message}")).await?;
        // The description carries the message's size.
        let committed = Instant::now();
        sim.edit(
            origin,
            id,
            vec![Edit::Set(
                Field::Description,
                Value::Text(text_of(options.size, message as u64 + 1)),
            )],
        )
        .await?;
        let edited_heads = sim.nodes[origin as usize]
            .local
            .store
            .document(&id)?
            .map(|doc| doc.get_heads())
            .unwrap_or_default();
        let mut waits = Vec::new();
        for (number, mut listener) in listeners.into_iter().enumerate() {
            if number == origin as usize {
                continue;
            }
            let store = sim.nodes[number].local.store.clone();
            let heads = edited_heads.clone();
            waits.push(tokio::spawn(async move {
                let deadline = committed + Duration::from_secs(60);
                loop {
                    let has = store.document(&id).ok().flatten().is_some_and(|doc| {
                        heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
                    });
                    if has {
                        return Some(committed.elapsed());
                    }
                    match tokio::time::timeout_at(deadline, listener.recv()).await {
                        Ok(Ok(_))
                        | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                        _ => return None,
                    }
                }
            }));
        }
        for wait in waits {
            arrivals.push(wait.await?);
        }
        let missing = arrivals.iter().filter(|a| a.is_none()).count();
        if missing > 0 {
            return Err(format!("message {message}: {missing} nodes never received it").into());
        }
        let mut times: Vec<f64> = arrivals
            .into_iter()
            .flatten()
            .map(|elapsed| elapsed.as_secs_f64() * 1000.0)
            .collect();
        times.sort_by(f64::total_cmp);
        let received_after: u64 = (0..nodes as u32).map(|n| sim.links.received(n)).sum();
        rows.push((
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 1.0),
            (received_after - received_before) as f64 / nodes as f64,
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged = sim.converged("97400", Duration::from_secs(120)).await?;
    let mut connected = Vec::new();
    for node in &sim.nodes {
        if let Some(client) = &node.client {
            connected.push(client.status().await?.peers.len() as f64);
        }
    }
    let peers = connected.iter().sum::<f64>() / connected.len().max(1) as f64;
    let mean = |pick: fn(&(f64, f64, f64, f64)) -> f64| {
        rows.iter().map(pick).sum::<f64>() / rows.len() as f64
    };
    let (p50, p95, p100, bytes) = (mean(|r| r.0), mean(|r| r.1), mean(|r| r.2), mean(|r| r.3));
    let latency_ms = options.latency.as_secs_f64() * 1000.0;
    println!(
        "propagation: {} nodes, one postal code, {} ms links, {} messages of {} bytes",
        options.nodes, latency_ms, options.messages, options.size
    );
    println!(
        "{:>10} {:>10} {:>10} {:>22} {:>16}",
        "p50 ms", "p95 ms", "max ms", "bytes/node/message", "p95 / latency"
    );
    println!(
        "{p50:>10.0} {p95:>10.0} {p100:>10.0} {bytes:>22.0} {:>16.1}",
        p95 / latency_ms
    );
    println!(
        "every node holds identical heads ({converged:?} after the last message); {peers:.1} connected peers per node"
    );
    println!(
        "{}",
        json!({
            "scenario": "propagation",
            "nodes": options.nodes,
            "latency_ms": latency_ms,
            "messages": options.messages,
            "size_bytes": options.size,
            "p50_ms": p50,
            "p95_ms": p95,
            "max_ms": p100,
            "bytes_per_node_per_message": bytes,
            "connected_peers_per_node": peers,
            "converged": true,
        })
    );
    Ok(())
}

async fn partition(options: &Options) -> Result<(), SimError> {
    let sim = commune(options).await?;
    let nodes = options.nodes;
    let (west, east): (Vec<u32>, Vec<u32>) = (0..nodes).partition(|n| n % 2 == 0);
    sim.links.partition(&west, &east);
    for n in 0..west.len().min(east.len()).min(5) {
        sim.add(west[n], &format!("Ouest {n}")).await?;
        sim.add(east[n], &format!("Est {n}")).await?;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    sim.links.heal();
    let healed = sim.converged("97400", Duration::from_secs(600)).await?;
    println!("partition: {nodes} nodes split in two, 5 s apart with edits on both sides");
    println!(
        "healed: identical heads on every node after {:.1} s",
        healed.as_secs_f64()
    );
    println!(
        "{}",
        json!({"scenario": "partition", "nodes": nodes, "heal_seconds": healed.as_secs_f64(), "converged": true})
    );
    Ok(())
}
