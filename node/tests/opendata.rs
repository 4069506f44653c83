//! Open data: every export format read back by an independent parser and
//! imported into another citizen's node; duplicates, malformed files.

use std::collections::{BTreeMap, HashMap, HashSet};

use crdt_model::document::{Edit, Entity, Relation};
use crdt_model::schema::{Field, Kind, Value};
use node::identity::DataDir;
use node::local::{Join, Local};
use node::model::document::NewEntity;
use node::opendata::export::{self, CSV_COLUMNS, ExportOptions, Format};
use node::opendata::import::{self, ImportError, RowOutcome};
use node::opendata::{ATTRIBUTION, Licence};
use node::store::Filter;
use serde_json::Value as Json;

const EMAIL: &str = "anne.hoarau@example.org";

fn citizen(temp: &tempfile::TempDir, name: &str) -> Local {
    let dir = DataDir::resolve(Some(temp.path().join(name))).unwrap();
    Local::init(
        &dir,
        &Join {
            postal_code: "97400".into(),
            name: Some(name.into()),
            email: Some(EMAIL.replace("anne.hoarau", name)),
            ..Join::default()
        },
    )
    .unwrap()
}

fn text(field: Field, value: &str) -> Edit {
    Edit::Set(field, Value::Text(value.into()))
}

fn add(local: &Local, kind: Kind, name: &str, edits: Vec<Edit>) -> Entity {
    local.add(&NewEntity::new(kind, name, edits)).unwrap()
}

/// Anne's directory: one entity of each kind, with most fields, a
/// recommendation and a membership.
fn directory(anne: &Local) -> Vec<Entity> {
    let garage = add(
        anne,
        Kind::Organization,
        "Garage Payet",
        vec![
            text(Field::OrganizationType, "local_business"),
            text(Field::Category, "garage"),
            text(Field::ShortDescription, "Mécanique toutes marques"),
            text(
                Field::Description,
                "Réparations, pneus, contrôle technique.",
            ),
            text(Field::Url, "https://garage-payet.example"),
            text(Field::Telephone, "+262 262 00 00 00"),
            text(Field::OpeningHours, "Mo-Fr 08:00-18:00"),
            text(Field::Street, "12 rue du Port"),
            Edit::SetGeo {
                lat: -20.8789,
                lon: 55.4481,
            },
            Edit::AddTag("mécanique".into()),
            Edit::AddTag("pneus; jantes".into()),
        ],
    );
    anne.edit(
        garage.id,
        &[Edit::Link {
            relation: Relation::Recommends,
            comment: Some("Honnête et rapide".into()),
        }],
    )
    .unwrap();
    let troupe = add(
        anne,
        Kind::Organization,
        "Troupe <b>du</b> Kiosque",
        vec![
            text(Field::OrganizationType, "ngo"),
            text(Field::Category, "théâtre"),
            text(Field::ShortDescription, "Théâtre amateur"),
            Edit::AddTag("théâtre".into()),
        ],
    );
    anne.edit(
        troupe.id,
        &[Edit::Link {
            relation: Relation::Member,
            comment: None,
        }],
    )
    .unwrap();
    let garden = add(
        anne,
        Kind::Place,
        "Jardin partagé du Butor",
        vec![
            text(Field::PlaceType, "shared_garden"),
            text(Field::ShortDescription, "Parcelles et compost"),
            Edit::SetGeo {
                lat: -20.8801,
                lon: 55.4602,
            },
        ],
    );
    add(
        anne,
        Kind::Event,
        "Concert au kiosque",
        vec![
            text(Field::EventType, "concert"),
            text(Field::Start, "2026-12-20T19:00"),
            text(Field::End, "2026-12-20T22:00"),
            Edit::Set(Field::AllDay, Value::Bool(false)),
            text(Field::Street, "Place du kiosque"),
            Edit::SetGeo {
                lat: -20.8795,
                lon: 55.4499,
            },
        ],
    );
    add(
        anne,
        Kind::Project,
        "Compost de quartier",
        vec![
            text(Field::ShortDescription, "Un composteur par rue"),
            text(Field::Start, "2026-01-01"),
            text(Field::Url, "https://compost.example"),
            text(Field::Progress, "in_progress"),
            text(Field::Licence, "CC-BY-SA 4.0"),
        ],
    );
    // A group with only a long description, longer than a short one may be.
    add(
        anne,
        Kind::Organization,
        "Collectif des voisins",
        vec![
            text(Field::OrganizationType, "group"),
            text(
                Field::Description,
                "Entraide, fêtes de rue et repas partagés. "
                    .repeat(10)
                    .trim_end(),
            ),
        ],
    );
    // In a commune that shares its postal code with another, named by its
    // INSEE code alone.
    let dainville = node::model::communes::table()
        .by_postal_code("62000")
        .iter()
        .find(|commune| commune.name == "Dainville")
        .expect("Dainville shares 62000 with Arras");
    anne.add(&NewEntity {
        postal_code: Some("62000".into()),
        ..NewEntity::new(
            Kind::Place,
            "Salle des fêtes de Dainville",
            vec![
                text(Field::PlaceType, "salle"),
                text(Field::InseeCode, dainville.insee),
                text(Field::OpeningHours, "Sa 14:00-18:00"),
            ],
        )
    })
    .unwrap();
    let closed = add(anne, Kind::Organization, "Épicerie fermée", vec![]);
    anne.edit(closed.id, &[Edit::SetDeleted(true)]).unwrap();
    let _ = garden;
    anne.store.list(&Filter::default()).unwrap()
}

