//! The store: the ground floor of the node. One redb file holding every
//! document, every signed change, the pending and quarantine tables, the
//! indexes, the sync items, the peers met and the local profile. Every
//! table's code is here; nothing here knows of what sits on it (ingest,
//! sync, the network, the API).
//!
//! - [`documents`]: loading a document from its snapshot or envelopes,
//!   envelopes, history, quarantine reads.
//! - [`index`]: index keys of an entity, listing and text search.
//! - [`sync_items`]: per postal key, each document's heads hash, and the
//!   reads a sync answer needs.
//! - [`peers`]: the peers met, dialled again at start.
//! - `write`: `Writer`, the one way a change enters (used by the ingest
//!   pipeline only, crate-private), and the notices of committed changes
//!   ([`Applied`]). The local profile, the peers met and upkeep (creating
//!   tables, compacting) write directly.
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
//! `index`, keyed by entity id) is refused by [`Store::open`]: its signed
//! changes must be ingested again, which the ingest pipeline does
//! (`ingest::open`) in the transaction that drops the old tables.
//!
//! A write transaction commits with immediate durability: what [`Store`]
//! acknowledges survives a crash.
//!
//! A write the disk cannot hold (full, or failing) is refused with
//! [`StoreError::NoSpace`] or [`StoreError::Database`] and nothing of it is
//! kept. redb then refuses every later transaction until the database is
//! opened again: the store does so itself at the next transaction, so writes
//! resume once space is back, without a restart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    StorageError, TableDefinition, TableHandle, TransactionError, WriteTransaction,
};

pub mod check;
pub mod documents;
pub mod index;
pub mod peers;
pub mod sync_items;
pub(crate) mod write;

pub use check::CheckReport;
pub use documents::HistoryEntry;
pub use index::Filter;
pub use sync_items::heads_hash;
pub use write::{Applied, Origin};
pub(crate) use write::{Derived, DocState, DocWrite, Writer};

const ROWS: TableDefinition<&[u8], u64> = TableDefinition::new("rows");
const ENVELOPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("envelopes");
const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
const ENTITIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entity_cache");
const NAMES: TableDefinition<u64, &str> = TableDefinition::new("name_cache");
const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("search_index");
const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");
const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
const PROFILE: TableDefinition<&str, &str> = TableDefinition::new("profile");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The profile key of the authors the citizen blocked: their keys,
/// separated by spaces.
pub(crate) const BLOCKED: &str = "blocked";

/// The authors a [`BLOCKED`] profile value names.
pub(crate) fn blocked_in(value: Option<&str>) -> BTreeSet<String> {
    value
        .map(|value| value.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}
const DOC_TOPICS: TableDefinition<u64, &str> = TableDefinition::new("doc_topics");
const SYNC_ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sync_items");
const PEERS: TableDefinition<&str, &str> = TableDefinition::new("peers");

/// The tables of format 1, dropped once their changes are ingested again.
const FORMAT_1_TABLES: [&str; 5] = ["documents", "changes", "entities", "names", "index"];
/// The table of format 1 holding the signed changes.
const FORMAT_1_CHANGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("changes");

/// The store format this version writes.
/// The format of this version: 3 seals the cached entities (format 2 is
/// converted on opening, format 1 through the ingest pipeline).
const FORMAT: u64 = 3;

/// Documents with more changes than this keep a snapshot; smaller ones are
/// loaded from their changes.
pub const SNAPSHOT_AFTER: usize = 8;

/// Most changes waiting for their dependencies. Beyond it, new ones are
/// refused (and counted) until dependencies arrive.
pub const MAX_PENDING: u64 = 10_000;
/// The memory redb may use to cache the store's pages (its default is
/// 1 GiB, which a node under load filled: its memory grew with no plateau).
pub const CACHE_BYTES: usize = 128 * 1024 * 1024;

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
    /// A store of the first format, which only the ingest pipeline can
    /// convert.
    #[error(
        "the store {path} has the first store format; open it through the node (`ingest::open`), which converts it"
    )]
    FirstFormat {
        /// The store file.
        path: String,
    },
    /// redb failed.
    #[error("store error: {0}")]
    Database(String),
    /// Stored data could not be decoded.
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    /// The disk holding the store is full: the write was refused whole.
    #[error(
        "the disk holding the store is full: nothing of this write was kept; free some space and try again (no restart needed)"
    )]
    NoSpace,
    /// A stored record fails its checksum: the disk altered it. It is not
    /// served.
    #[error(
        "the store is damaged ({what}): stop the node, run `communecter check` to see what is, and `communecter repair` to rebuild the store from its signed changes"
    )]
    Damaged {
        /// What was found damaged.
        what: String,
    },
}

