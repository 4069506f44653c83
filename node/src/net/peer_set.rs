//! The peer set, pure: which peers a node is connected to, which it closes
//! above its target, and which it dials again after losing them. It hears
//! of connections opened and closed and of the time, and answers with what
//! to dial and what to close; the event loop carries that out. Nothing
//! here touches the swarm, so every rule is unit-tested without one.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

use super::NetConfig;
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

/// An open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Open {
    pub(super) id: ConnectionId,
    /// The peer's address; on the accepting side of a relayed connection,
    /// only its peer id.
    pub(super) remote: Multiaddr,
    /// Whether it goes through a relay circuit.
    pub(super) relayed: bool,
}

/// A peer whose connection ended without this node closing it (a network
/// failure, a partition, its restart, or its own trimming), or a peer just
/// found on the LAN: dialled again, less and less often, while this node
/// lacks peers and is not connected to it.
#[derive(Debug)]
struct Lost {
    /// Where it listens, as it said (identify, mDNS).
    addresses: Vec<Multiaddr>,
    /// Wait before the next dial; doubles with each one.
    wait: Duration,
    /// When it may be dialled again.
    next: Instant,
}

/// What the peer set asks to be dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Dial {
    /// A known peer at these addresses (and those the swarm knows of it),
    /// from a new local port: two peers dialling each other at the same
    /// moment from their listening ports would open one TCP connection
    /// that both sides take as theirs to lead, and both handshakes would
    /// fail.
    Peer(PeerId, Vec<Multiaddr>),
    /// A bootstrap address.
    Address(Multiaddr),
}

/// A peer whose gossip score falls below this (gossipsub's default
/// graylist threshold: it already ignores the peer) is disconnected and
/// refused for [`BAN_DURATION`].
pub(super) const BAN_SCORE: f64 = -80.0;

/// While no peer is connected, the bootstrap and lost peers are dialled
/// this often, whatever their backoff.
pub(super) const ISOLATED_REDIAL: Duration = Duration::from_secs(2);

/// How long a peer scored down is refused.
pub(super) const BAN_DURATION: Duration = Duration::from_secs(600);

/// How a connection ended, as the peer set saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Closed {
    /// This node closed it to keep its target.
    pub(super) trimmed: bool,
    /// This node closed it: the peer is refused for a while.
    pub(super) banned: bool,
    /// It was the last connection to the peer.
    pub(super) gone: bool,
}

/// The peers of a node; see the module doc.
#[derive(Debug)]
pub(super) struct PeerSet {
    target: usize,
    grace: Duration,
    redial_interval: Duration,
    bootstrap: Vec<Multiaddr>,
    /// A relay keeps every peer.
    keep_all: bool,
    /// The open connections, per peer.
    connections: HashMap<PeerId, Vec<Open>>,
    /// When each connected peer was met (its first open connection).
    met: HashMap<PeerId, Instant>,
    /// Peers this node is closing to keep its target: not lost.
    closing: HashSet<PeerId>,
    /// Peers lost, dialled again with a growing backoff.
    lost: HashMap<PeerId, Lost>,
    /// Where connected peers listen, as they said.
    announced: HashMap<PeerId, Vec<Multiaddr>>,
    /// Peers refused until an instant (their gossip score fell too low).
    banned: HashMap<PeerId, Instant>,
}

impl PeerSet {
    /// The peer set of a node run with `config`.
    pub(super) fn new(config: &NetConfig) -> Self {
        Self {
            target: config.peer_target,
            grace: config.peer_grace,
            redial_interval: config.redial_interval,
            bootstrap: config.bootstrap.clone(),
            keep_all: config.relay.is_some(),
            connections: HashMap::new(),
            met: HashMap::new(),
            closing: HashSet::new(),
            lost: HashMap::new(),
            announced: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    /// Refuses `peer` from `now` for [`BAN_DURATION`]: its connections are
    /// to be closed, it is not dialled again, and one it opens is closed.
    pub(super) fn ban(&mut self, peer: PeerId, now: Instant) {
        self.banned.retain(|_, until| *until > now);
        if self.banned.len() >= MAX_REMEMBERED
            && let Some(first) = self
                .banned
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(peer, _)| *peer)
        {
            self.banned.remove(&first);
        }
        self.banned.insert(peer, now + BAN_DURATION);
        self.lost.remove(&peer);
        self.closing.insert(peer);
    }

    /// Whether `peer` is refused at `now`.
    pub(super) fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.banned.get(peer).is_some_and(|until| *until > now)
    }

