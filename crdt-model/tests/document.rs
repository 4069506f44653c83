//! Creating, editing and reading entities of every kind.

mod common;

use automerge::Automerge;
use common::*;
use crdt_model::document::{self, Edit, EditError, Genesis, Relation};
use crdt_model::ids::EntityId;
use crdt_model::schema::{Field, Kind, ValidationError, Value};

fn text(value: &str) -> Value {
    Value::Text(value.into())
}

#[test]
fn every_kind_is_created_and_read_back() {
    let cases: Vec<(Kind, Vec<Edit>)> = vec![
        (
            Kind::Person,
            vec![Edit::Set(
                Field::ShortDescription,
                text("Jardinière, quartier du Butor"),
            )],
        ),
        (
            Kind::Organization,
            vec![
                Edit::Set(Field::OrganizationType, text("local_business")),
                Edit::Set(Field::Category, text("boulangerie")),
                Edit::Set(Field::OpeningHours, text("Tu-Su 06:00-13:00")),
                Edit::Set(Field::Telephone, text("+262 262 00 00 00")),
                Edit::Set(Field::Url, text("https://boulangerie.example")),
            ],
        ),
        (
            Kind::Project,
            vec![
                Edit::Set(Field::Start, text("2026-03-01")),
                Edit::Set(Field::End, text("2026-09-30")),
                Edit::Set(Field::Progress, text("in_progress")),
                Edit::Set(Field::Licence, text("CC-BY-SA-4.0")),
            ],
        ),
        (
            Kind::Event,
            vec![
                Edit::Set(Field::EventType, text("concert")),
                Edit::Set(Field::Start, text("2026-12-20T19:00+04:00")),
                Edit::Set(Field::End, text("2026-12-20T23:00+04:00")),
                Edit::Set(Field::AllDay, Value::Bool(false)),
                Edit::Set(
                    Field::Organizer,
                    text(&EntityId::from_bytes([4; 16]).to_string()),
                ),
            ],
        ),
        (
            Kind::Place,
            vec![Edit::Set(Field::PlaceType, text("boîte à livres"))],
        ),
    ];
    for (kind, mut edits) in cases {
        edits.extend([
            Edit::Set(Field::Street, text("12 rue de Paris")),
            Edit::Set(Field::InseeCode, text("97411")),
            Edit::Set(Field::Locality, text("Saint-Denis")),
            Edit::AddTag("centre-ville".into()),
            Edit::SetGeo {
                lat: -20.8789,
                lon: 55.4481,
            },
        ]);
        let nonce = match kind {
            Kind::Person => EntityId::person_nonce(&actor(1).author),
            _ => [9; 16],
        };
        let created = document::create(&genesis(kind), &actor(1), NOW, nonce, &edits)
            .unwrap_or_else(|error| panic!("{kind}: {error}"));
        // Saved and loaded, as a store would.
        let doc = Automerge::load(&created.doc.save()).unwrap();
        let entity = document::read(&doc).unwrap();
        assert_eq!(entity.id, created.id);
        assert_eq!(entity.kind, kind);
        assert_eq!(entity.name(), "Garage du Centre");
        assert_eq!(entity.address.postal_code, "97400");
        assert_eq!(entity.address.country, "FR");
        assert_eq!(entity.address.street.as_deref(), Some("12 rue de Paris"));
        assert_eq!(entity.address.insee_code.as_deref(), Some("97411"));
        assert_eq!(entity.geo.map(|g| g.lat), Some(-20.8789));
        assert!(entity.tags.contains("centre-ville"));
        assert_eq!(entity.creator, author(1));
        assert!(entity.admins.contains(&author(1)));
        assert_eq!(entity.open_edition, kind != Kind::Person);
        assert_eq!(entity.created_at, NOW);
        assert_eq!(entity.postal_key(), "97400");
        for edit in &edits {
            if let Edit::Set(field, value) = edit
                && field.container() == crdt_model::schema::Container::Root
            {
                assert_eq!(
                    entity.fields.get(field.key()),
                    Some(value),
                    "{kind} {field}"
                );
            }
        }
        // The JSON form carries the id in base32.
        let json = serde_json::to_value(&entity).unwrap();
        assert_eq!(json["id"], created.id.to_string());
        assert_eq!(json["kind"], kind.as_str());
    }
}

