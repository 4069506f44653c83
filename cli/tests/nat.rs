//! Two homes behind NATs and a community relay, in network namespaces: a
//! "public" namespace with the relay on a bridge, and for each home a
//! router namespace (masquerading with nftables, dropping what its home did
//! not ask for, as home routers do) and the home's namespace behind it. The
//! homes cannot open connections to each other; each runs
//! `communecter node` bootstrapped only with the relay's address. They
//! share their postal code through the relay, then hole punching makes
//! their connection direct. Needs
//! root, `ip`, `nft` and `ping` (CI installs them); elsewhere it says so and stops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const RELAY_IP: &str = "198.51.100.1";

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    assert!(status.success(), "{program} {}", args.join(" "));
}

/// The namespaces, removed on drop.
struct Network {
    tag: u32,
    namespaces: Vec<String>,
}

impl Network {
    fn name(&self, what: &str) -> String {
        format!("cm-{what}-{}", self.tag)
    }

    fn add(&mut self, what: &str) -> String {
        let name = self.name(what);
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        self.namespaces.push(name.clone());
        name
    }

    /// A veth pair from namespace `a` (device `da`) to `b` (device `db`).
    fn link(&self, a: &str, da: &str, b: &str, db: &str) {
        run(
            "ip",
            &["link", "add", da, "type", "veth", "peer", "name", db],
        );
        run("ip", &["link", "set", da, "netns", a]);
        run("ip", &["link", "set", db, "netns", b]);
        run("ip", &["-n", a, "link", "set", da, "up"]);
        run("ip", &["-n", b, "link", "set", db, "up"]);
    }

