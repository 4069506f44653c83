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

mod model {
    //! Whole sessions against a simple model: per document, the set of its
    //! change hashes. Two stores hold random histories of the same
    //! documents (shared, only on one side, forked on both); once each has
    //! pulled from the other, both must hold the union of the two sets,
    //! with identical heads, for bytes bounded by a multiple of what each
    //! lacked.

    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    /// One document's history: edits both sides share, then edits only
    /// side A has and edits only side B has; which sides hold it at all.
    #[derive(Debug, Clone)]
    struct History {
        shared: usize,
        on_a: usize,
        on_b: usize,
        held: Held,
    }

    #[derive(Debug, Clone, Copy)]
    enum Held {
        Both,
        OnlyA,
        OnlyB,
    }

    fn history() -> impl Strategy<Value = History> {
        let held = prop_oneof![Just(Held::Both), Just(Held::OnlyA), Just(Held::OnlyB)];
        (0..4usize, 0..3usize, 0..3usize, held).prop_map(|(shared, on_a, on_b, held)| History {
            shared,
            on_a,
            on_b,
            held,
        })
    }

    /// The change hashes of every document a store holds.
    fn holdings(store: &Store, ids: &[EntityId]) -> BTreeMap<EntityId, BTreeSet<[u8; 32]>> {
        ids.iter()
            .map(|id| {
                let hashes = store.change_hashes(id).unwrap();
                (*id, hashes.into_iter().map(|hash| hash.0).collect())
            })
            .filter(|(_, hashes): &(_, BTreeSet<_>)| !hashes.is_empty())
            .collect()
    }

    /// Bytes of the envelopes `from` holds that `to` lacks.
    fn lacking_bytes(from: &Store, to: &Store, ids: &[EntityId]) -> usize {
        ids.iter()
            .flat_map(|id| {
                let held: BTreeSet<_> = to.change_hashes(id).unwrap().into_iter().collect();
                from.envelopes(id)
                    .unwrap()
                    .into_iter()
                    .filter(move |envelope| {
                        let change = SignedChange::decode(envelope).unwrap();
                        let hash = automerge::Change::from_bytes(change.change.clone())
                            .unwrap()
                            .hash();
                        !held.contains(&hash)
                    })
            })
            .map(|envelope| envelope.len())
            .sum()
    }

    fn run(histories: Vec<History>) -> Result<(), TestCaseError> {
        let temp = tempfile::tempdir().unwrap();
        let (a, b) = (open(&temp, "a.redb"), open(&temp, "b.redb"));
        let mut ids = Vec::new();
        let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
        for (n, history) in histories.iter().enumerate() {
            let entity = sample::organization(&key(), "97400", n);
            let (id, mut doc) = (entity.id, entity.doc);
            ids.push(id);
            let mut shared = vec![entity.envelope];
            for edit in 0..history.shared {
                shared.push(tag(&mut doc, id, &format!("commun {edit}")));
            }
            let mut doc_b = doc.fork();
            let only_a: Vec<_> = (0..history.on_a)
                .map(|edit| tag_on(&mut doc, id, &format!("A {edit}"), 1))
                .collect();
            let only_b: Vec<_> = (0..history.on_b)
                .map(|edit| tag_on(&mut doc_b, id, &format!("B {edit}"), 2))
                .collect();
            if !matches!(history.held, Held::OnlyB) {
                to_a.extend(shared.iter().cloned().chain(only_a));
            }
            if !matches!(history.held, Held::OnlyA) {
                to_b.extend(shared.into_iter().chain(only_b));
            }
        }
        ingest_all(&a, &to_a);
        ingest_all(&b, &to_b);
        // The model: the union of both sides' change hashes.
        let mut union = holdings(&a, &ids);
        for (id, hashes) in holdings(&b, &ids) {
            union.entry(id).or_default().extend(hashes);
        }
        let (a_lacks, b_lacks) = (lacking_bytes(&b, &a, &ids), lacking_bytes(&a, &b, &ids));
        // Documents held differently by the two sides (or by one only):
        // reconciliation names each of them, whichever side lacks it.
        let items = |store: &Store| -> BTreeSet<([u8; 16], [u8; 32])> {
            store.sync_items("97400").unwrap().into_iter().collect()
        };
        let differing: BTreeSet<[u8; 16]> = items(&a)
            .symmetric_difference(&items(&b))
            .map(|(id, _)| *id)
            .collect();

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (first, second) = runtime.block_on(async {
            let first = pull_from(&a, &b).await;
            let second = pull_from(&b, &a).await;
            (first, second)
        });

        prop_assert_eq!(&holdings(&a, &ids), &union);
        prop_assert_eq!(&holdings(&b, &ids), &union);
        for id in &ids {
            prop_assert_eq!(a.heads(id).unwrap(), b.heads(id).unwrap());
        }
        prop_assert_eq!(
            a.sync_items("97400").unwrap(),
            b.sync_items("97400").unwrap()
        );
        // Each session costs a few times what its puller lacked, plus a
        // small share per document held differently (its item in
        // reconciliation, its heads, its change hashes when both sides
        // changed it).
        for (report, lacked) in [(&first, a_lacks), (&second, b_lacks)] {
            let bound = 3 * lacked + 600 * differing.len() + 100;
            prop_assert!(
                report.bytes <= bound,
                "{} bytes for {} bytes lacked, {} documents held differently",
                report.bytes,
                lacked,
                differing.len()
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Property test: after pulling from each other, two stores hold
        /// the union of their histories.
        #[test]
        fn two_sessions_leave_both_stores_with_the_union(
            histories in prop::collection::vec(history(), 1..12)
        ) {
            run(histories)?;
        }
    }
}
