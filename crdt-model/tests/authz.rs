//! Authorization accepts every allowed case and rejects every forbidden one.

mod common;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
use common::*;
use crdt_model::authz::{Reject, authorize};
use crdt_model::document::{self, Edit, EditError, Relation};
use crdt_model::ids::{Actor, EntityId};
use crdt_model::schema::{Field, Kind, ValidationError, Value};

fn map_id(doc: &Automerge, name: &str) -> automerge::ObjId {
    match doc.get(ROOT, name).unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("{name} is not a map: {other:?}"),
    }
}

fn not_allowed(result: Result<(), EditError>) -> Reject {
    match result {
        Err(EditError::NotAllowed(reject)) => reject,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn admin_edits_anything_descriptive_and_structural() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    edit_as(
        &mut doc,
        &id,
        1,
        &[
            Edit::Set(
                Field::Description,
                Value::Text("Réparations toutes marques".into()),
            ),
            Edit::AddTag("garage".into()),
            Edit::SetGeo {
                lat: -20.8823,
                lon: 55.4504,
            },
            Edit::AddAdmin(author(2)),
            Edit::SetOpenEdition(false),
        ],
    )
    .unwrap();
    let entity = document::read(&doc).unwrap();
    assert!(entity.admins.contains(&author(2)));
    assert!(!entity.open_edition);
    assert_eq!(entity.tags.iter().collect::<Vec<_>>(), ["garage"]);
    // The second admin may now remove the first.
    edit_as(&mut doc, &id, 2, &[Edit::RemoveAdmin(author(1))]).unwrap();
    assert_eq!(
        document::read(&doc)
            .unwrap()
            .admins
            .into_iter()
            .collect::<Vec<_>>(),
        [author(2)]
    );
}

#[test]
fn anyone_edits_descriptive_fields_under_open_edition_only() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    edit_as(
        &mut doc,
        &id,
        2,
        &[Edit::Set(Field::Category, Value::Text("garage".into()))],
    )
    .unwrap();
    edit_as(&mut doc, &id, 1, &[Edit::SetOpenEdition(false)]).unwrap();
    let reject = not_allowed(edit_as(
        &mut doc,
        &id,
        2,
        &[Edit::Set(
            Field::Category,
            Value::Text("boulangerie".into()),
        )],
    ));
    assert!(matches!(reject, Reject::ClosedEdition { .. }), "{reject}");
    assert_eq!(
        document::read(&doc).unwrap().text(Field::Category),
        Some("garage")
    );
}

#[test]
fn non_admin_cannot_touch_admins_or_flags() {
    let (id, doc) = new_entity(Kind::Organization, 1, &[]);
    for edit in [
        Edit::AddAdmin(author(2)),
        Edit::RemoveAdmin(author(1)),
        Edit::SetOpenEdition(false),
        Edit::SetDeleted(true),
        Edit::ConfirmMember(author(2)),
        Edit::RemoveMember(author(2)),
    ] {
        let reject = not_allowed(
            document::edit(&doc, &actor(2), NOW, std::slice::from_ref(&edit)).map(drop),
        );
        assert!(
            matches!(reject, Reject::NotAdmin { .. }),
            "{edit:?}: {reject}"
        );
    }
    // Same with a hand-made change, bypassing the typed edits.
    let admins = map_id(&doc, "admins");
    let change = raw_change(&doc, &actor(2), |tx| {
        tx.put(&admins, author(2).to_string(), true)
    });
    assert!(matches!(
        authorize(&doc, &id, &author(2), &change),
        Err(Reject::NotAdmin { .. })
    ));
}

