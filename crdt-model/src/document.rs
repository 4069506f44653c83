//! One Automerge document per entity: its layout, the typed edits that write
//! it and the typed [`Entity`] read back from it.
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
//!
//! Keys the schema does not know are preserved and shown in
//! [`Entity::extra`]; only admins may write them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value as AmValue,
    hydrate,
};
use serde::{Deserialize, Serialize};

use crate::authz::{self, Reject};
use crate::ids::{Actor, AuthorKey, EntityId, hex};
use crate::schema::{
    Container, Field, Kind, MAX_COMMENT_CHARS, MAX_REPORT_CHARS, ValidationError, Value,
    check_length, check_postal_code, check_tag,
};

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
    pub(crate) const AT: &str = "at";
    pub(crate) const COMMENT: &str = "comment";
    pub(crate) const PERSON: &str = "person";
    pub(crate) const REASON: &str = "reason";
}

/// A link written by an author into an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Marks the entity deleted, or restores it (admins only).
    SetDeleted(bool),
    /// Writes the author's own link (or recommendation) into the entity.
    Link {
        /// The relation.
        relation: Relation,
        /// Optional short comment (shown with recommendations).
        #[serde(default)]
        comment: Option<String>,
        /// The author's own Person entity, so readers can show a name.
        #[serde(default)]
        person: Option<EntityId>,
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
/// [`Genesis`] and its first edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntity {
    /// organization, project, event or place.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its postal code; the citizen's when absent.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Its country; `FR` when absent.
    #[serde(default)]
    pub country: Option<String>,
    /// Whether anyone may edit its descriptive fields (default: yes).
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
        Edit::ConfirmMember(member) => {
            let confirmed = map_at(tx, &ROOT, key::CONFIRMED)?;
            tx.put(&confirmed, member.to_string(), true)?;
        }
        Edit::Link {
            relation,
            comment,
            person,
        } => {
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
            if let Some(person) = person {
                tx.put(&entry, key::PERSON, person.to_string())?;
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

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// INSEE code of the commune (France).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insee_code: Option<String>,
    /// Locality (commune name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// ISO 3166 alpha-2 country code.
    pub country: String,
}

/// A position on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// A link as read from a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Who wrote it.
    pub author: AuthorKey,
    /// What it says.
    pub relation: Relation,
    /// When (ms since the epoch, author's clock).
    pub at: i64,
    /// Optional comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The author's Person entity, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<EntityId>,
    /// For `member`: whether an admin confirmed it (admins are confirmed).
    pub confirmed: bool,
}

/// A report as read from a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Who reported.
    pub author: AuthorKey,
    /// When (ms since the epoch).
    pub at: i64,
    /// Why.
    pub reason: String,
}

