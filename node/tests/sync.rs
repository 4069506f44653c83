//! Catch-up sync between two real stores: what it exchanges grows with the
//! difference, not with the directory.

use std::sync::Arc;

use crdt_model::document::{self, Edit};
use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::sample::{self, SAMPLE_TIME};
use crdt_model::signed::SignedChange;
use node::ingest::Outcome;
use node::store::Store;
use node::sync::{self, SyncError};

const DOCUMENTS: usize = 10_000;

fn key() -> SigningKey {
    sample::author(7).0
}

fn ingest_all(store: &Store, envelopes: &[Vec<u8>]) {
    for batch in envelopes.chunks(500) {
        let outcomes = store.ingest(batch).unwrap();
        assert!(outcomes.iter().all(Outcome::is_stored));
    }
}

fn open(dir: &tempfile::TempDir, name: &str) -> Arc<Store> {
    Arc::new(Store::open(&dir.path().join(name)).unwrap())
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
        let change = document::edit(
            doc,
            &sample::author(7).1,
            SAMPLE_TIME,
            &[Edit::AddTag("modifié".into())],
        )
        .unwrap();
        doc.apply_changes([change.clone()]).unwrap();
        only_on_a.push(
            SignedChange::sign(&key(), *id, "97400", change.raw_bytes())
                .unwrap()
                .encode(),
        );
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
    let answerer = a.clone();
    let report = sync::pull(
        b.clone(),
        "97400".into(),
        move |request| {
            let answerer = answerer.clone();
            async move {
                let request: sync::Request = sync::decode(&sync::encode(&request))?;
                let response = answerer.answer_sync(&request).map_err(SyncError::from)?;
                sync::decode(&sync::encode(&response))
            }
        },
        |done, total| progress.lock().unwrap().push((done, total)),
    )
    .await
    .unwrap();

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
    let answerer = a.clone();
    let again = sync::pull(
        b.clone(),
        "97400".into(),
        move |request| {
            let answerer = answerer.clone();
            async move { answerer.answer_sync(&request).map_err(SyncError::from) }
        },
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!((again.rounds, again.differing), (1, 0));
    assert!(again.bytes < 100, "{} bytes", again.bytes);
    assert_eq!(again.pull_received, 0);
}