fn exported(entities: &[Entity], format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    export::export(
        entities,
        format,
        &ExportOptions {
            licence: Licence::Odbl1,
            postal_key: Some("97400".into()),
            kind: None,
            now_ms: 1_764_000_000_000,
        },
        &mut out,
    )
    .unwrap();
    out
}

/// The fields each format carries, compared after a round trip.
fn carried(format: Format) -> Vec<Field> {
    use Field::*;
    let common = vec![
        Name,
        ShortDescription,
        Url,
        Street,
        PostalCode,
        InseeCode,
        Locality,
        Country,
    ];
    let more: &[Field] = match format {
        Format::Json | Format::GeoJson | Format::JsonLd => &[
            Description,
            Telephone,
            OpeningHours,
            OrganizationType,
            Category,
            Start,
            End,
            EventType,
            PlaceType,
            AllDay,
            Progress,
            Licence,
        ],
        // Its columns are the documented ones.
        Format::Csv => &[
            Description,
            Telephone,
            OpeningHours,
            OrganizationType,
            Category,
            Start,
            End,
            EventType,
            PlaceType,
        ],
    };
    common.into_iter().chain(more.iter().copied()).collect()
}

fn field(entity: &Entity, field: Field) -> Option<String> {
    match field {
        Field::Street => entity.address.street.clone(),
        Field::PostalCode => Some(entity.address.postal_code.clone()),
        Field::InseeCode => entity.address.insee_code.clone(),
        Field::Locality => entity.address.locality.clone(),
        Field::Country => Some(entity.address.country.clone()),
        other => entity
            .fields
            .get(other.key())
            .map(|value| format!("{value:?}")),
    }
}

fn import_all(local: &Local, bytes: &[u8]) -> (import::ImportFile, Vec<RowOutcome>) {
    let file = import::read(bytes).unwrap();
    let outcomes = local.import(&file.rows).unwrap();
    (file, outcomes)
}

