//! The store: one redb file holding every document, every signed change,
//! the pending and quarantine tables, the indexes and the local profile.
//!
//! Tables (keys and values are bytes unless said otherwise):
//!
//! | table | key | value |
//! |---|---|---|
//! | `documents` | entity id (16) | Automerge compact save |
//! | `changes` | entity id (16) ‖ change hash (32) | signed envelope |
//! | `entities` | entity id (16) | the typed entity as JSON (read cache) |
//! | `names` | entity id (16) | its folded name, to sort and rank without reading the entity |
//! | `rows` | entity id (16) | its row number (u64), in the order entities were first indexed |
//! | `index_v2` | text prefix (`p/<postal key>/`, `k/<kind>/`, `t/<tag>/`, `w/<word>/`) ‖ row (8, big-endian) ‖ entity id (16) | nothing |
//! | `pending` | entity id (16) ‖ change hash (32) | envelope whose dependencies are missing |
//! | `quarantine` | sequence number (u64) | JSON `{reason, doc, hash, envelope}` |
//! | `profile` | text key | text value (local only: e-mail, settings, identity) |
//! | `meta` | text key | u64 (`format`, `next_row`) |
//!
//! Index keys carry the entity's row before its id so that the keys of new
//! entities go to the end of each prefix's range: a batch of new entities
//! then rewrites a few pages per prefix instead of pages all over the index.
//! A store written before the rows existed (format 1, table `index`) has its
//! index rebuilt from the cached entities when it is opened.
//!
//! A write transaction commits with immediate durability: what [`Store`]
//! acknowledges survives a crash.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

pub(crate) const DOCUMENTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("documents");
pub(crate) const CHANGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("changes");
pub(crate) const ENTITIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entities");
pub(crate) const NAMES: TableDefinition<&[u8], &str> = TableDefinition::new("names");
pub(crate) const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("index_v2");
pub(crate) const ROWS: TableDefinition<&[u8], u64> = TableDefinition::new("rows");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The index of format 1, keyed by text ending with the entity id.
const INDEX_V1: TableDefinition<&str, ()> = TableDefinition::new("index");
pub(crate) const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");
pub(crate) const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
pub(crate) const PROFILE: TableDefinition<&str, &str> = TableDefinition::new("profile");

/// The store format this version writes.
const FORMAT: u64 = 2;

/// Most changes waiting for their dependencies. Beyond it, new ones are
/// refused (and counted) until dependencies arrive.
pub const MAX_PENDING: u64 = 10_000;
/// Most quarantined changes kept; the oldest are dropped first.
pub const MAX_QUARANTINE: u64 = 10_000;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (usually a running node) has the store open.
    #[error(
        "the store {path} is in use by another process (is `communecter node` running on this data directory?)"
    )]
    InUse {
        /// The store file.
        path: String,
    },
    /// redb failed.
    #[error("store error: {0}")]
    Database(String),
    /// Stored data could not be decoded.
    #[error("corrupt store record: {0}")]
    Corrupt(String),
}

macro_rules! store_error_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(error: $error) -> Self {
                StoreError::Database(error.to_string())
            }
        }
    )*};
}
store_error_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Counts of what the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Documents (entities, deleted ones included).
    pub documents: u64,
    /// Signed changes.
    pub changes: u64,
    /// Changes waiting for dependencies.
    pub pending: u64,
    /// Changes refused and kept for inspection.
    pub quarantined: u64,
}

/// The redb database of a node.
pub struct Store {
    pub(crate) db: Database,
}

impl Store {
    /// Opens (or creates) the store at `path`. Fails fast with
    /// [`StoreError::InUse`] when another process holds it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|error| match error {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.display().to_string(),
            },
            other => StoreError::Database(other.to_string()),
        })?;
        let tx = db.begin_write()?;
        {
            tx.open_table(DOCUMENTS)?;
            tx.open_table(CHANGES)?;
            tx.open_table(ENTITIES)?;
            tx.open_table(NAMES)?;
            tx.open_table(INDEX)?;
            tx.open_table(ROWS)?;
            tx.open_table(PENDING)?;
            tx.open_table(QUARANTINE)?;
            tx.open_table(PROFILE)?;
            let mut meta = tx.open_table(META)?;
            let format = meta.get("format")?.map(|value| value.value());
            match format {
                Some(FORMAT) => {}
                Some(newer) if newer > FORMAT => {
                    return Err(StoreError::Corrupt(format!(
                        "the store has format {newer}, newer than this version of Communecter reads ({FORMAT}); upgrade Communecter"
                    )));
                }
                _ => {
                    meta.insert("format", FORMAT)?;
                    drop(meta);
                    crate::index::rebuild(&tx)?;
                    tx.delete_table(INDEX_V1)?;
                }
            }
        }
        tx.commit()?;
        Ok(Self { db })
    }

    /// Reads a profile value.
    pub fn profile(&self, key: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PROFILE)?;
        Ok(table.get(key)?.map(|value| value.value().to_owned()))
    }

    /// Writes profile values in one transaction.
    pub fn set_profile(&self, values: &[(&str, &str)]) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(PROFILE)?;
            for (key, value) in values {
                table.insert(*key, *value)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How many documents, changes, pending and quarantined changes.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(Counts {
            documents: tx.open_table(DOCUMENTS)?.len()?,
            changes: tx.open_table(CHANGES)?.len()?,
            pending: tx.open_table(PENDING)?.len()?,
            quarantined: tx.open_table(QUARANTINE)?.len()?,
        })
    }

    /// The stored Automerge document of an entity.
    pub fn document(
        &self,
        id: &crdt_model::ids::EntityId,
    ) -> Result<Option<crdt_model::automerge::Automerge>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(DOCUMENTS)?;
        let Some(bytes) = table.get(&id.as_bytes()[..])? else {
            return Ok(None);
        };
        crdt_model::automerge::Automerge::load(bytes.value())
            .map(Some)
            .map_err(|error| StoreError::Corrupt(format!("document {id}: {error}")))
    }

    /// The signed envelopes of a document, in the order they were stored.
    pub fn envelopes(&self, id: &crdt_model::ids::EntityId) -> Result<Vec<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHANGES)?;
        let start = [&id.as_bytes()[..], &[0u8; 32][..]].concat();
        let end = [&id.as_bytes()[..], &[0xffu8; 32][..]].concat();
        let mut out = Vec::new();
        for entry in table.range(&start[..]..=&end[..])? {
            let (_, value) = entry?;
            out.push(value.value().to_vec());
        }
        Ok(out)
    }

    /// The reasons of the most recent quarantined changes, newest first.
    pub fn quarantine(&self, limit: usize) -> Result<Vec<serde_json::Value>, StoreError> {
        let tx = self.db.begin_read()?;
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
}

/// One change of an entity's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    /// The change hash (hex).
    pub hash: String,
    /// Its author's key (hex).
    pub author: String,
    /// The author's device suffix.
    pub device: u32,
    /// Seconds since the epoch, by the author's clock.
    pub time: i64,
    /// Number of Automerge operations.
    pub operations: usize,
}

impl Store {
    /// The changes of an entity in causal order; `None` if it is unknown.
    pub fn history(
        &self,
        id: &crdt_model::ids::EntityId,
    ) -> Result<Option<Vec<HistoryEntry>>, StoreError> {
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
                    }
                })
                .collect(),
        ))
    }
}
