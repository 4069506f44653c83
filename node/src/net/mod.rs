//! The network: one libp2p swarm, driven by one event-loop task that the
//! rest of the node talks to only through [`Client`] (a bounded command
//! channel) — the Client/EventLoop pattern of rust-libp2p's examples.
//!
//! - Transports: TCP + Noise + Yamux, and QUIC; or, for tests and
//!   simulations, libp2p's in-process memory transport with Noise + Yamux.
//! - Behaviours: connection limits, identify, ping, gossipsub (one topic
//!   per postal key, `/communecter/1/cp/<postal key>`, every message
//!   validated by the ingest pipeline, peer scoring), mDNS (LAN discovery,
//!   may be turned off), Kademlia, request-response (catch-up sync).
//! - Changes committed locally are published on their postal key's topic;
//!   those larger than [`GOSSIP_MAX_BYTES`] are announced instead, and the
//!   receivers pull them by catch-up sync.
//! - A catch-up sync session runs with a peer for every postal key both
//!   follow, when the peer is first seen on the topic (on connect, and when
//!   a partition heals) and every [`NetConfig::sync_interval`].
//! - Peers met are remembered in the store and dialled again at start.

use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{IdentTopic, TopicHash};
use libp2p::identity::Keypair;
use libp2p::kad;
use libp2p::swarm::SwarmEvent;

use crate::store::{Store, StoreError};

mod announce;
mod behaviour;
mod budget;
mod client;
mod codec;
mod discovery;
mod event_loop;
mod gossip;
pub mod invite;
mod lan;
pub mod links;
mod peer_set;
pub mod relays;
mod rendezvous;
mod schedule;
mod sessions;
mod status;

pub use behaviour::KAD_PROTOCOL;
pub use client::Client;
pub use gossip::{ANNOUNCE_MAGIC, GOSSIP_MAX_BYTES};
pub use libp2p::{Multiaddr, PeerId};
pub use sessions::SYNC_PROTOCOL;
pub use status::{
    ClosedConnections, HolePunching, NetStatus, PeerStatus, RelayStatus, SyncProgress, SyncState,
    TopicStatus,
};

use event_loop::EventLoop;
use peer_set::DIAL_AT_START;

/// The gossip topic of a postal key.
pub fn topic(postal_key: &str) -> IdentTopic {
    IdentTopic::new(format!("/communecter/1/cp/{postal_key}"))
}

/// The postal key of a topic of ours.
fn postal_key_of(topic: &TopicHash) -> Option<&str> {
    topic.as_str().strip_prefix("/communecter/1/cp/")
}

/// How the network runs.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (relays, friends' nodes).
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Use the in-process memory transport only (tests, simulations).
    pub memory: bool,
    /// How often to sync with every peer.
    pub sync_interval: Duration,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// How often lost bootstrap peers are dialled again.
    pub redial_interval: Duration,
    /// Serve as a community relay with these limits (`communecter relay`).
    pub relay: Option<RelayLimits>,
    /// On the memory transport: the modelled links and this node's number
    /// among them (simulations).
    pub links: Option<(Arc<crate::net::links::Links>, u32)>,
    /// Peers kept connected beyond the gossip meshes, relays and bootstrap
    /// peers: past half as many again, the other peers are closed down to
    /// it, those that share no followed postal key first (the slack keeps
    /// nodes from closing and dialling peers by turns). A relay keeps every
    /// peer.
    pub peer_target: usize,
    /// A peer met this recently is not closed for the target: it has the
    /// time to say which topics it follows and to join a mesh.
    pub peer_grace: Duration,
    /// Forward every message to every peer of its topic (naive flooding)
    /// instead of gossipsub's mesh of about six: for comparisons only.
    pub flood: bool,
    /// Ping every connection this often: it measures round trips, keeps
    /// home routers' NAT mappings alive and finds dead connections, and
    /// costs every connection a wake-up.
    pub ping_interval: Duration,
    /// A connection whose ping is not answered within this is closed (the
    /// peer stopped answering: a partition, a sleeping laptop), so that it
    /// is dialled again rather than left to TCP's retransmission backoff.
    pub ping_timeout: Duration,
}

