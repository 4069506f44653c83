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
//! run on every core (`check`). Duplicates are then found and the touched
//! documents, their waiting changes and their cached entities are read, in
//! the write transaction. Each touched document is then loaded, authorized,
//! applied, saved and read back as a typed entity on its own
//! (`document`), documents spread over the cores. Last, the results are
//! written and the transaction commits.
//!
//! [`open`] opens a store, converting one of the first format by ingesting
//! its changes again.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;
use crdt_model::signed::VerifiedChange;

use crate::store::{DocWrite, Origin, Store, StoreError, Writer};

mod check;
mod document;
pub mod repair;

use check::check;
pub(crate) use check::parallel_map;
use document::{DocResult, DocWork, Source, handle_document};

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
    /// An announcement (gossip) of a change its sender did not serve when
    /// asked: never produced by ingest itself.
    FalseAnnouncement,
    /// Written by an author this node's citizen blocked: not stored, not
    /// forwarded, and not held against the peer who sent it.
    Blocked,
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

/// Ingests a batch of envelopes from `origin` in one transaction; returns
/// one outcome per envelope, in order, after the transaction committed.
/// Listeners of [`Store::subscribe`] hear of every applied change then.
pub fn ingest(
    store: &Store,
    origin: Origin,
    envelopes: &[Vec<u8>],
) -> Result<Vec<Outcome>, StoreError> {
    let mut writer = store.begin_write()?;
    let outcomes = ingest_in(&mut writer, origin, envelopes)?;
    writer.commit()?;
    log(origin, &outcomes);
    Ok(outcomes)
}

/// Says what a committed batch did: its counts, and each refusal.
fn log(origin: Origin, outcomes: &[Outcome]) {
    let mut counts = [0usize; 4];
    for outcome in outcomes {
        let slot = match outcome {
            Outcome::Applied { .. } => 0,
            Outcome::Duplicate { .. } => 1,
            Outcome::Pending { .. } => 2,
            Outcome::Rejected { reason, fault } => {
                tracing::debug!(?origin, ?fault, reason, "change refused");
                3
            }
        };
        counts[slot] += 1;
    }
    let [applied, duplicate, pending, rejected] = counts;
    tracing::debug!(
        ?origin,
        applied,
        duplicate,
        pending,
        rejected,
        "batch ingested"
    );
}

/// Opens the store at `path` like [`Store::open`]; a store of the first
/// format is converted by ingesting its signed changes again, in the same
/// transaction as the dropping of its tables, so that a crash leaves
/// either store.
pub fn open(path: &Path) -> Result<Store, StoreError> {
    let (store, carried) = Store::open_any(path)?;
    if let Some(carried) = carried {
        tracing::info!(path = %path.display(), changes = carried.len(), "converting a store of the first format");
        let mut writer = store.begin_write()?;
        writer.create_tables()?;
        ingest_in(&mut writer, Origin::Network, &carried)?;
        writer.drop_first_format()?;
        writer.commit()?;
    }
    Ok(store)
}

/// Ingests a batch in `writer`, which the caller commits.
fn ingest_in(
    writer: &mut Writer<'_>,
    origin: Origin,
    envelopes: &[Vec<u8>],
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; envelopes.len()];
    let checked = parallel_map(
        envelopes.iter().collect(),
        check::PARALLEL_CHECK_MIN,
        |bytes: &Vec<u8>| check(bytes),
    );
    let work = gather(writer, checked, &mut outcomes)?;
    let results = parallel_map(work, PARALLEL_DOCUMENTS_MIN, handle_document);
    for result in results {
        write(writer, envelopes, origin, result?, &mut outcomes)?;
    }
    Ok(outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every envelope has an outcome"))
        .collect())
}

/// Batches touching at least this many documents apply them on all cores.
const PARALLEL_DOCUMENTS_MIN: usize = 16;

