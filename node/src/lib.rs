//! The Communecter node: its store, the ingest pipeline every change goes
//! through, catch-up sync, the network, the local API and the daemon.
//!
//! - [`store`]: the redb file and its tables (the ground floor).
//! - [`ingest`]: decode → size check → signature → authorization → apply →
//!   persist, one transaction per batch, acknowledged after commit.
//! - [`sync`]: catch-up sync (range-based set reconciliation, then pulls).
//! - [`net`]: the libp2p swarm: gossip per postal code, discovery, sync.
//! - [`identity`]: the data directory, the keys.
//! - [`local`]: what a citizen does on their own node (join, create, edit).
//! - [`opendata`]: open-data formats, out and in.
//! - [`api`]: the local HTTP API (axum) and the web map.
//! - [`daemon`]: `communecter node`: the data directory lock, the API token,
//!   the network's life, graceful shutdown.
//! - [`relay`]: `communecter relay`, a community relay and replica.
//! - [`random`]: a small reproducible random sequence (not for keys).

pub mod api;
pub mod daemon;
pub mod identity;
pub mod ingest;
pub mod local;
pub mod net;
pub mod opendata;
pub mod random;
pub mod relay;
pub mod store;
pub mod sync;

pub use crdt_model as model;
