//! Moderation on the citizen's node ([`crdt_model::decide::moderation`]):
//! where an entity stands, the queue of a postal code, the entities hidden
//! by their community's decision, and the moderation proposal a report
//! opens once the entity is flagged.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crdt_model::automerge::Automerge;
use crdt_model::decide::moderation::{self, Asks, State};
use crdt_model::decide::{self, Decision, Tally};
use crdt_model::document::{Edit, Entity};
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::{Field, Kind, Value};
use serde::{Deserialize, Serialize};

use super::{Local, LocalError, now_ms};
use crate::store::Filter;

/// Where an entity stands in moderation, as the node reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModerationReport {
    /// The entity.
    #[schema(value_type = String)]
    pub entity: EntityId,
    /// Its name.
    pub name: String,
    /// Its postal key.
    pub postal_key: String,
    /// The postal code's moderation room, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub room: Option<EntityId>,
    /// Hidden, flagged, the reports that count and those cleared, the
    /// proposal being voted on and what each one did (see the protocol,
    /// section 4.2).
    #[schema(value_type = Object)]
    pub state: State,
    /// The moderation proposal this node opened on this request, if it
    /// opened one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened: Option<String>,
}

/// The entities hidden, as of a number of stored changes and a block
/// list.
pub(super) struct Hidden {
    changes: u64,
    blocked: BTreeSet<String>,
    /// Hidden by their community's decision.
    moderated: Arc<HashSet<EntityId>>,
    /// Those, and the entities made by an author the citizen blocked.
    left_out: Arc<HashSet<EntityId>>,
}

/// Whether a room is a moderation room.
fn moderates(room: &Entity) -> bool {
    room.fields.get(Field::Moderation.key()) == Some(&Value::Bool(true))
}

impl Local {
    /// The moderation room of each postal key that has one.
    fn moderation_rooms(&self) -> Result<BTreeMap<String, EntityId>, LocalError> {
        let mut by_key: BTreeMap<String, Vec<(EntityId, i64, bool)>> = BTreeMap::new();
        let rooms = self.store.list(&Filter {
            kind: Some(Kind::Room),
            ..Filter::default()
        })?;
        for room in rooms {
            by_key.entry(room.postal_key()).or_default().push((
                room.id,
                room.created_at,
                moderates(&room),
            ));
        }
        Ok(by_key
            .into_iter()
            .filter_map(|(key, rooms)| Some((key, moderation::moderation_room(rooms)?)))
            .collect())
    }

    /// The postal key's moderation room, if it has one.
    pub fn moderation_room(&self, postal_key: &str) -> Result<Option<EntityId>, LocalError> {
        Ok(self.moderation_rooms()?.remove(postal_key))
    }

    /// The document of the moderation room `room`, and the tallies of its
    /// moderation proposals.
    fn moderation_tallies(&self, room: EntityId) -> Result<(Automerge, Vec<Tally>), LocalError> {
        let Some(doc) = self.store.document(&room)? else {
            return Ok((Automerge::new(), Vec::new()));
        };
        let citizen = self.citizen_of_room(&doc)?;
        let tallies = decide::proposals(&doc)
            .iter()
            .filter(|proposal| proposal.moderates.is_some() || proposal.restores.is_some())
            .filter_map(|proposal| decide::tally(&doc, &proposal.id, &citizen))
            .collect();
        Ok((doc, tallies))
    }

    /// The entities their community decided to hide, in every postal code
    /// this node holds.
    pub fn hidden(&self) -> Result<Arc<HashSet<EntityId>>, LocalError> {
        self.with_hidden(|hidden| hidden.moderated.clone())
    }

    /// What lists, searches and exports leave out: the entities their
    /// community hid, and those made by an author the citizen blocked
    /// (their node stored them before the block).
    pub fn left_out(&self) -> Result<Arc<HashSet<EntityId>>, LocalError> {
        self.with_hidden(|hidden| hidden.left_out.clone())
    }

    /// `read` of the hidden entities, computed again only when something
    /// was stored or blocked since.
    fn with_hidden<T>(&self, read: impl Fn(&Hidden) -> T) -> Result<T, LocalError> {
        let changes = self.store.counts()?.changes;
        let blocked = self.store.blocked()?;
        if let Ok(cache) = self.hidden.lock()
            && let Some(hidden) = cache.as_ref()
            && hidden.changes == changes
            && hidden.blocked == blocked
        {
            return Ok(read(hidden));
        }
        // Each room decides for the entities of its own postal code only.
        let mut moderated = HashSet::new();
        for (postal_key, room) in self.moderation_rooms()? {
            let (doc, tallies) = self.moderation_tallies(room)?;
            for item in moderation::hidden(&doc, &tallies) {
                if self
                    .store
                    .entity(&item)?
                    .is_some_and(|entity| entity.postal_key() == postal_key)
                {
                    moderated.insert(item);
                }
            }
        }
        let mut left_out = moderated.clone();
        if !blocked.is_empty() {
            for entity in self.store.list(&Filter::default())? {
                if blocked.contains(&entity.creator.to_string()) {
                    left_out.insert(entity.id);
                }
            }
        }
        let hidden = Hidden {
            changes,
            blocked,
            moderated: Arc::new(moderated),
            left_out: Arc::new(left_out),
        };
        let answer = read(&hidden);
        if let Ok(mut cache) = self.hidden.lock() {
            *cache = Some(hidden);
        }
        Ok(answer)
    }

