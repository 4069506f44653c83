//! The third stage of the pipeline, on one document at a time and
//! touching no table: load it, authorize and apply its incoming changes
//! (and those waiting for them), and derive its new rows.

use std::collections::{BTreeSet, HashMap, HashSet};

use crdt_model::authz::{self, Reject};
use crdt_model::automerge::{Automerge, ChangeHash};
use crdt_model::document::{self, Entity};
use crdt_model::ids::EntityId;
use crdt_model::signed::VerifiedChange;

use super::check::check;
use super::{Fault, Outcome, reject};
use crate::store::documents::load_document;
use crate::store::{Derived, DocState, SNAPSHOT_AFTER, StoreError, heads_hash, index};

/// Where a change handled for a document came from.
pub(super) enum Source {
    /// The envelope at this position of the batch.
    Batch(usize),
    /// A change that was waiting in the `pending` table.
    Waiting(Vec<u8>),
}

/// A change waiting for its dependencies while its document is handled.
struct Waiting {
    source: Source,
    verified: VerifiedChange,
}

/// One document's incoming changes and what the store holds of it.
pub(super) struct DocWork {
    pub(super) id: EntityId,
    /// Its row, if a change of it was applied before.
    pub(super) row: Option<u64>,
    pub(super) state: DocState,
    /// The batch's new changes of it, with their positions.
    pub(super) incoming: Vec<(usize, VerifiedChange)>,
}

/// What handling one document produced, to be written.
pub(super) struct DocResult {
    /// The document.
    pub(super) id: EntityId,
    /// Its row, if it had one.
    pub(super) row: Option<u64>,
    /// Positions in the batch and what became of them.
    pub(super) outcomes: Vec<(usize, Outcome)>,
    /// Changes applied: their hash, where their envelope comes from, and
    /// the postal key it names.
    pub(super) applied: Vec<(ChangeHash, Source, String)>,
    /// Changes of the batch that now wait for dependencies.
    pub(super) now_waiting: Vec<(usize, ChangeHash)>,
    /// Waiting changes to drop from the `pending` table (applied or
    /// refused).
    pub(super) released: Vec<ChangeHash>,
    /// Refused changes: hash, envelope source, reason.
    pub(super) refused: Vec<(ChangeHash, Source, String)>,
    /// The new state, when some change was applied.
    pub(super) derived: Option<Derived>,
}

