//! The ingest pipeline: the one way a change enters the store, whatever its
//! source (a local edit, gossip, catch-up sync, an import).
//!
//! decode → size check → signature → authorization → apply → persist → notify
//!
//! A batch of envelopes is ingested in one redb write transaction; an
//! [`Outcome::Applied`] is returned only after that transaction committed,
//! so an acknowledged change survives a crash. Changes whose dependencies
//! are missing wait in the bounded `pending` table and are applied as soon as
//! their dependencies arrive; refused changes go to the bounded `quarantine`
//! table with their reason.

use std::collections::{BTreeSet, HashMap};

use crdt_model::authz::{self, Reject};
use crdt_model::automerge::{Automerge, ChangeHash};
use crdt_model::document::{self, Entity};
use crdt_model::ids::EntityId;
use crdt_model::signed::{MAX_ENVELOPE_BYTES, SignedChange, VerifiedChange};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use crate::index;
use crate::store::{
    CHANGES, DOCUMENTS, ENTITIES, INDEX, MAX_PENDING, MAX_QUARANTINE, NAMES, PENDING, QUARANTINE,
    Store, StoreError,
};

/// What happened to one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and committed.
    Applied {
        /// The document.
        doc: EntityId,
        /// The change.
        hash: ChangeHash,
    },
    /// Already in the store; nothing to do.
    Duplicate {
        /// The document.
        doc: EntityId,
    },
    /// Waiting for dependencies.
    Pending {
        /// The document.
        doc: EntityId,
    },
    /// Refused, with the reason.
    Rejected {
        /// Why.
        reason: String,
        /// The kind of fault, for peer scoring and counters.
        fault: Fault,
    },
}

/// Classes of refusal, as counted against a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Larger than the envelope limit.
    Oversized,
    /// Not a well-formed envelope or change.
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// Authorization refused the change.
    Unauthorized,
    /// The pending table is full.
    PendingFull,
}

impl Outcome {
    /// Whether the change is now in the store (applied now or before).
    pub fn is_stored(&self) -> bool {
        matches!(self, Outcome::Applied { .. } | Outcome::Duplicate { .. })
    }
}

/// Documents touched by a batch, loaded once and saved once.
struct Batch<'tx> {
    tx: &'tx WriteTransaction,
    docs: HashMap<EntityId, Automerge>,
    dirty: BTreeSet<EntityId>,
}

impl Batch<'_> {
    fn doc(&mut self, id: EntityId) -> Result<&mut Automerge, StoreError> {
        if !self.docs.contains_key(&id) {
            let table = self.tx.open_table(DOCUMENTS)?;
            let doc = match table.get(&id.as_bytes()[..])? {
                Some(bytes) => Automerge::load(bytes.value())
                    .map_err(|error| StoreError::Corrupt(format!("document {id}: {error}")))?,
                None => Automerge::new(),
            };
            self.docs.insert(id, doc);
        }
        Ok(self.docs.get_mut(&id).expect("inserted above"))
    }
}

fn change_key(doc: &EntityId, hash: &ChangeHash) -> Vec<u8> {
    [&doc.as_bytes()[..], &hash.0[..]].concat()
}

impl Store {
    /// Ingests a batch of envelopes in one transaction; returns one outcome
    /// per envelope, in order, after the transaction committed.
    pub fn ingest(&self, envelopes: &[Vec<u8>]) -> Result<Vec<Outcome>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut batch = Batch {
            tx: &tx,
            docs: HashMap::new(),
            dirty: BTreeSet::new(),
        };
        let mut outcomes = Vec::with_capacity(envelopes.len());
        for (bytes, checked) in envelopes.iter().zip(check_all(envelopes)) {
            outcomes.push(match checked {
                Ok(verified) => ingest_verified(&mut batch, verified, bytes)?,
                Err(refused) => refused,
            });
        }
        let Batch { docs, dirty, .. } = batch;
        for id in dirty {
            persist(&tx, &id, &docs[&id])?;
        }
        tx.commit()?;
        Ok(outcomes)
    }
}

