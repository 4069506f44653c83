//! Many real Communecter nodes in one process: each with its own identity,
//! store and network (the node library's ingest, gossip and catch-up
//! sync), over libp2p's memory transport and the modelled links of
//! [`node::net::links`] (latency, jitter, bandwidth, loss, partitions).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use node::identity::DataDir;
use node::ingest;
use node::local::{Join, Local};
use node::model::document::Edit;
use node::model::document::NewEntity;
use node::model::ids::EntityId;
use node::model::schema::Kind;
use node::net::links::{Link, Links};
use node::net::{self, Client, NetConfig};
use node::random::Xorshift;
use node::relay::{Relay, RelayConfig};
use node::store::Origin;
use node::store::Store;
use tokio::task::JoinHandle;

pub mod plot;
pub mod runs;
pub mod scenario;
pub mod vote;

/// One node of a simulation.
pub struct SimNode {
    /// Its number on the modelled links.
    pub number: u32,
    /// The citizen's node.
    pub local: Arc<Local>,
    /// The postal key of its home postal code.
    pub postal_key: String,
    /// Its network, while it runs.
    pub client: Option<Client>,
    task: Option<JoinHandle<()>>,
    address: node::net::Multiaddr,
    _home: tempfile::TempDir,
}

/// A community relay of a simulation.
pub struct SimRelay {
    /// Its number on the modelled links.
    pub number: u32,
    /// The relay.
    pub relay: Relay,
    /// Its address, with its peer id.
    pub address: node::net::Multiaddr,
    _home: tempfile::TempDir,
}

/// Link numbers of relays start here, above any citizen's node.
pub const FIRST_RELAY: u32 = 1_000_000;

/// A simulation: nodes, their links, and what they share.
pub struct Simulation {
    /// The citizens' nodes, by number.
    pub nodes: Vec<SimNode>,
    /// The community relays; every node added dials them all.
    pub relays: Vec<SimRelay>,
    /// The network settings every node starts from (listen address,
    /// bootstrap peers and links are set per node).
    pub net: NetConfig,
    /// The links between them.
    pub links: Arc<Links>,
    /// How many running nodes of its postal code a node dials once at
    /// start (its bootstrap peers are the relays).
    pub bootstrap_peers: usize,
    /// Where the nodes' data directories go: memory-backed when the system
    /// has one (`/dev/shm`), so that a thousand stores committing at once
    /// do not queue on one disk as they would not on their own machines.
    pub home: std::path::PathBuf,
    random: Xorshift,
}

/// Why a simulation failed.
pub type SimError = Box<dyn std::error::Error + Send + Sync>;

/// The network settings of simulated nodes: memory transport, no mDNS,
/// sync every minute, redial lost peers every 2 s, the node's defaults
/// otherwise (gossipsub heartbeat 1 s, 16 peers kept).
pub fn sim_net_config() -> NetConfig {
    NetConfig {
        listen: Vec::new(),
        bootstrap: Vec::new(),
        mdns: false,
        memory: true,
        sync_interval: Duration::from_secs(60),
        redial_interval: Duration::from_secs(2),
        ..NetConfig::default()
    }
}

/// Dials `addresses` once; a neighbour gone away is no error.
async fn dial_all(client: &Client, addresses: Vec<node::net::Multiaddr>) {
    for address in addresses {
        let _ = client.dial(address).await;
    }
}

/// The memory address of a link number on a given attempt (a restarted
/// node listens on another port: the old listener may linger a moment).
fn memory_address(number: u32, attempt: u64) -> node::net::Multiaddr {
    format!("/memory/{}", (u64::from(number) + 1) * 1_000 + attempt)
        .parse()
        .expect("a memory multiaddr")
}

/// Seconds of CPU the whole process used (user + system), from
/// `/proc/self/stat` (Linux; clock ticks of 1/100 s); `None` elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Resident memory of the process in bytes, from `/proc/self/statm`
/// (pages of 4 KiB); `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4_096)
}

impl Simulation {
    /// An empty simulation whose links all behave as `link`.
    pub fn new(link: Link, seed: u64) -> Self {
        Self {
            nodes: Vec::new(),
            relays: Vec::new(),
            net: sim_net_config(),
            links: Links::new(link),
            bootstrap_peers: 3,
            home: ["/dev/shm"]
                .iter()
                .map(std::path::PathBuf::from)
                .find(|dir| dir.is_dir())
                .unwrap_or_else(std::env::temp_dir),
            random: Xorshift::new(seed),
        }
    }

    /// The next number of the simulation's random sequence (its seed
    /// fixes it).
    pub fn random(&mut self) -> u64 {
        self.random.next_u64()
    }

