//! The signed envelope: round trips, tampering, and arbitrary input.

mod common;

use common::*;
use crdt_model::document::{self, Edit};
use crdt_model::ids::EntityId;
use crdt_model::schema::{Field, Kind, Value};
use crdt_model::signed::{
    EnvelopeError, MAX_CHANGE_BYTES, MAX_ENVELOPE_BYTES, SignedChange, VerifiedChange,
};
use proptest::prelude::*;

fn sample() -> SignedChange {
    let created = document::create(
        &genesis(Kind::Organization),
        &actor(1),
        NOW,
        [5; 16],
        &[Edit::Set(
            Field::Description,
            Value::Text("Atelier de réparation de vélos".into()),
        )],
    )
    .unwrap();
    SignedChange::sign(
        &signing_key(1),
        created.id,
        "97400",
        created.change.raw_bytes(),
    )
    .unwrap()
}

fn open(bytes: &[u8]) -> Result<VerifiedChange, EnvelopeError> {
    SignedChange::decode(bytes)?.verify()
}

#[test]
fn an_envelope_round_trips_and_verifies() {
    let envelope = sample();
    let bytes = envelope.encode();
    assert_eq!(bytes.len(), envelope.encoded_len());
    assert_eq!(&bytes[..5], b"CMSC\x01");
    let decoded = SignedChange::decode(&bytes).unwrap();
    assert_eq!(decoded, envelope);
    let verified = decoded.verify().unwrap();
    assert_eq!(verified.change.raw_bytes(), &envelope.change[..]);
    assert_eq!(verified.envelope.author, author(1));
}

#[test]
fn flipping_any_bit_of_an_envelope_is_detected() {
    let bytes = sample().encode();
    for position in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut tampered = bytes.clone();
            tampered[position] ^= bit;
            assert!(
                open(&tampered).is_err(),
                "byte {position} bit {bit:#x} went unnoticed"
            );
        }
    }
}

#[test]
fn re_signing_fields_needs_the_key() {
    let envelope = sample();
    let mut other_doc = envelope.clone();
    other_doc.doc_id = EntityId::from_bytes([1; 16]);
    assert_eq!(
        open(&other_doc.encode()).err(),
        Some(EnvelopeError::BadSignature)
    );
    let mut other_topic = envelope.clone();
    other_topic.postal_key = "75001".into();
    assert_eq!(
        open(&other_topic.encode()).err(),
        Some(EnvelopeError::BadSignature)
    );
    let mut other_author = envelope;
    other_author.author = author(2);
    assert_eq!(
        open(&other_author.encode()).err(),
        Some(EnvelopeError::BadSignature)
    );
}

#[test]
fn decoding_is_strict() {
    let bytes = sample().encode();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        SignedChange::decode(&trailing),
        Err(EnvelopeError::TrailingBytes(1))
    );
    assert_eq!(
        SignedChange::decode(&bytes[..bytes.len() - 1]),
        Err(EnvelopeError::Truncated)
    );
    let mut version = bytes.clone();
    version[4] = 2;
    assert_eq!(
        SignedChange::decode(&version),
        Err(EnvelopeError::UnsupportedVersion(2))
    );
    let mut lowercase = bytes.clone();
    lowercase[22] = b'a';
    assert_eq!(
        SignedChange::decode(&lowercase),
        Err(EnvelopeError::BadPostalKey)
    );
    let huge = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(
        SignedChange::decode(&huge),
        Err(EnvelopeError::TooLarge(_))
    ));
    // A change length beyond the limit is refused before reading it.
    let mut long = bytes[..27].to_vec();
    long.extend_from_slice(&((MAX_CHANGE_BYTES + 1) as u32).to_le_bytes());
    assert!(matches!(
        SignedChange::decode(&long),
        Err(EnvelopeError::BadChangeLength(_))
    ));
}

#[test]
fn a_valid_signature_over_garbage_is_still_refused() {
    let garbage = SignedChange::sign(
        &signing_key(1),
        EntityId::from_bytes([1; 16]),
        "97400",
        b"not an automerge change",
    )
    .unwrap();
    let decoded = SignedChange::decode(&garbage.encode()).unwrap();
    assert!(matches!(decoded.verify(), Err(EnvelopeError::BadChange(_))));
}

/// `change` signed by a valid key, as a peer would send it, then verified.
fn signed(change: &[u8]) -> Result<VerifiedChange, EnvelopeError> {
    let envelope = SignedChange::sign(
        &signing_key(1),
        EntityId::from_bytes([1; 16]),
        "97400",
        change,
    )
    .unwrap();
    SignedChange::decode(&envelope.encode()).unwrap().verify()
}

/// Found by the ingest fuzz target: a change whose columns hold an actor
/// index wider than 32 bits. Automerge 0.12 panics while parsing it (in
/// `Change::from_bytes`, before any authorization), and a peer can sign
/// one with its own key: it must be refused, never crash the node. (The
/// bounds checked before Automerge reads a change now refuse this one
/// first; the panic stays contained behind them.)
#[test]
fn a_signed_change_that_makes_automerge_panic_is_refused() {
    let bytes = include_bytes!("data/change-actor-index-overflow.bin");
    assert!(
        matches!(signed(bytes), Err(EnvelopeError::BadChange(_))),
        "refused"
    );
}

