//! Documents as stored: each one's signed envelopes (keyed by its row and
//! the change hash) and, past [`SNAPSHOT_AFTER`](super::SNAPSHOT_AFTER)
//! changes, a snapshot; loading a document back from them; its history;
//! and the quarantine's records.

use crdt_model::automerge::{Automerge, ChangeHash};
use crdt_model::ids::EntityId;
use crdt_model::signed::SignedChange;
use redb::ReadableTable;

use super::{ENVELOPES, QUARANTINE, ROWS, SNAPSHOTS, Store, StoreError};

/// The key of an applied change.
pub(super) fn envelope_key(row: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&row.to_be_bytes());
    key[8..].copy_from_slice(hash);
    key
}

/// The first and last possible keys of a row's envelopes.
pub(super) fn row_bounds(row: u64) -> ([u8; 40], [u8; 40]) {
    (envelope_key(row, &[0; 32]), envelope_key(row, &[0xff; 32]))
}

/// The signed envelopes stored for a row, in key order.
pub(super) fn row_envelopes(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    row: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let (start, end) = row_bounds(row);
    table
        .range(&start[..]..=&end[..])?
        .map(|entry| Ok(entry?.1.value().to_vec()))
        .collect()
}

/// Calls `each` with the hash and envelope of each of a row's changes, in
/// key order.
pub(super) fn for_each_change(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    row: u64,
    mut each: impl FnMut(ChangeHash, &[u8]),
) -> Result<(), StoreError> {
    let (start, end) = row_bounds(row);
    for entry in table.range(&start[..]..=&end[..])? {
        let (key, value) = entry?;
        let hash: [u8; 32] = key.value()[8..].try_into().expect("40-byte keys");
        each(ChangeHash(hash), value.value());
    }
    Ok(())
}

/// A document from its snapshot, or else from its stored envelopes (already
/// verified when they were ingested).
pub(crate) fn load_document(
    id: &EntityId,
    snapshot: Option<&[u8]>,
    envelopes: &[Vec<u8>],
) -> Result<Automerge, StoreError> {
    let corrupt = |error: String| StoreError::Corrupt(format!("document {id}: {error}"));
    if let Some(snapshot) = snapshot {
        return Automerge::load(snapshot).map_err(|error| corrupt(error.to_string()));
    }
    let mut chunks = Vec::new();
    for envelope in envelopes {
        let envelope =
            SignedChange::decode(envelope).map_err(|error| corrupt(error.to_string()))?;
        chunks.extend_from_slice(&envelope.change);
    }
    Automerge::load(&chunks).map_err(|error| corrupt(error.to_string()))
}

/// The document stored in `row`, from its snapshot or its envelopes.
pub(super) fn load_row(
    snapshots: &impl ReadableTable<u64, &'static [u8]>,
    envelopes: &impl ReadableTable<&'static [u8], &'static [u8]>,
    id: &EntityId,
    row: u64,
) -> Result<Automerge, StoreError> {
    match snapshots.get(row)? {
        Some(snapshot) => load_document(id, Some(snapshot.value()), &[]),
        None => load_document(id, None, &row_envelopes(envelopes, row)?),
    }
}

/// One change of an entity's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "hash": "08f4743001bb03a8d680ffdf473f37a47aee850ea38ae26e314adcb76974a1bf",
    "author": "1a5304b1686108db918704c3c9948b6a33e0e15e2159f827cf3e9ad956c53bf4",
    "device": 3399940441u32, "time": 1795608969, "operations": 4, "changed": ["description"]
})))]
pub struct HistoryEntry {
    /// The change hash (hex).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    /// Its author's key (hex); empty if the change's actor is not an author
    /// key.
    #[schema(pattern = "^([0-9a-f]{64})?$")]
    pub author: String,
    /// The author's device suffix.
    pub device: u32,
    /// Seconds (not milliseconds) since the epoch, by the author's clock.
    pub time: i64,
    /// Number of Automerge operations.
    pub operations: usize,
    /// The author's person profile (its id follows from the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// What it wrote: the keys of the entity it changed (`name`, `tags`,
    /// `address`, `links`…), sorted, without `updated_at`.
    #[serde(default)]
    pub changed: Vec<String>,
}