/// Settles refused envelopes and duplicates, groups the rest by document
/// (in batch order) and reads what handling each document needs.
fn gather(
    writer: &Writer<'_>,
    checked: Vec<Result<VerifiedChange, Outcome>>,
    outcomes: &mut [Option<Outcome>],
) -> Result<Vec<DocWork>, StoreError> {
    let mut verified = Vec::with_capacity(checked.len());
    let blocked = writer.blocked()?;
    for (position, result) in checked.into_iter().enumerate() {
        match result {
            // No key is written out when nobody is blocked (the usual case).
            Ok(change)
                if !blocked.is_empty() && blocked.contains(&change.envelope.author.to_string()) =>
            {
                outcomes[position] = Some(reject(
                    format!("{} is blocked on this node", change.envelope.author),
                    Fault::Blocked,
                ));
            }
            Ok(change) => verified.push((position, change)),
            Err(refused) => outcomes[position] = Some(refused),
        }
    }
    let keys: Vec<(EntityId, ChangeHash)> = verified
        .iter()
        .map(|(_, change)| (change.envelope.doc_id, change.change.hash()))
        .collect();
    let found = writer.lookup(&keys)?;
    let mut seen = HashSet::new();
    // Per document: its row, and its new changes with their positions.
    type Group = (Option<u64>, Vec<(usize, VerifiedChange)>);
    let mut groups: BTreeMap<EntityId, Group> = BTreeMap::new();
    for (((position, change), (doc, hash)), (row, stored)) in
        verified.into_iter().zip(keys).zip(found)
    {
        let group = match groups.entry(doc) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert((row, Vec::new())),
        };
        if !seen.insert((doc, hash)) || stored {
            outcomes[position] = Some(Outcome::Duplicate { doc });
            continue;
        }
        group.1.push((position, change));
    }
    groups.retain(|_, (_, incoming)| !incoming.is_empty());
    let docs: Vec<(EntityId, Option<u64>)> =
        groups.iter().map(|(id, (row, _))| (*id, *row)).collect();
    let states = writer.states(&docs)?;
    Ok(groups
        .into_iter()
        .zip(states)
        .map(|((id, (row, incoming)), state)| DocWork {
            id,
            row,
            state,
            incoming,
        })
        .collect())
}

/// Writes what handling one document produced and settles the outcomes
/// of its changes that now wait.
fn write(
    writer: &mut Writer<'_>,
    envelopes: &[Vec<u8>],
    origin: Origin,
    result: DocResult,
    outcomes: &mut [Option<Outcome>],
) -> Result<(), StoreError> {
    let id = result.id;
    fn bytes_of<'a>(envelopes: &'a [Vec<u8>], source: &'a Source) -> &'a [u8] {
        match source {
            Source::Batch(position) => &envelopes[*position],
            Source::Waiting(bytes) => bytes,
        }
    }
    for (position, outcome) in result.outcomes {
        outcomes[position] = Some(outcome);
    }
    let applied = result
        .applied
        .iter()
        .map(|(hash, source, postal_key)| {
            let origin = match source {
                Source::Batch(_) => origin,
                Source::Waiting(_) => Origin::Waiting,
            };
            (
                *hash,
                bytes_of(envelopes, source),
                postal_key.as_str(),
                origin,
            )
        })
        .collect();
    let park = result
        .now_waiting
        .iter()
        .map(|(position, hash)| (*hash, &envelopes[*position][..]))
        .collect();
    // The quarantine keeps what peers sent for inspection; the citizen's own
    // refused change is answered to them as an error instead.
    let refused = result
        .refused
        .iter()
        .filter(|(_, source, _)| origin != Origin::Local || matches!(source, Source::Waiting(_)))
        .map(|(hash, source, reason)| (*hash, bytes_of(envelopes, source).len(), reason.clone()))
        .collect();
    let parked = writer.write_document(DocWrite {
        id,
        row: result.row,
        applied,
        derived: result.derived,
        released: result.released,
        park,
        refused,
    })?;
    for ((position, _), parked) in result.now_waiting.iter().zip(parked) {
        outcomes[*position] = Some(if parked {
            Outcome::Pending { doc: id }
        } else {
            reject(
                format!(
                    "{} changes already wait for their dependencies",
                    crate::store::MAX_PENDING
                ),
                Fault::PendingFull,
            )
        });
    }
    Ok(())
}
