//! What the network tells of itself: [`NetStatus`], built by the event loop
//! on request.

use std::collections::{HashMap, HashSet};

use libp2p::PeerId;
use libp2p::multiaddr::Protocol;
use serde::{Deserialize, Serialize};

use super::event_loop::EventLoop;
use super::{postal_key_of, topic};
use crate::sync::SyncReport;

/// The last catch-up sync with a peer on a postal key.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Peer)]
pub struct PeerStatus {
    /// Its peer id.
    pub peer_id: String,
    /// Addresses of its connections.
    pub addrs: Vec<String>,
    /// Whether every connection to it goes through a relay.
    pub relayed: bool,
    /// Postal keys both nodes follow.
    pub postal_keys: Vec<String>,
    /// Its gossipsub score as this node sees it; negative after invalid
    /// messages.
    pub score: Option<f64>,
    /// Whether it is in this node's gossip mesh of a followed postal key
    /// (messages go to it at once, not on request).
    pub mesh: bool,
    /// The last sync per shared postal key.
    pub syncs: Vec<SyncState>,
}

/// A followed postal key.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Gossip messages slowed since start: their author or their sender
    /// sent more than its budget (not validated then, nor forwarded;
    /// catch-up sync brings their changes later).
    #[serde(default)]
    pub slowed: u64,
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
    /// Community relays learnt from their entries since start (peer ids),
    /// in the order learnt.
    #[serde(default)]
    pub relays_learnt: Vec<String>,
}

/// Connections closed since a node started, by why: a settled peer set
/// closes few, and the reasons tell churn from a failing network.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, Deserialize)]
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
    /// Closed by this node: the peer's gossip score fell too low, and it
    /// is refused for a while.
    #[serde(default)]
    pub banned: u64,
}

impl ClosedConnections {
    /// The counts with their names, always in this order.
    pub fn by_why(&self) -> [(&'static str, u64); 5] {
        [
            ("trimmed", self.trimmed),
            ("idle", self.idle),
            ("failed", self.failed),
            ("other", self.other),
            ("banned", self.banned),
        ]
    }
}

/// Hole punching (DCUtR) since a node started: over a relayed connection,
/// both nodes dial each other's observed addresses at once, so that their
/// NATs let the connections through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HolePunching {
    /// Direct connections made.
    pub succeeded: u64,
    /// Attempts that failed; the relayed connection stays.
    pub failed: u64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

/// What a relay server does for nodes that cannot reach each other.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

impl EventLoop {
    pub(super) fn status(&self) -> NetStatus {
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
                        .map(|(_, state)| state.clone())
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
                let open = self.peers.connections(&peer);
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
                last_sync: self.topic_synced.get(key).copied(),
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
            slowed: self.slowed,
            connections_opened: self.connections_opened,
            connections_closed: self.connections_closed,
            hole_punching: self.hole_punching.clone(),
            sync_requests: self.sync_requests,
            sync_request_bytes: self.sync_request_bytes,
            relay: self.relay.clone(),
            relays_learnt: self.learnt_relays.iter().map(ToString::to_string).collect(),
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