    fn config(&self, number: u32, attempt: u64, bootstrap: Vec<node::net::Multiaddr>) -> NetConfig {
        let mut config = self.net.clone();
        config.listen = vec![memory_address(number, attempt)];
        config.bootstrap = bootstrap;
        config.links = Some((self.links.clone(), number));
        config
    }

    /// Adds a community relay serving `serve` (postal codes or department
    /// codes, as `communecter relay --serve`); returns its link number.
    pub async fn add_relay(&mut self, serve: &[String]) -> Result<u32, SimError> {
        let number = FIRST_RELAY + self.relays.len() as u32;
        let home = tempfile::tempdir_in(&self.home)?;
        let mut net = self.config(number, 0, Vec::new());
        net.relay = Some(node::net::RelayLimits::default());
        let relay = Relay::start(RelayConfig {
            dir: DataDir::resolve(Some(home.path().join("relay")))?,
            serve: serve.to_vec(),
            net,
            addr_file: None,
            entry: None,
        })
        .await?;
        let address = memory_address(number, 0)
            .with_p2p(relay.client.peer_id())
            .unwrap_or_else(|address| address);
        self.relays.push(SimRelay {
            number,
            relay,
            address,
            _home: home,
        });
        Ok(number)
    }

    /// Adds a node that joins `postal_code` and dials every relay and a
    /// few random running nodes of its postal code once; returns its number.
    pub async fn add_node(&mut self, postal_code: &str) -> Result<u32, SimError> {
        let (local, home) = self.init_node(postal_code).await?;
        self.start_node(local, home).await
    }

    /// Adds a node that joins `postal_code` and dials `bootstrap`; returns
    /// its number.
    pub async fn add_node_with(
        &mut self,
        postal_code: &str,
        bootstrap: Vec<node::net::Multiaddr>,
    ) -> Result<u32, SimError> {
        let (local, home) = self.init_node(postal_code).await?;
        self.start_node_with(local, home, bootstrap, Vec::new())
            .await
    }

    /// A new citizen's node of `postal_code`, its network not started.
    async fn init_node(
        &mut self,
        postal_code: &str,
    ) -> Result<(Arc<Local>, tempfile::TempDir), SimError> {
        let home = tempfile::tempdir_in(&self.home)?;
        let dir = DataDir::resolve(Some(home.path().join("node")))?;
        let join = Join {
            postal_code: postal_code.into(),
            name: Some(format!("Habitant {}", self.nodes.len())),
            ..Join::default()
        };
        let local = tokio::task::spawn_blocking(move || Local::init(&dir, &join)).await??;
        Ok((Arc::new(local), home))
    }

    /// Adds `count` nodes that join `postal_code`, each already holding
    /// every other one's profile, as if they had met long ago: their
    /// stores are copies of one store holding all the profiles (with each
    /// node's own profile values), so that building a commune of a
    /// thousand nodes costs one ingest of their profiles rather than a
    /// thousand. The relays serving the postal code get them too. Each has
    /// every relay as bootstrap peer and dials a few running nodes of its
    /// postal code once; returns their numbers.
    pub async fn add_settled_nodes(
        &mut self,
        postal_code: &str,
        count: u32,
    ) -> Result<Vec<u32>, SimError> {
        let mut homes = Vec::new();
        let mut envelopes = Vec::new();
        let mut profiles = Vec::new();
        for n in 0..count {
            let home = tempfile::tempdir_in(&self.home)?;
            let dir = DataDir::resolve(Some(home.path().join("node")))?;
            let join = Join {
                postal_code: postal_code.into(),
                name: Some(format!("Habitant {}", self.nodes.len() as u32 + n)),
                ..Join::default()
            };
            let (values, own) = tokio::task::spawn_blocking(move || -> Result<_, SimError> {
                let local = Local::init(&dir, &join)?;
                let own = local.store.envelopes(&local.profile.person)?;
                Ok((local.store.profile_values()?, own))
            })
            .await??;
            envelopes.extend(own);
            profiles.push(values);
            homes.push(home);
        }
        let seed_home = tempfile::tempdir_in(&self.home)?;
        let seed_path = seed_home.path().join("seed.redb");
        {
            // The relays serving the postal code hold the profiles too.
            let key = node::model::schema::postal_key(postal_code, "FR");
            let relays: Vec<Arc<Store>> = self
                .relays
                .iter()
                .filter(|relay| relay.relay.postal_keys.contains(&key))
                .map(|relay| relay.relay.store.clone())
                .collect();
            let seed_path = seed_path.clone();
            tokio::task::spawn_blocking(move || -> Result<(), SimError> {
                let seed = Store::open(&seed_path)?;
                for store in relays.iter().chain([&Arc::new(seed)]) {
                    for batch in envelopes.chunks(500) {
                        ingest::ingest(store, Origin::Local, batch)?;
                    }
                }
                Ok(())
            })
            .await??;
        }
        let mut numbers = Vec::new();
        for (home, values) in homes.into_iter().zip(profiles) {
            let dir = DataDir::resolve(Some(home.path().join("node")))?;
            let seed_path = seed_path.clone();
            let local = tokio::task::spawn_blocking(move || -> Result<Local, SimError> {
                std::fs::copy(&seed_path, dir.store_path())?;
                {
                    let store = Store::open(&dir.store_path())?;
                    let values: Vec<(&str, &str)> = values
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    store.set_profile(&values)?;
                }
                Ok(Local::open(&dir)?)
            })
            .await??;
            numbers.push(self.start_node(Arc::new(local), home).await?);
        }
        Ok(numbers)
    }

