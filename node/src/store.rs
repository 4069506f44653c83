//! The store: one redb file holding every document, every signed change,
//! the pending and quarantine tables, the indexes and the local profile.
//!
//! Each document gets a local row number when its first change is applied;
//! rows grow in that order. Everything written per document is keyed by its
//! row, so the rows of new documents go to the end of their tables and a
//! batch of new documents rewrites few pages; only the small `rows` table is
//! keyed by the (random) entity id.
//!
//! Tables (keys and values are bytes unless said otherwise):
//!
//! | table | key | value |
//! |---|---|---|
//! | `rows` | entity id (16) | its row (u64) |
//! | `envelopes` | row (8, big-endian) ‖ change hash (32) | the signed envelope of an applied change |
//! | `snapshots` | row (u64) | Automerge compact save, for documents of more than [`SNAPSHOT_AFTER`] changes |
//! | `entity_cache` | row (u64) | the typed entity as JSON (read cache) |
//! | `name_cache` | row (u64) | its folded name, to sort and rank without reading the entity |
//! | `search_index` | text prefix (`p/<postal key>/`, `k/<kind>/`, `t/<tag>/`, `w/<word>/`) ‖ row (8, big-endian) ‖ entity id (16) | nothing |
//! | `pending` | entity id (16) ‖ change hash (32) | envelope whose dependencies are missing |
//! | `quarantine` | sequence number (u64) | JSON `{reason, doc, hash, envelope}` |
//! | `profile` | text key | text value (local only: e-mail, settings, identity) |
//! | `meta` | text key | u64 (`format`, `next_row`) |
//! | `doc_topics` | row (u64) | the document's postal key, as its last applied envelope gives it |
//! | `sync_items` | postal key ‖ `/` ‖ entity id (16) | SHA-256 of the document's sorted heads (32), for catch-up sync |
//! | `peers` | peer id (text) | JSON `{addrs, last_seen}` of a peer met before |
//!
//! A document without a snapshot is loaded by applying its envelopes'
//! changes; most entities have a handful of changes, and saving them again
//! as a snapshot would only repeat them.
//!
//! A store of format 1 (tables `documents`, `changes`, `entities`, `names`,
//! `index`, keyed by entity id) is converted when opened: its signed
//! changes are ingested again into the tables above, then its tables are
//! dropped.
//!
//! A write transaction commits with immediate durability: what [`Store`]
//! acknowledges survives a crash.

use std::path::Path;

use crdt_model::automerge::Automerge;
use crdt_model::ids::EntityId;
use crdt_model::signed::SignedChange;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};

pub(crate) const ROWS: TableDefinition<&[u8], u64> = TableDefinition::new("rows");
pub(crate) const ENVELOPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("envelopes");
pub(crate) const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
pub(crate) const ENTITIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entity_cache");
pub(crate) const NAMES: TableDefinition<u64, &str> = TableDefinition::new("name_cache");
pub(crate) const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("search_index");
pub(crate) const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");
pub(crate) const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
pub(crate) const PROFILE: TableDefinition<&str, &str> = TableDefinition::new("profile");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const DOC_TOPICS: TableDefinition<u64, &str> = TableDefinition::new("doc_topics");
pub(crate) const SYNC_ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sync_items");
pub(crate) const PEERS: TableDefinition<&str, &str> = TableDefinition::new("peers");

/// The tables of format 1, dropped once their changes are ingested again.
const FORMAT_1_TABLES: [&str; 5] = ["documents", "changes", "entities", "names", "index"];
/// The table of format 1 holding the signed changes.
const FORMAT_1_CHANGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("changes");

/// The store format this version writes.
const FORMAT: u64 = 2;

/// Documents with more changes than this keep a snapshot; smaller ones are
/// loaded from their changes.
pub const SNAPSHOT_AFTER: usize = 8;

/// The key of an applied change.
pub(crate) fn envelope_key(row: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&row.to_be_bytes());
    key[8..].copy_from_slice(hash);
    key
}

/// The first and last possible keys of a row's envelopes.
pub(crate) fn row_bounds(row: u64) -> ([u8; 40], [u8; 40]) {
    (envelope_key(row, &[0; 32]), envelope_key(row, &[0xff; 32]))
}

