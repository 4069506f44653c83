//! The answering side of catch-up sync: a reconciliation round against
//! this node's items, or the envelopes a peer lacks of the documents it
//! pulls, within a byte budget.

use super::reconcile::answer;
use super::wire::{Have, Request, Response, pack, unpack};
use super::{MAX_MESSAGE_BYTES, MAX_PULL_DOCS, PULL_BUDGET_BYTES};
use crate::store::sync_items::SinceHeads;
use crate::store::{Store, StoreError};

/// Answers a sync request from a peer.
pub fn serve(store: &Store, request: &Request) -> Result<Response, StoreError> {
    match request {
        Request::Reconcile { postal_key, ranges } => {
            let Ok(ranges) = unpack(ranges.clone()) else {
                return Ok(Response::Refused {
                    reason: "malformed ranges".into(),
                });
            };
            let mine = store.sync_items(postal_key)?;
            Ok(Response::Reconcile {
                ranges: pack(&answer(&mine, &ranges)),
            })
        }
        Request::Pull { docs } => {
            if docs.len() > MAX_PULL_DOCS {
                return Ok(Response::Refused {
                    reason: format!("at most {MAX_PULL_DOCS} documents per pull"),
                });
            }
            serve_pull(store, docs)
        }
    }
}

/// The envelopes each document's asker lacks, as many documents as fit in
/// [`PULL_BUDGET_BYTES`] (the first one always, up to half the largest
/// message), and the heads of those whose asker holds changes this node
/// lacks.
fn serve_pull(store: &Store, docs: &[([u8; 16], Have)]) -> Result<Response, StoreError> {
    let reader = store.pull_reader()?;
    let mut envelopes = Vec::new();
    let mut served = Vec::new();
    let mut unresolved = Vec::new();
    let mut bytes = 0;
    for (id, have) in docs {
        let these = match have {
            Have::Changes(have) => SinceHeads::Envelopes(reader.except(id, have)?),
            Have::Heads(heads) => reader.since_heads(id, heads)?,
        };
        match these {
            SinceHeads::Envelopes(these) => {
                let these_bytes: usize = these.iter().map(Vec::len).sum();
                let first = served.is_empty();
                let fits = bytes + these_bytes <= PULL_BUDGET_BYTES
                    || (first && these_bytes <= MAX_MESSAGE_BYTES / 2);
                if !fits {
                    break;
                }
                bytes += these_bytes;
                envelopes.extend(these);
                served.push(*id);
            }
            SinceHeads::Unknown(heads) => {
                bytes += 16 + 32 * heads.len();
                unresolved.push((*id, heads));
            }
        }
    }
    Ok(Response::Changes {
        envelopes,
        served,
        unresolved,
    })
}