    /// Starts the network of a node whose data directory is ready, dialling
    /// every relay and, once, a few running nodes of its postal code.
    async fn start_node(
        &mut self,
        local: Arc<Local>,
        home: tempfile::TempDir,
    ) -> Result<u32, SimError> {
        let (bootstrap, neighbours) = self.bootstrap_for(&local.profile.postal_key(), None);
        self.start_node_with(local, home, bootstrap, neighbours)
            .await
    }

    /// The relays (bootstrap peers, dialled again when lost) and
    /// [`Self::bootstrap_peers`] running nodes of `postal_key` picked at
    /// random (`except` one), dialled once, as a node meets its neighbours
    /// on the LAN or at a rendezvous point.
    fn bootstrap_for(
        &mut self,
        postal_key: &str,
        except: Option<u32>,
    ) -> (Vec<node::net::Multiaddr>, Vec<node::net::Multiaddr>) {
        let mut candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|n| {
                let node = &self.nodes[*n];
                Some(*n as u32) != except && node.postal_key == postal_key && node.client.is_some()
            })
            .collect();
        let mut neighbours = Vec::new();
        while neighbours.len() < self.bootstrap_peers && !candidates.is_empty() {
            let picked = (self.random() % candidates.len() as u64) as usize;
            neighbours.push(self.nodes[candidates.swap_remove(picked)].address.clone());
        }
        let relays = self.relays.iter().map(|r| r.address.clone()).collect();
        (relays, neighbours)
    }

    async fn start_node_with(
        &mut self,
        local: Arc<Local>,
        home: tempfile::TempDir,
        bootstrap: Vec<node::net::Multiaddr>,
        neighbours: Vec<node::net::Multiaddr>,
    ) -> Result<u32, SimError> {
        let number = self.nodes.len() as u32;
        let config = self.config(number, 0, bootstrap);
        let listen = config.listen[0].clone();
        let (client, task) = net::start(
            local.store.clone(),
            local.identity.network_seed,
            config,
            local.postal_keys()?,
        )
        .await?;
        let address = listen.with_p2p(client.peer_id()).unwrap_or_else(|a| a);
        dial_all(&client, neighbours).await;
        self.nodes.push(SimNode {
            number,
            postal_key: local.profile.postal_key(),
            local,
            client: Some(client),
            task: Some(task),
            address,
            _home: home,
        });
        Ok(number)
    }

    /// Stops a node's network (its laptop closes); its store stays.
    pub fn stop(&mut self, number: u32) {
        let node = &mut self.nodes[number as usize];
        if let Some(task) = node.task.take() {
            task.abort();
        }
        node.client = None;
    }

    /// Starts a stopped node's network again, dialling a few other nodes.
    pub async fn restart(&mut self, number: u32) -> Result<(), SimError> {
        let key = self.nodes[number as usize].postal_key.clone();
        let (bootstrap, neighbours) = self.bootstrap_for(&key, Some(number));
        // The memory listener of the stopped network may linger a moment:
        // listen on another port.
        let attempt = 1 + self.random() % 999;
        let config = self.config(number, attempt, bootstrap);
        let node = &self.nodes[number as usize];
        let listen = config.listen[0].clone();
        let (client, task) = net::start(
            node.local.store.clone(),
            node.local.identity.network_seed,
            config,
            node.local.postal_keys()?,
        )
        .await?;
        let address = listen.with_p2p(client.peer_id()).unwrap_or_else(|a| a);
        dial_all(&client, neighbours).await;
        let node = &mut self.nodes[number as usize];
        node.client = Some(client);
        node.task = Some(task);
        node.address = address;
        Ok(())
    }

    /// Adds an organization through node `number`.
    pub async fn add(&self, number: u32, name: &str) -> Result<EntityId, SimError> {
        let local = self.nodes[number as usize].local.clone();
        let name = name.to_owned();
        let entity = tokio::task::spawn_blocking(move || {
            local.add(&NewEntity::new(Kind::Organization, name, Vec::new()))
        })
        .await??;
        Ok(entity.id)
    }

    /// Edits an entity through node `number`.
    pub async fn edit(&self, number: u32, id: EntityId, edits: Vec<Edit>) -> Result<(), SimError> {
        let local = self.nodes[number as usize].local.clone();
        tokio::task::spawn_blocking(move || local.edit(id, &edits)).await??;
        Ok(())
    }

    /// The stores that hold `postal_key`: its citizens' nodes and the
    /// relays serving it.
    pub fn stores_of(&self, postal_key: &str) -> Vec<Arc<Store>> {
        let nodes = self
            .nodes
            .iter()
            .filter(|node| node.postal_key == postal_key)
            .map(|node| node.local.store.clone());
        let relays = self
            .relays
            .iter()
            .filter(|relay| relay.relay.postal_keys.iter().any(|key| key == postal_key))
            .map(|relay| relay.relay.store.clone());
        nodes.chain(relays).collect()
    }

    /// The postal keys of the citizens' nodes, each once, sorted.
    pub fn postal_keys(&self) -> Vec<String> {
        let keys: std::collections::BTreeSet<&String> =
            self.nodes.iter().map(|node| &node.postal_key).collect();
        keys.into_iter().cloned().collect()
    }

    /// The documents of `postal_key` and their heads (hash of the sorted
    /// heads) in each store that holds it ([`Self::stores_of`]), as
    /// catch-up sync sees them.
    pub fn states(&self, postal_key: &str) -> Result<Vec<BTreeMap<String, String>>, SimError> {
        states_of(&self.stores_of(postal_key), postal_key)
    }

    /// Like [`Self::converged`], leaving out the nodes `away` (stopped).
    pub async fn converged_without(
        &self,
        postal_key: &str,
        away: &[u32],
        limit: Duration,
    ) -> Result<Duration, SimError> {
        let away: Vec<Arc<Store>> = away
            .iter()
            .map(|n| self.nodes[*n as usize].local.store.clone())
            .collect();
        let stores: Vec<Arc<Store>> = self
            .stores_of(postal_key)
            .into_iter()
            .filter(|store| !away.iter().any(|a| Arc::ptr_eq(a, store)))
            .collect();
        wait_identical(&stores, postal_key, limit).await
    }

    /// Waits until every postal key has converged ([`Self::converged`]),
    /// at most `limit` in all; returns how long it took.
    pub async fn converged_all(&self, limit: Duration) -> Result<Duration, SimError> {
        let start = tokio::time::Instant::now();
        for key in self.postal_keys() {
            let left = limit.saturating_sub(start.elapsed());
            self.converged(&key, left)
                .await
                .map_err(|error| format!("postal code {key}: {error}"))?;
        }
        Ok(start.elapsed())
    }

    /// Waits until every node holds the same documents with the same heads
    /// for `postal_key`, at most `limit`; returns how long it took, or an
    /// error saying how far apart they are.
    pub async fn converged(&self, postal_key: &str, limit: Duration) -> Result<Duration, SimError> {
        wait_identical(&self.stores_of(postal_key), postal_key, limit).await
    }
}