#[test]
fn edits_refuse_what_the_schema_refuses() {
    let (_, doc) = new_entity(Kind::Event, 1, &[]);
    let error = document::edit(
        &doc,
        &actor(1),
        NOW,
        &[Edit::Set(Field::Category, text("garage"))],
    )
    .unwrap_err();
    assert_eq!(
        error,
        EditError::Invalid(ValidationError::FieldNotForKind {
            field: "category".into(),
            kind: Kind::Event
        })
    );
    let error = document::edit(&doc, &actor(1), NOW, &[Edit::Clear(Field::Name)]).unwrap_err();
    assert_eq!(
        error,
        EditError::Invalid(ValidationError::Required("name".into()))
    );
    let error = document::edit(
        &doc,
        &actor(1),
        NOW,
        &[
            Edit::Set(Field::Start, text("2026-12-02")),
            Edit::Set(Field::End, text("2026-12-01")),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            EditError::NotAllowed(crdt_model::authz::Reject::Invalid {
                error: ValidationError::EndBeforeStart { .. },
                ..
            })
        ),
        "{error}"
    );
    let error = document::edit(
        &doc,
        &actor(2),
        NOW,
        &[Edit::Link {
            relation: Relation::Attendee,
            comment: Some("x".repeat(281)),
        }],
    )
    .unwrap_err();
    assert!(
        matches!(error, EditError::Invalid(ValidationError::TooLong { .. })),
        "{error}"
    );
    // A genesis with a bad postal code never becomes a document.
    let bad = Genesis {
        postal_code: "974".into(),
        ..genesis(Kind::Place)
    };
    assert!(matches!(
        document::create(&bad, &actor(1), NOW, [1; 16], &[]),
        Err(EditError::Invalid(ValidationError::PostalCode { .. }))
    ));
    let abroad = Genesis {
        postal_code: "1000".into(),
        country: "BE".into(),
        ..genesis(Kind::Place)
    };
    let created = document::create(&abroad, &actor(1), NOW, [1; 16], &[]).unwrap();
    assert_eq!(
        document::read(&created.doc).unwrap().postal_key(),
        "BE-1000"
    );
}

#[test]
fn clearing_and_moving() {
    let (id, mut doc) = new_entity(
        Kind::Organization,
        1,
        &[
            Edit::Set(Field::Url, text("https://example.org")),
            Edit::SetGeo { lat: 1.0, lon: 2.0 },
        ],
    );
    edit_as(
        &mut doc,
        &id,
        2,
        &[
            Edit::Clear(Field::Url),
            Edit::ClearGeo,
            Edit::Set(Field::PostalCode, text("97490")),
        ],
    )
    .unwrap();
    let entity = document::read(&doc).unwrap();
    assert_eq!(entity.text(Field::Url), None);
    assert_eq!(entity.geo, None);
    assert_eq!(entity.address.postal_code, "97490");
    assert!(entity.updated_at > entity.created_at);
}

#[test]
fn admins_mark_deleted_and_members_are_confirmed() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    edit_as(&mut doc, &id, 2, &[link(Relation::Member)]).unwrap();
    edit_as(
        &mut doc,
        &id,
        3,
        &[Edit::Report("Fermé définitivement".into())],
    )
    .unwrap();
    edit_as(&mut doc, &id, 1, &[Edit::SetDeleted(true)]).unwrap();
    let entity = document::read(&doc).unwrap();
    assert!(entity.deleted);
    assert_eq!(entity.reports.len(), 1);
    assert_eq!(entity.reports[0].reason, "Fermé définitivement");
    assert!(!entity.links[0].confirmed);
    edit_as(
        &mut doc,
        &id,
        1,
        &[Edit::SetDeleted(false), Edit::ConfirmMember(author(2))],
    )
    .unwrap();
    let entity = document::read(&doc).unwrap();
    assert!(!entity.deleted);
    assert!(entity.links[0].confirmed);
}

#[test]
fn reading_something_that_is_not_an_entity_fails_cleanly() {
    assert!(document::read(&Automerge::new()).is_err());
}

