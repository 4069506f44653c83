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
//!
//! A batch runs in four stages. Decoding and signature checks are pure and
//! run on every core. Duplicates are then found and the touched documents,
//! their waiting changes and their cached entities are read, in the write
//! transaction. Each touched document is then loaded, authorized, applied,
//! saved and read back as a typed entity on its own, documents spread over
//! the cores. Last, the results are written and the transaction commits.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crdt_model::authz::{self, Reject};
use crdt_model::automerge::{Automerge, ChangeHash};
use crdt_model::document::{self, Entity};
use crdt_model::ids::EntityId;
use crdt_model::signed::{MAX_ENVELOPE_BYTES, SignedChange, VerifiedChange};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use crate::index;
use crate::store::{
    DOC_TOPICS, ENTITIES, ENVELOPES, MAX_PENDING, MAX_QUARANTINE, NAMES, PENDING, QUARANTINE, ROWS,
    SNAPSHOT_AFTER, SNAPSHOTS, SYNC_ITEMS, Store, StoreError, envelope_key, load_document,
    row_envelopes,
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

/// Where a batch of envelopes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written on this node by its citizen.
    Local,
    /// Received from a peer by gossip (or fetched after an announcement).
    Network,
    /// Received from a peer by catch-up sync.
    Sync,
    /// Read from an import file.
    Import,
    /// Waiting in the `pending` table until its dependencies arrived.
    Waiting,
}

/// A change applied and committed, as told to the store's listeners.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The document.
    pub doc: EntityId,
    /// The change.
    pub hash: ChangeHash,
    /// The postal key its envelope is published under.
    pub postal_key: String,
    /// The signed envelope.
    pub envelope: std::sync::Arc<[u8]>,
    /// Where it came from.
    pub origin: Origin,
}

impl Outcome {
    /// Whether the change is now in the store (applied now or before).
    pub fn is_stored(&self) -> bool {
        matches!(self, Outcome::Applied { .. } | Outcome::Duplicate { .. })
    }
}

fn reject(reason: String, fault: Fault) -> Outcome {
    Outcome::Rejected { reason, fault }
}

/// The hash that stands for a document's state in catch-up sync: SHA-256
/// of its heads, sorted.
pub fn heads_hash(heads: &[ChangeHash]) -> [u8; 32] {
    use sha2::Digest;
    let mut sorted = heads.to_vec();
    sorted.sort();
    let mut hasher = sha2::Sha256::new();
    for head in sorted {
        hasher.update(head.0);
    }
    hasher.finalize().into()
}

/// The key of a document in the `sync_items` table.
pub(crate) fn sync_item_key(postal_key: &str, id: &EntityId) -> Vec<u8> {
    [postal_key.as_bytes(), b"/", id.as_bytes()].concat()
}

fn pending_key(doc: &EntityId, hash: &ChangeHash) -> Vec<u8> {
    [&doc.as_bytes()[..], &hash.0[..]].concat()
}

/// Where a change handled for a document came from.
enum Source {
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

/// What a document's handling needs from the store, read beforehand.
struct DocWork {
    id: EntityId,
    /// Its row, if a change of it was applied before.
    row: Option<u64>,
    snapshot: Option<Vec<u8>>,
    /// Its stored envelopes, when it has no snapshot.
    stored: Vec<Vec<u8>>,
    cached_entity: Option<Vec<u8>>,
    incoming: Vec<(usize, VerifiedChange)>,
    waiting: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What handling one document produced, to be written.
struct DocResult {
    /// The document.
    id: EntityId,
    /// Its row, if it had one.
    row: Option<u64>,
    /// Positions in the batch and what became of them.
    outcomes: Vec<(usize, Outcome)>,
    /// Changes applied: their hash, where their envelope comes from, and
    /// the postal key it names.
    applied: Vec<(ChangeHash, Source, String)>,
    /// Changes of the batch that now wait for dependencies.
    now_waiting: Vec<(usize, ChangeHash)>,
    /// `pending` keys to remove (applied or refused).
    released: Vec<Vec<u8>>,
    /// Refused changes: hash, envelope source, reason.
    refused: Vec<(ChangeHash, Source, String)>,
    /// The new state, when some change was applied.
    persisted: Option<Persisted>,
}

/// A document's new state and the rows derived from it.
struct Persisted {
    /// SHA-256 of its sorted heads.
    heads_hash: [u8; 32],
    /// A new snapshot, for documents past [`SNAPSHOT_AFTER`] changes.
    snapshot: Option<Vec<u8>>,
    /// The typed entity as JSON, and its folded name; none while the
    /// genesis is missing.
    entity: Option<(Vec<u8>, String)>,
    /// Index prefixes to drop and to add.
    stale_keys: Vec<String>,
    fresh_keys: Vec<String>,
}

impl Store {
    /// Ingests a batch of envelopes in one transaction; returns one outcome
    /// per envelope, in order, after the transaction committed.
    pub fn ingest(&self, envelopes: &[Vec<u8>]) -> Result<Vec<Outcome>, StoreError> {
        self.ingest_from(Origin::Local, envelopes)
    }