fn uleb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, mut value: i64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0) {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A change chunk of `ops` operations, each setting the root's `name` to
/// null, every column one run: a few dozen bytes whatever `ops` is.
fn change_of_runs(ops: i64) -> Vec<u8> {
    let mut data = Vec::new();
    uleb(&mut data, 0); // dependencies
    uleb(&mut data, 16);
    data.extend([7; 16]); // actor
    uleb(&mut data, 1); // sequence number
    uleb(&mut data, 1); // first operation
    sleb(&mut data, 0); // time
    uleb(&mut data, 0); // message
    uleb(&mut data, 0); // other actors
    let run = |value: &dyn Fn(&mut Vec<u8>)| {
        let mut column = Vec::new();
        sleb(&mut column, ops);
        value(&mut column);
        column
    };
    let columns: [(u64, Vec<u8>); 5] = [
        // key string: "name" every time
        (
            0x15,
            run(&|out| {
                uleb(out, 4);
                out.extend(b"name");
            }),
        ),
        // insert: `ops` times false
        (0x34, {
            let mut column = Vec::new();
            uleb(&mut column, ops as u64);
            column
        }),
        // action: set
        (0x42, run(&|out| uleb(out, 1))),
        // value metadata: null
        (0x56, run(&|out| uleb(out, 0))),
        // predecessors: none
        (0x70, run(&|out| uleb(out, 0))),
    ];
    uleb(&mut data, columns.len() as u64);
    for (spec, column) in &columns {
        uleb(&mut data, *spec);
        uleb(&mut data, column.len() as u64);
    }
    for (_, column) in &columns {
        data.extend(column);
    }
    let mut hashed = vec![1];
    uleb(&mut hashed, data.len() as u64);
    hashed.extend(&data);
    let checksum = <sha2::Sha256 as sha2::Digest>::digest(&hashed);
    [&[0x85, 0x6f, 0x4a, 0x83][..], &checksum[..4], &hashed].concat()
}

/// Automerge's runs let a few bytes stand for billions of operations, which
/// it would then read one by one (a change of 2⁴⁰ operations: hours of a
/// node's time): a change is refused when a column holds more values than
/// any change needs, before Automerge reads it.
#[test]
fn a_change_of_a_few_bytes_and_a_million_operations_is_refused() {
    // The same bytes with three operations are a change Automerge reads.
    let three = signed(&change_of_runs(3)).expect("three operations are read");
    assert_eq!(three.change.len(), 3);
    let million = change_of_runs(1 << 20);
    assert!(million.len() < 100, "{} bytes", million.len());
    match signed(&million) {
        Err(EnvelopeError::BadChange(reason)) => {
            assert!(reason.contains("more than 10000 values"), "{reason}")
        }
        other => panic!(
            "a million operations read: {:?}",
            other.map(|v| v.change.len())
        ),
    }
}

/// Found by the ingest fuzz target: 263 bytes of an Automerge "bundle"
/// chunk whose delta column expands into more than 2 GB when Automerge
/// reads it. Only plain change chunks are read at all.
#[test]
fn a_bundle_chunk_that_expands_into_gigabytes_is_refused_unread() {
    let bomb = include_bytes!("data/bundle-delta-bomb.bin");
    match signed(bomb) {
        Err(EnvelopeError::BadChange(reason)) => {
            assert!(reason.contains("type 3"), "{reason}")
        }
        other => panic!("read: {:?}", other.map(|v| v.change.len())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = open(&bytes);
    }

    #[test]
    fn decoding_mutated_envelopes_never_panics(
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = sample().encode();
        for (index, value) in mutations {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = open(&bytes);
    }

    #[test]
    fn mutated_changes_with_a_valid_signature_never_panic(
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        // The attacker signs whatever bytes they like: parsing and
        // authorizing them must fail cleanly, never panic.
        let created = document::create(&genesis(Kind::Place), &actor(1), NOW, [1; 16], &[]).unwrap();
        let mut change = created.change.raw_bytes().to_vec();
        for (index, value) in mutations {
            let at = index.index(change.len());
            change[at] = value;
        }
        if let Ok(change) = automerge::Change::from_bytes(change) {
            for doc in [created.doc.fork(), automerge::Automerge::new()] {
                if crdt_model::authz::authorize(&doc, &created.id, &author(1), &change).is_ok() {
                    // What authorization lets through applies, or is refused
                    // by `authz::apply`, which contains Automerge's panics;
                    // once applied, the document reads without panicking.
                    let mut doc = doc;
                    if crdt_model::authz::apply(&mut doc, change.clone()).is_ok() {
                        let _ = document::read(&doc);
                    }
                }
            }
        }
    }

    #[test]
    fn envelopes_of_any_fields_round_trip(
        doc in any::<[u8; 16]>(),
        key in "[0-9A-Z -]{1,16}",
        change in proptest::collection::vec(any::<u8>(), 1..2048),
        seed in any::<u8>(),
    ) {
        let envelope = SignedChange {
            doc_id: EntityId::from_bytes(doc),
            postal_key: key,
            change,
            author: author(seed),
            signature: [seed; 64],
        };
        prop_assert_eq!(SignedChange::decode(&envelope.encode()), Ok(envelope));
    }
}
