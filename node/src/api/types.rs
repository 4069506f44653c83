//! The messages of the local API: what the handlers take and answer, and
//! what the command line sends and reads through [`Remote`](super::Remote),
//! one set of types for both sides. Entities travel as
//! `crdt_model::document::Entity` and new ones as `NewEntity`, history as
//! [`HistoryEntry`](crate::store::HistoryEntry), peers as
//! [`PeerStatus`](crate::net::PeerStatus), import rows and outcomes as
//! `opendata::import`'s, and joining takes a [`Join`](crate::local::Join).

use std::collections::HashMap;
use std::path::PathBuf;

use crdt_model::decide::Decision;
use crdt_model::document::{Edit, Relation};
use crdt_model::ids::{AuthorKey, EntityId};
use crdt_model::schema::Kind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::net::{HolePunching, SyncProgress};
use crate::opendata::Licence;
use crate::opendata::import::{ImportRow, RowOutcome};
use crate::store::Filter;

/// `POST /api/pairings`: a one-time link that lets the browser opening it
/// write through the web map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pairing {
    /// The link, to open in the browser (once, within `expires_in` seconds).
    #[schema(examples("http://127.0.0.1:7878/api/pair?code=5c1e…"))]
    pub url: String,
    /// Seconds it stays usable.
    pub expires_in: u64,
}

/// `GET /api/session`: whether the browser asking may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// The request carries a paired browser's session cookie.
    pub paired: bool,
    /// Browsers may be paired here (the API listens on loopback only).
    pub can_pair: bool,
}

/// The query of `GET /api/pair`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PairQuery {
    /// The one-time code of a pairing link.
    pub code: String,
}

/// The entity named in a route's path, `/api/entities/{id}…`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EntityPath {
    /// The entity id (400 `bad_id` when it is not one).
    #[param(value_type = EntityId, example = "aigfjguydgfehzvq4y5dq366ze")]
    pub id: String,
}

/// The link named in a route's path, `/api/entities/{id}/links/{relation}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct LinkPath {
    /// The entity id (400 `bad_id` when it is not one).
    #[param(value_type = EntityId, example = "aigfjguydgfehzvq4y5dq366ze")]
    pub id: String,
    /// The relation of the citizen's link to remove (400 `bad_request`
    /// when it is not one).
    #[param(value_type = Relation, example = "recommends")]
    pub relation: String,
}

/// `PATCH /api/entities/{id}`: edits applied together, as one signed
/// change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// At least one edit (an empty list answers 422 `invalid`).
    #[schema(min_items = 1)]
    pub edits: Vec<Edit>,
}

/// `POST /api/entities/{id}/links`: a link in the citizen's own name. The
/// citizen's person entity is recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// member, contributor, attendee, follows or recommends.
    pub relation: Relation,
    /// Optional short comment (at most 280 characters), shown with
    /// recommendations.
    #[serde(default)]
    #[schema(max_length = 280)]
    pub comment: Option<String>,
}

/// `POST /api/decisions`: a decision in the citizen's name, in a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The room, for a new proposal; other decisions name their proposal,
    /// whose room the node finds.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub room: Option<EntityId>,
    /// The decision, externally tagged: `{"propose": {"proposal": {"title":
    /// …, "text": …}}}`, `{"amend": {"proposal": ID, "text": …}}`,
    /// `{"reword": {"proposal": ID, "text": …}}`, `{"open_vote":
    /// {"proposal": ID}}`, `{"vote": {"proposal": ID, "choice": "yes"}}`,
    /// `{"vote_amendment": {"proposal": ID, "amendment": ID, "choice":
    /// "no"}}`, `{"close": {"proposal": ID, "stage": "vote"}}`. A nonce,
    /// where there is one, is drawn by the node.
    #[schema(value_type = Object)]
    pub decision: Decision,
}

/// `GET /api/proposals/{id}`: with `verify=true`, the tally is also
/// recomputed from the room's signed changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TallyQuery {
    /// Recompute from the signed changes and compare.
    #[serde(default)]
    pub verify: bool,
}

/// `POST /api/entities/{id}/report`: the citizen's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// Why (at most 500 characters).
    #[schema(example = "Fiche remplie d'insultes")]
    pub reason: String,
}

