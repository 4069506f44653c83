//! Two homes behind NATs and a community relay, in network namespaces: a
//! "public" namespace with the relay on a bridge, and for each home a
//! router namespace (masquerading with nftables, dropping what its home did
//! not ask for, as home routers do) and the home's namespace behind it. The
//! homes cannot open connections to each other; each runs
//! `communecter node` bootstrapped only with the relay's address. They
//! share their postal code through the relay, then hole punching makes
//! their connection direct. Needs
//! root, `ip`, `nft` and `ping` (CI installs them); elsewhere it says so and stops.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::netns::{self, Namespace, Network};
use support::{Communecter, Process, eventually};

const RELAY_IP: &str = "198.51.100.1";

/// A home router's firewall: the home's connections go out masqueraded
/// behind the router's public address, and only the answers to them come
/// back in.
const ROUTER_RULES: &str = "\
table ip nat {
 chain postrouting {
  type nat hook postrouting priority 100;
  oifname \"wan\" masquerade
 }
}
table ip filter {
 chain forward {
  type filter hook forward priority 0; policy drop;
  ct state established,related accept
  iifname \"lan\" accept
 }
 chain input {
  type filter hook input priority 0; policy drop;
  ct state established,related accept
  iifname \"lan\" accept
 }
}
";

/// The public namespace with the relay's bridge, and the two homes, each
/// behind its router; removed on drop.
struct Internet {
    _network: Network,
    public: Namespace,
    homes: [Namespace; 2],
}

impl Internet {
    fn build() -> Self {
        let mut network = Network::new("nat");
        let public = network.namespace("pub");
        public.ip(&["link", "add", "br0", "type", "bridge"]);
        public.ip(&["addr", "add", &format!("{RELAY_IP}/24"), "dev", "br0"]);
        public.ip(&["link", "set", "br0", "up"]);
        let homes = [0, 1].map(|n| {
            let router = network.namespace(&format!("router{n}"));
            let home = network.namespace(&format!("home{n}"));
            let port = format!("port{n}");
            network.link((&router, "wan"), (&public, &port));
            public.ip(&["link", "set", &port, "master", "br0"]);
            let wan_ip = format!("198.51.100.{}/24", n + 2);
            router.ip(&["addr", "add", &wan_ip, "dev", "wan"]);
            network.link((&router, "lan"), (&home, "eth0"));
            let subnet = n + 1;
            router.ip(&["addr", "add", &format!("10.0.{subnet}.1/24"), "dev", "lan"]);
            home.ip(&["addr", "add", &format!("10.0.{subnet}.2/24"), "dev", "eth0"]);
            home.ip(&[
                "route",
                "add",
                "default",
                "via",
                &format!("10.0.{subnet}.1"),
            ]);
            router.run("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"]);
            let mut nft = router
                .command("nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .spawn()
                .expect("nft runs");
            nft.stdin
                .take()
                .unwrap()
                .write_all(ROUTER_RULES.as_bytes())
                .unwrap();
            assert!(nft.wait().unwrap().success(), "nft rules for router {n}");
            home
        });
        Self {
            _network: network,
            public,
            homes,
        }
    }
}

#[test]
fn homes_behind_nats_share_their_postal_code_through_the_relay() {
    if !netns::is_root() || !netns::can("ip") || !netns::can("nft") || !netns::can("ping") {
        eprintln!("skipped: needs root, ip, nft and ping");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let internet = Internet::build();
    let communecter = |namespace: &Namespace, home: &str| {
        Communecter::new(env!("CARGO_BIN_EXE_communecter"), temp.path().join(home))
            .inside(namespace)
    };
    // The homes cannot reach each other.
    let reach = |target: &str| {
        internet.homes[0]
            .command("ping")
            .args(["-c", "1", "-W", "1", target])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    assert!(reach(RELAY_IP), "home A does not reach the relay");
    assert!(!reach("10.0.2.2"), "home A reaches home B directly");

    let relay_file = temp.path().join("relay.json");
    let mut relay = Process::spawn(
        communecter(&internet.public, "relay")
            .command(&["relay", "--serve", "97400", "--no-mdns", "--listen"])
            .arg(format!("/ip4/{RELAY_IP}/tcp/4001"))
            .arg("--addr-file")
            .arg(&relay_file),
    );
    let relay_id = relay.network_addresses(&relay_file)["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bootstrap = format!("/ip4/{RELAY_IP}/tcp/4001/p2p/{relay_id}");

    let mut homes: Vec<(Communecter, Value, Process)> = Vec::new();
    for (namespace, (what, name)) in internet.homes.iter().zip([("ha", "Anne"), ("hb", "Bruno")]) {
        let citizen = communecter(namespace, what);
        let file = temp.path().join(format!("{what}.json"));
        let mut node = Process::spawn(
            citizen
                .command(&["node", "--api", "127.0.0.1:0", "--no-mdns"])
                .args(["--postal-code", "97400", "--name", name])
                .args(["--listen", "/ip4/0.0.0.0/tcp/0", "--bootstrap", &bootstrap])
                .arg("--addr-file")
                .arg(&file),
        );
        let published = node.network_addresses(&file);
        homes.push((citizen, published, node));
    }
    let (home_a, home_b) = (&homes[0].0, &homes[1].0);

    let garage = home_a.json(&["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();
    eventually(
        "home B gets home A's garage",
        Duration::from_secs(60),
        || home_b.lists(&id, &[]),
    );

    // The homes meet at the relay's rendezvous and connect through a relay
    // circuit; hole punching then makes the connection direct: over the
    // circuit both dial the other's public address at once, so that each
    // router has let its own home's attempt out when the other's arrives.
    let anne = homes[0].1["peer_id"].as_str().unwrap().to_owned();
    let mut connection = Value::Null;
    eventually(
        "home B connects to home A directly",
        Duration::from_secs(60),
        || {
            connection = home_b
                .json(&["peers"])
                .as_array()
                .unwrap()
                .iter()
                .find(|peer| peer["peer_id"] == anne.as_str())
                .cloned()
                .unwrap_or(Value::Null);
            // Direct, and the circuit closed (which follows the direct
            // connection's opening by a moment).
            let circuit = connection["addrs"].as_array().is_some_and(|addrs| {
                addrs
                    .iter()
                    .any(|address| address.as_str().is_some_and(|a| a.contains("p2p-circuit")))
            });
            connection["relayed"] == false && !circuit
        },
    );
    println!("home B to home A: {}", connection["addrs"]);
    // The relayed connection is closed once the direct one is open, and B
    // reaches A at A's router's public address, never its private one.
    let addrs = connection["addrs"].as_array().unwrap();
    assert!(!addrs.is_empty());
    for address in addrs {
        let address = address.as_str().unwrap();
        assert!(address.starts_with("/ip4/198.51.100.2/tcp/"), "{address}");
    }
    let punched: u64 = [home_a, home_b]
        .into_iter()
        .map(|home| {
            let status = home.json(&["status"]);
            assert_eq!(status["network"]["relayed_peers"], 0);
            status["network"]["hole_punching"]["succeeded"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(punched >= 1, "no hole punching counted");
}
