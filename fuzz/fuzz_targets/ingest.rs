//! The ingest pipeline fed what a hostile peer can make: Automerge change
//! bytes of its own making, properly signed by a key of its own, for one
//! of a few documents, in any order. Ingest never panics, refuses what it
//! cannot apply, and what it stores reads back as an entity. The input is
//! chunks of a key (one of three), a document (one of four per key), a
//! 2-byte length and that many bytes of an Automerge change.
#![no_main]

use std::sync::LazyLock;

use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::signed::SignedChange;
use libfuzzer_sys::fuzz_target;
use node::ingest;
use node::store::{Origin, Store};

/// One store for the whole run (opening one per input would dominate).
static STORE: LazyLock<(tempfile::TempDir, Store)> = LazyLock::new(|| {
    // In memory where the system offers it: a commit's sync is then cheap.
    let shm = std::path::Path::new("/dev/shm");
    let temp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let store = ingest::open(&temp.path().join("fuzz.redb")).expect("a store");
    (temp, store)
});

/// The hostile peer's keys.
static KEYS: LazyLock<Vec<SigningKey>> = LazyLock::new(|| {
    (1..=3u8)
        .map(|n| SigningKey::from_bytes(&[n; 32]))
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let store = &STORE.1;
    // Chunks of: a key, a document, a 2-byte length, that many change bytes.
    let mut envelopes = Vec::new();
    let mut rest = data;
    while let [key, doc, high, low, tail @ ..] = rest {
        let length = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let (change, next) = tail.split_at(length);
        rest = next;
        if envelopes.len() == 16 {
            break;
        }
        let key = &KEYS[usize::from(*key) % KEYS.len()];
        let nonce = [*doc % 4; 16];
        let id = EntityId::derive(&AuthorKey::of(key), &nonce);
        if let Ok(envelope) = SignedChange::sign(key, id, "97400", change) {
            envelopes.push(envelope.encode());
        }
    }
    let Ok(outcomes) = ingest::ingest(store, Origin::Network, &envelopes) else {
        return;
    };
    assert_eq!(outcomes.len(), envelopes.len());
    for outcome in outcomes {
        if let ingest::Outcome::Applied { doc, .. } = outcome {
            store
                .entity(&doc)
                .expect("the store reads")
                .expect("an applied change's document reads as an entity");
        }
    }
});