#[test]
fn authors_write_only_their_own_slots() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    edit_as(
        &mut doc,
        &id,
        2,
        &[
            link(Relation::Member),
            Edit::Link {
                relation: Relation::Recommends,
                comment: Some("Travail soigné, prix honnêtes".into()),
            },
        ],
    )
    .unwrap();
    let entity = document::read(&doc).unwrap();
    let member = entity
        .links
        .iter()
        .find(|link| link.relation == Relation::Member)
        .unwrap();
    assert_eq!(member.author, author(2));
    assert!(!member.confirmed, "membership waits for an admin");
    let recommendation = entity
        .links
        .iter()
        .find(|link| link.relation == Relation::Recommends)
        .unwrap();
    assert_eq!(
        recommendation.comment.as_deref(),
        Some("Travail soigné, prix honnêtes")
    );

    // Author 3 cannot write into author 2's slots.
    let links = map_id(&doc, "links");
    let recommends = map_id(&doc, "recommends");
    let (_, slot) = doc.get(&links, author(2).to_string()).unwrap().unwrap();
    for change in [
        raw_change(&doc, &actor(3), |tx| tx.delete(&slot, "member")),
        raw_change(&doc, &actor(3), |tx| {
            tx.delete(&recommends, author(2).to_string())
        }),
        raw_change(&doc, &actor(3), |tx| {
            let entry = tx.put_object(&links, author(2).to_string(), ObjType::Map)?;
            tx.put(&entry, "at", ScalarValue::Timestamp(NOW))
        }),
    ] {
        let verdict = authorize(&doc, &id, &author(3), &change);
        assert!(
            matches!(verdict, Err(Reject::ForeignSlot { .. })),
            "{verdict:?}"
        );
    }

    // An admin confirms the membership.
    edit_as(&mut doc, &id, 1, &[Edit::ConfirmMember(author(2))]).unwrap();
    let entity = document::read(&doc).unwrap();
    assert!(
        entity
            .links
            .iter()
            .any(|l| l.relation == Relation::Member && l.confirmed)
    );

    // An admin removes the member: the link stays theirs, but no longer
    // counts; confirming again restores it.
    edit_as(&mut doc, &id, 1, &[Edit::RemoveMember(author(2))]).unwrap();
    let member = |doc: &Automerge| {
        document::read(doc)
            .unwrap()
            .links
            .into_iter()
            .find(|l| l.relation == Relation::Member && l.author == author(2))
            .map(|l| (l.confirmed, l.removed))
    };
    assert_eq!(member(&doc), Some((false, true)));
    // A removed member cannot confirm themselves back in.
    let reject = not_allowed(
        document::edit(&doc, &actor(2), NOW, &[Edit::ConfirmMember(author(2))]).map(drop),
    );
    assert!(matches!(reject, Reject::NotAdmin { .. }), "{reject}");
    // Nor write `false` into the admins' map by hand.
    let admins = map_id(&doc, "admins");
    let change = raw_change(&doc, &actor(1), |tx| {
        tx.put(&admins, author(2).to_string(), false)
    });
    assert!(authorize(&doc, &id, &author(1), &change).is_err());
    edit_as(&mut doc, &id, 1, &[Edit::ConfirmMember(author(2))]).unwrap();
    assert_eq!(member(&doc), Some((true, false)));

    // The author withdraws their own recommendation.
    edit_as(&mut doc, &id, 2, &[Edit::Unlink(Relation::Recommends)]).unwrap();
    let entity = document::read(&doc).unwrap();
    assert!(
        !entity
            .links
            .iter()
            .any(|l| l.relation == Relation::Recommends)
    );
}

#[test]
fn person_documents_are_owner_only_except_follows() {
    let (id, mut doc) = new_entity(Kind::Person, 1, &[]);
    assert!(!document::read(&doc).unwrap().open_edition);
    for edit in [
        Edit::Set(Field::ShortDescription, Value::Text("hacked".into())),
        Edit::AddTag("x".into()),
        link(Relation::Recommends),
        link(Relation::Member),
        Edit::AddAdmin(author(2)),
    ] {
        let reject = not_allowed(
            document::edit(&doc, &actor(2), NOW, std::slice::from_ref(&edit)).map(drop),
        );
        assert!(
            matches!(reject, Reject::PersonOwnerOnly { .. }),
            "{edit:?}: {reject}"
        );
    }
    edit_as(&mut doc, &id, 2, &[link(Relation::Follows)]).unwrap();
    edit_as(
        &mut doc,
        &id,
        1,
        &[Edit::Set(
            Field::ShortDescription,
            Value::Text("Jardinier".into()),
        )],
    )
    .unwrap();
    // Even the owner cannot share the profile.
    let reject = not_allowed(edit_as(&mut doc, &id, 1, &[Edit::AddAdmin(author(2))]));
    assert!(matches!(reject, Reject::PersonOwnerOnly { .. }), "{reject}");
    let entity = document::read(&doc).unwrap();
    assert_eq!(entity.links.len(), 1);
    assert_eq!(entity.text(Field::ShortDescription), Some("Jardinier"));
}

