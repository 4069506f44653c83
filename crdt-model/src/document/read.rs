//! Reading a document back: the typed [`Entity`] and its parts, read
//! leniently so that one malformed value never hides an entity.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ObjId, ROOT, ReadDoc, ScalarValue, Value as AmValue, hydrate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Relation, key};
use crate::ids::{AuthorKey, EntityId, hex};
use crate::schema::{Container, Field, Kind, Value};

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// Street line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub street: Option<String>,
    /// Postal code (5 digits in France).
    #[schema(examples("97400"))]
    pub postal_code: String,
    /// INSEE code of the commune (France).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("97411"))]
    pub insee_code: Option<String>,
    /// Locality (commune name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(examples("Saint-Denis"))]
    pub locality: Option<String>,
    /// ISO 3166 alpha-2 country code.
    #[schema(pattern = "^[A-Z]{2}$", examples("FR"))]
    pub country: String,
}

/// A position on the map, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(examples(json!({"lat": -20.8789, "lon": 55.4481})))]
pub struct Geo {
    /// Latitude in degrees.
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    /// Longitude in degrees.
    #[schema(minimum = -180, maximum = 180)]
    pub lon: f64,
}

/// A link or recommendation written by someone into the entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    /// Who wrote it.
    pub author: AuthorKey,
    /// What it says.
    pub relation: Relation,
    /// When, in milliseconds since the epoch (author's clock).
    pub at: i64,
    /// Optional comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The author's person entity (their public profile), derived from the
    /// author key: a link always names its real author.
    pub person: EntityId,
    /// For `member`: whether an admin confirmed it (admins are confirmed).
    /// Always true for other relations.
    pub confirmed: bool,
    /// For `member`: whether the admins removed them (or refused their
    /// request); such a link is not counted among the members.
    #[serde(default)]
    pub removed: bool,
}

/// A report written by someone to the entity's admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    /// Who reported.
    pub author: AuthorKey,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// Why.
    pub reason: String,
}

/// An entity as read from its document: a person, organization, project,
/// event or place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Entity {
    /// Its id.
    pub id: EntityId,
    /// Its kind.
    pub kind: Kind,
    /// Descriptive fields other than the address and the position, by key
    /// (`name` is always there).
    #[schema(value_type = BTreeMap<String, crate::openapi::FieldValue>)]
    pub fields: BTreeMap<String, Value>,
    /// Its address.
    pub address: Address,
    /// Its position, if placed on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// Its tags, sorted.
    pub tags: BTreeSet<String>,
    /// Who may change anything.
    pub admins: BTreeSet<AuthorKey>,
    /// Who created it.
    pub creator: AuthorKey,
    /// Whether anyone may edit its descriptive fields (never for a person).
    pub open_edition: bool,
    /// Marked deleted by an admin (hidden from lists and search, still
    /// shown by id; history kept).
    pub deleted: bool,
    /// Creation time, in milliseconds since the epoch.
    pub created_at: i64,
    /// Last descriptive edit, in milliseconds since the epoch.
    pub updated_at: i64,
    /// Links and recommendations written by others, oldest first.
    pub links: Vec<Link>,
    /// Reports written by others, oldest first.
    pub reports: Vec<Report>,
    /// Root keys of the document this version does not know, as JSON;
    /// absent when there are none.
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
    keys_marked(map, true)
}

/// The author keys a map marks with `flag`.
fn keys_marked(map: Option<&hydrate::Map>, flag: bool) -> BTreeSet<AuthorKey> {
    map.into_iter()
        .flat_map(|map| map.iter())
        .filter(|(_, entry)| entry.value == hydrate::Value::Scalar(ScalarValue::Boolean(flag)))
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
    let removed = keys_marked(root.map(key::CONFIRMED), false);

    let mut links = Vec::new();
    for (author, slot) in slots(root.map(key::LINKS)) {
        for (relation_name, entry) in slot.iter() {
            if let (Some(relation), hydrate::Value::Map(entry)) =
                (Relation::in_links(relation_name), &entry.value)
            {
                let member = relation == Relation::Member;
                let confirmed = !member || confirmed.contains(&author) || admins.contains(&author);
                let mut link = read_link(entry, author, relation, confirmed);
                link.removed = member && !confirmed && removed.contains(&author);
                links.push(link);
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
        // Derived from the slot's owner, never read from what they wrote.
        person: EntityId::person_of(&author),
        confirmed,
        removed: false,
    }
}

/// Whether the schema gives a meaning to this root key.
pub(crate) fn is_known_root_key(name: &str) -> bool {
    use key::*;
    const STRUCTURE: [&str; 18] = [
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
        PROPOSALS,
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
