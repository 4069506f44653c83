//! Crash safety: a child process ingests changes in a loop and prints each
//! change the store acknowledged; it is killed with SIGKILL at random
//! points; every acknowledged change must be there after reopening, and the
//! store must open cleanly, round after round.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crdt_model::document::{self, Edit, Genesis};
use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{Actor, AuthorKey, EntityId};
use crdt_model::schema::Kind;
use crdt_model::signed::SignedChange;
use node::ingest;
use node::ingest::Outcome;
use node::random::Xorshift;
use node::store::Origin;
use node::store::Store;

const STORE_VARIABLE: &str = "COMMUNECTER_CRASH_STORE";
const SEED_VARIABLE: &str = "COMMUNECTER_CRASH_SEED";

/// The child: creates entities and edits them forever, printing
/// `<id> <tags>` after each acknowledged change.
#[test]
#[ignore = "run as the child process of kill_9_loses_no_acknowledged_change"]
fn crash_child() {
    let path = std::env::var(STORE_VARIABLE).expect("run by the crash test");
    let seed: u8 = std::env::var(SEED_VARIABLE).unwrap().parse().unwrap();
    let store = Store::open(path.as_ref()).unwrap();
    let key = SigningKey::from_bytes(&[seed; 32]);
    let actor = Actor {
        author: AuthorKey::of(&key),
        device: u32::from(seed),
    };
    for round in 0u32.. {
        let mut nonce = [seed; 16];
        nonce[..4].copy_from_slice(&round.to_le_bytes());
        let genesis = Genesis {
            kind: Kind::Place,
            name: format!("Lieu {seed}-{round}"),
            postal_code: "97400".into(),
            country: "FR".into(),
            open_edition: None,
        };
        let created = document::create(&genesis, &actor, 0, nonce, &[]).unwrap();
        let mut doc = created.doc;
        let mut envelopes = vec![sign(&key, created.id, created.change.raw_bytes())];
        for tag in 0..3 {
            let change =
                document::edit(&doc, &actor, 0, &[Edit::AddTag(format!("t{tag}"))]).unwrap();
            doc.apply_changes([change.clone()]).unwrap();
            envelopes.push(sign(&key, created.id, change.raw_bytes()));
        }
        // One change per transaction for the genesis, then a batch of three.
        for batch in [&envelopes[..1], &envelopes[1..]] {
            let outcomes = ingest::ingest(&store, Origin::Local, batch).unwrap();
            assert!(
                outcomes
                    .iter()
                    .all(|o| matches!(o, Outcome::Applied { .. }))
            );
        }
        println!("{} 3", created.id);
    }
}

fn sign(key: &SigningKey, id: EntityId, change: &[u8]) -> Vec<u8> {
    SignedChange::sign(key, id, "97400", change)
        .unwrap()
        .encode()
}

#[test]
fn kill_9_loses_no_acknowledged_change() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("store.redb");
    let mut acknowledged: Vec<EntityId> = Vec::new();
    let mut random = Xorshift::new(0x2545_f491_4f6c_dd1d);
    for round in 1..=5u8 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--ignored", "--nocapture"])
            .env(STORE_VARIABLE, &path)
            .env(SEED_VARIABLE, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let wanted = 3 + random.below(25) as usize;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < wanted {
            let line = lines
                .next()
                .expect("the child keeps acknowledging")
                .unwrap();
            let Some((id, _)) = line.split_once(' ') else {
                continue; // test harness chatter
            };
            if let Ok(id) = id.parse() {
                acknowledged.push(id);
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix: no destructor runs.
        child.wait().unwrap();

        let store = Store::open(&path).expect("the store reopens cleanly after SIGKILL");
        for id in &acknowledged {
            let entity = store
                .entity(id)
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged entity {id} lost in round {round}"));
            assert_eq!(entity.tags.len(), 3, "{id} lost acknowledged edits");
            assert_eq!(store.envelopes(id).unwrap().len(), 4);
        }
        let counts = store.counts().unwrap();
        assert_eq!(counts.pending, 0);
        assert!(counts.documents >= acknowledged.len() as u64);
    }
}
