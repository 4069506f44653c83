//! # crdt-model: what a Communecter directory is made of
//!
//! A pure library (no I/O, no async, no file system) that every other part of
//! Communecter builds on, and that anyone can read and test in isolation.
//!
//! - [`ids`]: entity ids (128 bits, base32), author keys and Automerge actors
//!   (author key ‖ 4-byte device suffix).
//! - [`schema`]: the kinds of entity (person, organization, project, event,
//!   place), their fields and the checks every value passes.
//! - [`document`]: one Automerge document per entity — creating it, editing
//!   it with typed [`document::Edit`]s and reading the typed
//!   [`document::Entity`] back.
//! - [`signed`]: the [`signed::SignedChange`] envelope every change travels
//!   in, with its stable byte encoding and ed25519 signature.
//! - [`authz`]: causal authorization, the pure function that decides whether
//!   a change may be applied, the same way on every node.
//! - [`decide`]: a room's proposals, amendments, votes and closings, and
//!   the tally every node computes alike.
//! - [`communes`]: the table of French communes and postal codes, embedded.
//! - [`text`]: case- and accent-insensitive text folding for search.
//! - [`openapi`]: the OpenAPI schemas of the types whose JSON form is
//!   written by hand; the node's local API assembles them into its document.
//!
//! A typical flow on a node:
//!
//! ```
//! use crdt_model::document::{self, Edit, Genesis};
//! use crdt_model::ids::{Actor, AuthorKey};
//! use crdt_model::schema::{Field, Kind, Value};
//! use crdt_model::signed::SignedChange;
//!
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let actor = Actor { author: AuthorKey::of(&key), device: 1 };
//! let genesis = Genesis {
//!     kind: Kind::Organization,
//!     name: "Garage du Centre".into(),
//!     postal_code: "97400".into(),
//!     country: "FR".into(),
//!     open_edition: None,
//! };
//! let edits = [Edit::Set(Field::Category, Value::Text("garage".into()))];
//! let created = document::create(&genesis, &actor, 1_764_000_000_000, [1; 16], &edits).unwrap();
//!
//! // Sign, encode, and on the receiving side decode, verify, authorize, apply.
//! let envelope = SignedChange::sign(&key, created.id, "97400", created.change.raw_bytes()).unwrap();
//! let received = SignedChange::decode(&envelope.encode()).unwrap().verify().unwrap();
//! let mut replica = automerge::Automerge::new();
//! crdt_model::authz::authorize(&replica, &created.id, &received.envelope.author, &received.change)
//!     .unwrap();
//! replica.apply_changes([received.change]).unwrap();
//! assert_eq!(document::read(&replica).unwrap().name(), "Garage du Centre");
//! ```

#![deny(missing_docs)]

pub mod authz;
pub mod bounds;
pub mod communes;
pub mod decide;
pub mod document;
pub mod ids;
pub mod openapi;
pub mod sample;
pub mod schema;
pub mod signed;
pub mod text;

pub use automerge;
pub use ed25519_dalek;
