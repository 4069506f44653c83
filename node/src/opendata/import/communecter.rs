//! Records of Communecter itself (its API and its import files): a name,
//! a `type` in free text, an `address` and `geo` of schema.org names,
//! `telephone` as lists of landline, mobile and fax numbers, `contacts`,
//! and for events and projects `startDate`, `endDate` and `allDay`, dates
//! as ISO text, Unix seconds or MongoDB's `{"sec": …}`. Its files come as
//! a list, a map of records by id, or (its 2015 bulk imports) lists by
//! collection: `{"organizations": […], "citoyens": […]}` with `address.cp`.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value as Json;

use super::{ImportRow, row, scalar_text, tags_of};

/// The collections of a bulk file, and the kind of each.
pub(super) const COLLECTIONS: [(&str, &str); 6] = [
    ("organizations", "organization"),
    ("projects", "project"),
    ("events", "event"),
    ("poi", "place"),
    ("citoyens", "person"),
    ("persons", "person"),
];

/// A JSON object's entries in the file's order (a parsed map sorts its
/// keys, and a row's number should be its place in the file).
pub(super) struct InFileOrder(pub Vec<(String, Json)>);

impl<'de> Deserialize<'de> for InFileOrder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = InFileOrder;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InFileOrder, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Json>()? {
                    entries.push(entry);
                }
                Ok(InFileOrder(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// The entries of the object `text` holds (of the object at its key
/// `entities`, when `inside`), in the file's order; `None` when it is not
/// such an object.
pub(super) fn in_file_order(text: &str, inside: bool) -> Option<Vec<(String, Json)>> {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        entities: InFileOrder,
    }
    let InFileOrder(entries) = if inside {
        serde_json::from_str::<Wrapped>(text).ok()?.entities
    } else {
        serde_json::from_str(text).ok()?
    };
    Some(entries)
}

/// The keys of a record that an import reads; the others are said once.
const READ: [&str; 20] = [
    "name",
    "kind",
    "collection",
    "type",
    "shortDescription",
    "description",
    "url",
    "category",
    "address",
    "geo",
    "tags",
    "telephone",
    "contacts",
    "contactPoint",
    "startDate",
    "endDate",
    "allDay",
    "created",
    // Ids and bookkeeping of Communecter's own, knowingly left.
    "_id",
    "id",
];

/// The keys of `records` that no field reads.
pub(super) fn ignored_keys(records: &[&Json]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|record| record.as_object())
        .flat_map(|object| object.keys())
        .filter(|key| !READ.contains(&key.as_str()))
        .cloned()
        .collect()
}

/// Sets `key` to a scalar value, unless it is a JavaScript placeholder
/// that Communecter's pages wrote for a missing value (`"undefined"`).
fn put(row: &mut ImportRow, key: &str, value: Option<&Json>) {
    let placeholder = |text: &str| {
        matches!(
            text.trim(),
            "undefined" | "null" | "NaN" | "[object Object]"
        )
    };
    if !value.and_then(Json::as_str).is_some_and(placeholder) {
        super::put(row, key, value);
    }
}