/// An entity read from its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Its id.
    pub id: EntityId,
    /// Its kind.
    pub kind: Kind,
    /// Its descriptive fields other than the address and position, by name.
    pub fields: BTreeMap<String, Value>,
    /// Its address.
    pub address: Address,
    /// Its position, if placed on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// Its tags.
    pub tags: BTreeSet<String>,
    /// Who may change anything.
    pub admins: BTreeSet<AuthorKey>,
    /// Who created it.
    pub creator: AuthorKey,
    /// Whether anyone may edit its descriptive fields.
    pub open_edition: bool,
    /// Marked deleted by an admin (history kept).
    pub deleted: bool,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
    /// Last descriptive edit (ms since the epoch).
    pub updated_at: i64,
    /// Links and recommendations written by others.
    pub links: Vec<Link>,
    /// Reports written by others.
    pub reports: Vec<Report>,
    /// Root keys this version does not know, preserved as JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Entity {
    /// The entity's name.
    pub fn name(&self) -> &str {
        self.text(Field::Name).unwrap_or_default()
    }

    /// A text field, if set.
    pub fn text(&self, field: Field) -> Option<&str> {
        match self.fields.get(field.key()) {
            Some(Value::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// The gossip key of the entity's postal code (see [`crate::schema::postal_key`]).
    pub fn postal_key(&self) -> String {
        crate::schema::postal_key(&self.address.postal_code, &self.address.country)
    }
}

/// Why a document could not be read as an entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A required key is missing or malformed.
    #[error("the document is not an entity: {0} is missing or malformed")]
    Missing(&'static str),
}

fn get_scalar<R: ReadDoc>(doc: &R, obj: &ObjId, name: &str) -> Option<ScalarValue> {
    match doc.get(obj, name) {
        Ok(Some((AmValue::Scalar(value), _))) => Some(value.into_owned()),
        _ => None,
    }
}

fn get_text<R: ReadDoc>(doc: &R, obj: &ObjId, name: &str) -> Option<String> {
    match get_scalar(doc, obj, name)? {
        ScalarValue::Str(text) => Some(text.to_string()),
        _ => None,
    }
}

/// Typed access to a hydrated map: the whole document is hydrated once per
/// read, because Automerge 0.12 seeks from the start of an object on every
/// `get`, which made reading an entity with thousands of links quadratic.
trait Tree {
    fn scalar(&self, name: &str) -> Option<&ScalarValue>;
    fn text(&self, name: &str) -> Option<String>;
    fn time(&self, name: &str) -> Option<i64>;
    fn map(&self, name: &str) -> Option<&hydrate::Map>;
    fn flag(&self, name: &str) -> bool;
}

impl Tree for hydrate::Map {
    fn scalar(&self, name: &str) -> Option<&ScalarValue> {
        match self.get(name)? {
            hydrate::Value::Scalar(value) => Some(value),
            _ => None,
        }
    }

    fn text(&self, name: &str) -> Option<String> {
        match self.scalar(name)? {
            ScalarValue::Str(text) => Some(text.to_string()),
            _ => None,
        }
    }

    fn time(&self, name: &str) -> Option<i64> {
        match self.scalar(name)? {
            ScalarValue::Timestamp(ms) | ScalarValue::Int(ms) => Some(*ms),
            ScalarValue::Uint(ms) => i64::try_from(*ms).ok(),
            _ => None,
        }
    }

    fn map(&self, name: &str) -> Option<&hydrate::Map> {
        match self.get(name)? {
            hydrate::Value::Map(map) => Some(map),
            _ => None,
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.scalar(name) == Some(&ScalarValue::Boolean(true))
    }
}

/// Keys of a map whose names are author keys and whose value is `true`.
fn key_set(map: Option<&hydrate::Map>) -> BTreeSet<AuthorKey> {
    map.into_iter()
        .flat_map(|map| map.iter())
        .filter(|(_, entry)| entry.value == hydrate::Value::Scalar(ScalarValue::Boolean(true)))
        .filter_map(|(name, _)| name.parse().ok())
        .collect()
}

/// The `(author, entry)` pairs of a slot map whose keys are author keys.
fn slots<'a>(
    map: Option<&'a hydrate::Map>,
) -> impl Iterator<Item = (AuthorKey, &'a hydrate::Map)> + 'a {
    map.into_iter()
        .flat_map(|map| map.iter())
        .filter_map(|(name, entry)| match (name.parse(), &entry.value) {
            (Ok(author), hydrate::Value::Map(slot)) => Some((author, slot)),
            _ => None,
        })
}

/// The id and kind of the entity a document holds, without reading the rest.
pub fn identity<R: ReadDoc>(doc: &R) -> Result<(EntityId, Kind), ReadError> {
    let id = get_text(doc, &ROOT, key::ID)
        .and_then(|text| text.parse().ok())
        .ok_or(ReadError::Missing(key::ID))?;
    let kind = get_text(doc, &ROOT, key::KIND)
        .and_then(|text| text.parse().ok())
        .ok_or(ReadError::Missing(key::KIND))?;
    Ok((id, kind))
}

/// Reads the typed entity from its document. Lenient: a malformed optional
/// value is skipped rather than failing the whole read, so that one bad
/// write never hides an entity.
pub fn read<R: ReadDoc>(doc: &R) -> Result<Entity, ReadError> {
    let hydrate::Value::Map(root) = doc
        .hydrate(ROOT, None)
        .map_err(|_| ReadError::Missing(key::ID))?
    else {
        return Err(ReadError::Missing(key::ID));
    };
    let id = root
        .text(key::ID)
        .and_then(|text| text.parse().ok())
        .ok_or(ReadError::Missing(key::ID))?;
    let kind = root
        .text(key::KIND)
        .and_then(|text| text.parse().ok())
        .ok_or(ReadError::Missing(key::KIND))?;
    let creator = root
        .text(key::CREATOR)
        .and_then(|text| text.parse().ok())
        .ok_or(ReadError::Missing(key::CREATOR))?;

    let mut fields = BTreeMap::new();
    for field in Field::ALL {
        if field.container() != Container::Root {
            continue;
        }
        if let Some(value) = root.scalar(field.key())
            && field.check(value).is_ok()
        {
            let value = match value {
                ScalarValue::Boolean(flag) => Value::Bool(*flag),
                ScalarValue::F64(number) => Value::Number(*number),
                ScalarValue::Str(text) => Value::Text(text.to_string()),
                _ => continue,
            };
            fields.insert(field.key().to_owned(), value);
        }
    }

    let address_map = root
        .map(key::ADDRESS)
        .ok_or(ReadError::Missing(key::ADDRESS))?;
    let address_text = |field: Field| address_map.text(field.key());
    let address = Address {
        street: address_text(Field::Street),
        postal_code: address_text(Field::PostalCode).ok_or(ReadError::Missing("postal_code"))?,
        insee_code: address_text(Field::InseeCode),
        locality: address_text(Field::Locality),
        country: address_text(Field::Country).ok_or(ReadError::Missing("country"))?,
    };
    let geo = root.map(key::GEO).and_then(|geo| {
        let degrees = |field: Field| match geo.scalar(field.key()) {
            Some(ScalarValue::F64(value)) => Some(*value),
            _ => None,
        };
        Some(Geo {
            lat: degrees(Field::Lat)?,
            lon: degrees(Field::Lon)?,
        })
    });
    let tags = root
        .map(key::TAGS)
        .map(|tags| tags.iter().map(|(tag, _)| tag.clone()).collect())
        .unwrap_or_default();

    let mut admins = key_set(root.map(key::ADMINS));
    if admins.is_empty() {
        // Only concurrent removals can empty the set; the creator then
        // stands in (see authz), and readers show the same.
        admins.insert(creator);
    }
    let confirmed = key_set(root.map(key::CONFIRMED));

    let mut links = Vec::new();
    for (author, slot) in slots(root.map(key::LINKS)) {
        for (relation_name, entry) in slot.iter() {
            if let (Some(relation), hydrate::Value::Map(entry)) =
                (Relation::in_links(relation_name), &entry.value)
            {
                let confirmed = relation != Relation::Member
                    || confirmed.contains(&author)
                    || admins.contains(&author);
                links.push(read_link(entry, author, relation, confirmed));
            }
        }
    }
    for (author, entry) in slots(root.map(key::RECOMMENDS)) {
        links.push(read_link(entry, author, Relation::Recommends, true));
    }
    links.sort_by_key(|link| (link.at, link.author, link.relation));
    let mut reports: Vec<Report> = slots(root.map(key::REPORTS))
        .map(|(author, entry)| Report {
            author,
            at: entry.time(key::AT).unwrap_or_default(),
            reason: entry.text(key::REASON).unwrap_or_default(),
        })
        .collect();
    reports.sort_by_key(|report| (report.at, report.author));

    let extra = root
        .iter()
        .filter(|(name, _)| !is_known_root_key(name))
        .map(|(name, entry)| (name.clone(), to_json(&entry.value, 0)))
        .collect();

    Ok(Entity {
        id,
        kind,
        fields,
        address,
        geo,
        tags,
        admins,
        creator,
        open_edition: root.flag(key::OPEN_EDITION) && kind != Kind::Person,
        deleted: root.flag(key::DELETED),
        created_at: root.time(key::CREATED_AT).unwrap_or_default(),
        updated_at: root.time(key::UPDATED_AT).unwrap_or_default(),
        links,
        reports,
        extra,
    })
}

fn read_link(entry: &hydrate::Map, author: AuthorKey, relation: Relation, confirmed: bool) -> Link {
    Link {
        author,
        relation,
        at: entry.time(key::AT).unwrap_or_default(),
        comment: entry.text(key::COMMENT),
        person: entry.text(key::PERSON).and_then(|text| text.parse().ok()),
        confirmed,
    }
}

/// Whether the schema gives a meaning to this root key.
pub(crate) fn is_known_root_key(name: &str) -> bool {
    use key::*;
    const STRUCTURE: [&str; 17] = [
        SCHEMA,
        KIND,
        ID,
        NONCE,
        CREATOR,
        CREATED_AT,
        UPDATED_AT,
        ADDRESS,
        GEO,
        TAGS,
        ADMINS,
        OPEN_EDITION,
        DELETED,
        CONFIRMED,
        LINKS,
        RECOMMENDS,
        REPORTS,
    ];
    STRUCTURE.contains(&name) || Field::at(Container::Root, name).is_some()
}

/// Deepest nesting converted by [`to_json`]; deeper values become null.
const MAX_JSON_DEPTH: usize = 16;

fn to_json(value: &hydrate::Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as Json;
    if depth >= MAX_JSON_DEPTH {
        return Json::Null;
    }
    match value {
        hydrate::Value::Map(map) => Json::Object(
            map.iter()
                .map(|(name, entry)| (name.clone(), to_json(&entry.value, depth + 1)))
                .collect(),
        ),
        hydrate::Value::List(list) => Json::Array(
            list.iter()
                .map(|item| to_json(&item.value, depth + 1))
                .collect(),
        ),
        hydrate::Value::Text(text) => Json::String(text.to_string()),
        hydrate::Value::Scalar(scalar) => match scalar {
            ScalarValue::Str(text) => Json::String(text.to_string()),
            ScalarValue::Int(n) | ScalarValue::Timestamp(n) => Json::from(*n),
            ScalarValue::Uint(n) => Json::from(*n),
            ScalarValue::F64(n) => Json::from(*n),
            ScalarValue::Boolean(flag) => Json::Bool(*flag),
            ScalarValue::Bytes(bytes) => Json::String(hex(bytes)),
            _ => Json::Null,
        },
    }
}
