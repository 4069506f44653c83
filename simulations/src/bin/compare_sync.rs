//! One directory of 10,000 entity documents synced between two peers by
//! Communecter's catch-up sync, for a side-by-side comparison with
//! automerge-repo (`simulations/compare/`, run by hand with
//! `simulations/compare/run.sh`; docs/BENCHMARKS.md has the figures).
//!
//! ```sh
//! compare-sync export DIR
//! compare-sync ours DIR [--diff sync-now|gossip|reconnect] [--transport memory|tcp] [--home DIR]
//! ```
//!
//! - `export` writes what both sides sync: `DIR/full/<n>.automerge`, the
//!   saved Automerge document of sample organization `n`, and
//!   `DIR/diff/<n>.automerge` for ten of them with one more change each (a
//!   new description).
//! - `ours` signs those documents' changes as their author would, gives
//!   them to a first node, and measures a second node: empty, until it
//!   holds all 10,000 documents; then, once the first node holds the ten
//!   changes, until the second holds them too. The ten changes reach it by
//!   a catch-up session on the open connection (`sync-now`), by gossip as
//!   a citizen's edits would (`gossip`), or by the session that runs when
//!   it reconnects after being away while they were made (`reconnect`).
//!   Times run from the trigger (the second node's network starting, the
//!   sync request, the first node's ingest) to the commit that completes
//!   the second node's store. Bytes are everything both nodes received on
//!   their links (Noise, Yamux, identify, gossip and sync), counted by
//!   `node::net::links` on the memory transport; over TCP only the sync
//!   session's own messages are counted.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use node::ingest;
use node::ingest::Outcome;
use node::model::automerge::{Automerge, ChangeHash};
use node::model::document::{self, Edit};
use node::model::ids::EntityId;
use node::model::sample::{self, SAMPLE_TIME};
use node::model::schema::{Field, Value};
use node::model::signed::SignedChange;
use node::net::links::{Link, Links};
use node::net::{self, Client, Multiaddr, NetConfig};
use node::store::Store;
use node::store::{Applied, Origin, heads_hash};
use node::sync::{Item, SyncReport};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Documents in the directory.
const DOCUMENTS: usize = 10_000;
/// Their postal code, which is also their postal key.
const POSTAL_CODE: &str = "97400";
/// The sample author of every document.
const AUTHOR_SEED: u8 = 5;
/// The documents that get one more change: every thousandth.
const CHANGED: [usize; 10] = [
    0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000,
];
/// Envelopes ingested per transaction when the first node is filled.
const INGEST_BATCH: usize = 500;
/// Longest a phase may take before the comparison gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(600);
/// A phase's traffic is over once no byte moved for this long.
const QUIET: Duration = Duration::from_secs(1);
/// The node numbers of the two peers on the modelled links.
const HOLDER: u32 = 1;
const NEWCOMER: u32 = 2;

/// One directory of 10,000 entity documents synced between two peers by
/// Communecter's catch-up sync, for a side-by-side comparison with
/// automerge-repo (simulations/compare/run.sh runs both).
#[derive(Parser)]
#[command(name = "compare-sync")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes what both sides sync: DIR/full/<n>.automerge, the saved
    /// Automerge document of sample organization n, and
    /// DIR/diff/<n>.automerge for ten of them with one more change each (a
    /// new description)
    Export {
        /// Where the documents go
        dir: PathBuf,
    },
    /// Measures Communecter's sync of the exported documents
    ///
    /// Signs the documents' changes as their author would, gives them to a
    /// first node, and measures a second node: empty, until it holds all
    /// 10,000 documents; then, once the first node holds the ten changes,
    /// until the second holds them too. Times run from the trigger (the
    /// second node's network starting, the sync request, the first node's
    /// ingest) to the commit that completes the second node's store. Bytes
    /// are everything both nodes received on their links (Noise, Yamux,
    /// identify, gossip and sync) on the memory transport; over TCP only
    /// the sync session's own messages are counted.
    Ours {
        /// The directory `compare-sync export` wrote
        dir: PathBuf,
        #[command(flatten)]
        options: Options,
    },
}

fn main() {
    let result = match Cli::parse().command {
        Command::Export { dir } => export(&dir),
        Command::Ours { dir, options } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(Error::from)
            .and_then(|runtime| runtime.block_on(ours(&dir, &options))),
    };
    if let Err(error) = result {
        eprintln!("compare-sync: {error}");
        std::process::exit(1);
    }
}

