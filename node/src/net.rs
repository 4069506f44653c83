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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crdt_model::ids::EntityId;
use crdt_model::signed::SignedChange;
use libp2p::futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{
    StreamProtocol, Swarm, autonat, connection_limits, dcutr, identify, kad, mdns, noise, ping,
    relay, rendezvous, tcp, yamux,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::ingest::{Fault, Origin, Outcome};
use crate::random::Xorshift;
use crate::store::{PEERS, Store, StoreError};
use crate::sync::{self, Request, Response, SyncError, SyncReport};

pub use libp2p::{Multiaddr, PeerId};

/// Largest gossip message; larger changes are announced and pulled.
pub const GOSSIP_MAX_BYTES: usize = 64 * 1024;
/// The sync protocol.
pub const SYNC_PROTOCOL: &str = "/communecter/sync/2";
/// The Kademlia protocol.
pub const KAD_PROTOCOL: &str = "/communecter/kad/1";
/// The relay protocol a relay server speaks.
const RELAY_HOP_PROTOCOL: &str = "/libp2p/circuit/relay/0.2.0/hop";
/// Magic of an announcement (a change too large for gossip).
pub const ANNOUNCE_MAGIC: &[u8; 4] = b"CMAN";
/// Commands queued for the event loop at most.
const COMMAND_QUEUE: usize = 256;
/// Gossip messages waiting for validation at most; beyond, they are ignored.
const VALIDATION_QUEUE: usize = 1024;
/// Gossip messages validated in one ingest batch at most.
const VALIDATION_BATCH: usize = 256;
/// Sync requests answered at once at most; beyond, they are refused.
const MAX_ANSWERING: usize = 16;
/// Peers remembered at most.
const MAX_REMEMBERED: usize = 256;
/// Remembered peers dialled at start at most.
const DIAL_AT_START: usize = 16;
/// A peer is not synced with again for a postal key sooner than this,
/// unless asked.
const SYNC_COOLDOWN: Duration = Duration::from_secs(2);
/// Connections a node keeps open at most (a relay: twice its reservations).
const MAX_CONNECTIONS: u32 = 256;
/// The mesh size that makes gossipsub flood ([`NetConfig::flood`]): more
/// than the connections a node keeps.
const FLOOD_MESH: usize = 1_024;
/// How often the peer set is trimmed back to [`NetConfig::peer_target`].
const PRUNE_INTERVAL: Duration = Duration::from_secs(5);
/// Peers of a followed postal key a node looks for at the rendezvous
/// points, whatever its other peers: a gossip mesh's worth.
const PEERS_PER_KEY: usize = 6;
/// Registrations at a rendezvous point live two hours
/// (`rendezvous::DEFAULT_TTL`): a node registers again after one.
const REGISTER_AGAIN: Duration = Duration::from_secs(3600);
/// Nodes a rendezvous point lists in one answer; the next discovery goes
/// on from there.
const DISCOVER_LIMIT: u64 = 32;
/// A node still short of peers at the end of a rendezvous point's list
/// asks for the whole list again this much later (meanwhile, only nodes
/// registered since).
const LIST_AGAIN: Duration = Duration::from_secs(600);
/// A lost peer's connection that lasted this long was no trimming of the
/// other side's: the next loss starts its backoff over.
const LOST_RESET: Duration = Duration::from_secs(300);
/// A lost peer is given up once its backoff is this many redial
/// intervals.
const LOST_GIVE_UP: u32 = 64;

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
    pub links: Option<(Arc<crate::links::Links>, u32)>,
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
    /// Ping every connection this often: it measures round trips and keeps
    /// home routers' NAT mappings alive, and costs every connection a
    /// wake-up.
    pub ping_interval: Duration,
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
            ping_interval: Duration::from_secs(30),
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

/// The last sync with a peer on a postal key.
#[derive(Debug, Clone, Serialize)]
pub struct SyncState {
    /// The postal key.
    pub postal_key: String,
    /// When it ended, seconds since the epoch.
    pub at: u64,
    /// What it did, if it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<SyncReport>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A connected peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    /// Its peer id.
    pub peer_id: String,
    /// Addresses of its connections.
    pub addrs: Vec<String>,
    /// Whether every connection to it goes through a relay.
    pub relayed: bool,
    /// Postal keys it follows that this node follows too.
    pub postal_keys: Vec<String>,
    /// Its gossipsub score, as this node sees it.
    pub score: Option<f64>,
    /// Whether it is in this node's gossip mesh of a followed postal key
    /// (messages go to it at once, not on request).
    pub mesh: bool,
    /// The last sync per shared postal key.
    pub syncs: Vec<SyncState>,
}

/// A followed postal key.
#[derive(Debug, Clone, Serialize)]
pub struct TopicStatus {
    /// The postal key.
    pub postal_key: String,
    /// Connected peers following it.
    pub peers: usize,
    /// Those of them in this node's gossip mesh of the topic.
    pub mesh: usize,
    /// When a sync on it last ended, seconds since the epoch.
    pub last_sync: Option<u64>,
}

/// What the network is doing.
#[derive(Debug, Clone, Serialize)]
pub struct NetStatus {
    /// This node's peer id.
    pub peer_id: String,
    /// Addresses it listens on, with its peer id.
    pub listen: Vec<String>,
    /// Followed postal keys.
    pub topics: Vec<TopicStatus>,
    /// Connected peers.
    pub peers: Vec<PeerStatus>,
    /// Gossip messages refused, by fault.
    pub rejected: HashMap<String, u64>,
    /// Connections opened since start (closed ones included).
    pub connections_opened: u64,
    /// Connections closed since start, by why.
    pub connections_closed: ClosedConnections,
    /// Attempts to turn relayed connections into direct ones.
    pub hole_punching: HolePunching,
    /// Sync requests peers sent this node since start.
    pub sync_requests: u64,
    /// Their bytes, as encoded.
    pub sync_request_bytes: u64,
    /// Sync sessions pulling documents right now.
    pub syncing: Vec<SyncProgress>,
    /// What the relay server does, on a relay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayStatus>,
}

/// Connections closed since a node started, by why: a settled peer set
/// closes few, and the reasons tell churn from a failing network.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ClosedConnections {
    /// Closed by this node to keep its peer target.
    pub trimmed: u64,
    /// Closed after two minutes with nothing open on them.
    pub idle: u64,
    /// Ended by an I/O error: the peer went away or closed it, the link
    /// failed.
    pub failed: u64,
    /// Closed cleanly for another reason.
    pub other: u64,
}

impl ClosedConnections {
    /// The counts with their names, always in this order.
    pub fn by_why(&self) -> [(&'static str, u64); 4] {
        [
            ("trimmed", self.trimmed),
            ("idle", self.idle),
            ("failed", self.failed),
            ("other", self.other),
        ]
    }
}

/// Hole punching (DCUtR) since a node started: over a relayed connection,
/// both nodes dial each other's observed addresses at once, so that their
/// NATs let the connections through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HolePunching {
    /// Direct connections made.
    pub succeeded: u64,
    /// Attempts that failed; the relayed connection stays.
    pub failed: u64,
    /// Why the last one failed.
    pub last_error: Option<String>,
}

