//! The Communecter node: its store, the ingest pipeline every change goes
//! through, catch-up sync, the network, the local API and the daemon.
//!
//! # The life of a change
//!
//! A citizen runs `communecter add organization --name "Garage Payet"`.
//!
//! 1. The command line (the `communecter` binary) asks its
//!    [`api::Directory`] to add the entity: [`local::Local`] itself, on the
//!    store, or, while a node runs on the data directory, [`api::Remote`],
//!    which sends `POST /api/entities` to that node, whose handler calls
//!    the same [`local::Local::add`].
//! 2. [`local`] fills in the commune from the communes table, builds the
//!    entity's first Automerge change with `crdt_model::document::create`,
//!    and signs it in a `crdt_model::signed::SignedChange` envelope with the
//!    citizen's author key ([`identity`]).
//! 3. [`ingest::ingest`] takes the envelope like any other: size,
//!    signature and authorization checks ([`ingest`]'s stages), then the
//!    document is applied and saved through the store's one write path
//!    ([`store::Writer`](store)), with its cached entity, index keys and
//!    sync item; the write transaction commits before anything is
//!    acknowledged.
//! 4. The store tells its listeners ([`store::Store::subscribe`]): the web
//!    map's event stream ([`api::web`]), and the network's event loop
//!    ([`net`]), which publishes the envelope on its postal code's gossip
//!    topic ([`net`]'s `gossip` role).
//! 5. On another node of the postal code, gossipsub hands the message to
//!    validation, which runs the same [`ingest::ingest`]; only a change
//!    applied there is accepted and forwarded further, and it is now in
//!    that node's store.
//! 6. A node that was offline catches up when it meets a peer: [`net`]'s
//!    sessions run [`sync::pull`](fn@sync::pull), which reconciles the postal code's
//!    documents ([`sync::reconcile`]) and pulls the changes it lacks
//!    ([`sync::session`]), answered by the peer's [`sync::serve`](fn@sync::serve); what it
//!    receives goes through [`ingest::ingest`] again.
//!
//! # Modules
//!
//! - [`store`]: the redb file and every table (the ground floor: it knows
//!   nothing of what sits on it).
//! - [`ingest`]: decode → size check → signature → authorization → apply →
//!   persist, one transaction per batch, acknowledged after commit.
//! - [`sync`]: catch-up sync: range-based set reconciliation, then a pull
//!   session, both pure, in an async shell.
//! - [`net`]: the libp2p swarm: gossip per postal code, the peer set,
//!   discovery, sync sessions, status, the simulated links.
//! - [`identity`]: the data directory and the keys.
//! - [`local`]: what a citizen does on their own node (join, create, edit,
//!   import).
//! - [`opendata`]: open-data formats, out and in.
//! - [`api`]: the local HTTP API (axum) and the web map.
//! - [`daemon`]: `communecter node`: the data directory lock, the API
//!   token, the network's life, graceful shutdown.
//! - [`relay`]: `communecter relay`, a community relay and replica.
//! - [`random`]: a small reproducible random sequence (not for keys).

#![deny(missing_docs)]

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
