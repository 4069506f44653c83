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

/// Starts `communecter node` on a free port and waits for its address file.
fn start_node(home: &Path, addr_file: &PathBuf) -> Node {
    let child = Command::new(env!("CARGO_BIN_EXE_communecter"))
        .args(["node", "--api", "127.0.0.1:0", "--addr-file"])
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
    assert_eq!(status["store"]["documents"], 2);
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
            "--addr-file",
        ])
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