    /// The connected peers.
    pub(super) fn connected(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.connections.keys().copied()
    }

    /// Connected peers.
    pub(super) fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether a connection to `peer` is open.
    pub(super) fn is_connected(&self, peer: &PeerId) -> bool {
        self.connections.contains_key(peer)
    }

    /// The open connections to `peer`.
    pub(super) fn connections(&self, peer: &PeerId) -> &[Open] {
        self.connections.get(peer).map_or(&[], Vec::as_slice)
    }

    /// Peers this node lacks to reach its target.
    pub(super) fn short_of_target(&self) -> usize {
        self.target.saturating_sub(self.connections.len())
    }

    /// A connection to `peer` opened at `now`.
    pub(super) fn opened(&mut self, peer: PeerId, open: Open, now: Instant) {
        self.connections.entry(peer).or_default().push(open);
        self.met.entry(peer).or_insert(now);
    }

    /// The connection `id` to `peer` closed at `now`. Once the last one is
    /// closed, the peer is dialled again later, unless this node closed
    /// it or does not know where it listens.
    pub(super) fn closed(&mut self, peer: PeerId, id: ConnectionId, now: Instant) -> Closed {
        let banned = self.is_banned(&peer, now);
        let trimmed = self.closing.contains(&peer) && !banned;
        let met = self.met.get(&peer).copied();
        if let Some(open) = self.connections.get_mut(&peer) {
            open.retain(|connection| connection.id != id);
            if open.is_empty() {
                self.connections.remove(&peer);
                self.met.remove(&peer);
            }
        }
        let gone = !self.connections.contains_key(&peer);
        if gone {
            self.lost_at(peer, met, now);
        }
        Closed {
            trimmed,
            banned,
            gone,
        }
    }

    /// The last connection to `peer` ended (`met`: when it was met):
    /// unless this node closed it, it is dialled again later.
    fn lost_at(&mut self, peer: PeerId, met: Option<Instant>, now: Instant) {
        let addresses = self.announced.remove(&peer).unwrap_or_default();
        if self.closing.remove(&peer) {
            self.lost.remove(&peer);
            return;
        }
        if addresses.is_empty() {
            return;
        }
        let lasted = met.is_some_and(|met| now.saturating_duration_since(met) >= LOST_RESET);
        self.redial_later(peer, addresses, lasted, now);
    }

    /// `peer` said where it listens.
    pub(super) fn announced(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        self.announced.insert(peer, addresses);
    }

    /// Peers found on the LAN are dialled, and kept to be dialled again
    /// like lost peers should that fail: mDNS tells of a peer only once
    /// per record lifetime (minutes).
    pub(super) fn found_on_lan(
        &mut self,
        found: Vec<(PeerId, Vec<Multiaddr>)>,
        now: Instant,
    ) -> Vec<Dial> {
        let mut dials = Vec::new();
        for (peer, addresses) in found {
            if self.is_connected(&peer) || self.is_banned(&peer, now) {
                continue;
            }
            self.redial_later(peer, addresses.clone(), true, now);
            dials.push(Dial::Peer(peer, addresses));
        }
        dials
    }

    /// Keeps `peer` to be dialled at `addresses` one wait from `now`; the
    /// wait goes back to the redial interval when `reset`.
    fn redial_later(&mut self, peer: PeerId, addresses: Vec<Multiaddr>, reset: bool, now: Instant) {
        if !self.lost.contains_key(&peer) && self.lost.len() >= MAX_REMEMBERED {
            return;
        }
        let base = self.redial_interval;
        let lost = self.lost.entry(peer).or_insert(Lost {
            addresses: Vec::new(),
            wait: base,
            next: now,
        });
        lost.addresses = addresses;
        if reset {
            lost.wait = base;
        }
        lost.next = now + lost.wait;
    }

