//! mDNS that starts once the node can be reached: [`LanDiscovery`] holds
//! libp2p's mDNS behaviour back until the node listens on an address other
//! than loopback, then hands it the addresses and lets it run.
//!
//! Why: libp2p-mdns (0.49) answers a query with the addresses the node
//! listens on *at that moment*, and a node stops asking the LAN as soon as
//! one answer carried addresses (it asks again only after its query
//! interval). Nodes started together asked and answered before they knew
//! their addresses: their answers carried none, the asking nodes had
//! stopped asking after a first useful answer from someone else, and pairs
//! of nodes met only at the next query, 20 s later. Started late, every
//! answer carries addresses, and every node asks the LAN at once when it
//! starts: of any two nodes, the later one to start finds the earlier,
//! unless its question reached the other before the other answered anyone
//! (its interfaces not watched yet) while the other's reached it as early.
//! So mDNS is started afresh, asking again, [`ASK_AGAIN`] after it first
//! started (a fresh start is the one way libp2p-mdns offers to ask now;
//! the tasks of the one replaced end at the first answer they hear).

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libp2p::core::Endpoint;
use libp2p::core::transport::{ListenerId, PortUse};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, ExpiredListenAddr, FromSwarm, NetworkBehaviour, NewListenAddr,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId, mdns};

/// When mDNS is started afresh after it first started, to ask the LAN
/// again: nodes started together then meet even when their first
/// questions crossed.
const ASK_AGAIN: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// libp2p's mDNS, started once the node listens beyond loopback.
pub(super) struct LanDiscovery {
    mdns: mdns::tokio::Behaviour,
    config: mdns::Config,
    peer_id: PeerId,
    /// The addresses listened on, handed to mDNS when it (re)starts.
    listening: Vec<(ListenerId, Multiaddr)>,
    started: bool,
    /// The fresh starts still to come, the next one armed.
    again: std::vec::IntoIter<Duration>,
    next: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The task polling this behaviour, woken when it starts.
    waker: Option<Waker>,
}

impl LanDiscovery {
    pub(super) fn new(config: mdns::Config, peer_id: PeerId) -> Result<Self, String> {
        Ok(Self {
            mdns: Self::fresh(&config, peer_id)?,
            config,
            peer_id,
            listening: Vec::new(),
            started: false,
            again: ASK_AGAIN.to_vec().into_iter(),
            next: None,
            waker: None,
        })
    }

    fn fresh(config: &mdns::Config, peer_id: PeerId) -> Result<mdns::tokio::Behaviour, String> {
        mdns::tokio::Behaviour::new(config.clone(), peer_id)
            .map_err(|error| format!("mDNS: {error}"))
    }

    /// Starts `mdns` with the addresses listened on.
    fn start(&mut self) {
        for (listener_id, addr) in &self.listening {
            self.mdns
                .on_swarm_event(FromSwarm::NewListenAddr(NewListenAddr {
                    listener_id: *listener_id,
                    addr,
                }));
        }
        self.started = true;
        self.next = self
            .again
            .next()
            .map(|after| Box::pin(tokio::time::sleep(after)));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Whether `address` can be reached from another computer.
fn beyond_loopback(address: &Multiaddr) -> bool {
    address.iter().any(|protocol| match protocol {
        Protocol::Ip4(ip) => !ip.is_loopback() && !ip.is_unspecified(),
        Protocol::Ip6(ip) => !ip.is_loopback() && !ip.is_unspecified(),
        _ => false,
    })
}

impl NetworkBehaviour for LanDiscovery {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = mdns::Event;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.mdns
            .handle_established_inbound_connection(connection, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.mdns
            .handle_pending_outbound_connection(connection, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        address: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.mdns
            .handle_established_outbound_connection(connection, peer, address, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::NewListenAddr(NewListenAddr { listener_id, addr }) => {
                self.listening.push((listener_id, addr.clone()));
            }
            FromSwarm::ExpiredListenAddr(ExpiredListenAddr { addr, .. }) => {
                self.listening.retain(|(_, known)| known != addr);
            }
            _ => {}
        }
        if self.started {
            self.mdns.on_swarm_event(event);
        } else if self
            .listening
            .iter()
            .any(|(_, address)| beyond_loopback(address))
        {
            tracing::debug!("listening beyond loopback: mDNS starts");
            self.start();
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.mdns
            .on_connection_handler_event(peer, connection, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if !self.started {
            self.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if let Some(next) = &mut self.next
            && next.as_mut().poll(cx).is_ready()
        {
            match Self::fresh(&self.config, self.peer_id) {
                Ok(fresh) => {
                    tracing::debug!("mDNS started afresh, to ask the LAN again");
                    self.mdns = fresh;
                    self.start();
                }
                Err(error) => {
                    tracing::warn!(error, "mDNS could not start afresh");
                    self.next = None;
                }
            }
        }
        self.mdns.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_other_computers_reach_start_mdns() {
        for (address, reachable) in [
            ("/ip4/127.0.0.1/tcp/4001", false),
            ("/ip4/0.0.0.0/tcp/4001", false),
            ("/ip6/::1/tcp/4001", false),
            ("/ip4/10.77.0.1/tcp/4001", true),
            ("/ip4/192.168.1.20/udp/4001/quic-v1", true),
            ("/ip6/fe80::1/tcp/4001", true),
            ("/memory/7", false),
        ] {
            let address: Multiaddr = address.parse().unwrap();
            assert_eq!(beyond_loopback(&address), reachable, "{address}");
        }
    }
}