#[test]
fn every_format_round_trips_into_another_node() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let entities = directory(&anne);
    let live: Vec<&Entity> = entities
        .iter()
        .filter(|e| !e.deleted && e.kind != Kind::Person)
        .collect();
    assert_eq!(live.len(), 7);
    for format in Format::ALL {
        let bytes = exported(&entities, format);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("example.org"), "{format:?} shows an e-mail");
        assert!(
            !text.contains("Épicerie fermée"),
            "{format:?} shows a deleted entity"
        );

        let bruno = citizen(&temp, &format!("bruno-{}", format.as_str()));
        let (file, outcomes) = import_all(&bruno, &bytes);
        if format == Format::JsonLd {
            // Others' links are theirs: said, not imported.
            assert_eq!(file.warnings, ["properties ignored: member, review"]);
        }
        let imported = outcomes
            .iter()
            .filter(|o| matches!(o, RowOutcome::Imported { .. }))
            .count();
        let expected: Vec<&&Entity> = live
            .iter()
            .filter(|e| format != Format::GeoJson || e.geo.is_some())
            .collect();
        assert_eq!(imported, expected.len(), "{format:?}: {outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| !matches!(o, RowOutcome::Rejected { .. })),
            "{format:?}: {outcomes:?}"
        );
        let theirs: HashMap<String, Entity> = bruno
            .store
            .list(&Filter::default())
            .unwrap()
            .into_iter()
            .map(|e| (e.name().to_owned(), e))
            .collect();
        for original in expected {
            let copy = &theirs[original.name()];
            assert_eq!(copy.kind, original.kind, "{format:?}");
            assert_eq!(copy.geo, original.geo, "{format:?} {}", original.name());
            assert_eq!(copy.tags, original.tags, "{format:?} {}", original.name());
            for carried in carried(format) {
                assert_eq!(
                    field(copy, carried),
                    field(original, carried),
                    "{format:?} {} {carried}",
                    original.name()
                );
            }
            assert_eq!(
                copy.creator,
                bruno.identity.author(),
                "signed by the importer"
            );
        }

        // The same file again: nothing new.
        let again = bruno.import(&file.rows).unwrap();
        assert!(
            again
                .iter()
                .all(|o| matches!(o, RowOutcome::Duplicate | RowOutcome::Skipped { .. })),
            "{format:?}: {again:?}"
        );
    }
}

/// schema.org properties of the types an export uses (from the schema.org
/// vocabulary: a property is listed for a type when its domain includes
/// the type or one of its parents).
fn schema_org_properties() -> HashMap<&'static str, HashSet<&'static str>> {
    let thing = [
        "name",
        "description",
        "disambiguatingDescription",
        "url",
        "identifier",
    ];
    let organization = [
        "address",
        "location",
        "keywords",
        "telephone",
        "member",
        "review",
        "foundingDate",
        "dissolutionDate",
    ];
    let place = ["address", "geo", "keywords", "telephone", "review"];
    let mut types: HashMap<&str, HashSet<&str>> = HashMap::new();
    for kind in ["Organization", "NGO", "GovernmentOrganization", "Project"] {
        types.insert(kind, thing.iter().chain(&organization).copied().collect());
    }
    types.insert(
        "LocalBusiness",
        thing
            .iter()
            .chain(&organization)
            .chain(&place)
            .chain(&["openingHours"])
            .copied()
            .collect(),
    );
    types.insert("Place", thing.iter().chain(&place).copied().collect());
    types.insert(
        "Event",
        thing
            .iter()
            .chain(&[
                "location",
                "startDate",
                "endDate",
                "organizer",
                "attendee",
                "keywords",
                "review",
            ])
            .copied()
            .collect(),
    );
    types.insert(
        "Person",
        thing.iter().chain(&["address"]).copied().collect(),
    );
    types.insert(
        "PostalAddress",
        [
            "streetAddress",
            "postalCode",
            "addressLocality",
            "addressCountry",
            // A Thing's, as a StructuredValue.
            "identifier",
        ]
        .into(),
    );
    types.insert("PropertyValue", ["propertyID", "value"].into());
    types.insert("GeoCoordinates", ["latitude", "longitude"].into());
    types.insert("Review", ["author", "reviewBody", "datePublished"].into());
    types.insert("DefinedTerm", ["name", "inDefinedTermSet"].into());
    types.insert(
        "Dataset",
        [
            "name",
            "license",
            "creditText",
            "dateModified",
            "isAccessibleForFree",
        ]
        .into(),
    );
    types
}

