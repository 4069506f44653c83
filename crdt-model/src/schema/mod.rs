//! The schema of an entity document: its fields, their limits and how each
//! value is checked.
//!
//! One table serves local edits (a typed [`Value`] is checked before it is
//! written) and remote changes (every scalar an operation writes is checked
//! by [`crate::authz`] with the same [`Field::check`]), so a node never
//! accepts from a peer what it would refuse from its own user.

use std::fmt;
use std::str::FromStr;

use automerge::ScalarValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod check;

pub use check::{
    DateKey, MAX_POSTAL_CODE_BYTES, check_country, check_dates, check_length, check_postal_code,
    check_postal_key, check_relay_addresses, check_tag, check_visible, is_bidi_control,
    is_invisible, postal_key,
};
use check::{check_coordinate, check_text};

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest short description (a person's bio), in characters.
pub const MAX_SHORT_DESCRIPTION_CHARS: usize = 280;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 8_000;
/// Longest URL, in bytes.
pub const MAX_URL_BYTES: usize = 2_000;
/// Most tags on one entity.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 40;
/// Longest comment on a link or recommendation, in characters.
pub const MAX_COMMENT_CHARS: usize = 280;
/// Longest reason of a report, in characters.
pub const MAX_REPORT_CHARS: usize = 500;
/// Longest short free-text attribute (category, types, licence…), in characters.
pub const MAX_LABEL_CHARS: usize = 60;
/// Longest street line, in characters.
pub const MAX_STREET_CHARS: usize = 200;
/// Longest locality, in characters.
pub const MAX_LOCALITY_CHARS: usize = 100;
/// Longest opening hours text, in characters.
pub const MAX_OPENING_HOURS_CHARS: usize = 200;
/// Longest telephone number, in characters.
pub const MAX_TELEPHONE_CHARS: usize = 30;
/// Most addresses in a relay's entry.
pub const MAX_RELAY_ADDRESSES: usize = 8;
/// Longest address in a relay's entry, in bytes.
pub const MAX_RELAY_ADDRESS_BYTES: usize = 200;

/// What an entity is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[schema(examples("organization"))]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A citizen's public profile.
    Person,
    /// An association, business or service, group or public body.
    Organization,
    /// Something people run together.
    Project,
    /// Something that happens at a time.
    Event,
    /// A useful place (shared library, compost pickup…).
    Place,
    /// A community relay's entry for a postal code it serves: where nodes
    /// of that postal code meet. Written by the relay with its network key,
    /// so that its signer is the peer its addresses lead to.
    Relay,
    /// Where citizens decide together: proposals, amendments and votes of
    /// an organization, a project or a postal code (see [`crate::decide`]).
    Room,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Kind; 7] = [
        Kind::Person,
        Kind::Organization,
        Kind::Project,
        Kind::Event,
        Kind::Place,
        Kind::Relay,
        Kind::Room,
    ];

    /// The name written in documents and accepted on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Organization => "organization",
            Kind::Project => "project",
            Kind::Event => "event",
            Kind::Place => "place",
            Kind::Relay => "relay",
            Kind::Room => "room",
        }
    }

    /// Whether new entities of this kind are open to edition by anyone
    /// (Communecter's wiki-like default); a person's profile and a relay's
    /// entry never are, nor a room (its admins say who takes part).
    pub const fn default_open_edition(self) -> bool {
        !matches!(self, Kind::Person | Kind::Relay | Kind::Room)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ValidationError::NotAllowed {
                field: "kind",
                value: text.to_owned(),
                allowed: Kind::ALL.map(Kind::as_str).join(", "),
            })
    }
}

/// Allowed values of `organization_type` (schema.org types).
pub const ORGANIZATION_TYPES: &[&str] = &["ngo", "local_business", "group", "government"];

/// The organization type `text` names, as stored: one of
/// [`ORGANIZATION_TYPES`], or its schema.org name (`NGO`, `LocalBusiness`,
/// `GovernmentOrganization`, `Organization` for a group), or a common
/// synonym (association, business, government), in any case, with spaces,
/// hyphens or underscores alike. `None` when it names none.
pub fn organization_type(text: &str) -> Option<&'static str> {
    let folded: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match folded.as_str() {
        "ngo" | "association" | "nonprofit" => "ngo",
        "localbusiness" | "business" | "commerce" => "local_business",
        "group" | "organization" | "organisation" => "group",
        "government" | "governmentorganization" => "government",
        _ => return None,
    })
}
/// Allowed values of a room's `who`: who takes part in its decisions
/// (see [`crate::decide::Who`]).
pub const WHO_VALUES: &[&str] = &["confirmed-members", "members", "citizens", "anyone"];