/// How the ten changed documents reach the second node.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiffMode {
    /// The first node ingests them as received from elsewhere (not
    /// gossiped); the second node asks for a catch-up session on the open
    /// connection.
    SyncNow,
    /// The first node ingests them as its citizen's edits and gossips them.
    Gossip,
    /// The second node's network stops; the first node ingests them; the
    /// second node's network starts again and reconnects.
    Reconnect,
}

impl DiffMode {
    fn name(self) -> &'static str {
        match self {
            DiffMode::SyncNow => "sync-now",
            DiffMode::Gossip => "gossip",
            DiffMode::Reconnect => "reconnect",
        }
    }
}

/// How the two nodes connect.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum Transport {
    /// libp2p's in-process memory transport, through `node::net::links` links
    /// without latency or bandwidth limit, which count the bytes.
    Memory,
    /// TCP on 127.0.0.1.
    Tcp,
}

#[derive(Args)]
#[command(args_override_self = true)]
struct Options {
    /// How the ten changed documents reach the second node
    #[arg(long, value_enum, default_value_t = DiffMode::SyncNow)]
    diff: DiffMode,
    /// How the two nodes connect
    #[arg(long, value_enum, default_value_t = Transport::Memory)]
    transport: Transport,
    /// Where the two stores go (in a temporary directory made there)
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir())]
    home: PathBuf,
}

fn document_path(dir: &Path, set: &str, n: usize) -> PathBuf {
    dir.join(set).join(format!("{n}.automerge"))
}

/// Writes the full set and the ten changed documents.
fn export(dir: &Path) -> Result<(), Error> {
    let (key, actor) = sample::author(AUTHOR_SEED);
    for set in ["full", "diff"] {
        std::fs::create_dir_all(dir.join(set))?;
    }
    for n in 0..DOCUMENTS {
        let mut organization = sample::organization(&key, POSTAL_CODE, n);
        std::fs::write(document_path(dir, "full", n), organization.doc.save())?;
        if CHANGED.contains(&n) {
            let description = format!("L'association {n} a une nouvelle description.");
            let change = document::edit(
                &organization.doc,
                &actor,
                SAMPLE_TIME + 60_000,
                &[Edit::Set(Field::Description, Value::Text(description))],
            )?;
            organization.doc.apply_changes([change])?;
            std::fs::write(document_path(dir, "diff", n), organization.doc.save())?;
        }
    }
    println!(
        "exported {DOCUMENTS} documents to {} and {} changed ones to {}",
        dir.join("full").display(),
        CHANGED.len(),
        dir.join("diff").display()
    );
    Ok(())
}

/// The exported documents as the signed envelopes a node ingests, and
/// what the second node must hold after each phase.
struct Dataset {
    /// The genesis envelope of every document.
    full: Vec<Vec<u8>>,
    /// The envelopes of the ten new changes.
    diff: Vec<Vec<u8>>,
    /// The sync items (entity id, heads hash) of the full set, sorted.
    full_items: Vec<Item>,
    /// The sync items once the ten changes are applied, sorted.
    diff_items: Vec<Item>,
    /// The changed documents and all their change hashes.
    changed: Vec<(EntityId, BTreeSet<ChangeHash>)>,
}

/// Signs every change of `doc` not below `known` heads, as the sample
/// author; returns the document's id and the envelopes.
fn sign_changes(
    doc: &Automerge,
    known: &[ChangeHash],
    key: &node::model::ed25519_dalek::SigningKey,
) -> Result<(EntityId, Vec<Vec<u8>>), Error> {
    let (id, _) = document::identity(doc)?;
    let envelopes = doc
        .get_changes(known)
        .iter()
        .map(|change| {
            SignedChange::sign(key, id, POSTAL_CODE, change.raw_bytes()).map(|s| s.encode())
        })
        .collect::<Result<_, _>>()?;
    Ok((id, envelopes))
}

fn load(path: &Path) -> Result<Automerge, Error> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    Automerge::load(&bytes).map_err(|error| format!("{}: {error}", path.display()).into())
}

