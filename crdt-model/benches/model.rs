//! Throughput of the pieces every change goes through: envelope decoding and
//! signature verification, then authorization and application on a document
//! that already holds 1,000 links.
//!
//! Run with `cargo bench -p crdt-model --bench model`. It prints one line per
//! figure; docs/BENCHMARKS.md records them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use automerge::Automerge;
use crdt_model::authz::authorize;
use crdt_model::document::{self, Edit, Genesis, Relation};
use crdt_model::ids::{Actor, AuthorKey, EntityId};
use crdt_model::schema::{Field, Kind, Value};
use crdt_model::signed::SignedChange;
use ed25519_dalek::SigningKey;

const NOW: i64 = 1_764_000_000_000;
const LINKS: usize = 1_000;
const MEASURED_CHANGES: usize = 2_000;

fn signing_key(n: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(n as u64 + 1).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

fn actor(key: &SigningKey) -> Actor {
    Actor {
        author: AuthorKey::of(key),
        device: 1,
    }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Builds a chain of `count` link changes, each by a new author, on top of
/// `doc`; returns the changes with their signing keys, and `doc` advanced.
fn link_chain(
    doc: &mut Automerge,
    first_author: usize,
    count: usize,
) -> Vec<(SigningKey, automerge::Change)> {
    let mut chain = Vec::with_capacity(count);
    for n in first_author..first_author + count {
        let key = signing_key(n);
        let change = document::edit(
            doc,
            &actor(&key),
            NOW,
            &[Edit::Link {
                relation: Relation::Recommends,
                comment: Some(format!("Recommandé par le voisin {n}")),
            }],
        )
        .expect("a recommendation is allowed");
        doc.apply_changes([change.clone()])
            .expect("the change applies");
        chain.push((key, change));
    }
    chain
}

fn main() {
    let creator = signing_key(0);
    let genesis = Genesis {
        kind: Kind::Organization,
        name: "Boulangerie du Barachois".into(),
        postal_code: "97400".into(),
        country: "FR".into(),
        open_edition: None,
    };
    let created = document::create(
        &genesis,
        &actor(&creator),
        NOW,
        [1; 16],
        &[Edit::Set(
            Field::Category,
            Value::Text("boulangerie".into()),
        )],
    )
    .expect("genesis");
    let id: EntityId = created.id;
    let mut doc = created.doc;

    let started = Instant::now();
    link_chain(&mut doc, 1, LINKS);
    println!(
        "setup: document with {LINKS} links built in {:.2} s ({} bytes saved)",
        started.elapsed().as_secs_f64(),
        doc.save().len()
    );
    let base = doc.fork();

    let measured = link_chain(&mut doc, LINKS + 1, MEASURED_CHANGES);
    let envelopes: Vec<Vec<u8>> = measured
        .iter()
        .map(|(key, change)| {
            SignedChange::sign(key, id, "97400", change.raw_bytes())
                .expect("sign")
                .encode()
        })
        .collect();
    let average = envelopes.iter().map(Vec::len).sum::<usize>() / envelopes.len();

    // 1. Decode + verify signatures, one core.
    let started = Instant::now();
    for bytes in &envelopes {
        black_box(
            SignedChange::decode(bytes)
                .and_then(SignedChange::verify)
                .expect("valid envelope"),
        );
    }
    let elapsed = started.elapsed();
    println!(
        "envelope: decode + verify {:.0} envelopes/s on one core ({} envelopes of {average} bytes)",
        per_second(envelopes.len(), elapsed),
        envelopes.len()
    );

    // 1b. The signature check alone (strict ed25519), one core.
    let decoded: Vec<SignedChange> = envelopes
        .iter()
        .map(|bytes| SignedChange::decode(bytes).expect("valid envelope"))
        .collect();
    let keys: Vec<_> = decoded
        .iter()
        .map(|envelope| envelope.author.verifying_key().expect("valid key"))
        .collect();
    let message = b"communecter/signed-change/v1\0 bench message of typical envelope size";
    let signatures: Vec<_> = measured
        .iter()
        .map(|(key, _)| ed25519_dalek::Signer::sign(key, message))
        .collect();
    let started = Instant::now();
    for (key, signature) in keys.iter().zip(&signatures) {
        key.verify_strict(message, signature)
            .expect("valid signature");
    }
    println!(
        "envelope: ed25519 verify_strict alone {:.0} signatures/s on one core",
        per_second(signatures.len(), started.elapsed())
    );

    // 2. Authorize + apply on the 1,000-link document.
    let mut replica = base.fork();
    let started = Instant::now();
    for (key, change) in &measured {
        authorize(&replica, &id, &AuthorKey::of(key), change).expect("authorized");
        replica.apply_changes([change.clone()]).expect("applied");
    }
    let elapsed = started.elapsed();
    println!(
        "authz: authorize + apply {:.0} changes/s on a document with {LINKS}..{} links",
        per_second(measured.len(), elapsed),
        LINKS + MEASURED_CHANGES
    );

    // 2b. Where the time goes: authorization alone, application alone, and
    //     application in one batch (Automerge's columnar op set pays a
    //     per-call cost that batching amortizes).
    let mut replica = base.fork();
    let (mut in_authz, mut in_apply) = (Duration::ZERO, Duration::ZERO);
    for (key, change) in &measured {
        let started = Instant::now();
        authorize(&replica, &id, &AuthorKey::of(key), change).expect("authorized");
        in_authz += started.elapsed();
        let started = Instant::now();
        replica.apply_changes([change.clone()]).expect("applied");
        in_apply += started.elapsed();
    }
    println!(
        "authz: of which authorize {:.0} changes/s ({:.0} µs each), apply {:.0} changes/s ({:.0} µs each)",
        per_second(measured.len(), in_authz),
        in_authz.as_secs_f64() * 1e6 / measured.len() as f64,
        per_second(measured.len(), in_apply),
        in_apply.as_secs_f64() * 1e6 / measured.len() as f64
    );
    let mut replica = base.fork();
    let started = Instant::now();
    replica
        .apply_changes(measured.iter().map(|(_, change)| change.clone()))
        .expect("applied");
    println!(
        "apply: {:.0} changes/s when the {} changes are applied in one call",
        per_second(measured.len(), started.elapsed()),
        measured.len()
    );

    // 2c. Authors who already wrote into the document edit their link again
    //     (their actor is already known to the document).
    let mut ahead = doc.fork();
    let again: Vec<_> = (1..=LINKS)
        .map(|n| {
            let key = signing_key(n);
            let change = document::edit(
                &ahead,
                &actor(&key),
                NOW,
                &[Edit::Link {
                    relation: Relation::Recommends,
                    comment: Some("Toujours aussi bon".into()),
                }],
            )
            .expect("edit");
            ahead.apply_changes([change.clone()]).expect("applied");
            (AuthorKey::of(&key), change)
        })
        .collect();
    let mut replica = doc.fork();
    let started = Instant::now();
    for (author, change) in &again {
        authorize(&replica, &id, author, change).expect("authorized");
        replica.apply_changes([change.clone()]).expect("applied");
    }
    println!(
        "authz: authorize + apply {:.0} changes/s by authors already in the document",
        per_second(again.len(), started.elapsed())
    );

    // 2d. A small document (a genesis and a few links), the common case.
    let small_genesis =
        document::create(&genesis, &actor(&creator), NOW, [2; 16], &[]).expect("genesis");
    let small_id = small_genesis.id;
    let mut small = small_genesis.doc;
    let small_changes = link_chain(&mut small.fork(), 50_000, 20);
    let rounds = 50;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut replica = small.fork();
        for (key, change) in &small_changes {
            authorize(&replica, &small_id, &AuthorKey::of(key), change).expect("authorized");
            replica.apply_changes([change.clone()]).expect("applied");
        }
    }
    println!(
        "authz: authorize + apply {:.0} changes/s on a document with up to 20 links",
        per_second(rounds * small_changes.len(), started.elapsed())
    );
    small
        .apply_changes(small_changes.into_iter().map(|(_, change)| change))
        .expect("applied");

    // 3. The whole path of a received change: decode, verify, authorize, apply.
    let mut replica = base.fork();
    let started = Instant::now();
    for bytes in &envelopes {
        let verified = SignedChange::decode(bytes)
            .and_then(SignedChange::verify)
            .expect("valid envelope");
        authorize(&replica, &id, &verified.envelope.author, &verified.change).expect("authorized");
        replica.apply_changes([verified.change]).expect("applied");
    }
    let elapsed = started.elapsed();
    println!(
        "pipeline: decode + verify + authorize + apply {:.0} changes/s",
        per_second(envelopes.len(), elapsed)
    );

    // 4. Authorization alone of a change judged at older dependencies (a
    //    fork in history): the slower path that reads state at the deps.
    let stale = document::edit(
        &base,
        &actor(&signing_key(LINKS + MEASURED_CHANGES + 1)),
        NOW,
        &[Edit::AddTag("pain".into())],
    )
    .expect("edit");
    let author = AuthorKey::of(&signing_key(LINKS + MEASURED_CHANGES + 1));
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        authorize(&doc, &id, &author, black_box(&stale)).expect("authorized");
    }
    println!(
        "authz: {:.0} changes/s authorized at dependencies {MEASURED_CHANGES} changes behind the heads",
        per_second(rounds, started.elapsed())
    );

    // 5. Reading the typed entity with all its links.
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(document::read(&doc).expect("entity"));
    }
    println!(
        "read: typed entity with {} links read in {:.0} µs",
        LINKS + MEASURED_CHANGES,
        started.elapsed().as_secs_f64() * 1e6 / rounds as f64
    );
}
