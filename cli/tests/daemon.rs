//! `communecter node` as a user runs it: the other commands go through its
//! API while it runs, a second one fails fast, SIGTERM stops it cleanly, and
//! everything written through it is there afterwards.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Communecter, Process, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_communecter");

/// How long a test waits for the nodes to do what it expects.
const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn commands_go_through_a_running_node() {
    let temp = tempfile::tempdir().unwrap();
    let me = Communecter::new(BIN, temp.path().join("home"));
    let addr_file = temp.path().join("addr.json");
    let mut node = me.start_node(&addr_file, &[]);
    let api = node.published(&addr_file, |_| true)["api"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not joined yet: the node says so; joining goes through it.
    let status = me.json(&["status"]);
    assert_eq!(status["joined"], false);
    assert_eq!(status["api"], api.as_str());
    let person = me.json(&["init", "--postal-code", "97400", "--name", "Marie"]);
    assert_eq!(person["kind"], "person");

    let status = me.json(&["status"]);
    assert_eq!(
        status["api"],
        api.as_str(),
        "status comes from the running node"
    );
    let garage = me.json(&[
        "add",
        "organization",
        "--name",
        "Garage Payet",
        "--tag",
        "mécanique",
    ]);
    let id = garage["id"].as_str().unwrap().to_owned();
    me.json(&["edit", &id, "--set", "category=garage"]);
    me.json(&["link", &id, "recommends", "--comment", "Top"]);
    assert_eq!(me.json(&["search", "mecanique"])[0]["id"], id.as_str());
    assert_eq!(
        me.json(&["list", "--kind", "organization"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let table = me.run(&["list", "--tag", "Mécanique"]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("Garage Payet") && table.contains("garage"),
        "{table}"
    );
    let shown = me.json(&["show", &id, "--history"]);
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    // Open data out and in, through the node.
    let export = me.run(&["export", "--format", "jsonld"]);
    assert!(export.status.success());
    let export: Value = serde_json::from_slice(&export.stdout).unwrap();
    let garage_node = export["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["name"] == "Garage Payet")
        .unwrap();
    assert_eq!(garage_node["@type"], "Organization");
    let rows = temp.path().join("rows.csv");
    std::fs::write(
        &rows,
        "name,postal_code\nGarage Payet,97400\nÉpicerie,97400\n",
    )
    .unwrap();
    // A dry run through the node checks the rows and stores nothing.
    let dry = me.json(&["import", rows.to_str().unwrap(), "--dry-run"]);
    assert_eq!(
        (
            dry["dry_run"].as_bool(),
            dry["imported"].as_u64(),
            dry["duplicates"].as_u64()
        ),
        (Some(true), Some(1), Some(1))
    );
    assert_eq!(dry["would_import"][0]["at"], "line 3");
    let report = me.json(&["import", rows.to_str().unwrap()]);
    assert_eq!(
        (report["imported"].as_u64(), report["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    let epicerie = me.json(&["search", "epicerie"]);
    me.json(&["delete", epicerie[0]["id"].as_str().unwrap()]);
    // Compacting needs the store to itself.
    let compact = me.run(&["compact"]);
    assert!(!compact.status.success());
    assert!(String::from_utf8_lossy(&compact.stderr).contains("stop it"));
    me.json(&["unlink", &id, "recommends"]);
    assert_eq!(me.json(&["delete", &id])["deleted"], true);

    // Errors from the API read as well as local ones.
    let output = me.run(&["edit", &id, "--set", "start=2026-01-01"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("organizations have no field start"));

    // Deciding together, through the node.
    let room = me.json(&[
        "room", "create", "--in", "97400", "--name", "Quartier", "--who", "anyone",
    ]);
    let room = room["id"].as_str().unwrap().to_owned();
    let made = me.json(&[
        "propose",
        &room,
        "--title",
        "Bancs",
        "--text",
        "Deux bancs au parc.",
    ]);
    let proposal = made["made"].as_str().unwrap().to_owned();
    me.json(&["vote", &proposal, "yes"]);
    let output = me.run(&["vote", &proposal, "no"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("votes may not change"));
    me.json(&["close", &proposal]);
    let tally = me.json(&["tally", &proposal, "--verify"]);
    assert_eq!(tally["tally"]["outcome"]["result"], "adopted");
    assert_eq!(tally["verified"]["same"], true);

    // A second node on the same data directory fails fast.
    let second = me.run(&["node", "--api", "127.0.0.1:0"]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));

    // SIGTERM: a clean stop, then the commands use the store directly.
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!me.home().join("api.json").exists());
    let status = me.json(&["status"]);
    assert!(status.get("api").is_none());
    assert_eq!(status["store"]["documents"], 4);
    let shown = me.json(&["show", &id]);
    assert_eq!(shown["fields"]["category"], "garage");
    assert_eq!(shown["deleted"], true);
    let compacted = me.json(&["compact"]);
    assert!(
        compacted["bytes_after"].as_u64().unwrap() <= compacted["bytes_before"].as_u64().unwrap()
    );
    assert_eq!(me.json(&["show", &id])["fields"]["category"], "garage");
}

#[test]
fn the_node_joins_from_flags_and_refuses_public_addresses() {
    let temp = tempfile::tempdir().unwrap();
    let me = Communecter::new(BIN, temp.path().join("home"));
    let output = me.run(&["node", "--api", "0.0.0.0:7878"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--api-public"));

    let addr_file = temp.path().join("addr.json");
    let mut node = me.start_node(&addr_file, &["--postal-code", "97400", "--name", "Paul"]);
    let status = me.json(&["status"]);
    assert_eq!(status["joined"], true);
    assert_eq!(status["postal_code"], "97400");
    assert!(node.terminate().success());
}

#[test]
fn two_nodes_on_loopback_share_their_postal_code() {
    let temp = tempfile::tempdir().unwrap();
    let anne = Communecter::new(BIN, temp.path().join("a"));
    let bruno = Communecter::new(BIN, temp.path().join("b"));
    let (file_a, file_b) = (temp.path().join("a.json"), temp.path().join("b.json"));
    let join = |name: &'static str| ["--postal-code", "97400", "--name", name];
    let mut a_node = anne.start_node(&file_a, &join("Anne"));
    let a = a_node.network_addresses(&file_a);
    let a_listen = a["listen"][0].as_str().unwrap().to_owned();
    assert!(a_listen.starts_with("/ip4/127.0.0.1/tcp/") && a_listen.contains("/p2p/"));
    let mut args = join("Bruno").to_vec();
    args.extend(["--bootstrap", &a_listen]);
    let mut b_node = bruno.start_node(&file_b, &args);
    let b = b_node.network_addresses(&file_b);

    let garage = anne.json(&["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();
    eventually("B lists A's garage", PATIENCE, || {
        bruno.lists(&id, &["--kind", "organization"])
    });

    let peers = bruno.json(&["peers"]);
    let peer = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|peer| peer["peer_id"] == a["peer_id"])
        .expect("A among B's peers");
    assert_eq!(peer["postal_keys"][0], "97400");
    let status = bruno.json(&["status"]);
    assert_eq!(status["network"]["peer_id"], b["peer_id"]);
    assert_eq!(status["network"]["listen"], b["listen"]);
    let topic = &status["network"]["postal_codes"][0];
    assert_eq!(topic["postal_code"], "97400");
    // Anne's and Bruno's profiles, and the garage.
    eventually("B holds the three documents", PATIENCE, || {
        bruno.json(&["status"])["network"]["postal_codes"][0]["documents"] == 3
    });

    let followed = bruno.json(&["follow-postal-code", "97410"]);
    assert_eq!(followed["following"], "97410");
    let status = bruno.json(&["status"]);
    assert_eq!(status["follows"][0], "97410");
    let keys: Vec<&str> = status["network"]["postal_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|topic| topic["postal_code"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"97410"), "{keys:?}");
}

#[test]
fn a_relay_keeps_a_postal_code_while_its_nodes_are_off() {
    let temp = tempfile::tempdir().unwrap();
    let relay_file = temp.path().join("relay.json");
    let relay_home = Communecter::new(BIN, temp.path().join("relay"));
    let mut relay = Process::spawn(
        relay_home
            .relay(&relay_file, "97400")
            .args(["--name", "Relais de la mairie annexe"]),
    );
    let relay_address = relay.network_addresses(&relay_file)["listen"][0]
        .as_str()
        .unwrap()
        .to_owned();

    let anne = Communecter::new(BIN, temp.path().join("a"));
    let file_a = temp.path().join("a.json");
    let mut a = anne.start_node(
        &file_a,
        &["--postal-code", "97400", "--bootstrap", &relay_address],
    );
    a.network_addresses(&file_a);
    let garage = anne.json(&["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();
    eventually("A reaches the relay", PATIENCE, || {
        anne.json(&["peers"])
            .as_array()
            .is_some_and(|peers| !peers.is_empty())
    });
    // Give gossip and sync a moment to reach the relay, then stop A.
    std::thread::sleep(Duration::from_secs(2));
    assert!(a.terminate().success());

    // Bruno's node knows the relay from the data directory's list of
    // community relays, not from a flag.
    let bruno_home = temp.path().join("b");
    std::fs::create_dir_all(&bruno_home).unwrap();
    std::fs::write(
        bruno_home.join("relays.txt"),
        format!("# Le relais de la commune\n{relay_address}\n"),
    )
    .unwrap();
    let bruno = Communecter::new(BIN, bruno_home);
    let _b = bruno.start_node(&temp.path().join("b.json"), &["--postal-code", "97400"]);
    eventually("B gets A's garage from the relay", PATIENCE, || {
        bruno.lists(&id, &["--kind", "organization"])
    });
    // The relay's entry came with the directory, naming it; B learnt the
    // relay from it.
    let entries = bruno.json(&["list", "--kind", "relay"]);
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["fields"]["name"], "Relais de la mairie annexe");
    let relay_id = relay_address.rsplit('/').next().unwrap();
    eventually("B lists the relay as learnt", PATIENCE, || {
        bruno.json(&["status"])["network"]["relays_learnt"] == serde_json::json!([relay_id])
    });

    // A list with a line that is no relay's address stops the node, saying
    // which line.
    let chloe_home = temp.path().join("c");
    std::fs::create_dir_all(&chloe_home).unwrap();
    let list = chloe_home.join("relais.txt");
    std::fs::write(&list, format!("{relay_address}\nrelais.example.org\n")).unwrap();
    let chloe = Communecter::new(BIN, chloe_home);
    let output = chloe.run(&[
        "node",
        "--postal-code",
        "97400",
        "--relays",
        list.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("relais.txt: line 2:"), "{error}");
}

/// What a node that joined and answered one `status` wrote to stderr, run
/// with `rust_log` and `extra` flags.
fn logs_of_a_short_run(rust_log: Option<&str>, extra: &[&str]) -> String {
    let temp = tempfile::tempdir().unwrap();
    let me = Communecter::new(BIN, temp.path().join("home"));
    let addr_file = temp.path().join("addr.json");
    me.ok(&["init", "--postal-code", "97400", "--name", "Marie"]);
    let mut command = me.node(&addr_file, extra);
    command.env_remove("RUST_LOG").stderr(Stdio::piped());
    if let Some(rust_log) = rust_log {
        command.env("RUST_LOG", rust_log);
    }
    let mut node = Process::spawn(&mut command);
    node.network_addresses(&addr_file);
    me.json(&["status"]);
    assert!(node.terminate().success());
    node.stderr()
}

#[test]
fn the_node_logs_to_stderr_as_rust_log_says() {
    // By default: the node's information, quiet enough for a terminal.
    let quiet = logs_of_a_short_run(None, &[]);
    assert!(
        quiet.contains("INFO") && quiet.contains("node started"),
        "{quiet}"
    );
    assert!(quiet.contains("network started"), "{quiet}");
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    assert!(quiet.lines().count() < 10, "{quiet}");

    // RUST_LOG=debug: the requests to the API too.
    let debug = logs_of_a_short_run(Some("debug"), &[]);
    assert!(
        debug.contains("DEBUG") && debug.contains("API request"),
        "{debug}"
    );
    assert!(debug.contains("path=\"/api/status\""), "{debug}");

    // --log-format json: one object per line, for a log collector.
    let json = logs_of_a_short_run(Some("node=debug"), &["--log-format", "json"]);
    let lines: Vec<Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "node started"),
        "{json}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["level"] == "DEBUG" && line["fields"]["path"] == "/api/status"),
        "{json}"
    );
}
