//! Deciding together from the command line: `room create`, `propose`,
//! `amend`, `vote`, `close`, `tally --verify` and `show PROPOSAL`, the
//! contract scripts rely on. Two citizens on their own data directories;
//! changes are carried from one store to the other as sync would.

use node::ingest;
use node::model::ids::EntityId;
use node::store::{Origin, Store};
use serde_json::Value;
use support::Communecter;

struct Citizen {
    _temp: tempfile::TempDir,
    communecter: Communecter,
}

impl std::ops::Deref for Citizen {
    type Target = Communecter;

    fn deref(&self) -> &Communecter {
        &self.communecter
    }
}

fn citizen(name: &str) -> Citizen {
    let temp = tempfile::tempdir().unwrap();
    let communecter = Communecter::new(env!("CARGO_BIN_EXE_communecter"), temp.path().join("home"));
    communecter.ok(&[
        "init",
        "--postal-code",
        "97400",
        "--name",
        name,
        "--email",
        "someone@example.org",
    ]);
    Citizen {
        _temp: temp,
        communecter,
    }
}

/// Carries every change of `id` (and the sender's profile) from one
/// citizen's store to the other's, as sync would.
fn carry(from: &Citizen, to: &Citizen, id: &str) {
    let id: EntityId = id.parse().unwrap();
    let person: EntityId = from.json(&["status"])["person"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let envelopes: Vec<Vec<u8>> = {
        let store = Store::open(&from.home().join("store.redb")).unwrap();
        let mut all = store.envelopes(&id).unwrap();
        all.extend(store.envelopes(&person).unwrap());
        all
    };
    let store = Store::open(&to.home().join("store.redb")).unwrap();
    for outcome in ingest::ingest(&store, Origin::Local, &envelopes).unwrap() {
        assert!(
            outcome.is_stored() || format!("{outcome:?}").contains("Known"),
            "{outcome:?}"
        );
    }
}

fn counted(tally: &Value) -> Vec<(String, String)> {
    let mut ballots: Vec<(String, String)> = tally["tally"]["counted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ballot| {
            (
                ballot["voter"].as_str().unwrap().to_owned(),
                ballot["choice"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ballots.sort();
    ballots
}

#[test]
fn a_room_decides_and_every_citizen_can_verify_it() {
    let anne = citizen("Anne");
    let bruno = citizen("Bruno");
    let bruno_key = bruno.json(&["status"])["author"]
        .as_str()
        .unwrap()
        .to_owned();
    let anne_key = anne.json(&["status"])["author"]
        .as_str()
        .unwrap()
        .to_owned();

    // A room of the commune, for anyone (the default is confirmed members).
    let room = anne.json(&[
        "room",
        "create",
        "--in",
        "97400",
        "--name",
        "Jardin partagé",
        "--who",
        "anyone",
    ]);
    assert_eq!(room["kind"], "room");
    assert_eq!(room["fields"]["who"], "anyone");
    assert_eq!(room["fields"]["parent"], "97400");
    let room = room["id"].as_str().unwrap().to_owned();
    let refused = anne.fails(&[
        "room", "create", "--in", "97400", "--name", "X", "--who", "tous",
    ]);
    assert!(refused.contains("--who takes one of"), "{refused}");

    // A proposal with an amendment period.
    let made = anne.json(&[
        "propose",
        &room,
        "--title",
        "Ouvrir le dimanche",
        "--text",
        "Le jardin ouvre le dimanche matin.",
        "--amend-until",
        "1d",
        "--vote-until",
        "2d",
    ]);
    let proposal = made["made"].as_str().unwrap().to_owned();
    assert_eq!(made["tally"]["proposal"]["id"], proposal.as_str());
    assert_eq!(made["tally"]["proposal"]["phase"], "amending");
    assert!(proposal.starts_with(&anne_key));

    // Bruno amends; voting is not open yet.
    carry(&anne, &bruno, &room);
    let amended = bruno.json(&["amend", &proposal, "--text", "Et le samedi aussi."]);
    let amendment = amended["made"].as_str().unwrap().to_owned();
    assert!(amendment.starts_with(&bruno_key));
    let refused = bruno.fails(&["vote", &proposal, "yes"]);
    assert!(refused.contains("amending: not possible now"), "{refused}");
    bruno.ok(&["vote", &proposal, "yes", "--amendment", &amendment]);
    // Bruno is no admin and the end has not come.
    let refused = bruno.fails(&["close", &proposal, "--amendments"]);
    assert!(
        refused.contains("only a room admin may close before the declared end"),
        "{refused}"
    );

    // Anne, the room's admin, closes the amendments, folds and opens the vote.
    carry(&bruno, &anne, &room);
    let closed = anne.json(&["close", &proposal, "--amendments"]);
    assert_eq!(closed["tally"]["proposal"]["phase"], "folding");
    assert_eq!(closed["tally"]["amendments"][0]["adopted"], true);
    anne.ok(&[
        "reword",
        &proposal,
        "--text",
        "Le jardin ouvre le samedi et le dimanche matin.",
    ]);
    anne.ok(&["open-vote", &proposal]);
    anne.ok(&["vote", &proposal, "yes"]);
    let refused = anne.fails(&["vote", &proposal, "no"]);
    assert!(refused.contains("votes may not change"), "{refused}");
    let refused = anne.fails(&["vote", &proposal, "peut-être"]);
    assert!(
        refused.contains("not one of the proposal's choices"),
        "{refused}"
    );

    carry(&anne, &bruno, &room);
    bruno.ok(&["vote", &proposal, "no"]);
    carry(&bruno, &anne, &room);
    anne.ok(&["close", &proposal]);
    carry(&anne, &bruno, &room);

    // The same result for both, verified from the signed changes.
    let for_anne = anne.json(&["tally", &proposal, "--verify"]);
    let for_bruno = bruno.json(&["tally", &proposal, "--verify"]);
    assert_eq!(for_anne["tally"], for_bruno["tally"]);
    assert_eq!(for_anne["verified"]["same"], true);
    assert!(for_anne["verified"]["changes"].as_u64().unwrap() >= 9);
    assert_eq!(
        for_anne["tally"]["outcome"]["result"], "rejected",
        "a tie is not a majority"
    );
    assert_eq!(counted(&for_anne), {
        let mut both = vec![
            (anne_key.clone(), "yes".to_owned()),
            (bruno_key.clone(), "no".to_owned()),
        ];
        both.sort();
        both
    });
    assert_eq!(
        for_bruno["tally"]["proposal"]["text"],
        "Le jardin ouvre le samedi et le dimanche matin."
    );
    // `show PROPOSAL --json`: phase, votes counted, outcome.
    let shown = bruno.json(&["show", &proposal]);
    assert_eq!(shown["tally"]["proposal"]["phase"], "closed");
    assert_eq!(shown["tally"]["counted"].as_array().unwrap().len(), 2);
    // In words: Bruno finds his own vote among those counted.
    let text = bruno.ok(&["tally", &proposal, "--verify"]);
    assert!(
        text.contains("Ouvrir le dimanche — closed: rejected"),
        "{text}"
    );
    assert!(text.contains("your vote: no (counted)"), "{text}");
    assert!(text.contains(&format!("{bruno_key}  no  Bruno")), "{text}");
    assert!(text.contains("the same tally"), "{text}");
    // After the closing, nothing more.
    let refused = bruno.fails(&["vote", &proposal, "yes"]);
    assert!(refused.contains("closed: not possible now"), "{refused}");
    let unknown = bruno.fails(&["tally", &format!("{bruno_key}.0000000000000000")]);
    assert!(unknown.contains("no proposal"), "{unknown}");
}

#[test]
fn a_room_of_confirmed_members_refuses_others_and_choices_are_offered() {
    let anne = citizen("Anne");
    let bruno = citizen("Bruno");
    let association = anne.json(&["add", "organization", "--name", "Les Jardiniers"]);
    let association = association["id"].as_str().unwrap().to_owned();
    let room = anne.json(&["room", "create", "--in", &association, "--name", "AG"]);
    assert_eq!(room["fields"]["who"], "confirmed-members");
    assert_eq!(room["fields"]["parent"], association.as_str());
    let room = room["id"].as_str().unwrap().to_owned();
    let made = anne.json(&[
        "propose",
        &room,
        "--title",
        "Quel jour ?",
        "--text",
        "Le jour de l'assemblée.",
        "--choices",
        "samedi,dimanche",
    ]);
    let proposal = made["made"].as_str().unwrap().to_owned();
    assert_eq!(made["tally"]["proposal"]["phase"], "voting");
    assert_eq!(
        made["tally"]["proposal"]["choices"],
        serde_json::json!(["samedi", "dimanche"])
    );
    carry(&anne, &bruno, &room);
    let refused = bruno.fails(&["vote", &proposal, "samedi"]);
    assert!(
        refused.contains("does not take part in this room's decisions (who: confirmed-members)"),
        "{refused}"
    );
    anne.ok(&["vote", &proposal, "dimanche"]);
    anne.ok(&["close", &proposal]);
    let tally = anne.json(&["tally", &proposal]);
    assert_eq!(tally["tally"]["outcome"]["result"], "chosen");
    assert_eq!(tally["tally"]["outcome"]["choice"], "dimanche");
    // A declared end in words that are not a date.
    let refused = anne.fails(&[
        "propose",
        &room,
        "--title",
        "T",
        "--text",
        "X",
        "--vote-until",
        "demain",
    ]);
    assert!(refused.contains("neither a date"), "{refused}");
    let refused = anne.fails(&[
        "propose",
        &room,
        "--title",
        "T",
        "--text",
        "X",
        "--vote-until",
        "2020-01-01",
    ]);
    assert!(refused.contains("before"), "{refused}");
    // A report, and its withdrawal, in the reporter's own name.
    carry(&anne, &bruno, &association);
    let reported = bruno.json(&["report", &association, "--reason", "Doublon"]);
    assert_eq!(reported["reports"][0]["reason"], "Doublon");
    let bruno_key = bruno.json(&["status"])["author"].clone();
    assert_eq!(reported["reports"][0]["author"], bruno_key);
    let withdrawn = bruno.json(&["report", &association, "--withdraw"]);
    assert_eq!(withdrawn["reports"], serde_json::json!([]));
    let usage = bruno.run(&["report", &association]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--reason"));
    // Blocking is Anne's alone, and never herself.
    let key = bruno_key.as_str().unwrap();
    assert_eq!(
        anne.json(&["block", key])["blocked"],
        serde_json::json!([key])
    );
    assert_eq!(
        anne.json(&["unblock", key])["blocked"],
        serde_json::json!([])
    );
    let own = anne.json(&["status"])["author"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        anne.fails(&["block", &own])
            .contains("cannot block yourself")
    );
    let usage = anne.run(&["block", "nobody"]);
    assert_eq!(usage.status.code(), Some(2), "a usage error");
    // Proposals are made in rooms only.
    let refused = anne.fails(&["propose", &association, "--title", "T", "--text", "X"]);
    assert!(refused.contains("is not a room"), "{refused}");
}

#[test]
fn reports_flag_an_entity_and_the_moderation_room_decides_to_hide_it() {
    let anne = citizen("Anne");
    let bruno = citizen("Bruno");
    let chloe = citizen("Chloé");
    let everyone = [&anne, &bruno, &chloe];
    let share = |id: &str| {
        for from in everyone {
            for to in everyone {
                if !std::ptr::eq(from, to) {
                    carry(from, to, id);
                }
            }
        }
    };
    let garage = anne.json(&["add", "organization", "--name", "Garage des insultes"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    share(&garage);

    // Three reports by three persons flag it; without a moderation room
    // the report says how to make one.
    for (n, citizen) in everyone.iter().enumerate() {
        let reported = citizen.json(&["report", &garage, "--reason", "Insultes"]);
        assert_eq!(reported["id"], garage.as_str(), "the entity, as stored");
        let state = &reported["moderation"]["state"];
        assert_eq!(state["counted"].as_array().unwrap().len(), n + 1);
        assert_eq!(state["flagged"], n == 2);
        share(&garage);
    }
    let said = chloe.ok(&["report", &garage, "--reason", "Insultes"]);
    assert!(
        said.contains("3 of the 3 reports that flag it count"),
        "{said}"
    );
    assert!(said.contains("97400 has no moderation room"), "{said}");
    let refused = chloe.fails(&["moderate", &garage]);
    assert!(refused.contains("no moderation room yet"), "{refused}");

    // The moderation room; its vote opened by hand.
    let room = anne.json(&[
        "room",
        "create",
        "--in",
        "97400",
        "--name",
        "Modération",
        "--who",
        "anyone",
        "--moderation",
    ]);
    assert_eq!(room["fields"]["moderation"], true);
    let room = room["id"].as_str().unwrap().to_owned();
    share(&room);
    let opened = chloe.json(&["moderate", &garage]);
    let proposal = opened["opened"].as_str().unwrap().to_owned();
    assert_eq!(opened["state"]["open"], proposal.as_str());
    assert_eq!(opened["room"], room.as_str());
    share(&room);
    let refused = bruno.fails(&["moderate", &garage]);
    assert!(refused.contains("a moderation vote is open"), "{refused}");
    let shown = bruno.json(&["show", &proposal]);
    assert_eq!(shown["tally"]["proposal"]["moderates"], garage.as_str());
    assert_eq!(shown["tally"]["proposal"]["majority"], 75);
    let queue = bruno.json(&["moderation"]);
    assert_eq!(queue[0]["entity"], garage.as_str());

    // Adopted: hidden from lists, shown on request.
    for citizen in everyone {
        share(&room);
        citizen.ok(&["vote", &proposal, "yes"]);
    }
    share(&room);
    anne.ok(&["close", &proposal]);
    share(&room);
    let state = bruno.json(&["moderation", &garage]);
    assert_eq!(state["state"]["hidden"], true);
    assert_eq!(state["state"]["steps"][0]["effect"], "hidden");
    let listed = bruno.ok(&["list", "--kind", "organization"]);
    assert!(!listed.contains("Garage des insultes"), "{listed}");
    let listed = bruno.ok(&["list", "--kind", "organization", "--hidden"]);
    assert!(listed.contains("Garage des insultes"), "{listed}");
    let shown = bruno.ok(&["show", &garage]);
    assert!(
        shown.contains("Hidden by its community's decision"),
        "{shown}"
    );
    let refused = bruno.fails(&["moderate", &garage]);
    assert!(refused.contains("hidden already"), "{refused}");
}

#[test]
fn actions_follow_an_adopted_proposal_with_their_volunteers() {
    let anne = citizen("Anne");
    let bruno = citizen("Bruno");
    let room = anne.json(&[
        "room", "create", "--in", "97400", "--name", "Jardin", "--who", "anyone",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proposal = anne.json(&[
        "propose",
        &room,
        "--title",
        "Bancs",
        "--text",
        "Deux bancs.",
    ])["made"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = anne.fails(&["action", "add", &proposal, "--title", "Acheter"]);
    assert!(refused.contains("voting: not possible now"), "{refused}");
    anne.ok(&["vote", &proposal, "yes"]);
    anne.ok(&["close", &proposal]);
    let added = anne.json(&[
        "action",
        "add",
        &proposal,
        "--title",
        "Acheter les bancs",
        "--start",
        "2030-05-01T09:00",
        "--end",
        "2030-05-01T12:00",
    ]);
    let action = added["made"].as_str().unwrap().to_owned();
    assert_eq!(
        added["tally"]["proposal"]["actions"][0]["status"], "todo",
        "{added}"
    );
    let refused = anne.fails(&[
        "action",
        "add",
        &proposal,
        "--title",
        "X",
        "--start",
        "2030-05-02",
        "--end",
        "2030-05-01",
    ]);
    assert!(refused.contains("before"), "{refused}");
    let refused = anne.fails(&["action", "status", &proposal, &action, "fini"]);
    assert!(refused.contains("todo, done or disabled"), "{refused}");

    // Bruno volunteers in his own name; Anne marks it done.
    carry(&anne, &bruno, &room);
    bruno.ok(&["action", "volunteer", &proposal, &action]);
    let refused = bruno.fails(&["action", "status", &proposal, &action, "done"]);
    assert!(refused.contains("only the action's author"), "{refused}");
    carry(&bruno, &anne, &room);
    anne.ok(&["action", "status", &proposal, &action, "done"]);
    let shown = anne.json(&["show", &proposal]);
    let read = &shown["tally"]["proposal"]["actions"][0];
    assert_eq!(read["status"], "done");
    assert_eq!(read["volunteers"][0], bruno.json(&["status"])["author"]);
    let text = anne.ok(&["tally", &proposal]);
    assert!(
        text.contains("(done, 2030-05-01T09:00:00Z → 2030-05-01T12:00:00Z): Acheter les bancs; volunteers: Bruno"),
        "{text}"
    );
}
