//! Neighbours who meet by an invite code alone: three computers on one
//! Ethernet segment with mDNS off and no bootstrap address, so nothing but
//! the code tells one node where another is. Needs root (to create network
//! namespaces), as in CI; elsewhere it says so and stops.

use std::time::Duration;

use support::netns::{self, Network};
use support::{Communecter, Process, within};

/// How long two nodes may take to meet and sync once one knows the other.
const MEETING: Duration = Duration::from_secs(30);

#[test]
fn nodes_that_share_only_an_invite_code_meet_and_sync() {
    if !netns::is_root() {
        eprintln!("skipped: creating network namespaces needs root");
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let mut lan = Network::new("invite");
    let computers: Vec<_> = ["a", "b", "c"].iter().map(|n| lan.namespace(n)).collect();
    lan.switch(&computers.iter().collect::<Vec<_>>());
    for (n, computer) in computers.iter().enumerate() {
        computer.ip(&[
            "addr",
            "add",
            &format!("10.79.0.{}/24", n + 1),
            "dev",
            "eth0",
        ]);
    }
    let citizens: Vec<_> = computers
        .iter()
        .zip(["Anne", "Bruno", "Chloé"])
        .enumerate()
        .map(|(n, (computer, name))| {
            let home = temp.path().join(format!("home{n}"));
            let citizen =
                Communecter::new(env!("CARGO_BIN_EXE_communecter"), home).inside(computer);
            citizen.ok(&["init", "--postal-code", "97400", "--name", name]);
            (citizen, temp.path().join(format!("addr{n}.json")))
        })
        .collect();
    let start = |(citizen, addr_file): &(Communecter, std::path::PathBuf)| {
        let mut node = Process::spawn(
            citizen
                .command(&["node", "--api", "127.0.0.1:0", "--no-mdns"])
                .args(["--listen", "/ip4/0.0.0.0/tcp/0"])
                .arg("--addr-file")
                .arg(addr_file),
        );
        node.network_addresses(addr_file);
        node
    };
    let [anne, bruno, chloe] = &citizens[..] else {
        unreachable!()
    };
    let _anne_node = start(anne);
    let garage = anne
        .0
        .json(&["add", "organization", "--name", "Garage Payet"]);
    let id = garage["id"].as_str().unwrap().to_owned();

    // The code is the last line; --json gives it in a field.
    let text = anne.0.ok(&["invite"]);
    let code = text.lines().last().unwrap().to_owned();
    assert!(code.starts_with("cmn1"), "{text}");
    assert!(text.contains("10.79.0.1"), "{text}");
    let invite = anne.0.json(&["invite"]);
    assert_eq!(invite["code"], code);
    assert_eq!(invite["invite"]["postal_code"], "97400");
    assert!(
        invite["invite"]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|address| !address.as_str().unwrap().contains("127.0.0.1")),
        "{invite}"
    );

    // Drawn for a phone: in the terminal above the code, and as an image
    // for the web map.
    let drawn = anne.0.ok(&["invite", "--qr"]);
    assert_eq!(drawn.lines().last().unwrap(), code, "{drawn}");
    assert!(drawn.contains('█') || drawn.contains('▀'), "{drawn}");
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&anne.1).unwrap()).unwrap();
    let api = published["api"].as_str().unwrap();
    let fetched = computers[0]
        .command("python3")
        .args([
            "-c",
            "import sys, urllib.request\n\
             with urllib.request.urlopen(sys.argv[1] + '/api/invite/qr') as answer:\n\
             \x20   print(answer.headers['Content-Type']); print(answer.read().decode())",
            api,
        ])
        .output()
        .unwrap();
    let fetched = String::from_utf8_lossy(&fetched.stdout);
    assert!(fetched.starts_with("image/svg+xml\n"), "{fetched}");
    assert!(
        fetched.contains("<svg") && fetched.contains("<path"),
        "{fetched}"
    );

    // Bruno's node is not running: the code is remembered for its start.
    let joined = bruno.0.json(&["join", &code]);
    assert_eq!(joined["dialled"], false);
    let _bruno_node = start(bruno);
    assert!(
        within(MEETING, || bruno.0.lists(&id, &[])),
        "Bruno's node, started after `join`, gets Anne's garage"
    );

    // Chloé's node runs: it dials at once. The code as read aloud, in
    // groups, in capitals.
    let _chloe_node = start(chloe);
    let spoken = code
        .to_uppercase()
        .chars()
        .collect::<Vec<_>>()
        .chunks(5)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-");
    let joined = chloe.0.json(&["join", &spoken]);
    assert_eq!(joined["dialled"], true, "{joined}");
    assert!(
        within(MEETING, || chloe.0.lists(&id, &[])),
        "Chloé's node gets Anne's garage"
    );

    // A code mistyped is said so, and nothing is remembered.
    let mut typo = code.clone().into_bytes();
    let last = typo.len() - 3;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let error = chloe
        .0
        .fails(&["join", std::str::from_utf8(&typo).unwrap()]);
    assert!(error.contains("mistyped or incomplete"), "{error}");
}