/// The root keys `change` writes in `doc` (which holds it).
fn changed_keys(doc: &Automerge, change: &crdt_model::automerge::Change) -> Vec<String> {
    use crdt_model::automerge::ReadDoc;
    use crdt_model::automerge::legacy::{Key, ObjectId};
    let Ok(expanded) = std::panic::catch_unwind(|| change.decode()) else {
        return Vec::new();
    };
    let start = change.start_op().get();
    let mut made: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut keys = std::collections::BTreeSet::new();
    for (index, op) in expanded.operations.iter().enumerate() {
        let root_key = match &op.obj {
            ObjectId::Root => match &op.key {
                Key::Map(name) => Some(name.to_string()),
                Key::Seq(_) => None,
            },
            ObjectId::Id(id) if id.actor() == change.actor_id() && id.counter() >= start => {
                made.get(&id.counter()).cloned()
            }
            ObjectId::Id(id) => doc
                .import_obj(&format!("{}@{}", id.counter(), id.actor()))
                .ok()
                .and_then(|obj| doc.parents(&obj).ok())
                .and_then(|parents| parents.path().into_iter().next())
                .and_then(|(_, prop)| match prop {
                    crdt_model::automerge::Prop::Map(name) => Some(name),
                    crdt_model::automerge::Prop::Seq(_) => None,
                }),
        };
        if let Some(key) = root_key {
            if matches!(op.action, crdt_model::automerge::legacy::OpType::Make(_)) {
                made.insert(start + index as u64, key.clone());
            }
            keys.insert(key);
        }
    }
    keys.remove("updated_at");
    keys.into_iter().collect()
}

impl Store {
    /// The stored Automerge document of an entity.
    pub fn document(&self, id: &EntityId) -> Result<Option<Automerge>, StoreError> {
        let tx = self.read()?;
        let Some(row) = tx.open_table(ROWS)?.get(&id.as_bytes()[..])? else {
            return Ok(None);
        };
        load_row(
            &tx.open_table(SNAPSHOTS)?,
            &tx.open_table(ENVELOPES)?,
            id,
            row.value(),
        )
        .map(Some)
    }

    /// The signed envelopes of a document, in no particular order.
    pub fn envelopes(&self, id: &EntityId) -> Result<Vec<Vec<u8>>, StoreError> {
        let tx = self.read()?;
        match tx.open_table(ROWS)?.get(&id.as_bytes()[..])? {
            Some(row) => row_envelopes(&tx.open_table(ENVELOPES)?, row.value()),
            None => Ok(Vec::new()),
        }
    }

    /// The reasons of the most recent quarantined changes, newest first.
    pub fn quarantine(&self, limit: usize) -> Result<Vec<serde_json::Value>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(QUARANTINE)?;
        let mut out = Vec::new();
        for entry in table.iter()?.rev().take(limit) {
            let (_, value) = entry?;
            out.push(
                serde_json::from_slice(value.value())
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            );
        }
        Ok(out)
    }

    /// The changes of an entity in causal order; `None` if it is unknown.
    pub fn history(&self, id: &EntityId) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
        let Some(doc) = self.document(id)? else {
            return Ok(None);
        };
        Ok(Some(
            doc.get_changes(&[])
                .into_iter()
                .map(|change| {
                    let actor = crdt_model::ids::Actor::from_actor_id(change.actor_id()).ok();
                    HistoryEntry {
                        hash: change.hash().to_string(),
                        author: actor.map(|a| a.author.to_string()).unwrap_or_default(),
                        device: actor.map(|a| a.device).unwrap_or_default(),
                        time: change.timestamp(),
                        operations: change.len(),
                        person: actor.map(|a| EntityId::person_of(&a.author).to_string()),
                        changed: changed_keys(&doc, &change),
                    }
                })
                .collect(),
        ))
    }
}
