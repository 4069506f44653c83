//! One Automerge document per entity: its layout, the typed edits that write
//! it and the typed [`Entity`] read back from it (in `read`).
//!
//! Layout of the root map (keys in `code font` are written exactly so):
//!
//! | key | value | who writes it |
//! |---|---|---|
//! | `schema` | uint, 1 | genesis only |
//! | `kind`, `id`, `nonce`, `creator` | text | genesis only |
//! | `created_at` | timestamp (ms) | genesis only |
//! | `updated_at` | timestamp (ms) | whoever edits descriptive fields |
//! | descriptive fields ([`Field`]) | text, bool | admins; anyone under open edition |
//! | `address` | map of address fields | created at genesis |
//! | `geo` | map {`lat`, `lon`} (f64) | like descriptive fields |
//! | `tags` | map tag → true | like descriptive fields |
//! | `admins` | map author key → true | admins |
//! | `open_edition`, `deleted` | bool | admins |
//! | `confirmed` | map author key → true (confirmed members) | admins |
//! | `links` | map author key → relation → {`at`, `comment`, `person`} | each author in its own slot |
//! | `recommends` | map author key → {`at`, `comment`, `person`} | each author in its own slot |
//! | `reports` | map author key → {`at`, `reason`} | each author in its own slot |
//! | `proposals` | a room's proposals ([`crate::decide`]) | made by a room's genesis; each proposal its proposer's, each vote its voter's |
//!
//! Keys the schema does not know are preserved and shown in
//! [`Entity::extra`]; only admins may write them.

use std::collections::HashMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value as AmValue,
    hydrate,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authz::{self, Reject};
use crate::ids::{Actor, AuthorKey, EntityId, hex};
use crate::schema::{
    Container, Field, Kind, MAX_COMMENT_CHARS, MAX_REPORT_CHARS, ValidationError, Value,
    check_length, check_postal_code, check_tag,
};

mod read;

pub(crate) use read::is_known_root_key;
pub use read::{Address, Entity, Geo, Link, ReadError, Report, identity, read};

/// Version of the document layout, written at genesis under `schema`.
pub const SCHEMA_VERSION: u64 = 1;

/// Root keys of the layout other than the [`Field`]s.
pub(crate) mod key {
    pub(crate) const SCHEMA: &str = "schema";
    pub(crate) const KIND: &str = "kind";
    pub(crate) const ID: &str = "id";
    pub(crate) const NONCE: &str = "nonce";
    pub(crate) const CREATOR: &str = "creator";
    pub(crate) const CREATED_AT: &str = "created_at";
    pub(crate) const UPDATED_AT: &str = "updated_at";
    pub(crate) const ADDRESS: &str = "address";
    pub(crate) const GEO: &str = "geo";
    pub(crate) const TAGS: &str = "tags";
    pub(crate) const ADMINS: &str = "admins";
    pub(crate) const OPEN_EDITION: &str = "open_edition";
    pub(crate) const DELETED: &str = "deleted";
    pub(crate) const CONFIRMED: &str = "confirmed";
    pub(crate) const LINKS: &str = "links";
    pub(crate) const RECOMMENDS: &str = "recommends";
    pub(crate) const REPORTS: &str = "reports";
    pub(crate) const PROPOSALS: &str = "proposals";
    pub(crate) const AT: &str = "at";
    pub(crate) const COMMENT: &str = "comment";
    pub(crate) const PERSON: &str = "person";
    pub(crate) const REASON: &str = "reason";
}

/// What a link says: `member` of an organization, `contributor` to a
/// project, `attendee` of an event, `follows` (news), `recommends` (a
/// business or service).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The author is (or asks to be) a member of an organization.
    Member,
    /// The author contributes to a project.
    Contributor,
    /// The author attends an event.
    Attendee,
    /// The author follows the entity's news.
    Follows,
    /// The author appreciates this business or service.
    Recommends,
}

impl Relation {
    /// Every relation.
    pub const ALL: [Relation; 5] = [
        Relation::Member,
        Relation::Contributor,
        Relation::Attendee,
        Relation::Follows,
        Relation::Recommends,
    ];