fn reject(reason: String, fault: Fault) -> Outcome {
    Outcome::Rejected { reason, fault }
}

/// Batches at least this large are checked on all cores.
const PARALLEL_CHECK_MIN: usize = 64;

/// Size check, decoding and signature check of every envelope: pure work,
/// spread over the machine's cores for large batches.
fn check_all(envelopes: &[Vec<u8>]) -> Vec<Result<VerifiedChange, Outcome>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if envelopes.len() < PARALLEL_CHECK_MIN || threads == 1 {
        return envelopes.iter().map(|bytes| check(bytes)).collect();
    }
    let chunk = envelopes.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = envelopes
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|bytes| check(bytes)).collect::<Vec<_>>())
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("checking envelopes does not panic"))
            .collect()
    })
}

/// Size check, strict decoding and signature check of one envelope.
fn check(bytes: &[u8]) -> Result<VerifiedChange, Outcome> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(reject(
            format!(
                "the envelope is {} bytes; the limit is {MAX_ENVELOPE_BYTES}",
                bytes.len()
            ),
            Fault::Oversized,
        ));
    }
    let envelope =
        SignedChange::decode(bytes).map_err(|error| reject(error.to_string(), Fault::Malformed))?;
    envelope.verify().map_err(|error| match error {
        crdt_model::signed::EnvelopeError::BadSignature => {
            reject("the signature does not verify".into(), Fault::BadSignature)
        }
        other => reject(other.to_string(), Fault::Malformed),
    })
}

fn ingest_verified(
    batch: &mut Batch<'_>,
    verified: VerifiedChange,
    bytes: &[u8],
) -> Result<Outcome, StoreError> {
    let doc_id = verified.envelope.doc_id;
    let hash = verified.change.hash();
    {
        let changes = batch.tx.open_table(CHANGES)?;
        if changes.get(&change_key(&doc_id, &hash)[..])?.is_some() {
            return Ok(Outcome::Duplicate { doc: doc_id });
        }
    }
    match apply(batch, verified, bytes)? {
        Ok(()) => {}
        Err(Reject::MissingDependencies(_)) => {
            let mut pending = batch.tx.open_table(PENDING)?;
            let key = change_key(&doc_id, &hash);
            if pending.get(&key[..])?.is_none() {
                if pending.len()? >= MAX_PENDING {
                    return Ok(reject(
                        format!("{MAX_PENDING} changes already wait for their dependencies"),
                        Fault::PendingFull,
                    ));
                }
                pending.insert(&key[..], bytes)?;
            }
            return Ok(Outcome::Pending { doc: doc_id });
        }
        Err(refusal) => {
            quarantine(batch.tx, &doc_id, &hash, bytes, &refusal.to_string())?;
            return Ok(reject(refusal.to_string(), Fault::Unauthorized));
        }
    }
    retry_pending(batch, doc_id)?;
    Ok(Outcome::Applied { doc: doc_id, hash })
}

/// Authorizes and applies one verified change to its document in the batch,
/// recording the envelope. `Err(reject)` leaves everything unchanged.
fn apply(
    batch: &mut Batch<'_>,
    verified: VerifiedChange,
    bytes: &[u8],
) -> Result<Result<(), Reject>, StoreError> {
    let doc_id = verified.envelope.doc_id;
    let hash = verified.change.hash();
    let doc = batch.doc(doc_id)?;
    if let Err(refusal) =
        authz::authorize(doc, &doc_id, &verified.envelope.author, &verified.change)
    {
        return Ok(Err(refusal));
    }
    doc.apply_changes([verified.change])
        .map_err(|error| StoreError::Corrupt(format!("applying an authorized change: {error}")))?;
    batch.dirty.insert(doc_id);
    batch
        .tx
        .open_table(CHANGES)?
        .insert(&change_key(&doc_id, &hash)[..], bytes)?;
    Ok(Ok(()))
}

