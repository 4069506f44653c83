//! Sync messages as any peer may send them: decoding a request or an
//! answer never panics, and what decodes encodes and decodes back alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::sync::wire::{Request, Response, decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode::<Request>(data) {
        let again: Request = decode(&encode(&request)).expect("a request decodes again");
        assert_eq!(encode(&again), encode(&request));
    }
    if let Ok(response) = decode::<Response>(data) {
        let again: Response = decode(&encode(&response)).expect("an answer decodes again");
        assert_eq!(encode(&again), encode(&response));
    }
});
