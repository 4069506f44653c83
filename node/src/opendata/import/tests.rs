//! Reading import files and making entities of their rows.

use super::*;
use crdt_model::document::Edit;
use crdt_model::schema::{Field, Kind, Value};

#[test]
fn duplicates_are_found_whatever_the_accents_case_and_punctuation() {
    let new = |name: &str, street: &str| NewEntity {
        postal_code: Some("97400".into()),
        ..NewEntity::new(
            Kind::Organization,
            name,
            vec![Edit::Set(
                Field::Street,
                crdt_model::schema::Value::Text(street.into()),
            )],
        )
    };
    let mut known = Duplicates::default();
    known.insert(&new("Crèche Les Camélias", "12, rue de l'Église"));
    assert!(known.contains(&new("CRECHE LES CAMELIAS", "12 rue de l Eglise")));
    assert!(known.contains(&new("  crèche   les camélias ", "12, Rue de l'Église")));
    assert!(!known.contains(&new("Crèche Les Lilas", "12, rue de l'Église")));
    assert!(!known.contains(&new("Crèche Les Camélias", "14, rue de l'Église")));
}

fn one(bytes: &str) -> ImportRow {
    let file = read(bytes.as_bytes()).unwrap();
    assert_eq!(file.rows.len(), 1, "{file:?}");
    file.rows[0].clone()
}

#[test]
fn csv_rows_are_checked_one_by_one() {
    let file = read(
        b"name,postal_code,lat,lon,tags,colour\n\
          Garage Payet,97400,-20.88,55.45,m\xc3\xa9canique;pneus,red\n\
          ,97400,,,,\n\
          Boulangerie,9740,,,,\n\
          Cr\xc3\xa8che,97400,120,55,,\n\
          Tiers-lieu,97400,-20.9,,,\n",
    )
    .unwrap();
    assert_eq!(file.format, "csv");
    assert_eq!(file.warnings, ["columns ignored: colour"]);
    let outcomes: Vec<Result<(NewEntity, Vec<String>), String>> =
        file.rows.iter().map(new_entity).collect();
    let (garage, _) = outcomes[0].as_ref().unwrap();
    assert_eq!(garage.name, "Garage Payet");
    assert!(garage.edits.contains(&Edit::AddTag("mécanique".into())));
    assert!(garage.edits.contains(&Edit::SetGeo {
        lat: -20.88,
        lon: 55.45
    }));
    assert_eq!(outcomes[1].as_ref().unwrap_err(), "missing name");
    assert!(outcomes[2].as_ref().unwrap_err().contains("9740"));
    // A bad position is left out; the row is kept.
    for bad in [&outcomes[3], &outcomes[4]] {
        let (new, warnings) = bad.as_ref().unwrap();
        assert!(!new.edits.iter().any(|e| matches!(e, Edit::SetGeo { .. })));
        assert!(warnings[0].starts_with("position"), "{warnings:?}");
    }
    assert_eq!(file.rows[2].at, "line 4");
}

#[test]
fn semicolon_csv_and_short_rows() {
    let file = read("titre;x\n".as_bytes());
    assert!(matches!(
        file,
        Err(ImportError::Columns {
            missing: "name",
            ..
        })
    ));
    let file = read("name;postal_code;kind\nMarché;97400;event\nSeul\n".as_bytes()).unwrap();
    let (market, _) = new_entity(&file.rows[0]).unwrap();
    assert_eq!(market.kind, Kind::Event);
    assert_eq!(
        new_entity(&file.rows[1]).unwrap_err(),
        "1 cells where the header has 3"
    );
}

#[test]
fn communecter_api_json_maps_its_fields() {
    let row = one(
        r#"{"entities": {"5a1": {"name": "Les Amis du Kiosque", "type": "NGO",
            "shortDescription": "Concerts au kiosque",
            "address": {"streetAddress": "1 rue du Port", "postalCode": "97400", "addressLocality": "Saint-Denis", "addressCountry": "FR"},
            "geo": {"latitude": "-20.88", "longitude": "55.45"},
            "tags": ["musique", "kiosque"]}}}"#,
    );
    let (new, warnings) = new_entity(&row).unwrap();
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(new.kind, Kind::Organization);
    assert!(new.edits.contains(&Edit::Set(
        Field::OrganizationType,
        crdt_model::schema::Value::Text("ngo".into())
    )));
    assert!(new.edits.contains(&Edit::Set(
        Field::ShortDescription,
        crdt_model::schema::Value::Text("Concerts au kiosque".into())
    )));
    assert!(new.edits.contains(&Edit::SetGeo {
        lat: -20.88,
        lon: 55.45
    }));
    assert_eq!(
        new.edits
            .iter()
            .filter(|e| matches!(e, Edit::AddTag(_)))
            .count(),
        2
    );
}