    /// The name written in documents and typed on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Relation::Member => "member",
            Relation::Contributor => "contributor",
            Relation::Attendee => "attendee",
            Relation::Follows => "follows",
            Relation::Recommends => "recommends",
        }
    }

    /// The relations stored under `links/<author>/<relation>`.
    pub(crate) fn in_links(name: &str) -> Option<Relation> {
        Relation::ALL
            .into_iter()
            .find(|relation| *relation != Relation::Recommends && relation.as_str() == name)
    }
}

impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Relation {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Relation::ALL
            .into_iter()
            .find(|relation| relation.as_str() == text)
            .ok_or_else(|| ValidationError::NotAllowed {
                field: "relation",
                value: text.to_owned(),
                allowed: Relation::ALL.map(Relation::as_str).join(", "),
            })
    }
}

/// One change to an entity, as a user means it. Its JSON form (used by the
/// local API) is externally tagged: `{"set": ["name", "Garage Payet"]}`,
/// `{"add_tag": "bio"}`, `{"set_geo": {"lat": -20.9, "lon": 55.4}}`,
/// `"clear_geo"`, `{"link": {"relation": "recommends", "comment": "…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Sets a field.
    Set(Field, Value),
    /// Removes an optional field.
    Clear(Field),
    /// Adds a tag.
    AddTag(String),
    /// Removes a tag.
    RemoveTag(String),
    /// Places the entity on the map.
    SetGeo {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lon: f64,
    },
    /// Removes the entity from the map.
    ClearGeo,
    /// Makes someone an admin (admins only).
    AddAdmin(AuthorKey),
    /// Removes an admin (admins only; never the last one).
    RemoveAdmin(AuthorKey),
    /// Opens or closes the descriptive fields to everyone (admins only).
    SetOpenEdition(bool),
    /// Confirms a member's request (admins only).
    ConfirmMember(AuthorKey),
    /// Removes a member, or refuses a request (admins only): their own link
    /// stays theirs, but the entity no longer counts them among its
    /// members, until an admin confirms them again.
    RemoveMember(AuthorKey),
    /// Marks the entity deleted, or restores it (admins only).
    SetDeleted(bool),
    /// Writes the author's own link (or recommendation) into the entity.
    Link {
        /// The relation.
        relation: Relation,
        /// Optional short comment (shown with recommendations).
        #[serde(default)]
        comment: Option<String>,
    },
    /// Removes the author's own link of that relation.
    Unlink(Relation),
    /// Reports the entity to its admins, with a reason.
    Report(String),
    /// Withdraws the author's report.
    WithdrawReport,
}

/// What a new entity starts with; everything else comes as [`Edit`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Genesis {
    /// The kind, fixed for the entity's life.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its postal code.
    pub postal_code: String,
    /// Its country (ISO 3166 alpha-2, `FR` for France).
    pub country: String,
    /// Whether anyone may edit its descriptive fields; `None` takes the
    /// kind's default.
    pub open_edition: Option<bool>,
}

/// A new entity as a citizen asks for it (command line, local API, an
/// import row): the node fills in the postal code, the citizen's when
/// absent, and the commune, from the communes table, before it becomes a
/// genesis and its first edits. The citizen becomes its creator and
/// first admin. In France the INSEE code and locality are filled in from
/// the communes table (unless the postal code has several communes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntity {
    /// organization, project, event or place; `person` is refused (a person
    /// profile is made by joining).
    pub kind: Kind,
    /// Its name (at most 120 characters).
    #[schema(max_length = 120)]
    pub name: String,
    /// Its postal code; the citizen's when absent.
    #[serde(default)]
    #[schema(examples("97400"))]
    pub postal_code: Option<String>,
    /// Its country (ISO 3166 alpha-2); `FR` when absent.
    #[serde(default)]
    #[schema(examples("FR"))]
    pub country: Option<String>,
    /// Whether anyone may edit its descriptive fields; yes when absent.
    #[serde(default)]
    pub open_edition: Option<bool>,
    /// Fields, tags, position… written by the same first change.
    #[serde(default)]
    pub edits: Vec<Edit>,
}

