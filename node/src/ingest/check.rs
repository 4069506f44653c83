//! The pure first stage of the pipeline: size check, strict decoding and
//! signature check of each envelope, spread over the cores.

use crdt_model::signed::{MAX_ENVELOPE_BYTES, SignedChange, VerifiedChange};

use super::{Fault, Outcome, reject};

/// Batches at least this large are checked on all cores.
pub(super) const PARALLEL_CHECK_MIN: usize = 64;

/// Maps `f` over `items`, spread over the machine's cores when there are at
/// least `min` items; results keep the order of the items.
pub(crate) fn parallel_map<T: Send, R: Send>(
    items: Vec<T>,
    min: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < min || threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Size check, strict decoding and signature check of one envelope.
pub(super) fn check(bytes: &[u8]) -> Result<VerifiedChange, Outcome> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(reject(
            format!(
                "the envelope is {} bytes; the limit is {MAX_ENVELOPE_BYTES}",
                bytes.len()
            ),
            Fault::Oversized,
        ));
    }
    let envelope =
        SignedChange::decode(bytes).map_err(|error| reject(error.to_string(), Fault::Malformed))?;
    envelope.verify().map_err(|error| match error {
        crdt_model::signed::EnvelopeError::BadSignature => {
            reject("the signature does not verify".into(), Fault::BadSignature)
        }
        other => reject(other.to_string(), Fault::Malformed),
    })
}
