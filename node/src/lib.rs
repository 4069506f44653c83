//! The Communecter node: its store, the ingest pipeline every change goes
//! through, and the local operations of a citizen (identity, edits, queries).
//!
//! - [`store`]: the redb file and its tables.
//! - [`ingest`]: decode → size check → signature → authorization → apply →
//!   persist, one transaction per batch, acknowledged after commit.
//! - [`index`]: listing by postal code, kind and tag, and text search.
//! - [`identity`]: the data directory, the keys and the citizen's profile.
//! - [`local`]: what a citizen does on their own node (create, edit, link).
//! - [`api`]: the local HTTP API (axum), described by `openapi.json`.
//! - [`daemon`]: `communecter node`: the data directory lock, the API token,
//!   graceful shutdown.
//! - [`sync`]: catch-up sync (range-based set reconciliation, then pulls).
//! - [`net`]: the libp2p swarm: gossip per postal code, discovery, sync.
//! - [`relay`]: `communecter relay`, a community relay and replica.
//! - [`random`]: a small reproducible random sequence (not for keys).

pub mod api;
pub mod daemon;
pub mod identity;
pub mod index;
pub mod ingest;
pub mod links;
pub mod local;
pub mod net;
pub mod opendata;
pub mod random;
pub mod relay;
pub mod store;
pub mod sync;
pub mod web;

pub use crdt_model as model;