/// The documents of `postal_key` and their heads (hash of the sorted heads)
/// in each of `stores`.
fn states_of(
    stores: &[Arc<Store>],
    postal_key: &str,
) -> Result<Vec<BTreeMap<String, String>>, SimError> {
    stores
        .iter()
        .map(|store| {
            let items = store.sync_items(postal_key)?;
            Ok(items
                .into_iter()
                .map(|(id, heads)| {
                    (
                        EntityId::from_bytes(id).to_string(),
                        node::model::ids::hex(&heads),
                    )
                })
                .collect())
        })
        .collect()
}

/// Waits until `stores` hold the same documents with the same heads for
/// `postal_key`, at most `limit`; returns how long it took, or an error
/// saying how far apart they are.
async fn wait_identical(
    stores: &[Arc<Store>],
    postal_key: &str,
    limit: Duration,
) -> Result<Duration, SimError> {
    let start = tokio::time::Instant::now();
    // Reading a thousand stores costs: look less often in large runs.
    let pause = Duration::from_millis(100 + stores.len() as u64 / 2);
    loop {
        let states = states_of(stores, postal_key)?;
        if states.windows(2).all(|pair| pair[0] == pair[1]) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            let sizes: Vec<usize> = states.iter().map(BTreeMap::len).collect();
            let differing = states.iter().filter(|state| **state != states[0]).count();
            return Err(format!(
                "no convergence after {limit:?}: {differing} of {} stores differ from the first; documents per store: {sizes:?}",
                states.len()
            )
            .into());
        }
        tokio::time::sleep(pause).await;
    }
}