impl NewEntity {
    /// A new entity of `kind` named `name` with `edits`, in the citizen's
    /// postal code, with the kind's default edition rights.
    pub fn new(kind: Kind, name: impl Into<String>, edits: Vec<Edit>) -> Self {
        Self {
            kind,
            name: name.into(),
            postal_code: None,
            country: None,
            open_edition: None,
            edits,
        }
    }
}

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// A value is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The author may not make this change.
    #[error("{0}")]
    NotAllowed(Reject),
    /// The document is not an entity.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Automerge refused the operation.
    #[error("the document refused the edit: {0}")]
    Document(String),
}

impl From<automerge::AutomergeError> for EditError {
    fn from(error: automerge::AutomergeError) -> Self {
        EditError::Document(error.to_string())
    }
}

/// A new entity: its id, its document and the genesis change to sign.
#[derive(Debug)]
pub struct Created {
    /// The new entity's id.
    pub id: EntityId,
    /// The document holding the genesis change.
    pub doc: Automerge,
    /// The genesis change, to be signed and published.
    pub change: Change,
}

/// Creates an entity: the genesis change writes the layout, the creator as
/// first admin, then applies `edits`. `now_ms` is the wall clock in
/// milliseconds and `nonce` 16 random bytes; both come from the caller so
/// that this crate stays free of I/O.
pub fn create(
    genesis: &Genesis,
    actor: &Actor,
    now_ms: i64,
    nonce: [u8; 16],
    edits: &[Edit],
) -> Result<Created, EditError> {
    Field::Name.check(&ScalarValue::Str(genesis.name.as_str().into()))?;
    check_postal_code(&genesis.postal_code, &genesis.country)?;
    let id = EntityId::derive(&actor.author, &nonce);
    let mut doc = Automerge::new();
    doc.set_actor(actor.actor_id());
    let mut tx = doc.transaction();
    let creator = actor.author.to_string();
    let open = genesis
        .open_edition
        .unwrap_or(genesis.kind.default_open_edition());
    // The fixed part of every entity, and its first field, tag and
    // position edits, in one batch: Automerge 0.12 writes a tree of values
    // much faster than one operation at a time. Edits after the first of
    // another sort are written one by one, in order.
    let text = |text: &str| hydrate::Value::from(text);
    let mut root: HashMap<String, hydrate::Value> = HashMap::from([
        (key::SCHEMA.into(), ScalarValue::Uint(SCHEMA_VERSION).into()),
        (key::KIND.into(), text(genesis.kind.as_str())),
        (key::ID.into(), text(&id.to_string())),
        (key::NONCE.into(), text(&hex(&nonce))),
        (key::CREATOR.into(), text(&creator)),
        (
            key::CREATED_AT.into(),
            ScalarValue::Timestamp(now_ms).into(),
        ),
        (
            key::UPDATED_AT.into(),
            ScalarValue::Timestamp(now_ms).into(),
        ),
        (Field::Name.key().into(), text(&genesis.name)),
        (key::OPEN_EDITION.into(), ScalarValue::Boolean(open).into()),
    ]);
    let mut address: HashMap<String, hydrate::Value> = HashMap::from([
        (Field::PostalCode.key().into(), text(&genesis.postal_code)),
        (Field::Country.key().into(), text(&genesis.country)),
    ]);
    let mut tags: HashMap<String, hydrate::Value> = HashMap::new();
    let mut geo = None;
    let mut folded = 0;
    for edit in edits {
        match edit {
            Edit::Set(field, value) if !matches!(field, Field::Lat | Field::Lon) => {
                let scalar = checked_value(genesis.kind, *field, value)?;
                let target = match field.container() {
                    Container::Address => &mut address,
                    _ => &mut root,
                };
                target.insert(field.key().into(), scalar.into());
            }
            Edit::AddTag(tag) => {
                check_tag(tag)?;
                tags.insert(tag.clone(), ScalarValue::Boolean(true).into());
            }
            Edit::SetGeo { lat, lon } => {
                check_position(*lat, *lon)?;
                geo = Some(HashMap::from([
                    (Field::Lat.key().to_owned(), hydrate::Value::from(*lat)),
                    (Field::Lon.key().to_owned(), hydrate::Value::from(*lon)),
                ]));
            }
            _ => break,
        }
        folded += 1;
    }
    let map = |entries: HashMap<String, hydrate::Value>| {
        hydrate::Value::from(hydrate::Map::from(entries))
    };
    root.insert(key::ADDRESS.into(), map(address));
    root.insert(
        key::ADMINS.into(),
        map(HashMap::from([(
            creator.clone(),
            ScalarValue::Boolean(true).into(),
        )])),
    );
    root.insert(key::TAGS.into(), map(tags));
    if let Some(geo) = geo {
        root.insert(key::GEO.into(), map(geo));
    }
    for container in [key::CONFIRMED, key::LINKS, key::RECOMMENDS, key::REPORTS] {
        root.insert(container.into(), hydrate::Value::map());
    }
    // A room holds its proposals (see `crate::decide`).
    if genesis.kind == Kind::Room {
        root.insert(key::PROPOSALS.into(), hydrate::Value::map());
    }
    tx.init_root_from_hydrate(&hydrate::Map::from(root))?;
    for edit in &edits[folded..] {
        // `updated_at` was just written: the first edits need not touch it.
        write_edit(&mut tx, genesis.kind, &actor.author, now_ms, false, edit)?;
    }
    let (hash, _) = tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    let change = committed(&doc, hash)?;
    authz::authorize(&Automerge::new(), &id, &actor.author, &change)
        .map_err(EditError::NotAllowed)?;
    Ok(Created { id, doc, change })
}

