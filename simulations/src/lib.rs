//! Many real Communecter nodes in one process: each with its own identity,
//! store and network (the node library's ingest, gossip and catch-up
//! sync), over libp2p's memory transport and the modelled links of
//! [`node::links`] (latency, jitter, bandwidth, loss, partitions).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use node::identity::DataDir;
use node::links::{Link, Links};
use node::local::{Join, Local, NewEntity};
use node::model::document::Edit;
use node::model::ids::EntityId;
use node::model::schema::Kind;
use node::net::{self, Client, NetConfig};
use tokio::task::JoinHandle;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// One node of a simulation.
pub struct SimNode {
    /// Its number on the modelled links.
    pub number: u32,
    /// The citizen's node.
    pub local: Arc<Local>,
    /// Its network, while it runs.
    pub client: Option<Client>,
    task: Option<JoinHandle<()>>,
    address: node::net::Multiaddr,
    _home: tempfile::TempDir,
}

/// A simulation: nodes, their links, and what they share.
pub struct Simulation {
    /// The nodes, by number.
    pub nodes: Vec<SimNode>,
    /// The links between them.
    pub links: Arc<Links>,
    /// How many earlier nodes each node dials at start.
    pub bootstrap_peers: usize,
    random: u64,
}

/// Why a simulation failed.
pub type SimError = Box<dyn std::error::Error + Send + Sync>;

fn memory_config(
    links: &Arc<Links>,
    number: u32,
    bootstrap: Vec<node::net::Multiaddr>,
) -> NetConfig {
    NetConfig {
        listen: vec![
            format!("/memory/{}", 1_000_000 + u64::from(number))
                .parse()
                .expect("a memory multiaddr"),
        ],
        bootstrap,
        mdns: false,
        memory: true,
        sync_interval: Duration::from_secs(60),
        heartbeat: Duration::from_millis(500),
        redial_interval: Duration::from_secs(2),
        relay: None,
        links: Some((links.clone(), number)),
    }
}

impl Simulation {
    /// An empty simulation whose links all behave as `link`.
    pub fn new(link: Link, seed: u64) -> Self {
        Self {
            nodes: Vec::new(),
            links: Links::new(link),
            bootstrap_peers: 3,
            random: seed | 1,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }

    /// Adds a node that joins `postal_code` and dials a few random earlier
    /// nodes; returns its number.
    pub async fn add_node(&mut self, postal_code: &str) -> Result<u32, SimError> {
        let number = self.nodes.len() as u32;
        let home = tempfile::tempdir()?;
        let dir = DataDir::resolve(Some(home.path().join("node")))?;
        let join = Join {
            postal_code: postal_code.into(),
            name: Some(format!("Habitant {number}")),
            ..Join::default()
        };
        let local = Arc::new(tokio::task::spawn_blocking(move || Local::init(&dir, &join)).await??);
        let mut bootstrap = Vec::new();
        for _ in 0..self.bootstrap_peers.min(self.nodes.len()) {
            let peer = (self.next_random() % self.nodes.len() as u64) as usize;
            bootstrap.push(self.nodes[peer].address.clone());
        }
        let config = memory_config(&self.links, number, bootstrap);
        let address = config.listen[0].clone();
        let (client, task) = net::start(
            local.store.clone(),
            local.identity.network_seed,
            config,
            local.postal_keys()?,
        )
        .await?;
        self.nodes.push(SimNode {
            number,
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
        let mut bootstrap = Vec::new();
        for _ in 0..self.bootstrap_peers {
            let peer = (self.next_random() % self.nodes.len() as u64) as usize;
            if peer != number as usize {
                bootstrap.push(self.nodes[peer].address.clone());
            }
        }
        // The memory listener of the stopped network may linger a moment:
        // listen on another port.
        let port = 2_000_000 + u64::from(number) * 1_000 + self.next_random() % 1_000;
        let mut config = memory_config(&self.links, number, bootstrap);
        config.listen = vec![
            format!("/memory/{port}")
                .parse()
                .expect("a memory multiaddr"),
        ];
        let node = &self.nodes[number as usize];
        let address = config.listen[0].clone();
        let (client, task) = net::start(
            node.local.store.clone(),
            node.local.identity.network_seed,
            config,
            node.local.postal_keys()?,
        )
        .await?;
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

    /// Each node's documents of `postal_key` and their heads (hash of the
    /// sorted heads), as its catch-up sync sees them.
    pub fn states(&self, postal_key: &str) -> Result<Vec<BTreeMap<String, String>>, SimError> {
        self.nodes
            .iter()
            .map(|node| {
                let items = node.local.store.sync_items(postal_key)?;
                Ok(items
                    .into_iter()
                    .map(|(id, heads)| (EntityId::from_bytes(id).to_string(), hex(&heads)))
                    .collect())
            })
            .collect()
    }

    /// Waits until every node holds the same documents with the same heads
    /// for `postal_key`, at most `limit`; returns how long it took, or an
    /// error saying how far apart they are.
    pub async fn converged(&self, postal_key: &str, limit: Duration) -> Result<Duration, SimError> {
        let start = tokio::time::Instant::now();
        loop {
            let states = self.states(postal_key)?;
            if states.windows(2).all(|pair| pair[0] == pair[1]) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > limit {
                let sizes: Vec<usize> = states.iter().map(BTreeMap::len).collect();
                let differing = states.iter().filter(|state| **state != states[0]).count();
                return Err(format!(
                    "no convergence after {limit:?}: {differing} nodes differ from node 0; documents per node: {sizes:?}"
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