/// What a caught panic said.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// The bytes of a cached entity's checksum, in front of its JSON.
const SEAL_BYTES: usize = 8;

/// A cached entity as the entity cache stores it: its JSON behind a
/// checksum of it (the first bytes of its SHA-256), so that a row the disk
/// altered is found when read, and never served.
pub(crate) fn seal(json: &[u8]) -> Vec<u8> {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(json);
    [&digest[..SEAL_BYTES], json].concat()
}

/// The JSON of a sealed cached entity, if its checksum holds.
pub(crate) fn unseal(row: &[u8]) -> Option<&[u8]> {
    let (checksum, json) = row.split_at_checked(SEAL_BYTES)?;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(json);
    (checksum == &digest[..SEAL_BYTES]).then_some(json)
}

/// I/O errors redb reported in this process. After one, redb refuses every
/// later transaction of its database (and reads that reach the disk) until
/// it is opened again: a store that sees this count move opens its
/// database again at its next transaction. (Counted where redb's errors
/// become [`StoreError`]s, which know no store; another store of the
/// process is then opened again for nothing, which is harmless.)
static IO_ERRORS: AtomicU64 = AtomicU64::new(0);

macro_rules! store_error_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(error: $error) -> Self {
                let error = redb::Error::from(error);
                if matches!(error, redb::Error::Io(_) | redb::Error::PreviousIo) {
                    IO_ERRORS.fetch_add(1, Ordering::Relaxed);
                }
                match error {
                    redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                        StoreError::NoSpace
                    }
                    other => StoreError::Database(other.to_string()),
                }
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

/// Signed envelopes, as stored.
pub(crate) type Envelopes = Vec<Vec<u8>>;

/// The redb database of a node.
pub struct Store {
    /// The open database, or none once an I/O error made redb refuse it
    /// (it is opened again at the next transaction).
    db: RwLock<Option<Arc<Database>>>,
    /// The store file, to open it again.
    path: PathBuf,
    /// [`IO_ERRORS`] when the database was last opened.
    io_errors_seen: AtomicU64,
    /// Every applied change, once committed, to whoever listens.
    applied: tokio::sync::broadcast::Sender<Applied>,
}

/// How long opening the database again after an I/O error waits for the
/// transactions still using the old one (redb holds the file until the
/// last one ends).
const REOPEN_WAIT: Duration = Duration::from_secs(2);

/// Opens (or creates) the redb file at `path`. redb panics on some damaged
/// files (an allocator state it cannot read): contained here, it is a
/// damaged store, not a crash.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    let opened = std::panic::catch_unwind(|| {
        redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
    })
    .map_err(|panic| StoreError::Damaged {
        what: format!(
            "{} cannot be opened: {}",
            path.display(),
            panic_text(panic.as_ref())
        ),
    })?;
    opened.map_err(|error| match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
            path: path.display().to_string(),
        },
        redb::DatabaseError::Storage(storage) => storage.into(),
        other => StoreError::Database(other.to_string()),
    })
}

/// Most applied changes queued for a slow listener before it misses some
/// (catch-up sync then brings them).
const APPLIED_QUEUE: usize = 4096;