    /// What to dial at a redial tick: the bootstrap peers that are not
    /// connected (after a partition, a restart of theirs, a lost
    /// connection), and the lost peers that are due, as many as this node
    /// lacks to reach its target, each with twice the wait before the next
    /// try; lost peers waited for too long are given up.
    pub(super) fn redial(&mut self, now: Instant) -> Vec<Dial> {
        let mut dials: Vec<Dial> = self
            .bootstrap
            .iter()
            .filter(|address| !self.is_connected_to(address))
            .cloned()
            .map(Dial::Address)
            .collect();
        let give_up = self.redial_interval * LOST_GIVE_UP;
        self.lost.retain(|_, lost| lost.wait <= give_up);
        let lacking = self.short_of_target();
        let due: Vec<PeerId> = self
            .lost
            .iter()
            .filter(|(peer, lost)| lost.next <= now && !self.connections.contains_key(peer))
            .map(|(peer, _)| *peer)
            .take(lacking)
            .collect();
        for peer in due {
            let Some(lost) = self.lost.get_mut(&peer) else {
                continue;
            };
            lost.wait *= 2;
            lost.next = now + lost.wait;
            dials.push(Dial::Peer(peer, lost.addresses.clone()));
        }
        dials
    }

    /// What to dial while no peer at all is connected, at every isolation
    /// tick whatever the backoff: the bootstrap peers and the lost ones (up
    /// to the target), so that a partition heals within a tick of the link
    /// coming back. Dialling costs an isolated node nothing it needs.
    pub(super) fn redial_isolated(&self) -> Vec<Dial> {
        if !self.connections.is_empty() {
            return Vec::new();
        }
        let mut dials: Vec<Dial> = self.bootstrap.iter().cloned().map(Dial::Address).collect();
        dials.extend(
            self.lost
                .iter()
                .take(self.target)
                .map(|(peer, lost)| Dial::Peer(*peer, lost.addresses.clone())),
        );
        dials
    }

    /// Whether a connection is open to the peer `address` names, or (an
    /// address without a peer id) to that very address.
    pub(super) fn is_connected_to(&self, address: &Multiaddr) -> bool {
        let by_id = address
            .iter()
            .any(|part| matches!(part, Protocol::P2p(peer) if self.is_connected(&peer)));
        by_id
            || self
                .connections
                .values()
                .flatten()
                .any(|connection| connection.remote == *address)
    }

