//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`):
//! real envelopes, sync messages, change sequences and import files, from
//! which the fuzzer mutates its way in. Run from the repository's root:
//! `cargo run -p communecter-node --example fuzz_seeds`.

use std::path::Path;

use crdt_model::document::{self, Edit, Genesis, Relation};
use crdt_model::ed25519_dalek::SigningKey;
use crdt_model::ids::Actor;
use crdt_model::schema::{Field, Kind, Value};
use crdt_model::signed::SignedChange;
use node::opendata::export::{self, ExportOptions, Format};
use node::sync::wire::{Have, Request, Response, encode};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("a seed written");
}

/// The fuzz target `ingest`'s keys: `[n; 32]` for n in 1..=3 (the
/// sample authors).
fn key(n: u8) -> SigningKey {
    crdt_model::sample::author(n).0
}

fn actor(n: u8) -> Actor {
    crdt_model::sample::author(n).1
}

/// One chunk of the `ingest` target's input: the key (its index), the
/// document, the change's length and the change.
fn chunk(key: u8, doc: u8, change: &[u8]) -> Vec<u8> {
    let length = u16::try_from(change.len()).expect("a seed change under 64 KiB");
    let mut out = vec![key - 1, doc];
    out.extend(length.to_be_bytes());
    out.extend(change);
    out
}

fn main() {
    let genesis = Genesis {
        kind: Kind::Organization,
        name: "Garage Payet".into(),
        postal_code: "97400".into(),
        country: "FR".into(),
        open_edition: None,
    };
    let created = document::create(
        &genesis,
        &actor(1),
        1_764_000_000_000,
        [0; 16],
        &[
            Edit::Set(Field::Category, Value::Text("garage".into())),
            Edit::AddTag("mécanique".into()),
            Edit::SetGeo {
                lat: -20.88,
                lon: 55.45,
            },
        ],
    )
    .expect("a genesis");
    let mut doc = created.doc.clone();
    let description = document::edit(
        &doc,
        &actor(1),
        1_764_000_001_000,
        &[Edit::Set(
            Field::Description,
            Value::Text("Toutes marques".into()),
        )],
    )
    .expect("an edit");
    doc.apply_changes([description.clone()]).expect("applied");
    let link = document::edit(
        &doc,
        &actor(2),
        1_764_000_002_000,
        &[Edit::Link {
            relation: Relation::Recommends,
            comment: Some("Travail sérieux".into()),
        }],
    )
    .expect("a link");
    doc.apply_changes([link.clone()]).expect("applied");
    let changes = [&created.change, &description, &link];
    let signers = [1u8, 1, 2];

    // Envelopes.
    let envelopes: Vec<Vec<u8>> = changes
        .iter()
        .zip(signers)
        .map(|(change, signer)| {
            SignedChange::sign(&key(signer), created.id, "97400", change.raw_bytes())
                .expect("signed")
                .encode()
        })
        .collect();
    for (n, envelope) in envelopes.iter().enumerate() {
        write("envelope", &format!("change-{n}"), envelope);
    }

    // Sync messages.
    let id = *created.id.as_bytes();
    let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|hash| hash.0).collect();
    let seeds = [
        (
            "pull-heads",
            encode(&Request::Pull {
                docs: vec![(id, Have::Heads(heads.clone()))],
            }),
        ),
        (
            "pull-changes",
            encode(&Request::Pull {
                docs: vec![(id, Have::Changes(heads.clone()))],
            }),
        ),
        (
            "changes",
            encode(&Response::Changes {
                envelopes: envelopes.clone(),
                served: vec![id],
                unresolved: vec![(id, heads)],
            }),
        ),
        (
            "refused",
            encode(&Response::Refused {
                reason: "too many".into(),
            }),
        ),
    ];
    for (name, bytes) in seeds {
        write("sync_wire", name, &bytes);
    }

    // Change sequences for ingest: the genesis alone, the three in order,
    // and the edits before the genesis.
    let sequence = |order: &[usize]| -> Vec<u8> {
        order
            .iter()
            .flat_map(|&n| chunk(signers[n], 0, changes[n].raw_bytes()))
            .collect()
    };
    write("ingest", "genesis", &sequence(&[0]));
    write("ingest", "in-order", &sequence(&[0, 1, 2]));
    write("ingest", "out-of-order", &sequence(&[2, 1, 0]));

    // Import files: the entity exported in every format, and a French
    // spreadsheet.
    let entity = document::read(&doc).expect("an entity");
    for format in Format::ALL {
        let mut out = Vec::new();
        export::export(
            std::slice::from_ref(&entity),
            format,
            &ExportOptions::default(),
            &mut out,
        )
        .expect("an export");
        write("import", &format!("export.{}", format.as_str()), &out);
    }
    write(
        "import",
        "tableur.csv",
        "nom;adresse;code_postal;ville;latitude;longitude\n\
         Boulangerie du Butor;3 rue du Butor;97400;Saint-Denis;-20,88;55,45\n"
            .as_bytes(),
    );
}