impl Dataset {
    fn read(dir: &Path) -> Result<Self, Error> {
        let (key, _) = sample::author(AUTHOR_SEED);
        let mut full = Vec::with_capacity(DOCUMENTS);
        let mut items = Vec::with_capacity(DOCUMENTS);
        let mut diff = Vec::new();
        let mut changed = Vec::new();
        let mut changed_items = Vec::new();
        for n in 0..DOCUMENTS {
            let doc = load(&document_path(dir, "full", n))?;
            let (id, envelopes) = sign_changes(&doc, &[], &key)?;
            full.extend(envelopes);
            items.push((*id.as_bytes(), heads_hash(&doc.get_heads())));
            let path = document_path(dir, "diff", n);
            if path.exists() {
                let newer = load(&path)?;
                let (_, envelopes) = sign_changes(&newer, &doc.get_heads(), &key)?;
                diff.extend(envelopes);
                let hashes = newer.get_changes(&[]).iter().map(|c| c.hash()).collect();
                changed.push((id, hashes));
                changed_items.push((*id.as_bytes(), heads_hash(&newer.get_heads())));
            }
        }
        let mut diff_items: Vec<Item> = items
            .iter()
            .map(|item| {
                changed_items
                    .iter()
                    .find(|newer| newer.0 == item.0)
                    .copied()
                    .unwrap_or(*item)
            })
            .collect();
        items.sort();
        diff_items.sort();
        Ok(Self {
            full,
            diff,
            full_items: items,
            diff_items,
            changed,
        })
    }
}

/// One of the two nodes: its store, and its network while it runs.
struct Peer {
    number: u32,
    store: Arc<Store>,
    seed: [u8; 32],
    network: Option<(Client, JoinHandle<()>)>,
}

impl Peer {
    fn open(home: &Path, number: u32) -> Result<Self, Error> {
        Ok(Self {
            number,
            store: Arc::new(Store::open(&home.join(format!("node-{number}.redb")))?),
            seed: [number as u8; 32],
            network: None,
        })
    }

    fn client(&self) -> Result<&Client, Error> {
        self.network
            .as_ref()
            .map(|(client, _)| client)
            .ok_or_else(|| format!("node {}'s network is not running", self.number).into())
    }

    /// Starts the network, dialling `bootstrap`; returns the address to
    /// dial it at.
    async fn start(
        &mut self,
        transport: Transport,
        links: &Arc<Links>,
        bootstrap: Vec<Multiaddr>,
    ) -> Result<Multiaddr, Error> {
        let base = NetConfig {
            bootstrap,
            mdns: false,
            ..NetConfig::default()
        };
        let config = match transport {
            Transport::Memory => NetConfig {
                listen: vec!["/memory/0".parse()?],
                memory: true,
                links: Some((links.clone(), self.number)),
                ..base
            },
            Transport::Tcp => NetConfig {
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
                ..base
            },
        };
        let network = net::start(
            self.store.clone(),
            self.seed,
            config,
            vec![POSTAL_CODE.to_owned()],
        )
        .await?;
        let status = network.0.status().await?;
        self.network = Some(network);
        let address = status.listen.first().ok_or("the node listens nowhere")?;
        Ok(address.parse()?)
    }

    fn stop(&mut self) {
        if let Some((_, task)) = self.network.take() {
            task.abort();
        }
    }

    /// The last report of this node's pulling session from `from`.
    async fn session_from(&self, from: &Peer) -> Result<Option<SyncReport>, Error> {
        let other = from.client()?.peer_id().to_string();
        let status = self.client()?.status().await?;
        Ok(status
            .peers
            .into_iter()
            .filter(|peer| peer.peer_id == other)
            .flat_map(|peer| peer.syncs)
            .filter_map(|sync| sync.report)
            .next())
    }

    /// Ingests envelopes in one transaction off the async threads; every
    /// one must be applied.
    async fn ingest(&self, origin: Origin, envelopes: Vec<Vec<u8>>) -> Result<(), Error> {
        let store = self.store.clone();
        let outcomes =
            tokio::task::spawn_blocking(move || ingest::ingest(&store, origin, &envelopes))
                .await??;
        match outcomes
            .iter()
            .find(|outcome| !matches!(outcome, Outcome::Applied { .. }))
        {
            Some(outcome) => {
                Err(format!("node {} did not apply a change: {outcome:?}", self.number).into())
            }
            None => Ok(()),
        }
    }
}