/// Checks a node and the typed nodes inside it; collects `@id` references.
fn check_node(
    node: &Json,
    types: &HashMap<&str, HashSet<&str>>,
    references: &mut Vec<String>,
) -> Result<(), String> {
    let object = node.as_object().ok_or("a node is not an object")?;
    if object.len() == 1
        && let Some(Json::String(id)) = object.get("@id")
    {
        references.push(id.clone());
        return Ok(());
    }
    let kind = object
        .get("@type")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("a node without @type: {node}"))?;
    let allowed = types
        .get(kind)
        .ok_or_else(|| format!("{kind} is not a schema.org type the export may use"))?;
    for (key, value) in object {
        if key.starts_with('@') {
            continue;
        }
        if !allowed.contains(key.as_str()) {
            return Err(format!("{kind} has no property {key}"));
        }
        let values = match value {
            Json::Array(values) => values.iter().collect(),
            other => vec![other],
        };
        for value in values {
            if value.is_object() {
                check_node(value, types, references)?;
            }
        }
    }
    if let Some(geo) = object.get("geo") {
        let lat = geo["latitude"].as_f64().ok_or("latitude is not a number")?;
        let lon = geo["longitude"]
            .as_f64()
            .ok_or("longitude is not a number")?;
        assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
    }
    Ok(())
}

#[test]
fn json_ld_uses_schema_org_types_and_properties_and_resolves_its_references() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let entities = directory(&anne);
    let document: Json = serde_json::from_slice(&exported(&entities, Format::JsonLd)).unwrap();
    assert_eq!(document["@context"], "https://schema.org");
    let graph = document["@graph"].as_array().unwrap();
    let types = schema_org_properties();
    let mut references = Vec::new();
    for node in graph {
        if let Err(problem) = check_node(node, &types, &mut references) {
            panic!("{problem}: {node:#}");
        }
    }
    let dataset = &graph[0];
    assert_eq!(dataset["@type"], "Dataset");
    assert_eq!(dataset["license"], Licence::Odbl1.url());
    assert_eq!(dataset["creditText"], ATTRIBUTION);
    let ids: HashSet<&str> = graph.iter().filter_map(|n| n["@id"].as_str()).collect();
    assert!(!references.is_empty());
    for reference in &references {
        assert!(ids.contains(reference.as_str()), "dangling {reference}");
    }
    let kinds: BTreeMap<&str, &str> = graph
        .iter()
        .filter_map(|n| Some((n["name"].as_str()?, n["@type"].as_str()?)))
        .collect();
    assert_eq!(kinds["Garage Payet"], "LocalBusiness");
    assert_eq!(kinds["Troupe <b>du</b> Kiosque"], "NGO");
    assert_eq!(kinds["Concert au kiosque"], "Event");
    assert_eq!(kinds["Jardin partagé du Butor"], "Place");
    assert_eq!(kinds["Compost de quartier"], "Project");
    assert_eq!(kinds["anne"], "Person");
    let garage = graph.iter().find(|n| n["name"] == "Garage Payet").unwrap();
    assert_eq!(garage["review"][0]["reviewBody"], "Honnête et rapide");
    let troupe = graph.iter().find(|n| n["@type"] == "NGO").unwrap();
    assert_eq!(troupe["member"].as_array().unwrap().len(), 1);
}

/// Exports are written as the entities come, never holding the directory:
/// the bytes are still exactly those of the whole document printed at once
/// (pretty, keys in order), with entities and without.
#[test]
fn streamed_json_exports_are_the_whole_document_printed_at_once() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let entities = directory(&anne);
    for format in [Format::Json, Format::JsonLd, Format::GeoJson] {
        for entities in [&entities[..], &[]] {
            let bytes = exported(entities, format);
            let whole: Json = serde_json::from_slice(&bytes)
                .unwrap_or_else(|error| panic!("{format:?}: {error}"));
            let printed = serde_json::to_string_pretty(&whole).unwrap() + "\n";
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                printed,
                "{format:?}, {} entities",
                entities.len()
            );
        }
    }
    let json: Json = serde_json::from_slice(&exported(&entities, Format::Json)).unwrap();
    let shown = entities.iter().filter(|entity| !entity.deleted).count();
    assert_eq!(json["meta"]["count"], shown);
    assert_eq!(json["entities"].as_array().map(Vec::len), Some(shown));
}

