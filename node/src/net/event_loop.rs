//! The event loop: one task owns the swarm, and dispatches its events,
//! the commands of [`Client`](super::Client), the store's committed changes
//! and its timers to the roles that handle them (gossip, peer set,
//! discovery, sessions, status).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::MessageId;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, dcutr, identify, mdns, relay, rendezvous};
use tokio::sync::{mpsc, oneshot};

use super::announce::Announcements;
use super::behaviour::topic_score_params;
use super::behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL};
use super::budget::Budgets;
use super::client::{COMMAND_QUEUE, Client, Command, DONE_QUEUE, Done};
use super::gossip::{VALIDATION_QUEUE, gossip_data, validate};
use super::peer_set::{
    BAN_SCORE, DIAL_AT_START, Dial, ISOLATED_REDIAL, Open, PRUNE_INTERVAL, PeerSet,
};
use super::rendezvous::Rendezvous;
use super::schedule::Schedule;
use super::sessions::MAX_ANSWERING;
use super::sessions::SessionProgress;
use super::status::{ClosedConnections, HolePunching, RelayStatus, SyncState};
use super::{NetConfig, NetError, postal_key_of, remembered, topic};
use crate::random::Xorshift;
use crate::store::peers::now_secs;
use crate::store::{Applied, Store};
use crate::sync::{self, Response, SyncError};

/// The task that owns the swarm; see the module doc.
pub(super) struct EventLoop {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) store: Arc<Store>,
    pub(super) commands: mpsc::Receiver<Command>,
    /// For the clients of the network's own tasks.
    pub(super) commands_tx: mpsc::Sender<Command>,
    pub(super) done: mpsc::Receiver<Done>,
    pub(super) done_tx: mpsc::Sender<Done>,
    pub(super) validate: mpsc::Sender<(MessageId, PeerId, Vec<u8>)>,
    pub(super) applied: tokio::sync::broadcast::Receiver<Applied>,
    pub(super) followed: HashSet<String>,
    pub(super) listening: Vec<Multiaddr>,
    pub(super) pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, SyncError>>>,
    /// The connected peers, and those to dial again.
    pub(super) peers: PeerSet,
    /// Which pulling sessions run and wait.
    pub(super) schedule: Schedule,
    /// The pulls of announced documents, and the announcements waiting.
    pub(super) announcements: Announcements,
    /// How much gossip each author and peer may have validated.
    pub(super) budgets: Budgets,
    /// Gossip messages slowed by the budgets since start.
    pub(super) slowed: u64,
    /// When each open connection last answered a ping (or opened).
    pub(super) answered: HashMap<ConnectionId, Instant>,
    /// The last sync with each connected peer per postal key, for the
    /// status.
    pub(super) last_sync: HashMap<(PeerId, String), SyncState>,
    /// When a sync on each postal key last ended, with any peer (seconds
    /// since the epoch).
    pub(super) topic_synced: HashMap<String, u64>,
    pub(super) rejected: HashMap<String, u64>,
    pub(super) connections_opened: u64,
    pub(super) connections_closed: ClosedConnections,
    pub(super) hole_punching: HolePunching,
    pub(super) sync_requests: u64,
    pub(super) sync_request_bytes: u64,
    /// State of the small random generator that spreads dials.
    pub(super) random: Xorshift,
    /// Documents done and differing, per sync session running.
    pub(super) progress: Arc<std::sync::Mutex<SessionProgress>>,
    /// The rendezvous points met (community relays), and what this node
    /// did at each.
    pub(super) rendezvous: Rendezvous,
    /// Relays this node holds (or asked for) a reservation with.
    pub(super) reserved: HashSet<PeerId>,
    /// Relays learnt from their entries in this run, in the order learnt.
    pub(super) learnt_relays: Vec<PeerId>,
    /// What the relay server did, on a relay.
    pub(super) relay: Option<RelayStatus>,
    pub(super) answering: Arc<tokio::sync::Semaphore>,
    pub(super) config: NetConfig,
}

