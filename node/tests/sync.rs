//! Catch-up sync between two real stores: what it exchanges grows with the
//! difference, not with the directory.

use std::sync::Arc;

use crdt_model::automerge;
use crdt_model::document::{self, Edit};
use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{Actor, EntityId};
use crdt_model::sample::{self, SAMPLE_TIME};
use crdt_model::signed::SignedChange;
use node::ingest;
use node::ingest::Outcome;
use node::store::Origin;
use node::store::Store;
use node::sync::{self, SyncError};

const DOCUMENTS: usize = 10_000;

fn key() -> SigningKey {
    sample::author(7).0
}

fn ingest_all(store: &Store, envelopes: &[Vec<u8>]) {
    for batch in envelopes.chunks(500) {
        let outcomes = ingest::ingest(store, Origin::Local, batch).unwrap();
        assert!(outcomes.iter().all(Outcome::is_stored));
    }
}

fn open(dir: &tempfile::TempDir, name: &str) -> Arc<Store> {
    Arc::new(Store::open(&dir.path().join(name)).unwrap())
}

/// Runs a pulling session of `puller` against `answerer`, every message
/// encoded and decoded as over the network.
async fn pull_from(puller: &Arc<Store>, answerer: &Arc<Store>) -> sync::SyncReport {
    pull_with_progress(puller, answerer, |_, _| {}).await
}

/// [`pull_from`], telling `progress` how many differing documents are done.
async fn pull_with_progress(
    puller: &Arc<Store>,
    answerer: &Arc<Store>,
    progress: impl Fn(usize, usize),
) -> sync::SyncReport {
    let answerer = answerer.clone();
    sync::pull(
        puller.clone(),
        "97400".into(),
        move |request| {
            let answerer = answerer.clone();
            async move {
                let request: sync::Request = sync::decode(&sync::encode(&request))?;
                let response = sync::serve(&answerer, &request).map_err(SyncError::from)?;
                sync::decode(&sync::encode(&response))
            }
        },
        progress,
    )
    .await
    .unwrap()
}

/// A signed change adding `tag` to a document, made on the author's first
/// device.
fn tag(doc: &mut automerge::Automerge, id: EntityId, tag: &str) -> Vec<u8> {
    tag_on(doc, id, tag, 1)
}