#[test]
fn geojson_is_a_valid_feature_collection_of_the_placed_entities() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let entities = directory(&anne);
    let text = String::from_utf8(exported(&entities, Format::GeoJson)).unwrap();
    let parsed: geojson::GeoJson = text.parse().unwrap();
    let geojson::GeoJson::FeatureCollection(collection) = parsed else {
        panic!("not a FeatureCollection");
    };
    let placed: Vec<&Entity> = entities
        .iter()
        .filter(|e| e.geo.is_some() && !e.deleted && e.kind != Kind::Person)
        .collect();
    assert_eq!(collection.features.len(), placed.len());
    for feature in &collection.features {
        let properties = feature.properties.as_ref().unwrap();
        let name = properties["name"].as_str().unwrap();
        let entity = placed.iter().find(|e| e.name() == name).unwrap();
        let geo = entity.geo.unwrap();
        match &feature.geometry.as_ref().unwrap().value {
            geojson::Value::Point(point) => assert_eq!(point.as_slice(), [geo.lon, geo.lat]),
            other => panic!("{other:?}"),
        }
    }
    let members = collection.foreign_members.unwrap();
    assert_eq!(members["licence"]["id"], "odbl-1.0");
    assert_eq!(members["attribution"], ATTRIBUTION);
}

#[test]
fn csv_has_its_documented_columns_and_one_row_per_entity() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let entities = directory(&anne);
    let bytes = exported(&entities, Format::Csv);
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let shown = entities.iter().filter(|e| !e.deleted).count();
    assert_eq!(rows.len(), shown);
    let column = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let garage = rows
        .iter()
        .find(|row| &row[column("name")] == "Garage Payet")
        .unwrap();
    assert_eq!(&garage[column("type")], "local_business");
    assert_eq!(&garage[column("lat")], "-20.8789");
    assert_eq!(&garage[column("licence")], "odbl-1.0");
    // A tag holding `;` keeps the cell lossless.
    assert_eq!(&garage[column("tags")], r#"["mécanique","pneus; jantes"]"#);
    let person = rows
        .iter()
        .find(|row| &row[column("kind")] == "person")
        .unwrap();
    assert_eq!(&person[column("street")], "");
    assert_eq!(&person[column("lat")], "");
}

/// Rows as Communecter's data places them reach the right commune once
/// stored: a CEDEX code becomes its commune's, a locality that is not the
/// postal code's gets no INSEE code rather than the code's commune's.
#[test]
fn imported_rows_are_stored_in_their_commune() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let file = import::read(
        r#"{"entities": {
            "1": {"name": "Mairie annexe", "address": {"postalCode": "59044", "addressLocality": "Lille Cedex", "addressCountry": "FR"}},
            "2": {"name": "Beffroi", "address": {"postalCode": "59000", "addressLocality": "Douai", "addressCountry": "FR"}},
            "3": {"name": "Case créole", "address": {"postalCode": "97400", "addressLocality": "Saint-Denis", "addressCountry": "RE"}}
        }}"#
        .as_bytes(),
    )
    .unwrap();
    let outcomes = anne.import(&file.rows).unwrap();
    let entity = |n: usize| match &outcomes[n] {
        RowOutcome::Imported { id, .. } => {
            anne.store.entity(&id.parse().unwrap()).unwrap().unwrap()
        }
        other => panic!("row {n}: {other:?}"),
    };
    let lille = entity(0);
    assert_eq!(lille.address.postal_code, "59000");
    assert_eq!(lille.address.insee_code.as_deref(), Some("59350"));
    let douai = entity(1);
    assert_eq!(douai.address.insee_code, None);
    assert_eq!(douai.address.locality.as_deref(), Some("Douai"));
    let reunion = entity(2);
    assert_eq!(
        (reunion.address.country.as_str(), reunion.postal_key()),
        ("FR", "97400".to_owned())
    );
    assert_eq!(reunion.address.insee_code.as_deref(), Some("97411"));
}

