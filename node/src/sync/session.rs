//! The pull phase of a session, sans I/O: which documents to ask for and
//! how, what an answer must look like, and when a document is done. It
//! reads what the node holds through [`Holdings`] and never sends,
//! receives or writes anything itself; [`pull`](mod@super::pull) is the shell
//! that does.
//!
//! Each document is asked for by its heads; if the peer does not know them
//! all, it answers with its own heads, and the document is done if this
//! node has those (it is ahead), or asked for again by the hashes of all
//! its changes (both sides made changes).

use std::collections::HashSet;

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;

use super::wire::{Have, Request, Response};
use super::{MAX_PULL_DOCS, SyncError};
use crate::store::StoreError;
use crate::store::sync_items::Holdings;

/// The documents still to pull, and how.
#[derive(Debug)]
pub struct Pulls {
    /// Documents not done yet, in the order asked.
    wanted: Vec<EntityId>,
    /// Documents to ask for by change hashes: their heads were not enough.
    by_changes: HashSet<EntityId>,
    /// Documents in all.
    differing: usize,
    /// The documents of the request in flight.
    asked: Vec<EntityId>,
    /// An answer checked, whose documents are settled once its envelopes
    /// are ingested: served, and unresolved with the peer's heads.
    answered: Option<Answered>,
}

#[derive(Debug)]
struct Answered {
    served: Vec<[u8; 16]>,
    unresolved: Vec<([u8; 16], Vec<[u8; 32]>)>,
}

impl Pulls {
    /// Pulls of the documents `wanted`.
    pub fn new(wanted: Vec<EntityId>) -> Self {
        Self {
            differing: wanted.len(),
            wanted,
            by_changes: HashSet::new(),
            asked: Vec::new(),
            answered: None,
        }
    }

    /// Documents to pull in all.
    pub fn differing(&self) -> usize {
        self.differing
    }

    /// Documents done.
    pub fn done(&self) -> usize {
        self.differing - self.wanted.len()
    }

    /// The next request: the first [`MAX_PULL_DOCS`] documents not done,
    /// each with what `holdings` has of it; `None` once all are done.
    pub fn request(&mut self, holdings: &impl Holdings) -> Result<Option<Request>, StoreError> {
        if self.wanted.is_empty() {
            return Ok(None);
        }
        self.asked = self.wanted.iter().take(MAX_PULL_DOCS).copied().collect();
        let mut docs = Vec::with_capacity(self.asked.len());
        for id in &self.asked {
            let have = if self.by_changes.contains(id) {
                Have::Changes(hashes(holdings.change_hashes(id)?))
            } else {
                Have::Heads(hashes(holdings.heads(id)?))
            };
            docs.push((*id.as_bytes(), have));
        }
        Ok(Some(Request::Pull { docs }))
    }

    /// Checks the answer to the last request; returns the envelopes to
    /// ingest before [`Self::settle`].
    pub fn answer(&mut self, response: Response) -> Result<Vec<Vec<u8>>, SyncError> {
        let Response::Changes {
            envelopes,
            served,
            unresolved,
        } = response
        else {
            return Err(refusal_or_mismatch(response));
        };
        if served.is_empty() && unresolved.is_empty() {
            return Err(SyncError::Protocol(
                "a pull answered with no document".into(),
            ));
        }
        let asked = |id: &[u8; 16]| self.asked.iter().any(|asked| asked.as_bytes() == id);
        if !served.iter().all(asked) {
            return Err(SyncError::Protocol(
                "a document that was not asked for".into(),
            ));
        }
        let by_heads =
            |id: &[u8; 16]| asked(id) && !self.by_changes.contains(&EntityId::from_bytes(*id));
        if !unresolved.iter().all(|(id, _)| by_heads(id)) {
            return Err(SyncError::Protocol(
                "heads for a document not asked for by its heads".into(),
            ));
        }
        self.answered = Some(Answered { served, unresolved });
        Ok(envelopes)
    }

    /// Once the envelopes of the last answer are ingested: the served
    /// documents are done, and so are the unresolved ones whose every head
    /// `holdings` has (this node is ahead of the peer); the other
    /// unresolved ones are asked for again by their change hashes. Returns
    /// how many were unresolved.
    pub fn settle(&mut self, holdings: &impl Holdings) -> Result<usize, StoreError> {
        let Some(Answered { served, unresolved }) = self.answered.take() else {
            return Ok(0);
        };
        let mut done: HashSet<EntityId> = served.into_iter().map(EntityId::from_bytes).collect();
        let count = unresolved.len();
        for (id, heads) in unresolved {
            let id = EntityId::from_bytes(id);
            let heads: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
            if holdings.has_changes(&id, &heads)? {
                done.insert(id);
            } else {
                self.by_changes.insert(id);
            }
        }
        self.wanted.retain(|id| !done.contains(id));
        Ok(count)
    }
}

