//! Rebuilding a damaged store from what cannot lie: its signed changes.
//! Every change that still decodes is ingested again, checked like a
//! peer's, into a new store file, with the local profile and the peers
//! met; caches and indexes are derived afresh. The damaged file is kept
//! beside, renamed, and never deleted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Outcome;
use crate::store::{Origin, Store, StoreError};

/// Changes ingested at once at most (whole documents: a document's
/// changes stay in one batch, so that their order does not matter).
const BATCH: usize = 2_000;

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Changes carried into the new store (applied, or waiting for their
    /// dependencies as before).
    pub kept: u64,
    /// Changes set aside: unreadable, or refused by the checks.
    pub set_aside: u64,
    /// Documents in the new store.
    pub documents: u64,
    /// Where the damaged store was moved.
    pub damaged_file: PathBuf,
}

/// Rebuilds the store at `path` (no process may hold it); see the module
/// doc.
pub fn repair(path: &Path) -> Result<RepairReport, StoreError> {
    let (documents, unreadable, profile, peers) = {
        let old = Store::open(path)?;
        let (documents, unreadable) = old.all_envelopes()?;
        (
            documents,
            unreadable,
            old.profile_values()?,
            old.remembered_peers()?,
        )
    };
    let fresh_path = path.with_extension("repairing");
    let _ = std::fs::remove_file(&fresh_path);
    let mut kept = 0;
    let mut set_aside = unreadable;
    {
        let fresh = super::open(&fresh_path)?;
        let values: Vec<(&str, &str)> = profile
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        fresh.set_profile(&values)?;
        for (peer, _, addresses) in &peers {
            fresh.remember_peer(peer, addresses)?;
        }
        let mut batch: Vec<Vec<u8>> = Vec::new();
        for document in documents {
            if !batch.is_empty() && batch.len() + document.len() > BATCH {
                count(
                    &super::ingest(&fresh, Origin::Import, &batch)?,
                    &mut kept,
                    &mut set_aside,
                );
                batch.clear();
            }
            batch.extend(document);
        }
        if !batch.is_empty() {
            count(
                &super::ingest(&fresh, Origin::Import, &batch)?,
                &mut kept,
                &mut set_aside,
            );
        }
    }
    let fresh = Store::open(&fresh_path)?;
    let documents = fresh.counts()?.documents;
    drop(fresh);
    let damaged_file = path.with_extension(format!("damaged-{}", crate::store::peers::now_secs()));
    std::fs::rename(path, &damaged_file).map_err(|error| io(path, error))?;
    std::fs::rename(&fresh_path, path).map_err(|error| io(&fresh_path, error))?;
    Ok(RepairReport {
        kept,
        set_aside,
        documents,
        damaged_file,
    })
}

fn count(outcomes: &[Outcome], kept: &mut u64, set_aside: &mut u64) {
    for outcome in outcomes {
        match outcome {
            Outcome::Rejected { .. } => *set_aside += 1,
            _ => *kept += 1,
        }
    }
}

fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Database(format!("{}: {error}", path.display()))
}
