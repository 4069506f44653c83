//! The pulling side of a session: reconciliation, then the pulls of the
//! differing documents, each answer checked and ingested.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;

use super::reconcile::Reconciliation;
use super::wire::{Have, Request, Response, encode, pack, unpack};
use super::{MAX_PULL_DOCS, PASS_ON_MAX, SyncError, SyncReport};
use crate::ingest::{self, Outcome};
use crate::store::{Origin, Store, StoreError};

/// Runs `work` on the store on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|error| SyncError::Transport(format!("a store task failed: {error}")))?
        .map_err(SyncError::from)
}

/// Runs a pulling session for `postal_key` against a peer reached through
/// `send`, and ingests what it brings; `progress` hears, after each pull,
/// how many of the differing documents are done, and how many differ.
pub async fn pull<S, F>(
    store: Arc<Store>,
    postal_key: String,
    mut send: S,
    progress: impl Fn(usize, usize),
) -> Result<SyncReport, SyncError>
where
    S: FnMut(Request) -> F,
    F: Future<Output = Result<Response, SyncError>>,
{
    let mut report = SyncReport {
        postal_key: postal_key.clone(),
        ..SyncReport::default()
    };
    let key = postal_key.clone();
    let items = blocking(&store, move |store| store.sync_items(&key)).await?;
    let (mut reconciliation, mut ranges) = Reconciliation::start(items);
    loop {
        let request = Request::Reconcile {
            postal_key: postal_key.clone(),
            ranges: pack(&ranges),
        };
        report.bytes += encode(&request).len();
        let response = send(request).await?;
        let answer = encode(&response).len();
        report.bytes += answer;
        report.reconcile_received += answer;
        report.rounds += 1;
        let Response::Reconcile { ranges: answer } = response else {
            return Err(refusal_or_mismatch(response));
        };
        match reconciliation.step(&unpack(answer)?)? {
            Some(next) => ranges = next,
            None => break,
        }
    }
    let wanted: Vec<EntityId> = reconciliation.need().collect();
    pull_documents(store, Origin::Sync, wanted, send, &mut report, progress).await?;
    Ok(report)
}

/// Pulls from a peer reached through `send` the changes this node lacks
/// of the documents `wanted`, ingests them as coming from `origin`, and
/// counts them in `report`; `progress` hears, after each pull, how many of
/// the documents are done, and how many there are.
///
/// Each document is asked for by its heads; if the peer does not know them
/// all, it answers with its own heads, and the document is asked for again
/// by the hashes of all its changes unless this node has those heads.
pub async fn pull_documents<S, F>(
    store: Arc<Store>,
    origin: Origin,
    mut wanted: Vec<EntityId>,
    mut send: S,
    report: &mut SyncReport,
    progress: impl Fn(usize, usize),
) -> Result<(), SyncError>
where
    S: FnMut(Request) -> F,
    F: Future<Output = Result<Response, SyncError>>,
{
    report.differing = wanted.len();
    progress(0, report.differing);
    // Documents to ask for by change hashes: their heads were not enough.
    let mut by_changes: HashSet<EntityId> = HashSet::new();
    while !wanted.is_empty() {
        let batch: Vec<EntityId> = wanted.iter().take(MAX_PULL_DOCS).copied().collect();
        let asked = batch.clone();
        let fallback = by_changes.clone();
        let docs = blocking(&store, move |store| {
            let mut docs = Vec::with_capacity(asked.len());
            for id in asked {
                let have = if fallback.contains(&id) {
                    Have::Changes(store.change_hashes(&id)?.into_iter().map(|h| h.0).collect())
                } else {
                    Have::Heads(store.heads(&id)?.into_iter().map(|h| h.0).collect())
                };
                docs.push((*id.as_bytes(), have));
            }
            Ok(docs)
        })
        .await?;
        let request = Request::Pull { docs };
        report.bytes += encode(&request).len();
        let response = send(request).await?;
        let answer = encode(&response).len();
        report.bytes += answer;
        report.pull_received += answer;
        let Response::Changes {
            envelopes,
            served,
            unresolved,
        } = response
        else {
            return Err(refusal_or_mismatch(response));
        };
        if served.is_empty() && unresolved.is_empty() {
            return Err(SyncError::Protocol(
                "a pull answered with no document".into(),
            ));
        }
        let asked = |id: &[u8; 16]| batch.iter().any(|asked| asked.as_bytes() == id);
        if !served.iter().all(asked) {
            return Err(SyncError::Protocol(
                "a document that was not asked for".into(),
            ));
        }
        let by_heads =
            |id: &[u8; 16]| asked(id) && !by_changes.contains(&EntityId::from_bytes(*id));
        if !unresolved.iter().all(|(id, _)| by_heads(id)) {
            return Err(SyncError::Protocol(
                "heads for a document not asked for by its heads".into(),
            ));
        }
        report.received += envelopes.len();
        let (outcomes, envelopes, ahead) = blocking(&store, move |store| {
            let outcomes = ingest::ingest(store, origin, &envelopes)?;
            // The documents the peer could not place whose every head this
            // node has: it is ahead of the peer, and needs nothing.
            let mut ahead = Vec::new();
            for (id, heads) in unresolved {
                let id = EntityId::from_bytes(id);
                let heads: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
                ahead.push((id, store.has_changes(&id, &heads)?));
            }
            Ok((outcomes, envelopes, ahead))
        })
        .await?;
        for (envelope, outcome) in envelopes.into_iter().zip(&outcomes) {
            if let Outcome::Applied { doc, hash } = outcome {
                report.applied += 1;
                if report.applied <= PASS_ON_MAX {
                    report.fresh.push((*doc, *hash, envelope));
                }
            }
        }
        report.refused += outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Rejected { .. }))
            .count();
        let mut done: HashSet<EntityId> = served.into_iter().map(EntityId::from_bytes).collect();
        for (id, ahead) in ahead {
            report.unresolved += 1;
            if ahead {
                done.insert(id);
            } else {
                by_changes.insert(id);
            }
        }
        wanted.retain(|id| !done.contains(id));
        progress(report.differing - wanted.len(), report.differing);
    }
    Ok(())
}

fn refusal_or_mismatch(response: Response) -> SyncError {
    match response {
        Response::Refused { reason } => SyncError::Protocol(format!("the peer refused: {reason}")),
        _ => SyncError::Protocol("an answer of the wrong kind".into()),
    }
}