/// `POST /api/entities/{id}/moderation`: open a moderation proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerateRequest {
    /// `hide` (the entity is not hidden) or `restore` (it is).
    #[schema(value_type = String, example = "hide")]
    pub asks: crdt_model::decide::moderation::Asks,
}

/// `GET /api/moderation`: the postal key whose queue to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModerationQuery {
    /// Only this postal key; every one the node holds when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "97400")]
    pub postal_code: Option<String>,
}

/// `POST /api/follows`: follow another postal code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    /// A French postal code.
    #[schema(examples("97410"))]
    pub postal_code: String,
}

/// The answer to `POST /api/follows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = FollowResult)]
pub struct Following {
    /// The postal key now followed.
    pub following: String,
    /// Every postal key followed, the home one first.
    pub postal_codes: Vec<String>,
}

/// `POST /api/import`: a batch of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The rows, in the file's order.
    #[schema(max_items = 5000)]
    pub rows: Vec<ImportRow>,
    /// Check the rows and say what would become of each (`checked` for a
    /// new entity), storing nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// The answer to `POST /api/import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = ImportResult)]
pub struct Imported {
    /// What became of each row, in order.
    pub outcomes: Vec<RowOutcome>,
}

/// The query of `GET /api/entities` and `GET /api/search`. Any other
/// parameter answers 400.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only entities of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "organization")]
    pub kind: Option<Kind>,
    /// Only entities of this postal key: the postal code in France
    /// (`97400`), `CC-code` elsewhere (`BE-1000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "97400")]
    pub postal_code: Option<String>,
    /// Only entities with this tag (accents and case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "mécanique")]
    pub tag: Option<String>,
    /// Search only (required there, ignored by the list): the words
    /// searched for in names, descriptions, tags, street and locality
    /// (accents and case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "garage")]
    pub q: Option<String>,
    /// Search only (ignored by the list): most results, 50 when absent, at
    /// most 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, example = 20)]
    pub limit: Option<usize>,
    /// `true`: also the entities their community decided to hide and those
    /// made by an author the citizen blocked (left out otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
}

impl ListQuery {
    /// The query listing what `filter` allows.
    pub fn of(filter: &Filter) -> Self {
        Self {
            kind: filter.kind,
            postal_code: filter.postal_key.clone(),
            tag: filter.tag.clone(),
            hidden: filter.hidden.then_some(true),
            ..Self::default()
        }
    }

    /// The store filter of this query.
    pub fn filter(&self) -> Filter {
        Filter {
            hidden: self.hidden == Some(true),
            ..filter(self.kind, &self.postal_code, &self.tag)
        }
    }
}

/// The store filter of a query's kind, postal code and tag.
fn filter(kind: Option<Kind>, postal_code: &Option<String>, tag: &Option<String>) -> Filter {
    Filter {
        kind,
        postal_key: postal_code.clone(),
        tag: tag.clone(),
        hidden: false,
    }
}

/// The query of `GET /api/export/{format}`: the list filters and the
/// licence. Written out rather than flattening [`ListQuery`]: serde
/// cannot refuse unknown parameters of a flattened struct, and a
/// mistyped filter must not export the whole directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only entities of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "organization")]
    pub kind: Option<Kind>,
    /// Only entities of this postal key: the postal code in France
    /// (`97400`), `CC-code` elsewhere (`BE-1000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "97400")]
    pub postal_code: Option<String>,
    /// Only entities with this tag (accents and case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(example = "mécanique")]
    pub tag: Option<String>,
    /// The licence stated in the export: `etalab-2.0` (the default, the
    /// French Licence Ouverte) or `odbl-1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<Licence>, example = "odbl-1.0")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Status {
    /// After joining.
    Joined(Box<JoinedStatus>),
    /// Before joining.
    NotJoined(NotJoinedStatus),
}

/// The schema of a boolean that is always `VALUE`: what tells the two
/// shapes of [`Status`] apart.
fn always<const VALUE: bool>() -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([VALUE]))
        .description(Some(format!("Always `{VALUE}`.")))
        .build()
}