/// What a relay server does for nodes that cannot reach each other.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelayStatus {
    /// Nodes holding a reservation (reachable through this relay).
    pub reservations: usize,
    /// Circuits open now.
    pub circuits: usize,
    /// Circuits opened since start.
    pub circuits_opened: u64,
    /// Reservation and circuit requests refused (over the limits).
    pub refused: u64,
    /// Circuits cut for carrying more than the byte limit.
    pub cut_bytes: u64,
    /// Circuits cut for lasting longer than the duration limit.
    pub cut_duration: u64,
}

/// A sync session pulling documents.
#[derive(Debug, Clone, Serialize)]
pub struct SyncProgress {
    /// From whom.
    pub peer_id: String,
    /// The postal key.
    pub postal_key: String,
    /// Differing documents pulled so far.
    pub done: usize,
    /// Differing documents in all.
    pub total: usize,
}

enum Command {
    Follow(String),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, SyncError>>,
    },
    Answer {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Validated(Vec<(MessageId, PeerId, MessageAcceptance, Option<Fault>)>),
    Publish {
        postal_key: String,
        data: Vec<u8>,
    },
    Synced {
        peer: PeerId,
        postal_key: String,
        result: Result<SyncReport, String>,
    },
    SyncNow(oneshot::Sender<usize>),
    Status(oneshot::Sender<NetStatus>),
}

/// The handle the rest of the node uses to talk to the network.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
}

impl Client {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Follows a postal key: subscribes to its topic and syncs it.
    pub async fn follow(&self, postal_key: &str) -> Result<(), NetError> {
        self.send(Command::Follow(postal_key.to_owned())).await
    }

    /// Dials a peer; returns once the dial started.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Dial(address, reply)).await?;
        answer.await.map_err(|_| NetError::Stopped)?
    }

    /// Sends a sync request to a peer and waits for its answer.
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, SyncError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Request {
            peer,
            request,
            reply,
        })
        .await
        .map_err(|error| SyncError::Transport(error.to_string()))?;
        answer
            .await
            .map_err(|_| SyncError::Transport("the network has stopped".into()))?
    }

    /// Publishes bytes as they are on a postal key's topic. Peers validate
    /// them like any message; this is a tool for tests and diagnostics.
    pub async fn publish_raw(&self, postal_key: &str, data: Vec<u8>) -> Result<(), NetError> {
        self.send(Command::Publish {
            postal_key: postal_key.to_owned(),
            data,
        })
        .await
    }

    /// Starts a sync with every connected peer on every shared postal key
    /// (one peer at a time per key); returns how many sessions started or
    /// wait their turn.
    pub async fn sync_now(&self) -> Result<usize, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::SyncNow(reply)).await?;
        answer.await.map_err(|_| NetError::Stopped)
    }

    /// What the network is doing.
    pub async fn status(&self) -> Result<NetStatus, NetError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Status(reply)).await?;
        answer.await.map_err(|_| NetError::Stopped)
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    sync: request_response::Behaviour<SyncCodec>,
    relay_server: Toggle<relay::Behaviour>,
    relay_client: relay::client::Behaviour,
    dcutr: dcutr::Behaviour,
    autonat: autonat::Behaviour,
    rendezvous_server: Toggle<rendezvous::server::Behaviour>,
    rendezvous_client: rendezvous::client::Behaviour,
}

/// Sync messages on the wire: postcard, one message per stream direction,
/// at most [`sync::MAX_MESSAGE_BYTES`].
#[derive(Clone, Default)]
struct SyncCodec;

async fn read_message<T, M>(io: &mut T) -> std::io::Result<M>
where
    T: libp2p::futures::AsyncRead + Unpin + Send,
    M: for<'a> serde::Deserialize<'a>,
{
    let mut bytes = Vec::new();
    io.take(sync::MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    sync::decode(&bytes)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error.to_string()))
}

async fn write_message<T, M>(io: &mut T, message: &M) -> std::io::Result<()>
where
    T: libp2p::futures::AsyncWrite + Unpin + Send,
    M: Serialize,
{
    io.write_all(&sync::encode(message)).await?;
    io.close().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Request>
    where
        T: libp2p::futures::AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: libp2p::futures::AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> std::io::Result<()>
    where
        T: libp2p::futures::AsyncWrite + Unpin + Send,
    {
        write_message(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> std::io::Result<()>
    where
        T: libp2p::futures::AsyncWrite + Unpin + Send,
    {
        write_message(io, &response).await
    }
}

/// Scoring of one postal key's topic. Topics of a commune are quiet, so
/// nothing is expected of mesh peers (no delivery-rate penalties); an
/// invalid message costs a lot and is forgotten slowly.
fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 3600.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 100.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..gossipsub::TopicScoreParams::default()
    }
}

fn peer_score_params() -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        app_specific_weight: 0.0,
        ..gossipsub::PeerScoreParams::default()
    };
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::Ipv4Addr::LOCALHOST.into());
    params
}

fn message_id(message: &gossipsub::Message) -> MessageId {
    use sha2::Digest;
    MessageId::from(sha2::Sha256::digest(&message.data)[..20].to_vec())
}

fn behaviour(
    key: &Keypair,
    relay_client: relay::client::Behaviour,
    config: &NetConfig,
) -> Result<Behaviour, NetError> {
    let peer_id = key.public().to_peer_id();
    let mut gossip_config = gossipsub::ConfigBuilder::default();
    if config.flood {
        // Every peer of the topic in the mesh, no lazy gossip: each node
        // forwards each new message to all its peers.
        gossip_config
            .mesh_n_low(FLOOD_MESH)
            .mesh_n(FLOOD_MESH)
            .mesh_n_high(FLOOD_MESH)
            .gossip_lazy(0)
            .gossip_factor(0.0);
    }
    let gossip_config = gossip_config
        .heartbeat_interval(config.heartbeat)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(GOSSIP_MAX_BYTES + 1024)
        .build()
        .map_err(|error| NetError::Setup(error.to_string()))?;
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )
    .map_err(|error| NetError::Setup(error.to_string()))?;
    gossipsub
        .with_peer_score(
            peer_score_params(),
            gossipsub::PeerScoreThresholds::default(),
        )
        .map_err(|error| NetError::Setup(error.to_string()))?;
    let mdns = if config.mdns && !config.memory {
        Some(
            mdns::tokio::Behaviour::new(
                mdns::Config {
                    // Ask the LAN again soon when a first query was lost
                    // or answered by nobody (default: 5 minutes).
                    query_interval: Duration::from_secs(20),
                    ..mdns::Config::default()
                },
                peer_id,
            )
            .map_err(|error| NetError::Setup(format!("mDNS: {error}")))?,
        )
    } else {
        None
    };
    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    // The event loop refreshes the DHT itself, and only while the node has
    // fewer peers than it wants: every refresh dials peers.
    kad_config.set_periodic_bootstrap_interval(None);
    let kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    let sync = request_response::Behaviour::with_codec(
        SyncCodec,
        [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(60)),
    );
    // A relay keeps a connection to every node it serves.
    let max_established = config.relay.as_ref().map_or(MAX_CONNECTIONS, |limits| {
        MAX_CONNECTIONS.max(2 * limits.max_reservations as u32)
    });
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(max_established))
                .with_max_established_per_peer(Some(2))
                .with_max_pending_incoming(Some(64)),
        ),
        identify: identify::Behaviour::new(identify::Config::new(
            "/communecter/1".into(),
            key.public(),
        )),
        ping: ping::Behaviour::new(ping::Config::new().with_interval(config.ping_interval)),
        gossipsub,
        mdns: mdns.into(),
        kad,
        sync,
        relay_server: config
            .relay
            .as_ref()
            .map(|limits| {
                relay::Behaviour::new(
                    peer_id,
                    relay::Config {
                        max_reservations: limits.max_reservations,
                        max_circuits: limits.max_circuits,
                        max_circuits_per_peer: limits.max_circuits_per_peer,
                        max_circuit_duration: limits.max_circuit_duration,
                        max_circuit_bytes: limits.max_circuit_bytes,
                        ..relay::Config::default()
                    },
                )
            })
            .into(),
        relay_client,
        dcutr: dcutr::Behaviour::new(peer_id),
        autonat: autonat::Behaviour::new(peer_id, autonat::Config::default()),
        rendezvous_server: config
            .relay
            .as_ref()
            .map(|_| rendezvous::server::Behaviour::new(rendezvous::server::Config::default()))
            .into(),
        rendezvous_client: rendezvous::client::Behaviour::new(key.clone()),
    })
}