/// Allowed values of a project's `progress`.
pub const PROGRESS_VALUES: &[&str] = &["idea", "in_progress", "done", "abandoned"];

/// A field a citizen sets by name (`communecter edit ID --set field=value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Name (display name for a person).
    Name,
    /// One or two sentences (a person's bio).
    ShortDescription,
    /// Longer free text.
    Description,
    /// Web site.
    Url,
    /// Public telephone number of an organization.
    Telephone,
    /// Opening hours, free text ("Mo-Fr 08:00-18:00").
    OpeningHours,
    /// Organization: ngo, local_business, group or government.
    OrganizationType,
    /// Organization: free category (garage, crèche, bakery, theatre troupe…).
    Category,
    /// Project or event start date.
    Start,
    /// Project or event end date.
    End,
    /// Event lasting whole days.
    AllDay,
    /// Project progress: idea, in_progress, done or abandoned.
    Progress,
    /// Project licence.
    Licence,
    /// Event type (concert, meeting, market…).
    EventType,
    /// Event organizer (an entity id).
    Organizer,
    /// Event place (an entity id).
    Place,
    /// Place type (shared library, compost pickup…).
    PlaceType,
    /// Address: street line.
    Street,
    /// Address: postal code.
    PostalCode,
    /// Address: INSEE code of the commune.
    InseeCode,
    /// Address: locality (commune name).
    Locality,
    /// Address: ISO 3166 country code.
    Country,
    /// Latitude in degrees.
    Lat,
    /// Longitude in degrees.
    Lon,
    /// A relay's addresses: multiaddrs without the peer id (the entry's
    /// signer is the peer), separated by spaces.
    Addresses,
    /// Room: who takes part (confirmed-members, members, citizens or anyone).
    Who,
    /// Room: what it belongs to, an entity id (organization or project) or
    /// a postal key (the commune's room).
    Parent,
    /// Room: whether it is its postal code's moderation room, where the
    /// community decides on reported items (the oldest such room counts).
    Moderation,
}

/// Where a field lives in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// A key of the root map.
    Root,
    /// A key of the `address` map.
    Address,
    /// A key of the `geo` map.
    Geo,
}

impl Container {
    /// The root key of the container, `None` for the root itself.
    pub const fn key(self) -> Option<&'static str> {
        match self {
            Container::Root => None,
            Container::Address => Some("address"),
            Container::Geo => Some("geo"),
        }
    }
}

