//! The `communecter` binary, driven as a user would, on a fresh data
//! directory (no daemon: the offline mode).

use node::ingest;
use node::store::Origin;

use serde_json::Value;
use support::Communecter;

/// A citizen of their own data directory, in a temporary directory that
/// also holds the files they import and export.
struct Citizen {
    temp: tempfile::TempDir,
    communecter: Communecter,
}

impl std::ops::Deref for Citizen {
    type Target = Communecter;

    fn deref(&self) -> &Communecter {
        &self.communecter
    }
}

impl Citizen {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let communecter =
            Communecter::new(env!("CARGO_BIN_EXE_communecter"), temp.path().join("home"));
        Self { temp, communecter }
    }

    fn joined(self) -> Self {
        self.ok(&[
            "init",
            "--postal-code",
            "97400",
            "--name",
            "Marie",
            "--email",
            "marie@example.org",
        ]);
        self
    }
}

/// Commands run at once on one data directory (no node running) take
/// turns at the store instead of failing with "store in use", and none is
/// told a node runs.
#[test]
fn concurrent_commands_take_turns_at_the_store() {
    let me = Citizen::new().joined();
    let me = &me;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|worker| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for n in 0..4 {
                        let name = format!("Boîte à livres {worker}-{n}");
                        let output = me.run(&["add", "place", "--name", &name]);
                        if !output.status.success() {
                            failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
                        }
                    }
                    failures
                })
            })
            .collect();
        for worker in workers {
            let failures = worker.join().unwrap();
            assert!(failures.is_empty(), "{failures:#?}");
        }
    });
    let places = me.json(&["list", "--kind", "place"]);
    assert_eq!(places.as_array().unwrap().len(), 6 * 4);
}

/// `check` says a healthy store is sound; `repair` rebuilds it, keeping
/// every change, the profile, and the damaged file beside.
#[test]
fn check_and_repair_on_a_healthy_store() {
    let me = Citizen::new().joined();
    let garage = me.json(&["add", "organization", "--name", "Garage Payet"]);
    let report = me.json(&["check"]);
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(report["documents"], 2);
    assert!(me.ok(&["check"]).contains("The store is sound."));
    let repaired = me.json(&["repair"]);
    assert_eq!(repaired["set_aside"], 0, "{repaired}");
    assert_eq!(repaired["kept"], 2, "{repaired}");
    assert!(std::path::Path::new(repaired["damaged_file"].as_str().unwrap()).exists());
    assert!(me.lists(garage["id"].as_str().unwrap(), &[]));
    assert_eq!(me.json(&["status"])["postal_code"], "97400");
}

#[test]
fn communes_by_postal_code() {
    let stdout = Citizen::new().ok(&["communes", "97400"]);
    assert!(stdout.contains("97411"), "{stdout}");
    assert!(stdout.contains("Saint-Denis"), "{stdout}");
}

#[test]
fn communes_as_json() {
    let found = Citizen::new().json(&["communes", "saint denis", "--limit", "50"]);
    let codes: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|commune| commune["insee"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"93066"), "{codes:?}");
    assert!(codes.contains(&"97411"), "{codes:?}");
}

#[test]
fn unknown_commune_is_a_clear_error() {
    let stderr = Citizen::new().fails(&["communes", "00000"]);
    assert!(stderr.contains("no commune matches"), "{stderr}");
}

