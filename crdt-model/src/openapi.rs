//! The OpenAPI schemas of the types whose JSON form is written by hand
//! (custom serde): ids, keys, field names and values, and [`Edit`]. The
//! other types derive theirs (`utoipa::ToSchema`) next to their
//! definition. The node's local API assembles them into its document.
//!
//! Every schema here is checked against the serde form it describes by the
//! tests below: its examples parse, and each [`Edit`] variant has its
//! alternative.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, ArrayItems, ObjectBuilder, OneOfBuilder,
    Schema, SchemaType, Type,
};
use utoipa::openapi::{RefOr, schema};
use utoipa::{PartialSchema, ToSchema};

use crate::document::{Edit, Geo, Relation};
use crate::ids::{AuthorKey, EntityId};
use crate::schema::{Field, Kind, MAX_REPORT_CHARS, MAX_TAG_CHARS, Value};

/// A reference to the component schema of `T`.
fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(schema::Ref::from_schema_name(T::name()))
}

/// A reference to `T` where only an inline schema may stand (the items
/// of `prefixItems`): `{"allOf": [{"$ref": …}]}`.
fn inline_ref<T: ToSchema>() -> Schema {
    AllOfBuilder::new().item(reference::<T>()).into()
}

/// Adds `T` and the schemas it refers to, to `schemas`.
fn with<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

impl PartialSchema for EntityId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An entity id: 26 lowercase base32 characters (letters a-z, digits 2-7).",
            ))
            .pattern(Some("^[a-z2-7]{26}$"))
            .examples([json!("aigfjguydgfehzvq4y5dq366ze")])
            .into()
    }
}

impl ToSchema for EntityId {}

impl PartialSchema for AuthorKey {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An author's ed25519 public key: 64 lowercase hexadecimal digits.",
            ))
            .pattern(Some("^[0-9a-f]{64}$"))
            .examples([json!(
                "1a5304b1686108db918704c3c9948b6a33e0e15e2159f827cf3e9ad956c53bf4"
            )])
            .into()
    }
}

impl ToSchema for AuthorKey {}

/// Which kinds have a field, in words, for its description.
fn kinds_of_fields() -> String {
    let mut out = Vec::new();
    for field in Field::ALL {
        let kinds: Vec<_> = Kind::ALL
            .into_iter()
            .filter(|kind| *kind != Kind::Person && field.applies_to(*kind))
            .map(Kind::as_str)
            .collect();
        if kinds.len() < Kind::ALL.len() - 1 {
            let names = kinds;
            out.push(format!("`{}` for {}", field.name(), names.join(", ")));
        }
    }
    out.join("; ")
}

impl PartialSchema for Field {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A field, by the name users type: root fields by their key, address \
                 fields prefixed with `address.`, position with `geo.`. The bare key \
                 (`street`) and `-` for `_` are accepted too. Fields that not every \
                 kind has: {}.",
                kinds_of_fields()
            )))
            .enum_values(Some(Field::ALL.map(Field::name)))
            .examples([json!("name"), json!("address.street")])
            .into()
    }
}

impl ToSchema for Field {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldName")
    }
}

impl PartialSchema for Value {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::String,
                Type::Boolean,
                Type::Number,
            ]))
            .description(Some(
                "A field value: text (also dates as `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`, \
                 http(s) URLs, entity ids, codes), a boolean (`all_day`) or a number \
                 (`geo.lat`, `geo.lon`). `organization_type` is one of ngo, \
                 local_business, group, government; `progress` one of idea, \
                 in_progress, done, abandoned.",
            ))
            .into()
    }
}

/// [`Value`] by the name of its schema: schema derives read a type named
/// `Value` as "any JSON value", so fields of this type name it so.
pub type FieldValue = Value;

impl ToSchema for Value {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldValue")
    }
}

/// A tag, as [`Edit::AddTag`] takes it.
pub struct Tag;

impl PartialSchema for Tag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A tag: 1 to {MAX_TAG_CHARS} characters, no leading or trailing space, \
                 no control character, no `/`."
            )))
            .min_length(Some(1))
            .max_length(Some(MAX_TAG_CHARS))
            .examples([json!("mécanique")])
            .into()
    }
}

impl ToSchema for Tag {}

