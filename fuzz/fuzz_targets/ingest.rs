//! The ingest pipeline fed what a hostile peer can make: Automerge change
//! bytes of its own making, properly signed by a key of its own, for one
//! of a few documents, in any order. Ingest never panics, refuses what it
//! cannot apply, and what it stores reads back as an entity. The input is
//! chunks of a key (one of three), a document (one of four per key), a
//! 2-byte length and that many bytes of an Automerge change.
#![no_main]

use std::sync::{LazyLock, Mutex, Once};

use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::signed::SignedChange;
use libfuzzer_sys::fuzz_target;
use node::ingest;
use node::store::{Origin, Store};

/// Inputs ingested into one store before it is made anew: opening one per
/// input would dominate, and one store for the whole run grows documents
/// of thousands of changes that slow every input down.
const INPUTS_PER_STORE: usize = 1_000;

/// The store of the inputs now, and the inputs it has taken, kept to write
/// out the whole sequence when one fails: a failure may need the inputs
/// before it (replay with `ingest SEQUENCE_DIR/*`, in order, one process).
static STORE: Mutex<Option<(tempfile::TempDir, Store, Vec<Vec<u8>>)>> = Mutex::new(None);

fn fresh_store() -> (tempfile::TempDir, Store, Vec<Vec<u8>>) {
    // In memory where the system offers it: a commit's sync is then cheap.
    let shm = std::path::Path::new("/dev/shm");
    let temp = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let store = ingest::open(&temp.path().join("fuzz.redb")).expect("a store");
    (temp, store, Vec::new())
}

/// Writes the inputs of the store now into `artifacts/ingest/sequence-PID/`,
/// one file each, named in order, and says where.
fn keep_sequence(inputs: &[Vec<u8>]) {
    let dir = std::path::PathBuf::from(format!("artifacts/ingest/sequence-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for (n, input) in inputs.iter().enumerate() {
        let _ = std::fs::write(dir.join(format!("{n:04}")), input);
    }
    eprintln!(
        "the {} inputs of this store: {}/",
        inputs.len(),
        dir.display()
    );
}

/// The hostile peer's keys.
static KEYS: LazyLock<Vec<SigningKey>> = LazyLock::new(|| {
    (1..=3u8)
        .map(|n| SigningKey::from_bytes(&[n; 32]))
        .collect()
});

/// libFuzzer's harness aborts on any panic, even one the code catches. The
/// node catches Automerge 0.12's panics on some malformed changes on
/// purpose (in `authz`, the change is then refused): those are not
/// crashes. With this hook a panic unwinds, so a caught one is harmless,
/// and one nothing catches still reaches the harness, which aborts.
static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("panic (unwinding): {info}")));
    });
    let mut slot = STORE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if slot
        .as_ref()
        .is_none_or(|(_, _, inputs)| inputs.len() >= INPUTS_PER_STORE)
    {
        // The old store (and its directory) goes first: one at a time.
        *slot = None;
        *slot = Some(fresh_store());
    }
    let Some((_, store, inputs)) = slot.as_mut() else {
        return;
    };
    inputs.push(data.to_vec());
    let store = &*store;
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
            let read = store.entity(&doc);
            if !matches!(read, Ok(Some(_))) {
                keep_sequence(inputs);
                panic!("an applied change's document does not read as an entity: {read:?}");
            }
        }
    }
});