fn swarm(key: Keypair, config: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
    let setup = |error: &dyn std::fmt::Display| NetError::Setup(error.to_string());
    let idle = Duration::from_secs(120);
    if config.memory {
        use libp2p::Transport;
        Ok(libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|key| {
                // Every memory connection goes through the link model; without
                // one, links are instant.
                let (links, me) = config.links.clone().unwrap_or_else(|| {
                    (
                        crate::links::Links::new(crate::links::Link::default()),
                        u32::MAX,
                    )
                });
                libp2p::core::transport::MemoryTransport::default()
                    .and_then(move |connection, _| crate::links::connect(connection, me, links))
                    .upgrade(libp2p::core::upgrade::Version::V1)
                    .authenticate(noise::Config::new(key).expect("Noise accepts every ed25519 key"))
                    .multiplex(yamux::Config::default())
            })
            .map_err(|error| setup(&error))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|error| setup(&error))?
            .with_behaviour(|key, relay| behaviour(key, relay, config).map_err(Box::from))
            .map_err(|error| setup(&error))?
            .with_swarm_config(|swarm| swarm.with_idle_connection_timeout(idle))
            // Simulations slow their modelled links down many times: a
            // handshake of a few round trips outlasts the usual 10 s.
            .with_connection_timeout(Duration::from_secs(120))
            .build())
    } else {
        Ok(libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|error| setup(&error))?
            .with_quic()
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|error| setup(&error))?
            .with_behaviour(|key, relay| behaviour(key, relay, config).map_err(Box::from))
            .map_err(|error| setup(&error))?
            .with_swarm_config(|swarm| swarm.with_idle_connection_timeout(idle))
            .build())
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
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
    let peer_id = key.public().to_peer_id();
    let mut swarm = swarm(key, &config)?;
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
    let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let (validate_tx, validate_rx) = mpsc::channel(VALIDATION_QUEUE);
    let client = Client {
        commands: commands_tx.clone(),
        peer_id,
    };
    tokio::spawn(validate(store.clone(), validate_rx, commands_tx.clone()));
    let mut event_loop = EventLoop {
        swarm,
        store: store.clone(),
        commands,
        commands_tx,
        validate: validate_tx,
        applied: store.subscribe(),
        followed: HashSet::new(),
        listening,
        pending: HashMap::new(),
        syncing: HashSet::new(),
        queued: HashMap::new(),
        last_sync: HashMap::new(),
        rejected: HashMap::new(),
        connections: HashMap::new(),
        met: HashMap::new(),
        connections_opened: 0,
        connections_closed: ClosedConnections::default(),
        hole_punching: HolePunching::default(),
        sync_requests: 0,
        sync_request_bytes: 0,
        random: Xorshift::new(u64::from_le_bytes(
            network_seed[..8].try_into().expect("8 bytes"),
        )),
        rendezvous_points: HashSet::new(),
        at_points: HashMap::new(),
        announced: HashMap::new(),
        closing: HashSet::new(),
        lost: HashMap::new(),
        reserved: HashSet::new(),
        progress: Arc::default(),
        relay: config.relay.as_ref().map(|_| RelayStatus::default()),
        answering: Arc::new(tokio::sync::Semaphore::new(MAX_ANSWERING)),
        config: config.clone(),
    };
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

