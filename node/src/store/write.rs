//! The one way a change enters the store, [`Writer`]: a redb write transaction
//! with the reads and writes the ingest pipeline needs, and the notices of
//! the changes it applied, sent to [`Store::subscribe`]'s listeners once
//! the transaction has committed. Crate-private: every change enters the
//! store through the ingest pipeline.

use std::collections::HashMap;

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;
use redb::{ReadableTable, ReadableTableMetadata, TableHandle, WriteTransaction};

use super::documents::{envelope_key, row_envelopes};
use super::sync_items::sync_item_key;
use super::{
    DOC_TOPICS, ENTITIES, ENVELOPES, FORMAT_1_TABLES, MAX_PENDING, MAX_QUARANTINE, META, NAMES,
    PENDING, QUARANTINE, ROWS, SNAPSHOTS, SYNC_ITEMS, Store, StoreError, create_tables, index,
};

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
    /// The kind of the entity, once its genesis is applied.
    pub kind: Option<crdt_model::schema::Kind>,
}

/// What the store holds of a document, read before its changes are
/// handled.
pub(crate) struct DocState {
    /// Its snapshot, if it has one.
    pub(crate) snapshot: Option<Vec<u8>>,
    /// Its stored envelopes, when it has no snapshot.
    pub(crate) stored: Vec<Vec<u8>>,
    /// Its cached typed entity (JSON).
    pub(crate) cached_entity: Option<Vec<u8>>,
    /// Its changes waiting for their dependencies: hash and envelope.
    pub(crate) waiting: Vec<(ChangeHash, Vec<u8>)>,
}

/// A document's new state and the rows derived from it.
pub(crate) struct Derived {
    /// SHA-256 of its sorted heads.
    pub(crate) heads_hash: [u8; 32],
    /// A new snapshot, for documents past
    /// [`SNAPSHOT_AFTER`](super::SNAPSHOT_AFTER) changes.
    pub(crate) snapshot: Option<Vec<u8>>,
    /// The typed entity as JSON, and its folded name; none while the
    /// genesis is missing.
    pub(crate) entity: Option<(Vec<u8>, String)>,
    /// The entity's kind, with its genesis.
    pub(crate) kind: Option<crdt_model::schema::Kind>,
    /// Index prefixes to drop and to add.
    pub(crate) stale_keys: Vec<String>,
    pub(crate) fresh_keys: Vec<String>,
}

/// What handling one document's changes produced, to be written.
pub(crate) struct DocWrite<'a> {
    /// The document.
    pub(crate) id: EntityId,
    /// Its row, if a change of it was applied before.
    pub(crate) row: Option<u64>,
    /// Changes applied: hash, envelope, the postal key it names, and where
    /// it came from.
    pub(crate) applied: Vec<(ChangeHash, &'a [u8], &'a str, Origin)>,
    /// Its new state, when some change was applied.
    pub(crate) derived: Option<Derived>,
    /// Waiting changes to drop from the `pending` table (applied or
    /// refused, or sent again).
    pub(crate) released: Vec<ChangeHash>,
    /// Changes to park until their dependencies arrive.
    pub(crate) park: Vec<(ChangeHash, &'a [u8])>,
    /// Refused changes: hash, envelope size, reason.
    pub(crate) refused: Vec<(ChangeHash, usize, String)>,
}

/// A write transaction of the store; see the module doc.
pub(crate) struct Writer<'a> {
    store: &'a Store,
    tx: WriteTransaction,
    notices: Vec<Applied>,
}

impl Store {
    /// Starts the write transaction of one batch.
    pub(crate) fn begin_write(&self) -> Result<Writer<'_>, StoreError> {
        Ok(Writer {
            store: self,
            tx: self.write()?,
            notices: Vec::new(),
        })
    }
}

fn pending_key(doc: &EntityId, hash: &ChangeHash) -> Vec<u8> {
    [&doc.as_bytes()[..], &hash.0[..]].concat()
}