impl Store {
    /// Opens (or creates) the store at `path`. Fails fast with
    /// [`StoreError::InUse`] when another process holds it, and with
    /// [`StoreError::FirstFormat`] on a store of the first format.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        match Self::open_any(path)? {
            (store, None) => Ok(store),
            (_, Some(_)) => Err(StoreError::FirstFormat {
                path: path.display().to_string(),
            }),
        }
    }

    /// Opens (or creates) the store at `path`; on a store of the first
    /// format, writes nothing and also returns its signed changes, to be
    /// ingested again in a [`Writer`] that then calls
    /// `Writer::drop_first_format`.
    pub(crate) fn open_any(path: &Path) -> Result<(Self, Option<Envelopes>), StoreError> {
        let db = open_database(path)?;
        if Self::is_current(&db)? {
            return Ok((Self::with(db, path), None));
        }
        let format_1 = db
            .begin_read()?
            .list_tables()?
            .any(|table| table.name() == FORMAT_1_TABLES[1]);
        if format_1 {
            let mut carried = Vec::new();
            {
                let tx = db.begin_read()?;
                for entry in tx.open_table(FORMAT_1_CHANGES)?.iter()? {
                    carried.push(entry?.1.value().to_vec());
                }
            }
            return Ok((Self::with(db, path), Some(carried)));
        }
        let tx = db.begin_write()?;
        create_tables(&tx)?;
        tx.commit()?;
        Ok((Self::with(db, path), None))
    }

    fn with(db: Database, path: &Path) -> Self {
        Self {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_owned(),
            io_errors_seen: AtomicU64::new(IO_ERRORS.load(Ordering::Relaxed)),
            applied: tokio::sync::broadcast::channel(APPLIED_QUEUE).0,
        }
    }

    /// The open database, opened again after an I/O error.
    fn database(&self) -> Result<Arc<Database>, StoreError> {
        let io_errors = IO_ERRORS.load(Ordering::Relaxed);
        let fresh = |seen: &AtomicU64| seen.load(Ordering::Relaxed) == io_errors;
        if fresh(&self.io_errors_seen)
            && let Some(db) = &*self.db.read().unwrap_or_else(PoisonError::into_inner)
        {
            return Ok(db.clone());
        }
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if fresh(&self.io_errors_seen)
            && let Some(db) = &*slot
        {
            return Ok(db.clone());
        }
        if slot.take().is_some() {
            tracing::warn!(
                path = %self.path.display(),
                "the store hit an I/O error: opening it again"
            );
        }
        self.io_errors_seen.store(io_errors, Ordering::Relaxed);
        // New transactions wait on the lock; the ones still running on the
        // old database keep its file until they end.
        let started = Instant::now();
        let db = loop {
            match open_database(&self.path) {
                Err(StoreError::InUse { .. }) if started.elapsed() < REOPEN_WAIT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(StoreError::InUse { .. }) => {
                    return Err(StoreError::Database(
                        "the store is being opened again after an I/O error, and a long read still holds it; try again".into(),
                    ));
                }
                opened => break Arc::new(opened?),
            }
        };
        tracing::info!(path = %self.path.display(), "store opened again after an I/O error");
        *slot = Some(db.clone());
        Ok(db)
    }

    /// Begins a transaction with `begin`. If redb refuses it for an
    /// earlier I/O error this store has not seen yet, the database is
    /// opened again and the transaction begun on it.
    fn begin<T>(
        &self,
        begin: impl Fn(&Database) -> Result<T, TransactionError>,
    ) -> Result<T, StoreError> {
        match begin(&*self.database()?) {
            Err(TransactionError::Storage(StorageError::PreviousIo)) => {
                IO_ERRORS.fetch_add(1, Ordering::Relaxed);
                Ok(begin(&*self.database()?)?)
            }
            begun => Ok(begun?),
        }
    }

    /// A read transaction.
    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.begin(Database::begin_read)
    }

    /// A write transaction (there is one at a time: this waits for it).
    pub(crate) fn write(&self) -> Result<WriteTransaction, StoreError> {
        self.begin(Database::begin_write)
    }

    /// Every change applied from now on, after its commit.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Applied> {
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
        // Opened again first if an I/O error closed it.
        self.database()?;
        let db = self
            .db
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(Arc::get_mut)
            .ok_or_else(|| {
                StoreError::Database("the store is in use: it cannot be compacted".into())
            })?;
        db.compact()
            .map_err(|error| StoreError::Database(error.to_string()))?;
        Ok((before, size()?))
    }

    /// Reads a profile value.
    pub fn profile(&self, key: &str) -> Result<Option<String>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(PROFILE)?;
        Ok(table.get(key)?.map(|value| value.value().to_owned()))
    }

    /// Every profile value, by key.
    pub fn profile_values(&self) -> Result<Vec<(String, String)>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(PROFILE)?;
        let mut values = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            values.push((key.value().to_owned(), value.value().to_owned()));
        }
        Ok(values)
    }

    /// The authors the citizen blocked: their changes are neither stored
    /// nor forwarded by this node from now on.
    pub fn blocked(&self) -> Result<BTreeSet<String>, StoreError> {
        Ok(blocked_in(self.profile(BLOCKED)?.as_deref()))
    }

    /// Blocks `author` (`block` true) or unblocks them; returns whether
    /// that changed anything.
    pub fn set_blocked(&self, author: &str, block: bool) -> Result<bool, StoreError> {
        let mut blocked = self.blocked()?;
        let changed = if block {
            blocked.insert(author.to_owned())
        } else {
            blocked.remove(author)
        };
        if changed {
            let value = blocked.into_iter().collect::<Vec<_>>().join(" ");
            self.set_profile(&[(BLOCKED, value.as_str())])?;
        }
        Ok(changed)
    }

    /// Writes profile values in one transaction.
    pub fn set_profile(&self, values: &[(&str, &str)]) -> Result<(), StoreError> {
        let tx = self.write()?;
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
        let tx = self.read()?;
        Ok(Counts {
            documents: tx.open_table(ROWS)?.len()?,
            changes: tx.open_table(ENVELOPES)?.len()?,
            pending: tx.open_table(PENDING)?.len()?,
            quarantined: tx.open_table(QUARANTINE)?.len()?,
        })
    }
}

