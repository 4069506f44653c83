//! The peer set: how many peers a node keeps, which it closes above its
//! target, and which it dials again after losing them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use super::event_loop::EventLoop;
use super::{postal_key_of, remembered};
use crate::store::peers::MAX_REMEMBERED;

/// Remembered peers dialled at start at most.
pub(super) const DIAL_AT_START: usize = 16;

/// How often the peer set is trimmed back to [`NetConfig::peer_target`].
pub(super) const PRUNE_INTERVAL: Duration = Duration::from_secs(5);

/// A lost peer's connection that lasted this long was no trimming of the
/// other side's: the next loss starts its backoff over.
pub(super) const LOST_RESET: Duration = Duration::from_secs(300);

/// A lost peer is given up once its backoff is this many redial
/// intervals.
pub(super) const LOST_GIVE_UP: u32 = 64;

/// A peer whose connection ended without this node closing it (a network
/// failure, a partition, its restart, or its own trimming), or a peer just
/// found on the LAN: dialled again, less and less often, while this node
/// lacks peers and is not connected to it.
pub(super) struct Lost {
    /// Where it listens, as it said (identify, mDNS).
    pub(super) addresses: Vec<Multiaddr>,
    /// Wait before the next dial; doubles with each one.
    pub(super) wait: Duration,
    /// When it may be dialled again.
    pub(super) next: Instant,
}

impl EventLoop {
    /// Peers this node lacks to reach its target.
    pub(super) fn short_of_target(&self) -> usize {
        self.config
            .peer_target
            .saturating_sub(self.connections.len())
    }

    /// Dials `peer` at `addresses` (and those the swarm knows) unless it
    /// is connected or being dialled, from a new local port: two peers
    /// dialling each other at the same moment from their listening ports
    /// would open one TCP connection that both sides take as theirs to
    /// lead, and both handshakes would fail.
    pub(super) fn dial_peer(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        let _ = self.swarm.dial(
            libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addresses)
                .allocate_new_port()
                .build(),
        );
    }

    /// Dials again the bootstrap peers that are not connected (after a
    /// partition, a restart of theirs, a lost connection), and the peers
    /// met before when none is connected.
    pub(super) fn redial(&mut self) {
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
    pub(super) fn on_lost(&mut self, peer: PeerId, met: Option<Instant>) {
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
    pub(super) fn redial_later(&mut self, peer: PeerId, addresses: Vec<Multiaddr>, reset: bool) {
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
    pub(super) fn dial_lost(&mut self) {
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
    pub(super) fn is_connected_to(&self, address: &Multiaddr) -> bool {
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
    pub(super) fn pinned(&self) -> HashSet<PeerId> {
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
    pub(super) fn prune(&mut self) {
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

    pub(super) fn dial(&mut self, address: Multiaddr) -> bool {
        // Our own addresses are not peers.
        if self.listening.contains(&address) {
            return false;
        }
        self.swarm.dial(address).is_ok()
    }
}