#[test]
fn edits_have_a_json_form() {
    let edits = vec![
        Edit::Set(Field::Name, text("Garage Payet")),
        Edit::Set(Field::Lat, Value::Number(-20.9)),
        Edit::Clear(Field::Street),
        Edit::AddTag("bio".into()),
        Edit::SetGeo {
            lat: -20.9,
            lon: 55.4,
        },
        Edit::ClearGeo,
        Edit::AddAdmin(author(2)),
        Edit::SetOpenEdition(false),
        Edit::Link {
            relation: Relation::Recommends,
            comment: Some("Bien".into()),
        },
        Edit::Unlink(Relation::Member),
        Edit::Report("Fermé".into()),
        Edit::WithdrawReport,
    ];
    let json = serde_json::to_value(&edits).unwrap();
    assert_eq!(
        json[0],
        serde_json::json!({"set": ["name", "Garage Payet"]})
    );
    assert_eq!(json[2], serde_json::json!({"clear": "address.street"}));
    assert_eq!(json[5], serde_json::json!("clear_geo"));
    let back: Vec<Edit> = serde_json::from_value(json).unwrap();
    assert_eq!(back, edits);
    let link: Edit =
        serde_json::from_value(serde_json::json!({"link": {"relation": "member"}})).unwrap();
    assert!(matches!(
        link,
        Edit::Link {
            relation: Relation::Member,
            comment: None,
            ..
        }
    ));
    assert!(serde_json::from_value::<Edit>(serde_json::json!({"set": ["colour", "red"]})).is_err());
    assert!(serde_json::from_value::<Edit>(serde_json::json!({"explode": true})).is_err());
}

#[test]
fn an_edit_that_writes_nothing_is_an_error() {
    let (id, mut doc) = new_entity(Kind::Organization, 1, &[]);
    // Author 2 has written before, so a stale "last change" exists for them.
    edit_as(&mut doc, &id, 2, &[Edit::AddTag("bio".into())]).unwrap();
    for edits in [vec![], vec![Edit::Unlink(Relation::Member)]] {
        let error = document::edit(&doc, &actor(2), NOW, &edits).unwrap_err();
        assert_eq!(
            error,
            EditError::Document("the edit changes nothing".into())
        );
    }
}

#[test]
fn first_edits_of_every_sort_apply_in_order_at_creation() {
    // Field, tag and position edits are written in one batch, the others
    // one by one after them: the result must read as if all were applied in
    // order.
    let edits = vec![
        Edit::Set(Field::Name, text("Boulangerie du Port")),
        Edit::AddTag("pain".into()),
        Edit::SetGeo {
            lat: -20.88,
            lon: 55.45,
        },
        Edit::Set(Field::Street, text("1 rue du Port")),
        link(Relation::Recommends),
        Edit::AddTag("viennoiseries".into()),
        Edit::RemoveTag("pain".into()),
        Edit::Set(Field::Street, text("2 rue du Port")),
        Edit::ClearGeo,
    ];
    let created = document::create(
        &genesis(Kind::Organization),
        &actor(1),
        NOW,
        [3; 16],
        &edits,
    )
    .unwrap();
    let entity = document::read(&created.doc).unwrap();
    assert_eq!(entity.name(), "Boulangerie du Port");
    assert_eq!(
        entity.tags.iter().map(String::as_str).collect::<Vec<_>>(),
        ["viennoiseries"]
    );
    assert_eq!(entity.address.street.as_deref(), Some("2 rue du Port"));
    assert_eq!(entity.geo, None);
    assert_eq!(entity.links.len(), 1);
    assert_eq!(entity.created_at, NOW);
    // A bad first edit is refused like a bad later one.
    let refused = document::create(
        &genesis(Kind::Organization),
        &actor(1),
        NOW,
        [3; 16],
        &[Edit::Set(Field::Start, text("2026-01-01"))],
    );
    assert!(matches!(
        refused,
        Err(EditError::Invalid(ValidationError::FieldNotForKind { .. }))
    ));
    // And the change of a creation is the same for the same inputs.
    let again = document::create(
        &genesis(Kind::Organization),
        &actor(1),
        NOW,
        [3; 16],
        &edits,
    )
    .unwrap();
    assert_eq!(again.change.raw_bytes(), created.change.raw_bytes());
}