    /// Ingests a batch from `origin`; listeners of [`Store::subscribe`] hear
    /// of every applied change once the transaction committed.
    pub fn ingest_from(
        &self,
        origin: Origin,
        envelopes: &[Vec<u8>],
    ) -> Result<Vec<Outcome>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut notices = Vec::new();
        let outcomes = self.ingest_in(&tx, origin, envelopes, &mut notices)?;
        tx.commit()?;
        for notice in notices {
            // Nobody listening is fine.
            let _ = self.applied.send(notice);
        }
        Ok(outcomes)
    }

    /// Ingests a batch in `tx`, which the caller commits.
    pub(crate) fn ingest_in(
        &self,
        tx: &WriteTransaction,
        origin: Origin,
        envelopes: &[Vec<u8>],
        notices: &mut Vec<Applied>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; envelopes.len()];
        let checked = parallel_map(
            envelopes.iter().collect(),
            PARALLEL_CHECK_MIN,
            |bytes: &Vec<u8>| check(bytes),
        );
        let work = gather(tx, checked, &mut outcomes)?;
        let results = parallel_map(work, PARALLEL_DOCUMENTS_MIN, handle_document);
        for result in results {
            write(tx, envelopes, origin, result?, &mut outcomes, notices)?;
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.expect("every envelope has an outcome"))
            .collect())
    }
}

/// Batches at least this large are checked on all cores.
const PARALLEL_CHECK_MIN: usize = 64;
/// Batches touching at least this many documents apply them on all cores.
const PARALLEL_DOCUMENTS_MIN: usize = 16;

/// Maps `f` over `items`, spread over the machine's cores when there are at
/// least `min` items; results keep the order of the items.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, min: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < min || threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
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

