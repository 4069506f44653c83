//! Announcements of changes too large for gossip, pure: an announcement
//! (document id and change hash, unsigned) is not forwarded on trust. The
//! node pulls the document from the peer that sent it, and only once the
//! announced change is in the store (verified, authorized, applied) does
//! gossipsub forward the announcement; a peer that announced what it could
//! not serve is held to it. Pulls are de-duplicated by document and
//! bounded, in all and per peer: a flood of made-up announcements costs a
//! few pulls at a time, not a task and a pull each.

use std::collections::HashMap;

use crdt_model::ids::EntityId;
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;

/// Announcement pulls running at once, at most.
pub(super) const MAX_PULLS: usize = 16;

/// Announcement pulls from one peer at once, at most.
pub(super) const MAX_PULLS_PER_PEER: usize = 4;

/// Announcements of one document waiting for its pull, at most.
pub(super) const MAX_WAITING: usize = 32;

/// An announcement heard: its message, who sent it, the change announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Heard {
    /// The gossip message.
    pub(super) id: MessageId,
    /// The peer it came from.
    pub(super) source: PeerId,
    /// The change hash it announces.
    pub(super) hash: [u8; 32],
}

/// What to do with an announcement just heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Pull the document from the announcement's source.
    Pull,
    /// A pull of that document runs: the announcement waits for it.
    Wait,
    /// Too many pulls already: neither forwarded nor held against anyone
    /// (catch-up sync brings the change if it exists).
    Ignore,
}

/// A pull of one announced document.
#[derive(Debug)]
struct Pull {
    /// Pulled from.
    peer: PeerId,
    /// The announcements waiting for it, the first included.
    waiting: Vec<Heard>,
}

/// The announcement pulls of a node; see the module doc.
#[derive(Debug, Default)]
pub(super) struct Announcements {
    pulls: HashMap<EntityId, Pull>,
    per_peer: HashMap<PeerId, usize>,
}

impl Announcements {
    /// An announcement of `doc` was heard: pull it, wait for the pull
    /// running, or ignore it.
    pub(super) fn heard(&mut self, doc: EntityId, heard: Heard) -> Decision {
        if let Some(pull) = self.pulls.get_mut(&doc) {
            if pull.waiting.len() >= MAX_WAITING {
                return Decision::Ignore;
            }
            pull.waiting.push(heard);
            return Decision::Wait;
        }
        let from_peer = self.per_peer.get(&heard.source).copied().unwrap_or(0);
        if self.pulls.len() >= MAX_PULLS || from_peer >= MAX_PULLS_PER_PEER {
            return Decision::Ignore;
        }
        *self.per_peer.entry(heard.source).or_default() += 1;
        self.pulls.insert(
            doc,
            Pull {
                peer: heard.source,
                waiting: vec![heard],
            },
        );
        Decision::Pull
    }

    /// The pull of `doc` ended: the announcements that waited for it, to
    /// judge against what the store now holds.
    pub(super) fn pulled(&mut self, doc: &EntityId) -> Vec<Heard> {
        let Some(pull) = self.pulls.remove(doc) else {
            return Vec::new();
        };
        if let Some(count) = self.per_peer.get_mut(&pull.peer) {
            *count -= 1;
            if *count == 0 {
                self.per_peer.remove(&pull.peer);
            }
        }
        pull.waiting
    }

    /// Pulls running.
    #[cfg(test)]
    pub(super) fn running(&self) -> usize {
        self.pulls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(source: PeerId, n: u8) -> Heard {
        Heard {
            id: MessageId::from(vec![n]),
            source,
            hash: [n; 32],
        }
    }

    fn doc(n: u8) -> EntityId {
        EntityId::from_bytes([n; 16])
    }

    #[test]
    fn one_pull_per_document_and_everyone_waiting_is_told() {
        let mut announcements = Announcements::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(announcements.heard(doc(1), heard(a, 1)), Decision::Pull);
        assert_eq!(announcements.heard(doc(1), heard(b, 2)), Decision::Wait);
        assert_eq!(announcements.running(), 1);
        let waiting = announcements.pulled(&doc(1));
        assert_eq!(waiting, vec![heard(a, 1), heard(b, 2)]);
        assert_eq!(announcements.running(), 0);
        assert!(announcements.pulled(&doc(1)).is_empty(), "told once");
        assert_eq!(announcements.heard(doc(1), heard(a, 3)), Decision::Pull);
    }

    #[test]
    fn a_flood_costs_a_bounded_number_of_pulls() {
        let mut announcements = Announcements::default();
        let flooder = PeerId::random();
        let decisions: Vec<Decision> = (0..200u8)
            .map(|n| announcements.heard(doc(n), heard(flooder, n)))
            .collect();
        let pulls = decisions.iter().filter(|d| **d == Decision::Pull).count();
        assert_eq!(pulls, MAX_PULLS_PER_PEER);
        // Others still get their turn, up to the bound in all.
        let mut others = 0;
        for n in 0..50u8 {
            if announcements.heard(doc(200 + n / 10), heard(PeerId::random(), n)) == Decision::Pull
            {
                others += 1;
            }
        }
        assert!(others > 0);
        assert!(announcements.running() <= MAX_PULLS);
        // Waiting for one document is bounded too.
        let busy = doc(0);
        let waits = (0..100u8)
            .filter(|n| announcements.heard(busy, heard(PeerId::random(), *n)) == Decision::Wait)
            .count();
        assert_eq!(waits, MAX_WAITING - 1);
        // A pull ended frees its peer's turn.
        announcements.pulled(&doc(0));
        assert_eq!(
            announcements.heard(doc(250), heard(flooder, 250)),
            Decision::Pull
        );
    }
}
