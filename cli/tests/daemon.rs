//! `communecter node` as a user runs it: the other commands go through its
//! API while it runs, a second one fails fast, SIGTERM stops it cleanly, and
//! everything written through it is there afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn communecter(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_communecter"))
        .args(args)
        .env("COMMUNECTER_HOME", home)
        .output()
        .expect("the communecter binary runs")
}

fn ok_json(home: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = communecter(home, &args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

struct Node {
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Network flags that keep a test node on loopback, off the LAN.
const LOOPBACK: [&str; 3] = ["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"];

/// Starts `communecter node` on a free port and waits for its address file.
fn start_node(home: &Path, addr_file: &PathBuf) -> Node {
    start_node_with(home, addr_file, &[])
}

fn start_node_with(home: &Path, addr_file: &PathBuf, extra: &[&str]) -> Node {
    start_node_logging(home, addr_file, extra, None)
}

/// Starts a node whose logs follow `rust_log` (unset: the defaults; its
/// stderr is read only once it stops, so keep it short).
fn start_node_logging(
    home: &Path,
    addr_file: &PathBuf,
    extra: &[&str],
    rust_log: Option<&str>,
) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_communecter"));
    command.env_remove("RUST_LOG");
    if let Some(rust_log) = rust_log {
        command.env("RUST_LOG", rust_log);
    }
    let child = command
        .args(["node", "--api", "127.0.0.1:0"])
        .args(LOOPBACK)
        .args(extra)
        .arg("--addr-file")
        .arg(addr_file)
        .env("COMMUNECTER_HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !addr_file.exists() {
        assert!(Instant::now() < deadline, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Node { child }
}

fn terminate(node: &mut Node) -> std::process::ExitStatus {
    let pid = node.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn commands_go_through_a_running_node() {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let addr_file = temp.path().join("addr.json");
    let mut node = start_node(&home, &addr_file);
    let api = serde_json::from_str::<Value>(&std::fs::read_to_string(&addr_file).unwrap()).unwrap()
        ["api"]
        .as_str()
        .unwrap()
        .to_owned();

    // Not joined yet: the node says so; joining goes through it.
    let status = ok_json(&home, &["status"]);
    assert_eq!(status["joined"], false);
    assert_eq!(status["api"], api.as_str());
    let person = ok_json(
        &home,
        &["init", "--postal-code", "97400", "--name", "Marie"],
    );
    assert_eq!(person["kind"], "person");

    let status = ok_json(&home, &["status"]);
    assert_eq!(
        status["api"],
        api.as_str(),
        "status comes from the running node"
    );
    let garage = ok_json(
        &home,
        &[
            "add",
            "organization",
            "--name",
            "Garage Payet",
            "--tag",
            "mécanique",
        ],
    );
    let id = garage["id"].as_str().unwrap().to_owned();
    ok_json(&home, &["edit", &id, "--set", "category=garage"]);
    ok_json(&home, &["link", &id, "recommends", "--comment", "Top"]);
    assert_eq!(
        ok_json(&home, &["search", "mecanique"])[0]["id"],
        id.as_str()
    );
    assert_eq!(
        ok_json(&home, &["list", "--kind", "organization"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let table = communecter(&home, &["list", "--tag", "Mécanique"]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("Garage Payet") && table.contains("garage"),
        "{table}"
    );
    let shown = ok_json(&home, &["show", &id, "--history"]);
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    // Open data out and in, through the node.
    let export = communecter(&home, &["export", "--format", "jsonld"]);
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
    let report = ok_json(&home, &["import", rows.to_str().unwrap()]);
    assert_eq!(
        (report["imported"].as_u64(), report["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    let epicerie = ok_json(&home, &["search", "epicerie"]);
    ok_json(&home, &["delete", epicerie[0]["id"].as_str().unwrap()]);
    // Compacting needs the store to itself.
    let compact = communecter(&home, &["compact"]);
    assert!(!compact.status.success());
    assert!(String::from_utf8_lossy(&compact.stderr).contains("stop it"));
    ok_json(&home, &["unlink", &id, "recommends"]);
    assert_eq!(ok_json(&home, &["delete", &id])["deleted"], true);

    // Errors from the API read as well as local ones.
    let output = communecter(&home, &["edit", &id, "--set", "start=2026-01-01"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("organizations have no field start"));

    // A second node on the same data directory fails fast.
    let second = communecter(&home, &["node", "--api", "127.0.0.1:0"]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));

    // SIGTERM: a clean stop, then the commands use the store directly.
    let status = terminate(&mut node);
    assert!(status.success(), "{status:?}");
    assert!(!home.join("api.json").exists());
    let status = ok_json(&home, &["status"]);
    assert!(status.get("api").is_none());
    assert_eq!(status["store"]["documents"], 3);
    let shown = ok_json(&home, &["show", &id]);
    assert_eq!(shown["fields"]["category"], "garage");
    assert_eq!(shown["deleted"], true);
    let compacted = ok_json(&home, &["compact"]);
    assert!(
        compacted["bytes_after"].as_u64().unwrap() <= compacted["bytes_before"].as_u64().unwrap()
    );
    assert_eq!(
        ok_json(&home, &["show", &id])["fields"]["category"],
        "garage"
    );
}

#[test]
fn the_node_joins_from_flags_and_refuses_public_addresses() {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let output = communecter(&home, &["node", "--api", "0.0.0.0:7878"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--api-public"));

    let addr_file = temp.path().join("addr.json");
    let child = Command::new(env!("CARGO_BIN_EXE_communecter"))
        .args([
            "node",
            "--api",
            "127.0.0.1:0",
            "--postal-code",
            "97400",
            "--name",
            "Paul",
        ])
        .args(LOOPBACK)
        .arg("--addr-file")
        .arg(&addr_file)
        .env("COMMUNECTER_HOME", &home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut node = Node { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !addr_file.exists() {
        assert!(Instant::now() < deadline, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = ok_json(&home, &["status"]);
    assert_eq!(status["joined"], true);
    assert_eq!(status["postal_code"], "97400");
    assert!(terminate(&mut node).success());
}

/// Waits until `condition` holds, for at most 30 seconds.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The address file once the network runs.
fn network_addresses(addr_file: &Path) -> Value {
    let mut published = Value::Null;
    eventually("the node publishes its peer id", || {
        published = std::fs::read_to_string(addr_file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        published["peer_id"].is_string()
    });
    published
}

#[test]
fn two_nodes_on_loopback_share_their_postal_code() {
    let temp = tempfile::tempdir().unwrap();
    let (home_a, home_b) = (temp.path().join("a"), temp.path().join("b"));
    let (file_a, file_b) = (temp.path().join("a.json"), temp.path().join("b.json"));
    let join = |name: &'static str| ["--postal-code", "97400", "--name", name];
    let _a = start_node_with(&home_a, &file_a, &join("Anne"));
    let a = network_addresses(&file_a);
    let a_listen = a["listen"][0].as_str().unwrap().to_owned();
    assert!(a_listen.starts_with("/ip4/127.0.0.1/tcp/") && a_listen.contains("/p2p/"));
    let mut args = join("Bruno").to_vec();
    args.extend(["--bootstrap", &a_listen]);
    let _b = start_node_with(&home_b, &file_b, &args);
    let b = network_addresses(&file_b);

    let garage = ok_json(&home_a, &["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();
    eventually("B lists A's garage", || {
        ok_json(&home_b, &["list", "--kind", "organization"])
            .as_array()
            .unwrap()
            .iter()
            .any(|entity| entity["id"] == id.as_str())
    });

    let peers = ok_json(&home_b, &["peers"]);
    let peer = peers
        .as_array()
        .unwrap()
        .iter()
        .find(|peer| peer["peer_id"] == a["peer_id"])
        .expect("A among B's peers");
    assert_eq!(peer["postal_keys"][0], "97400");
    let status = ok_json(&home_b, &["status"]);
    assert_eq!(status["network"]["peer_id"], b["peer_id"]);
    assert_eq!(status["network"]["listen"], b["listen"]);
    let topic = &status["network"]["postal_codes"][0];
    assert_eq!(topic["postal_code"], "97400");
    // Anne's and Bruno's profiles, and the garage.
    eventually("B holds the three documents", || {
        ok_json(&home_b, &["status"])["network"]["postal_codes"][0]["documents"] == 3
    });

    let followed = ok_json(&home_b, &["follow-postal-code", "97410"]);
    assert_eq!(followed["following"], "97410");
    let status = ok_json(&home_b, &["status"]);
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
    let relay = Command::new(env!("CARGO_BIN_EXE_communecter"))
        .args(["relay", "--serve", "97400", "--no-mdns"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--addr-file"])
        .arg(&relay_file)
        .env("COMMUNECTER_HOME", temp.path().join("relay"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _relay = Node { child: relay };
    let relay_address = network_addresses(&relay_file)["listen"][0]
        .as_str()
        .unwrap()
        .to_owned();

    let (home_a, file_a) = (temp.path().join("a"), temp.path().join("a.json"));
    let mut a = start_node_with(
        &home_a,
        &file_a,
        &["--postal-code", "97400", "--bootstrap", &relay_address],
    );
    network_addresses(&file_a);
    let garage = ok_json(&home_a, &["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();
    eventually("A reaches the relay", || {
        ok_json(&home_a, &["peers"])
            .as_array()
            .is_some_and(|peers| !peers.is_empty())
    });
    // Give gossip and sync a moment to reach the relay, then stop A.
    std::thread::sleep(Duration::from_secs(2));
    assert!(terminate(&mut a).success());

    let (home_b, file_b) = (temp.path().join("b"), temp.path().join("b.json"));
    let _b = start_node_with(
        &home_b,
        &file_b,
        &["--postal-code", "97400", "--bootstrap", &relay_address],
    );
    eventually("B gets A's garage from the relay", || {
        ok_json(&home_b, &["list", "--kind", "organization"])
            .as_array()
            .unwrap()
            .iter()
            .any(|entity| entity["id"] == id.as_str())
    });
}

/// What a node that joined and answered one `status` wrote to stderr, run
/// with `rust_log` and `extra` flags.
fn logs_of_a_short_run(rust_log: Option<&str>, extra: &[&str]) -> String {
    let temp = tempfile::tempdir().unwrap();
    let home = temp.path().join("home");
    let addr_file = temp.path().join("addr.json");
    let init = communecter(
        &home,
        &["init", "--postal-code", "97400", "--name", "Marie"],
    );
    assert!(init.status.success());
    let mut node = start_node_logging(&home, &addr_file, extra, rust_log);
    // The network's addresses are in the file once it runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&addr_file).is_ok_and(|text| text.contains("peer_id")) {
        assert!(Instant::now() < deadline, "the network did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    ok_json(&home, &["status"]);
    assert!(terminate(&mut node).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(node.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    stderr
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
