//! A signed-change envelope as any peer may send it: decoding never
//! panics, a decoded envelope encodes back to the same bytes (one form
//! per envelope), and verifying it never panics.
#![no_main]

use crdt_model::signed::SignedChange;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = SignedChange::decode(data) {
        assert_eq!(envelope.encode(), data, "an envelope has one encoding");
        assert_eq!(envelope.encoded_len(), data.len());
        let _ = envelope.verify();
    }
});
