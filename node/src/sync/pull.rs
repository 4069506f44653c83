//! The pulling side of a session: reconciliation, then the pulls of the
//! differing documents, each answer checked and ingested.

use std::future::Future;
use std::sync::Arc;

use crdt_model::ids::EntityId;

use super::reconcile::Reconciliation;
use super::session::{Pulls, refusal_or_mismatch};
use super::wire::{Request, Response, encode, pack, unpack};
use super::{PASS_ON_MAX, SyncError, SyncReport};
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
    wanted: Vec<EntityId>,
    mut send: S,
    report: &mut SyncReport,
    progress: impl Fn(usize, usize),
) -> Result<(), SyncError>
where
    S: FnMut(Request) -> F,
    F: Future<Output = Result<Response, SyncError>>,
{
    let mut pulls = Pulls::new(wanted);
    report.differing = pulls.differing();
    progress(0, report.differing);
    loop {
        let (asking, request) = blocking(&store, move |store| {
            let request = pulls.request(store)?;
            Ok((pulls, request))
        })
        .await?;
        pulls = asking;
        let Some(request) = request else {
            return Ok(());
        };
        report.bytes += encode(&request).len();
        let response = send(request).await?;
        let answer = encode(&response).len();
        report.bytes += answer;
        report.pull_received += answer;
        let envelopes = pulls.answer(response)?;
        report.received += envelopes.len();
        let (settled, outcomes, envelopes, unresolved) = blocking(&store, move |store| {
            let outcomes = ingest::ingest(store, origin, &envelopes)?;
            let unresolved = pulls.settle(store)?;
            Ok((pulls, outcomes, envelopes, unresolved))
        })
        .await?;
        pulls = settled;
        report.unresolved += unresolved;
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
        progress(pulls.done(), pulls.differing());
    }
}