#[test]
fn the_last_admin_cannot_leave() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    let reject = not_allowed(edit_as(&mut doc, &id, 1, &[Edit::RemoveAdmin(author(1))]));
    assert_eq!(reject, Reject::LastAdmin);
    // Replacing the admins map is refused too.
    let change = raw_change(&doc, &actor(1), |tx| {
        tx.put_object(ROOT, "admins", ObjType::Map).map(drop)
    });
    assert!(matches!(
        authorize(&doc, &id, &author(1), &change),
        Err(Reject::Immutable { .. })
    ));
    let change = raw_change(&doc, &actor(1), |tx| tx.delete(ROOT, "admins"));
    assert!(authorize(&doc, &id, &author(1), &change).is_err());
}

#[test]
fn signer_must_be_the_actor() {
    let (id, doc) = new_entity(Kind::Organization, 1, &[]);
    let change = document::edit(&doc, &actor(1), NOW, &[Edit::AddTag("bio".into())]).unwrap();
    assert_eq!(
        authorize(&doc, &id, &author(2), &change),
        Err(Reject::AuthorMismatch {
            signer: author(2),
            actor: author(1)
        })
    );
    // An actor that is not key ‖ device is refused.
    let mut fork = doc.fork();
    fork.set_actor(automerge::ActorId::from(&[5u8; 16][..]));
    let mut tx = fork.transaction();
    tx.put(ROOT, "name", "x").unwrap();
    tx.commit();
    let change = fork.get_last_local_change().unwrap();
    assert!(matches!(
        authorize(&doc, &id, &author(1), &change),
        Err(Reject::MalformedActor(_))
    ));
}

#[test]
fn genesis_is_bound_to_its_creator() {
    let created =
        document::create(&genesis(Kind::Organization), &actor(1), NOW, [3; 16], &[]).unwrap();
    let empty = Automerge::new();
    assert_eq!(
        authorize(&empty, &created.id, &author(1), &created.change),
        Ok(())
    );
    // Someone else cannot write a first change for that id...
    let forged = document::create(&genesis(Kind::Organization), &actor(2), NOW, [3; 16], &[])
        .unwrap()
        .change;
    assert!(matches!(
        authorize(&empty, &created.id, &author(2), &forged),
        Err(Reject::Genesis(_))
    ));
    // ...even into a document that already has the real one.
    assert!(matches!(
        authorize(&created.doc, &created.id, &author(2), &forged),
        Err(Reject::Genesis(_))
    ));
    // A first change must write the layout.
    let bare = raw_change(&Automerge::new(), &actor(1), |tx| tx.put(ROOT, "name", "x"));
    assert!(matches!(
        authorize(&empty, &created.id, &author(1), &bare),
        Err(Reject::Genesis(_))
    ));
}

#[test]
fn genesis_keys_never_change() {
    let (id, doc) = new_entity(Kind::Organization, 1, &[]);
    for name in ["kind", "id", "nonce", "creator", "schema", "created_at"] {
        let change = raw_change(&doc, &actor(1), |tx| tx.put(ROOT, name, "person"));
        assert!(
            matches!(
                authorize(&doc, &id, &author(1), &change),
                Err(Reject::Immutable { .. })
            ),
            "{name}"
        );
    }
}

