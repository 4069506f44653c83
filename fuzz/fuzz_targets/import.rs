//! Import files as anyone may hand them to `communecter import`: reading
//! never panics, whatever the bytes (JSON, JSON-LD, GeoJSON, CSV,
//! Communecter's API JSON, or none of them), and every row read says
//! where it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::opendata::import;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = import::read(data) {
        for row in &file.rows {
            assert!(!row.at.is_empty(), "a row without its place");
        }
    }
});
