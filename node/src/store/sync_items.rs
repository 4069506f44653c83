//! What catch-up sync reads: per postal key, each document's id and the
//! hash of its heads (the `sync_items` table, kept by the write path), and
//! per document what a peer lacks of it, given its heads or its change
//! hashes ([`PullReader`]).

use std::collections::HashSet;

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;
use redb::ReadOnlyTable;

use super::documents::{envelope_key, for_each_change, load_row, row_envelopes};
use super::{ENVELOPES, ROWS, SNAPSHOTS, SYNC_ITEMS, Store, StoreError};

/// A document as reconciliation sees it: its id and the hash of its heads.
pub type Item = ([u8; 16], [u8; 32]);

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
pub(super) fn sync_item_key(postal_key: &str, id: &EntityId) -> Vec<u8> {
    [postal_key.as_bytes(), b"/", id.as_bytes()].concat()
}

impl Store {
    /// The sync items of a postal key, sorted by id.
    pub fn sync_items(&self, postal_key: &str) -> Result<Vec<Item>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(SYNC_ITEMS)?;
        let prefix = [postal_key.as_bytes(), b"/"].concat();
        let mut items = Vec::new();
        for entry in table.range(&prefix[..]..)? {
            let (key, value) = entry?;
            let Some(id) = key.value().strip_prefix(&prefix[..]) else {
                break;
            };
            let (Ok(id), Ok(hash)) = (
                <[u8; 16]>::try_from(id),
                <[u8; 32]>::try_from(value.value()),
            ) else {
                return Err(StoreError::Corrupt("a malformed sync item".into()));
            };
            items.push((id, hash));
        }
        Ok(items)
    }

    /// The heads of a document (none if it is not stored).
    pub fn heads(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
        Ok(self
            .document(id)?
            .map(|doc| doc.get_heads())
            .unwrap_or_default())
    }

    /// Whether every change of `hashes` is stored for a document.
    pub fn has_changes(&self, id: &EntityId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
        let tx = self.read()?;
        let Some(row) = tx.open_table(ROWS)?.get(&id.as_bytes()[..])? else {
            return Ok(hashes.is_empty());
        };
        let table = tx.open_table(ENVELOPES)?;
        for hash in hashes {
            if table
                .get(&envelope_key(row.value(), &hash.0)[..])?
                .is_none()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The hashes of the changes stored for a document.
    pub fn change_hashes(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
        let tx = self.read()?;
        let Some(row) = tx.open_table(ROWS)?.get(&id.as_bytes()[..])? else {
            return Ok(Vec::new());
        };
        let mut hashes = Vec::new();
        for_each_change(&tx.open_table(ENVELOPES)?, row.value(), |hash, _| {
            hashes.push(hash);
        })?;
        Ok(hashes)
    }

    /// A consistent view of the documents, to answer a pull.
    pub fn pull_reader(&self) -> Result<PullReader, StoreError> {
        let tx = self.read()?;
        Ok(PullReader {
            rows: tx.open_table(ROWS)?,
            envelopes: tx.open_table(ENVELOPES)?,
            snapshots: tx.open_table(SNAPSHOTS)?,
        })
    }
}

/// What a pulling session reads of the documents its node holds: the
/// store, or an in-memory model in tests.
pub trait Holdings {
    /// The heads of a document (none if it is not held).
    fn heads(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError>;
    /// The hashes of the changes held for a document.
    fn change_hashes(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError>;
    /// Whether every change of `hashes` is held for a document.
    fn has_changes(&self, id: &EntityId, hashes: &[ChangeHash]) -> Result<bool, StoreError>;
}

impl Holdings for Store {
    fn heads(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
        Store::heads(self, id)
    }

    fn change_hashes(&self, id: &EntityId) -> Result<Vec<ChangeHash>, StoreError> {
        Store::change_hashes(self, id)
    }

    fn has_changes(&self, id: &EntityId, hashes: &[ChangeHash]) -> Result<bool, StoreError> {
        Store::has_changes(self, id, hashes)
    }
}

/// What the store has of a document that a peer lacks, given the peer's
/// heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinceHeads {
    /// The envelopes of the changes that are not ancestors of those heads.
    Envelopes(Vec<Vec<u8>>),
    /// Some of those heads are unknown here (the peer holds changes this
    /// store lacks): this store's own heads.
    Unknown(Vec<[u8; 32]>),
}

/// One read transaction's view of the documents and their envelopes.
pub struct PullReader {
    rows: ReadOnlyTable<&'static [u8], u64>,
    envelopes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    snapshots: ReadOnlyTable<u64, &'static [u8]>,
}

impl PullReader {
    fn row(&self, id: &[u8; 16]) -> Result<Option<u64>, StoreError> {
        Ok(self.rows.get(&id[..])?.map(|row| row.value()))
    }

    /// The envelopes of a document whose change hashes are not in `have`
    /// (none if the document is unknown).
    pub fn except(&self, id: &[u8; 16], have: &[[u8; 32]]) -> Result<Vec<Vec<u8>>, StoreError> {
        let Some(row) = self.row(id)? else {
            return Ok(Vec::new());
        };
        let have: HashSet<&[u8; 32]> = have.iter().collect();
        let mut these = Vec::new();
        for_each_change(&self.envelopes, row, |hash, envelope| {
            if !have.contains(&hash.0) {
                these.push(envelope.to_vec());
            }
        })?;
        Ok(these)
    }

    /// What a peer whose heads of the document are `heads` lacks of it.
    pub fn since_heads(&self, id: &[u8; 16], heads: &[[u8; 32]]) -> Result<SinceHeads, StoreError> {
        let row = self.row(id)?;
        let row = match row {
            None if !heads.is_empty() => return Ok(SinceHeads::Unknown(Vec::new())),
            None => return Ok(SinceHeads::Envelopes(Vec::new())),
            Some(row) if heads.is_empty() => {
                return Ok(SinceHeads::Envelopes(row_envelopes(&self.envelopes, row)?));
            }
            Some(row) => row,
        };
        let id = EntityId::from_bytes(*id);
        let doc = load_row(&self.snapshots, &self.envelopes, &id, row)?;
        let heads: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
        if !heads
            .iter()
            .all(|h| doc.get_change_meta_by_hash(h).is_some())
        {
            return Ok(SinceHeads::Unknown(
                doc.get_heads().into_iter().map(|h| h.0).collect(),
            ));
        }
        let mut these = Vec::new();
        for change in doc.get_changes_meta(&heads) {
            let Some(envelope) = self.envelopes.get(&envelope_key(row, &change.hash.0)[..])? else {
                return Err(StoreError::Corrupt(format!(
                    "document {id}: no envelope for change {}",
                    change.hash
                )));
            };
            these.push(envelope.value().to_vec());
        }
        Ok(SinceHeads::Envelopes(these))
    }
}