/// The signed envelopes stored for a row, in key order.
pub(crate) fn row_envelopes(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    row: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let (start, end) = row_bounds(row);
    table
        .range(&start[..]..=&end[..])?
        .map(|entry| Ok(entry?.1.value().to_vec()))
        .collect()
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
pub(crate) fn load_row(
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
    /// Every applied change, once committed, to whoever listens.
    pub(crate) applied: tokio::sync::broadcast::Sender<crate::ingest::Applied>,
}

/// Most applied changes queued for a slow listener before it misses some
/// (catch-up sync then brings them).
const APPLIED_QUEUE: usize = 4096;

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
        if Self::is_current(&db)? {
            return Ok(Self::with(db));
        }
        let tx = db.begin_write()?;
        let format_1 = tx
            .list_tables()?
            .any(|table| table.name() == FORMAT_1_TABLES[1]);
        let mut carried = Vec::new();
        {
            tx.open_table(ROWS)?;
            tx.open_table(ENVELOPES)?;
            tx.open_table(SNAPSHOTS)?;
            tx.open_table(ENTITIES)?;
            tx.open_table(NAMES)?;
            tx.open_table(INDEX)?;
            tx.open_table(PENDING)?;
            tx.open_table(QUARANTINE)?;
            tx.open_table(PROFILE)?;
            tx.open_table(DOC_TOPICS)?;
            tx.open_table(SYNC_ITEMS)?;
            tx.open_table(PEERS)?;
            let mut meta = tx.open_table(META)?;
            let format = meta.get("format")?.map(|value| value.value());
            match format {
                Some(newer) if newer > FORMAT => {
                    return Err(StoreError::Corrupt(format!(
                        "the store has format {newer}, newer than this version of Communecter reads ({FORMAT}); upgrade Communecter"
                    )));
                }
                _ => meta.insert("format", FORMAT)?,
            };
            if format_1 {
                for entry in tx.open_table(FORMAT_1_CHANGES)?.iter()? {
                    carried.push(entry?.1.value().to_vec());
                }
            }
        }
        let store = Self::with(db);
        if !format_1 {
            tx.commit()?;
            return Ok(store);
        }
        // Format 1: ingest its changes again, in the same transaction as
        // the dropping of its tables, so that a crash leaves either store.
        store.ingest_in(
            &tx,
            crate::ingest::Origin::Network,
            &carried,
            &mut Vec::new(),
        )?;
        let old: Vec<_> = tx
            .list_tables()?
            .filter(|table| FORMAT_1_TABLES.contains(&table.name()))
            .collect();
        for table in old {
            tx.delete_table(table)?;
        }
        tx.commit()?;
        Ok(store)
    }

    fn with(db: Database) -> Self {
        Self {
            db,
            applied: tokio::sync::broadcast::channel(APPLIED_QUEUE).0,
        }
    }

    /// Every change applied from now on, after its commit.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<crate::ingest::Applied> {
        self.applied.subscribe()
    }

    /// Whether the store already has this version's format and tables, so
    /// that opening it needs no write.
    fn is_current(db: &Database) -> Result<bool, StoreError> {
        let tx = db.begin_read()?;
        let format = match tx.open_table(META) {
            Ok(meta) => meta.get("format")?.map(|value| value.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(error) => return Err(error.into()),
        };
        Ok(format == Some(FORMAT))
    }

    /// Rewrites the file without its free pages, the space left behind by
    /// rewritten documents, indexes and caches. Returns the file's size in
    /// bytes before and after. Needs the store to itself.
    pub fn compact(&mut self, path: &Path) -> Result<(u64, u64), StoreError> {
        let size = || {
            std::fs::metadata(path)
                .map(|meta| meta.len())
                .map_err(|error| StoreError::Database(format!("{}: {error}", path.display())))
        };
        let before = size()?;
        self.db
            .compact()
            .map_err(|error| StoreError::Database(error.to_string()))?;
        Ok((before, size()?))
    }

    /// Reads a profile value.
    pub fn profile(&self, key: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PROFILE)?;
        Ok(table.get(key)?.map(|value| value.value().to_owned()))
    }

    /// Every profile value, by key.
    pub fn profile_values(&self) -> Result<Vec<(String, String)>, StoreError> {
        use redb::ReadableTable;
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PROFILE)?;
        let mut values = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            values.push((key.value().to_owned(), value.value().to_owned()));
        }
        Ok(values)
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
            documents: tx.open_table(ROWS)?.len()?,
            changes: tx.open_table(ENVELOPES)?.len()?,
            pending: tx.open_table(PENDING)?.len()?,
            quarantined: tx.open_table(QUARANTINE)?.len()?,
        })
    }

    /// The stored Automerge document of an entity.
    pub fn document(&self, id: &EntityId) -> Result<Option<Automerge>, StoreError> {
        let tx = self.db.begin_read()?;
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
        let tx = self.db.begin_read()?;
        match tx.open_table(ROWS)?.get(&id.as_bytes()[..])? {
            Some(row) => row_envelopes(&tx.open_table(ENVELOPES)?, row.value()),
            None => Ok(Vec::new()),
        }
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
                    }
                })
                .collect(),
        ))
    }
}
