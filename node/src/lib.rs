//! The Communecter node: it will own the redb store, the ingest pipeline,
//! the libp2p network and the local HTTP API. For now it re-exports the
//! data model that every part of the node builds on.

pub use crdt_model as model;
