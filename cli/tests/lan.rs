//! Two computers on one LAN, made of two network namespaces joined by a
//! virtual Ethernet pair: their `communecter node`s find each other with
//! mDNS alone (no address given) and share their postal code. Needs root
//! (to create namespaces), as in CI; elsewhere it says so and stops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Network namespaces and their link, removed on drop.
struct Lan {
    namespaces: [String; 2],
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("the ip command runs");
    assert!(status.success(), "ip {}", args.join(" "));
}

impl Lan {
    fn new() -> Self {
        let tag = std::process::id() % 100_000;
        let namespaces = [format!("cm-lan-a-{tag}"), format!("cm-lan-b-{tag}")];
        let lan = Self { namespaces };
        let [a, b] = &lan.namespaces;
        let (va, vb) = (format!("cma{tag}"), format!("cmb{tag}"));
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
        ip(&["link", "set", &va, "netns", a]);
        ip(&["link", "set", &vb, "netns", b]);
        for (namespace, device, address) in [(a, &va, "10.77.0.1/24"), (b, &vb, "10.77.0.2/24")] {
            ip(&["-n", namespace, "addr", "add", address, "dev", device]);
            ip(&["-n", namespace, "link", "set", device, "up"]);
            ip(&["-n", namespace, "link", "set", "lo", "up"]);
        }
        lan
    }

    /// `communecter` run inside namespace `n`.
    fn command(&self, n: usize, home: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespaces[n]])
            .arg(env!("CARGO_BIN_EXE_communecter"))
            .env("COMMUNECTER_HOME", home);
        command
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for namespace in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .status();
        }
    }
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ok_json(output: Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Whether `condition` holds within `limit`.
fn within(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

fn eventually(what: &str, condition: impl FnMut() -> bool) {
    // mDNS asks the LAN again every 20 s when a first query was lost.
    assert!(
        within(Duration::from_secs(90), condition),
        "timed out: {what}"
    );
}

#[test]
fn nodes_on_one_lan_find_each_other_with_mdns() {
    // Namespaces need root.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if !root {
        eprintln!("skipped: creating network namespaces needs root");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let lan = Lan::new();
    let homes: Vec<PathBuf> = ["a", "b"].iter().map(|n| temp.path().join(n)).collect();
    let files: Vec<PathBuf> = ["a.json", "b.json"]
        .iter()
        .map(|n| temp.path().join(n))
        .collect();
    let mut nodes = Vec::new();
    for (n, name) in ["Anne", "Bruno"].into_iter().enumerate() {
        let child = lan
            .command(n, &homes[n])
            .args(["node", "--api", "127.0.0.1:0", "--postal-code", "97400"])
            .args([
                "--name",
                name,
                "--listen",
                "/ip4/0.0.0.0/tcp/0",
                "--addr-file",
            ])
            .arg(&files[n])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        nodes.push(Node(child));
    }
    for file in &files {
        eventually("the node publishes its peer id", || {
            std::fs::read_to_string(file).is_ok_and(|text| text.contains("peer_id"))
        });
    }
    let garage = ok_json(
        lan.command(0, &homes[0])
            .args(["add", "organization", "--name", "Garage Payet", "--json"])
            .output()
            .unwrap(),
    );
    let id = garage["id"].as_str().unwrap().to_owned();
    let has_garage = || {
        ok_json(
            lan.command(1, &homes[1])
                .args(["list", "--json"])
                .output()
                .unwrap(),
        )
        .as_array()
        .unwrap()
        .iter()
        .any(|entity| entity["id"] == id.as_str())
    };
    if !within(Duration::from_secs(90), has_garage) {
        // What each node saw of the other, to tell a discovery that
        // never came from a connection that failed.
        for (n, home) in homes.iter().enumerate() {
            for what in ["peers", "status"] {
                let output = lan
                    .command(n, home)
                    .args([what, "--json"])
                    .output()
                    .unwrap();
                eprintln!(
                    "node {n}, {what}: {}",
                    String::from_utf8_lossy(&output.stdout)
                );
            }
        }
        panic!("timed out: Bruno's node gets Anne's garage over the LAN");
    }
    let peers = ok_json(
        lan.command(1, &homes[1])
            .args(["peers", "--json"])
            .output()
            .unwrap(),
    );
    let addrs = peers[0]["addrs"].to_string();
    assert!(addrs.contains("10.77.0.1"), "{addrs}");
}
