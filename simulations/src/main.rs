//! Simulations of many Communecter nodes in one process. The harness comes
//! with peer-to-peer sync; until then this binary says so.

fn main() {
    eprintln!("no scenario yet: simulations arrive with peer-to-peer sync");
    std::process::exit(2);
}