/// Values as Communecter's own data holds them: each bad one is left
/// out with a warning, or tidied, and the row is kept.
#[test]
fn real_communecter_values_keep_their_row() {
    let row = one(
        r#"{"entities": {"5b2": {"name": "La Ruche", "type": "incubateur",
            "description": "Un tiers-lieu.\r\nOuvert le samedi.",
            "url": "www.laruche.example",
            "address": {"postalCode": "59000", "addressLocality": "Lille", "codeInsee": "undefined", "addressCountry": "FR"},
            "tags": ["", " culture", "Troc/don", "économie sociale"]}}}"#,
    );
    let (new, warnings) = new_entity(&row).unwrap();
    let text = |field: Field| {
        new.edits.iter().find_map(|edit| match edit {
            Edit::Set(set, Value::Text(text)) if *set == field => Some(text.as_str()),
            _ => None,
        })
    };
    // A free-text type is the category; no organization type.
    assert_eq!(text(Field::Category), Some("incubateur"));
    assert_eq!(text(Field::OrganizationType), None);
    assert_eq!(
        text(Field::Description),
        Some("Un tiers-lieu.\nOuvert le samedi.")
    );
    assert_eq!(text(Field::Url), Some("https://www.laruche.example"));
    // Not "undefined": the commune the locality names.
    assert_eq!(text(Field::InseeCode), Some("59350"));
    let tags: Vec<&str> = new
        .edits
        .iter()
        .filter_map(|edit| match edit {
            Edit::AddTag(tag) => Some(tag.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tags, ["culture", "Troc don", "économie sociale"]);
    // "undefined" is a placeholder of Communecter's pages: no value.
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// Where Communecter's data puts an entity: overseas country codes,
/// CEDEX codes, postal codes shared by several communes, a locality
/// that is not the postal code's, a leading zero lost.
#[test]
fn the_commune_comes_from_the_postal_code_and_the_locality() {
    let place = |country: &str, code: &str, locality: &str| {
        let json = format!(
            r#"{{"entities": {{"1": {{"name": "Lieu", "address": {{"postalCode": "{code}", "addressLocality": "{locality}", "addressCountry": "{country}"}}}}}}}}"#
        );
        let (new, warnings) = new_entity(&one(&json)).unwrap();
        let insee = new.edits.iter().rev().find_map(|edit| match edit {
            Edit::Set(Field::InseeCode, Value::Text(insee)) => Some(Some(insee.clone())),
            Edit::Clear(Field::InseeCode) => Some(None),
            _ => None,
        });
        (new, insee.flatten(), warnings)
    };
    let (new, insee, warnings) = place("RE", "97400", "Saint-Denis");
    assert_eq!(
        (new.country.as_deref(), new.postal_code.as_deref()),
        (Some("FR"), Some("97400"))
    );
    assert_eq!(insee.as_deref(), Some("97411"));
    assert!(warnings.is_empty(), "{warnings:?}");

    let (new, insee, warnings) = place("FR", "59044", "LILLE CEDEX");
    assert_eq!(new.postal_code.as_deref(), Some("59000"));
    assert_eq!(insee.as_deref(), Some("59350"));
    assert!(warnings[0].contains("CEDEX"), "{warnings:?}");

    let (_, insee, _) = place("FR", "62000", "Dainville");
    assert_eq!(insee.as_deref(), Some("62263"));

    let (_, insee, warnings) = place("FR", "59000", "Douai");
    assert_eq!(insee, None, "Douai is not Lille");
    assert!(
        warnings[0].contains("not a commune of postal code 59000"),
        "{warnings:?}"
    );

    let (new, insee, _) = place("FR", "1400", "Châtillon-sur-Chalaronne");
    assert_eq!(new.postal_code.as_deref(), Some("01400"));
    assert_eq!(insee.as_deref(), Some("01093"));

    // La Poste's abbreviations name the commune.
    let (_, insee, warnings) = place("RE", "97410", "ST PIERRE");
    assert_eq!(insee.as_deref(), Some("97416"), "{warnings:?}");
    let (new, insee, warnings) = place("RE", "97490", "STE CLOTILDE");
    // A quarter that is no commune, under a code of one commune.
    assert_eq!(insee.as_deref(), Some("97411"), "{warnings:?}");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(new.edits.contains(&Edit::Set(
        Field::Locality,
        Value::Text("Saint-Denis".into())
    )));
    // Not when it is another commune's name.
    let (_, insee, _) = place("FR", "59000", "St Omer");
    assert_eq!(insee, None, "Saint-Omer is not Lille");
}

#[test]
fn a_record_without_a_postal_code_takes_its_insee_communes() {
    let entity = |address: &str, geo: &str| {
        let json = format!(r#"[{{"name": "Lieu", "address": {address}{geo}}}]"#);
        new_entity(&one(&json))
    };
    // One commune, one code.
    let (new, warnings) = entity(
        r#"{"codeInsee": "97404", "addressLocality": "Étang-Salé", "addressCountry": "RE"}"#,
        "",
    )
    .unwrap();
    assert_eq!(new.postal_code.as_deref(), Some("97427"));
    assert_eq!(
        warnings,
        ["postal code 97427 taken from the INSEE code 97404 (L'Étang-Salé)"]
    );
    // A commune of several codes: its main one, not a village's.
    let (new, _) = entity(r#"{"codeInsee": "97415"}"#, "").unwrap();
    assert_eq!(new.postal_code.as_deref(), Some("97460"));
    // Paris as 75000: one of its codes, said, and its position kept.
    let (new, warnings) = entity(
        r#"{"codeInsee": "75056", "postalCode": "75000", "addressLocality": "PARIS"}"#,
        r#", "geo": {"latitude": "48.8569", "longitude": "2.3412"}"#,
    )
    .unwrap();
    assert_eq!(new.postal_code.as_deref(), Some("75010"), "{warnings:?}");
    assert_eq!(
        warnings,
        [
            "postal code 75000 is no commune's: 75010 (one of 21) of the INSEE code 75056 (Paris) used"
        ]
    );
    assert!(
        new.edits
            .iter()
            .any(|edit| matches!(edit, Edit::SetGeo { .. }))
    );
    // Neither: refused, and a postal code that is an INSEE code said so.
    assert_eq!(
        entity(r#"{"addressLocality": "Saint-Denis"}"#, "").unwrap_err(),
        "missing postal code"
    );
    assert_eq!(
        entity(r#"{"postalCode": "13055"}"#, "").unwrap_err(),
        "13055 is not a French postal code we know (it is the INSEE code of Marseille, whose postal code is 13001)"
    );
    // A JavaScript placeholder is no value, and no warning.
    let (_, warnings) = entity(
        r#"{"postalCode": "97400", "codeInsee": "undefined", "addressLocality": "Saint-Denis"}"#,
        "",
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn line_breaks_in_a_one_line_field_become_spaces() {
    let row = one(
        r#"[{"name": "MYTROC\r\n.fr", "address": {"postalCode": "97400"}, "shortDescription": "Réinventons le Monde !\r\nGrâce au troc,\t le prêt", "description": "Un\r\ndeux"}]"#,
    );
    let (new, warnings) = new_entity(&row).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(new.name, "MYTROC .fr");
    assert!(new.edits.contains(&Edit::Set(
        Field::ShortDescription,
        Value::Text("Réinventons le Monde ! Grâce au troc, le prêt".into())
    )));
    assert!(new.edits.contains(&Edit::Set(
        Field::Description,
        Value::Text("Un\ndeux".into())
    )));
}

#[test]
fn records_by_id_are_numbered_in_the_files_order() {
    let file = read(
        br#"{"zz9": {"name": "Premier", "address": {"postalCode": "97400"}},
             "aa1": {"name": "Second", "address": {"postalCode": "97400"}}}"#,
    )
    .unwrap();
    let at: Vec<&str> = file.rows.iter().map(|row| row.at.as_str()).collect();
    assert_eq!(at, ["entity 1 (Premier)", "entity 2 (Second)"]);
    let file = read(br#"{"entities": {"b": {"name": "Un"}, "a": {"name": "Deux"}}}"#).unwrap();
    assert_eq!(file.rows[0].at, "entity 1 (Un)");
}

/// Communecter's 2015 bulk import: lists by collection, `address.cp`, the
/// country by name, several addresses.
#[test]
fn a_communecter_bulk_file_is_read_by_collection() {
    let file = read(
        r#"{"linkAllToActiveUser": true,
            "organizations": [
              {"name": "APLAMEDOM", "type": "Asso", "email": "x@example.org",
               "address": {"cp": "97490", "streetAddress": "2 rue Maxime Rivière", "addressCountry": "Réunion"},
               "telephone": "0262.93.88.18", "url": "www.aplamedom.org"},
              {"name": "CEMEA", "type": "Asso",
               "address": [{"streetAddress": "45, ruelle Magnan", "addressCountry": "Réunion"},
                           {"streetAddress": "13 route du Moufia", "cp": "97490", "addressCountry": "Réunion"}]}],
            "citoyens": [{"name": "Une personne", "email": ""}],
            "list": [{"name": "tags", "list": ["Jardin"]}]}"#
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(file.format, "communecter-api");
    assert_eq!(
        file.warnings,
        [
            "lists ignored: linkAllToActiveUser, list",
            "keys ignored: email"
        ]
    );
    assert_eq!(file.rows.len(), 3);
    assert!(is_person(&file.rows[2]), "{:?}", file.rows[2]);
    let (aplamedom, warnings) = new_entity(&file.rows[0]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        (
            aplamedom.country.as_deref(),
            aplamedom.postal_code.as_deref()
        ),
        (Some("FR"), Some("97490"))
    );
    assert!(aplamedom.edits.contains(&Edit::Set(
        Field::Url,
        Value::Text("https://www.aplamedom.org".into())
    )));
    assert!(
        aplamedom
            .edits
            .contains(&Edit::Set(Field::Category, Value::Text("Asso".into())))
    );
    let (cemea, _) = new_entity(&file.rows[1]).unwrap();
    assert_eq!(cemea.postal_code.as_deref(), Some("97490"));
    assert!(cemea.edits.contains(&Edit::Set(
        Field::Street,
        Value::Text("13 route du Moufia".into())
    )));
    assert!(cemea.edits.contains(&Edit::Set(
        Field::Description,
        Value::Text("Autres adresses : 45, ruelle Magnan".into())
    )));
}

/// A French spreadsheet as saved on Windows: French column names, `;`,
/// Windows-1252, decimal commas, a postal code that lost its zero, CRLF.
#[test]
fn a_french_windows_spreadsheet_is_read() {
    let mut bytes = b"nom;adresse;code_postal;ville;latitude;longitude;Mots-cl\xe9s\r\n".to_vec();
    bytes.extend(b"Caf\xe9 des Arts;1 place du March\xe9;1400;Ch\xe2tillon-sur-Chalaronne;46,1181;4,9567;caf\xe9\r\n");
    bytes.extend(b";2 rue Neuve;62000;Arras;;;\r\n");
    let file = read(&bytes).unwrap();
    assert_eq!(file.warnings, ["not UTF-8: read as Windows-1252"]);
    assert_eq!(file.rows[0].values["name"], "Café des Arts");
    assert_eq!(file.rows[0].tags, ["café"]);
    let (cafe, warnings) = new_entity(&file.rows[0]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(cafe.postal_code.as_deref(), Some("01400"));
    assert!(cafe.edits.contains(&Edit::SetGeo {
        lat: 46.1181,
        lon: 4.9567
    }));
    assert!(cafe.edits.contains(&Edit::Set(
        Field::Street,
        Value::Text("1 place du Marché".into())
    )));
    // The row's line, CRLF or not.
    assert_eq!(file.rows[1].at, "line 3");
    assert_eq!(new_entity(&file.rows[1]).unwrap_err(), "missing name");
    // Columns it cannot place say which names it takes.
    let error = read(b"titre;ville\nX;Lille\n").unwrap_err().to_string();
    assert!(error.contains("name or nom"), "{error}");
}

/// A JSON file says which keys it does not read, names each row by its
/// name, and a Communecter record that says its collection keeps its
/// address and position.
#[test]
fn json_rows_are_named_and_unread_keys_said() {
    let file = read(
        br#"[{"kind": "organization", "name": "Garage", "couleur": "bleu", "address": {"postal_code": "97400"}},
            {"kind": "organization", "address": {"postal_code": "97400"}}]"#,
    )
    .unwrap();
    assert_eq!(file.warnings, ["keys ignored: couleur"]);
    assert_eq!(file.rows[0].at, "entity 1 (Garage)");
    assert_eq!(file.rows[1].at, "entity 2");

    let row = one(
        r#"{"entities": {"7": {"name": "Jardin partagé", "kind": "projects",
            "address": {"postalCode": "97400", "addressLocality": "Saint-Denis", "addressCountry": "FR"},
            "geo": {"latitude": "-20.9", "longitude": "55.45"}}}}"#,
    );
    let (new, _) = new_entity(&row).unwrap();
    assert_eq!(new.kind, Kind::Project);
    assert_eq!(new.postal_code.as_deref(), Some("97400"));
    assert!(new.edits.contains(&Edit::SetGeo {
        lat: -20.9,
        lon: 55.45
    }));
}

#[test]
fn malformed_files_are_refused_whole() {
    assert!(matches!(read(b""), Err(ImportError::Empty)));
    assert!(matches!(
        read(br#"{"entities": [{"name": "Garage", "#),
        Err(ImportError::Json(_))
    ));
    assert!(matches!(
        read(&[0xff, 0xfe, 0x00, 0x12]),
        Err(ImportError::NotText(_))
    ));
    assert!(matches!(read(b"name\0,x\n"), Err(ImportError::NotText(_))));
    assert!(matches!(read(br#"{"a": 1}"#), Err(ImportError::Shape(_))));
    let big = vec![b' '; MAX_IMPORT_BYTES + 1];
    assert!(matches!(read(&big), Err(ImportError::TooLarge(_))));
}

#[test]
fn duplicates_are_the_same_name_at_the_same_place() {
    let row = |name: &str, street: &str| ImportRow {
        at: String::new(),
        values: [
            ("name".to_owned(), name.to_owned()),
            ("postal_code".to_owned(), "97400".to_owned()),
            ("street".to_owned(), street.to_owned()),
        ]
        .into(),
        tags: Vec::new(),
    };
    let new = |name: &str, street: &str| new_entity(&row(name, street)).unwrap().0;
    let mut seen = Duplicates::default();
    let payet = new("Garage Payet", "1 rue du Port");
    assert!(!seen.contains(&payet));
    seen.insert(&payet);
    assert!(seen.contains(&new("garage  payet", "1 Rue du port")));
    assert!(!seen.contains(&new("Garage Payet", "2 rue du Port")));
    assert!(!seen.contains(&new("Garage Hoarau", "1 rue du Port")));
}

#[test]
fn a_mapping_reads_a_column_as_the_field_it_names_over_its_own_meaning() {
    let map = |text: &str| text.parse::<ColumnMapping>().unwrap();
    // `adresse` would be the street; mapped, it is the description, and
    // `Lieu dit` (no meaning of its own) the street.
    let file = read_mapped(
        "Nom;adresse;Lieu dit;cp\nFerme du Bois;Vente à la ferme;Le Bois;97400\n".as_bytes(),
        &[map("ADRESSE=description"), map("lieu dit=street")],
    )
    .unwrap();
    let values = &file.rows[0].values;
    assert_eq!(values["description"], "Vente à la ferme");
    assert_eq!(values["street"], "Le Bois");
    assert_eq!(values["name"], "Ferme du Bois");
    assert!(file.warnings.is_empty(), "{:?}", file.warnings);
    for (text, error) in [
        ("name", "is not COLUMN=FIELD"),
        ("=name", "names no column"),
        ("Nom=nom", "\"nom\" is not a field"),
    ] {
        let refused = text.parse::<ColumnMapping>().unwrap_err();
        assert!(refused.contains(error), "{text}: {refused}");
    }
}

/// What Communecter's records hold beyond the address: numbers, contacts
/// (their e-mails left out), event dates in any of its shapes; the keys
/// nothing reads are said once for the file.
#[test]
fn communecter_numbers_contacts_and_dates_are_kept() {
    let file = read(
        r#"[{"name": "Fête du quartier", "collection": "events", "type": "festival",
             "startDate": "2026-06-20 14:00:00", "endDate": {"sec": 1781992800, "usec": 0},
             "allDay": "false",
             "telephone": {"fixe": ["03 20 00 00 00"], "mobile": ["06 00 00 00 00", "03 20 00 00 00"], "fax": ["03 20 99 99 99"]},
             "contacts": [{"name": "Marie Dupont", "role": "présidente", "telephone": ["06 11 11 11 11"], "email": "marie@example.org"},
                          {"name": "", "email": "x@example.org"}],
             "address": {"postalCode": "59000", "addressLocality": "Lille", "addressCountry": "FR"},
             "email": "fete@example.org", "image": "fete.png"},
            {"name": "Compost partagé", "collection": "projects", "startDate": 1767225600, "created": 1442323202,
             "contactPoint": [{"firstName": "Paul", "name": "Martin", "fixe": "0320000001", "type": "1"}],
             "url": "www.compost.example/fr\u00a0/page",
             "address": {"postalCode": "59000", "addressCountry": "FR"}}]"#
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(file.format, "communecter-api");
    assert_eq!(file.warnings, ["keys ignored: email, image"]);
    let event = &file.rows[0].values;
    assert_eq!(event["start"], "2026-06-20T14:00:00");
    assert_eq!(event["end"], "2026-06-20T22:00:00Z");
    assert_eq!(event["telephone"], "03 20 00 00 00");
    assert_eq!(
        event["description"],
        "Téléphones : 03 20 00 00 00, 06 00 00 00 00\n\
         Contacts : Marie Dupont (présidente, 06 11 11 11 11)"
    );
    assert!(!format!("{:?}", file.rows).contains("example.org"));
    let (new, warnings) = new_entity(&file.rows[0]).unwrap();
    let text = |field: Field| {
        new.edits.iter().find_map(|edit| match edit {
            Edit::Set(f, Value::Text(text)) if *f == field => Some(text.clone()),
            _ => None,
        })
    };
    assert_eq!(text(Field::Start).as_deref(), Some("2026-06-20T14:00:00"));
    assert_eq!(text(Field::End).as_deref(), Some("2026-06-20T22:00:00Z"));
    assert_eq!(text(Field::EventType).as_deref(), Some("festival"));
    assert!(
        new.edits
            .contains(&Edit::Set(Field::AllDay, Value::Bool(false)))
    );
    // An event has no telephone field: said, the number stays in the text.
    assert_eq!(warnings, ["telephone left out: an event has none"]);
    // Communecter's import files name contacts `contactPoint`; a role of
    // digits is a code, left out.
    assert_eq!(
        file.rows[1].values["description"],
        "Sur Communecter depuis le 2015-09-15\nContacts : Paul Martin (0320000001)"
    );
    let (project, warnings) = new_entity(&file.rows[1]).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    // A no-break space copied into an address is dropped.
    assert!(project.edits.contains(&Edit::Set(
        Field::Url,
        Value::Text("https://www.compost.example/fr/page".into())
    )));
    assert!(project.edits.contains(&Edit::Set(
        Field::Start,
        Value::Text("2026-01-01T00:00:00Z".into())
    )));
}

#[test]
fn dates_are_read_as_files_write_them() {
    for (written, read) in [
        ("2026-12-20", "2026-12-20"),
        ("20/12/2026", "2026-12-20"),
        ("5/1/2026", "2026-01-05"),
        ("20/12/2026 19:00", "2026-12-20T19:00"),
        ("20/12/2026 9h30", "2026-12-20T09:30"),
        ("2026-12-20 19:00:00", "2026-12-20T19:00:00"),
        ("2026-12-20T19:00:00.000Z", "2026-12-20T19:00:00Z"),
        ("2026-12-20T19:00:00+0100", "2026-12-20T19:00:00+01:00"),
        ("2026-12-20T19:00+01", "2026-12-20T19:00+01:00"),
        ("décembre 2026", "décembre 2026"),
    ] {
        assert_eq!(entity::date_text(written), read, "{written}");
    }
    for (value, read) in [
        (serde_json::json!(1781992800), Some("2026-06-20T22:00:00Z")),
        (
            serde_json::json!(1781992800000_i64),
            Some("2026-06-20T22:00:00Z"),
        ),
        (
            serde_json::json!({"$date": {"$numberLong": "1781992800000"}}),
            Some("2026-06-20T22:00:00Z"),
        ),
        (
            serde_json::json!({"$date": "2026-06-20T22:00:00Z"}),
            Some("2026-06-20T22:00:00Z"),
        ),
        (serde_json::json!(["2026"]), None),
    ] {
        assert_eq!(communecter::date_of(&value).as_deref(), read, "{value}");
    }
}
