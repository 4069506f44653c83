//! The web map's files are embedded in the library (`include_dir!`): a
//! change to them must rebuild it.

fn main() {
    println!("cargo:rerun-if-changed=web");
}