/// A signed change adding `tag` to a document, made on one of the author's
/// devices.
fn tag_on(doc: &mut automerge::Automerge, id: EntityId, tag: &str, device: u32) -> Vec<u8> {
    let actor = Actor {
        device,
        ..sample::author(7).1
    };
    let change = document::edit(doc, &actor, SAMPLE_TIME, &[Edit::AddTag(tag.into())]).unwrap();
    doc.apply_changes([change.clone()]).unwrap();
    SignedChange::sign(&key(), id, "97400", change.raw_bytes())
        .unwrap()
        .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_differences_among_ten_thousand_documents_cost_a_few_times_their_changes() {
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (open(&temp, "a.redb"), open(&temp, "b.redb"));
    let mut docs = Vec::new();
    let mut shared = Vec::new();
    for n in 0..DOCUMENTS {
        let entity = sample::organization(&key(), "97400", n);
        docs.push((entity.id, entity.doc));
        shared.push(entity.envelope);
    }
    ingest_all(&a, &shared);
    ingest_all(&b, &shared);
    let directory_bytes: usize = shared.iter().map(Vec::len).sum();

    // Ten differences on A: five documents edited, five new ones.
    let mut only_on_a = Vec::new();
    for n in [5, 1_234, 5_000, 7_777, 9_998] {
        let (id, doc) = &mut docs[n];
        only_on_a.push(tag(doc, *id, "modifié"));
    }
    for n in DOCUMENTS..DOCUMENTS + 5 {
        only_on_a.push(sample::organization(&key(), "97400", n).envelope);
    }
    ingest_all(&a, &only_on_a);
    let difference_bytes: usize = only_on_a.iter().map(Vec::len).sum();
    assert_ne!(
        a.sync_items("97400").unwrap(),
        b.sync_items("97400").unwrap()
    );

    // B pulls from A through encoded messages, as over the network.
    let progress = std::sync::Mutex::new(Vec::new());
    let report = pull_with_progress(&b, &a, |done, total| {
        progress.lock().unwrap().push((done, total))
    })
    .await;

    assert_eq!(report.differing, 10);
    assert_eq!(progress.lock().unwrap().last(), Some(&(10, 10)));
    assert_eq!(report.applied, 10);
    assert_eq!(report.refused, 0);
    assert_eq!(
        a.sync_items("97400").unwrap(),
        b.sync_items("97400").unwrap()
    );
    assert_eq!(b.counts().unwrap().documents as usize, DOCUMENTS + 5);
    println!(
        "sync: {} bytes in {} rounds for a difference of {difference_bytes} bytes of changes; the directory holds {directory_bytes}",
        report.bytes, report.rounds
    );
    assert!(
        report.bytes <= 4 * difference_bytes,
        "{} bytes exchanged for {difference_bytes} bytes of differing changes",
        report.bytes
    );

    // The answers carry the changes themselves, and the requests are the
    // rest.
    assert!(
        report.pull_received >= difference_bytes,
        "{} bytes of pull answers for {difference_bytes} bytes of changes",
        report.pull_received
    );
    assert!(report.reconcile_received > 0);
    assert!(report.reconcile_received + report.pull_received < report.bytes);

    // Now equal: one round, a few bytes, nothing pulled.
    let again = pull_from(&b, &a).await;
    assert_eq!((again.rounds, again.differing), (1, 0));
    assert!(again.bytes < 100, "{} bytes", again.bytes);
    assert_eq!(again.pull_received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_ahead_asks_by_heads_and_concurrent_edits_fall_back_to_change_hashes() {
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (open(&temp, "a.redb"), open(&temp, "b.redb"));
    let mut docs = Vec::new();
    let mut shared = Vec::new();
    for n in 0..100 {
        let entity = sample::organization(&key(), "97400", n);
        docs.push((entity.id, entity.doc));
        shared.push(entity.envelope);
    }
    // Every document edited a few times, so that its change hashes are
    // many and its heads one.
    for round in 0..10 {
        for (id, doc) in &mut docs {
            shared.push(tag(doc, *id, &format!("étape {round}")));
        }
    }
    ingest_all(&a, &shared);
    ingest_all(&b, &shared);

    // A is ahead of B: twenty documents edited, five new ones.
    let mut only_on_a = Vec::new();
    for (id, doc) in docs.iter_mut().take(20) {
        only_on_a.push(tag(doc, *id, "modifié"));
    }
    for n in 100..105 {
        only_on_a.push(sample::organization(&key(), "97400", n).envelope);
    }
    ingest_all(&a, &only_on_a);

    // A pulling from B gets nothing: of the edited documents, B does not
    // know A's heads, answers with its own, and A has them (reconciliation
    // does not even name the new ones: B lacks them).
    let ahead = pull_from(&a, &b).await;
    assert_eq!(
        (ahead.differing, ahead.received, ahead.unresolved),
        (20, 0, 20)
    );
    let change_hashes = 12 * 32 * 20;
    assert!(
        ahead.bytes < change_hashes,
        "{} bytes in all; the documents' change hashes alone are {change_hashes}",
        ahead.bytes
    );

    // B pulling from A gets exactly the changes it lacks, by its heads.
    let behind = pull_from(&b, &a).await;
    assert_eq!(
        (behind.differing, behind.received, behind.unresolved),
        (25, 25, 0)
    );
    assert_eq!(
        a.sync_items("97400").unwrap(),
        b.sync_items("97400").unwrap()
    );

    // Concurrent edits of one document on both sides: neither side knows
    // the other's heads, so each asks again by change hashes.
    let (id, doc) = &mut docs[50];
    let mut doc_b = doc.fork();
    ingest_all(&a, &[tag(doc, *id, "côté A")]);
    ingest_all(&b, &[tag_on(&mut doc_b, *id, "côté B", 2)]);
    let first = pull_from(&a, &b).await;
    assert_eq!(
        (first.differing, first.unresolved, first.applied),
        (1, 1, 1)
    );
    let second = pull_from(&b, &a).await;
    assert_eq!(
        (second.differing, second.unresolved, second.applied),
        (1, 0, 1)
    );
    assert_eq!(a.heads(id).unwrap(), b.heads(id).unwrap());
    assert_eq!(a.heads(id).unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_for_a_document_not_asked_by_heads_are_a_protocol_error() {
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (open(&temp, "a.redb"), open(&temp, "b.redb"));
    ingest_all(&a, &[sample::organization(&key(), "97400", 1).envelope]);
    // A peer that answers reconciliation truly, then a pull with heads
    // for a document nobody asked about.
    let result = sync::pull(
        b.clone(),
        "97400".into(),
        move |request| {
            let a = a.clone();
            async move {
                match request {
                    sync::Request::Pull { .. } => Ok(sync::Response::Changes {
                        envelopes: Vec::new(),
                        served: Vec::new(),
                        unresolved: vec![([9; 16], vec![[1; 32]])],
                    }),
                    request => sync::serve(&a, &request).map_err(SyncError::from),
                }
            }
        },
        |_, _| {},
    )
    .await;
    assert!(
        matches!(&result, Err(SyncError::Protocol(reason)) if reason.contains("not asked for by its heads")),
        "{result:?}"
    );
}