    /// Where the entity `id` stands in moderation.
    pub fn moderation(&self, id: EntityId) -> Result<ModerationReport, LocalError> {
        let entity = self.entity(id)?;
        let postal_key = entity.postal_key();
        let room = self.moderation_room(&postal_key)?;
        let (doc, tallies) = match room {
            Some(room) => self.moderation_tallies(room)?,
            None => (Automerge::new(), Vec::new()),
        };
        Ok(ModerationReport {
            entity: id,
            name: entity.name().to_owned(),
            state: moderation::state(&doc, id, &entity.reports, &tallies, now_ms()),
            postal_key,
            room,
            opened: None,
        })
    }

    /// The moderation queue of a postal key (every postal key this node
    /// holds when `None`): the entities flagged, being voted on, or
    /// hidden; flagged and open first, then hidden, each by name.
    pub fn moderation_queue(
        &self,
        postal_key: Option<&str>,
    ) -> Result<Vec<ModerationReport>, LocalError> {
        let rooms = self.moderation_rooms()?;
        let mut tallies: BTreeMap<EntityId, (Automerge, Vec<Tally>)> = BTreeMap::new();
        let empty = (Automerge::new(), Vec::new());
        let mut queue = Vec::new();
        let entities = self.store.list(&Filter {
            postal_key: postal_key.map(str::to_owned),
            ..Filter::default()
        })?;
        let hidden = self.hidden()?;
        for entity in entities {
            if entity.reports.is_empty() && !hidden.contains(&entity.id) {
                continue;
            }
            let key = entity.postal_key();
            let room = rooms.get(&key).copied();
            let (doc, room_tallies) = match room {
                Some(room) => match tallies.entry(room) {
                    std::collections::btree_map::Entry::Occupied(found) => found.into_mut(),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(self.moderation_tallies(room)?)
                    }
                },
                None => &empty,
            };
            let state = moderation::state(doc, entity.id, &entity.reports, room_tallies, now_ms());
            if state.flagged || state.hidden || state.open.is_some() {
                queue.push(ModerationReport {
                    entity: entity.id,
                    name: entity.name().to_owned(),
                    postal_key: key,
                    room,
                    state,
                    opened: None,
                });
            }
        }
        queue.sort_by_key(|report| report.state.hidden);
        Ok(queue)
    }

    /// Opens the moderation proposal `asks` about the entity `id` in its
    /// postal code's moderation room, in the citizen's name.
    pub fn moderate(&self, id: EntityId, asks: Asks) -> Result<ModerationReport, LocalError> {
        self.open_vote(self.moderation(id)?, asks)
    }

    /// [`Local::moderate`], from where the entity stands (`report`).
    fn open_vote(
        &self,
        report: ModerationReport,
        asks: Asks,
    ) -> Result<ModerationReport, LocalError> {
        let id = report.entity;
        let room = report
            .room
            .ok_or_else(|| LocalError::NoModerationRoom(report.postal_key.clone()))?;
        let state = &report.state;
        let due = match asks {
            Asks::Hide => !state.hidden,
            Asks::Restore => state.hidden,
        };
        if !due || state.open.is_some() {
            return Err(LocalError::NotDue {
                asks,
                hidden: state.hidden,
                open: state.open.clone(),
            });
        }
        let reasons: Vec<String> = match asks {
            Asks::Hide => state.counted.iter().map(|r| r.reason.clone()).collect(),
            Asks::Restore => Vec::new(),
        };
        let at = now_ms();
        let proposal = moderation::new_proposal(asks, id, &report.name, &reasons, at);
        let made = self
            .decide_at(
                Some(room),
                &Decision::Propose {
                    nonce: [0; 8],
                    proposal,
                },
                at,
            )?
            .made;
        let mut report = self.moderation(id)?;
        report.opened = made;
        Ok(report)
    }

    /// Reports the entity `id` in the citizen's name (or withdraws the
    /// report, `reason` `None`); a report that flags it opens its
    /// moderation proposal when its postal code has a moderation room and
    /// no vote is open (`opened` names it). The report stands either way.
    pub fn report_entity(
        &self,
        id: EntityId,
        reason: Option<String>,
    ) -> Result<ModerationReport, LocalError> {
        let Some(reason) = reason else {
            self.edit(id, &[Edit::WithdrawReport])?;
            return self.moderation(id);
        };
        self.edit_only(id, &[Edit::Report(reason)])?;
        self.after_report(id)
    }

    /// After the citizen's report: opens the moderation proposal if the
    /// entity is flagged, the citizen's report among those counted, no
    /// vote open and the postal code has a moderation room. Failing to
    /// does not undo the report: it is logged, and where the entity
    /// stands is answered.
    pub(super) fn after_report(&self, id: EntityId) -> Result<ModerationReport, LocalError> {
        let report = self.moderation(id)?;
        let state = &report.state;
        let mine = state
            .counted
            .iter()
            .any(|counted| counted.author == self.identity.author());
        if !(state.flagged && mine && state.open.is_none() && report.room.is_some()) {
            return Ok(report);
        }
        self.open_vote(report, Asks::Hide).or_else(|error| {
            tracing::warn!(%error, entity = %id, "the moderation proposal could not be opened");
            self.moderation(id)
        })
    }

    /// Whether `author` is a citizen of the room `doc`'s postal code (their
    /// profile says it), for a room of citizens.
    pub(super) fn citizen_of_room(
        &self,
        doc: &crdt_model::automerge::Automerge,
    ) -> Result<impl Fn(&AuthorKey) -> bool + '_, LocalError> {
        let postal_key = crdt_model::document::read(doc)
            .map_err(crdt_model::document::EditError::from)?
            .postal_key();
        Ok(move |key: &AuthorKey| {
            self.store
                .entity(&EntityId::person_of(key))
                .ok()
                .flatten()
                .is_some_and(|person| person.postal_key() == postal_key)
        })
    }
}