/// Operations written straight into a transaction.
type RawWrite =
    dyn Fn(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>;

#[test]
fn invalid_values_are_refused_from_peers_too() {
    let (id, doc) = new_entity(Kind::Event, 1, &[]);
    let cases: Vec<(&str, Box<RawWrite>)> = vec![
        ("empty name", Box::new(|tx| tx.put(ROOT, "name", ""))),
        (
            "name as number",
            Box::new(|tx| tx.put(ROOT, "name", 42_i64)),
        ),
        (
            "long name",
            Box::new(|tx| tx.put(ROOT, "name", "x".repeat(121))),
        ),
        (
            "bad url",
            Box::new(|tx| tx.put(ROOT, "url", "javascript:alert(1)")),
        ),
        ("bad date", Box::new(|tx| tx.put(ROOT, "start", "demain"))),
        (
            "field of another kind",
            Box::new(|tx| tx.put(ROOT, "category", "garage")),
        ),
        ("delete name", Box::new(|tx| tx.delete(ROOT, "name"))),
        (
            "name as text object",
            Box::new(|tx| tx.put_object(ROOT, "name", ObjType::Text).map(drop)),
        ),
        (
            "geo without lon",
            Box::new(|tx| {
                let geo = tx.put_object(ROOT, "geo", ObjType::Map)?;
                tx.put(&geo, "lat", -20.9)
            }),
        ),
        (
            "latitude out of range",
            Box::new(|tx| {
                let geo = tx.put_object(ROOT, "geo", ObjType::Map)?;
                tx.put(&geo, "lat", 95.0)?;
                tx.put(&geo, "lon", 55.0)
            }),
        ),
        (
            "end before start",
            Box::new(|tx| {
                tx.put(ROOT, "start", "2026-12-01")?;
                tx.put(ROOT, "end", "2026-11-30")
            }),
        ),
    ];
    for (name, write) in cases {
        let change = raw_change(&doc, &actor(2), |tx| write(tx));
        let verdict = authorize(&doc, &id, &author(2), &change);
        assert!(
            matches!(verdict, Err(Reject::Invalid { .. })),
            "{name}: {verdict:?}"
        );
    }
    let address = map_id(&doc, "address");
    let change = raw_change(&doc, &actor(2), |tx| tx.put(&address, "postal_code", "974"));
    assert!(matches!(
        authorize(&doc, &id, &author(2), &change),
        Err(Reject::Invalid { .. })
    ));
    let change = raw_change(&doc, &actor(2), |tx| tx.put(&address, "colour", "red"));
    assert!(matches!(
        authorize(&doc, &id, &author(2), &change),
        Err(Reject::UnknownPath { .. })
    ));
}

#[test]
fn too_many_tags_are_refused() {
    let (id, mut doc) = new_entity(Kind::Place, 1, &[]);
    let twenty: Vec<Edit> = (0..20).map(|i| Edit::AddTag(format!("tag{i}"))).collect();
    edit_as(&mut doc, &id, 2, &twenty).unwrap();
    let reject = not_allowed(edit_as(
        &mut doc,
        &id,
        2,
        &[Edit::AddTag("one more".into())],
    ));
    assert!(
        matches!(
            reject,
            Reject::Invalid {
                error: ValidationError::TooManyTags { max: 20, found: 21 },
                ..
            }
        ),
        "{reject}"
    );
    // Replacing one is fine.
    edit_as(
        &mut doc,
        &id,
        2,
        &[
            Edit::RemoveTag("tag0".into()),
            Edit::AddTag("compost".into()),
        ],
    )
    .unwrap();
}

#[test]
fn unknown_root_keys_are_admin_only_and_preserved() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    let change = raw_change(&doc, &actor(1), |tx| {
        let future = tx.put_object(ROOT, "accessibility", ObjType::Map)?;
        tx.put(&future, "wheelchair", true)
    });
    ingest(&mut doc, &id, &author(1), change).unwrap();
    let change = raw_change(&doc, &actor(2), |tx| tx.put(ROOT, "accessibility", "none"));
    assert!(matches!(
        authorize(&doc, &id, &author(2), &change),
        Err(Reject::NotAdmin { .. })
    ));
    // A typed edit by anyone keeps the unknown key.
    edit_as(
        &mut doc,
        &id,
        2,
        &[Edit::Set(Field::Name, Value::Text("Garage Payet".into()))],
    )
    .unwrap();
    let entity = document::read(&doc).unwrap();
    assert_eq!(entity.name(), "Garage Payet");
    assert_eq!(
        entity.extra.get("accessibility"),
        Some(&serde_json::json!({"wheelchair": true}))
    );
}

