//! Crash safety: a child process writes in a loop and prints what the store
//! acknowledged; it is killed with SIGKILL at random points; everything
//! acknowledged must be there after reopening, and the store must open
//! cleanly and check sound, round after round. Three kinds of writing:
//! a citizen's edits, an import storm (batches of rows), and a catch-up
//! sync pulling a whole directory from a peer.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crdt_model::document::{self, Edit, Genesis};
use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::{Actor, AuthorKey, EntityId};
use crdt_model::schema::Kind;
use crdt_model::signed::SignedChange;
use node::identity::DataDir;
use node::ingest;
use node::ingest::Outcome;
use node::local::{Join, Local};
use node::opendata::import::{ImportRow, RowOutcome};
use node::random::Xorshift;
use node::store::Origin;
use node::store::Store;

const STORE_VARIABLE: &str = "COMMUNECTER_CRASH_STORE";
const SEED_VARIABLE: &str = "COMMUNECTER_CRASH_SEED";
const MODE_VARIABLE: &str = "COMMUNECTER_CRASH_MODE";
const PEER_VARIABLE: &str = "COMMUNECTER_CRASH_PEER";

/// The child: creates entities and edits them forever, printing
/// `<id> <tags>` after each acknowledged change.
#[test]
#[ignore = "run as the child process of kill_9_loses_no_acknowledged_change"]
fn crash_child() {
    let path = std::env::var(STORE_VARIABLE).expect("run by the crash test");
    let seed: u8 = std::env::var(SEED_VARIABLE).unwrap().parse().unwrap();
    match std::env::var(MODE_VARIABLE).as_deref() {
        Ok("import") => return import_child(&path, seed),
        Ok("sync") => return sync_child(&path),
        _ => {}
    }
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

/// An import storm: batches of 250 rows, printing `<id> import` for each
/// entity the store acknowledged.
fn import_child(home: &str, seed: u8) {
    let dir = DataDir::resolve(Some(home.into())).unwrap();
    let local = Local::open(&dir).unwrap();
    for round in 0u32.. {
        let rows: Vec<ImportRow> = (0..250)
            .map(|n| ImportRow {
                at: format!("line {n}"),
                values: [
                    ("kind".to_owned(), "place".to_owned()),
                    ("name".to_owned(), format!("Boîte {seed}-{round}-{n}")),
                    ("postal_code".to_owned(), "97400".to_owned()),
                ]
                .into(),
                tags: Vec::new(),
            })
            .collect();
        let outcomes = local.import(&rows).unwrap();
        // A storm that imports nothing would leave the parent waiting.
        assert!(
            outcomes
                .iter()
                .all(|outcome| matches!(outcome, RowOutcome::Imported { .. })),
            "{outcomes:?}"
        );
        for outcome in outcomes {
            if let RowOutcome::Imported { id, .. } = outcome {
                println!("{id} import");
            }
        }
    }
}

/// A catch-up sync pulling the peer's whole directory, printing
/// `synced <done>` each time the store acknowledged more documents.
fn sync_child(path: &str) {
    let peer_path = std::env::var(PEER_VARIABLE).unwrap();
    let store = std::sync::Arc::new(Store::open(path.as_ref()).unwrap());
    let peer = std::sync::Arc::new(Store::open(peer_path.as_ref()).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(node::sync::pull(
            store,
            "97400".into(),
            |request| {
                let peer = peer.clone();
                async move {
                    node::sync::serve(&peer, &request)
                        .map_err(|error| node::sync::SyncError::Transport(error.to_string()))
                }
            },
            |done, _| println!("synced {done}"),
        ))
        .unwrap();
    println!("synced all");
}

/// Runs the child in `mode` until it printed `wanted` acknowledgements
/// (or ended), then kills it with SIGKILL; returns what it printed.
fn run_child(
    mode: &str,
    store: &std::path::Path,
    seed: u8,
    peer: Option<&std::path::Path>,
    wanted: usize,
) -> Vec<String> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "crash_child", "--ignored", "--nocapture"])
        .env(STORE_VARIABLE, store)
        .env(SEED_VARIABLE, seed.to_string())
        .env(MODE_VARIABLE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(peer) = peer {
        command.env(PEER_VARIABLE, peer);
    }
    let mut child = command.spawn().unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        printed.push(line);
        if printed.len() >= wanted {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor runs.
    child.wait().unwrap();
    printed
}

#[test]
fn kill_9_during_import_storms_loses_no_acknowledged_entity() {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let dir = DataDir::resolve(Some(home.clone())).unwrap();
    drop(
        Local::init(
            &dir,
            &Join {
                postal_code: "97400".into(),
                ..Join::default()
            },
        )
        .unwrap(),
    );
    let mut random = Xorshift::new(0x9e37_79b9_7f4a_7c15);
    let mut acknowledged: Vec<EntityId> = Vec::new();
    for round in 1..=4u8 {
        let wanted = 50 + random.below(900) as usize;
        for line in run_child("import", &home, round, None, wanted) {
            if let Some((id, "import")) = line.split_once(' ')
                && let Ok(id) = id.parse()
            {
                acknowledged.push(id);
            }
        }
        let local = Local::open(&dir).expect("the store reopens cleanly after SIGKILL");
        for id in &acknowledged {
            assert!(
                local.store.entity(id).unwrap().is_some(),
                "acknowledged import {id} lost in round {round}"
            );
        }
        let report = local.store.check().unwrap();
        assert!(report.is_sound(), "round {round}: {:?}", report.problems);
    }
    assert!(
        acknowledged.len() > 200,
        "only {} acknowledged",
        acknowledged.len()
    );
}

#[test]
fn kill_9_during_a_catch_up_sync_loses_no_acknowledged_document() {
    let temp = tempfile::tempdir().unwrap();
    let peer_path = temp.path().join("peer.redb");
    {
        let peer = ingest::open(&peer_path).unwrap();
        let directory =
            crdt_model::sample::directory(&SigningKey::from_bytes(&[9; 32]), "97400", 3000);
        for batch in directory.chunks(500) {
            ingest::ingest(&peer, Origin::Import, batch).unwrap();
        }
    }
    let path = temp.path().join("store.redb");
    drop(ingest::open(&path).unwrap());
    let mut random = Xorshift::new(0x5851_f42d_4c95_7f2d);
    let mut acknowledged = 0u64;
    for round in 1..=4u8 {
        let wanted = 1 + random.below(6) as usize;
        let printed = run_child("sync", &path, round, Some(&peer_path), wanted);
        let complete = printed.iter().any(|line| line == "synced all");
        for line in &printed {
            if let Some(done) = line
                .strip_prefix("synced ")
                .and_then(|done| done.parse().ok())
            {
                // Each session counts from what it found missing.
                acknowledged = acknowledged.max(done);
            }
        }
        let store = Store::open(&path).expect("the store reopens cleanly after SIGKILL");
        let held = store.counts().unwrap().documents;
        assert!(
            held >= acknowledged,
            "round {round}: {held} documents held, {acknowledged} acknowledged"
        );
        let report = store.check().unwrap();
        assert!(report.is_sound(), "round {round}: {:?}", report.problems);
        if complete {
            assert_eq!(held, 3000);
        }
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