/// Makes one change holding `edits`, by `actor`, on top of `doc`'s current
/// state, and checks it with the same authorization as a remote change.
/// `doc` itself is not modified: the caller ingests the returned change.
pub fn edit(
    doc: &Automerge,
    actor: &Actor,
    now_ms: i64,
    edits: &[Edit],
) -> Result<Change, EditError> {
    let (id, kind) = identity(doc)?;
    let mut fork = doc.fork();
    fork.set_actor(actor.actor_id());
    let mut tx = fork.transaction();
    for edit in edits {
        write_edit(&mut tx, kind, &actor.author, now_ms, true, edit)?;
    }
    let (hash, _) = tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    let change = committed(&fork, hash)?;
    authz::authorize(doc, &id, &actor.author, &change).map_err(EditError::NotAllowed)?;
    Ok(change)
}

/// The change a transaction just committed; a transaction that wrote
/// nothing commits no change, which is an error for the caller.
fn committed(doc: &Automerge, hash: Option<ChangeHash>) -> Result<Change, EditError> {
    hash.and_then(|hash| doc.get_change_by_hash(&hash))
        .ok_or_else(|| EditError::Document("the edit changes nothing".into()))
}

fn map_at<T: Transactable>(
    tx: &mut T,
    parent: &ObjId,
    name: &str,
) -> Result<ObjId, automerge::AutomergeError> {
    match tx.get(parent, name)? {
        Some((AmValue::Object(ObjType::Map), existing)) => Ok(existing),
        _ => tx.put_object(parent, name, ObjType::Map),
    }
}

/// The value `field` takes, checked for an entity of `kind`.
fn checked_value(kind: Kind, field: Field, value: &Value) -> Result<ScalarValue, EditError> {
    if !field.applies_to(kind) {
        return Err(ValidationError::FieldNotForKind {
            field: field.name(),
            kind,
        }
        .into());
    }
    let scalar = value.to_scalar();
    field.check(&scalar)?;
    Ok(scalar)
}

/// Checks a position on the map.
fn check_position(lat: f64, lon: f64) -> Result<(), EditError> {
    Field::Lat.check(&ScalarValue::F64(lat))?;
    Field::Lon.check(&ScalarValue::F64(lon))?;
    Ok(())
}

