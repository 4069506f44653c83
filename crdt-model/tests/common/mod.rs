//! Helpers shared by the integration tests of crdt-model.
#![allow(dead_code, unreachable_pub)]

use automerge::transaction::{CommitOptions, Transaction};
use automerge::{Automerge, Change};
use crdt_model::authz::{self, Reject};
use crdt_model::document::{self, Edit, Genesis, Relation};
use crdt_model::ids::{Actor, AuthorKey, EntityId};
use crdt_model::schema::Kind;
use ed25519_dalek::SigningKey;

pub const NOW: i64 = 1_764_000_000_000;

pub fn signing_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn author(n: u8) -> AuthorKey {
    AuthorKey::of(&signing_key(n))
}

pub fn actor(n: u8) -> Actor {
    Actor {
        author: author(n),
        device: u32::from(n),
    }
}

pub fn genesis(kind: Kind) -> Genesis {
    Genesis {
        kind,
        name: "Garage du Centre".into(),
        postal_code: "97400".into(),
        country: "FR".into(),
        open_edition: None,
    }
}

/// An entity created by author `n`; returns its id and the document.
pub fn new_entity(kind: Kind, n: u8, edits: &[Edit]) -> (EntityId, Automerge) {
    // A person's id follows from its author's key.
    let nonce = match kind {
        Kind::Person => EntityId::person_nonce(&actor(n).author),
        _ => [n; 16],
    };
    let created = document::create(&genesis(kind), &actor(n), NOW, nonce, edits)
        .expect("a valid genesis is accepted");
    (created.id, created.doc)
}

/// A change written by `actor` on top of `doc` with any operations at all,
/// bypassing the typed edits: what a malicious or buggy peer could send.
pub fn raw_change(
    doc: &Automerge,
    actor: &Actor,
    write: impl FnOnce(&mut Transaction<'_>) -> Result<(), automerge::AutomergeError>,
) -> Change {
    let mut fork = doc.fork();
    fork.set_actor(actor.actor_id());
    let mut tx = fork.transaction();
    write(&mut tx).expect("the raw operations are well formed");
    tx.commit_with(CommitOptions::default().with_time(NOW / 1000));
    fork.get_last_local_change().expect("a change was made")
}

/// Authorizes then applies, as a node's ingest does.
pub fn ingest(
    doc: &mut Automerge,
    id: &EntityId,
    signer: &AuthorKey,
    change: Change,
) -> Result<(), Reject> {
    authz::authorize(doc, id, signer, &change)?;
    doc.apply_changes([change])
        .expect("an authorized change applies");
    Ok(())
}

/// Makes a typed edit and ingests it.
pub fn edit_as(
    doc: &mut Automerge,
    id: &EntityId,
    n: u8,
    edits: &[Edit],
) -> Result<(), document::EditError> {
    let change = document::edit(doc, &actor(n), NOW + 1, edits)?;
    ingest(doc, id, &author(n), change).map_err(document::EditError::NotAllowed)
}

/// The author's own link of `relation`, without comment.
pub fn link(relation: Relation) -> Edit {
    Edit::Link {
        relation,
        comment: None,
    }
}
