//! The runs a scenario names: each builds its simulation, measures, checks
//! that every node ends with identical heads (failing loudly if not), and
//! reports its figures as table lines and as JSON.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use node::ingest;
use node::model::automerge::ReadDoc;
use node::model::document::Edit;
use node::model::ids::EntityId;
use node::model::schema::{Field, Value};
use node::net::ClosedConnections;
use node::random::Xorshift;
use node::store::Origin;
use serde_json::json;
use tokio::time::Instant;

use crate::scenario::Scenario;
use crate::{SimError, Simulation, cpu_seconds, resident_bytes};

/// What a run found.
pub struct Report {
    /// Lines of text: a title, a table, remarks.
    pub lines: Vec<String>,
    /// The same figures as one JSON object.
    pub json: serde_json::Value,
}

/// Runs `scenario`.
pub async fn run(scenario: &Scenario) -> Result<Report, SimError> {
    match scenario.run.as_str() {
        "propagation" => propagation(scenario).await,
        "department" => department(scenario).await,
        "offline-week" => offline_week(scenario).await,
        "churn" => churn(scenario).await,
        "partition" => partition(scenario).await,
        "newcomer" => newcomer(scenario).await,
        "vote" => crate::vote::vote(scenario).await,
        other => Err(format!("no run named {other:?}").into()),
    }
}