/// The alternative of [`Edit`] written `{name: value}`.
fn tagged(name: &str, title: &str, description: &str, value: impl Into<RefOr<Schema>>) -> Schema {
    ObjectBuilder::new()
        .title(Some(title))
        .description(Some(description))
        .property(name, value)
        .required(name)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// The alternative of [`Edit`] written as the bare string `name`.
fn bare(name: &str, title: &str, description: &str) -> Schema {
    ObjectBuilder::new()
        .title(Some(title))
        .description(Some(description))
        .schema_type(Type::String)
        .enum_values(Some([name]))
        .into()
}

fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn boolean() -> Schema {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}

impl PartialSchema for Edit {
    fn schema() -> RefOr<Schema> {
        let set = ArrayBuilder::new()
            .description(Some(
                "`[field, value]`: sets a field. The value is text for text, date, URL, \
                 code and id fields, a boolean for `all_day`, a number for `geo.lat` \
                 and `geo.lon`.",
            ))
            .prefix_items([inline_ref::<Field>(), inline_ref::<Value>()])
            .items(ArrayItems::False)
            .min_items(Some(2))
            .max_items(Some(2));
        let link = ObjectBuilder::new()
            .property("relation", reference::<Relation>())
            .required("relation")
            .property(
                "comment",
                text()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some("Optional short comment (shown with recommendations)."))
                    .max_length(Some(crate::schema::MAX_COMMENT_CHARS)),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let alternatives = [
            tagged("set", "Set", "Sets a field.", set),
            tagged(
                "clear",
                "Clear",
                "Removes an optional field (`name`, `address.postal_code` and \
                 `address.country` are required). Clearing `geo.lat` or `geo.lon` \
                 removes the position.",
                reference::<Field>(),
            ),
            tagged(
                "add_tag",
                "AddTag",
                &format!(
                    "Adds a tag (at most {} per entity).",
                    crate::schema::MAX_TAGS
                ),
                reference::<Tag>(),
            ),
            tagged("remove_tag", "RemoveTag", "Removes a tag.", text()),
            tagged(
                "set_geo",
                "SetGeo",
                "Places the entity on the map.",
                reference::<Geo>(),
            ),
            bare("clear_geo", "ClearGeo", "Removes the entity from the map."),
            tagged(
                "add_admin",
                "AddAdmin",
                "Makes someone an admin (admins only).",
                reference::<AuthorKey>(),
            ),
            tagged(
                "remove_admin",
                "RemoveAdmin",
                "Removes an admin (admins only; never the last one).",
                reference::<AuthorKey>(),
            ),
            tagged(
                "set_open_edition",
                "SetOpenEdition",
                "Opens or closes the descriptive fields to everyone (admins only).",
                boolean(),
            ),
            tagged(
                "confirm_member",
                "ConfirmMember",
                "Confirms a member's request (admins only).",
                reference::<AuthorKey>(),
            ),
            tagged(
                "remove_member",
                "RemoveMember",
                "Removes a member or refuses a request (admins only): their link stays \
                 theirs, shown as removed, until an admin confirms them again.",
                reference::<AuthorKey>(),
            ),
            tagged(
                "set_deleted",
                "SetDeleted",
                "Marks the entity deleted, or restores it with `false` (admins only; \
                 the history is kept).",
                boolean(),
            ),
            tagged(
                "link",
                "Link",
                "Writes the citizen's own link (or recommendation) into the entity.",
                link,
            ),
            tagged(
                "unlink",
                "Unlink",
                "Removes the citizen's own link of that relation.",
                reference::<Relation>(),
            ),
            tagged(
                "report",
                "Report",
                "Reports the entity to its admins, with a reason.",
                text()
                    .min_length(Some(1))
                    .max_length(Some(MAX_REPORT_CHARS)),
            ),
            bare(
                "withdraw_report",
                "WithdrawReport",
                "Withdraws the citizen's report.",
            ),
        ];
        let mut one_of = OneOfBuilder::new().description(Some(
            "One change to an entity, externally tagged: an object with a single member \
             named after the edit, or a bare string for `clear_geo` and \
             `withdraw_report`. Descriptive edits (`set`, `clear`, tags, `set_geo`, \
             `clear_geo`) are open to anyone when the entity has `open_edition`, to its \
             admins otherwise; `add_admin`, `remove_admin`, `set_open_edition`, \
             `confirm_member`, `remove_member` and `set_deleted` are for admins; `link`, `unlink`, \
             `report` and `withdraw_report` write the citizen's own slot. A person \
             profile is edited by its owner only (others may only `follows` it).",
        ));
        for alternative in alternatives {
            one_of = one_of.item(alternative);
        }
        one_of
            .examples([
                json!({"set": ["name", "Garage Payet"]}),
                json!({"set": ["address.street", "12 rue de Paris"]}),
                json!({"clear": "telephone"}),
                json!({"add_tag": "bio"}),
                json!({"set_geo": {"lat": -20.9, "lon": 55.4}}),
                json!("clear_geo"),
                json!({"link": {"relation": "recommends", "comment": "Travail sérieux"}}),
            ])
            .into()
    }
}

impl ToSchema for Edit {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        with::<Field>(schemas);
        with::<Value>(schemas);
        with::<Tag>(schemas);
        with::<Geo>(schemas);
        with::<AuthorKey>(schemas);
        with::<Relation>(schemas);
        with::<EntityId>(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema of `T` as JSON.
    fn json_of<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).expect("a schema serializes")
    }

    #[test]
    fn the_examples_of_hand_written_schemas_parse() {
        for example in json_of::<EntityId>()["examples"].as_array().unwrap() {
            serde_json::from_value::<EntityId>(example.clone()).unwrap();
        }
        for example in json_of::<AuthorKey>()["examples"].as_array().unwrap() {
            serde_json::from_value::<AuthorKey>(example.clone()).unwrap();
        }
        for example in json_of::<Field>()["examples"].as_array().unwrap() {
            serde_json::from_value::<Field>(example.clone()).unwrap();
        }
        let edits = json_of::<Edit>();
        let examples = edits["examples"].as_array().unwrap();
        assert!(examples.len() >= 5);
        for example in examples {
            serde_json::from_value::<Edit>(example.clone())
                .unwrap_or_else(|error| panic!("{example}: {error}"));
        }
    }

    #[test]
    fn every_field_name_is_listed_and_parses() {
        let listed = json_of::<Field>()["enum"].clone();
        let listed: Vec<String> = serde_json::from_value(listed).unwrap();
        assert_eq!(listed.len(), Field::ALL.len());
        for name in listed {
            let field: Field = name.parse().unwrap();
            assert_eq!(field.name(), name);
        }
    }

    /// The name of each variant's alternative: a new variant fails to
    /// compile here until it has its name, and then the test below fails
    /// until the schema has its alternative.
    fn alternative_of(edit: &Edit) -> &'static str {
        match edit {
            Edit::Set(..) => "set",
            Edit::Clear(_) => "clear",
            Edit::AddTag(_) => "add_tag",
            Edit::RemoveTag(_) => "remove_tag",
            Edit::SetGeo { .. } => "set_geo",
            Edit::ClearGeo => "clear_geo",
            Edit::AddAdmin(_) => "add_admin",
            Edit::RemoveAdmin(_) => "remove_admin",
            Edit::SetOpenEdition(_) => "set_open_edition",
            Edit::ConfirmMember(_) => "confirm_member",
            Edit::RemoveMember(_) => "remove_member",
            Edit::SetDeleted(_) => "set_deleted",
            Edit::Link { .. } => "link",
            Edit::Unlink(_) => "unlink",
            Edit::Report(_) => "report",
            Edit::WithdrawReport => "withdraw_report",
        }
    }

    #[test]
    fn every_edit_has_its_alternative_in_the_schema() {
        let key = AuthorKey::from_bytes([3; 32]).unwrap();
        let every = [
            Edit::Set(Field::Name, Value::Text("Garage".into())),
            Edit::Clear(Field::Telephone),
            Edit::AddTag("bio".into()),
            Edit::RemoveTag("bio".into()),
            Edit::SetGeo {
                lat: -20.9,
                lon: 55.4,
            },
            Edit::ClearGeo,
            Edit::AddAdmin(key),
            Edit::RemoveAdmin(key),
            Edit::SetOpenEdition(true),
            Edit::ConfirmMember(key),
            Edit::RemoveMember(key),
            Edit::SetDeleted(true),
            Edit::Link {
                relation: Relation::Recommends,
                comment: Some("Travail sérieux".into()),
            },
            Edit::Unlink(Relation::Member),
            Edit::Report("Fermé".into()),
            Edit::WithdrawReport,
        ];
        let schema = json_of::<Edit>();
        let alternatives = schema["oneOf"].as_array().unwrap();
        assert_eq!(alternatives.len(), every.len());
        for edit in every {
            let name = alternative_of(&edit);
            let json = serde_json::to_value(&edit).unwrap();
            // The serde form is `name` or `{name: …}`, and the schema has
            // exactly that alternative.
            let written = match &json {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Object(map) => {
                    assert_eq!(map.len(), 1, "{json}");
                    map.keys().next().unwrap().clone()
                }
                other => panic!("{other}"),
            };
            assert_eq!(written, name);
            let found = alternatives.iter().any(|alternative| {
                alternative["enum"] == json!([name])
                    || alternative["required"] == json!([name])
                        && alternative["properties"].get(name).is_some()
            });
            assert!(found, "no alternative for {name}");
        }
    }
}