/// Waits until `done` holds, checking it now and after each change the
/// store applies; returns when it first held.
async fn until(
    mut applied: broadcast::Receiver<Applied>,
    done: impl Fn() -> Result<bool, Error>,
) -> Result<Instant, Error> {
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        if done()? {
            return Ok(Instant::now());
        }
        match tokio::time::timeout_at(deadline, applied.recv()).await {
            Err(_) => return Err("the second node did not catch up in time".into()),
            Ok(Err(RecvError::Closed)) => return Err("the store closed".into()),
            // One check for every change applied so far.
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {
                while !matches!(
                    applied.try_recv(),
                    Err(broadcast::error::TryRecvError::Empty
                        | broadcast::error::TryRecvError::Closed)
                ) {}
            }
        }
    }
}

/// Bytes both nodes received on their links so far; `None` over TCP.
fn link_bytes(links: &Links, transport: Transport) -> Option<u64> {
    (transport == Transport::Memory).then(|| links.received(HOLDER) + links.received(NEWCOMER))
}

/// Waits until no byte moved for [`QUIET`] (at most [`PHASE_TIMEOUT`]);
/// returns the bytes counted when the traffic stopped, and when it did.
async fn settled(links: &Links, transport: Transport) -> Option<(u64, Instant)> {
    let mut last = link_bytes(links, transport)?;
    let mut since = Instant::now();
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while since.elapsed() < QUIET && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = link_bytes(links, transport)?;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    Some((last, since))
}

/// What one phase took.
struct Phase {
    name: String,
    documents: usize,
    /// Until the second node held everything.
    time: Duration,
    /// Link bytes by then.
    bytes: Option<u64>,
    /// Link bytes once the traffic stopped.
    bytes_settled: Option<u64>,
    /// Until the traffic stopped.
    time_settled: Option<Duration>,
    /// The second node's pulling session, if one brought the documents.
    session: Option<SyncReport>,
}

