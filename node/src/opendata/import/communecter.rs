//! Records of Communecter itself (its API and its import files): a name,
//! a `type` in free text, an `address` and `geo` of schema.org names,
//! `telephone` as lists of landline, mobile and fax numbers, `contacts`,
//! and for events and projects `startDate`, `endDate` and `allDay`, dates
//! as ISO text, Unix seconds or MongoDB's `{"sec": …}`.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::{ImportRow, put, row, scalar_text, tags_of};

/// The keys of a record that an import reads; the others are said once.
const READ: [&str; 19] = [
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

/// The row of one record.
pub(super) fn row_of(n: usize, entity: &Json) -> ImportRow {
    let mut row = row(format!("entity {}", n + 1));
    put(&mut row, "name", entity.get("name"));
    // Its collection, when the file says it.
    let collection = ["kind", "collection"]
        .iter()
        .find_map(|key| entity.get(*key).and_then(Json::as_str));
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
    if let Some(address) = entity.get("address") {
        put(&mut row, "street", address.get("streetAddress"));
        put(&mut row, "postal_code", address.get("postalCode"));
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
