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
//! starts: of any two nodes, the later one to start finds the earlier.

use std::task::{Context, Poll, Waker};

use libp2p::core::Endpoint;
use libp2p::core::transport::{ListenerId, PortUse};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, ExpiredListenAddr, FromSwarm, NetworkBehaviour, NewListenAddr,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId, mdns};

/// libp2p's mDNS, started once the node listens beyond loopback.
pub(super) struct LanDiscovery {
    mdns: mdns::tokio::Behaviour,
    /// Until it starts: the addresses listened on so far, handed to it
    /// when it starts. `None` once started.
    waiting: Option<Vec<(ListenerId, Multiaddr)>>,
    /// The task polling this behaviour, woken when it starts.
    waker: Option<Waker>,
}

impl LanDiscovery {
    pub(super) fn new(mdns: mdns::tokio::Behaviour) -> Self {
        Self {
            mdns,
            waiting: Some(Vec::new()),
            waker: None,
        }
    }

    /// Whether mDNS runs (the node listens beyond loopback).
    pub(super) fn started(&self) -> bool {
        self.waiting.is_none()
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
        let Some(waiting) = &mut self.waiting else {
            self.mdns.on_swarm_event(event);
            return;
        };
        match event {
            FromSwarm::NewListenAddr(NewListenAddr { listener_id, addr }) => {
                waiting.push((listener_id, addr.clone()));
            }
            FromSwarm::ExpiredListenAddr(ExpiredListenAddr { addr, .. }) => {
                waiting.retain(|(_, known)| known != addr);
            }
            // mDNS keeps nothing else of the swarm's events.
            _ => return,
        }
        if waiting.iter().any(|(_, address)| beyond_loopback(address)) {
            for (listener_id, addr) in self.waiting.take().into_iter().flatten() {
                self.mdns
                    .on_swarm_event(FromSwarm::NewListenAddr(NewListenAddr {
                        listener_id,
                        addr: &addr,
                    }));
            }
            tracing::debug!("listening beyond loopback: mDNS starts");
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
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
        if self.started() {
            self.mdns.poll(cx)
        } else {
            self.waker = Some(cx.waker().clone());
            Poll::Pending
        }
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