#[test]
fn changes_wait_for_missing_dependencies() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    let first = document::edit(&doc, &actor(1), NOW, &[Edit::AddTag("a".into())]).unwrap();
    let mut ahead = doc.fork();
    ahead.apply_changes([first.clone()]).unwrap();
    let second = document::edit(&ahead, &actor(1), NOW, &[Edit::AddTag("b".into())]).unwrap();
    assert!(matches!(
        authorize(&doc, &id, &author(1), &second),
        Err(Reject::MissingDependencies(missing)) if missing == vec![first.hash()]
    ));
    ingest(&mut doc, &id, &author(1), first).unwrap();
    ingest(&mut doc, &id, &author(1), second).unwrap();
}

#[test]
fn admin_status_is_read_at_the_change_dependencies() {
    // Admin 1 makes 2 an admin; concurrently (not having seen that), 2 edits
    // a closed field. 2's change is judged at its own dependencies, where 2
    // was not an admin, whatever order a node receives them in.
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[Edit::SetOpenEdition(false)]);
    let promote = document::edit(&doc, &actor(1), NOW, &[Edit::AddAdmin(author(2))]).unwrap();
    let early = raw_change(&doc, &actor(2), |tx| tx.put(ROOT, "category", "garage"));
    ingest(&mut doc, &id, &author(1), promote).unwrap();
    let verdict = authorize(&doc, &id, &author(2), &early);
    assert!(
        matches!(verdict, Err(Reject::ClosedEdition { .. })),
        "{verdict:?}"
    );
    // After seeing the promotion, the same edit is accepted.
    edit_as(
        &mut doc,
        &id,
        2,
        &[Edit::Set(Field::Category, Value::Text("garage".into()))],
    )
    .unwrap();
}

#[test]
fn objects_unknown_at_the_dependencies_are_refused() {
    // Author 3 writes into author 2's slot object; a node that does not have
    // that object refuses it as unknown, one that has it as a foreign slot.
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    let base = doc.fork();
    let link = document::edit(&doc, &actor(2), NOW, &[link(Relation::Follows)]).unwrap();
    ingest(&mut doc, &id, &author(2), link).unwrap();
    let links = map_id(&doc, "links");
    let (_, slot) = doc.get(&links, author(2).to_string()).unwrap().unwrap();
    let change = raw_change(&doc, &actor(3), |tx| tx.put(&slot, "x", 1_i64));
    assert!(matches!(
        authorize(&base, &id, &author(3), &change),
        Err(Reject::MissingDependencies(_))
    ));
    assert!(matches!(
        authorize(&doc, &id, &author(3), &change),
        Err(Reject::ForeignSlot { .. })
    ));
}

#[test]
fn any_actor_device_of_the_author_is_accepted() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    let phone = Actor {
        author: author(1),
        device: 77,
    };
    let change = document::edit(&doc, &phone, NOW, &[Edit::AddTag("bio".into())]).unwrap();
    ingest(&mut doc, &id, &author(1), change).unwrap();
    assert!(document::read(&doc).unwrap().tags.contains("bio"));
}