/// The type of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text { max_chars: usize, required: bool },
    Url,
    Date,
    Bool,
    OneOf(&'static [&'static str]),
    EntityRef,
    PostalCode,
    Insee,
    Country,
    Latitude,
    Longitude,
    Addresses,
    Parent,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 28] = [
        Field::Name,
        Field::ShortDescription,
        Field::Description,
        Field::Url,
        Field::Telephone,
        Field::OpeningHours,
        Field::OrganizationType,
        Field::Category,
        Field::Start,
        Field::End,
        Field::AllDay,
        Field::Progress,
        Field::Licence,
        Field::EventType,
        Field::Organizer,
        Field::Place,
        Field::PlaceType,
        Field::Street,
        Field::PostalCode,
        Field::InseeCode,
        Field::Locality,
        Field::Country,
        Field::Lat,
        Field::Lon,
        Field::Addresses,
        Field::Who,
        Field::Parent,
        Field::Moderation,
    ];

    /// The key of the field inside its container.
    pub const fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::ShortDescription => "short_description",
            Field::Description => "description",
            Field::Url => "url",
            Field::Telephone => "telephone",
            Field::OpeningHours => "opening_hours",
            Field::OrganizationType => "organization_type",
            Field::Category => "category",
            Field::Start => "start",
            Field::End => "end",
            Field::AllDay => "all_day",
            Field::Progress => "progress",
            Field::Licence => "licence",
            Field::EventType => "event_type",
            Field::Organizer => "organizer",
            Field::Place => "place",
            Field::PlaceType => "place_type",
            Field::Street => "street",
            Field::PostalCode => "postal_code",
            Field::InseeCode => "insee_code",
            Field::Locality => "locality",
            Field::Country => "country",
            Field::Lat => "lat",
            Field::Lon => "lon",
            Field::Addresses => "addresses",
            Field::Who => "who",
            Field::Parent => "parent",
            Field::Moderation => "moderation",
        }
    }

    /// The map that holds the field.
    pub const fn container(self) -> Container {
        match self {
            Field::Street
            | Field::PostalCode
            | Field::InseeCode
            | Field::Locality
            | Field::Country => Container::Address,
            Field::Lat | Field::Lon => Container::Geo,
            _ => Container::Root,
        }
    }

    /// The name users type: the key, prefixed by its container (`address.street`).
    pub fn name(self) -> String {
        match self.container().key() {
            Some(container) => format!("{container}.{}", self.key()),
            None => self.key().to_owned(),
        }
    }

    /// The field at `key` of `container`, if the schema has one.
    pub fn at(container: Container, key: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|field| field.container() == container && field.key() == key)
    }

    /// Whether the field's text may hold line breaks and tabs: a
    /// description and opening hours do; a name or a short description is
    /// one line.
    pub const fn allows_line_breaks(self) -> bool {
        matches!(self, Field::Description | Field::OpeningHours)
    }

    /// Whether entities of `kind` have this field.
    pub const fn applies_to(self, kind: Kind) -> bool {
        use Field::*;
        match self {
            Name | ShortDescription | Description | Url | Street | PostalCode | InseeCode
            | Locality | Country | Lat | Lon => true,
            Telephone | OrganizationType | Category => matches!(kind, Kind::Organization),
            OpeningHours => matches!(kind, Kind::Organization | Kind::Place),
            Start | End => matches!(kind, Kind::Project | Kind::Event),
            Progress | Licence => matches!(kind, Kind::Project),
            AllDay | EventType | Organizer | Place => matches!(kind, Kind::Event),
            PlaceType => matches!(kind, Kind::Place),
            Addresses => matches!(kind, Kind::Relay),
            Who | Parent | Moderation => matches!(kind, Kind::Room),
        }
    }

    /// Whether the field must always have a value.
    pub const fn is_required(self) -> bool {
        matches!(self, Field::Name | Field::PostalCode | Field::Country)
    }

    fn shape(self) -> Shape {
        use Field::*;
        let text = |max_chars| Shape::Text {
            max_chars,
            required: false,
        };
        match self {
            Name => Shape::Text {
                max_chars: MAX_NAME_CHARS,
                required: true,
            },
            ShortDescription => text(MAX_SHORT_DESCRIPTION_CHARS),
            Description => text(MAX_DESCRIPTION_CHARS),
            Url => Shape::Url,
            Telephone => text(MAX_TELEPHONE_CHARS),
            OpeningHours => text(MAX_OPENING_HOURS_CHARS),
            OrganizationType => Shape::OneOf(ORGANIZATION_TYPES),
            Category | Licence | EventType | PlaceType => text(MAX_LABEL_CHARS),
            Start | End => Shape::Date,
            AllDay | Moderation => Shape::Bool,
            Progress => Shape::OneOf(PROGRESS_VALUES),
            Organizer | Place => Shape::EntityRef,
            Street => text(MAX_STREET_CHARS),
            PostalCode => Shape::PostalCode,
            InseeCode => Shape::Insee,
            Locality => text(MAX_LOCALITY_CHARS),
            Country => Shape::Country,
            Lat => Shape::Latitude,
            Lon => Shape::Longitude,
            Addresses => Shape::Addresses,
            Who => Shape::OneOf(WHO_VALUES),
            Parent => Shape::Parent,
        }
    }

    /// Checks a value as written in a document. A postal code is checked on
    /// its own format here; [`check_postal_code`] checks it against the country.
    pub fn check(self, value: &ScalarValue) -> Result<(), ValidationError> {
        let field = self.key();
        let wrong_type = |expected| ValidationError::WrongType { field, expected };
        match self.shape() {
            Shape::Bool => match value {
                ScalarValue::Boolean(_) => Ok(()),
                _ => Err(wrong_type("true or false")),
            },
            Shape::Latitude | Shape::Longitude => {
                let ScalarValue::F64(degrees) = value else {
                    return Err(wrong_type("a number of degrees"));
                };
                check_coordinate(self, *degrees)
            }
            shape => {
                let ScalarValue::Str(text) = value else {
                    return Err(wrong_type("text"));
                };
                check_text(self, shape, text)
            }
        }
    }

    /// Parses what a user typed (`--set field=value`) into a checked value.
    pub fn parse_value(self, text: &str) -> Result<Value, ValidationError> {
        let value = match self.shape() {
            Shape::Bool => match text {
                "true" | "yes" | "oui" | "1" => Value::Bool(true),
                "false" | "no" | "non" | "0" => Value::Bool(false),
                _ => {
                    return Err(ValidationError::WrongType {
                        field: self.key(),
                        expected: "true or false",
                    });
                }
            },
            Shape::Latitude | Shape::Longitude => {
                let degrees =
                    text.trim()
                        .parse::<f64>()
                        .map_err(|_| ValidationError::WrongType {
                            field: self.key(),
                            expected: "a number of degrees",
                        })?;
                Value::Number(degrees)
            }
            // Typed by people: schema.org names and any case are theirs.
            _ if self == Field::OrganizationType => Value::Text(
                organization_type(text).map_or_else(|| text.trim().to_owned(), str::to_owned),
            ),
            _ => Value::Text(text.trim().to_owned()),
        };
        self.check(&value.to_scalar())?;
        Ok(value)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Field {
    type Err = ValidationError;

    /// Accepts `street` as well as `address.street`, and `-` for `_`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().replace('-', "_");
        Field::ALL
            .into_iter()
            .find(|field| field.key() == wanted || field.name() == wanted)
            .ok_or_else(|| ValidationError::UnknownField {
                field: text.to_owned(),
                known: Field::ALL.map(Field::name).join(", "),
            })
    }
}