#[test]
fn a_citizen_joins_adds_edits_links_finds_and_deletes() {
    let me = Citizen::new().joined();
    let status = me.json(&["status"]);
    assert_eq!(status["postal_code"], "97400");
    assert_eq!(status["insee_code"], "97411");
    let person = status["person"].as_str().unwrap().to_owned();

    // One of each kind.
    let garage = me.json(&[
        "add",
        "organization",
        "--name",
        "Garage Payet",
        "--type",
        "local_business",
        "--category",
        "garage",
        "--tag",
        "mécanique",
        "--lat",
        "-20.8823",
        "--lon",
        "55.4504",
        "--street",
        "12 rue de Paris",
    ]);
    let garage_id = garage["id"].as_str().unwrap().to_owned();
    assert_eq!(garage["kind"], "organization");
    assert_eq!(garage["fields"]["category"], "garage");
    assert_eq!(garage["address"]["locality"], "Saint-Denis");
    assert_eq!(garage["geo"]["lat"], -20.8823);
    let project = me.json(&[
        "add",
        "project",
        "--name",
        "Jardin partagé du Butor",
        "--start",
        "2026-03-01",
        "--set",
        "progress=in_progress",
    ]);
    assert_eq!(project["fields"]["progress"], "in_progress");
    let event = me.json(&[
        "add",
        "event",
        "--name",
        "Concert au kiosque",
        "--type",
        "concert",
        "--start",
        "2026-12-20T19:00+04:00",
        "--end",
        "2026-12-20T22:00+04:00",
        "--postal-code",
        "97490",
    ]);
    assert_eq!(event["address"]["postal_code"], "97490");
    let place = me.json(&[
        "add",
        "place",
        "--name",
        "Boîte à livres",
        "--type",
        "shared library",
        "--closed",
    ]);
    assert_eq!(place["open_edition"], false);

    // Edit, link, recommend.
    let edited = me.json(&[
        "edit",
        &garage_id,
        "--set",
        "description=Réparations toutes marques",
        "--add-tag",
        "pneus",
        "--clear",
        "street",
    ]);
    assert_eq!(
        edited["fields"]["description"],
        "Réparations toutes marques"
    );
    assert!(edited["address"].get("street").is_none());
    assert_eq!(edited["tags"], serde_json::json!(["mécanique", "pneus"]));
    let linked = me.json(&[
        "link",
        &garage_id,
        "recommends",
        "--comment",
        "Travail soigné",
    ]);
    assert_eq!(linked["links"][0]["relation"], "recommends");
    assert_eq!(linked["links"][0]["comment"], "Travail soigné");
    assert_eq!(linked["links"][0]["person"], person.as_str());

    // List, filter, search, show.
    let all = me.json(&["list"]);
    assert_eq!(
        all.as_array().unwrap().len(),
        5,
        "four entities and my profile"
    );
    let orgs = me.json(&["list", "--kind", "organization"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    let in_97490 = me.json(&["list", "--postal-code", "97490"]);
    assert_eq!(in_97490[0]["fields"]["name"], "Concert au kiosque");
    let tagged = me.json(&["list", "--tag", "Pneus"]);
    assert_eq!(tagged[0]["id"], garage_id.as_str());
    let found = me.json(&["search", "mecanique"]);
    assert_eq!(found[0]["id"], garage_id.as_str());
    let found = me.json(&["search", "JARDIN"]);
    assert_eq!(found[0]["fields"]["name"], "Jardin partagé du Butor");
    let table = me.ok(&["list"]);
    assert!(table.contains("Garage Payet") && table.contains("Boîte à livres"));
    let shown = me.json(&["show", &garage_id, "--history"]);
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    let human = me.ok(&["show", &garage_id, "--history"]);
    assert!(human.contains("Travail soigné") && human.contains("history:"));

    // Delete: gone from lists and search, still shown.
    let deleted = me.json(&["delete", &garage_id]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(me.json(&["list"]).as_array().unwrap().len(), 4);
    assert!(
        me.json(&["search", "garage"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(me.ok(&["show", &garage_id]).contains("[deleted]"));

    // The e-mail never appears in anything shared, and the files that hold
    // it and the keys are the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["author.key", "network.key", "store.redb"] {
            let mode = std::fs::metadata(me.home().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    let profile = me.json(&["show", &person, "--history"]);
    assert!(!profile.to_string().contains("marie@example.org"));
    for entity in me.json(&["list"]).as_array().unwrap() {
        assert!(!entity.to_string().contains("marie@"));
    }
}

#[test]
fn errors_say_what_was_wrong() {
    let nobody = Citizen::new();
    assert!(nobody.fails(&["list"]).contains("communecter init"));
    assert!(
        nobody
            .fails(&["init", "--postal-code", "00000"])
            .contains("not a French postal code")
    );
    let ambiguous = nobody.fails(&["init", "--postal-code", "62000"]);
    assert!(ambiguous.contains("--insee 62041"), "{ambiguous}");

    let me = Citizen::new().joined();
    assert!(
        me.fails(&["init", "--postal-code", "97400"])
            .contains("already holds an identity")
    );
    assert!(me.fails(&["show", "abc"]).contains("not an entity id"));
    assert!(
        me.fails(&["show", "aaaaaaaaaaaaaaaaaaaaaaaaaa"])
            .contains("no entity")
    );
    let place = me.json(&["add", "place", "--name", "Compost"]);
    let id = place["id"].as_str().unwrap();
    assert!(
        me.fails(&["edit", id, "--set", "colour=red"])
            .contains("there is no field \"colour\"")
    );
    assert!(
        me.fails(&["edit", id, "--set", "category=garage"])
            .contains("places have no field category")
    );
    assert!(
        me.fails(&["edit", id, "--set", "url=ftp://x"])
            .contains("web address")
    );
    assert!(me.fails(&["edit", id]).contains("nothing to change"));
    assert!(
        me.fails(&[
            "add",
            "event",
            "--name",
            "X",
            "--start",
            "2026-12-02",
            "--end",
            "2026-12-01"
        ])
        .contains("before the start")
    );
    assert!(
        me.fails(&["add", "place", "--name", "X", "--lat", "95", "--lon", "1"])
            .contains("out of range")
    );
    assert!(
        me.fails(&["add", "place", "--name", "X", "--postal-code", "99999"])
            .contains("not a French postal code")
    );
    assert!(
        me.fails(&["add", "place", "--name", ""])
            .contains("must not be empty")
    );
    assert!(me.fails(&["add", "person", "--name", "X"]).contains("init"));
}

#[test]
fn help_has_examples_for_every_command() {
    let me = Citizen::new();
    for command in [
        "init", "add", "edit", "link", "unlink", "list", "search", "show", "delete", "status",
        "communes", "node", "export", "import",
    ] {
        let help = me.ok(&[command, "--help"]);
        assert!(help.contains("communecter "), "{command}: {help}");
        assert!(help.to_lowercase().contains("example"), "{command}: {help}");
    }
}

#[test]
fn editing_what_is_not_yours_is_refused_with_a_reason() {
    use node::model::document::{self, Genesis};
    use node::model::ed25519_dalek::SigningKey;
    use node::model::ids::{Actor, AuthorKey};
    use node::model::schema::Kind;
    use node::model::signed::SignedChange;

    let me = Citizen::new().joined();
    // A neighbour's closed entity reaches my store (as sync will bring it).
    let neighbour = SigningKey::from_bytes(&[42; 32]);
    let created = document::create(
        &Genesis {
            kind: Kind::Organization,
            name: "Atelier du voisin".into(),
            postal_code: "97400".into(),
            country: "FR".into(),
            open_edition: Some(false),
        },
        &Actor {
            author: AuthorKey::of(&neighbour),
            device: 1,
        },
        1_764_000_000_000,
        [7; 16],
        &[],
    )
    .unwrap();
    let envelope = SignedChange::sign(&neighbour, created.id, "97400", created.change.raw_bytes())
        .unwrap()
        .encode();
    {
        let store = node::store::Store::open(&me.home().join("store.redb")).unwrap();
        assert!(ingest::ingest(&store, Origin::Local, &[envelope]).unwrap()[0].is_stored());
    }
    let id = created.id.to_string();
    let refused = me.fails(&["edit", &id, "--set", "description=Fermé"]);
    assert!(
        refused.contains("may only be edited by admins"),
        "{refused}"
    );
    let refused = me.fails(&["delete", &id]);
    assert!(
        refused.contains("only an admin may write /deleted"),
        "{refused}"
    );
    // Writing my own link into it is allowed.
    let linked = me.json(&["link", &id, "follows"]);
    assert_eq!(linked["links"][0]["relation"], "follows");
}

#[test]
fn an_unreachable_node_is_reported() {
    let me = Citizen::new().joined();
    // A node holds the data directory but its API does not answer.
    let lock = std::fs::File::create(me.home().join("node.lock")).unwrap();
    lock.try_lock().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    std::fs::write(
        me.home().join("api.json"),
        serde_json::json!({"api": format!("http://{address}")}).to_string(),
    )
    .unwrap();
    let error = me.fails(&["list"]);
    assert!(error.contains("is not reachable"), "{error}");
    drop(lock);
    assert!(me.ok(&["list"]).contains("Marie"));
}

#[test]
fn admins_hand_over_an_entity() {
    let me = Citizen::new().joined();
    let my_key = me.json(&["status"])["author"].as_str().unwrap().to_owned();
    let other_key = node::model::ids::AuthorKey::of(
        &node::model::ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    )
    .to_string();
    let place = me.json(&["add", "place", "--name", "Atelier"]);
    let id = place["id"].as_str().unwrap().to_owned();
    let last = me.fails(&["edit", &id, "--remove-admin", &my_key]);
    assert!(last.contains("without admins"), "{last}");
    let linked = me.json(&["link", &id, "member"]);
    assert_eq!(
        linked["links"][0]["confirmed"], true,
        "admins are confirmed members"
    );
    let edited = me.json(&[
        "edit",
        &id,
        "--add-admin",
        &other_key,
        "--open-edition",
        "false",
    ]);
    assert_eq!(edited["admins"].as_array().unwrap().len(), 2);
    assert_eq!(edited["open_edition"], false);
    // Refusing a request nobody made yet is allowed; it waits for their link.
    let refused = me.json(&["edit", &id, "--remove-member", &other_key]);
    assert_eq!(refused["links"].as_array().unwrap().len(), 1);
    let handed = me.json(&["edit", &id, "--remove-admin", &my_key]);
    assert_eq!(handed["admins"], serde_json::json!([other_key]));
    let refused = me.fails(&["edit", &id, "--set", "description=x"]);
    assert!(
        refused.contains("may only be edited by admins"),
        "{refused}"
    );
    let no_longer = me.fails(&["edit", &id, "--remove-member", &my_key]);
    assert!(no_longer.contains("only an admin"), "{no_longer}");
    let bad_key = me.run(&["edit", &id, "--add-admin", "xyz"]);
    assert!(!bad_key.status.success());
    assert!(String::from_utf8_lossy(&bad_key.stderr).contains("author key"));
}

#[test]
fn a_file_of_rows_is_imported_with_progress_and_exported_back() {
    let me = Citizen::new().joined();
    let dir = me.temp.path();
    let mut csv = String::from("name;postal_code;kind;type;tags;lat;lon;colour\n");
    // 2,500 distinct positions in Saint-Denis (a position outside its
    // commune would be left out).
    for n in 0..2_500 {
        csv.push_str(&format!(
            "Association {n};97400;organization;ngo;quartier{};-20.9{:03};55.4{:03};bleu\n",
            n % 7,
            n % 50,
            n / 50
        ));
    }
    csv.push_str(";97400;organization;;;;;\n");
    csv.push_str("Loin;97400;organization;;;95;10;\n");
    let file = dir.join("associations.csv");
    std::fs::write(&file, &csv).unwrap();
    let output = me.run(&["import", file.to_str().unwrap()]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("Importing"), "{stderr}");
    assert!(stderr.contains("columns ignored: colour"), "{stderr}");
    assert!(stderr.contains("1000 / 2502 rows"), "{stderr}");
    assert!(stderr.contains("2502 / 2502 rows"), "{stderr}");
    assert!(
        stdout.contains("Imported 2501 new entities from 2502 rows"),
        "{stdout}"
    );
    assert!(stdout.contains("rows/s"), "{stdout}");
    assert!(stdout.contains("line 2502: missing name"), "{stdout}");
    assert!(stdout.contains("1 value left out"), "{stdout}");
    assert!(
        stdout.contains("line 2503: position 95, 10 left out"),
        "{stdout}"
    );

    // Again: all already there.
    let report = me.json(&["import", file.to_str().unwrap()]);
    assert_eq!(report["imported"], 0);
    assert_eq!(report["duplicates"], 2501);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 1);

    let out = dir.join("export.geojson");
    me.ok(&[
        "export",
        "--format",
        "geojson",
        "--kind",
        "organization",
        "-o",
        out.to_str().unwrap(),
    ]);
    let geojson: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(geojson["features"].as_array().unwrap().len(), 2500);
    let csv_out = me.ok(&["export", "--format", "csv", "--tag", "quartier3"]);
    assert_eq!(
        csv_out.lines().count(),
        1 + (0..2500).filter(|n| n % 7 == 3).count()
    );
    assert!(!me.ok(&["export"]).contains("marie@example.org"));

    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"entities\": [{\"name\": \"Garage").unwrap();
    let error = me.fails(&["import", broken.to_str().unwrap()]);
    assert!(error.contains("nothing was imported"), "{error}");
    assert!(error.contains("not valid JSON"), "{error}");
    let wrong = me.run(&["export", "--format", "pdf"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("json, jsonld, geojson or csv"));
}

/// `import --dry-run` checks every row and prints what would be made,
/// storing nothing (a row repeating one of an earlier batch of 1,000
/// included); `--map COLUMN=FIELD` reads a column of any name as a field.
#[test]
fn a_dry_run_stores_nothing_and_map_reads_columns_of_any_name() {
    let me = Citizen::new().joined();
    let dir = me.temp.path();
    let mut csv = String::from("Enseigne;Activité;adresse;cp\n");
    for n in 0..1_100 {
        csv.push_str(&format!("Boutique {n};épicerie;{n} rue Nationale;97400\n"));
    }
    // Line 1,102 repeats line 2, in the second batch; line 1,103 has no name.
    csv.push_str("Boutique 0;épicerie;0 rue Nationale;97400\n;;;97400\n");
    let file = dir.join("commerces.csv");
    std::fs::write(&file, &csv).unwrap();
    let file = file.to_str().unwrap();
    let count = || me.json(&["list"]).as_array().unwrap().len();
    let before = count();

    // Without --map the file has no name column, and says what it has.
    let error = me.fails(&["import", file, "--dry-run"]);
    assert!(
        error.contains("no name column") && error.contains("Enseigne, Activité, adresse, cp"),
        "{error}"
    );
    let dry = me.json(&[
        "import",
        file,
        "--dry-run",
        "--map",
        "enseigne=name",
        "--map",
        "Activite=category",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        (dry["rows"].as_u64(), dry["imported"].as_u64()),
        (Some(1_102), Some(1_100))
    );
    assert_eq!(dry["duplicates"], 1);
    assert_eq!(dry["rejected"][0]["at"], "line 1103");
    let made = dry["would_import"].as_array().unwrap();
    assert_eq!(made.len(), 1_100);
    assert_eq!(made[0]["at"], "line 2");
    assert_eq!(made[0]["entity"], "Boutique 0 (organization, 97400)");
    assert_eq!(count(), before, "a dry run stored nothing");
    let text = me.ok(&["import", file, "--dry-run", "--map", "Enseigne=name"]);
    assert!(
        text.contains(
            "Dry run, nothing was stored: 1100 of 1102 rows would be new entities; 1 already there"
        ),
        "{text}"
    );
    assert!(
        text.contains("  line 2: Boutique 0 (organization, 97400)"),
        "{text}"
    );
    assert!(text.contains("and 1050 more"), "{text}");

    // The real import makes what the dry run said.
    let report = me.json(&[
        "import",
        file,
        "--map",
        "Enseigne=name",
        "--map",
        "Activité=category",
    ]);
    assert_eq!(
        (report["imported"].as_u64(), report["duplicates"].as_u64()),
        (Some(1_100), Some(1))
    );
    assert_eq!(count(), before + 1_100);
    let shop = me.json(&["search", "Boutique 7"]);
    assert_eq!(shop[0]["fields"]["category"], "épicerie");

    // Mappings that cannot apply say why.
    let usage = me.run(&["import", file, "--map", "Enseigne=nom"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    let error = String::from_utf8_lossy(&usage.stderr);
    assert!(
        error.contains("\"nom\" is not a field; fields: kind, type, tags, name"),
        "{error}"
    );
    let error = me.fails(&["import", file, "--map", "Raison=name"]);
    assert!(
        error.contains("the file has no column \"Raison\""),
        "{error}"
    );
    let json = dir.join("rows.json");
    std::fs::write(&json, r#"{"entities": []}"#).unwrap();
    let error = me.fails(&["import", json.to_str().unwrap(), "--map", "Enseigne=name"]);
    assert!(error.contains("--map names spreadsheet columns"), "{error}");
}

/// `export -o FILE` writes through a file beside it, renamed once whole:
/// an export that fails midway (here, on a damaged store) leaves the
/// earlier file as it was, and no cut file.
#[test]
fn an_export_that_fails_leaves_the_file_it_would_replace_as_it_was() {
    let me = Citizen::new().joined();
    me.ok(&["add", "organization", "--name", "Zz atelier"]);
    let out = me.temp.path().join("carte.json");
    me.ok(&["export", "-o", out.to_str().unwrap()]);
    let before = std::fs::read(&out).unwrap();
    assert!(String::from_utf8_lossy(&before).contains("Zz atelier"));
    let leftovers = || {
        std::fs::read_dir(me.temp.path())
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.contains("partial"))
            .collect::<Vec<_>>()
    };
    assert_eq!(leftovers(), Vec::<String>::new());

    // The disk alters the cached entity (every copy the file holds).
    let store = node::identity::DataDir::resolve(Some(me.temp.path().join("home")))
        .unwrap()
        .store_path();
    let mut bytes = std::fs::read(&store).unwrap();
    let cached = br#""name":"Zz atelier""#;
    let copies: Vec<usize> = (0..bytes.len().saturating_sub(cached.len()))
        .filter(|at| bytes[*at..].starts_with(cached))
        .collect();
    assert!(!copies.is_empty());
    for at in copies {
        bytes[at + cached.len() - 2] ^= 0x01;
    }
    std::fs::write(&store, &bytes).unwrap();

    let error = me.fails(&["export", "-o", out.to_str().unwrap()]);
    assert!(error.contains("damaged"), "{error}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the earlier export is kept"
    );
    assert_eq!(leftovers(), Vec::<String>::new(), "no cut file is left");
}

/// The citizen of 75011 means Paris 11e, not all Paris: `init` takes the
/// arrondissement of a postal code its city shares with it, `--insee`
/// still chooses the city; organization types are also read by their
/// schema.org names, in any case.
#[test]
fn init_takes_the_arrondissement_and_types_take_schema_org_names() {
    let paris = Citizen::new();
    let person = paris.json(&["init", "--postal-code", "75011", "--name", "Léa"]);
    assert_eq!(person["address"]["insee_code"], "75111", "{person}");
    let city = Citizen::new();
    let person = city.json(&["init", "--postal-code", "75011", "--insee", "75056"]);
    assert_eq!(person["address"]["insee_code"], "75056", "{person}");

    for (typed, stored) in [
        ("NGO", "ngo"),
        ("LocalBusiness", "local_business"),
        ("organization", "group"),
    ] {
        let added = paris.json(&["add", "organization", "--name", typed, "--type", typed]);
        assert_eq!(added["fields"]["organization_type"], stored, "{added}");
    }
    let refused = paris.fails(&["add", "organization", "--name", "X", "--type", "company"]);
    assert!(refused.contains("ngo, local_business, group"), "{refused}");
}

#[test]
fn the_data_directory_is_the_flag_else_communecter_home() {
    // The citizen's COMMUNECTER_HOME is set; --data-dir wins over it.
    let me = Citizen::new().joined();
    let elsewhere = me.temp.path().join("elsewhere");
    let flag = elsewhere.to_str().unwrap();
    let empty = me.fails(&["--data-dir", flag, "list"]);
    assert!(empty.contains("communecter init"), "{empty}");
    me.ok(&[
        "--data-dir",
        flag,
        "init",
        "--postal-code",
        "97400",
        "--name",
        "Paul",
    ]);
    assert!(me.ok(&["--data-dir", flag, "list"]).contains("Paul"));
    let paul = Communecter::new(env!("CARGO_BIN_EXE_communecter"), &elsewhere);
    assert!(paul.ok(&["list"]).contains("Paul"));
    assert!(!me.ok(&["list"]).contains("Paul"));
}
