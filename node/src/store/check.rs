//! Checking a store against what it derives from: every signed change
//! decodes and its signature verifies; every document's snapshot loads and
//! holds the changes stored for it; every cached entity passes its
//! checksum and is what its document reads as; the search index holds
//! exactly the keys of the entities, and the name cache their names. What
//! `communecter check` reports, and what `communecter repair` rebuilds
//! from.

use std::collections::BTreeSet;

use crdt_model::automerge::{Automerge, ReadDoc};
use crdt_model::document;
use crdt_model::ids::EntityId;
use crdt_model::signed::SignedChange;
use redb::ReadableTable;
use serde::Serialize;

use super::documents::row_envelopes;
use super::index::{index_key, prefixes};
use super::{ENTITIES, Envelopes, INDEX, NAMES, ROWS, SNAPSHOTS, Store, StoreError, unseal};

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Documents checked.
    pub documents: u64,
    /// Signed changes checked.
    pub changes: u64,
    /// Problems found, each saying where and what.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether nothing was found wrong.
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Checks every document, change and cached entity; see the module
    /// doc. Reads only.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let tx = self.read()?;
        let rows = tx.open_table(ROWS)?;
        let envelopes = tx.open_table(super::ENVELOPES)?;
        let snapshots = tx.open_table(SNAPSHOTS)?;
        let entities = tx.open_table(ENTITIES)?;
        let names = tx.open_table(NAMES)?;
        let mut report = CheckReport::default();
        // The index keys the entities should have.
        let mut keys = BTreeSet::new();
        for entry in rows.iter()? {
            let (id, row) = match entry {
                Ok((id, row)) => (id.value().to_vec(), row.value()),
                Err(error) => {
                    report.problems.push(format!("a document's row: {error}"));
                    continue;
                }
            };
            report.documents += 1;
            let Some(id) = <[u8; 16]>::try_from(&id[..]).ok().map(EntityId::from_bytes) else {
                report
                    .problems
                    .push(format!("row {row}: a malformed document id"));
                continue;
            };
            let entity = check_document(&mut report, &id, row, &envelopes, &snapshots, &entities)?;
            let Some(entity) = entity else { continue };
            for prefix in prefixes(&entity) {
                keys.insert(index_key(&prefix, row, &id));
            }
            let name = crdt_model::text::fold(entity.name());
            let cached = names.get(row)?.map(|cached| cached.value() == name);
            if cached != Some(true) {
                report
                    .problems
                    .push(format!("document {id}: its cached name is not its name"));
            }
        }
        let mut missing = keys;
        let mut extra = 0;
        for entry in tx.open_table(INDEX)?.iter()? {
            match entry {
                Ok((key, _)) if missing.remove(key.value()) => {}
                Ok(_) => extra += 1,
                Err(error) => report.problems.push(format!("a search index key: {error}")),
            }
        }
        if extra > 0 {
            report.problems.push(format!(
                "the search index has {extra} keys no entity has (it may list entities where they are not)"
            ));
        }
        if !missing.is_empty() {
            report.problems.push(format!(
                "the search index lacks {} keys of the entities (lists and searches miss them)",
                missing.len()
            ));
        }
        Ok(report)
    }
}

/// Checks one document's changes, snapshot and cached entity; returns the
/// entity its document reads as, when it does.
fn check_document(
    report: &mut CheckReport,
    id: &EntityId,
    row: u64,
    envelopes: &impl ReadableTable<&'static [u8], &'static [u8]>,
    snapshots: &impl ReadableTable<u64, &'static [u8]>,
    entities: &impl ReadableTable<u64, &'static [u8]>,
) -> Result<Option<document::Entity>, StoreError> {
    let mut hashes = BTreeSet::new();
    let mut changes = Vec::new();
    for envelope in row_envelopes(envelopes, row)? {
        report.changes += 1;
        match SignedChange::decode(&envelope).map(SignedChange::verify) {
            Ok(Ok(verified)) if verified.envelope.doc_id == *id => {
                hashes.insert(verified.change.hash());
                changes.push(verified.change);
            }
            Ok(Ok(_)) => report.problems.push(format!(
                "document {id}: a change signed for another document"
            )),
            Ok(Err(error)) | Err(error) => report.problems.push(format!(
                "document {id}: a change that does not verify: {error}"
            )),
        }
    }
    let doc = match snapshots.get(row)? {
        Some(bytes) => match Automerge::load(bytes.value()) {
            Ok(doc) => Some(doc),
            Err(error) => {
                report.problems.push(format!(
                    "document {id}: its snapshot does not load: {error}"
                ));
                None
            }
        },
        // A small document is kept as its changes alone.
        None => {
            let mut doc = Automerge::new();
            match doc.apply_changes(changes) {
                Ok(()) => Some(doc),
                Err(error) => {
                    report
                        .problems
                        .push(format!("document {id}: its changes do not apply: {error}"));
                    None
                }
            }
        }
    };
    if let Some(doc) = &doc {
        let missing = hashes
            .iter()
            .filter(|hash| doc.get_change_by_hash(hash).is_none())
            .count();
        if missing > 0 {
            report.problems.push(format!(
                "document {id}: its snapshot lacks {missing} of its stored changes"
            ));
        }
    }
    let read = doc.as_ref().map(document::read);
    match (entities.get(row)?, &read) {
        (Some(sealed), Some(Ok(entity))) => match unseal(sealed.value()) {
            None => report.problems.push(format!(
                "document {id}: its cached entity fails its checksum"
            )),
            Some(json) => {
                let cached: Result<serde_json::Value, _> = serde_json::from_slice(json);
                let fresh = serde_json::to_value(entity).ok();
                if cached.ok() != fresh {
                    report.problems.push(format!(
                        "document {id}: its cached entity is not what its document reads as"
                    ));
                }
            }
        },
        (Some(_), Some(Err(error))) => report.problems.push(format!(
            "document {id}: cached, but its document does not read as an entity: {error}"
        )),
        (None, Some(Ok(_))) => report
            .problems
            .push(format!("document {id}: an entity missing from the cache")),
        _ => {}
    }
    Ok(read.and_then(Result::ok))
}

impl Store {
    /// Every signed change the store holds, grouped by document (in row
    /// order), and how many entries could not be read at all: what a
    /// repair starts again from.
    pub fn all_envelopes(&self) -> Result<(Vec<Envelopes>, u64), StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(super::ENVELOPES)?;
        let mut documents: Vec<Envelopes> = Vec::new();
        let mut current = None;
        let mut unreadable = 0;
        for entry in table.iter()? {
            let Ok((key, envelope)) = entry else {
                unreadable += 1;
                continue;
            };
            let row = key.value().get(..8).map(<[u8]>::to_vec);
            if row != current || documents.is_empty() {
                documents.push(Vec::new());
                current = row;
            }
            if let Some(document) = documents.last_mut() {
                document.push(envelope.value().to_vec());
            }
        }
        Ok((documents, unreadable))
    }
}