/// A typed value for a field: a JSON string, boolean or number.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Text, dates, urls, ids, codes.
    Text(String),
    /// Flags.
    Bool(bool),
    /// Coordinates.
    Number(f64),
}

/// Read straight from the JSON token (an untagged derive would buffer every
/// value and try each variant in turn, which dominated reading entities).
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Value;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a string, a boolean or a number")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Value, E> {
                Ok(Value::Text(text.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Value, E> {
                Ok(Value::Text(text))
            }
            fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<Value, E> {
                Ok(Value::Bool(flag))
            }
            fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<Value, E> {
                Ok(Value::Number(number))
            }
            fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Value, E> {
                Ok(Value::Number(number as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Value, E> {
                Ok(Value::Number(number as f64))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Value {
    /// The Automerge scalar written for this value.
    pub fn to_scalar(&self) -> ScalarValue {
        match self {
            Value::Text(text) => ScalarValue::Str(text.as_str().into()),
            Value::Bool(flag) => ScalarValue::Boolean(*flag),
            Value::Number(number) => ScalarValue::F64(*number),
        }
    }
}

/// Why a value, a field or an entity is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// A required field is empty, or shows nothing (only spaces and
    /// invisible characters).
    #[error("{field} must not be empty, nor made only of spaces and invisible characters")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A text is longer than its limit.
    #[error("{field} is {found} characters long; the limit is {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The limit.
        max: usize,
        /// The length given.
        found: usize,
    },
    /// A text contains control characters.
    #[error("{field} contains control characters")]
    ControlCharacters {
        /// The field.
        field: &'static str,
    },
    /// A text contains a character that overrides, embeds or isolates the
    /// direction of the text (it can make a name read as another).
    #[error(
        "{field} contains a character that changes the direction of the text (U+202A–U+202E, U+2066–U+2069)"
    )]
    BidiControl {
        /// The field.
        field: &'static str,
    },
    /// A value has the wrong type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A value is not one of the allowed ones.
    #[error("{value:?} is not a valid {field}; use one of: {allowed}")]
    NotAllowed {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed values.
        allowed: String,
    },
    /// A postal code does not have the format of its country.
    #[error("{code:?} is not a postal code of {country}{hint}")]
    PostalCode {
        /// The code given.
        code: String,
        /// The country.
        country: String,
        /// What the format is.
        hint: &'static str,
    },
    /// An INSEE code is not 5 characters (digits, or 2A/2B for Corsica).
    #[error("{0:?} is not an INSEE commune code (5 characters, like 97411 or 2A004)")]
    Insee(String),
    /// A country code is not two uppercase letters.
    #[error("{0:?} is not a country code; use two capital letters like FR or BE")]
    Country(String),
    /// A latitude outside [-90, 90] or a longitude outside [-180, 180].
    #[error("{field} {value} is out of range ({range})")]
    Coordinate {
        /// lat or lon.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The range allowed.
        range: &'static str,
    },
    /// A URL that is not an http(s) URL.
    #[error("{0:?} is not a web address; it must start with http:// or https:// and have a host")]
    Url(String),
    /// A date that is not ISO 8601.
    #[error("{0:?} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM (with an optional offset)")]
    Date(String),
    /// An end date before the start date.
    #[error("the end ({end}) is before the start ({start})")]
    EndBeforeStart {
        /// Start date.
        start: String,
        /// End date.
        end: String,
    },
    /// Not an entity id.
    #[error("{field} must be an entity id: {reason}")]
    EntityRef {
        /// The field.
        field: &'static str,
        /// Why the id was refused.
        reason: String,
    },
    /// A relay's addresses that are not what an entry holds.
    #[error("{text:?} is not a list of relay addresses: {reason}")]
    RelayAddresses {
        /// The text given (its first characters).
        text: String,
        /// Why.
        reason: &'static str,
    },
    /// A tag that is empty, too long or has control characters.
    #[error("{tag:?} is not a valid tag: {reason}")]
    Tag {
        /// The tag given.
        tag: String,
        /// Why.
        reason: &'static str,
    },
    /// More tags than allowed.
    #[error("an entity has at most {max} tags (this would make {found})")]
    TooManyTags {
        /// The limit.
        max: usize,
        /// The count it would make.
        found: usize,
    },
    /// No such field.
    #[error("there is no field {field:?}; fields are: {known}")]
    UnknownField {
        /// The field given.
        field: String,
        /// The known fields.
        known: String,
    },
    /// The field exists but not for this kind of entity.
    #[error("{kind}s have no field {field}")]
    FieldNotForKind {
        /// The field.
        field: String,
        /// The kind.
        kind: Kind,
    },
    /// A required field would be removed.
    #[error("{0} is required and cannot be removed")]
    Required(String),
}

impl ValidationError {
    /// Why, as a stable machine-readable name (`empty`, `too_long`,
    /// `date`, `end_before_start`…): for clients that say it in their
    /// own words, in the citizen's language.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "empty",
            Self::TooLong { .. } => "too_long",
            Self::ControlCharacters { .. } => "control_characters",
            Self::BidiControl { .. } => "bidi_control",
            Self::WrongType { .. } => "wrong_type",
            Self::NotAllowed { .. } => "not_allowed",
            Self::PostalCode { .. } => "postal_code",
            Self::Insee(_) => "insee",
            Self::Country(_) => "country",
            Self::Coordinate { .. } => "coordinate",
            Self::Url(_) => "url",
            Self::Date(_) => "date",
            Self::EndBeforeStart { .. } => "end_before_start",
            Self::EntityRef { .. } => "entity_ref",
            Self::RelayAddresses { .. } => "relay_addresses",
            Self::Tag { .. } => "tag",
            Self::TooManyTags { .. } => "too_many_tags",
            Self::UnknownField { .. } => "unknown_field",
            Self::FieldNotForKind { .. } => "field_not_for_kind",
            Self::Required(_) => "required",
        }
    }

    /// The field the error is about, when it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ControlCharacters { field }
            | Self::BidiControl { field }
            | Self::WrongType { field, .. }
            | Self::NotAllowed { field, .. }
            | Self::Coordinate { field, .. }
            | Self::EntityRef { field, .. } => Some(field),
            Self::UnknownField { field, .. } | Self::FieldNotForKind { field, .. } => Some(field),
            Self::Required(field) => Some(field),
            Self::PostalCode { .. } => Some("postal_code"),
            Self::Insee(_) => Some("insee_code"),
            Self::Country(_) => Some("country"),
            Self::Url(_) => Some("url"),
            Self::EndBeforeStart { .. } => Some("end"),
            Self::Tag { .. } | Self::TooManyTags { .. } => Some("tags"),
            Self::Date(_) | Self::RelayAddresses { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
