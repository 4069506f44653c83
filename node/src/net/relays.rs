//! Relays' entries, pure: a community relay writes, for each postal code
//! it serves, an entry of kind `relay` in that postal code's directory,
//! signed with its network key and listing the addresses it is reached at.
//! The entry travels like any other (gossip, catch-up sync), so a node
//! learns the relays of its postal codes from whichever peer it meets, and
//! remembers them with the peers met, to dial them again at its next start.
//!
//! The entry's signer is the peer: an entry's addresses are dialled with
//! its creator's key as the peer id, so nobody can send nodes to a relay
//! in its name (the Noise handshake would fail). What is left to a made-up
//! entry is to make the nodes of a postal code dial an address each; a node
//! learns [`MAX_LEARNT`] relays per run at most.

use crdt_model::document::Entity;
use crdt_model::schema::{Field, Kind, MAX_RELAY_ADDRESSES};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// Relays a node learns from entries in one run, at most.
pub const MAX_LEARNT: usize = 8;

/// Whether another computer may reach `address`: an IP address that is
/// neither loopback nor unspecified, or a DNS name.
pub fn reachable(address: &Multiaddr) -> bool {
    match address.iter().next() {
        Some(Protocol::Ip4(ip)) => !ip.is_loopback() && !ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => !ip.is_loopback() && !ip.is_unspecified(),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_)) => true,
        _ => false,
    }
}

/// Whether `address` names an unspecified IP (`0.0.0.0`, `::`): where a
/// node listens on every interface, not where anyone reaches it.
pub fn unspecified(address: &Multiaddr) -> bool {
    address.iter().any(|part| match part {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

/// `address` without its `/p2p/` parts.
pub fn without_peer(address: &Multiaddr) -> Multiaddr {
    address
        .iter()
        .filter(|protocol| !matches!(protocol, Protocol::P2p(_)))
        .collect()
}

/// The peer id of an author key (the same ed25519 key as a network key).
pub fn peer_of(author: &crdt_model::ids::AuthorKey) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(author.as_bytes()).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}

/// The addresses a relay writes in its entry, as the entry's text: those
/// it announces first, then the addresses it listens on that another
/// computer may reach (on a machine with only loopback, those), without
/// peer ids, without repeats, at most [`MAX_RELAY_ADDRESSES`].
pub fn entry_addresses(announce: &[Multiaddr], listen: &[Multiaddr]) -> String {
    let listen: Vec<Multiaddr> = listen.iter().map(without_peer).collect();
    let outside: Vec<&Multiaddr> = listen.iter().filter(|a| reachable(a)).collect();
    let heard: Vec<&Multiaddr> = if outside.is_empty() {
        listen.iter().filter(|a| !unspecified(a)).collect()
    } else {
        outside
    };
    let mut written: Vec<String> = Vec::new();
    for address in announce
        .iter()
        .map(without_peer)
        .chain(heard.into_iter().cloned())
    {
        let text = address.to_string();
        if written.len() < MAX_RELAY_ADDRESSES
            && !written.contains(&text)
            && crdt_model::schema::check_relay_addresses(&text).is_ok()
        {
            written.push(text);
        }
    }
    written.join(" ")
}

/// The peer a relay's entry leads to and its addresses, each ending with
/// that peer's id; `None` for another kind, a deleted entry, or an entry
/// with no address this node can read.
pub fn entry_peer(entity: &Entity) -> Option<(PeerId, Vec<Multiaddr>)> {
    if entity.kind != Kind::Relay || entity.deleted {
        return None;
    }
    let peer = peer_of(&entity.creator)?;
    let addresses: Vec<Multiaddr> = entity
        .text(Field::Addresses)?
        .split(' ')
        .filter_map(|text| text.parse::<Multiaddr>().ok())
        .map(|address| without_peer(&address).with(Protocol::P2p(peer)))
        .collect();
    (!addresses.is_empty()).then_some((peer, addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_entry_lists_reachable_addresses_first_announced_without_peer_ids() {
        let peer = PeerId::random();
        let listen = [
            address("/ip4/127.0.0.1/tcp/4001").with(Protocol::P2p(peer)),
            address("/ip4/192.0.2.7/tcp/4001").with(Protocol::P2p(peer)),
            address("/ip4/0.0.0.0/tcp/4001"),
        ];
        let announce = [address("/dns4/relais.example.org/tcp/4001")];
        assert_eq!(
            entry_addresses(&announce, &listen),
            "/dns4/relais.example.org/tcp/4001 /ip4/192.0.2.7/tcp/4001"
        );
        // Loopback only: what there is (a relay tried on one machine).
        assert_eq!(
            entry_addresses(&[], &listen[..1]),
            "/ip4/127.0.0.1/tcp/4001"
        );
        assert_eq!(entry_addresses(&[], &listen[2..]), "");
        let many: Vec<Multiaddr> = (1..20)
            .map(|port| address(&format!("/ip4/192.0.2.7/tcp/{port}")))
            .collect();
        let text = entry_addresses(&[], &many);
        assert_eq!(text.split(' ').count(), MAX_RELAY_ADDRESSES);
        crdt_model::schema::check_relay_addresses(&text).unwrap();
    }

    #[test]
    fn an_entry_leads_to_its_signer() {
        let signing = crdt_model::ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let creator = crdt_model::ids::AuthorKey::of(&signing);
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes([7; 32]).unwrap();
        let peer = peer_of(&creator).unwrap();
        assert_eq!(
            peer,
            keypair.public().to_peer_id(),
            "the same seed, the same peer"
        );

        let genesis = crdt_model::document::Genesis {
            kind: Kind::Relay,
            name: "Relais".into(),
            postal_code: "97400".into(),
            country: "FR".into(),
            open_edition: None,
        };
        let edits = [crdt_model::document::Edit::Set(
            Field::Addresses,
            crdt_model::schema::Value::Text("/ip4/192.0.2.7/tcp/4001 /ip4/192.0.2.7/tcp".into()),
        )];
        let actor = crdt_model::ids::Actor {
            author: creator,
            device: 0,
        };
        let created = crdt_model::document::create(&genesis, &actor, 0, [1; 16], &edits).unwrap();
        let mut entity = crdt_model::document::read(&created.doc).unwrap();
        let (found, addresses) = entry_peer(&entity).unwrap();
        assert_eq!(found, peer);
        assert_eq!(
            addresses,
            [address("/ip4/192.0.2.7/tcp/4001").with(Protocol::P2p(peer))],
            "what does not read is left aside"
        );
        entity.deleted = true;
        assert_eq!(entry_peer(&entity), None);
        entity.deleted = false;
        entity.kind = Kind::Place;
        assert_eq!(entry_peer(&entity), None, "only relay entries");
    }
}
