//! Discovery: peers on the LAN (mDNS), rendezvous points (community
//! relays) where a node registers its postal keys and finds other nodes,
//! and relay reservations, so that nodes behind NATs reach this one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, identify, rendezvous};

use super::event_loop::EventLoop;
use super::topic;

/// The relay protocol a relay server speaks.
pub(super) const RELAY_HOP_PROTOCOL: &str = "/libp2p/circuit/relay/0.2.0/hop";

/// Peers of a followed postal key a node looks for at the rendezvous
/// points, whatever its other peers: a gossip mesh's worth.
pub(super) const PEERS_PER_KEY: usize = 6;

/// Registrations at a rendezvous point live two hours
/// (`rendezvous::DEFAULT_TTL`): a node registers again after one.
pub(super) const REGISTER_AGAIN: Duration = Duration::from_secs(3600);

/// Nodes a rendezvous point lists in one answer; the next discovery goes
/// on from there.
pub(super) const DISCOVER_LIMIT: u64 = 32;

/// A node still short of peers at the end of a rendezvous point's list
/// asks for the whole list again this much later (meanwhile, only nodes
/// registered since).
pub(super) const LIST_AGAIN: Duration = Duration::from_secs(600);

/// What a node did at one rendezvous point for one postal key.
#[derive(Default)]
pub(super) struct AtPoint {
    /// When it last registered there.
    pub(super) registered: Option<Instant>,
    /// Where its last discovery there ended: the next one lists only the
    /// nodes not listed yet.
    pub(super) cookie: Option<rendezvous::Cookie>,
    /// When a discovery there last came back empty.
    pub(super) listed_all: Option<Instant>,
}

impl EventLoop {
    /// Addresses others may reach this node at: its listen addresses
    /// (unspecified ones excepted) and its relay circuits.
    pub(super) fn add_external(&mut self, address: Multiaddr) {
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
    pub(super) fn register_at(&mut self, point: PeerId, postal_key: &str, fresh: bool) {
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
    pub(super) fn lacking(&self, postal_key: &str) -> usize {
        let topic = topic(postal_key).hash();
        let on_key = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic))
            .count();
        self.peers
            .short_of_target()
            .max(PEERS_PER_KEY.saturating_sub(on_key))
    }

    /// Peers found on the LAN are dialled, and kept to be dialled again
    /// like lost peers should that fail: mDNS tells of a peer only once
    /// per record lifetime (minutes).
    pub(super) fn on_lan_peers(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        tracing::debug!(found = found.len(), "peers found on the local network");
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, address) in found {
            if !self.listening.contains(&address) {
                by_peer.entry(peer).or_default().push(address);
            }
        }
        let dials = self
            .peers
            .found_on_lan(by_peer.into_iter().collect(), Instant::now());
        self.carry_out(dials);
    }

    /// Registers again where needed and asks every rendezvous point for
    /// more nodes of the followed postal keys that lack peers.
    pub(super) fn discover_all(&mut self, fresh: bool) {
        let keys: Vec<String> = self.followed.iter().cloned().collect();
        for point in self.rendezvous_points.clone() {
            for key in &keys {
                self.register_at(point, key, fresh);
            }
        }
    }

    /// A rendezvous point listed nodes of a postal key: dial as many as
    /// this node lacks, picked at random so that newcomers do not all
    /// crowd the first registered.
    pub(super) fn on_discovered(
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
    pub(super) fn on_identified(&mut self, peer: PeerId, info: &identify::Info) {
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
            let dialed = self
                .peers
                .connections(&peer)
                .iter()
                .find(|connection| !connection.relayed)
                .map(|connection| connection.remote.clone());
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
}