/// Settles refused envelopes and duplicates, groups the rest by document
/// (in batch order) and reads what handling each document needs.
fn gather(
    tx: &WriteTransaction,
    checked: Vec<Result<VerifiedChange, Outcome>>,
    outcomes: &mut [Option<Outcome>],
) -> Result<Vec<DocWork>, StoreError> {
    let rows = tx.open_table(ROWS)?;
    let envelopes = tx.open_table(ENVELOPES)?;
    let mut seen = HashSet::new();
    // Per document: its row, and its new changes with their positions.
    type Group = (Option<u64>, Vec<(usize, VerifiedChange)>);
    let mut groups: BTreeMap<EntityId, Group> = BTreeMap::new();
    for (position, result) in checked.into_iter().enumerate() {
        let verified = match result {
            Ok(verified) => verified,
            Err(refused) => {
                outcomes[position] = Some(refused);
                continue;
            }
        };
        let doc = verified.envelope.doc_id;
        let hash = verified.change.hash();
        let (row, _) = match groups.entry(doc) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let row = rows.get(&doc.as_bytes()[..])?.map(|row| row.value());
                entry.insert((row, Vec::new()))
            }
        };
        let stored = match row {
            Some(row) => envelopes.get(&envelope_key(*row, &hash.0)[..])?.is_some(),
            None => false,
        };
        if !seen.insert((doc, hash)) || stored {
            outcomes[position] = Some(Outcome::Duplicate { doc });
            continue;
        }
        groups.entry(doc).or_default().1.push((position, verified));
    }
    let snapshots = tx.open_table(SNAPSHOTS)?;
    let entities = tx.open_table(ENTITIES)?;
    let pending = tx.open_table(PENDING)?;
    let mut work = Vec::with_capacity(groups.len());
    for (id, (row, incoming)) in groups {
        if incoming.is_empty() {
            continue;
        }
        let start = pending_key(&id, &ChangeHash([0; 32]));
        let end = pending_key(&id, &ChangeHash([0xff; 32]));
        let waiting = pending
            .range(&start[..]..=&end[..])?
            .map(|entry| entry.map(|(key, value)| (key.value().to_vec(), value.value().to_vec())))
            .collect::<Result<_, _>>()?;
        let (snapshot, stored, cached_entity) = match row {
            Some(row) => {
                let snapshot = snapshots.get(row)?.map(|bytes| bytes.value().to_vec());
                let stored = match snapshot {
                    Some(_) => Vec::new(),
                    None => row_envelopes(&envelopes, row)?,
                };
                let cached = entities.get(row)?.map(|bytes| bytes.value().to_vec());
                (snapshot, stored, cached)
            }
            None => (None, Vec::new(), None),
        };
        work.push(DocWork {
            id,
            row,
            snapshot,
            stored,
            cached_entity,
            incoming,
            waiting,
        });
    }
    Ok(work)
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
fn handle_document(work: DocWork) -> Result<DocResult, StoreError> {
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
        snapshot,
        stored,
        cached_entity,
        incoming,
        waiting,
    } = work;
    let (id, row) = (*id, *row);
    let apply =
        |doc: &mut Automerge, verified: &VerifiedChange| try_apply(doc, &id, verified, excluded);
    let mut doc = load_document(&id, snapshot.as_deref(), stored)?;
    let mut result = DocResult {
        id,
        row,
        outcomes: Vec::new(),
        applied: Vec::new(),
        now_waiting: Vec::new(),
        released: Vec::new(),
        refused: Vec::new(),
        persisted: None,
    };
    let mut parked: Vec<Waiting> = Vec::new();
    let incoming_keys: HashSet<Vec<u8>> = incoming
        .iter()
        .map(|(_, verified)| pending_key(&id, &verified.change.hash()))
        .collect();
    for (key, bytes) in waiting {
        if incoming_keys.contains(key) {
            // Sent again while it waits: handled as part of the batch, and
            // parked again below if it still cannot be applied.
            result.released.push(key.clone());
            continue;
        }
        match check(bytes) {
            Ok(verified) => parked.push(Waiting {
                source: Source::Waiting(bytes.clone()),
                verified,
            }),
            // Stored by an older version with other rules: drop it.
            Err(_) => result.released.push(key.clone()),
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
        let snapshot = (snapshot.is_some() || stored.len() + result.applied.len() > SNAPSHOT_AFTER)
            .then(|| doc.save());
        result.persisted = Some(derive_rows(&id, &doc, snapshot, cached_entity.as_deref())?);
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
                        Source::Waiting(_) => result.released.push(pending_key(id, &hash)),
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
                        Source::Waiting(_) => result.released.push(pending_key(id, &hash)),
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

/// Derives a document's cached entity, folded name and the
/// index keys that changed, the old ones being derived from the entity
/// cached before this batch.
fn derive_rows(
    id: &EntityId,
    doc: &Automerge,
    snapshot: Option<Vec<u8>>,
    cached_entity: Option<&[u8]>,
) -> Result<Persisted, StoreError> {
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
    Ok(Persisted {
        snapshot,
        heads_hash: heads_hash(&doc.get_heads()),
        stale_keys: old_keys.difference(&new_keys).cloned().collect(),
        fresh_keys: new_keys.difference(&old_keys).cloned().collect(),
        entity: entity.map(|entity| {
            (
                serde_json::to_vec(&entity).expect("an entity serializes"),
                crdt_model::text::fold(entity.name()),
            )
        }),
    })
}

/// Writes what handling one document produced.
fn write(
    tx: &WriteTransaction,
    envelopes: &[Vec<u8>],
    origin: Origin,
    result: DocResult,
    outcomes: &mut [Option<Outcome>],
    notices: &mut Vec<Applied>,
) -> Result<(), StoreError> {
    let id = result.id;
    let bytes_of = |source: &Source| -> Vec<u8> {
        match source {
            Source::Batch(position) => envelopes[*position].clone(),
            Source::Waiting(bytes) => bytes.clone(),
        }
    };
    for (position, outcome) in result.outcomes {
        outcomes[position] = Some(outcome);
    }
    if let Some(persisted) = result.persisted {
        let row = match result.row {
            Some(row) => row,
            None => index::assign_row(tx, &id)?,
        };
        {
            let mut table = tx.open_table(ENVELOPES)?;
            for (hash, source, postal_key) in &result.applied {
                let envelope = bytes_of(source);
                table.insert(&envelope_key(row, &hash.0)[..], &envelope[..])?;
                notices.push(Applied {
                    doc: id,
                    hash: *hash,
                    postal_key: postal_key.clone(),
                    envelope: envelope.into(),
                    origin: match source {
                        Source::Batch(_) => origin,
                        Source::Waiting(_) => Origin::Waiting,
                    },
                });
            }
        }
        let topic = result
            .applied
            .last()
            .map(|(_, _, postal_key)| postal_key.as_str())
            .expect("a persisted document has applied changes");
        set_sync_item(tx, &id, row, topic, &persisted.heads_hash)?;
        persist(tx, &id, row, persisted)?;
    }
    {
        let mut pending = tx.open_table(PENDING)?;
        for key in &result.released {
            pending.remove(&key[..])?;
        }
        for (position, hash) in result.now_waiting {
            outcomes[position] = Some(if pending.len()? >= MAX_PENDING {
                reject(
                    format!("{MAX_PENDING} changes already wait for their dependencies"),
                    Fault::PendingFull,
                )
            } else {
                pending.insert(&pending_key(&id, &hash)[..], &envelopes[position][..])?;
                Outcome::Pending { doc: id }
            });
        }
    }
    for (hash, source, reason) in &result.refused {
        quarantine(tx, &id, hash, bytes_of(source).len(), reason)?;
    }
    Ok(())
}

/// Files the document under its postal key for catch-up sync, with the
/// hash of its heads, and removes it from the key it had before.
fn set_sync_item(
    tx: &WriteTransaction,
    id: &EntityId,
    row: u64,
    postal_key: &str,
    heads_hash: &[u8; 32],
) -> Result<(), StoreError> {
    let mut topics = tx.open_table(DOC_TOPICS)?;
    let old = topics
        .insert(row, postal_key)?
        .map(|old| old.value().to_owned());
    let mut items = tx.open_table(SYNC_ITEMS)?;
    if let Some(old) = old.filter(|old| old != postal_key) {
        items.remove(&sync_item_key(&old, id)[..])?;
    }
    items.insert(&sync_item_key(postal_key, id)[..], &heads_hash[..])?;
    Ok(())
}

fn quarantine(
    tx: &WriteTransaction,
    doc: &EntityId,
    hash: &ChangeHash,
    envelope_bytes: usize,
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
        "envelope_bytes": envelope_bytes,
    });
    table.insert(
        next,
        &serde_json::to_vec(&record).expect("JSON of strings")[..],
    )?;
    Ok(())
}

/// Writes a document's new snapshot, cached entity, name and changed index
/// keys.
fn persist(
    tx: &WriteTransaction,
    id: &EntityId,
    row: u64,
    persisted: Persisted,
) -> Result<(), StoreError> {
    if let Some(snapshot) = &persisted.snapshot {
        tx.open_table(SNAPSHOTS)?.insert(row, &snapshot[..])?;
    }
    index::update(tx, id, row, &persisted.stale_keys, &persisted.fresh_keys)?;
    let mut entities = tx.open_table(ENTITIES)?;
    let mut names = tx.open_table(NAMES)?;
    match persisted.entity {
        Some((json, name)) => {
            names.insert(row, name.as_str())?;
            entities.insert(row, &json[..])?;
        }
        None => {
            entities.remove(row)?;
            names.remove(row)?;
        }
    }
    Ok(())
}