fn write_edit<T: Transactable>(
    tx: &mut T,
    kind: Kind,
    author: &AuthorKey,
    now_ms: i64,
    touch_updated_at: bool,
    edit: &Edit,
) -> Result<(), EditError> {
    let me = author.to_string();
    let touch = |tx: &mut T| {
        if touch_updated_at {
            tx.put(ROOT, key::UPDATED_AT, ScalarValue::Timestamp(now_ms))
        } else {
            Ok(())
        }
    };
    match edit {
        Edit::Set(field, value) => {
            let scalar = checked_value(kind, *field, value)?;
            let container = match field.container().key() {
                Some(name) => map_at(tx, &ROOT, name)?,
                None => ROOT,
            };
            tx.put(&container, field.key(), scalar)?;
            touch(tx)?;
        }
        Edit::Clear(field) => {
            if field.is_required() {
                return Err(ValidationError::Required(field.name()).into());
            }
            if let Field::Lat | Field::Lon = field {
                tx.delete(ROOT, key::GEO)?;
            } else if let Some(name) = field.container().key() {
                if let Some((_, container)) = tx.get(ROOT, name)? {
                    tx.delete(&container, field.key())?;
                }
            } else {
                tx.delete(ROOT, field.key())?;
            }
            touch(tx)?;
        }
        Edit::AddTag(tag) => {
            check_tag(tag)?;
            let tags = map_at(tx, &ROOT, key::TAGS)?;
            tx.put(&tags, tag.as_str(), true)?;
            touch(tx)?;
        }
        Edit::RemoveTag(tag) => {
            let tags = map_at(tx, &ROOT, key::TAGS)?;
            tx.delete(&tags, tag.as_str())?;
            touch(tx)?;
        }
        Edit::SetGeo { lat, lon } => {
            check_position(*lat, *lon)?;
            let geo = tx.put_object(ROOT, key::GEO, ObjType::Map)?;
            tx.put(&geo, Field::Lat.key(), *lat)?;
            tx.put(&geo, Field::Lon.key(), *lon)?;
            touch(tx)?;
        }
        Edit::ClearGeo => {
            tx.delete(ROOT, key::GEO)?;
            touch(tx)?;
        }
        Edit::AddAdmin(admin) | Edit::RemoveAdmin(admin) => {
            let admins = map_at(tx, &ROOT, key::ADMINS)?;
            if let Edit::AddAdmin(_) = edit {
                tx.put(&admins, admin.to_string(), true)?;
            } else {
                tx.delete(&admins, admin.to_string())?;
            }
        }
        Edit::SetOpenEdition(open) => tx.put(ROOT, key::OPEN_EDITION, *open)?,
        Edit::SetDeleted(deleted) => tx.put(ROOT, key::DELETED, *deleted)?,
        Edit::ConfirmMember(member) | Edit::RemoveMember(member) => {
            let confirmed = map_at(tx, &ROOT, key::CONFIRMED)?;
            let confirm = matches!(edit, Edit::ConfirmMember(_));
            tx.put(&confirmed, member.to_string(), confirm)?;
        }
        Edit::Link { relation, comment } => {
            let entry = if *relation == Relation::Recommends {
                let slots = map_at(tx, &ROOT, key::RECOMMENDS)?;
                tx.put_object(&slots, me.as_str(), ObjType::Map)?
            } else {
                let links = map_at(tx, &ROOT, key::LINKS)?;
                let slot = map_at(tx, &links, &me)?;
                tx.put_object(&slot, relation.as_str(), ObjType::Map)?
            };
            tx.put(&entry, key::AT, ScalarValue::Timestamp(now_ms))?;
            if let Some(comment) = comment {
                check_length(key::COMMENT, comment, MAX_COMMENT_CHARS)?;
                tx.put(&entry, key::COMMENT, comment.as_str())?;
            }
        }
        Edit::Unlink(relation) => {
            if *relation == Relation::Recommends {
                let slots = map_at(tx, &ROOT, key::RECOMMENDS)?;
                tx.delete(&slots, me.as_str())?;
            } else if let Some((_, links)) = tx.get(ROOT, key::LINKS)?
                && let Some((_, slot)) = tx.get(&links, me.as_str())?
            {
                tx.delete(&slot, relation.as_str())?;
            }
        }
        Edit::Report(reason) => {
            if reason.trim().is_empty() {
                return Err(ValidationError::Empty { field: "reason" }.into());
            }
            check_length(key::REASON, reason, MAX_REPORT_CHARS)?;
            let reports = map_at(tx, &ROOT, key::REPORTS)?;
            let entry = tx.put_object(&reports, me.as_str(), ObjType::Map)?;
            tx.put(&entry, key::AT, ScalarValue::Timestamp(now_ms))?;
            tx.put(&entry, key::REASON, reason.as_str())?;
        }
        Edit::WithdrawReport => {
            let reports = map_at(tx, &ROOT, key::REPORTS)?;
            tx.delete(&reports, me.as_str())?;
        }
    }
    Ok(())
}