/// The status before joining (`POST /api/init`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = StatusNotJoined)]
pub struct NotJoinedStatus {
    /// Always `false`.
    #[schema(schema_with = always::<false>)]
    pub joined: bool,
    /// The data directory.
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
    /// The address of the API that answered, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("http://127.0.0.1:7878"))]
    pub api: Option<String>,
}

/// The status after joining (`POST /api/init`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = StatusJoined)]
pub struct JoinedStatus {
    /// Always `true`.
    #[schema(schema_with = always::<true>)]
    pub joined: bool,
    /// The data directory.
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
    /// The address of the API that answered, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("http://127.0.0.1:7878"))]
    pub api: Option<String>,
    /// The citizen's author key.
    pub author: AuthorKey,
    /// The citizen's person entity.
    pub person: EntityId,
    /// The home postal key: the postal code in France, `CC-code` elsewhere.
    #[schema(examples("97400"))]
    pub postal_code: String,
    /// The INSEE code of the home commune.
    #[schema(examples("97411"))]
    pub insee_code: Option<String>,
    /// What the store holds.
    pub store: StoreStatus,
    /// Postal keys followed besides the home one.
    pub follows: Vec<String>,
    /// What the network does.
    pub network: NetworkState,
    /// Why the network stopped, when `network` is `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_error: Option<String>,
}

/// What a store holds, and its size on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = StoreCounts)]
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

/// The network as the status tells it: `offline` when the node runs
/// without network (or the command line reads the store directly),
/// `stopped` once the network's task ended (see `network_error`);
/// otherwise what the network does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NetworkState {
    /// Running.
    Running(Box<NetworkStatus>),
    /// Not running.
    Not(NetworkDown),
}

/// Why the network is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkDown {
    /// Not started: no network, or the store read directly.
    Offline,
    /// Its task ended; see `network_error`.
    Stopped,
}

/// A running network, as the status tells it: the node's libp2p identity,
/// addresses and followed postal codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetworkStatus {
    /// This node's libp2p peer id.
    #[schema(examples("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"))]
    pub peer_id: String,
    /// Multiaddrs it listens on, ending with its peer id: give one to
    /// `communecter node --bootstrap`.
    pub listen: Vec<String>,
    /// Connected peers.
    pub peers: usize,
    /// Per followed postal key: documents, peers, last sync.
    pub postal_codes: Vec<PostalCodeStatus>,
    /// Gossip messages refused since start, by fault (Malformed,
    /// BadSignature, Unauthorized, Oversized, PendingFull).
    pub rejected: HashMap<String, u64>,
    /// Connected peers reached only through a relay circuit.
    pub relayed_peers: usize,
    /// Attempts since start to turn relayed connections into direct ones
    /// (DCUtR).
    pub hole_punching: HolePunching,
    /// Catch-up syncs pulling documents right now.
    pub syncing: Vec<SyncProgress>,
    /// Community relays learnt since start from their entries in the
    /// directory (peer ids, in the order learnt).
    #[serde(default)]
    pub relays_learnt: Vec<String>,
}

/// A followed postal key in the network's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PostalCodeStatus {
    /// The postal key.
    pub postal_code: String,
    /// Documents of that postal code in the store.
    pub documents: usize,
    /// Connected peers following it.
    pub peers: usize,
    /// When a sync on it last ended, seconds since the epoch.
    pub last_sync: Option<u64>,
}

/// `GET /api/invite`: an invite to this node, for another citizen's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = InviteCode)]
pub struct InviteCode {
    /// The code to give: `communecter join CODE`, or pasted in the web map.
    #[schema(examples("cmn1au4tonbqgat…"))]
    pub code: String,
    /// What it says.
    pub invite: crate::net::invite::Invite,
}

/// `POST /api/join`: meet the node of an invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = JoinInviteRequest)]
pub struct JoinInvite {
    /// The invite code, as given (any case, dashes and spaces ignored).
    pub code: String,
}

/// The answer to `POST /api/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = JoinInviteResult)]
pub struct Joined {
    /// What the invite says.
    pub invite: crate::net::invite::Invite,
    /// Whether the running node dialled it now; otherwise it is
    /// remembered and dialled when the node starts.
    pub dialled: bool,
}
