//! Concurrent edits by several authors converge to the same typed entity on
//! every replica, whatever order the changes are delivered in; and a replica
//! that received them shuffled (with pending changes) ends where one that
//! saw them in causal order ends.

mod common;

use std::collections::VecDeque;

use automerge::{Automerge, Change, ReadDoc};
use common::*;
use crdt_model::authz::{Reject, authorize};
use crdt_model::document::{self, Edit, Entity, Relation};
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::{Field, Kind, Value};
use proptest::prelude::*;

/// An edit some author may try; some are refused by authorization, which is
/// part of what must converge.
fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        "[A-Za-zéè ]{1,20}".prop_map(|name| Edit::Set(Field::Name, Value::Text(name))),
        "[a-z]{1,8}".prop_map(|category| Edit::Set(Field::Category, Value::Text(category))),
        "[a-z]{1,6}".prop_map(Edit::AddTag),
        "[a-z]{1,6}".prop_map(Edit::RemoveTag),
        (-21.4f64..-20.8, 55.2f64..55.8).prop_map(|(lat, lon)| Edit::SetGeo { lat, lon }),
        Just(Edit::ClearGeo),
        (1u8..=4).prop_map(|n| Edit::AddAdmin(author(n))),
        (1u8..=4).prop_map(|n| Edit::RemoveAdmin(author(n))),
        any::<bool>().prop_map(Edit::SetOpenEdition),
        prop::option::of("[a-z ]{0,12}").prop_map(|comment| Edit::Link {
            relation: Relation::Recommends,
            comment,
        }),
        Just(link(Relation::Member)),
        Just(Edit::Unlink(Relation::Member)),
        (1u8..=4).prop_map(|n| Edit::ConfirmMember(author(n))),
        (1u8..=4).prop_map(|n| Edit::RemoveMember(author(n))),
    ]
}

/// One author's step: edit their own replica, or pull everything from
/// another replica.
#[derive(Debug, Clone)]
enum Step {
    Edit { author: usize, edit: Edit },
    Sync { from: usize, to: usize },
}

fn any_step(authors: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..authors, any_edit()).prop_map(|(author, edit)| Step::Edit { author, edit }),
        1 => (0..authors, 0..authors).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

struct Replica {
    doc: Automerge,
    pending: Vec<Change>,
    rejected: usize,
}

/// Ingests a change the way a node does: authorize, apply, or wait for
/// dependencies; then retries what was waiting.
fn deliver(replica: &mut Replica, id: &EntityId, change: Change) {
    let mut queue = VecDeque::from([change]);
    while let Some(change) = queue.pop_front() {
        if replica.doc.get_change_by_hash(&change.hash()).is_some() {
            continue;
        }
        let signer = author_of(&change);
        match authorize(&replica.doc, id, &signer, &change) {
            Ok(()) => {
                replica.doc.apply_changes([change]).unwrap();
                queue.extend(std::mem::take(&mut replica.pending));
            }
            Err(Reject::MissingDependencies(_)) => replica.pending.push(change),
            Err(_) => replica.rejected += 1,
        }
    }
}

fn author_of(change: &Change) -> AuthorKey {
    crdt_model::ids::Actor::from_actor_id(change.actor_id())
        .unwrap()
        .author
}

fn read(doc: &Automerge) -> Entity {
    document::read(doc).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn replicas_converge_whatever_the_delivery_order(
        steps in proptest::collection::vec(any_step(4), 1..40),
        seed in any::<u64>(),
    ) {
        let created = document::create(&genesis(Kind::Organization), &actor(1), NOW, [1; 16], &[]).unwrap();
        let id = created.id;
        let mut all_changes = vec![created.change.clone()];
        let mut replicas: Vec<Replica> = (0..4)
            .map(|_| {
                let mut doc = Automerge::new();
                doc.apply_changes([created.change.clone()]).unwrap();
                Replica { doc, pending: Vec::new(), rejected: 0 }
            })
            .collect();

        for step in steps {
            match step {
                Step::Edit { author, edit } => {
                    let n = author as u8 + 1;
                    let replica = &mut replicas[author];
                    if let Ok(change) = document::edit(&replica.doc, &actor(n), NOW, &[edit]) {
                        all_changes.push(change.clone());
                        deliver(replica, &id, change);
                    }
                }
                Step::Sync { from, to } if from != to => {
                    let changes = replicas[from].doc.get_changes(&replicas[to].doc.get_heads());
                    for change in changes {
                        deliver(&mut replicas[to], &id, change);
                    }
                }
                Step::Sync { .. } => {}
            }
        }

        // Every replica now receives every change, each in its own shuffled
        // order; a reference replica receives them in causal order.
        let mut reference = Replica { doc: Automerge::new(), pending: Vec::new(), rejected: 0 };
        for change in &all_changes {
            deliver(&mut reference, &id, change.clone());
        }
        prop_assert!(reference.pending.is_empty());
        // Every change was accepted where it was made, so it is accepted
        // everywhere: the verdict depends only on the change's past.
        prop_assert_eq!(reference.rejected, 0);
        let expected = read(&reference.doc);

        let mut rng = seed;
        for replica in &mut replicas {
            let mut shuffled = all_changes.clone();
            for i in (1..shuffled.len()).rev() {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (rng >> 33) as usize % (i + 1));
            }
            for change in shuffled {
                deliver(replica, &id, change);
            }
            prop_assert!(replica.pending.is_empty());
            prop_assert_eq!(replica.rejected, 0);
            let mut heads = replica.doc.get_heads();
            heads.sort();
            let mut expected_heads = reference.doc.get_heads();
            expected_heads.sort();
            prop_assert_eq!(heads, expected_heads);
            prop_assert_eq!(read(&replica.doc), expected.clone());
        }
        // And the entity is still well formed: never without an admin.
        prop_assert!(!expected.admins.is_empty());
    }
}