/// What a community relay allows its clients.
#[derive(Debug, Clone)]
pub struct RelayLimits {
    /// Peers holding a reservation (reachable through the relay) at once.
    pub max_reservations: usize,
    /// Relayed connections at once.
    pub max_circuits: usize,
    /// Relayed connections per peer at once.
    pub max_circuits_per_peer: usize,
    /// Longest life of a relayed connection.
    pub max_circuit_duration: Duration,
    /// Most bytes a relayed connection carries (both ways).
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 512,
            max_circuits: 64,
            max_circuits_per_peer: 4,
            max_circuit_duration: Duration::from_secs(10 * 60),
            max_circuit_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("a valid multiaddr"),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("a valid multiaddr"),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            memory: false,
            sync_interval: Duration::from_secs(300),
            heartbeat: Duration::from_secs(1),
            redial_interval: Duration::from_secs(30),
            relay: None,
            links: None,
            peer_target: 16,
            peer_grace: Duration::from_secs(15),
            flood: false,
            // A connection with no answered ping for 2 × 5 + 3 = 13 s is
            // closed (checked every 2 s).
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(3),
        }
    }
}

/// Why the network could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// libp2p refused the set-up.
    #[error("network set-up failed: {0}")]
    Setup(String),
    /// A listen address could not be used.
    #[error("cannot listen on {address}: {error}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        error: String,
    },
    /// A dial failed.
    #[error("cannot dial {0}")]
    Dial(String),
    /// The event loop has stopped.
    #[error("the network has stopped")]
    Stopped,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts the network of a node whose store is `store`, following
/// `postal_keys`; returns its client once it listens on every address.
pub async fn start(
    store: Arc<Store>,
    network_seed: [u8; 32],
    config: NetConfig,
    postal_keys: Vec<String>,
) -> Result<(Client, tokio::task::JoinHandle<()>), NetError> {
    let key = Keypair::ed25519_from_bytes(network_seed)
        .map_err(|error| NetError::Setup(error.to_string()))?;
    let mut swarm = behaviour::swarm(key, &config)?;
    for address in &config.listen {
        swarm
            .listen_on(address.clone())
            .map_err(|error| NetError::Listen {
                address: address.to_string(),
                error: error.to_string(),
            })?;
    }
    // Wait until every listener has an address, so that status and the
    // address file are complete.
    let mut listening = Vec::new();
    while listening.len() < config.listen.len() {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => listening.push(address),
            SwarmEvent::ListenerError { error, .. }
            | SwarmEvent::ListenerClosed {
                reason: Err(error), ..
            } => {
                return Err(NetError::Listen {
                    address: format!("{:?}", config.listen),
                    error: error.to_string(),
                });
            }
            _ => {}
        }
    }
    tracing::debug!(listen = ?listening, "listening");
    let (client, mut event_loop) = EventLoop::new(
        swarm,
        store.clone(),
        listening,
        network_seed,
        config.clone(),
    );
    // Relays, always on and reachable, hold the DHT; citizens' nodes only
    // ask it, so that its walks do not dial every node of the commune.
    let mode = if config.relay.is_some() {
        kad::Mode::Server
    } else {
        kad::Mode::Client
    };
    event_loop.swarm.behaviour_mut().kad.set_mode(Some(mode));
    for address in event_loop.listening.clone() {
        event_loop.add_external(address);
    }
    for postal_key in postal_keys {
        event_loop.follow(&postal_key);
    }
    for address in &config.bootstrap {
        event_loop.dial(address.clone());
    }
    for address in remembered(&store, DIAL_AT_START)? {
        event_loop.dial(address);
    }
    let handle = tokio::spawn(event_loop.run());
    Ok((client, handle))
}

/// Addresses of peers met before, most recent first.
fn remembered(store: &Store, limit: usize) -> Result<Vec<Multiaddr>, StoreError> {
    let mut peers: Vec<(u64, Vec<Multiaddr>)> = store
        .remembered_peers()?
        .into_iter()
        .map(|(_, seen, addrs)| (seen, addrs.iter().filter_map(|a| a.parse().ok()).collect()))
        .collect();
    peers.sort_by_key(|peer| std::cmp::Reverse(peer.0));
    Ok(peers
        .into_iter()
        .take(limit)
        .filter_map(|(_, addrs)| addrs.into_iter().next())
        .collect())
}