impl Phase {
    /// The figures of a phase that started at `start`, when the links had
    /// carried `before` bytes, and whose documents were all held at
    /// `done`; waits until its traffic stopped.
    async fn measure(
        name: String,
        documents: usize,
        (start, before): (Instant, Option<u64>),
        done: Instant,
        links: &Links,
        transport: Transport,
    ) -> Self {
        let bytes = link_bytes(links, transport);
        let quiet = settled(links, transport).await;
        Self {
            name,
            documents,
            time: done - start,
            bytes: bytes.zip(before).map(|(bytes, before)| bytes - before),
            bytes_settled: quiet.zip(before).map(|((bytes, _), before)| bytes - before),
            time_settled: quiet.map(|(_, at)| at.max(done) - start),
            session: None,
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "documents": self.documents,
            "ms": self.time.as_secs_f64() * 1000.0,
            "bytes": self.bytes,
            "bytes_settled": self.bytes_settled,
            "settled_ms": self.time_settled.map(|time| time.as_secs_f64() * 1000.0),
            "sync_bytes": self.session.as_ref().map(|s| s.bytes),
            "rounds": self.session.as_ref().map(|s| s.rounds),
        })
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn table(phases: &[&Phase]) -> String {
    let cell = |n: Option<u64>| n.map_or("-".to_owned(), thousands);
    let mut out = format!(
        "{:<24} {:>10} {:>14} {:>14} {:>11} {:>12} {:>7}\n",
        "phase", "time ms", "bytes at done", "bytes settled", "settled ms", "sync bytes", "rounds"
    );
    for phase in phases {
        let _ = writeln!(
            out,
            "{:<24} {:>10.1} {:>14} {:>14} {:>11} {:>12} {:>7}",
            phase.name,
            phase.time.as_secs_f64() * 1000.0,
            cell(phase.bytes),
            cell(phase.bytes_settled),
            phase.time_settled.map_or("-".to_owned(), |time| format!(
                "{:.1}",
                time.as_secs_f64() * 1000.0
            )),
            cell(phase.session.as_ref().map(|s| s.bytes as u64)),
            cell(phase.session.as_ref().map(|s| s.rounds as u64)),
        );
    }
    out
}

/// Waits for the report of the second node's session from the first that
/// applied `applied` changes (it arrives just after the session's last
/// commit).
async fn report(
    newcomer: &Peer,
    holder: &Peer,
    applied: usize,
) -> Result<Option<SyncReport>, Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(report) = newcomer.session_from(holder).await?
            && report.applied == applied
        {
            return Ok(Some(report));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}

async fn ours(dir: &Path, options: &Options) -> Result<(), Error> {
    let started = Instant::now();
    let data = {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || Dataset::read(&dir)).await??
    };
    println!(
        "setup: {} documents and {} changes read and signed in {:.1} s ({} bytes of envelopes)",
        data.full.len(),
        data.diff.len(),
        started.elapsed().as_secs_f64(),
        data.full
            .iter()
            .chain(&data.diff)
            .map(Vec::len)
            .sum::<usize>()
    );
    let home = tempfile::tempdir_in(&options.home)?;
    let links = Links::new(Link::default());
    let mut holder = Peer::open(home.path(), HOLDER)?;
    let mut newcomer = Peer::open(home.path(), NEWCOMER)?;
    let started = Instant::now();
    for batch in data.full.chunks(INGEST_BATCH) {
        holder.ingest(Origin::Network, batch.to_vec()).await?;
    }
    println!(
        "setup: the first node ingested them in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let holder_address = holder.start(options.transport, &links, Vec::new()).await?;
    let transport = options.transport;

    // Full sync: the second node starts empty and dials the first.
    let applied = newcomer.store.subscribe();
    let start = (Instant::now(), link_bytes(&links, transport));
    newcomer
        .start(transport, &links, vec![holder_address.clone()])
        .await?;
    let store = newcomer.store.clone();
    let done = until(
        applied,
        || Ok(store.counts()?.documents == DOCUMENTS as u64),
    )
    .await?;
    let mut full = Phase::measure(
        "full sync".into(),
        DOCUMENTS,
        start,
        done,
        &links,
        transport,
    )
    .await;
    full.session = report(&newcomer, &holder, DOCUMENTS).await?;
    if newcomer.store.sync_items(POSTAL_CODE)? != data.full_items {
        return Err("after the full sync, the second node's documents differ".into());
    }

    // The ten changed documents.
    if let DiffMode::Reconnect = options.diff {
        newcomer.stop();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !holder.client()?.status().await?.peers.is_empty() {
            if Instant::now() > deadline {
                return Err("the first node still sees the second".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if let DiffMode::SyncNow | DiffMode::Reconnect = options.diff {
        holder.ingest(Origin::Network, data.diff.clone()).await?;
    }
    let applied = newcomer.store.subscribe();
    let start = (Instant::now(), link_bytes(&links, transport));
    match options.diff {
        DiffMode::SyncNow => {
            newcomer.client()?.sync_now().await?;
        }
        DiffMode::Gossip => holder.ingest(Origin::Local, data.diff.clone()).await?,
        DiffMode::Reconnect => {
            newcomer
                .start(transport, &links, vec![holder_address.clone()])
                .await?;
        }
    }
    let store = newcomer.store.clone();
    let done = until(applied, || {
        for (id, hashes) in &data.changed {
            if store
                .change_hashes(id)?
                .into_iter()
                .collect::<BTreeSet<_>>()
                != *hashes
            {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await?;
    let mut diff = Phase::measure(
        format!("{} changed ({})", data.changed.len(), options.diff.name()),
        data.changed.len(),
        start,
        done,
        &links,
        transport,
    )
    .await;
    diff.session = match options.diff {
        DiffMode::Gossip => None,
        DiffMode::SyncNow | DiffMode::Reconnect => {
            report(&newcomer, &holder, data.changed.len()).await?
        }
    };
    if newcomer.store.sync_items(POSTAL_CODE)? != data.diff_items {
        return Err("after the ten changes, the second node's documents differ".into());
    }
    holder.stop();
    newcomer.stop();

    let transport_name = match transport {
        Transport::Memory => "memory",
        Transport::Tcp => "tcp",
    };
    println!(
        "communecter catch-up sync: {DOCUMENTS} documents, {transport_name} transport, stores under {}",
        options.home.display()
    );
    print!("{}", table(&[&full, &diff]));
    println!(
        "{}",
        json!({
            "tool": "communecter",
            "transport": transport_name,
            "stores": options.home,
            "full": full.json(),
            "diff": {"mode": options.diff.name(), "figures": diff.json()},
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let Command::Ours { options, .. } = Cli::try_parse_from(["compare-sync", "ours", "d"])
            .unwrap()
            .command
        else {
            panic!("not ours");
        };
        assert!(matches!(options.diff, DiffMode::SyncNow));
        assert_eq!(options.transport, Transport::Memory);
        assert_eq!(options.home, std::env::temp_dir());
    }
}