/// Applies the pending changes of `doc_id` whose dependencies are now there,
/// until none is left that can be applied.
fn retry_pending(batch: &mut Batch<'_>, doc_id: EntityId) -> Result<(), StoreError> {
    loop {
        let waiting: Vec<(Vec<u8>, Vec<u8>)> = {
            let pending = batch.tx.open_table(PENDING)?;
            let start = change_key(&doc_id, &ChangeHash([0; 32]));
            let end = change_key(&doc_id, &ChangeHash([0xff; 32]));
            pending
                .range(&start[..]..=&end[..])?
                .map(|entry| {
                    entry.map(|(key, value)| (key.value().to_vec(), value.value().to_vec()))
                })
                .collect::<Result<_, _>>()?
        };
        let mut progressed = false;
        for (key, bytes) in waiting {
            let Ok(verified) = check(&bytes) else {
                batch.tx.open_table(PENDING)?.remove(&key[..])?;
                continue;
            };
            let hash = verified.change.hash();
            match apply(batch, verified, &bytes)? {
                Ok(()) => {
                    batch.tx.open_table(PENDING)?.remove(&key[..])?;
                    progressed = true;
                }
                Err(Reject::MissingDependencies(_)) => {}
                Err(refusal) => {
                    batch.tx.open_table(PENDING)?.remove(&key[..])?;
                    quarantine(batch.tx, &doc_id, &hash, &bytes, &refusal.to_string())?;
                }
            }
        }
        if !progressed {
            return Ok(());
        }
    }
}

fn quarantine(
    tx: &WriteTransaction,
    doc: &EntityId,
    hash: &ChangeHash,
    envelope: &[u8],
    reason: &str,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(QUARANTINE)?;
    let next = match table.last()? {
        Some((key, _)) => key.value() + 1,
        None => 0,
    };
    while table.len()? >= MAX_QUARANTINE {
        table.pop_first()?;
    }
    let record = serde_json::json!({
        "reason": reason,
        "doc": doc.to_string(),
        "hash": hash.to_string(),
        "envelope_bytes": envelope.len(),
    });
    table.insert(
        next,
        &serde_json::to_vec(&record).expect("JSON of strings")[..],
    )?;
    Ok(())
}

/// Saves a document and refreshes its cached entity, name and index
/// entries; only the index keys that changed are written, the old ones
/// being derived from the entity cached before this change.
fn persist(tx: &WriteTransaction, id: &EntityId, doc: &Automerge) -> Result<(), StoreError> {
    let key = &id.as_bytes()[..];
    tx.open_table(DOCUMENTS)?.insert(key, &doc.save()[..])?;
    let mut entities = tx.open_table(ENTITIES)?;
    let old_keys: BTreeSet<String> = match entities.get(key)? {
        Some(bytes) => {
            let old: Entity = serde_json::from_slice(bytes.value())
                .map_err(|error| StoreError::Corrupt(format!("entity {id}: {error}")))?;
            index::keys(&old).into_iter().collect()
        }
        None => BTreeSet::new(),
    };
    // A document whose genesis has not arrived has no entity yet.
    let entity = document::read(doc).ok();
    let new_keys: BTreeSet<String> = entity.iter().flat_map(index::keys).collect();
    let mut index_table = tx.open_table(INDEX)?;
    for stale in old_keys.difference(&new_keys) {
        index_table.remove(stale.as_str())?;
    }
    for fresh in new_keys.difference(&old_keys) {
        index_table.insert(fresh.as_str(), ())?;
    }
    let mut names = tx.open_table(NAMES)?;
    match entity {
        Some(entity) => {
            names.insert(key, crdt_model::text::fold(entity.name()).as_str())?;
            entities.insert(
                key,
                &serde_json::to_vec(&entity).expect("an entity serializes")[..],
            )?;
        }
        None => {
            entities.remove(key)?;
            names.remove(key)?;
        }
    }
    Ok(())
}
