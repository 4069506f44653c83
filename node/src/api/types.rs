//! The messages of the local API: what the handlers take and answer, and
//! what the command line sends and reads through [`Remote`](super::Remote),
//! one set of types for both sides. Entities travel as
//! `crdt_model::document::Entity` and new ones as `NewEntity`, history as
//! [`HistoryEntry`](crate::store::HistoryEntry), peers as
//! [`PeerStatus`](crate::net::PeerStatus), import rows and outcomes as
//! `opendata::import`'s, and joining takes a [`Join`](crate::local::Join).

use std::collections::HashMap;
use std::path::PathBuf;

use crdt_model::document::{Edit, Relation};
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::Kind;
use serde::{Deserialize, Serialize};

use crate::net::{HolePunching, SyncProgress};
use crate::opendata::import::{ImportRow, RowOutcome};
use crate::store::Filter;

/// `PATCH /api/entities/{id}`: edits to make in one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// The edits.
    pub edits: Vec<Edit>,
}

/// `POST /api/entities/{id}/links`: a link in the citizen's own name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// member, contributor, attendee, follows or recommends.
    pub relation: Relation,
    /// A short comment (recommendations).
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /api/follows`: follow another postal code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    /// The postal code.
    pub postal_code: String,
}

/// The answer to [`FollowRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Following {
    /// The postal key now followed.
    pub following: String,
    /// Every postal key followed, the home one first.
    pub postal_codes: Vec<String>,
}

/// `POST /api/import`: a batch of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The rows, in the file's order.
    pub rows: Vec<ImportRow>,
}

/// The answer to [`ImportRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// What became of each row, in order.
    pub outcomes: Vec<RowOutcome>,
}

/// The query of `GET /api/entities` and `GET /api/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Only this postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Only with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The words searched for (search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Most results (search only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ListQuery {
    /// The query listing what `filter` allows.
    pub fn of(filter: &Filter) -> Self {
        Self {
            kind: filter.kind,
            postal_code: filter.postal_key.clone(),
            tag: filter.tag.clone(),
            ..Self::default()
        }
    }

    /// The store filter of this query.
    pub fn filter(&self) -> Filter {
        filter(self.kind, &self.postal_code, &self.tag)
    }
}

/// The store filter of a query's kind, postal code and tag.
fn filter(kind: Option<Kind>, postal_code: &Option<String>, tag: &Option<String>) -> Filter {
    Filter {
        kind,
        postal_key: postal_code.clone(),
        tag: tag.clone(),
    }
}

/// The query of `GET /api/export/{format}`: the list filters and the
/// licence. Written out rather than flattening [`ListQuery`]: serde
/// cannot refuse unknown parameters of a flattened struct, and a
/// mistyped filter must not export the whole directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Only this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Only this postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Only with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The licence stated in the export (`etalab-2.0`, `odbl-1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
}

impl ExportQuery {
    /// The store filter of this query.
    pub fn filter(&self) -> Filter {
        filter(self.kind, &self.postal_code, &self.tag)
    }
}

/// `GET /api/status`: whether the citizen has joined and, once joined, who
/// they are, what the store holds and what the network does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Status {
    /// After joining.
    Joined(Box<JoinedStatus>),
    /// Before joining.
    NotJoined(NotJoinedStatus),
}

/// [`Status`] before joining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotJoinedStatus {
    /// Always `false`.
    pub joined: bool,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The address of the API that answered, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

/// [`Status`] after joining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinedStatus {
    /// Always `true`.
    pub joined: bool,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The address of the API that answered, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The citizen's author key.
    pub author: AuthorKey,
    /// The citizen's person entity.
    pub person: EntityId,
    /// The home postal key.
    pub postal_code: String,
    /// The INSEE code of the home commune.
    pub insee_code: Option<String>,
    /// What the store holds.
    pub store: StoreStatus,
    /// Postal keys followed besides the home one.
    pub follows: Vec<String>,
    /// What the network does.
    pub network: NetworkState,
    /// Why the network stopped, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_error: Option<String>,
}

/// What a store holds, and its size on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// Bytes of the store file.
    pub bytes: u64,
    /// Documents (entities, deleted ones included).
    pub documents: u64,
    /// Signed changes.
    pub changes: u64,
    /// Changes waiting for dependencies.
    pub pending: u64,
    /// Changes refused and kept for inspection.
    pub quarantined: u64,
}

/// The network as [`Status`] tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NetworkState {
    /// Running.
    Running(Box<NetworkStatus>),
    /// `offline` (not started: no network, or the store read directly) or
    /// `stopped` (its task ended; see `network_error`).
    Not(String),
}

/// A running network, as [`Status`] tells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// This node's peer id.
    pub peer_id: String,
    /// Its listen addresses, with its peer id.
    pub listen: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Per followed postal key: documents, peers, last sync.
    pub postal_codes: Vec<PostalCodeStatus>,
    /// Gossip messages refused, by fault.
    pub rejected: HashMap<String, u64>,
    /// Peers reached only through a relay.
    pub relayed_peers: usize,
    /// Hole punching attempts.
    pub hole_punching: HolePunching,
    /// Sync sessions pulling documents right now.
    pub syncing: Vec<SyncProgress>,
}

/// A followed postal key in [`NetworkStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalCodeStatus {
    /// The postal key.
    pub postal_code: String,
    /// Documents of it held here.
    pub documents: usize,
    /// Connected peers following it.
    pub peers: usize,
    /// When a sync on it last ended, seconds since the epoch.
    pub last_sync: Option<u64>,
}