impl EventLoop {
    /// The event loop of `swarm`, which listens on `listening`, and the
    /// client to talk to it; starts the validation task.
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        store: Arc<Store>,
        listening: Vec<Multiaddr>,
        network_seed: [u8; 32],
        config: NetConfig,
    ) -> (Client, Self) {
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let (done_tx, done) = mpsc::channel(DONE_QUEUE);
        let (validate_tx, validate_rx) = mpsc::channel(VALIDATION_QUEUE);
        let client = Client {
            commands: commands_tx.clone(),
            peer_id: *swarm.local_peer_id(),
        };
        tokio::spawn(validate(store.clone(), validate_rx, done_tx.clone()));
        let event_loop = EventLoop {
            swarm,
            applied: store.subscribe(),
            store,
            commands,
            commands_tx,
            done,
            done_tx,
            validate: validate_tx,
            followed: HashSet::new(),
            listening,
            pending: HashMap::new(),
            peers: PeerSet::new(&config),
            schedule: Schedule::default(),
            last_sync: HashMap::new(),
            announcements: Announcements::default(),
            budgets: Budgets::default(),
            slowed: 0,
            answered: HashMap::new(),
            topic_synced: HashMap::new(),
            rejected: HashMap::new(),
            connections_opened: 0,
            connections_closed: ClosedConnections::default(),
            hole_punching: HolePunching::default(),
            sync_requests: 0,
            sync_request_bytes: 0,
            random: Xorshift::new(u64::from_le_bytes(
                network_seed[..8].try_into().expect("8 bytes"),
            )),
            rendezvous: Rendezvous::default(),
            reserved: HashSet::new(),
            learnt_relays: Vec::new(),
            progress: Arc::default(),
            relay: config.relay.as_ref().map(|_| RelayStatus::default()),
            answering: Arc::new(tokio::sync::Semaphore::new(MAX_ANSWERING)),
            config,
        };
        (client, event_loop)
    }

    /// A client for the network's own tasks.
    pub(super) fn client(&self) -> Client {
        Client {
            commands: self.commands_tx.clone(),
            peer_id: *self.swarm.local_peer_id(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut sync_timer = tokio::time::interval(self.config.sync_interval);
        sync_timer.tick().await;
        let mut redial_timer = tokio::time::interval(self.config.redial_interval);
        redial_timer.tick().await;
        let mut prune_timer = tokio::time::interval(PRUNE_INTERVAL);
        prune_timer.tick().await;
        let mut isolated_timer = tokio::time::interval(ISOLATED_REDIAL);
        isolated_timer.tick().await;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                // The event loop holds a sender: never closed.
                Some(done) = self.done.recv() => self.on_done(done),
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
                _ = isolated_timer.tick() => {
                    self.close_dead();
                    self.redial_isolated();
                }
                _ = sync_timer.tick() => {
                    self.sync_all(false);
                    // Look for more peers in the DHT when short of them;
                    // fails harmlessly while no peer is known.
                    if self.peers.short_of_target() > 0 {
                        let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    }
                }
            }
        }
    }

    pub(super) fn follow(&mut self, postal_key: &str) {
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
        let points: Vec<PeerId> = self.rendezvous.points().collect();
        for point in points {
            self.register_at(point, postal_key, true);
        }
    }

    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Follow(postal_key) => self.follow(&postal_key),
            Command::LearnRelay(peer, addresses) => self.learn_relay(peer, addresses),
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
            Command::Publish { postal_key, data } => self.publish(&postal_key, data),
            Command::SyncNow(reply) => {
                let started = self.sync_all(true);
                let _ = reply.send(started);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
        }
    }

    /// What the network's own tasks report.
    pub(super) fn on_done(&mut self, done: Done) {
        match done {
            Done::Answer { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Done::Validated(verdicts) => {
                for (id, source, acceptance, fault) in verdicts {
                    self.report(&id, &source, acceptance, fault);
                }
            }
            Done::Announced { doc, held } => self.on_announced(doc, held),
            Done::Synced {
                peer,
                postal_key,
                result,
            } => {
                match &result {
                    Ok(report) if report.applied > 0 => tracing::info!(
                        %peer,
                        postal_code = postal_key,
                        applied = report.applied,
                        received = report.received,
                        bytes = report.bytes,
                        "synced"
                    ),
                    Ok(report) => tracing::debug!(
                        %peer,
                        postal_code = postal_key,
                        differing = report.differing,
                        bytes = report.bytes,
                        "synced, nothing new"
                    ),
                    Err(error) => {
                        tracing::warn!(%peer, postal_code = postal_key, error, "sync failed")
                    }
                }
                if let Ok(report) = &result
                    && report.applied <= sync::PASS_ON_MAX
                {
                    // A few changes this node lacked: its other peers may
                    // lack them too.
                    for (doc, hash, envelope) in &report.fresh {
                        self.publish(&postal_key, gossip_data(doc, hash, envelope));
                    }
                }
                let at = now_secs();
                self.topic_synced.insert(postal_key.clone(), at);
                let state = SyncState {
                    postal_key: postal_key.clone(),
                    at,
                    error: result.as_ref().err().cloned(),
                    report: result.ok(),
                };
                self.last_sync.insert((peer, postal_key.clone()), state);
                self.sync_ended(peer, &postal_key);
            }
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
            // A ping not answered in time: the peer stopped answering on
            // this connection. Closed now, it is dialled again with the
            // peer set's backoff instead of waiting on TCP's.
            SwarmEvent::Behaviour(BehaviourEvent::Ping(libp2p::ping::Event {
                connection,
                result: Ok(_),
                ..
            })) => {
                if let Some(answered) = self.answered.get_mut(&connection) {
                    *answered = Instant::now();
                }
            }
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
                    self.peers.announced(peer_id, info.listen_addrs.clone());
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let open = Open {
                    id: connection_id,
                    remote: endpoint.get_remote_address().clone(),
                    relayed: endpoint.is_relayed(),
                };
                tracing::debug!(peer = %peer_id, address = %open.remote, relayed = open.relayed, "connection opened");
                self.peers.opened(peer_id, open, Instant::now());
                self.answered.insert(connection_id, Instant::now());
                self.connections_opened += 1;
                if self.peers.is_banned(&peer_id, Instant::now()) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                cause,
                ..
            } => {
                self.answered.remove(&connection_id);
                let how = self.peers.closed(peer_id, connection_id, Instant::now());
                tracing::debug!(peer = %peer_id, trimmed = how.trimmed, banned = how.banned, gone = how.gone, cause = ?cause, "connection closed");
                let closed = &mut self.connections_closed;
                match cause {
                    _ if how.banned => closed.banned += 1,
                    _ if how.trimmed => closed.trimmed += 1,
                    Some(libp2p::swarm::ConnectionError::KeepAliveTimeout) => closed.idle += 1,
                    Some(libp2p::swarm::ConnectionError::IO(_)) => closed.failed += 1,
                    None => closed.other += 1,
                }
                if how.gone {
                    self.schedule.peer_gone(&peer_id);
                    // Its syncs are shown with the connected peers only.
                    self.last_sync.retain(|(peer, _), _| *peer != peer_id);
                    // Met again, it is registered with and reserved again.
                    self.rendezvous.gone(&peer_id);
                    self.reserved.remove(&peer_id);
                }
            }
            _ => {}
        }
    }

    /// Counts a hole punching attempt; once the direct connection is open,
    /// the relayed ones to that peer are closed, so that the traffic leaves
    /// the relay.
    pub(super) fn on_hole_punched(
        &mut self,
        peer: PeerId,
        result: Result<libp2p::swarm::ConnectionId, dcutr::Error>,
    ) {
        match result {
            Ok(_) => {
                tracing::info!(%peer, "hole punching opened a direct connection");
                self.hole_punching.succeeded += 1;
                let relayed: Vec<ConnectionId> = self
                    .peers
                    .connections(&peer)
                    .iter()
                    .filter(|connection| connection.relayed)
                    .map(|connection| connection.id)
                    .collect();
                for connection in relayed {
                    self.swarm.close_connection(connection);
                }
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "hole punching failed");
                self.hole_punching.failed += 1;
                self.hole_punching.last_error = Some(error.to_string());
            }
        }
    }

    pub(super) fn on_relay(&mut self, event: relay::Event) {
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

    /// Dials what the peer set asks for.
    pub(super) fn carry_out(&mut self, dials: Vec<Dial>) {
        for dial in dials {
            match dial {
                Dial::Peer(peer, addresses) => self.dial_peer(peer, addresses),
                Dial::Address(address) => {
                    self.dial(address);
                }
            }
        }
    }

    /// Dials `peer` at `addresses` (and those the swarm knows) unless it
    /// is connected or being dialled, from a new local port (see
    /// [`Dial::Peer`]).
    pub(super) fn dial_peer(&mut self, peer: PeerId, addresses: Vec<Multiaddr>) {
        let _ = self.swarm.dial(
            libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addresses)
                .allocate_new_port()
                .build(),
        );
    }

    /// Dials an address, unless it is one of this node's.
    pub(super) fn dial(&mut self, address: Multiaddr) -> bool {
        if self.listening.contains(&address) {
            return false;
        }
        self.swarm.dial(address).is_ok()
    }

    /// Disconnects and refuses for a while the connected peers whose
    /// gossip score fell below [`BAN_SCORE`] (invalid messages, false
    /// announcements): gossipsub only ignores them, which leaves them a
    /// connection and a sync partner.
    fn ban_low_scores(&mut self) {
        let now = Instant::now();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let low: Vec<(PeerId, f64)> = self
            .peers
            .connected()
            .filter_map(|peer| Some((peer, gossipsub.peer_score(&peer)?)))
            .filter(|(_, score)| *score < BAN_SCORE)
            .collect();
        for (peer, score) in low {
            tracing::warn!(%peer, score, "peer refused for a while: its gossip score fell too low");
            self.peers.ban(peer, now);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Closes the connections whose pings went unanswered for two
    /// intervals and a timeout: the peer stopped answering (a partition,
    /// a laptop asleep). Closed, it is dialled again with the peer set's
    /// backoff, instead of waiting on TCP's retransmissions.
    fn close_dead(&mut self) {
        let now = Instant::now();
        let dead_after = self.config.ping_interval * 2 + self.config.ping_timeout;
        let dead: Vec<ConnectionId> = self
            .answered
            .iter()
            .filter(|(_, answered)| now.saturating_duration_since(**answered) > dead_after)
            .map(|(connection, _)| *connection)
            .collect();
        for connection in dead {
            tracing::debug!(?connection, "no ping answered: closing the connection");
            self.answered.remove(&connection);
            self.swarm.close_connection(connection);
        }
    }

    /// While no peer is connected: dials the bootstrap and lost peers,
    /// whatever the backoff (each lost peer from a new port, so that two
    /// isolated nodes dialling each other at the same tick do not meet on
    /// one connection; the peers met before are dialled at the redial
    /// tick).
    fn redial_isolated(&mut self) {
        let dials = self.peers.redial_isolated();
        self.carry_out(dials);
    }

    /// Dials again what the peer set asks for, and the peers met before
    /// when none is connected.
    pub(super) fn redial(&mut self) {
        let dials = self.peers.redial(Instant::now());
        self.carry_out(dials);
        if self.peers.len() == 0
            && let Ok(addresses) = remembered(&self.store, DIAL_AT_START)
        {
            for address in addresses {
                self.dial(address);
            }
        }
    }

    /// Closes the peers the peer set trims, keeping those the other roles
    /// need: gossip mesh members, relays holding this node's reservation,
    /// rendezvous points, peers syncing or waiting to.
    pub(super) fn prune(&mut self) {
        self.ban_low_scores();
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mut pinned: HashSet<PeerId> = gossipsub.all_mesh_peers().copied().collect();
        pinned.extend(self.reserved.iter().copied());
        pinned.extend(self.rendezvous.points());
        pinned.extend(self.schedule.busy());
        let sharing: HashSet<PeerId> = gossipsub
            .all_peers()
            .filter(|(_, topics)| {
                topics.iter().any(|topic| {
                    postal_key_of(topic).is_some_and(|key| self.followed.contains(key))
                })
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in self.peers.trim(Instant::now(), &pinned, &sharing) {
            if self.swarm.disconnect_peer_id(peer).is_ok() {
                self.peers.closing(peer);
            }
        }
    }
}
