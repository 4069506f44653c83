//! The citizen's decisions in the rooms of their node: made, signed and
//! stored like any edit ([`Local::decide`]), and tallied from the stored
//! document ([`Local::tally`]) or, to verify, from the signed changes
//! themselves, each signature and authorization checked again.

use std::collections::VecDeque;

use crdt_model::automerge::{Automerge, Change, ReadDoc};
use crdt_model::decide::{self, Decision, Tally};
use crdt_model::document;
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::Kind;
use crdt_model::signed::SignedChange;
use serde::{Deserialize, Serialize};

use super::{Local, LocalError, now_ms, random_seed};
use crate::store::Filter;

/// A proposal's tally as the node reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TallyReport {
    /// The room holding the proposal.
    #[schema(value_type = String)]
    pub room: EntityId,
    /// The room's name.
    pub room_name: String,
    /// The id of what the decision made (a proposal, an amendment), when it
    /// made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made: Option<String>,
    /// The proposal, the closing, the votes counted and left out, the
    /// counts and the outcome (see the protocol, section 4.1).
    #[schema(value_type = Object)]
    pub tally: Tally,
    /// With `verify`: the same tally recomputed from the signed changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Verified>,
}

/// What verifying a tally checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verified {
    /// Signed changes of the room read, each signature verified and each
    /// change authorized again, in causal order.
    pub changes: usize,
    /// Whether the recomputed tally is the stored one.
    pub same: bool,
}

/// The proposal a decision is about, if it names one.
fn proposal_of(decision: &Decision) -> Option<&str> {
    match decision {
        Decision::Propose { .. } => None,
        Decision::Amend { proposal, .. }
        | Decision::Reword { proposal, .. }
        | Decision::OpenVote { proposal }
        | Decision::Vote { proposal, .. }
        | Decision::VoteAmendment { proposal, .. }
        | Decision::Close { proposal, .. }
        | Decision::AddAction { proposal, .. }
        | Decision::SetActionStatus { proposal, .. }
        | Decision::Volunteer { proposal, .. } => Some(proposal),
    }
}

impl Local {
    /// Blocks (`block` true) or unblocks an author for this citizen: from
    /// now on their changes are neither stored nor forwarded by this node.
    /// Returns the authors blocked.
    pub fn block(&self, author: &AuthorKey, block: bool) -> Result<Vec<String>, LocalError> {
        if block && *author == self.identity.author() {
            return Err(LocalError::BlockSelf);
        }
        self.store.set_blocked(&author.to_string(), block)?;
        Ok(self.store.blocked()?.into_iter().collect())
    }

    /// The room holding the proposal `id`. A proposal never leaves its
    /// room, so what a look through the rooms found is remembered; only a
    /// proposal not seen yet makes the node look again.
    pub fn room_of(&self, id: &str) -> Result<EntityId, LocalError> {
        let known = |rooms: &std::collections::HashMap<String, EntityId>| rooms.get(id).copied();
        if let Some(room) = self.proposal_rooms.lock().ok().as_deref().and_then(known) {
            return Ok(room);
        }
        let rooms = self.store.list(&Filter {
            kind: Some(Kind::Room),
            ..Filter::default()
        })?;
        let mut found = std::collections::HashMap::new();
        for room in rooms {
            if let Some(doc) = self.store.document(&room.id)? {
                for proposal in decide::proposals(&doc) {
                    found.entry(proposal.id).or_insert(room.id);
                }
            }
        }
        let room = known(&found);
        if let Ok(mut rooms) = self.proposal_rooms.lock() {
            *rooms = found;
        }
        room.ok_or_else(|| LocalError::UnknownProposal(id.to_owned()))
    }

    /// Makes a decision in the citizen's name: in `room` for a new
    /// proposal, else in the room of the proposal it names. The rules of
    /// the room (its phase, who takes part, one vote each…) are checked
    /// before anything is stored.
    pub fn decide(
        &self,
        room: Option<EntityId>,
        decision: &Decision,
    ) -> Result<TallyReport, LocalError> {
        self.decide_at(room, decision, now_ms())
    }