/// Why handling a document stopped.
enum Failure {
    /// The store failed.
    Store(StoreError),
    /// Automerge failed to apply an authorized change: the document in
    /// memory may be damaged, and is handled again without that change.
    Poisoned(ChangeHash, String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

/// Loads one document, authorizes and applies its incoming changes (and
/// those waiting for them), and derives its new rows. Touches no table.
pub(super) fn handle_document(work: DocWork) -> Result<DocResult, StoreError> {
    let mut excluded = HashMap::new();
    loop {
        match attempt(&work, &excluded) {
            Ok(result) => return Ok(result),
            Err(Failure::Store(error)) => return Err(error),
            Err(Failure::Poisoned(hash, reason)) => {
                excluded.insert(hash, reason);
            }
        }
    }
}

/// One pass of [`handle_document`], refusing the `excluded` changes.
fn attempt(work: &DocWork, excluded: &HashMap<ChangeHash, String>) -> Result<DocResult, Failure> {
    let DocWork {
        id,
        row,
        state,
        incoming,
    } = work;
    let (id, row) = (*id, *row);
    let apply =
        |doc: &mut Automerge, verified: &VerifiedChange| try_apply(doc, &id, verified, excluded);
    let mut doc = load_document(&id, state.snapshot.as_deref(), &state.stored)?;
    let mut result = DocResult {
        id,
        row,
        outcomes: Vec::new(),
        applied: Vec::new(),
        now_waiting: Vec::new(),
        released: Vec::new(),
        refused: Vec::new(),
        derived: None,
    };
    let mut parked: Vec<Waiting> = Vec::new();
    let incoming_hashes: HashSet<ChangeHash> = incoming
        .iter()
        .map(|(_, verified)| verified.change.hash())
        .collect();
    for (hash, bytes) in &state.waiting {
        if incoming_hashes.contains(hash) {
            // Sent again while it waits: handled as part of the batch, and
            // parked again below if it still cannot be applied.
            result.released.push(*hash);
            continue;
        }
        match check(bytes) {
            Ok(verified) => parked.push(Waiting {
                source: Source::Waiting(bytes.clone()),
                verified,
            }),
            // Stored by an older version with other rules: drop it.
            Err(_) => result.released.push(*hash),
        }
    }
    for (position, verified) in incoming.iter().cloned() {
        let hash = verified.change.hash();
        match apply(&mut doc, &verified)? {
            Ok(()) => {
                result
                    .outcomes
                    .push((position, Outcome::Applied { doc: id, hash }));
                result
                    .applied
                    .push((hash, Source::Batch(position), verified.envelope.postal_key));
                release_waiting(&mut doc, &id, &mut parked, &mut result, &apply)?;
            }
            Err(Reject::MissingDependencies(_)) => parked.push(Waiting {
                source: Source::Batch(position),
                verified,
            }),
            Err(refusal) => {
                let reason = refusal.to_string();
                result
                    .outcomes
                    .push((position, reject(reason.clone(), fault_of(&refusal))));
                result.refused.push((hash, Source::Batch(position), reason));
            }
        }
    }
    for waiting in parked {
        if let Source::Batch(position) = waiting.source {
            result
                .now_waiting
                .push((position, waiting.verified.change.hash()));
        }
    }
    if !result.applied.is_empty() {
        let snapshot = (state.snapshot.is_some()
            || state.stored.len() + result.applied.len() > SNAPSHOT_AFTER)
            .then(|| doc.save());
        result.derived = Some(derive_rows(
            &id,
            &doc,
            snapshot,
            state.cached_entity.as_deref(),
        )?);
    }
    Ok(result)
}

/// The fault a refusal is counted as.
fn fault_of(refusal: &Reject) -> Fault {
    match refusal {
        Reject::Malformed(_) => Fault::Malformed,
        _ => Fault::Unauthorized,
    }
}

/// Authorizes one change against the document and applies it.
/// `Ok(Err(reject))` leaves the document unchanged; a change Automerge
/// fails to apply poisons the pass (see [`Failure::Poisoned`]).
fn try_apply(
    doc: &mut Automerge,
    id: &EntityId,
    verified: &VerifiedChange,
    excluded: &HashMap<ChangeHash, String>,
) -> Result<Result<(), Reject>, Failure> {
    let hash = verified.change.hash();
    if let Some(reason) = excluded.get(&hash) {
        return Ok(Err(Reject::Malformed(reason.clone())));
    }
    if let Err(refusal) = authz::authorize(doc, id, &verified.envelope.author, &verified.change) {
        return Ok(Err(refusal));
    }
    match authz::apply(doc, verified.change.clone()) {
        Ok(()) => Ok(Ok(())),
        Err(refusal) => Err(Failure::Poisoned(hash, refusal.to_string())),
    }
}

/// Applies the parked changes whose dependencies are now there, until none
/// is left that can be applied.
fn release_waiting(
    doc: &mut Automerge,
    id: &EntityId,
    parked: &mut Vec<Waiting>,
    result: &mut DocResult,
    apply: &impl Fn(&mut Automerge, &VerifiedChange) -> Result<Result<(), Reject>, Failure>,
) -> Result<(), Failure> {
    loop {
        let mut progressed = false;
        let mut still = Vec::with_capacity(parked.len());
        for waiting in parked.drain(..) {
            let hash = waiting.verified.change.hash();
            match apply(doc, &waiting.verified)? {
                Ok(()) => {
                    progressed = true;
                    match waiting.source {
                        Source::Batch(position) => {
                            result
                                .outcomes
                                .push((position, Outcome::Applied { doc: *id, hash }));
                        }
                        Source::Waiting(_) => result.released.push(hash),
                    }
                    result.applied.push((
                        hash,
                        waiting.source,
                        waiting.verified.envelope.postal_key,
                    ));
                }
                Err(Reject::MissingDependencies(_)) => still.push(waiting),
                Err(refusal) => {
                    let reason = refusal.to_string();
                    match waiting.source {
                        Source::Batch(position) => result
                            .outcomes
                            .push((position, reject(reason.clone(), fault_of(&refusal)))),
                        Source::Waiting(_) => result.released.push(hash),
                    }
                    result.refused.push((hash, waiting.source, reason));
                }
            }
        }
        *parked = still;
        if !progressed {
            return Ok(());
        }
    }
}

/// Derives a document's cached entity, folded name and the index keys that
/// changed, the old ones being derived from the entity cached before this
/// batch.
fn derive_rows(
    id: &EntityId,
    doc: &Automerge,
    snapshot: Option<Vec<u8>>,
    cached_entity: Option<&[u8]>,
) -> Result<Derived, StoreError> {
    let old_keys: BTreeSet<String> = match cached_entity {
        Some(bytes) => {
            let old: Entity = serde_json::from_slice(bytes)
                .map_err(|error| StoreError::Corrupt(format!("entity {id}: {error}")))?;
            index::prefixes(&old).into_iter().collect()
        }
        None => BTreeSet::new(),
    };
    // A document whose genesis has not arrived has no entity yet.
    let entity = document::read(doc).ok();
    let new_keys: BTreeSet<String> = entity.iter().flat_map(index::prefixes).collect();
    Ok(Derived {
        snapshot,
        heads_hash: heads_hash(&doc.get_heads()),
        stale_keys: old_keys.difference(&new_keys).cloned().collect(),
        fresh_keys: new_keys.difference(&old_keys).cloned().collect(),
        kind: entity.as_ref().map(|entity| entity.kind),
        entity: entity.map(|entity| {
            (
                serde_json::to_vec(&entity).expect("an entity serializes"),
                crdt_model::text::fold(entity.name()),
            )
        }),
    })
}