/// Nobody speaks for another: a slot's author is its owner, the signer, and
/// the person it names can only be the owner's own profile, derived from
/// their key; a person whose id is not derived from its author's key is
/// refused, so "the profile of author K" is one entity.
#[test]
fn a_slot_names_its_owner_and_no_other_person() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    edit_as(&mut doc, &id, 2, &[link(Relation::Recommends)]).unwrap();
    let entity = document::read(&doc).unwrap();
    let recommendation = &entity.links[0];
    assert_eq!(recommendation.author, author(2));
    assert_eq!(recommendation.person, EntityId::person_of(&author(2)));

    // Author 2 naming author 3's profile in their own slot: refused.
    let recommends = map_id(&doc, "recommends");
    let (_, slot) = doc
        .get(&recommends, author(2).to_string())
        .unwrap()
        .unwrap();
    let others = EntityId::person_of(&author(3)).to_string();
    let forged = raw_change(&doc, &actor(2), |tx| {
        tx.put(&slot, "person", others.as_str())
    });
    assert!(
        matches!(
            authorize(&doc, &id, &author(2), &forged),
            Err(Reject::ForeignPerson { .. })
        ),
        "a recommendation in another's name"
    );
    // So is a link that names them.
    let links = map_id(&doc, "links");
    let links = raw_change(&doc, &actor(2), |tx| {
        let mine = tx.put_object(&links, author(2).to_string(), ObjType::Map)?;
        let entry = tx.put_object(&mine, "member", ObjType::Map)?;
        tx.put(&entry, "at", ScalarValue::Timestamp(NOW))?;
        tx.put(&entry, "person", others.as_str())
    });
    let verdict = authorize(&doc, &id, &author(2), &links);
    assert!(
        matches!(verdict, Err(Reject::ForeignPerson { .. })),
        "{verdict:?}"
    );
    // Naming their own profile repeats what readers derive anyway.
    let own = EntityId::person_of(&author(2)).to_string();
    let honest = raw_change(&doc, &actor(2), |tx| tx.put(&slot, "person", own.as_str()));
    assert_eq!(authorize(&doc, &id, &author(2), &honest), Ok(()));

    // A person whose id is not derived from its author's key.
    let stray = document::create(&genesis(Kind::Person), &actor(1), NOW, [3; 16], &[]);
    assert!(
        matches!(stray, Err(EditError::NotAllowed(Reject::Genesis(_)))),
        "{stray:?}"
    );
    let profile = document::create(
        &genesis(Kind::Person),
        &actor(1),
        NOW,
        EntityId::person_nonce(&author(1)),
        &[],
    )
    .unwrap();
    assert_eq!(profile.id, EntityId::person_of(&author(1)));
}

/// `change` with the operation at `index` claiming to replace `replaced`
/// (its `pred`): what a hand-made change can say, whatever its key.
fn replacing(
    change: &automerge::Change,
    index: usize,
    replaced: &[&automerge::ObjId],
) -> automerge::Change {
    let mut expanded = automerge::ExpandedChange::from(change);
    expanded.operations[index].pred = replaced
        .iter()
        .map(|op| op.to_string().parse::<automerge::legacy::OpId>().unwrap())
        .collect::<Vec<_>>()
        .into();
    expanded.hash = None;
    automerge::Change::from(expanded)
}

/// The operation holding the value at `name` of the root.
fn op_at(doc: &Automerge, name: &str) -> automerge::ObjId {
    doc.get(ROOT, name).unwrap().unwrap().1
}

/// Automerge lets an operation name any earlier operation as the one it
/// replaces, and erases it: a put of `updated_at` naming the operation
/// that made `address` left the entity without an address (found by the
/// ingest fuzz target), and one naming another author's recommendation
/// erased their claim. An operation replaces only what is at its own place.
#[test]
fn an_operation_replaces_only_the_values_at_its_own_place() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[Edit::SetOpenEdition(true)]);
    let recommend = document::edit(
        &doc,
        &actor(3),
        NOW,
        &[Edit::Link {
            relation: Relation::Recommends,
            comment: Some("Sérieux".into()),
        }],
    )
    .unwrap();
    ingest(&mut doc, &id, &author(3), recommend).unwrap();
    let address = op_at(&doc, "address");
    let recommends = map_id(&doc, "recommends");
    let slot = doc
        .get(&recommends, author(3).to_string())
        .unwrap()
        .unwrap()
        .1;

    // The admin, at a key they may write, naming the address.
    let stamp = raw_change(&doc, &actor(1), |tx| {
        tx.put(ROOT, "updated_at", ScalarValue::Timestamp(NOW + 5))
    });
    let forged = replacing(&stamp, 0, &[&address]);
    assert!(matches!(
        authorize(&doc, &id, &author(1), &forged),
        Err(Reject::ForeignOverwrite { .. })
    ));
    // Before the check, Automerge applied it and the entity no longer read.
    let mut applied = doc.fork();
    applied.apply_changes([forged]).unwrap();
    assert!(document::read(&applied).is_err());

    // Anyone, under open edition, naming another author's recommendation.
    let edit = document::edit(
        &doc,
        &actor(2),
        NOW,
        &[Edit::Set(Field::Description, Value::Text("Fermé".into()))],
    )
    .unwrap();
    let description = edit
        .decode()
        .operations
        .iter()
        .position(|op| op.key == automerge::legacy::Key::Map("description".into()))
        .unwrap();
    let forged = replacing(&edit, description, &[&slot]);
    assert!(matches!(
        authorize(&doc, &id, &author(2), &forged),
        Err(Reject::ForeignOverwrite { .. })
    ));
    // The same edit as written is accepted, and the recommendation stays.
    ingest(&mut doc, &id, &author(2), edit).unwrap();
    let entity = document::read(&doc).unwrap();
    assert!(entity.links.iter().any(|link| link.author == author(3)));

    // An operation of a change outside the dependencies is not replaced
    // either: author 2 names author 3's later edit it has never seen.
    let base = doc.fork();
    let later = document::edit(
        &doc,
        &actor(3),
        NOW,
        &[Edit::Set(Field::Description, Value::Text("Ouvert".into()))],
    )
    .unwrap();
    ingest(&mut doc, &id, &author(3), later).unwrap();
    let unseen = doc.get(ROOT, "description").unwrap().unwrap().1;
    let edit = document::edit(
        &base,
        &actor(2),
        NOW,
        &[Edit::Set(
            Field::Description,
            Value::Text("Fermé le lundi".into()),
        )],
    )
    .unwrap();
    let forged = replacing(&edit, description, &[&unseen]);
    assert!(matches!(
        authorize(&doc, &id, &author(2), &forged),
        Err(Reject::ForeignOverwrite { .. })
    ));
}