/// The row of one record, of the collection its file lists it in (a bulk
/// file), else of its own `kind` or `collection`.
pub(super) fn row_of(n: usize, entity: &Json, listed_in: Option<&str>) -> ImportRow {
    let mut row = row(format!("entity {}", n + 1));
    put(&mut row, "name", entity.get("name"));
    let collection = listed_in.or_else(|| {
        ["kind", "collection"]
            .iter()
            .find_map(|key| entity.get(*key).and_then(Json::as_str))
    });
    if let Some(collection) = collection {
        let collection = collection.trim().to_lowercase();
        let kind = match collection.as_str() {
            "organizations" | "organization" => "organization",
            "projects" | "project" => "project",
            "events" | "event" => "event",
            "poi" | "place" | "places" => "place",
            "citoyens" | "citoyen" | "person" | "persons" => "person",
            other => other,
        };
        row.values.insert("kind".into(), kind.to_owned());
    }
    put(&mut row, "type", entity.get("type"));
    put(
        &mut row,
        "short_description",
        entity.get("shortDescription"),
    );
    put(&mut row, "url", entity.get("url"));
    put(&mut row, "category", entity.get("category"));
    // A bulk file may list several addresses: the first with a postal
    // code is the entity's, the others are said in its description.
    let addresses: Vec<&Json> = match entity.get("address") {
        Some(Json::Array(addresses)) => addresses.iter().filter(|a| a.is_object()).collect(),
        Some(address) => vec![address],
        None => Vec::new(),
    };
    let main = addresses
        .iter()
        .position(|address| postal_code_in(address).is_some())
        .unwrap_or(0);
    let mut other_addresses = Vec::new();
    for (_, address) in addresses.iter().enumerate().filter(|(at, _)| *at != main) {
        let parts: Vec<String> = ["streetAddress", "postalCode", "cp", "addressLocality"]
            .iter()
            .filter_map(|key| address.get(*key).and_then(scalar_text))
            .map(|part| part.trim().to_owned())
            .filter(|part| !part.is_empty())
            .collect();
        if !parts.is_empty() {
            other_addresses.push(parts.join(" "));
        }
    }
    if let Some(address) = addresses.get(main) {
        put(&mut row, "street", address.get("streetAddress"));
        put(&mut row, "postal_code", postal_code_in(address));
        put(&mut row, "locality", address.get("addressLocality"));
        put(&mut row, "insee_code", address.get("codeInsee"));
        put(&mut row, "country", address.get("addressCountry"));
    }
    if let Some(geo) = entity.get("geo") {
        put(&mut row, "lat", geo.get("latitude"));
        put(&mut row, "lon", geo.get("longitude"));
    }
    for (key, field) in [("startDate", "start"), ("endDate", "end")] {
        if let Some(date) = entity.get(key).and_then(date_of) {
            row.values.insert(field.into(), date);
        }
    }
    match entity.get("allDay") {
        Some(Json::Bool(flag)) => {
            row.values.insert("all_day".into(), flag.to_string());
        }
        Some(Json::String(text)) if matches!(text.trim(), "true" | "false") => {
            row.values.insert("all_day".into(), text.trim().to_owned());
        }
        _ => {}
    }
    let numbers = telephones(entity.get("telephone"));
    if let Some(first) = numbers.first() {
        row.values.insert("telephone".into(), first.clone());
    }
    // The description, then the contacts and the other numbers, which
    // the schema has no fields for.
    let mut description = entity
        .get("description")
        .and_then(scalar_text)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut more = Vec::new();
    // When the record was made on Communecter: the entity made here is
    // dated by its import, so the description keeps that date.
    if let Some(created) = entity.get("created").and_then(date_of) {
        more.push(format!(
            "Sur Communecter depuis le {}",
            &created[..10.min(created.len())]
        ));
    }
    if !other_addresses.is_empty() {
        more.push(format!("Autres adresses : {}", other_addresses.join(" ; ")));
    }
    if numbers.len() > 1 {
        more.push(format!("Téléphones : {}", numbers.join(", ")));
    }
    let mut contacts = contacts(entity.get("contacts"));
    contacts.extend(self::contacts(entity.get("contactPoint")));
    if !contacts.is_empty() {
        more.push(format!("Contacts : {}", contacts.join(" ; ")));
    }
    if !more.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&more.join("\n"));
    }
    if !description.is_empty() {
        row.values.insert("description".into(), description);
    }
    row.tags = tags_of(entity.get("tags"));
    row
}

/// The postal code of an address (`postalCode`, or `cp` in a bulk file),
/// when it is not empty.
fn postal_code_in(address: &Json) -> Option<&Json> {
    address
        .get("postalCode")
        .or_else(|| address.get("cp"))
        .filter(|code| scalar_text(code).is_some_and(|code| !code.trim().is_empty()))
}