    fn build() -> Self {
        let mut network = Self {
            tag: std::process::id() % 10_000,
            namespaces: Vec::new(),
        };
        let tag = network.tag;
        let public = network.add("pub");
        run(
            "ip",
            &["-n", &public, "link", "add", "br0", "type", "bridge"],
        );
        run(
            "ip",
            &[
                "-n",
                &public,
                "addr",
                "add",
                &format!("{RELAY_IP}/24"),
                "dev",
                "br0",
            ],
        );
        run("ip", &["-n", &public, "link", "set", "br0", "up"]);
        for (n, home) in ["a", "b"].into_iter().enumerate() {
            let router = network.add(&format!("r{home}"));
            let house = network.add(&format!("h{home}"));
            let (wan, port) = (format!("w{home}{tag}"), format!("p{home}{tag}"));
            network.link(&router, &wan, &public, &port);
            run(
                "ip",
                &["-n", &public, "link", "set", &port, "master", "br0"],
            );
            let wan_ip = format!("198.51.100.{}/24", n + 2);
            run("ip", &["-n", &router, "addr", "add", &wan_ip, "dev", &wan]);
            let (lan, inside) = (format!("l{home}{tag}"), format!("i{home}{tag}"));
            network.link(&router, &lan, &house, &inside);
            let subnet = n + 1;
            run(
                "ip",
                &[
                    "-n",
                    &router,
                    "addr",
                    "add",
                    &format!("10.0.{subnet}.1/24"),
                    "dev",
                    &lan,
                ],
            );
            run(
                "ip",
                &[
                    "-n",
                    &house,
                    "addr",
                    "add",
                    &format!("10.0.{subnet}.2/24"),
                    "dev",
                    &inside,
                ],
            );
            run(
                "ip",
                &[
                    "-n",
                    &house,
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("10.0.{subnet}.1"),
                ],
            );
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &router,
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv4.ip_forward=1",
                ],
            );
            let rules = format!(
                "table ip nat {{\n chain postrouting {{\n  type nat hook postrouting priority 100;\n  oifname \"{wan}\" masquerade\n }}\n}}\n\
                 table ip filter {{\n chain forward {{\n  type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n  iifname \"{lan}\" accept\n }}\n\
                  chain input {{\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  iifname \"{lan}\" accept\n }}\n}}\n"
            );
            let mut nft = Command::new("ip")
                .args(["netns", "exec", &router, "nft", "-f", "-"])
                .stdin(Stdio::piped())
                .spawn()
                .expect("nft runs");
            use std::io::Write;
            nft.stdin
                .take()
                .unwrap()
                .write_all(rules.as_bytes())
                .unwrap();
            assert!(nft.wait().unwrap().success(), "nft rules for {router}");
        }
        network
    }

    fn communecter(&self, what: &str, home: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name(what)])
            .arg(env!("CARGO_BIN_EXE_communecter"))
            .env("COMMUNECTER_HOME", home);
        command
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .status();
        }
    }
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn eventually(what: &str, seconds: u64, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn json(mut command: Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn published(file: &Path) -> Value {
    let mut value = Value::Null;
    eventually("the address file", 30, || {
        value = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        value["peer_id"].is_string()
    });
    value
}

fn can(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn homes_behind_nats_share_their_postal_code_through_the_relay() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if !root || !can("ip") || !can("nft") || !can("ping") {
        eprintln!("skipped: needs root, ip, nft and ping");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let network = Network::build();
    // The homes cannot reach each other.
    let reach = |target: &str| {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &network.name("ha"),
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                target,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    assert!(reach(RELAY_IP), "home A does not reach the relay");
    assert!(!reach("10.0.2.2"), "home A reaches home B directly");

    let relay_file = temp.path().join("relay.json");
    let relay = network
        .communecter("pub", &temp.path().join("relay"))
        .args(["relay", "--serve", "97400", "--no-mdns", "--listen"])
        .arg(format!("/ip4/{RELAY_IP}/tcp/4001"))
        .arg("--addr-file")
        .arg(&relay_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _relay = Process(relay);
    let relay_id = published(&relay_file)["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bootstrap = format!("/ip4/{RELAY_IP}/tcp/4001/p2p/{relay_id}");

    let mut homes: Vec<(PathBuf, Value, Process)> = Vec::new();
    for (what, name) in [("ha", "Anne"), ("hb", "Bruno")] {
        let home = temp.path().join(what);
        let file = temp.path().join(format!("{what}.json"));
        let child = network
            .communecter(what, &home)
            .args(["node", "--api", "127.0.0.1:0", "--no-mdns"])
            .args(["--postal-code", "97400", "--name", name])
            .args(["--listen", "/ip4/0.0.0.0/tcp/0", "--bootstrap", &bootstrap])
            .arg("--addr-file")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let process = Process(child);
        homes.push((home, published(&file), process));
    }
    let (home_a, home_b) = (&homes[0].0, &homes[1].0);

    let mut add = network.communecter("ha", home_a);
    add.args(["add", "organization", "--name", "Garage Payet", "--json"]);
    let id = json(add)["id"].as_str().unwrap().to_owned();
    eventually("home B gets home A's garage", 60, || {
        let mut list = network.communecter("hb", home_b);
        list.args(["list", "--json"]);
        json(list)
            .as_array()
            .unwrap()
            .iter()
            .any(|entity| entity["id"] == id.as_str())
    });

    // The homes meet at the relay's rendezvous and connect through a relay
    // circuit; hole punching then makes the connection direct: over the
    // circuit both dial the other's public address at once, so that each
    // router has let its own home's attempt out when the other's arrives.
    let anne = homes[0].1["peer_id"].as_str().unwrap().to_owned();
    let mut connection = Value::Null;
    eventually("home B connects to home A directly", 60, || {
        let mut peers = network.communecter("hb", home_b);
        peers.args(["peers", "--json"]);
        connection = json(peers)
            .as_array()
            .unwrap()
            .iter()
            .find(|peer| peer["peer_id"] == anne.as_str())
            .cloned()
            .unwrap_or(Value::Null);
        connection["relayed"] == false
    });
    println!("home B to home A: {}", connection["addrs"]);
    // The relayed connection is closed once the direct one is open, and B
    // reaches A at A's router's public address, never its private one.
    let addrs = connection["addrs"].as_array().unwrap();
    assert!(!addrs.is_empty());
    for address in addrs {
        let address = address.as_str().unwrap();
        assert!(address.starts_with("/ip4/198.51.100.2/tcp/"), "{address}");
    }
    let punched: u64 = [("ha", home_a), ("hb", home_b)]
        .into_iter()
        .map(|(what, home)| {
            let mut status = network.communecter(what, home);
            status.args(["status", "--json"]);
            let status = json(status);
            assert_eq!(status["network"]["relayed_peers"], 0);
            status["network"]["hole_punching"]["succeeded"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(punched >= 1, "no hole punching counted");
}