fn hashes(hashes: Vec<ChangeHash>) -> Vec<[u8; 32]> {
    hashes.into_iter().map(|hash| hash.0).collect()
}

/// The error for an answer of the wrong kind, or a refusal.
pub(super) fn refusal_or_mismatch(response: Response) -> SyncError {
    match response {
        Response::Refused { reason } => SyncError::Protocol(format!("the peer refused: {reason}")),
        _ => SyncError::Protocol("an answer of the wrong kind".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Documents as sets of change hashes; the heads are given apart.
    #[derive(Default)]
    struct Held {
        changes: HashMap<EntityId, Vec<ChangeHash>>,
        heads: HashMap<EntityId, Vec<ChangeHash>>,
    }

    impl Holdings for Held {
        fn heads(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
            Ok(self.heads.get(id).cloned().unwrap_or_default())
        }

        fn change_hashes(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
            Ok(self.changes.get(id).cloned().unwrap_or_default())
        }

        fn has_changes(&self, id: &EntityId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
            let held = self.changes.get(id).map_or(&[][..], Vec::as_slice);
            Ok(hashes.iter().all(|hash| held.contains(hash)))
        }
    }

    fn id(n: u8) -> EntityId {
        EntityId::from_bytes([n; 16])
    }

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    fn held() -> Held {
        let mut held = Held::default();
        for n in 1..=3 {
            held.changes.insert(id(n), vec![hash(n), hash(n + 10)]);
            held.heads.insert(id(n), vec![hash(n + 10)]);
        }
        held
    }

    fn changes(served: &[u8], unresolved: &[(u8, u8)]) -> Response {
        Response::Changes {
            envelopes: vec![vec![1, 2, 3]],
            served: served.iter().map(|n| [*n; 16]).collect(),
            unresolved: unresolved
                .iter()
                .map(|(n, head)| ([*n; 16], vec![[*head; 32]]))
                .collect(),
        }
    }

    #[test]
    fn documents_are_asked_by_heads_then_by_changes_unless_this_node_is_ahead() {
        let held = held();
        let mut pulls = Pulls::new(vec![id(1), id(2), id(3)]);
        let first = pulls.request(&held).unwrap().unwrap();
        let Request::Pull { docs } = &first else {
            panic!("{first:?}")
        };
        assert_eq!(docs[0], ([1; 16], Have::Heads(vec![[11; 32]])));
        // 1 served; the peer does not know the heads of 2 and 3, and
        // answers with its own: this node has 2's (it is ahead), not 3's.
        let envelopes = pulls.answer(changes(&[1], &[(2, 12), (3, 99)])).unwrap();
        assert_eq!(envelopes, [vec![1, 2, 3]]);
        assert_eq!(pulls.settle(&held).unwrap(), 2);
        assert_eq!(pulls.done(), 2);
        let second = pulls.request(&held).unwrap().unwrap();
        assert_eq!(
            second,
            Request::Pull {
                docs: vec![([3; 16], Have::Changes(vec![[3; 32], [13; 32]]))]
            }
        );
        pulls.answer(changes(&[3], &[])).unwrap();
        pulls.settle(&held).unwrap();
        assert_eq!((pulls.done(), pulls.differing()), (3, 3));
        assert_eq!(pulls.request(&held).unwrap(), None);
    }

    #[test]
    fn answers_off_the_protocol_are_refused() {
        let held = held();
        let refused = |response: Response, by_changes: bool| {
            let mut pulls = Pulls::new(vec![id(1), id(2)]);
            if by_changes {
                pulls.request(&held).unwrap();
                pulls.answer(changes(&[2], &[(1, 99)])).unwrap();
                pulls.settle(&held).unwrap();
            }
            pulls.request(&held).unwrap();
            matches!(pulls.answer(response), Err(SyncError::Protocol(_)))
        };
        assert!(refused(changes(&[], &[]), false), "no document");
        assert!(refused(changes(&[7], &[]), false), "not asked for");
        assert!(
            refused(changes(&[1], &[(7, 1)]), false),
            "heads not asked for"
        );
        assert!(
            refused(changes(&[], &[(1, 5)]), true),
            "heads of a by-changes pull"
        );
        let refusal = Response::Refused {
            reason: "busy".into(),
        };
        assert!(refused(refusal, false));
        let wrong = Response::Reconcile { ranges: Vec::new() };
        assert!(refused(wrong, false));
        assert!(!refused(changes(&[1], &[(2, 5)]), false), "a fair answer");
    }
}