impl Store {
    /// Peers met before: peer id, last seen (seconds since the epoch),
    /// addresses.
    pub fn remembered_peers(&self) -> Result<Vec<(String, u64, Vec<String>)>, StoreError> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PEERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (peer, value) = entry?;
            let value: serde_json::Value = serde_json::from_str(value.value())
                .map_err(|error| StoreError::Corrupt(format!("peer record: {error}")))?;
            out.push((
                peer.value().to_owned(),
                value["last_seen"].as_u64().unwrap_or(0),
                value["addrs"]
                    .as_array()
                    .map(|addrs| {
                        addrs
                            .iter()
                            .filter_map(|a| a.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            ));
        }
        Ok(out)
    }

    /// Remembers a peer's addresses, forgetting the least recently seen
    /// peers beyond [`MAX_REMEMBERED`].
    pub fn remember_peer(&self, peer: &str, addrs: &[String]) -> Result<(), StoreError> {
        use redb::{ReadableTable, ReadableTableMetadata};
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(PEERS)?;
            let record = serde_json::json!({"addrs": addrs, "last_seen": now_secs()});
            table.insert(peer, record.to_string().as_str())?;
            if table.len()? > MAX_REMEMBERED as u64 {
                let mut oldest: Option<(u64, String)> = None;
                for entry in table.iter()? {
                    let (peer, value) = entry?;
                    let seen = serde_json::from_str::<serde_json::Value>(value.value())
                        .ok()
                        .and_then(|v| v["last_seen"].as_u64())
                        .unwrap_or(0);
                    if oldest.as_ref().is_none_or(|(s, _)| seen < *s) {
                        oldest = Some((seen, peer.value().to_owned()));
                    }
                }
                if let Some((_, peer)) = oldest {
                    table.remove(peer.as_str())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Validates gossip messages through the ingest pipeline, in batches, and
/// reports each verdict to the event loop.
async fn validate(
    store: Arc<Store>,
    mut queue: mpsc::Receiver<(MessageId, PeerId, Vec<u8>)>,
    commands: mpsc::Sender<Command>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < VALIDATION_BATCH {
            match queue.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let envelopes: Vec<Vec<u8>> = batch.iter().map(|(_, _, data)| data.clone()).collect();
        let store = store.clone();
        let outcomes =
            tokio::task::spawn_blocking(move || store.ingest_from(Origin::Network, &envelopes))
                .await;
        let verdicts = match outcomes {
            Ok(Ok(outcomes)) => batch
                .into_iter()
                .zip(outcomes)
                .map(|((id, source, _), outcome)| {
                    let (acceptance, fault) = verdict(&outcome);
                    (id, source, acceptance, fault)
                })
                .collect(),
            // The store failed: nothing was decided about these messages.
            _ => batch
                .into_iter()
                .map(|(id, source, _)| (id, source, MessageAcceptance::Ignore, None))
                .collect(),
        };
        if commands.send(Command::Validated(verdicts)).await.is_err() {
            return;
        }
    }
}

/// The gossip verdict of an ingest outcome.
fn verdict(outcome: &Outcome) -> (MessageAcceptance, Option<Fault>) {
    match outcome {
        Outcome::Applied { .. } => (MessageAcceptance::Accept, None),
        // Known already, or not checkable yet: not forwarded, not held
        // against the sender (sync brings what is missing).
        Outcome::Duplicate { .. } | Outcome::Pending { .. } => (MessageAcceptance::Ignore, None),
        Outcome::Rejected {
            fault: Fault::PendingFull,
            ..
        } => (MessageAcceptance::Ignore, Some(Fault::PendingFull)),
        Outcome::Rejected { fault, .. } => (MessageAcceptance::Reject, Some(*fault)),
    }
}

/// An announcement of a change too large for gossip: magic, entity id,
/// change hash.
fn announcement(doc: &EntityId, hash: &[u8; 32]) -> Vec<u8> {
    [&ANNOUNCE_MAGIC[..], doc.as_bytes(), hash].concat()
}

/// What gossip carries for the change `hash` of `doc`: its envelope, or
/// an announcement when the envelope is too large.
fn gossip_data(
    doc: &EntityId,
    hash: &crdt_model::automerge::ChangeHash,
    envelope: &[u8],
) -> Vec<u8> {
    if envelope.len() > GOSSIP_MAX_BYTES {
        announcement(doc, &hash.0)
    } else {
        envelope.to_vec()
    }
}

fn parse_announcement(data: &[u8]) -> Option<EntityId> {
    let rest = data.strip_prefix(&ANNOUNCE_MAGIC[..])?;
    (rest.len() == 48).then(|| EntityId::from_bytes(rest[..16].try_into().expect("16 bytes")))
}

/// Per (peer, postal key), the differing documents pulled and in all.
type SessionProgress = HashMap<(PeerId, String), (usize, usize)>;

/// A peer whose connection ended without this node closing it (a network
/// failure, a partition, its restart, or its own trimming), or a peer just
/// found on the LAN: dialled again, less and less often, while this node
/// lacks peers and is not connected to it.
struct Lost {
    /// Where it listens, as it said (identify, mDNS).
    addresses: Vec<Multiaddr>,
    /// Wait before the next dial; doubles with each one.
    wait: Duration,
    /// When it may be dialled again.
    next: Instant,
}

/// What a node did at one rendezvous point for one postal key.
#[derive(Default)]
struct AtPoint {
    /// When it last registered there.
    registered: Option<Instant>,
    /// Where its last discovery there ended: the next one lists only the
    /// nodes not listed yet.
    cookie: Option<rendezvous::Cookie>,
    /// When a discovery there last came back empty.
    listed_all: Option<Instant>,
}

/// An open connection.
struct Open {
    id: libp2p::swarm::ConnectionId,
    /// The peer's address; on the accepting side of a relayed connection,
    /// only its peer id.
    remote: Multiaddr,
    /// Whether it goes through a relay circuit.
    relayed: bool,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    store: Arc<Store>,
    commands: mpsc::Receiver<Command>,
    commands_tx: mpsc::Sender<Command>,
    validate: mpsc::Sender<(MessageId, PeerId, Vec<u8>)>,
    applied: tokio::sync::broadcast::Receiver<crate::ingest::Applied>,
    followed: HashSet<String>,
    listening: Vec<Multiaddr>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, SyncError>>>,
    syncing: HashSet<(PeerId, String)>,
    /// Peers waiting for their postal key's running session to end: one
    /// pull per postal key at a time, so that a node coming back does not
    /// fetch the same changes from every peer it meets.
    queued: HashMap<String, VecDeque<PeerId>>,
    last_sync: HashMap<(PeerId, String), (Instant, SyncState)>,
    rejected: HashMap<String, u64>,
    /// The open connections, per peer.
    connections: HashMap<PeerId, Vec<Open>>,
    /// When each connected peer was met (its first open connection).
    met: HashMap<PeerId, Instant>,
    connections_opened: u64,
    connections_closed: ClosedConnections,
    hole_punching: HolePunching,
    sync_requests: u64,
    sync_request_bytes: u64,
    /// State of the small random generator that spreads dials.
    random: Xorshift,
    /// Documents done and differing, per sync session running.
    progress: Arc<std::sync::Mutex<SessionProgress>>,
    /// Peers that run a rendezvous server (community relays).
    rendezvous_points: HashSet<PeerId>,
    /// What this node did at each rendezvous point, per postal key.
    at_points: HashMap<(PeerId, String), AtPoint>,
    /// Where connected peers listen, as they said.
    announced: HashMap<PeerId, Vec<Multiaddr>>,
    /// Peers this node is closing to keep its target: not lost.
    closing: HashSet<PeerId>,
    /// Peers lost, dialled again with a growing backoff.
    lost: HashMap<PeerId, Lost>,
    /// Relays this node holds (or asked for) a reservation with.
    reserved: HashSet<PeerId>,
    /// What the relay server did, on a relay.
    relay: Option<RelayStatus>,
    answering: Arc<tokio::sync::Semaphore>,
    config: NetConfig,
}

impl EventLoop {
    async fn run(mut self) {
        let mut sync_timer = tokio::time::interval(self.config.sync_interval);
        sync_timer.tick().await;
        let mut redial_timer = tokio::time::interval(self.config.redial_interval);
        redial_timer.tick().await;
        let mut prune_timer = tokio::time::interval(PRUNE_INTERVAL);
        prune_timer.tick().await;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                applied = self.applied.recv() => match applied {
                    Ok(applied) => self.on_applied(applied),
                    // Missed some: catch-up sync brings them to peers.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = redial_timer.tick() => {
                    self.redial();
                    self.discover_all(false);
                }
                _ = prune_timer.tick() => self.prune(),
                _ = sync_timer.tick() => {
                    self.sync_all(false);
                    // Look for more peers in the DHT when short of them;
                    // fails harmlessly while no peer is known.
                    if self.short_of_target() > 0 {
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    }
                }
            }
        }
    }

    fn follow(&mut self, postal_key: &str) {
        if !self.followed.insert(postal_key.to_owned()) {
            return;
        }
        let topic = topic(postal_key);
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        let _ = gossipsub.set_topic_params(topic.clone(), topic_score_params());
        let _ = gossipsub.subscribe(&topic);
        let peers: Vec<PeerId> = gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic.hash()))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in peers {
            self.start_sync(peer, postal_key.to_owned(), true);
        }
        for point in self.rendezvous_points.clone() {
            self.register_at(point, postal_key, true);
        }
    }

    /// Addresses others may reach this node at: its listen addresses
    /// (unspecified ones excepted) and its relay circuits.
    fn add_external(&mut self, address: Multiaddr) {
        let unspecified = address.iter().any(|part| match part {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified(),
            _ => false,
        });
        if !unspecified {
            self.swarm.add_external_address(address);
        }
    }

    /// Registers at `point` under `postal_key` (again when `fresh`, or
    /// when the registration nears its end), and asks it for the nodes of
    /// that key while this node lacks peers.
    fn register_at(&mut self, point: PeerId, postal_key: &str, fresh: bool) {
        let Ok(namespace) = rendezvous::Namespace::new(postal_key.to_owned()) else {
            return;
        };
        let lacking = self.lacking(postal_key) > 0;
        let at = self
            .at_points
            .entry((point, postal_key.to_owned()))
            .or_default();
        let client = &mut self.swarm.behaviour_mut().rendezvous_client;
        if fresh
            || at
                .registered
                .is_none_or(|when| when.elapsed() >= REGISTER_AGAIN)
        {
            // Without a known external address there is nothing to
            // register; discovering still works.
            if client.register(namespace.clone(), point, None).is_ok() {
                at.registered = Some(Instant::now());
            }
        }
        if lacking {
            if at
                .listed_all
                .is_some_and(|when| when.elapsed() >= LIST_AGAIN)
            {
                at.cookie = None;
                at.listed_all = None;
            }
            client.discover(
                Some(namespace),
                at.cookie.clone(),
                Some(DISCOVER_LIMIT),
                point,
            );
        }
    }

    /// Peers this node lacks: to reach its target, or to have a gossip
    /// mesh's worth of peers on `postal_key`.
    fn lacking(&self, postal_key: &str) -> usize {
        let topic = topic(postal_key).hash();
        let on_key = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic))
            .count();
        self.short_of_target()
            .max(PEERS_PER_KEY.saturating_sub(on_key))
    }

    /// Peers this node lacks to reach its target.
    fn short_of_target(&self) -> usize {
        self.config
            .peer_target
            .saturating_sub(self.connections.len())
    }

    /// Dials `peer` at `addresses` (and those the swarm knows) unless it
    /// is connected or being dialled, from a new local port: two peers
    /// dialling each other at the same moment from their listening ports
    /// would open one TCP connection that both sides take as theirs to
    /// lead, and both handshakes would fail.
    fn dial_peer(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        let _ = self.swarm.dial(
            libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addresses)
                .allocate_new_port()
                .build(),
        );
    }

    /// Peers found on the LAN are dialled, and kept to be dialled again
    /// like lost peers should that fail: mDNS tells of a peer only once
    /// per record lifetime (minutes).
    fn on_lan_peers(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, address) in found {
            if !self.listening.contains(&address) {
                by_peer.entry(peer).or_default().push(address);
            }
        }
        for (peer, addresses) in by_peer {
            if self.swarm.is_connected(&peer) {
                continue;
            }
            self.redial_later(peer, addresses.clone(), true);
            self.dial_peer(peer, addresses);
        }
    }

    /// Registers again where needed and asks every rendezvous point for
    /// more nodes of the followed postal keys that lack peers.
    fn discover_all(&mut self, fresh: bool) {
        let keys: Vec<String> = self.followed.iter().cloned().collect();
        for point in self.rendezvous_points.clone() {
            for key in &keys {
                self.register_at(point, key, fresh);
            }
        }
    }

    /// Dials again the bootstrap peers that are not connected (after a
    /// partition, a restart of theirs, a lost connection), and the peers
    /// met before when none is connected.
    fn redial(&mut self) {
        let bootstrap = self.config.bootstrap.clone();
        for address in bootstrap {
            if !self.is_connected_to(&address) {
                self.dial(address);
            }
        }
        self.dial_lost();
        if self.swarm.connected_peers().next().is_none()
            && let Ok(addresses) = remembered(&self.store, DIAL_AT_START)
        {
            for address in addresses {
                self.dial(address);
            }
        }
    }

    /// The last connection to `peer` ended (`met`: when it was met):
    /// unless this node closed it, it is dialled again later.
    fn on_lost(&mut self, peer: PeerId, met: Option<Instant>) {
        let addresses = self.announced.remove(&peer).unwrap_or_default();
        if self.closing.remove(&peer) {
            self.lost.remove(&peer);
            return;
        }
        if addresses.is_empty() {
            return;
        }
        let lasted = met.is_some_and(|met| met.elapsed() >= LOST_RESET);
        self.redial_later(peer, addresses, lasted);
    }

    /// Keeps `peer` to be dialled at `addresses` one wait from now; the
    /// wait goes back to the redial interval when `reset`.
    fn redial_later(&mut self, peer: PeerId, addresses: Vec<Multiaddr>, reset: bool) {
        if !self.lost.contains_key(&peer) && self.lost.len() >= MAX_REMEMBERED {
            return;
        }
        let base = self.config.redial_interval;
        let lost = self.lost.entry(peer).or_insert(Lost {
            addresses: Vec::new(),
            wait: base,
            next: Instant::now(),
        });
        lost.addresses = addresses;
        if reset {
            lost.wait = base;
        }
        lost.next = Instant::now() + lost.wait;
    }

    /// Dials the lost peers that are due, as many as this node lacks to
    /// reach its target, each with twice the wait before the next try;
    /// gives up on those waited for too long.
    fn dial_lost(&mut self) {
        let give_up = self.config.redial_interval * LOST_GIVE_UP;
        self.lost.retain(|_, lost| lost.wait <= give_up);
        let lacking = self.short_of_target();
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .lost
            .iter()
            .filter(|(peer, lost)| lost.next <= now && !self.swarm.is_connected(peer))
            .map(|(peer, _)| *peer)
            .take(lacking)
            .collect();
        for peer in due {
            let Some(lost) = self.lost.get_mut(&peer) else {
                continue;
            };
            lost.wait *= 2;
            lost.next = now + lost.wait;
            let addresses = lost.addresses.clone();
            self.dial_peer(peer, addresses);
        }
    }

    /// Whether a connection is open to the peer `address` names, or (an
    /// address without a peer id) to that very address.
    fn is_connected_to(&self, address: &Multiaddr) -> bool {
        let by_id = address
            .iter()
            .any(|part| matches!(part, Protocol::P2p(peer) if self.swarm.is_connected(&peer)));
        by_id
            || self
                .connections
                .values()
                .flatten()
                .any(|connection| connection.remote == *address)
    }

    /// The peers this node must keep connected whatever their number:
    /// bootstrap peers, relays and rendezvous points, gossip mesh members,
    /// peers being synced with, peers just met.
    fn pinned(&self) -> HashSet<PeerId> {
        let mut pinned: HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        pinned.extend(self.reserved.iter().copied());
        pinned.extend(self.rendezvous_points.iter().copied());
        pinned.extend(self.syncing.iter().map(|(peer, _)| *peer));
        pinned.extend(self.queued.values().flatten().copied());
        for (peer, open) in &self.connections {
            let bootstrap = self.config.bootstrap.iter().any(|address| {
                address.iter().any(|part| part == Protocol::P2p(*peer))
                    || open.iter().any(|connection| connection.remote == *address)
            });
            let recent = self
                .met
                .get(peer)
                .is_some_and(|met| met.elapsed() < self.config.peer_grace);
            if bootstrap || recent {
                pinned.insert(*peer);
            }
        }
        pinned
    }

    /// Past one and a half [`NetConfig::peer_target`], closes the peers
    /// beyond the target: first those that share no followed postal key,
    /// then the others, longest known first.
    /// Pinned peers ([`Self::pinned`]) stay. A relay keeps every peer.
    fn prune(&mut self) {
        let target = self.config.peer_target;
        if self.config.relay.is_some() || self.connections.len() <= target + target / 2 {
            return;
        }
        let pinned = self.pinned();
        let sharing: HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| {
                topics.iter().any(|topic| {
                    postal_key_of(topic).is_some_and(|key| self.followed.contains(key))
                })
            })
            .map(|(peer, _)| *peer)
            .collect();
        let mut candidates: Vec<(bool, Instant, PeerId)> = self
            .connections
            .keys()
            .filter(|peer| !pinned.contains(peer))
            .map(|peer| {
                let met = self.met.get(peer).copied().unwrap_or_else(Instant::now);
                (sharing.contains(peer), met, *peer)
            })
            .collect();
        candidates.sort();
        let excess = self.connections.len() - target;
        for (_, _, peer) in candidates.into_iter().take(excess) {
            if self.swarm.disconnect_peer_id(peer).is_ok() {
                self.closing.insert(peer);
            }
        }
    }

    fn dial(&mut self, address: Multiaddr) -> bool {
        // Our own addresses are not peers.
        if self.listening.contains(&address) {
            return false;
        }
        self.swarm.dial(address).is_ok()
    }

    fn on_applied(&mut self, applied: crate::ingest::Applied) {
        if !matches!(applied.origin, Origin::Local | Origin::Import) {
            return;
        }
        let data = gossip_data(&applied.doc, &applied.hash, &applied.envelope);
        self.publish(&applied.postal_key, data);
    }

    fn publish(&mut self, postal_key: &str, data: Vec<u8>) {
        // No peer on the topic yet is fine: catch-up sync brings the change
        // to the next peer met.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic(postal_key), data);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Follow(postal_key) => self.follow(&postal_key),
            Command::Dial(address, reply) => {
                let result = self
                    .swarm
                    .dial(address.clone())
                    .map_err(|error| NetError::Dial(format!("{address}: {error}")));
                let _ = reply.send(result);
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Answer { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Command::Validated(verdicts) => {
                for (id, source, acceptance, fault) in verdicts {
                    if let Some(fault) = fault {
                        *self.rejected.entry(format!("{fault:?}")).or_default() += 1;
                    }
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &source, acceptance);
                }
            }
            Command::Publish { postal_key, data } => self.publish(&postal_key, data),
            Command::Synced {
                peer,
                postal_key,
                result,
            } => {
                self.syncing.remove(&(peer, postal_key.clone()));
                if let Ok(report) = &result
                    && report.applied <= sync::PASS_ON_MAX
                {
                    // A few changes this node lacked: its other peers may
                    // lack them too.
                    for (doc, hash, envelope) in &report.fresh {
                        self.publish(&postal_key, gossip_data(doc, hash, envelope));
                    }
                }
                let state = SyncState {
                    postal_key: postal_key.clone(),
                    at: now_secs(),
                    error: result.as_ref().err().cloned(),
                    report: result.ok(),
                };
                self.last_sync
                    .insert((peer, postal_key.clone()), (Instant::now(), state));
                self.next_sync(&postal_key);
            }
            Command::SyncNow(reply) => {
                let started = self.sync_all(true);
                let _ = reply.send(started);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
        }
    }

    /// Starts a sync with every connected peer on every shared postal key.
    fn sync_all(&mut self, forced: bool) -> usize {
        let pairs: Vec<(PeerId, String)> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .flat_map(|(peer, topics)| {
                topics
                    .into_iter()
                    .filter_map(|topic| postal_key_of(topic).map(str::to_owned))
                    .map(|key| (*peer, key))
                    .collect::<Vec<_>>()
            })
            .filter(|(_, key)| self.followed.contains(key))
            .collect();
        pairs
            .into_iter()
            .filter(|(peer, key)| self.start_sync(*peer, key.clone(), forced))
            .count()
    }

    /// Starts a pulling session with `peer` on `postal_key`, unless one
    /// runs or (when not `forced`) one ended very recently; while another
    /// peer's session on that key runs, it waits its turn. Returns whether
    /// a session started or waits.
    fn start_sync(&mut self, peer: PeerId, postal_key: String, forced: bool) -> bool {
        let pair = (peer, postal_key.clone());
        if self.syncing.contains(&pair) {
            return false;
        }
        if !forced
            && self
                .last_sync
                .get(&pair)
                .is_some_and(|(at, _)| at.elapsed() < SYNC_COOLDOWN)
        {
            return false;
        }
        if self.pulling(&postal_key) {
            let queue = self.queued.entry(postal_key).or_default();
            if queue.contains(&peer) {
                return false;
            }
            queue.push_back(peer);
            return true;
        }
        self.launch_sync(peer, postal_key);
        true
    }

    /// Whether a session pulls `postal_key` now.
    fn pulling(&self, postal_key: &str) -> bool {
        self.syncing.iter().any(|(_, key)| key == postal_key)
    }

    /// Starts the next waiting session on `postal_key`, if none runs.
    fn next_sync(&mut self, postal_key: &str) {
        if self.pulling(postal_key) {
            return;
        }
        while let Some(peer) = self
            .queued
            .get_mut(postal_key)
            .and_then(VecDeque::pop_front)
        {
            if self.swarm.is_connected(&peer) {
                self.launch_sync(peer, postal_key.to_owned());
                break;
            }
        }
        if self.queued.get(postal_key).is_some_and(VecDeque::is_empty) {
            self.queued.remove(postal_key);
        }
    }

    fn launch_sync(&mut self, peer: PeerId, postal_key: String) {
        let pair = (peer, postal_key.clone());
        self.syncing.insert(pair);
        let client = Client {
            commands: self.commands_tx.clone(),
            peer_id: *self.swarm.local_peer_id(),
        };
        let store = self.store.clone();
        let progress = self.progress.clone();
        tokio::spawn(async move {
            let key = (peer, postal_key.clone());
            let result = sync::pull(
                store,
                postal_key.clone(),
                |request| {
                    let client = client.clone();
                    async move { client.request(peer, request).await }
                },
                |done, total| {
                    if let Ok(mut progress) = progress.lock() {
                        progress.insert(key.clone(), (done, total));
                    }
                },
            )
            .await
            .map_err(|error| error.to_string());
            if let Ok(mut progress) = progress.lock() {
                progress.remove(&key);
            }
            let _ = client
                .send(Command::Synced {
                    peer,
                    postal_key,
                    result,
                })
                .await;
        });
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let circuit = address.iter().any(|part| part == Protocol::P2pCircuit);
                self.listening.push(address.clone());
                self.add_external(address);
                if circuit {
                    // Reachable through a relay now: say so at the
                    // rendezvous points.
                    self.discover_all(true);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::RendezvousClient(
                rendezvous::client::Event::Discovered {
                    rendezvous_node,
                    registrations,
                    cookie,
                },
            )) => self.on_discovered(rendezvous_node, registrations, cookie),
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listening.retain(|known| *known != address);
            }
            SwarmEvent::Behaviour(BehaviourEvent::RelayServer(event)) => self.on_relay(event),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => self.on_hole_punched(remote_peer_id, result),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                self.on_lan_peers(found);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                self.on_identified(peer_id, &info);
                // The DHT is the relays': only peers that answer it enter
                // the routing table.
                let kad = StreamProtocol::new(KAD_PROTOCOL);
                if info.protocols.contains(&kad) {
                    for address in &info.listen_addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, address.clone());
                    }
                }
                let addrs: Vec<String> = info
                    .listen_addrs
                    .iter()
                    .map(|address| {
                        address
                            .clone()
                            .with_p2p(peer_id)
                            .unwrap_or_else(|address| address)
                            .to_string()
                    })
                    .collect();
                if !addrs.is_empty() {
                    let store = self.store.clone();
                    let peer = peer_id.to_string();
                    tokio::task::spawn_blocking(move || store.remember_peer(&peer, &addrs));
                    self.announced.insert(peer_id, info.listen_addrs.clone());
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                self.connections.entry(peer_id).or_default().push(Open {
                    id: connection_id,
                    remote: endpoint.get_remote_address().clone(),
                    relayed: endpoint.is_relayed(),
                });
                self.met.entry(peer_id).or_insert_with(Instant::now);
                self.connections_opened += 1;
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                let closed = &mut self.connections_closed;
                match cause {
                    _ if self.closing.contains(&peer_id) => closed.trimmed += 1,
                    Some(libp2p::swarm::ConnectionError::KeepAliveTimeout) => closed.idle += 1,
                    Some(libp2p::swarm::ConnectionError::IO(_)) => closed.failed += 1,
                    None => closed.other += 1,
                }
                let met = self.met.get(&peer_id).copied();
                if let Some(open) = self.connections.get_mut(&peer_id) {
                    open.retain(|connection| connection.id != connection_id);
                    if open.is_empty() {
                        self.connections.remove(&peer_id);
                        self.met.remove(&peer_id);
                    }
                }
                if !self.swarm.is_connected(&peer_id) {
                    self.on_lost(peer_id, met);
                    self.syncing.retain(|(peer, _)| *peer != peer_id);
                    // Met again, it is registered with and reserved again.
                    self.rendezvous_points.remove(&peer_id);
                    self.at_points.retain(|(point, _), _| *point != peer_id);
                    self.reserved.remove(&peer_id);
                }
            }
            _ => {}
        }
    }

    /// Counts a hole punching attempt; once the direct connection is open,
    /// the relayed ones to that peer are closed, so that the traffic leaves
    /// the relay.
    fn on_hole_punched(
        &mut self,
        peer: PeerId,
        result: Result<libp2p::swarm::ConnectionId, dcutr::Error>,
    ) {
        match result {
            Ok(_) => {
                self.hole_punching.succeeded += 1;
                let relayed = self.connections.get(&peer).into_iter().flatten();
                for connection in relayed.filter(|connection| connection.relayed) {
                    self.swarm.close_connection(connection.id);
                }
            }
            Err(error) => {
                self.hole_punching.failed += 1;
                self.hole_punching.last_error = Some(error.to_string());
            }
        }
    }

    fn on_relay(&mut self, event: relay::Event) {
        let Some(stats) = &mut self.relay else {
            return;
        };
        match event {
            relay::Event::ReservationReqAccepted { renewed: false, .. } => {
                stats.reservations += 1;
            }
            relay::Event::ReservationClosed { .. } | relay::Event::ReservationTimedOut { .. } => {
                stats.reservations = stats.reservations.saturating_sub(1);
            }
            relay::Event::ReservationReqDenied { .. } | relay::Event::CircuitReqDenied { .. } => {
                stats.refused += 1;
            }
            relay::Event::CircuitReqAccepted { .. } => {
                stats.circuits += 1;
                stats.circuits_opened += 1;
            }
            relay::Event::CircuitClosed { error, .. } => {
                stats.circuits = stats.circuits.saturating_sub(1);
                match error {
                    Some(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                        stats.cut_duration += 1;
                    }
                    // The relay's only other error of its own.
                    Some(error) if error.to_string().contains("bytes") => stats.cut_bytes += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let on_topic = postal_key_of(&message.topic).map(str::to_owned);
                let Some(postal_key) = on_topic.filter(|key| self.followed.contains(key)) else {
                    self.reject(&message_id, &propagation_source, Fault::Malformed);
                    return;
                };
                if let Some(doc) = parse_announcement(&message.data) {
                    // Too large for gossip: fetch it by sync from whoever
                    // forwarded the announcement.
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Accept,
                        );
                    self.pull_one(propagation_source, doc);
                    return;
                }
                // The envelope must name the topic it travels on.
                match SignedChange::decode(&message.data) {
                    Ok(envelope) if envelope.postal_key == postal_key => {}
                    _ => {
                        self.reject(&message_id, &propagation_source, Fault::Malformed);
                        return;
                    }
                }
                if self
                    .validate
                    .try_send((message_id.clone(), propagation_source, message.data))
                    .is_err()
                {
                    // Too busy to validate: neither forwarded nor held
                    // against the sender.
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let Some(key) = postal_key_of(&topic).filter(|key| self.followed.contains(*key))
                {
                    self.start_sync(peer_id, key.to_owned(), false);
                }
            }
            _ => {}
        }
    }

    /// A rendezvous point listed nodes of a postal key: dial as many as
    /// this node lacks, picked at random so that newcomers do not all
    /// crowd the first registered.
    fn on_discovered(
        &mut self,
        point: PeerId,
        registrations: Vec<rendezvous::Registration>,
        cookie: rendezvous::Cookie,
    ) {
        let Some(postal_key) = cookie.namespace().map(|namespace| namespace.to_string()) else {
            return;
        };
        let wanted = self.lacking(&postal_key);
        if let Some(at) = self.at_points.get_mut(&(point, postal_key)) {
            // Listed to the end: later discoveries bring the nodes
            // registered since, and the whole list again after a while, to
            // meet again nodes lost since.
            if registrations.is_empty() {
                at.listed_all.get_or_insert_with(Instant::now);
            }
            at.cookie = Some(cookie);
        }
        let local = *self.swarm.local_peer_id();
        let mut registrations: Vec<_> = registrations
            .into_iter()
            .filter(|registration| {
                let peer = registration.record.peer_id();
                peer != local && !self.swarm.is_connected(&peer)
            })
            .collect();
        for picked in 0..wanted.min(registrations.len()) {
            let other = picked + self.random.below((registrations.len() - picked) as u64) as usize;
            registrations.swap(picked, other);
        }
        registrations.truncate(wanted);
        for registration in registrations {
            self.dial_peer(
                registration.record.peer_id(),
                registration.record.addresses().to_vec(),
            );
        }
    }

    /// A peer said what it runs: a rendezvous point gets this node's
    /// registrations; a relay gets a reservation, so that nodes behind NATs
    /// reach this one through it.
    fn on_identified(&mut self, peer: PeerId, info: &identify::Info) {
        if info.protocols.contains(&rendezvous::PROTOCOL_NAME)
            && self.rendezvous_points.insert(peer)
        {
            for key in self.followed.clone() {
                self.register_at(peer, &key, true);
            }
        }
        let hop = info
            .protocols
            .iter()
            .any(|protocol| protocol.as_ref() == RELAY_HOP_PROTOCOL);
        if hop && self.config.relay.is_none() && !self.reserved.contains(&peer) {
            let dialed = self.connections.get(&peer).and_then(|open| {
                open.iter()
                    .find(|connection| !connection.relayed)
                    .map(|connection| connection.remote.clone())
            });
            if let Some(address) = dialed {
                let mut circuit = address;
                if !circuit.iter().any(|part| matches!(part, Protocol::P2p(_))) {
                    circuit.push(Protocol::P2p(peer));
                }
                circuit.push(Protocol::P2pCircuit);
                if self.swarm.listen_on(circuit).is_ok() {
                    self.reserved.insert(peer);
                }
            }
        }
    }

    fn reject(&mut self, id: &MessageId, source: &PeerId, fault: Fault) {
        *self.rejected.entry(format!("{fault:?}")).or_default() += 1;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, MessageAcceptance::Reject);
    }

    /// Pulls one document from a peer (an announced change).
    fn pull_one(&mut self, peer: PeerId, doc: EntityId) {
        let client = Client {
            commands: self.commands_tx.clone(),
            peer_id: *self.swarm.local_peer_id(),
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut report = SyncReport::default();
            let _ = sync::pull_documents(
                store,
                Origin::Network,
                vec![doc],
                |request| {
                    let client = client.clone();
                    async move { client.request(peer, request).await }
                },
                &mut report,
                |_, _| {},
            )
            .await;
        });
    }

    fn on_sync(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.answer(request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(SyncError::Transport(error.to_string())));
                }
            }
            _ => {}
        }
    }

    /// Answers a sync request on the blocking pool, or refuses it when too
    /// many are being answered.
    fn answer(&mut self, request: Request, channel: ResponseChannel<Response>) {
        self.sync_requests += 1;
        self.sync_request_bytes += sync::encode(&request).len() as u64;
        let Ok(permit) = self.answering.clone().try_acquire_owned() else {
            let _ = self.swarm.behaviour_mut().sync.send_response(
                channel,
                Response::Refused {
                    reason: "busy, try again later".into(),
                },
            );
            return;
        };
        let store = self.store.clone();
        let commands = self.commands_tx.clone();
        tokio::spawn(async move {
            let response = tokio::task::spawn_blocking(move || store.answer_sync(&request))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(Response::Refused {
                    reason: "the store failed".into(),
                });
            drop(permit);
            let _ = commands.send(Command::Answer { channel, response }).await;
        });
    }

    fn status(&self) -> NetStatus {
        let local = *self.swarm.local_peer_id();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mesh: HashSet<&PeerId> = gossipsub.all_mesh_peers().collect();
        let mut peers: HashMap<PeerId, PeerStatus> = HashMap::new();
        for (peer, topics) in gossipsub.all_peers() {
            let postal_keys: Vec<String> = topics
                .into_iter()
                .filter_map(|topic| postal_key_of(topic))
                .filter(|key| self.followed.contains(*key))
                .map(str::to_owned)
                .collect();
            peers.insert(
                *peer,
                PeerStatus {
                    peer_id: peer.to_string(),
                    addrs: Vec::new(),
                    relayed: false,
                    postal_keys,
                    score: gossipsub.peer_score(peer),
                    mesh: mesh.contains(peer),
                    syncs: self
                        .last_sync
                        .iter()
                        .filter(|((p, _), _)| p == peer)
                        .map(|(_, (_, state))| state.clone())
                        .collect(),
                },
            );
        }
        for peer in self.swarm.connected_peers() {
            peers.entry(*peer).or_insert_with(|| PeerStatus {
                peer_id: peer.to_string(),
                addrs: Vec::new(),
                relayed: false,
                postal_keys: Vec::new(),
                score: gossipsub.peer_score(peer),
                mesh: false,
                syncs: Vec::new(),
            });
        }
        let mut peers: Vec<PeerStatus> = peers
            .into_iter()
            .filter(|(peer, _)| self.swarm.is_connected(peer))
            .map(|(peer, mut status)| {
                let open = self.connections.get(&peer).map_or(&[][..], Vec::as_slice);
                status.addrs = open
                    .iter()
                    .map(|connection| connection.remote.to_string())
                    .collect();
                status.relayed =
                    !open.is_empty() && open.iter().all(|connection| connection.relayed);
                status
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        let mut topics: Vec<TopicStatus> = self
            .followed
            .iter()
            .map(|key| TopicStatus {
                postal_key: key.clone(),
                peers: peers
                    .iter()
                    .filter(|peer| peer.postal_keys.contains(key))
                    .count(),
                mesh: gossipsub.mesh_peers(&topic(key).hash()).count(),
                last_sync: self
                    .last_sync
                    .iter()
                    .filter(|((_, k), _)| k == key)
                    .map(|(_, (_, state))| state.at)
                    .max(),
            })
            .collect();
        topics.sort_by(|a, b| a.postal_key.cmp(&b.postal_key));
        NetStatus {
            peer_id: local.to_string(),
            listen: self
                .listening
                .iter()
                .map(|address| address.clone().with(Protocol::P2p(local)).to_string())
                .collect(),
            topics,
            peers,
            rejected: self.rejected.clone(),
            connections_opened: self.connections_opened,
            connections_closed: self.connections_closed,
            hole_punching: self.hole_punching.clone(),
            sync_requests: self.sync_requests,
            sync_request_bytes: self.sync_request_bytes,
            relay: self.relay.clone(),
            syncing: self
                .progress
                .lock()
                .map(|progress| {
                    progress
                        .iter()
                        .map(|((peer, key), (done, total))| SyncProgress {
                            peer_id: peer.to_string(),
                            postal_key: key.clone(),
                            done: *done,
                            total: *total,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}