    /// The peers the set itself keeps whatever their number: bootstrap
    /// peers, and peers met less than the grace ago (they have the time to
    /// say which topics they follow and to join a mesh).
    fn pinned(&self, now: Instant) -> HashSet<PeerId> {
        self.connections
            .iter()
            .filter(|(peer, open)| {
                let bootstrap = self.bootstrap.iter().any(|address| {
                    address.iter().any(|part| part == Protocol::P2p(**peer))
                        || open.iter().any(|connection| connection.remote == *address)
                });
                let recent = self
                    .met
                    .get(*peer)
                    .is_some_and(|met| now.saturating_duration_since(*met) < self.grace);
                bootstrap || recent
            })
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Past one and a half times the target, the peers to close down to
    /// the target: first those not in `sharing` (the peers that follow a
    /// postal key this node follows), then the others, longest known
    /// first. Peers in `pinned` (mesh members, relays, rendezvous points,
    /// peers syncing or waiting to), bootstrap peers and peers just met
    /// stay. A relay keeps every peer.
    pub(super) fn trim(
        &self,
        now: Instant,
        pinned: &HashSet<PeerId>,
        sharing: &HashSet<PeerId>,
    ) -> Vec<PeerId> {
        let target = self.target;
        if self.keep_all || self.connections.len() <= target + target / 2 {
            return Vec::new();
        }
        let own = self.pinned(now);
        let mut candidates: Vec<(bool, Instant, PeerId)> = self
            .connections
            .keys()
            .filter(|peer| !pinned.contains(peer) && !own.contains(peer))
            .map(|peer| {
                let met = self.met.get(peer).copied().unwrap_or(now);
                (sharing.contains(peer), met, *peer)
            })
            .collect();
        candidates.sort();
        let excess = self.connections.len() - target;
        candidates
            .into_iter()
            .take(excess)
            .map(|(_, _, peer)| peer)
            .collect()
    }

    /// This node is closing its connections to `peer` to keep its target:
    /// it is not lost.
    pub(super) fn closing(&mut self, peer: PeerId) {
        self.closing.insert(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(target: usize) -> NetConfig {
        NetConfig {
            peer_target: target,
            peer_grace: Duration::from_secs(15),
            redial_interval: Duration::from_secs(30),
            ..NetConfig::default()
        }
    }

    fn address(n: u16) -> Multiaddr {
        format!("/ip4/10.0.0.1/tcp/{n}").parse().unwrap()
    }

    fn open(peers: &mut PeerSet, peer: PeerId, n: usize, now: Instant) {
        peers.opened(
            peer,
            Open {
                id: ConnectionId::new_unchecked(n),
                remote: address(n as u16),
                relayed: false,
            },
            now,
        );
    }

    /// `count` peers, each met one second after the previous one.
    fn connected(peers: &mut PeerSet, count: usize, start: Instant) -> Vec<PeerId> {
        (0..count)
            .map(|n| {
                let peer = PeerId::random();
                open(peers, peer, n, start + Duration::from_secs(n as u64));
                peer
            })
            .collect()
    }

    #[test]
    fn nothing_is_trimmed_up_to_one_and_a_half_times_the_target() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(4));
        connected(&mut peers, 6, start);
        let later = start + Duration::from_secs(60);
        assert!(
            peers
                .trim(later, &HashSet::new(), &HashSet::new())
                .is_empty()
        );
        connected(&mut peers, 1, start);
        assert_eq!(peers.trim(later, &HashSet::new(), &HashSet::new()).len(), 3);
    }

    #[test]
    fn trimming_closes_strangers_first_then_the_longest_known() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(2));
        let all = connected(&mut peers, 6, start);
        let later = start + Duration::from_secs(60);
        // Peers 0 and 3 follow a postal key this node follows.
        let sharing: HashSet<PeerId> = [all[0], all[3]].into();
        let closed = peers.trim(later, &HashSet::new(), &sharing);
        assert_eq!(closed, [all[1], all[2], all[4], all[5]]);
        // Peers the other roles pin stay; more sharing peers go instead.
        let pinned: HashSet<PeerId> = [all[1], all[2]].into();
        let closed = peers.trim(later, &pinned, &sharing);
        assert_eq!(closed, [all[4], all[5], all[0], all[3]]);
    }

    #[test]
    fn peers_just_met_and_bootstrap_peers_are_kept() {
        let start = Instant::now();
        let bootstrap = PeerId::random();
        let mut config = config(1);
        config.bootstrap = vec![address(1).with(Protocol::P2p(bootstrap))];
        let mut peers = PeerSet::new(&config);
        open(&mut peers, bootstrap, 1, start);
        let all = connected(&mut peers, 3, start);
        // Within the grace, nobody is closed.
        let soon = start + Duration::from_secs(5);
        assert!(
            peers
                .trim(soon, &HashSet::new(), &HashSet::new())
                .is_empty()
        );
        let later = start + Duration::from_secs(60);
        let closed = peers.trim(later, &HashSet::new(), &HashSet::new());
        assert_eq!(closed, all, "the bootstrap peer stays");
    }

    #[test]
    fn a_relay_keeps_every_peer() {
        let start = Instant::now();
        let mut config = config(1);
        config.relay = Some(super::super::RelayLimits::default());
        let mut peers = PeerSet::new(&config);
        connected(&mut peers, 10, start);
        let later = start + Duration::from_secs(60);
        assert!(
            peers
                .trim(later, &HashSet::new(), &HashSet::new())
                .is_empty()
        );
    }

    #[test]
    fn a_lost_peer_is_dialled_again_with_a_doubling_wait_then_given_up() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(4));
        let peer = PeerId::random();
        open(&mut peers, peer, 1, start);
        peers.announced(peer, vec![address(1)]);
        let gone = peers.closed(peer, ConnectionId::new_unchecked(1), start);
        assert_eq!(
            gone,
            Closed {
                trimmed: false,
                banned: false,
                gone: true
            }
        );
        assert!(peers.redial(start).is_empty(), "not due yet");
        // A second at a time for four hours: when is it dialled?
        let mut dialled = Vec::new();
        for second in 1..=4 * 3600 {
            let at = start + Duration::from_secs(second);
            let dials = peers.redial(at);
            if !dials.is_empty() {
                assert_eq!(dials, [Dial::Peer(peer, vec![address(1)])]);
                dialled.push(second);
            }
        }
        let waits: Vec<u64> = dialled
            .iter()
            .scan(0, |last, at| Some(at - std::mem::replace(last, *at)))
            .collect();
        // Doubling from the redial interval, given up past 64 intervals.
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920]);
    }

    #[test]
    fn a_banned_peer_is_closed_refused_and_not_dialled_until_the_ban_ends() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(4));
        let peer = PeerId::random();
        open(&mut peers, peer, 1, start);
        peers.announced(peer, vec![address(1)]);
        peers.ban(peer, start);
        assert!(peers.is_banned(&peer, start));
        let closed = peers.closed(peer, ConnectionId::new_unchecked(1), start);
        assert_eq!(
            closed,
            Closed {
                trimmed: false,
                banned: true,
                gone: true
            }
        );
        assert!(peers.redial(start + Duration::from_secs(60)).is_empty());
        let found = vec![(peer, vec![address(1)])];
        assert!(peers.found_on_lan(found.clone(), start).is_empty());
        let later = start + BAN_DURATION;
        assert!(!peers.is_banned(&peer, later));
        assert_eq!(peers.found_on_lan(found, later).len(), 1);
    }

    #[test]
    fn an_isolated_node_dials_everyone_it_knows_whatever_the_backoff() {
        let start = Instant::now();
        let mut config = config(4);
        config.bootstrap = vec![address(9)];
        let mut peers = PeerSet::new(&config);
        let peer = PeerId::random();
        open(&mut peers, peer, 1, start);
        assert!(peers.redial_isolated().is_empty(), "connected: nothing");
        peers.announced(peer, vec![address(1)]);
        peers.closed(peer, ConnectionId::new_unchecked(1), start);
        // Long after its backoff grew, an isolated node still dials it.
        for _ in 0..5 {
            peers.redial(start + Duration::from_secs(7200));
        }
        let dials = peers.redial_isolated();
        assert!(dials.contains(&Dial::Address(address(9))), "{dials:?}");
        assert!(
            dials.contains(&Dial::Peer(peer, vec![address(1)])),
            "{dials:?}"
        );
    }

    #[test]
    fn a_peer_this_node_closed_is_not_dialled_again() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(4));
        let peer = PeerId::random();
        open(&mut peers, peer, 1, start);
        peers.announced(peer, vec![address(1)]);
        peers.closing(peer);
        let closed = peers.closed(peer, ConnectionId::new_unchecked(1), start);
        assert_eq!(
            closed,
            Closed {
                trimmed: true,
                banned: false,
                gone: true
            }
        );
        assert!(peers.redial(start + Duration::from_secs(3600)).is_empty());
    }

    #[test]
    fn lost_peers_are_dialled_only_while_short_of_the_target() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(2));
        let lost: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        let found = lost.iter().map(|peer| (*peer, vec![address(9)])).collect();
        assert_eq!(peers.found_on_lan(found, start).len(), 3);
        connected(&mut peers, 1, start);
        let later = start + Duration::from_secs(31);
        assert_eq!(peers.redial(later).len(), 1, "one peer short of the target");
        connected(&mut peers, 1, start);
        assert!(peers.redial(later + Duration::from_secs(31)).is_empty());
    }

    #[test]
    fn unconnected_bootstrap_addresses_are_dialled_at_every_redial() {
        let start = Instant::now();
        let mut config = config(4);
        config.bootstrap = vec![address(7)];
        let mut peers = PeerSet::new(&config);
        assert_eq!(peers.redial(start), [Dial::Address(address(7))]);
        // Connected to that very address: nothing to dial.
        open(&mut peers, PeerId::random(), 7, start);
        assert!(peers.redial(start).is_empty());
    }

    #[test]
    fn a_connection_that_lasted_resets_the_backoff() {
        let start = Instant::now();
        let mut peers = PeerSet::new(&config(4));
        let peer = PeerId::random();
        open(&mut peers, peer, 1, start);
        peers.announced(peer, vec![address(1)]);
        peers.closed(peer, ConnectionId::new_unchecked(1), start);
        // Dialled twice: the wait is 120 s now.
        let first = start + Duration::from_secs(30);
        assert_eq!(peers.redial(first).len(), 1);
        let second = first + Duration::from_secs(60);
        assert_eq!(peers.redial(second).len(), 1);
        // It comes back for ten minutes, then goes: 30 s again.
        open(&mut peers, peer, 2, second);
        peers.announced(peer, vec![address(1)]);
        let gone = second + Duration::from_secs(600);
        peers.closed(peer, ConnectionId::new_unchecked(2), gone);
        assert!(peers.redial(gone + Duration::from_secs(29)).is_empty());
        assert_eq!(peers.redial(gone + Duration::from_secs(30)).len(), 1);
    }
}