    /// [`Local::decide`], the change made at `at` (ms).
    pub(super) fn decide_at(
        &self,
        room: Option<EntityId>,
        decision: &Decision,
        at: i64,
    ) -> Result<TallyReport, LocalError> {
        let room = match (room, proposal_of(decision)) {
            (Some(room), _) => room,
            (None, Some(proposal)) => self.room_of(proposal)?,
            (None, None) => return Err(LocalError::NoRoom),
        };
        let mut decision = decision.clone();
        let seed = random_seed()?;
        let nonce: [u8; 8] = seed[..8].try_into().expect("8 bytes");
        match &mut decision {
            Decision::Propose { nonce: n, .. }
            | Decision::Amend { nonce: n, .. }
            | Decision::AddAction { nonce: n, .. } => *n = nonce,
            _ => {}
        }
        let (entity, made) = {
            let _editing = self
                .editing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let doc = self
                .store
                .document(&room)?
                .ok_or(LocalError::UnknownEntity(room))?;
            let entity = document::read(&doc).map_err(document::EditError::from)?;
            if entity.kind != Kind::Room {
                return Err(LocalError::NotARoom(room));
            }
            let (change, made) = decide::decide(
                &doc,
                &self.identity.actor(self.profile.device),
                at,
                &decision,
            )?;
            self.commit(room, &entity.postal_key(), &change)?;
            (entity, made)
        };
        let proposal = match &decision {
            Decision::Propose { .. } => made.clone().expect("a proposal has an id"),
            other => proposal_of(other).expect("names its proposal").to_owned(),
        };
        let mut report = self.report(room, entity.name(), &proposal, false)?;
        report.made = made;
        Ok(report)
    }

    /// The proposals of a room, newest first.
    pub fn proposals(&self, room: EntityId) -> Result<Vec<decide::Proposal>, LocalError> {
        let doc = self
            .store
            .document(&room)?
            .ok_or(LocalError::UnknownEntity(room))?;
        if document::read(&doc)
            .map_err(document::EditError::from)?
            .kind
            != Kind::Room
        {
            return Err(LocalError::NotARoom(room));
        }
        Ok(decide::proposals(&doc))
    }

    /// The tally of the proposal `id`; with `verify`, recomputed from the
    /// room's signed changes and compared.
    pub fn tally(&self, id: &str, verify: bool) -> Result<TallyReport, LocalError> {
        let room = self.room_of(id)?;
        let name = self
            .store
            .entity(&room)?
            .map(|room| room.name().to_owned())
            .unwrap_or_default();
        self.report(room, &name, id, verify)
    }

    fn report(
        &self,
        room: EntityId,
        room_name: &str,
        proposal: &str,
        verify: bool,
    ) -> Result<TallyReport, LocalError> {
        let doc = self
            .store
            .document(&room)?
            .ok_or(LocalError::UnknownEntity(room))?;
        let citizen = self.citizen_of_room(&doc)?;
        let tally = decide::tally(&doc, proposal, &citizen)
            .ok_or_else(|| LocalError::UnknownProposal(proposal.to_owned()))?;
        let verified = if verify {
            let (replayed, changes) = self.replay(room)?;
            let again = decide::tally(&replayed, proposal, &citizen);
            Some(Verified {
                changes,
                same: again.as_ref() == Some(&tally),
            })
        } else {
            None
        };
        Ok(TallyReport {
            room,
            room_name: room_name.to_owned(),
            made: None,
            tally,
            verified,
        })
    }

    /// The room's document rebuilt from its stored signed changes: each
    /// envelope verified, each change authorized as if received, applied
    /// once its dependencies are. A change that fails is an error: the
    /// store should hold none.
    fn replay(&self, room: EntityId) -> Result<(Automerge, usize), LocalError> {
        let mut waiting: Vec<(AuthorKey, Change)> = Vec::new();
        for bytes in self.store.envelopes(&room)? {
            let verified = SignedChange::decode(&bytes)
                .and_then(|envelope| envelope.verify())
                .map_err(LocalError::Envelope)?;
            waiting.push((verified.envelope.author, verified.change));
        }
        let total = waiting.len();
        let mut doc = Automerge::new();
        let mut queue: VecDeque<(AuthorKey, Change)> = waiting.into();
        let mut stalled = 0;
        while let Some((author, change)) = queue.pop_front() {
            if doc.get_change_by_hash(&change.hash()).is_some() {
                continue;
            }
            match crdt_model::authz::authorize(&doc, &room, &author, &change) {
                Ok(()) => {
                    crdt_model::authz::apply(&mut doc, change)
                        .map_err(|reject| LocalError::Refused(reject.to_string()))?;
                    stalled = 0;
                }
                Err(crdt_model::authz::Reject::MissingDependencies(_))
                    if stalled < queue.len() + 1 =>
                {
                    stalled += 1;
                    queue.push_back((author, change));
                }
                Err(reject) => {
                    return Err(LocalError::Refused(format!(
                        "a stored change of the room does not pass again: {reject}"
                    )));
                }
            }
        }
        Ok((doc, total))
    }
}