impl Writer<'_> {
    /// Commits, then tells the store's listeners of every applied change.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        self.tx.commit()?;
        for notice in self.notices {
            // Nobody listening is fine.
            let _ = self.store.applied.send(notice);
        }
        Ok(())
    }

    /// The authors this node's citizen blocked ([`Store::blocked`]), as of
    /// this transaction.
    pub(crate) fn blocked(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let table = self.tx.open_table(super::PROFILE)?;
        let value = table.get(super::BLOCKED)?;
        Ok(super::blocked_in(value.as_ref().map(|value| value.value())))
    }

    /// Per change (document, hash): the document's row, if it has one, and
    /// whether the change is stored already.
    pub(crate) fn lookup(
        &self,
        changes: &[(EntityId, ChangeHash)],
    ) -> Result<Vec<(Option<u64>, bool)>, StoreError> {
        let rows = self.tx.open_table(ROWS)?;
        let envelopes = self.tx.open_table(ENVELOPES)?;
        let mut known: HashMap<EntityId, Option<u64>> = HashMap::new();
        let mut out = Vec::with_capacity(changes.len());
        for (doc, hash) in changes {
            let row = match known.get(doc) {
                Some(row) => *row,
                None => {
                    let row = rows.get(&doc.as_bytes()[..])?.map(|row| row.value());
                    known.insert(*doc, row);
                    row
                }
            };
            let stored = match row {
                Some(row) => envelopes.get(&envelope_key(row, &hash.0)[..])?.is_some(),
                None => false,
            };
            out.push((row, stored));
        }
        Ok(out)
    }

    /// What the store holds of each of these documents (id, row).
    pub(crate) fn states(
        &self,
        docs: &[(EntityId, Option<u64>)],
    ) -> Result<Vec<DocState>, StoreError> {
        let snapshots = self.tx.open_table(SNAPSHOTS)?;
        let envelopes = self.tx.open_table(ENVELOPES)?;
        let entities = self.tx.open_table(ENTITIES)?;
        let pending = self.tx.open_table(PENDING)?;
        let mut states = Vec::with_capacity(docs.len());
        for (id, row) in docs {
            let start = pending_key(id, &ChangeHash([0; 32]));
            let end = pending_key(id, &ChangeHash([0xff; 32]));
            let mut waiting = Vec::new();
            for entry in pending.range(&start[..]..=&end[..])? {
                let (key, value) = entry?;
                // A damaged key names no change: it is left out, not let
                // stop every batch that touches the document.
                let Ok(hash) = <[u8; 32]>::try_from(&key.value()[16..]) else {
                    tracing::warn!(%id, "a malformed key in the pending table, left out");
                    continue;
                };
                waiting.push((ChangeHash(hash), value.value().to_vec()));
            }
            let (snapshot, stored, cached_entity) = match *row {
                Some(row) => {
                    let snapshot = snapshots.get(row)?.map(|bytes| bytes.value().to_vec());
                    let stored = match snapshot {
                        Some(_) => Vec::new(),
                        None => row_envelopes(&envelopes, row)?,
                    };
                    // A damaged cached entity counts as none: it is
                    // written again from the document.
                    let cached = entities
                        .get(row)?
                        .and_then(|bytes| super::unseal(bytes.value()).map(<[u8]>::to_vec));
                    (snapshot, stored, cached)
                }
                None => (None, Vec::new(), None),
            };
            states.push(DocState {
                snapshot,
                stored,
                cached_entity,
                waiting,
            });
        }
        Ok(states)
    }

    /// Writes what handling one document produced; returns, for each
    /// change of [`DocWrite::park`], whether it was parked (`false`: the
    /// `pending` table holds [`MAX_PENDING`] changes already).
    pub(crate) fn write_document(&mut self, doc: DocWrite<'_>) -> Result<Vec<bool>, StoreError> {
        let id = doc.id;
        if let Some(derived) = doc.derived {
            let row = match doc.row {
                Some(row) => row,
                None => self.assign_row(&id)?,
            };
            {
                let mut table = self.tx.open_table(ENVELOPES)?;
                for (hash, envelope, postal_key, origin) in &doc.applied {
                    table.insert(&envelope_key(row, &hash.0)[..], *envelope)?;
                    self.notices.push(Applied {
                        doc: id,
                        hash: *hash,
                        postal_key: (*postal_key).to_owned(),
                        envelope: (*envelope).into(),
                        origin: *origin,
                        kind: derived.kind,
                    });
                }
            }
            let topic = doc
                .applied
                .last()
                .map(|(_, _, postal_key, _)| *postal_key)
                .expect("a document with a new state has applied changes");
            self.set_sync_item(&id, row, topic, &derived.heads_hash)?;
            self.persist(&id, row, derived)?;
        }
        let mut parked = Vec::with_capacity(doc.park.len());
        {
            let mut pending = self.tx.open_table(PENDING)?;
            for hash in &doc.released {
                pending.remove(&pending_key(&id, hash)[..])?;
            }
            for (hash, envelope) in &doc.park {
                let room = pending.len()? < MAX_PENDING;
                if room {
                    pending.insert(&pending_key(&id, hash)[..], *envelope)?;
                }
                parked.push(room);
            }
        }
        for (hash, bytes, reason) in &doc.refused {
            self.quarantine(&id, hash, *bytes, reason)?;
        }
        Ok(parked)
    }

    /// Gives a document the next row.
    fn assign_row(&self, id: &EntityId) -> Result<u64, StoreError> {
        let mut meta = self.tx.open_table(META)?;
        let row = meta.get("next_row")?.map_or(0, |row| row.value());
        meta.insert("next_row", row + 1)?;
        self.tx.open_table(ROWS)?.insert(&id.as_bytes()[..], row)?;
        Ok(row)
    }

    /// Files the document under its postal key for catch-up sync, with the
    /// hash of its heads, and removes it from the key it had before.
    fn set_sync_item(
        &self,
        id: &EntityId,
        row: u64,
        postal_key: &str,
        heads_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        let mut topics = self.tx.open_table(DOC_TOPICS)?;
        let old = topics
            .insert(row, postal_key)?
            .map(|old| old.value().to_owned());
        let mut items = self.tx.open_table(SYNC_ITEMS)?;
        if let Some(old) = old.filter(|old| old != postal_key) {
            items.remove(&sync_item_key(&old, id)[..])?;
        }
        items.insert(&sync_item_key(postal_key, id)[..], &heads_hash[..])?;
        Ok(())
    }

    /// Keeps a refused change's reason, dropping the oldest records beyond
    /// [`MAX_QUARANTINE`].
    fn quarantine(
        &self,
        doc: &EntityId,
        hash: &ChangeHash,
        envelope_bytes: usize,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut table = self.tx.open_table(QUARANTINE)?;
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

    /// Writes a document's new snapshot, cached entity, name and changed
    /// index keys.
    fn persist(&self, id: &EntityId, row: u64, derived: Derived) -> Result<(), StoreError> {
        if let Some(snapshot) = &derived.snapshot {
            self.tx.open_table(SNAPSHOTS)?.insert(row, &snapshot[..])?;
        }
        index::update(&self.tx, id, row, &derived.stale_keys, &derived.fresh_keys)?;
        let mut entities = self.tx.open_table(ENTITIES)?;
        let mut names = self.tx.open_table(NAMES)?;
        match derived.entity {
            Some((json, name)) => {
                names.insert(row, name.as_str())?;
                entities.insert(row, &super::seal(&json)[..])?;
            }
            None => {
                entities.remove(row)?;
                names.remove(row)?;
            }
        }
        Ok(())
    }

    /// Before a store of the first format is ingested again in this
    /// transaction: this format's tables and mark.
    pub(crate) fn create_tables(&self) -> Result<(), StoreError> {
        create_tables(&self.tx)
    }

    /// After a store of the first format was ingested again in this
    /// transaction: drops the first format's tables, so that a crash
    /// leaves either store, whole.
    pub(crate) fn drop_first_format(&self) -> Result<(), StoreError> {
        let old: Vec<_> = self
            .tx
            .list_tables()?
            .filter(|table| FORMAT_1_TABLES.contains(&table.name()))
            .collect();
        for table in old {
            self.tx.delete_table(table)?;
        }
        Ok(())
    }
}