/// The simulation a scenario describes: its relays, then its nodes, postal
/// code after postal code, each holding its neighbours' profiles from the
/// start ([`Simulation::add_settled_nodes`]); waits until every store of a
/// postal code holds the same documents (the relays catch up by sync).
pub async fn build(scenario: &Scenario) -> Result<Simulation, SimError> {
    let started = Instant::now();
    let mut sim = Simulation::new(scenario.network.link(), scenario.seed);
    sim.bootstrap_peers = scenario.network.dial;
    scenario.network.configure(&mut sim.net);
    let slow = scenario.network.slow_motion;
    let codes = scenario.population.postal_codes()?;
    let serve: Vec<String> = codes.iter().map(|(code, _)| code.clone()).collect();
    for _ in 0..scenario.population.relays {
        sim.add_relay(&serve).await?;
    }
    let total: u32 = codes.iter().map(|(_, n)| n).sum();
    for (code, nodes) in &codes {
        sim.add_settled_nodes(code, *nodes).await?;
        eprintln!("  {} of {total} nodes started", sim.nodes.len());
    }
    let settle_limit = Duration::from_secs(120 + u64::from(total) / 2);
    let settled = sim.converged_all(settle_limit).await?;
    // Every node has met its peers, and a few gossip heartbeats have built
    // the meshes.
    let deadline = Instant::now() + settle_limit;
    for node in &sim.nodes {
        let Some(client) = &node.client else { continue };
        while client.status().await?.peers.is_empty() {
            if Instant::now() > deadline {
                return Err(format!("node {} met no peer", node.number).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3).mul_f64(slow)).await;
    eprintln!(
        "{total} nodes and {} relays started in {:.1} s; every profile reached its postal code {:.1} s later",
        sim.relays.len(),
        (started.elapsed() - settled).as_secs_f64(),
        settled.as_secs_f64()
    );
    Ok(sim)
}

/// Text of about `bytes` bytes that compresses badly.
pub fn text_of(bytes: usize, seed: u64) -> String {
    let mut random = Xorshift::new(seed);
    (0..bytes / 2)
        .map(|_| {
            // Latin-1 supplement letters: two bytes each in UTF-8.
            char::from_u32(0xC0 + random.below(0x3F) as u32).unwrap_or('é')
        })
        .collect()
}

/// The value at rank `p` (0..=1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Each node's connected peers, and the peers in its gossip mesh, as node
/// numbers.
async fn peer_graph(sim: &Simulation) -> Result<(Vec<Vec<usize>>, Vec<Vec<usize>>), SimError> {
    let mut number_of = HashMap::new();
    for (n, node) in sim.nodes.iter().enumerate() {
        if let Some(client) = &node.client {
            number_of.insert(client.peer_id().to_string(), n);
        }
    }
    let mut graph = Vec::new();
    let mut mesh = Vec::new();
    for node in &sim.nodes {
        let mut peers = Vec::new();
        let mut meshed = Vec::new();
        if let Some(client) = &node.client {
            for peer in client.status().await?.peers {
                if let Some(n) = number_of.get(&peer.peer_id) {
                    peers.push(*n);
                    if peer.mesh {
                        meshed.push(*n);
                    }
                }
            }
        }
        graph.push(peers);
        mesh.push(meshed);
    }
    Ok((graph, mesh))
}

/// Connections the nodes opened and closed (by why, as
/// [`ClosedConnections::by_why`]) since they started, all together.
async fn connections(sim: &Simulation) -> Result<(u64, [(&'static str, u64); 5]), SimError> {
    let mut opened = 0;
    let mut closed = ClosedConnections::default().by_why();
    for client in sim.nodes.iter().filter_map(|node| node.client.as_ref()) {
        let status = client.status().await?;
        opened += status.connections_opened;
        for (total, (_, count)) in closed.iter_mut().zip(status.connections_closed.by_why()) {
            total.1 += count;
        }
    }
    Ok((opened, closed))
}

/// Hops from `origin` to every node (`usize::MAX` when out of reach): the
/// first over `first` (the origin publishes to all its peers of the
/// topic), the others over `rest`.
fn hops(first: &[Vec<usize>], rest: &[Vec<usize>], origin: usize) -> Vec<usize> {
    let mut distance = vec![usize::MAX; rest.len()];
    distance[origin] = 0;
    let mut queue = VecDeque::from([origin]);
    while let Some(node) = queue.pop_front() {
        let next = if node == origin { first } else { rest };
        for &peer in &next[node] {
            if distance[peer] == usize::MAX {
                distance[peer] = distance[node] + 1;
                queue.push_back(peer);
            }
        }
    }
    distance
}

/// The hop counts of the nodes in reach, sorted.
fn reach(distances: &[usize], origin: usize) -> Vec<f64> {
    let mut reach: Vec<f64> = distances
        .iter()
        .enumerate()
        .filter(|(n, d)| *n != origin && **d != usize::MAX)
        .map(|(_, d)| *d as f64)
        .collect();
    reach.sort_by(f64::total_cmp);
    reach
}

async fn propagation(scenario: &Scenario) -> Result<Report, SimError> {
    let sim = build(scenario).await?;
    let key = sim.nodes[0].postal_key.clone();
    let nodes = sim.nodes.len();
    let latency_ms = scenario.network.latency_ms as f64;
    let size = scenario.edits.size_bytes;
    let slow = scenario.network.slow_motion;
    let (graph, mesh) = peer_graph(&sim).await?;
    let (opened_before, closed_before) = connections(&sim).await?;
    let cpu_before = cpu_seconds();
    let run_started = Instant::now();
    let mut rows = Vec::new();
    for message in 0..scenario.edits.messages {
        let origin = message * 7919 % nodes;
        // Nodes out of reach of the connections or meshes seen (they
        // changed since) are left out of the floors.
        let over_connections = reach(&hops(&graph, &graph, origin), origin);
        let over_mesh = reach(&hops(&graph, &mesh, origin), origin);
        let off_mesh = (nodes - 1 - over_mesh.len()) as f64;
        let received_before: u64 = (0..nodes as u32).map(|n| sim.links.received(n)).sum();
        let listeners: Vec<_> = sim
            .nodes
            .iter()
            .map(|node| node.local.store.subscribe())
            .collect();
        let id = sim
            .add(origin as u32, &format!("Message {message}"))
            .await?;
        // The description carries the message's size.
        let committed = Instant::now();
        sim.edit(
            origin as u32,
            id,
            vec![Edit::Set(
                Field::Description,
                Value::Text(text_of(size, message as u64 + 1)),
            )],
        )
        .await?;
        let heads = sim.nodes[origin]
            .local
            .store
            .document(&id)?
            .map(|doc| doc.get_heads())
            .unwrap_or_default();
        let mut waits = Vec::new();
        for (number, mut listener) in listeners.into_iter().enumerate() {
            if number == origin {
                continue;
            }
            let store = sim.nodes[number].local.store.clone();
            let heads = heads.clone();
            waits.push(tokio::spawn(async move {
                let deadline = committed + Duration::from_secs(60).mul_f64(slow);
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
        let mut arrivals = Vec::new();
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
            .map(|elapsed| elapsed.as_secs_f64() * 1000.0 / slow)
            .collect();
        times.sort_by(f64::total_cmp);
        let received_after: u64 = (0..nodes as u32).map(|n| sim.links.received(n)).sum();
        rows.push([
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 1.0),
            (received_after - received_before) as f64 / nodes as f64,
            percentile(&over_connections, 0.95) * latency_ms,
            percentile(&over_connections, 1.0) * latency_ms,
            percentile(&over_mesh, 0.95) * latency_ms,
            percentile(&over_mesh, 1.0) * latency_ms,
            off_mesh,
        ]);
        tokio::time::sleep(Duration::from_millis(500).mul_f64(slow)).await;
    }
    let run_time = run_started.elapsed().as_secs_f64();
    let cpu_spent = cpu_before
        .zip(cpu_seconds())
        .map(|(before, after)| after - before);
    let cpu = cpu_spent.map(|spent| spent / run_time);
    // The run's CPU per node and message (with the document made just
    // before it), background work of the whole window included: in slow
    // motion the window is longer, and so is the background.
    let cpu_ms_per_message =
        cpu_spent.map(|spent| spent * 1000.0 / (nodes * scenario.edits.messages.max(1)) as f64);
    // Connections opened while the messages ran: a settled peer set
    // opens none.
    let (opened_after, closed_after) = connections(&sim).await?;
    let per_node_minute = |count: u64| count as f64 / nodes as f64 / run_time * 60.0 * slow;
    let opened = per_node_minute(opened_after - opened_before);
    let closed: Vec<(&str, f64)> = closed_after
        .iter()
        .zip(closed_before)
        .map(|((why, after), (_, before))| (*why, per_node_minute(after - before)))
        .collect();
    let converged = sim.converged(&key, Duration::from_secs(120)).await?;
    let column = |i: usize| mean(&rows.iter().map(|row| row[i]).collect::<Vec<_>>());
    let (p50, p95, p100, bytes, floor95, floor, mesh95, mesh_max) = (
        column(0),
        column(1),
        column(2),
        column(3),
        column(4),
        column(5),
        column(6),
        column(7),
    );
    // Nodes the meshes seen at the start did not reach (left out of the
    // mesh floor).
    let off_mesh = column(8);
    let degree = mean(
        &graph
            .iter()
            .map(|peers| peers.len() as f64)
            .collect::<Vec<_>>(),
    );
    let gossip = if scenario.network.flood {
        "naive flooding"
    } else {
        "gossipsub mesh"
    };
    let motion = if slow > 1.0 {
        format!(" (network {slow} × slower than real, times divided by {slow})")
    } else {
        String::new()
    };
    let lines = vec![
        format!(
            "propagation ({gossip}): {nodes} nodes on {key}, {latency_ms} ms links, {} messages of {size} bytes{motion}",
            scenario.edits.messages
        ),
        format!(
            "{:>8} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12} {:>20} {:>16}",
            "p50 ms",
            "p95 ms",
            "max ms",
            "floor p95",
            "floor max",
            "mesh p95",
            "mesh max",
            "bytes/node/message",
            "p95 / mesh p95"
        ),
        format!(
            "{p50:>8.0} {p95:>8.0} {p100:>8.0} {floor95:>12.0} {floor:>12.0} {mesh95:>12.0} {mesh_max:>12.0} {bytes:>20.0} {:>16.2}",
            p95 / mesh95
        ),
        format!(
            "floors: hops × link latency, over all connections, and over the gossip meshes after the publisher's first hop to all its peers ({off_mesh:.1} nodes out of the meshes' reach); {degree:.1} connected peers per node; CPU {:.0} % of one core; RSS {:.0} MiB",
            cpu.unwrap_or(f64::NAN) * 100.0,
            resident_bytes().unwrap_or(0) as f64 / 1_048_576.0
        ),
        format!(
            "CPU per node per message (with the document made before it, background included): {:.2} ms; connections opened while the messages ran: {opened:.2} per node per minute, closed: {}",
            cpu_ms_per_message.unwrap_or(f64::NAN),
            closed
                .iter()
                .map(|(why, rate)| format!("{rate:.2} {why}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("every node holds identical heads ({converged:.1?} after the last message)"),
    ];
    let json = json!({
        "scenario": "propagation",
        "gossip": if scenario.network.flood { "flood" } else { "mesh" },
        "nodes": nodes,
        "latency_ms": latency_ms,
        "messages": scenario.edits.messages,
        "size_bytes": size,
        "p50_ms": p50,
        "p95_ms": p95,
        "max_ms": p100,
        "floor_p95_ms": floor95,
        "floor_max_ms": floor,
        "mesh_floor_p95_ms": mesh95,
        "mesh_floor_max_ms": mesh_max,
        "off_mesh_nodes": off_mesh,
        "bytes_per_node_per_message": bytes,
        "connected_peers_per_node": degree,
        "connections_opened_per_node_per_minute": opened,
        "connections_closed_per_node_per_minute": closed
            .iter()
            .map(|(why, rate)| ((*why).to_owned(), json!(rate)))
            .collect::<serde_json::Map<_, _>>(),
        "cpu_cores": cpu,
        "cpu_ms_per_node_per_message": cpu_ms_per_message,
        "slow_motion": slow,
        "rss_bytes": resident_bytes(),
        "converged": true,
    });
    Ok(Report { lines, json })
}

/// An organization of its own per node, made on its first edit and
/// described anew on each later one.
struct Editors {
    own: HashMap<u32, EntityId>,
    made: usize,
}

impl Editors {
    fn new() -> Self {
        Self {
            own: HashMap::new(),
            made: 0,
        }
    }

    async fn edit(&mut self, sim: &Simulation, node: u32, size: usize) -> Result<(), SimError> {
        self.made += 1;
        match self.own.get(&node) {
            None => {
                let id = sim.add(node, &format!("Association {node}")).await?;
                self.own.insert(node, id);
            }
            Some(id) => {
                let text = text_of(size, self.made as u64);
                sim.edit(
                    node,
                    *id,
                    vec![Edit::Set(Field::Description, Value::Text(text))],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// `postal codes (nodes): 97440 (589), 97423 (180), …`, the eight
/// largest.
fn largest_codes(codes: &[(String, u32)]) -> String {
    const SHOWN: usize = 8;
    let mut line = codes
        .iter()
        .take(SHOWN)
        .map(|(code, nodes)| format!("{code} ({nodes})"))
        .collect::<Vec<_>>()
        .join(", ");
    if codes.len() > SHOWN {
        line.push_str(&format!(" and {} more", codes.len() - SHOWN));
    }
    format!("postal codes (nodes): {line}")
}

async fn department(scenario: &Scenario) -> Result<Report, SimError> {
    let mut sim = build(scenario).await?;
    let department = scenario.population.department.clone().unwrap_or_default();
    let nodes = sim.nodes.len();
    let keys = sim.postal_keys();
    let edits = &scenario.edits;
    // Edits per second of the run: the department's daily edits, time
    // scaled.
    let rate = nodes as f64 * edits.per_citizen_per_day / 86_400.0 * edits.time_scale;
    let total_edits = (rate * edits.duration_s as f64).round() as usize;
    // In slow motion every stretch lasts `slow` times longer, and rates
    // are per second of the network's time: the run's seconds / `slow`.
    let slow = scenario.network.slow_motion;
    // A quiet stretch first: what the nodes receive with nobody editing
    // (pings, gossip control, periodic syncs), in the network's time.
    let quiet = Duration::from_secs(edits.quiet_s.max(1));
    let quiet_before: u64 = sim.nodes.iter().map(|n| sim.links.received(n.number)).sum();
    tokio::time::sleep(quiet.mul_f64(slow)).await;
    let quiet_after: u64 = sim.nodes.iter().map(|n| sim.links.received(n.number)).sum();
    let idle_per_node = (quiet_after - quiet_before) as f64 / quiet.as_secs_f64() / nodes as f64;
    let received_before: Vec<u64> = sim
        .nodes
        .iter()
        .map(|n| sim.links.received(n.number))
        .collect();
    let relays_before: Vec<u64> = sim
        .relays
        .iter()
        .map(|r| sim.links.received(r.number))
        .collect();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut editors = Editors::new();
    for edit in 0..total_edits {
        let at = started + Duration::from_secs_f64(edit as f64 / rate * slow);
        tokio::time::sleep_until(at).await;
        let node = (sim.random() % nodes as u64) as u32;
        editors.edit(&sim, node, edits.size_bytes).await?;
    }
    tokio::time::sleep_until(started + Duration::from_secs(edits.duration_s).mul_f64(slow)).await;
    let window = started.elapsed().as_secs_f64() / slow;
    let cpu = cpu_before.zip(cpu_seconds()).map(|(b, a)| a - b);
    let per_node: Vec<f64> = sim
        .nodes
        .iter()
        .zip(&received_before)
        .map(|(node, before)| (sim.links.received(node.number) - before) as f64 / window)
        .collect();
    let per_relay: Vec<f64> = sim
        .relays
        .iter()
        .zip(&relays_before)
        .map(|(relay, before)| (sim.links.received(relay.number) - before) as f64 / window)
        .collect();
    let settled = sim
        .converged_all(Duration::from_secs(300).mul_f64(slow))
        .await?
        .div_f64(slow);
    // Nothing of a postal code a node does not follow: every document in
    // its store is one of its own postal code's.
    let mut foreign = 0;
    for node in &sim.nodes {
        let documents = node.local.store.counts()?.documents as usize;
        let own = node.local.store.sync_items(&node.postal_key)?.len();
        foreign += documents.saturating_sub(own);
    }
    if foreign > 0 {
        return Err(format!(
            "{foreign} documents reached nodes that do not follow their postal code"
        )
        .into());
    }
    let mut sorted = per_node.clone();
    sorted.sort_by(f64::total_cmp);
    // Bytes a node receives in a day of the commune's life: the quiet
    // traffic runs in real time, the edits' traffic (above it) came
    // `time_scale` times faster than it would.
    let per_day = |bytes_per_second: f64| {
        let edits_part = (bytes_per_second - idle_per_node).max(0.0);
        (idle_per_node + edits_part / edits.time_scale) * 86_400.0
    };
    let cpu_share = cpu.map(|cpu| cpu / window / (nodes + sim.relays.len()) as f64);
    let lines = vec![
        format!(
            "department {department}{}: {nodes} nodes on {} postal codes at {} % adoption, {} relays, {:.0} ms links{}",
            scenario
                .population
                .shard
                .as_ref()
                .map_or(String::new(), |shard| format!(", shard {shard}")),
            keys.len(),
            scenario.population.adoption * 100.0,
            sim.relays.len(),
            scenario.network.latency_ms,
            if slow > 1.0 {
                format!(
                    " (network {slow} × slower than real; seconds, rates and CPU are the network's)"
                )
            } else {
                String::new()
            }
        ),
        largest_codes(&scenario.population.postal_codes()?),
        format!(
            "{total_edits} edits in {window:.0} s ({rate:.2}/s: {} per citizen per day, time × {})",
            edits.per_citizen_per_day, edits.time_scale
        ),
        format!(
            "{:>22} {:>12} {:>12} {:>12} {:>14}",
            "received per node", "mean", "p95", "max", "relay (mean)"
        ),
        format!(
            "{:>22} {:>12.0} {:>12.0} {:>12.0} {:>14.0}",
            "bytes/s of the run",
            mean(&per_node),
            percentile(&sorted, 0.95),
            percentile(&sorted, 1.0),
            mean(&per_relay)
        ),
        format!(
            "{:>22} {:>12.1} {:>12.1} {:>12.1} {:>14.1}",
            "MB per real day",
            per_day(mean(&per_node)) / 1e6,
            per_day(percentile(&sorted, 0.95)) / 1e6,
            per_day(percentile(&sorted, 1.0)) / 1e6,
            per_day(mean(&per_relay)) / 1e6
        ),
        format!(
            "quiet traffic (nobody editing, {} s before): {idle_per_node:.0} bytes/s per node",
            quiet.as_secs()
        ),
        format!(
            "CPU: {:.3} % of a core per node on average (whole process, {:.1} CPU-s for {window:.0} s of the network); RSS {:.0} MiB",
            cpu_share.unwrap_or(f64::NAN) * 100.0,
            cpu.unwrap_or(f64::NAN),
            resident_bytes().unwrap_or(0) as f64 / 1_048_576.0
        ),
        format!(
            "no node holds a document of a postal code it does not follow; every postal code converged ({settled:.1?} after the edits)"
        ),
    ];
    let json = json!({
        "scenario": "department",
        "department": department,
        "shard": scenario.population.shard,
        "adoption": scenario.population.adoption,
        "nodes": nodes,
        "postal_codes": keys.len(),
        "relays": sim.relays.len(),
        "edits": total_edits,
        "window_s": window,
        "slow_motion": slow,
        "time_scale": edits.time_scale,
        "received_bytes_per_s_mean": mean(&per_node),
        "received_bytes_per_s_p95": percentile(&sorted, 0.95),
        "received_bytes_per_s_max": percentile(&sorted, 1.0),
        "relay_received_bytes_per_s_mean": mean(&per_relay),
        "received_mb_per_real_day_mean": per_day(mean(&per_node)) / 1e6,
        "quiet_bytes_per_s_per_node": idle_per_node,
        "cpu_share_per_node": cpu_share,
        "rss_bytes": resident_bytes(),
        "foreign_documents": foreign,
        "converged": true,
        "converged_after_s": settled.as_secs_f64(),
    });
    Ok(Report { lines, json })
}

/// Sums the JSON reports of department runs, shard by shard, into the
/// department's figures: nodes, edits and the relays' traffic add up
/// (each shard's relays carried its postal codes only; the department's
/// relays carry them all); per-node figures are averaged over the nodes;
/// the worst node and the slowest convergence are the shards' worst. A
/// percentile does not add up: the shards' p95 are given as a range.
pub fn sum_department(runs: &[serde_json::Value]) -> Result<Report, String> {
    let number = |run: &serde_json::Value, key: &str| -> Result<f64, String> {
        run[key]
            .as_f64()
            .ok_or_else(|| format!("a department report without {key}"))
    };
    if runs.is_empty() {
        return Err("no department report to sum".into());
    }
    let mut shards = Vec::new();
    let mut out_of = None;
    let (mut nodes, mut codes, mut edits, mut relays_bytes) = (0.0, 0.0, 0.0, 0.0);
    let (mut received, mut per_day, mut quiet, mut cpu) = (0.0, 0.0, 0.0, 0.0);
    let (mut worst, mut p95_low, mut p95_high, mut rss, mut slowest) =
        (0.0_f64, f64::INFINITY, 0.0_f64, 0.0_f64, None::<f64>);
    let department = runs[0]["department"].clone();
    for run in runs {
        if run["scenario"] != "department" || run["department"] != department {
            return Err(format!(
                "not a report of department {department}: {}",
                run["scenario"]
            ));
        }
        if run["converged"] != true || number(run, "foreign_documents")? != 0.0 {
            return Err(format!("shard {} did not pass its checks", run["shard"]));
        }
        let shard = run["shard"].as_str().unwrap_or("1/1");
        let (index, of) = shard
            .split_once('/')
            .and_then(|(i, n)| Some((i.parse::<u32>().ok()?, n.parse::<u32>().ok()?)))
            .ok_or_else(|| format!("a shard named {shard:?}"))?;
        if out_of.is_some_and(|known| known != of) || shards.contains(&index) {
            return Err(format!("shard {shard} does not fit the others"));
        }
        out_of = Some(of);
        shards.push(index);
        let n = number(run, "nodes")?;
        nodes += n;
        codes += number(run, "postal_codes")?;
        edits += number(run, "edits")?;
        relays_bytes += number(run, "relay_received_bytes_per_s_mean")? * number(run, "relays")?;
        received += n * number(run, "received_bytes_per_s_mean")?;
        per_day += n * number(run, "received_mb_per_real_day_mean")?;
        quiet += n * number(run, "quiet_bytes_per_s_per_node")?;
        cpu += n * number(run, "cpu_share_per_node")?;
        worst = worst.max(number(run, "received_bytes_per_s_max")?);
        let p95 = number(run, "received_bytes_per_s_p95")?;
        (p95_low, p95_high) = (p95_low.min(p95), p95_high.max(p95));
        rss = rss.max(number(run, "rss_bytes")?);
        if let Some(after) = run["converged_after_s"].as_f64() {
            slowest = Some(slowest.map_or(after, |s: f64| s.max(after)));
        }
    }
    shards.sort_unstable();
    let of = out_of.unwrap_or(1);
    let missing: Vec<u32> = (1..=of).filter(|i| !shards.contains(i)).collect();
    let relays = runs[0]["relays"].as_f64().unwrap_or(0.0);
    let mut lines = vec![
        format!(
            "department {}: {} of {of} shards, {nodes} nodes on {codes} postal codes, {edits} edits",
            department.as_str().unwrap_or("?"),
            shards.len()
        ),
        format!(
            "received per node: {:.0} bytes/s of the run on average ({:.1} MB per real day), p95 {:.0}–{:.0} by shard, worst node {worst:.0}",
            received / nodes,
            per_day / nodes,
            p95_low,
            p95_high
        ),
        format!("quiet traffic: {:.0} bytes/s per node", quiet / nodes),
        format!(
            "relays: {relays_bytes:.0} bytes/s received in all, {:.0} each if {relays} relays serve the whole department",
            relays_bytes / relays.max(1.0)
        ),
        format!(
            "CPU: {:.3} % of a core per node; largest run {:.0} MiB resident",
            cpu / nodes * 100.0,
            rss / 1_048_576.0
        ),
        match slowest {
            Some(after) => {
                format!("every shard converged, the slowest {after:.1} s after its edits")
            }
            None => "every shard converged".to_owned(),
        },
    ];
    if !missing.is_empty() {
        lines.push(format!(
            "missing shards: {missing:?}; the sums cover the shards above only"
        ));
    }
    let json = json!({
        "scenario": "department-sum",
        "department": department,
        "shards": shards,
        "of": of,
        "missing": missing,
        "nodes": nodes,
        "postal_codes": codes,
        "edits": edits,
        "received_bytes_per_s_mean": received / nodes,
        "received_bytes_per_s_p95_range": [p95_low, p95_high],
        "received_bytes_per_s_max": worst,
        "received_mb_per_real_day_mean": per_day / nodes,
        "quiet_bytes_per_s_per_node": quiet / nodes,
        "relays_received_bytes_per_s": relays_bytes,
        "cpu_share_per_node": cpu / nodes,
        "rss_bytes_max": rss,
        "converged_after_s_max": slowest,
    });
    Ok(Report { lines, json })
}

/// One offline-week round: the edits made while a node was away, and
/// what its catch-up received.
struct OfflineRound {
    edits: usize,
    /// Bytes of the changes it missed.
    difference: usize,
    seconds: f64,
    /// Bytes it received in all until every node converged.
    received: u64,
    /// Of which sync messages.
    sync: SyncReceived,
}

/// What node `n` received for sync since it started: the answers to its
/// own sessions on `key` (reconciliation, pulls; the last session with
/// each peer), and the requests of its peers' sessions. Waits (up to 10 s)
/// for its sessions to end and be reported: a store can hold everything
/// a moment before its session says so.
async fn sync_received(sim: &Simulation, n: u32, key: &str) -> Result<SyncReceived, SimError> {
    let client = sim.nodes[n as usize]
        .client
        .as_ref()
        .ok_or_else(|| SimError::from(format!("node {n} is not running")))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = client.status().await?;
        let mut received = SyncReceived {
            requests: status.sync_request_bytes,
            ..SyncReceived::default()
        };
        let mut sessions = 0;
        for peer in &status.peers {
            for sync in peer.syncs.iter().filter(|sync| sync.postal_key == key) {
                if let Some(report) = &sync.report {
                    received.reconcile += report.reconcile_received as u64;
                    received.pull += report.pull_received as u64;
                    sessions += 1;
                }
            }
        }
        if (sessions > 0 && status.syncing.is_empty()) || Instant::now() > deadline {
            return Ok(received);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bytes a node received for sync, as encoded.
#[derive(Default)]
struct SyncReceived {
    /// Answers to its own sessions: reconciliation, pulls.
    reconcile: u64,
    pull: u64,
    /// Its peers' requests.
    requests: u64,
}

async fn offline_week(scenario: &Scenario) -> Result<Report, SimError> {
    let mut sim = build(scenario).await?;
    let key = sim.nodes[0].postal_key.clone();
    let nodes = sim.nodes.len() as u32;
    let editors_count = (nodes - 1).min(10);
    let mut editors = Editors::new();
    let mut rows = Vec::new();
    for (round, &difference) in scenario.edits.offline.iter().enumerate() {
        // Node 0 watches what the commune writes; the node away changes
        // each round.
        let away = 1 + round as u32 % (nodes - 1);
        sim.stop(away);
        let mut witness = sim.nodes[0].local.store.subscribe();
        let editing: Vec<u32> = (0..nodes)
            .filter(|n| *n != away)
            .take(editors_count as usize)
            .collect();
        for edit in 0..difference {
            let node = editing[edit % editing.len()];
            editors.edit(&sim, node, scenario.edits.size_bytes).await?;
        }
        sim.converged_without(&key, &[away], Duration::from_secs(300))
            .await?;
        let mut difference_bytes = 0;
        let mut changes = 0;
        while let Ok(applied) = witness.try_recv() {
            difference_bytes += applied.envelope.len();
            changes += 1;
        }
        if changes < difference {
            return Err(format!("node 0 saw {changes} of the {difference} changes").into());
        }
        let before = sim.links.received(away);
        let back = Instant::now();
        sim.restart(away).await?;
        sim.converged(&key, Duration::from_secs(600)).await?;
        let seconds = back.elapsed().as_secs_f64();
        let bytes = sim.links.received(away) - before;
        let sync = sync_received(&sim, away, &key).await?;
        rows.push(OfflineRound {
            edits: difference,
            difference: difference_bytes,
            seconds,
            received: bytes,
            sync,
        });
    }
    let mut lines = vec![
        format!(
            "offline-week: {nodes} nodes on {key}, {} ms links, {} Mbit/s; a node away while its commune edits, then back",
            scenario.network.latency_ms,
            scenario
                .network
                .bandwidth_mbit
                .map_or("unlimited".into(), |m| m.to_string())
        ),
        format!(
            "{:>10} {:>16} {:>14} {:>16} {:>18} {:>16} {:>12} {:>16} {:>12}",
            "edits",
            "difference bytes",
            "catch-up s",
            "bytes received",
            "received / diff",
            "reconciliation",
            "pulls",
            "peers' requests",
            "the rest"
        ),
    ];
    let mut json_rows = Vec::new();
    for round in &rows {
        let sync = &round.sync;
        let rest = round
            .received
            .saturating_sub(sync.reconcile + sync.pull + sync.requests);
        lines.push(format!(
            "{:>10} {:>16} {:>14.2} {:>16} {:>18.2} {:>16} {:>12} {:>16} {rest:>12}",
            round.edits,
            round.difference,
            round.seconds,
            round.received,
            round.received as f64 / round.difference as f64,
            sync.reconcile,
            sync.pull,
            sync.requests,
        ));
        json_rows.push(json!({
            "edits": round.edits,
            "difference_bytes": round.difference,
            "catch_up_s": round.seconds,
            "received_bytes": round.received,
            "reconciliation_answers_bytes": sync.reconcile,
            "pull_answers_bytes": sync.pull,
            "peer_sync_requests_bytes": sync.requests,
            "other_received_bytes": rest,
        }));
    }
    lines.push("catch-up ends when every node holds identical heads again; reconciliation and pulls: the answers to the node's own sync sessions, as encoded; peers' requests: those of its peers' sessions with it; the rest: connection set-up, gossip and its control messages, pings, framing".into());
    let json =
        json!({"scenario": "offline-week", "nodes": nodes, "rounds": json_rows, "converged": true});
    Ok(Report { lines, json })
}

async fn churn(scenario: &Scenario) -> Result<Report, SimError> {
    let mut sim = build(scenario).await?;
    let key = sim.nodes[0].postal_key.clone();
    let nodes = sim.nodes.len() as u32;
    let leaving_count = ((f64::from(nodes) * scenario.churn.fraction).round() as u32).max(1);
    let mut leaving: Vec<u32> = Vec::new();
    while (leaving.len() as u32) < leaving_count {
        let n = 1 + (sim.random() % u64::from(nodes - 1)) as u32;
        if !leaving.contains(&n) {
            leaving.push(n);
        }
    }
    for n in &leaving {
        sim.stop(*n);
    }
    // Everyone keeps editing, those away too (on their own store).
    let mut editors = Editors::new();
    let away = Duration::from_secs(scenario.churn.offline_s);
    let edits_window = Duration::from_secs(scenario.edits.duration_s).min(away);
    let started = Instant::now();
    let mut made = 0;
    while started.elapsed() < edits_window {
        let node = (sim.random() % u64::from(nodes)) as u32;
        editors.edit(&sim, node, scenario.edits.size_bytes).await?;
        made += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep_until(started + away).await;
    for n in &leaving {
        sim.restart(*n).await?;
    }
    let back = Instant::now();
    sim.converged(&key, Duration::from_secs(600)).await?;
    let seconds = back.elapsed().as_secs_f64();
    let documents = sim.states(&key)?[0].len();
    let lines = vec![
        format!(
            "churn: {nodes} nodes on {key}, {} ms links; {leaving_count} left for {} s while {made} edits were made (some by those away)",
            scenario.network.latency_ms, scenario.churn.offline_s
        ),
        format!(
            "back: every node holds the same {documents} documents with identical heads {seconds:.1} s after they rejoined"
        ),
    ];
    let json = json!({
        "scenario": "churn",
        "nodes": nodes,
        "left": leaving_count,
        "offline_s": scenario.churn.offline_s,
        "edits": made,
        "documents": documents,
        "converged_s": seconds,
        "converged": true,
    });
    Ok(Report { lines, json })
}

async fn partition(scenario: &Scenario) -> Result<Report, SimError> {
    let sim = build(scenario).await?;
    let key = sim.nodes[0].postal_key.clone();
    let nodes = sim.nodes.len() as u32;
    let shared = sim.add(0, "Maison des associations").await?;
    sim.converged(&key, Duration::from_secs(120)).await?;
    let (west, east): (Vec<u32>, Vec<u32>) = (0..nodes).partition(|n| n % 2 == 0);
    sim.links.partition(&west, &east);
    // Both halves edit the same entity, and add their own.
    for (side, name) in [(&west, "ouest"), (&east, "est")] {
        sim.edit(
            side[0],
            shared,
            vec![Edit::Set(
                Field::ShortDescription,
                Value::Text(format!("Côté {name}")),
            )],
        )
        .await?;
        for (n, node) in side.iter().take(5).enumerate() {
            sim.add(*node, &format!("Association {name} {n}")).await?;
        }
    }
    tokio::time::sleep(Duration::from_secs(scenario.partition.seconds)).await;
    sim.links.heal();
    let healed = sim.converged(&key, Duration::from_secs(600)).await?;
    let lines = vec![
        format!(
            "partition: {nodes} nodes on {key} split in two for {} s, both halves editing (the same entity among others)",
            scenario.partition.seconds
        ),
        format!(
            "healed: identical heads on every node {:.1} s after the split ended",
            healed.as_secs_f64()
        ),
    ];
    let json = json!({
        "scenario": "partition",
        "nodes": nodes,
        "apart_s": scenario.partition.seconds,
        "heal_s": healed.as_secs_f64(),
        "converged": true,
    });
    Ok(Report { lines, json })
}

async fn newcomer(scenario: &Scenario) -> Result<Report, SimError> {
    let mut sim = Simulation::new(scenario.network.link(), scenario.seed);
    sim.bootstrap_peers = 0;
    let code = scenario.population.postal_code.clone();
    sim.add_relay(std::slice::from_ref(&code)).await?;
    let documents = scenario.edits.documents;
    let prepared = Instant::now();
    let (author, _) = node::model::sample::author(9);
    let envelopes = node::model::sample::directory(&author, &code, documents);
    let directory_bytes: usize = envelopes.iter().map(Vec::len).sum();
    let store = sim.relays[0].relay.store.clone();
    tokio::task::spawn_blocking(move || -> Result<(), SimError> {
        for batch in envelopes.chunks(500) {
            ingest::ingest(&store, Origin::Local, batch)?;
        }
        Ok(())
    })
    .await??;
    eprintln!(
        "the relay holds {documents} documents ({directory_bytes} bytes of envelopes), prepared in {:.1} s",
        prepared.elapsed().as_secs_f64()
    );
    let joined = Instant::now();
    let newcomer = sim.add_node(&code).await?;
    sim.converged(&code, Duration::from_secs(1_800)).await?;
    let seconds = joined.elapsed().as_secs_f64();
    let held = sim.nodes[newcomer as usize]
        .local
        .store
        .sync_items(&code)?
        .len();
    if held < documents {
        return Err(format!("the newcomer holds {held} of {documents} documents").into());
    }
    let bytes = sim.links.received(newcomer);
    let link = &scenario.network;
    let lines = vec![
        format!(
            "newcomer: joins {code} through a relay holding {documents} documents, over {} ms links at {} Mbit/s",
            link.latency_ms,
            link.bandwidth_mbit
                .map_or("unlimited".into(), |m| m.to_string())
        ),
        format!(
            "{:>12} {:>16} {:>18} {:>16}",
            "seconds", "bytes received", "directory bytes", "received / dir"
        ),
        format!(
            "{seconds:>12.1} {bytes:>16} {directory_bytes:>18} {:>16.2}",
            bytes as f64 / directory_bytes as f64
        ),
        format!("the newcomer and the relay hold identical heads for all {held} documents"),
    ];
    let json = json!({
        "scenario": "newcomer",
        "documents": documents,
        "latency_ms": link.latency_ms,
        "bandwidth_mbit": link.bandwidth_mbit,
        "seconds": seconds,
        "received_bytes": bytes,
        "directory_bytes": directory_bytes,
        "converged": true,
    });
    Ok(Report { lines, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(shard: &str, nodes: f64, mean: f64, relay: f64) -> serde_json::Value {
        json!({
            "scenario": "department", "department": "974", "shard": shard,
            "nodes": nodes, "postal_codes": 2, "relays": 2, "edits": 10,
            "received_bytes_per_s_mean": mean, "received_bytes_per_s_p95": mean * 2.0,
            "received_bytes_per_s_max": mean * 3.0, "received_mb_per_real_day_mean": 1.0,
            "quiet_bytes_per_s_per_node": 100.0, "cpu_share_per_node": 0.001,
            "relay_received_bytes_per_s_mean": relay, "rss_bytes": 1e9,
            "foreign_documents": 0, "converged": true, "converged_after_s": nodes / 100.0,
        })
    }

    #[test]
    fn shards_sum_into_the_department() {
        let runs = [
            shard("1/3", 300.0, 1_000.0, 50.0),
            shard("3/3", 100.0, 3_000.0, 10.0),
        ];
        let sum = sum_department(&runs).unwrap().json;
        assert_eq!(sum["nodes"], 400.0);
        // Per node, weighted by nodes: (300 × 1,000 + 100 × 3,000) / 400.
        assert_eq!(sum["received_bytes_per_s_mean"], 1_500.0);
        assert_eq!(sum["received_bytes_per_s_max"], 9_000.0);
        // Each shard had two relays; the department's relays carry it all.
        assert_eq!(sum["relays_received_bytes_per_s"], 120.0);
        assert_eq!(sum["converged_after_s_max"], 3.0);
        assert_eq!(sum["missing"], json!([2]));
    }

    #[test]
    fn a_failed_or_repeated_shard_is_refused() {
        let mut failed = shard("2/3", 100.0, 1.0, 1.0);
        failed["converged"] = json!(false);
        assert!(sum_department(&[shard("1/3", 1.0, 1.0, 1.0), failed]).is_err());
        let twice = [shard("1/3", 1.0, 1.0, 1.0), shard("1/3", 1.0, 1.0, 1.0)];
        assert!(sum_department(&twice).is_err());
        let other = [shard("1/3", 1.0, 1.0, 1.0), shard("2/4", 1.0, 1.0, 1.0)];
        assert!(sum_department(&other).is_err());
        assert!(sum_department(&[]).is_err());
    }
}