/// The numbers of a record's `telephone`: `{"fixe": […], "mobile": […]}`
/// (fax left out), a list, or one text; each once, in that order.
fn telephones(value: Option<&Json>) -> Vec<String> {
    let mut numbers: Vec<String> = Vec::new();
    let mut add = |value: &Json| {
        let texts: Vec<String> = match value {
            Json::Array(items) => items.iter().filter_map(scalar_text).collect(),
            other => scalar_text(other).into_iter().collect(),
        };
        for text in texts {
            let text = text.trim().to_owned();
            if !text.is_empty() && !numbers.contains(&text) {
                numbers.push(text);
            }
        }
    };
    match value {
        Some(Json::Object(kinds)) => {
            for kind in ["fixe", "mobile"] {
                if let Some(value) = kinds.get(kind) {
                    add(value);
                }
            }
        }
        Some(other) => add(other),
        None => {}
    }
    numbers
}

/// A record's `contacts` (`name`, `role`, `telephone`) or `contactPoint`
/// (`firstName`, `name`, `type` for the role, `fixe`, `mobile`), each as
/// `Name (role, numbers)`. Their e-mail addresses are left out: the
/// directory never publishes one.
fn contacts(value: Option<&Json>) -> Vec<String> {
    let Some(Json::Array(contacts)) = value else {
        return Vec::new();
    };
    contacts
        .iter()
        .filter_map(|contact| {
            let text = |key: &str| {
                contact
                    .get(key)
                    .and_then(scalar_text)
                    .map(|text| text.trim().to_owned())
                    .filter(|text| !text.is_empty())
            };
            // A role of digits alone is a code, not a role.
            let role = text("role")
                .or_else(|| text("type"))
                .filter(|role| !role.chars().all(|c| c.is_ascii_digit()));
            let mut about: Vec<String> = role.into_iter().collect();
            for key in ["telephone", "fixe", "mobile"] {
                for number in telephones(contact.get(key)) {
                    if !about.contains(&number) {
                        about.push(number);
                    }
                }
            }
            let name = match (text("firstName"), text("name")) {
                (Some(first), Some(last)) => Some(format!("{first} {last}")),
                (first, last) => first.or(last),
            };
            match (name, about.is_empty()) {
                (Some(name), true) => Some(name),
                (Some(name), false) => Some(format!("{name} ({})", about.join(", "))),
                (None, false) => Some(about.join(", ")),
                (None, true) => None,
            }
        })
        .collect()
}

/// A date as the schema writes it (`2026-12-20`, `2026-12-20T19:00:00Z`)
/// from what Communecter's records hold: ISO text (with a space, a
/// fraction of a second or an offset without a colon), Unix seconds, or
/// MongoDB's `{"sec": …}` and `{"$date": …}`. `None` for anything else,
/// which the import then leaves out.
pub(super) fn date_of(value: &Json) -> Option<String> {
    match value {
        Json::Number(number) => {
            let seconds = number.as_f64()?;
            // Milliseconds past the year 5138 as seconds.
            let seconds = if seconds.abs() > 1e11 {
                seconds / 1000.0
            } else {
                seconds
            };
            Some(crate::opendata::iso8601((seconds * 1000.0) as i64))
        }
        Json::String(text) => Some(super::entity::date_text(text)),
        Json::Object(object) => object
            .get("sec")
            .or_else(|| object.get("$date"))
            .or_else(|| object.get("$numberLong"))
            .and_then(|inner| match inner {
                Json::String(text) if text.chars().all(|c| c.is_ascii_digit()) => text
                    .parse::<f64>()
                    .ok()
                    .and_then(|ms| date_of(&serde_json::json!(ms))),
                other => date_of(other),
            }),
        _ => None,
    }
}
