//! Catch-up sync: two nodes find which documents of a postal code differ
//! with range-based set reconciliation, then one pulls the signed changes it
//! lacks for each of them.
//!
//! Each node holds, per postal key, the sorted set of items (entity id,
//! SHA-256 of the document's sorted heads). The puller sends the
//! fingerprint of the whole id range; the other side answers, per range,
//! nothing (same fingerprint), its items (few of them), or the
//! fingerprints of [`BRANCHES`] sub-ranges; the puller does the same with
//! the answer, and so on. Ranges that agree drop out at once, so the bytes
//! exchanged grow with the number of differing documents and the log of
//! the directory's size, not with the directory. The puller then asks for
//! each differing document by its heads, and ingests the envelopes it gets
//! like any others; when the other side does not know those heads, it
//! answers with its own, and the puller, unless it has them (it is ahead),
//! asks again with the hashes of all its changes. Each node pulls for
//! itself: when two nodes meet, both run a session.
//!
//! The wire format (postcard) is in docs/PROTOCOL.md.
//!
//! - [`wire`]: the messages and their encoding.
//! - [`reconcile`]: range-based set reconciliation, pure.
//! - [`serve`](mod@serve): the answering side, on the store.
//! - [`session`]: the pull phase, sans I/O, over what the node holds
//!   ([`Holdings`](crate::store::sync_items::Holdings)).
//! - [`pull`](mod@pull): the pulling side's shell: it sends requests through a
//!   function given by the caller (the network, or a test), runs the store
//!   work on tokio's blocking threads and ingests what comes back.

use crdt_model::automerge::ChangeHash;
use crdt_model::ids::EntityId;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

pub mod pull;
pub mod reconcile;
pub mod serve;
pub mod session;
pub mod wire;

pub use crate::store::sync_items::Item;
pub use pull::{pull, pull_documents};
pub use reconcile::{Reconciliation, answer, fingerprint};
pub use serve::serve;
pub use wire::{
    Body, Fingerprint, Have, Range, Request, Response, WireRange, decode, encode, pack, unpack,
};

/// Ranges with at most this many items are sent as items, not split.
pub const SMALL_RANGE: usize = 8;
/// Number of sub-ranges a differing range is split into.
pub const BRANCHES: usize = 8;
/// Most request/answer rounds of one reconciliation.
pub const MAX_ROUNDS: usize = 48;
/// Largest sync message, in either direction.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Most envelope bytes in one answer to a pull (at least one document is
/// always served whole, up to [`MAX_MESSAGE_BYTES`]).
pub const PULL_BUDGET_BYTES: usize = 1024 * 1024;
/// Most documents asked for in one pull.
pub const MAX_PULL_DOCS: usize = 512;

/// Why a sync session failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The peer could not be reached or did not answer.
    #[error("the peer did not answer: {0}")]
    Transport(String),
    /// The peer answered something that does not fit the protocol.
    #[error("the peer broke the sync protocol: {0}")]
    Protocol(String),
}

/// A node passes on by gossip the changes a catch-up sync brought when
/// they are at most this many: a neighbour back from offline, a gossip
/// missed. More is a newcomer's catch-up of what the commune already
/// holds, which gossip would only repeat.
pub const PASS_ON_MAX: usize = 64;

/// What a pulling session did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// The postal key.
    pub postal_key: String,
    /// Reconciliation rounds.
    pub rounds: usize,
    /// Documents found to differ.
    pub differing: usize,
    /// Envelopes received.
    pub received: usize,
    /// Of which newly applied (the rest were known, pending or refused).
    pub applied: usize,
    /// Of which refused.
    pub refused: usize,
    /// The changes newly applied (document, change hash, envelope), when
    /// they were at most [`PASS_ON_MAX`]: the node passes them on by
    /// gossip.
    #[serde(skip)]
    pub fresh: Vec<(EntityId, ChangeHash, Vec<u8>)>,
    /// Bytes of requests sent and answers received, as encoded.
    pub bytes: usize,
    /// Of which reconciliation answers received.
    pub reconcile_received: usize,
    /// Of which pull answers received (the changes themselves).
    pub pull_received: usize,
    /// Documents asked for by heads the peer did not know (this node had
    /// changes the peer lacked).
    pub unresolved: usize,
}