/// Creates every table of this format and marks the format; refuses a
/// store of a newer format.
fn create_tables(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
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
        Some(2) => {
            // Format 2 cached entities without a checksum: sealed now.
            let mut entities = tx.open_table(ENTITIES)?;
            let rows: Vec<(u64, Vec<u8>)> = entities
                .iter()?
                .map(|entry| entry.map(|(row, json)| (row.value(), json.value().to_vec())))
                .collect::<Result<_, _>>()?;
            for (row, json) in rows {
                entities.insert(row, &seal(&json)[..])?;
            }
            meta.insert("format", FORMAT)?
        }
        _ => meta.insert("format", FORMAT)?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_holds_only_for_its_own_bytes() {
        let sealed = seal(br#"{"name":"Garage"}"#);
        assert_eq!(unseal(&sealed), Some(&br#"{"name":"Garage"}"#[..]));
        for at in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[at] ^= 0x01;
            assert_eq!(unseal(&altered), None, "byte {at} flipped");
        }
        assert_eq!(unseal(&sealed[..4]), None);
    }

    /// A store of format 2 (cached entities without a checksum) opens as
    /// format 3 with every cached entity sealed.
    #[test]
    fn a_format_2_store_is_sealed_on_opening() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("store.redb");
        let json = br#"{"name":"Garage"}"#;
        {
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            create_tables(&tx).unwrap();
            tx.open_table(ENTITIES)
                .unwrap()
                .insert(7, &json[..])
                .unwrap();
            tx.open_table(META).unwrap().insert("format", 2).unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let tx = store.read().unwrap();
        let row = tx.open_table(ENTITIES).unwrap().get(7).unwrap().unwrap();
        assert_eq!(unseal(row.value()), Some(&json[..]));
        let format = tx.open_table(META).unwrap().get("format").unwrap().unwrap();
        assert_eq!(format.value(), FORMAT);
    }
}