/// A French row placed far from its commune is kept without its position,
/// and the import says so; a row placed in its commune, or in one of which
/// the table has no outline (Nouméa), keeps it.
#[test]
fn a_position_far_from_its_commune_is_left_out_of_its_row() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let file = import::read(
        "name,postal_code,insee_code,lat,lon\n\
         Café de la Roquette,75011,75111,43.296,5.37\n\
         Boulangerie Voltaire,75011,,48.859,2.38\n\
         Marché de Nouméa,98800,,48.859,2.38\n"
            .as_bytes(),
    )
    .unwrap();
    let outcomes = anne.import(&file.rows).unwrap();
    let imported = |n: usize| match &outcomes[n] {
        RowOutcome::Imported { id, warnings } => (
            anne.store.entity(&id.parse().unwrap()).unwrap().unwrap(),
            warnings.clone(),
        ),
        other => panic!("row {n}: {other:?}"),
    };
    let (cafe, warnings) = imported(0);
    assert_eq!(cafe.geo, None);
    assert_eq!(cafe.address.insee_code.as_deref(), Some("75111"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "position 43.296, 5.37 left out: the position is 653 km from Paris 11e Arrondissement (75011)"
        ),
        "{warnings:?}"
    );
    assert_eq!(file.rows[0].at, "line 2");
    for n in [1, 2] {
        let (entity, warnings) = imported(n);
        assert!(entity.geo.is_some(), "row {n}");
        assert!(warnings.is_empty(), "row {n}: {warnings:?}");
    }
}

/// E-mail addresses someone wrote into a description (or an import
/// brought) never reach an export, in any format; the import says so.
#[test]
fn exports_leave_out_e_mail_addresses_written_in_texts() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let file = import::read(
        "name,postal_code,lat,lon,description\nAtelier,97400,-20.9,55.45,Écrire à contact.atelier@example.org. Merci !\n"
            .as_bytes(),
    )
    .unwrap();
    let outcomes = anne.import(&file.rows).unwrap();
    match &outcomes[0] {
        RowOutcome::Imported { warnings, .. } => {
            assert_eq!(
                warnings,
                &["description holds an e-mail address: kept on this node, left out of exports"]
            );
        }
        other => panic!("{other:?}"),
    }
    let entities = anne.store.list(&Filter::default()).unwrap();
    for format in Format::ALL {
        let text = String::from_utf8(exported(&entities, format)).unwrap();
        assert!(!text.contains("example.org"), "{format:?}: {text}");
        assert!(
            text.contains("Écrire à [e-mail]. Merci"),
            "{format:?}: {text}"
        );
    }
}

