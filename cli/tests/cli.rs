//! The `communecter` binary, driven as a user would.

use std::process::Command;

fn communecter(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_communecter"))
        .args(args)
        .output()
        .expect("the communecter binary runs")
}

#[test]
fn communes_by_postal_code() {
    let output = communecter(&["communes", "97400"]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("97411"), "{stdout}");
    assert!(stdout.contains("Saint-Denis"), "{stdout}");
}

#[test]
fn communes_as_json() {
    let output = communecter(&["communes", "saint denis", "--json", "--limit", "50"]);
    assert!(output.status.success());
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let codes: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|commune| commune["insee"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"93066"), "{codes:?}");
    assert!(codes.contains(&"97411"), "{codes:?}");
}

#[test]
fn unknown_commune_is_a_clear_error() {
    let output = communecter(&["communes", "00000"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no commune matches"), "{stderr}");
}

#[test]
fn node_says_not_yet() {
    let output = communecter(&["node"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("not yet")
    );
}
