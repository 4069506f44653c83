//! The libp2p behaviours a node runs and the swarm that drives them: its
//! transports (TCP + Noise + Yamux and QUIC, or the memory transport over
//! modelled links), connection limits, identify, ping, gossipsub with
//! validation and scoring, mDNS (started once the node listens beyond
//! loopback: `lan`), Kademlia, request-response for sync, the
//! relay server and client, DCUtR, AutoNAT and rendezvous.

use std::time::Duration;

use libp2p::gossipsub::{self, MessageId};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, behaviour::toggle::Toggle};
use libp2p::{
    StreamProtocol, Swarm, autonat, connection_limits, dcutr, identify, kad, mdns, noise, ping,
    relay, rendezvous, tcp, yamux,
};

use super::codec::SyncCodec;
use super::gossip::GOSSIP_MAX_BYTES;
use super::lan::LanDiscovery;
use super::sessions::SYNC_PROTOCOL;
use super::{NetConfig, NetError};

/// The Kademlia protocol.
pub const KAD_PROTOCOL: &str = "/communecter/kad/1";

/// Connections a node keeps open at most (a relay: twice its reservations).
pub(super) const MAX_CONNECTIONS: u32 = 256;

/// The mesh size that makes gossipsub flood ([`NetConfig::flood`]): more
/// than the connections a node keeps.
pub(super) const FLOOD_MESH: usize = 1_024;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) mdns: Toggle<LanDiscovery>,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) sync: request_response::Behaviour<SyncCodec>,
    pub(super) relay_server: Toggle<relay::Behaviour>,
    pub(super) relay_client: relay::client::Behaviour,
    pub(super) dcutr: dcutr::Behaviour,
    pub(super) autonat: autonat::Behaviour,
    pub(super) rendezvous_server: Toggle<rendezvous::server::Behaviour>,
    pub(super) rendezvous_client: rendezvous::client::Behaviour,
}

/// Scoring of one postal key's topic. Topics of a commune are quiet, so
/// nothing is expected of mesh peers (no delivery-rate penalties); an
/// invalid message costs a lot and is forgotten slowly.
pub(super) fn topic_score_params() -> gossipsub::TopicScoreParams {
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

pub(super) fn peer_score_params() -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams {
        app_specific_weight: 0.0,
        ..gossipsub::PeerScoreParams::default()
    };
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::Ipv4Addr::LOCALHOST.into());
    params
}

pub(super) fn message_id(message: &gossipsub::Message) -> MessageId {
    use sha2::Digest;
    MessageId::from(sha2::Sha256::digest(&message.data)[..20].to_vec())
}

pub(super) fn behaviour(
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
        let mdns_config = mdns::Config {
            // Ask the LAN again soon when a first query was lost or
            // answered by nobody (default: 5 minutes).
            query_interval: Duration::from_secs(20),
            ..mdns::Config::default()
        };
        Some(LanDiscovery::new(mdns_config, peer_id).map_err(NetError::Setup)?)
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
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(config.ping_interval)
                .with_timeout(config.ping_timeout),
        ),
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

pub(super) fn swarm(key: Keypair, config: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
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
                        crate::net::links::Links::new(crate::net::links::Link::default()),
                        u32::MAX,
                    )
                });
                libp2p::core::transport::MemoryTransport::default()
                    .and_then(move |connection, _| {
                        crate::net::links::connect(connection, me, links)
                    })
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