#[test]
fn malformed_files_import_nothing_and_say_why() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let entities = directory(&anne);
    let before = anne.store.counts().unwrap();
    let json = exported(&entities, Format::Json);
    let truncated = &json[..json.len() / 2];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", truncated.to_vec()),
        (
            "wrong columns",
            b"titre;adresse;ville\nGarage;1 rue;Saint-Denis\n".to_vec(),
        ),
        (
            "binary garbage",
            (0..4096u32)
                .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        ("100 MB", {
            let mut big = b"name,postal_code\n".to_vec();
            big.resize(100 * 1024 * 1024, b'x');
            big
        }),
    ];
    for (what, bytes) in cases {
        let error = import::read(&bytes).expect_err(what);
        let message = error.to_string();
        match what {
            "truncated JSON" => assert!(matches!(error, ImportError::Json(_)), "{message}"),
            "wrong columns" => assert!(message.contains("no name column"), "{message}"),
            "binary garbage" => assert!(matches!(error, ImportError::NotText(_)), "{message}"),
            _ => assert!(matches!(error, ImportError::TooLarge(_)), "{message}"),
        }
    }
    // Rows with problems are refused one by one; the good ones go in.
    let file = import::read(
        "name,postal_code,lat,lon,kind\n\
         Bonne adresse,97400,,,\n\
         ,97400,,,\n\
         Mauvais code,974,,,\n\
         Loin,97400,95,10,\n\
         Inconnu,97400,,,spaceship\n"
            .as_bytes(),
    )
    .unwrap();
    let outcomes = anne.import(&file.rows).unwrap();
    let reasons: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            RowOutcome::Rejected { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(matches!(outcomes[0], RowOutcome::Imported { .. }));
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0], "missing name");
    assert!(reasons[1].contains("974"), "{reasons:?}");
    assert!(reasons[2].contains("spaceship"), "{reasons:?}");
    // A bad position is left out, the row kept.
    match &outcomes[3] {
        RowOutcome::Imported { warnings, .. } => {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(
                warnings[0].starts_with("position 95, 10 left out"),
                "{warnings:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let after = anne.store.counts().unwrap();
    assert_eq!(after.documents, before.documents + 2);
    // Nothing acknowledged before was lost.
    for entity in &entities {
        assert_eq!(
            anne.store.entity(&entity.id).unwrap().as_ref(),
            Some(entity)
        );
    }
}

#[test]
fn duplicates_are_found_across_import_batches_and_after_other_writes() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let row = |name: &str, street: &str| import::ImportRow {
        at: name.into(),
        values: BTreeMap::from([
            ("kind".to_owned(), "organization".to_owned()),
            ("name".to_owned(), name.to_owned()),
            ("postal_code".to_owned(), "97400".to_owned()),
            ("street".to_owned(), street.to_owned()),
        ]),
        tags: Vec::new(),
    };
    let garage = row("Garage Payet", "12 rue de Paris");
    let first = anne.import(std::slice::from_ref(&garage)).unwrap();
    assert!(
        matches!(first[..], [RowOutcome::Imported { .. }]),
        "{first:?}"
    );

    // The next batch, nothing written in between: the garage is known.
    let bakery = row("Boulangerie du Port", "3 quai Ouest");
    let second = anne.import(&[garage.clone(), bakery]).unwrap();
    assert!(
        matches!(
            second[..],
            [RowOutcome::Duplicate, RowOutcome::Imported { .. }]
        ),
        "{second:?}"
    );

    // An entity added by other means between two batches is known too.
    add(
        &anne,
        Kind::Organization,
        "Crèche Les Lutins",
        vec![text(Field::Street, "8 rue des Écoles")],
    );
    let third = anne
        .import(&[row("Crèche Les Lutins", "8 rue des Écoles"), garage])
        .unwrap();
    assert!(
        matches!(third[..], [RowOutcome::Duplicate, RowOutcome::Duplicate]),
        "{third:?}"
    );
}

/// What anyone may publish as a name, a tag or a description does not run
/// as a formula in the spreadsheet of whoever opens the CSV export: cells
/// that start like one get a leading `'` (OWASP), and importing the file
/// gives every value back exactly.
#[test]
fn csv_cells_never_start_a_formula_and_come_back_exactly() {
    let temp = tempfile::tempdir().unwrap();
    let anne = citizen(&temp, "anne");
    let names = [
        "=HYPERLINK(\"http://example.org\",\"Cliquez\")",
        "+SUM(1;2)",
        "@commande",
        "-2+3",
        "'=déjà cité",
    ];
    for name in names {
        add(
            &anne,
            Kind::Organization,
            name,
            vec![
                Edit::AddTag("=cmd".into()),
                text(Field::Description, "-1 point"),
                text(Field::Telephone, "+262 262 00 00 00"),
            ],
        );
    }
    let entities = anne.store.list(&Filter::default()).unwrap();
    let bytes = exported(&entities, Format::Csv);
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let column = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let mut rows = 0;
    for row in reader.records().map(Result::unwrap) {
        rows += 1;
        for (index, cell) in row.iter().enumerate() {
            if index == column("lat") || index == column("lon") {
                continue;
            }
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{} starts a formula: {cell:?}",
                CSV_COLUMNS[index]
            );
        }
    }
    assert_eq!(rows, entities.len());

    let bruno = citizen(&temp, "bruno");
    let (_, outcomes) = import_all(&bruno, &bytes);
    assert!(
        outcomes
            .iter()
            .all(|o| !matches!(o, RowOutcome::Rejected { .. })),
        "{outcomes:?}"
    );
    let theirs = bruno.store.list(&Filter::default()).unwrap();
    for name in names {
        let copy = theirs
            .iter()
            .find(|entity| entity.name() == name)
            .unwrap_or_else(|| panic!("{name} did not come back"));
        assert!(copy.tags.contains("=cmd"), "{:?}", copy.tags);
        assert_eq!(copy.text(Field::Description), Some("-1 point"));
        assert_eq!(copy.text(Field::Telephone), Some("+262 262 00 00 00"));
    }
}

#[test]
fn the_csv_escape_is_undone_exactly() {
    for text in [
        "", "a", "=", "'", "''", "'=", "''=", "'a", "=1+1", "\tx", "\rx", "-3", "@a", "'@a", "é=",
        "Garage",
    ] {
        assert_eq!(export::csv_text(&export::csv_cell(text)), text, "{text:?}");
    }
}
