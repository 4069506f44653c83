//! Two computers on one LAN, made of two network namespaces joined by a
//! virtual Ethernet pair: their `communecter node`s find each other with
//! mDNS alone (no address given) and share their postal code. Needs root
//! (to create namespaces), as in CI; elsewhere it says so and stops.

use std::time::Duration;

use support::netns::{self, Network};
use support::{Communecter, Process, within};

/// How long discovery may take: mDNS asks the LAN again every 20 s when a
/// first query was lost.
const DISCOVERY: Duration = Duration::from_secs(90);

#[test]
fn nodes_on_one_lan_find_each_other_with_mdns() {
    if !netns::is_root() {
        eprintln!("skipped: creating network namespaces needs root");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let mut lan = Network::new("lan");
    let (a, b) = (lan.namespace("a"), lan.namespace("b"));
    lan.link((&a, "eth0"), (&b, "eth0"));
    for (computer, address) in [(&a, "10.77.0.1/24"), (&b, "10.77.0.2/24")] {
        computer.ip(&["addr", "add", address, "dev", "eth0"]);
    }
    let citizens = [(&a, "a", "Anne"), (&b, "b", "Bruno")].map(|(computer, home, name)| {
        let citizen = Communecter::new(env!("CARGO_BIN_EXE_communecter"), temp.path().join(home))
            .inside(computer);
        (citizen, temp.path().join(format!("{home}.json")), name)
    });
    let mut nodes = Vec::new();
    for (citizen, addr_file, name) in &citizens {
        let mut node = Process::spawn(
            citizen
                .command(&["node", "--api", "127.0.0.1:0", "--postal-code", "97400"])
                .args(["--name", name, "--listen", "/ip4/0.0.0.0/tcp/0"])
                .arg("--addr-file")
                .arg(addr_file),
        );
        node.network_addresses(addr_file);
        nodes.push(node);
    }
    let [(anne, ..), (bruno, ..)] = &citizens;
    let garage = anne.json(&["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();
    if !within(DISCOVERY, || bruno.lists(&id, &[])) {
        // What each node saw of the other, to tell a discovery that
        // never came from a connection that failed.
        for (n, (citizen, ..)) in citizens.iter().enumerate() {
            for what in ["peers", "status"] {
                let output = citizen.run(&[what, "--json"]);
                eprintln!(
                    "node {n}, {what}: {}",
                    String::from_utf8_lossy(&output.stdout)
                );
            }
        }
        panic!("timed out: Bruno's node gets Anne's garage over the LAN");
    }
    let peers = bruno.json(&["peers"]);
    let addrs = peers[0]["addrs"].to_string();
    assert!(addrs.contains("10.77.0.1"), "{addrs}");
}
