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

/// Five computers on one Ethernet segment, their nodes started at the same
/// moment: each meets the four others within seconds, without waiting for
/// mDNS's next query (20 s later), which is what happened when they asked
/// and answered before they knew their own addresses.
#[test]
fn five_nodes_started_together_all_meet_within_seconds() {
    if !netns::is_root() {
        eprintln!("skipped: creating network namespaces needs root");
        return;
    }
    const NODES: usize = 5;
    /// Well under mDNS's query interval (20 s): meeting only at the next
    /// query fails.
    const MEETING: Duration = Duration::from_secs(10);
    let temp = tempfile::tempdir().unwrap();
    let mut lan = Network::new("lan5");
    let computers: Vec<_> = (0..NODES)
        .map(|n| lan.namespace(&format!("c{n}")))
        .collect();
    lan.switch(&computers.iter().collect::<Vec<_>>());
    for (n, computer) in computers.iter().enumerate() {
        computer.ip(&[
            "addr",
            "add",
            &format!("10.78.0.{}/24", n + 1),
            "dev",
            "eth0",
        ]);
    }
    let citizens: Vec<_> = computers
        .iter()
        .enumerate()
        .map(|(n, computer)| {
            let home = temp.path().join(format!("c{n}"));
            let citizen =
                Communecter::new(env!("CARGO_BIN_EXE_communecter"), home).inside(computer);
            citizen.ok(&[
                "init",
                "--postal-code",
                "97400",
                "--name",
                &format!("Voisin {n}"),
            ]);
            (citizen, temp.path().join(format!("c{n}.json")))
        })
        .collect();
    // All started before any is waited for.
    let mut nodes: Vec<Process> = citizens
        .iter()
        .map(|(citizen, addr_file)| {
            Process::spawn(
                citizen
                    .command(&[
                        "node",
                        "--api",
                        "127.0.0.1:0",
                        "--listen",
                        "/ip4/0.0.0.0/tcp/0",
                    ])
                    .arg("--addr-file")
                    .arg(addr_file),
            )
        })
        .collect();
    for (node, (_, addr_file)) in nodes.iter_mut().zip(&citizens) {
        node.network_addresses(addr_file);
    }
    let listening = std::time::Instant::now();
    let peers = |citizen: &Communecter| citizen.json(&["peers"]).as_array().map_or(0, Vec::len);
    let met = within(MEETING, || {
        citizens
            .iter()
            .all(|(citizen, _)| peers(citizen) == NODES - 1)
    });
    let counts: Vec<usize> = citizens.iter().map(|(citizen, _)| peers(citizen)).collect();
    assert!(met, "peers of each node after {MEETING:?}: {counts:?}");
    eprintln!(
        "{NODES} nodes started together met in {:.1} s once all listened",
        listening.elapsed().as_secs_f64()
    );
}