/// What Automerge itself writes replaces the values at the operation's
/// place, conflicting ones included, and earlier operations of the same
/// change: all accepted, in maps and in sequences kept under unknown keys.
#[test]
fn replacing_the_values_at_an_operations_place_is_accepted() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[Edit::SetOpenEdition(true)]);
    // Two concurrent descriptions, then one edit that replaces both.
    let set = |doc: &Automerge, n: u8, text: &str| {
        document::edit(
            doc,
            &actor(n),
            NOW,
            &[Edit::Set(Field::Description, Value::Text(text.into()))],
        )
        .unwrap()
    };
    let first = set(&doc, 2, "Garage");
    let second = set(&doc, 3, "Atelier");
    ingest(&mut doc, &id, &author(2), first).unwrap();
    ingest(&mut doc, &id, &author(3), second).unwrap();
    assert_eq!(doc.get_all(ROOT, "description").unwrap().len(), 2);
    let merged = set(&doc, 1, "Garage et atelier");
    ingest(&mut doc, &id, &author(1), merged).unwrap();
    assert_eq!(doc.get_all(ROOT, "description").unwrap().len(), 1);

    // A key written twice in one change, then deleted.
    let change = raw_change(&doc, &actor(1), |tx| {
        tx.put(ROOT, "short_description", "Réparations")?;
        tx.put(ROOT, "short_description", "Réparations rapides")?;
        tx.delete(ROOT, "short_description")
    });
    ingest(&mut doc, &id, &author(1), change).unwrap();

    // A list and a text under an unknown key, edited by an admin.
    let change = raw_change(&doc, &actor(1), |tx| {
        let hours = tx.put_object(ROOT, "future_hours", ObjType::List)?;
        tx.insert(&hours, 0, "lundi")?;
        tx.insert(&hours, 1, "mardi")?;
        let note = tx.put_object(ROOT, "future_note", ObjType::Text)?;
        tx.splice_text(&note, 0, 0, "fermé")
    });
    ingest(&mut doc, &id, &author(1), change).unwrap();
    let hours = doc.get(ROOT, "future_hours").unwrap().unwrap().1;
    let note = doc.get(ROOT, "future_note").unwrap().unwrap().1;
    let change = raw_change(&doc, &actor(1), |tx| {
        tx.put(&hours, 0, "lundi matin")?;
        tx.delete(&hours, 1)?;
        tx.splice_text(&note, 0, 1, "F")?;
        tx.splice_text(&note, 4, 1, "e")
    });
    ingest(&mut doc, &id, &author(1), change).unwrap();
    let entity = document::read(&doc).unwrap();
    assert_eq!(
        entity.extra.get("future_hours"),
        Some(&serde_json::json!(["lundi matin"]))
    );
    assert_eq!(
        entity.extra.get("future_note"),
        Some(&serde_json::json!("Ferme"))
    );
}
