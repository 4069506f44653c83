//! Discovery: peers on the LAN (mDNS, handed to the peer set), rendezvous
//! points (community relays) where a node registers its postal keys and
//! finds other nodes (what to ask them is [`Rendezvous`]'s), and relay
//! reservations, so that nodes behind NATs reach this one.
//!
//! [`Rendezvous`]: super::rendezvous::Rendezvous

use std::collections::HashMap;
use std::time::Instant;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, identify, rendezvous};

use super::client::Command;
use super::event_loop::EventLoop;
use super::relays::{self, MAX_LEARNT};
use super::topic;

/// The relay protocol a relay server speaks.
pub(super) const RELAY_HOP_PROTOCOL: &str = "/libp2p/circuit/relay/0.2.0/hop";

/// Peers of a followed postal key a node looks for at the rendezvous
/// points, whatever its other peers: a gossip mesh's worth.
pub(super) const PEERS_PER_KEY: usize = 6;

/// Nodes a rendezvous point lists in one answer; the next discovery goes
/// on from there.
pub(super) const DISCOVER_LIMIT: u64 = 32;

impl EventLoop {
    /// Addresses others may reach this node at: its listen addresses
    /// (unspecified ones excepted) and its relay circuits.
    pub(super) fn add_external(&mut self, address: Multiaddr) {
        if !relays::unspecified(&address) {
            self.swarm.add_external_address(address);
        }
    }

    /// Carries out what the rendezvous state asks of `point` about
    /// `postal_key`: register (again when `fresh`), and ask for nodes of
    /// that key while this node lacks peers there.
    pub(super) fn register_at(&mut self, point: PeerId, postal_key: &str, fresh: bool) {
        let Ok(namespace) = rendezvous::Namespace::new(postal_key.to_owned()) else {
            return;
        };
        let lacks = self.lacking(postal_key) > 0;
        let now = Instant::now();
        let ask = self.rendezvous.ask(point, postal_key, fresh, lacks, now);
        let client = &mut self.swarm.behaviour_mut().rendezvous_client;
        // Without a known external address there is nothing to register;
        // discovering still works.
        if ask.register && client.register(namespace.clone(), point, None).is_ok() {
            self.rendezvous.registered(point, postal_key, now);
        }
        if let Some(cookie) = ask.discover {
            client.discover(Some(namespace), cookie, Some(DISCOVER_LIMIT), point);
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
        let points: Vec<PeerId> = self.rendezvous.points().collect();
        for point in points {
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
        self.rendezvous.listed(
            point,
            &postal_key,
            registrations.is_empty(),
            cookie,
            Instant::now(),
        );
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
        if info.protocols.contains(&rendezvous::PROTOCOL_NAME) && self.rendezvous.met(peer) {
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

    /// A change of a relay's entry was applied: the entry is read off the
    /// event loop, then learnt.
    pub(super) fn relay_entry_applied(&mut self, doc: crdt_model::ids::EntityId) {
        let store = self.store.clone();
        let commands = self.commands_tx.clone();
        tokio::spawn(async move {
            let read = tokio::task::spawn_blocking(move || store.entity(&doc)).await;
            if let Ok(Ok(Some(entity))) = read
                && let Some((peer, addresses)) = relays::entry_peer(&entity)
            {
                let _ = commands.send(Command::LearnRelay(peer, addresses)).await;
            }
        });
    }

    /// Learns a relay from its entry: remembers it with the peers met (so
    /// that the next start dials it) and dials it now; up to
    /// [`MAX_LEARNT`] relays a run.
    pub(super) fn learn_relay(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        if peer == *self.swarm.local_peer_id() {
            return;
        }
        if !self.learnt_relays.contains(&peer) {
            if self.learnt_relays.len() >= MAX_LEARNT {
                tracing::debug!(%peer, "relay entry left aside: {MAX_LEARNT} relays learnt already");
                return;
            }
            tracing::info!(%peer, addresses = addresses.len(), "relay learnt from its entry");
            self.learnt_relays.push(peer);
        }
        let store = self.store.clone();
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        let id = peer.to_string();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = store.remember_peer(&id, &texts) {
                tracing::warn!(%error, "a relay learnt could not be remembered");
            }
        });
        for address in &addresses {
            self.swarm
                .behaviour_mut()
                .kad
                .add_address(&peer, address.clone());
        }
        if !self.swarm.is_connected(&peer) {
            self.dial_peer(peer, addresses);
        }
    }
}
