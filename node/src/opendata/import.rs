//! Reading import files: the project's JSON, JSON-LD, GeoJSON and CSV
//! exports, and Communecter's public API JSON (`name`, `type`, `address`,
//! `geo`, `tags`, `shortDescription`). A file is read whole before
//! anything is imported, so a truncated or malformed file imports nothing;
//! each row is then checked on its own and a bad row is reported with its
//! reason, never half-imported.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use crdt_model::communes;
use crdt_model::document::{Edit, Entity, NewEntity};
use crdt_model::schema::{Container, Field, Kind, Value, check_postal_code};
use crdt_model::text::fold;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The largest file imported.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// One row of an import file, as read, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportRow {
    /// Where it is in the file (`line 12`, `entity 7`), for reports.
    pub at: String,
    /// Its values by column: `kind`, `name`, `type`, the field keys of the
    /// schema (`short_description`, `street`, `postal_code`, `lat`…).
    pub values: BTreeMap<String, String>,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// What was read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportFile {
    /// Which format it was: `json`, `jsonld`, `geojson`, `csv` or
    /// `communecter-api`.
    pub format: &'static str,
    /// Its rows.
    pub rows: Vec<ImportRow>,
    /// Things ignored in it (unknown columns…).
    pub warnings: Vec<String>,
}

/// Why a file cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Over [`MAX_IMPORT_BYTES`].
    #[error(
        "the file is too large ({0} bytes; at most 64 MiB): split it into several files and import each"
    )]
    TooLarge(usize),
    /// Not text.
    #[error(
        "the file is not text (invalid UTF-8 at byte {0}): expected JSON, GeoJSON or CSV exported as UTF-8"
    )]
    NotText(usize),
    /// Empty.
    #[error("the file is empty")]
    Empty,
    /// Malformed JSON.
    #[error("the file is not valid JSON (truncated?): {0}")]
    Json(String),
    /// JSON, but of no known shape.
    #[error(
        "JSON of an unknown shape: expected {{\"meta\", \"entities\"}}, a GeoJSON FeatureCollection, schema.org JSON-LD or Communecter's API JSON ({0})"
    )]
    Shape(String),
    /// A CSV file that cannot be read.
    #[error("the CSV file cannot be read: {0}")]
    Csv(String),
    /// A CSV file without the columns needed.
    #[error(
        "the CSV file has no {missing} column (a column named name or nom, any case); its columns are: {found}"
    )]
    Columns {
        /// The column missing.
        missing: &'static str,
        /// The header read.
        found: String,
    },
}

/// Reads an import file; the format is recognised from its content.
pub fn read(bytes: &[u8]) -> Result<ImportFile, ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge(bytes.len()));
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(ImportError::NotText(at));
    }
    // A spreadsheet saved on Windows writes Windows-1252, not UTF-8: read
    // as such when it is not UTF-8 (its letters are all defined there),
    // and said.
    let (text, decoded) = match std::str::from_utf8(bytes) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), false),
        Err(error) => match windows_1252(bytes) {
            Some(text) => (std::borrow::Cow::Owned(text), true),
            None => return Err(ImportError::NotText(error.valid_up_to())),
        },
    };
    let text = text.trim_start_matches('\u{feff}');
    match text.trim_start().chars().next() {
        None => Err(ImportError::Empty),
        Some('{' | '[') => {
            let json: Json =
                serde_json::from_str(text).map_err(|error| ImportError::Json(error.to_string()))?;
            read_json(json)
        }
        Some(_) if decoded => read_csv(text).map(|mut file| {
            file.warnings
                .insert(0, "not UTF-8: read as Windows-1252".into());
            file
        }),
        Some(_) => read_csv(text),
    }
}

/// Windows-1252 text as a string; `None` for bytes it leaves undefined or
/// control characters other than line ends and tabs (not text, then).
fn windows_1252(bytes: &[u8]) -> Option<String> {
    // 0x80–0x9F; the rest is Latin-1.
    const HIGH: [char; 32] = [
        '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0',
        '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
    ];
    bytes
        .iter()
        .map(|&byte| match byte {
            b'\t' | b'\n' | b'\r' => Some(char::from(byte)),
            0x00..=0x1f | 0x7f => None,
            0x80..=0x9f => Some(HIGH[usize::from(byte - 0x80)]).filter(|c| *c != '\0'),
            _ => Some(char::from(byte)),
        })
        .collect()
}

/// Column names of French and English spreadsheets, folded (accents off,
/// lower case, spaces and hyphens as `_`), and the field each means.
const COLUMN_NAMES: &[(&str, &str)] = &[
    ("nom", "name"),
    ("denomination", "name"),
    ("raison_sociale", "name"),
    ("adresse", "street"),
    ("address", "street"),
    ("rue", "street"),
    ("voie", "street"),
    ("code_postal", "postal_code"),
    ("codepostal", "postal_code"),
    ("cp", "postal_code"),
    ("postcode", "postal_code"),
    ("zip", "postal_code"),
    ("ville", "locality"),
    ("commune", "locality"),
    ("city", "locality"),
    ("localite", "locality"),
    ("latitude", "lat"),
    ("longitude", "lon"),
    ("lng", "lon"),
    ("long", "lon"),
    ("site", "url"),
    ("site_web", "url"),
    ("site_internet", "url"),
    ("website", "url"),
    ("web", "url"),
    ("telephone", "telephone"),
    ("tel", "telephone"),
    ("phone", "telephone"),
    ("categorie", "category"),
    ("mots_cles", "tags"),
    ("keywords", "tags"),
    ("etiquettes", "tags"),
    ("code_insee", "insee_code"),
    ("insee", "insee_code"),
    ("resume", "short_description"),
    ("description_courte", "short_description"),
];

/// The field a spreadsheet's column names: ours as they are, or a known
/// French or English name.
fn column_field(header: &str) -> String {
    let folded: String = fold(header.trim())
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    COLUMN_NAMES
        .iter()
        .find(|(name, _)| *name == folded)
        .map_or(folded, |(_, field)| (*field).to_owned())
}

fn read_json(json: Json) -> Result<ImportFile, ImportError> {
    if json.get("type").and_then(Json::as_str) == Some("FeatureCollection") {
        let features = json
            .get("features")
            .and_then(Json::as_array)
            .ok_or_else(|| ImportError::Shape("a FeatureCollection without features".into()))?;
        let rows = features
            .iter()
            .enumerate()
            .map(|(n, feature)| geojson_row(n, feature))
            .collect();
        return Ok(file("geojson", rows));
    }
    if json.get("@graph").is_some() || json.get("@context").is_some() {
        let nodes: Vec<&Json> = match json.get("@graph") {
            Some(Json::Array(nodes)) => nodes.iter().collect(),
            _ => vec![&json],
        };
        let rows = nodes
            .into_iter()
            .enumerate()
            .filter(|(_, node)| node.get("@type").and_then(Json::as_str) != Some("Dataset"))
            .map(|(n, node)| json_ld_row(n, node))
            .collect();
        return Ok(file("jsonld", rows));
    }
    let entities: Vec<&Json> = match &json {
        Json::Array(items) => items.iter().collect(),
        Json::Object(object) => match object.get("entities") {
            Some(Json::Array(items)) => items.iter().collect(),
            Some(Json::Object(by_id)) => by_id.values().collect(),
            Some(_) => return Err(ImportError::Shape("\"entities\" is not a list".into())),
            // Communecter's API also answers a map of entities by id.
            None if !object.is_empty() && object.values().all(|v| v.get("name").is_some()) => {
                object.values().collect()
            }
            None => return Err(ImportError::Shape("no \"entities\"".into())),
        },
        _ => return Err(ImportError::Shape("neither a list nor an object".into())),
    };
    // Ours by its shape (snake_case address keys, the export's metadata),
    // not by a `kind`: Communecter's own records may carry one.
    let ours = json.pointer("/meta/format").and_then(Json::as_str) == Some("communecter-export/1")
        || entities.iter().any(|entity| {
            entity.pointer("/address/postal_code").is_some() || entity.get("postal_code").is_some()
        });
    let rows = entities
        .into_iter()
        .enumerate()
        .map(|(n, entity)| {
            if ours {
                json_row(n, entity)
            } else {
                communecter_row(n, entity)
            }
        })
        .collect();
    Ok(file(if ours { "json" } else { "communecter-api" }, rows))
}

/// The rows of a JSON file: each named by its position and its name (a
/// rejection then says which), and the keys no field reads said once.
fn file(format: &'static str, mut rows: Vec<ImportRow>) -> ImportFile {
    let mut ignored = BTreeSet::new();
    for row in &mut rows {
        if let Some(name) = row.values.get("name") {
            row.at = format!("{} ({})", row.at, name.trim());
        }
        ignored.extend(row.values.keys().filter(|key| !is_read(key)).cloned());
    }
    let warnings = if ignored.is_empty() {
        Vec::new()
    } else {
        let keys: Vec<String> = ignored.into_iter().collect();
        vec![format!("keys ignored: {}", keys.join(", "))]
    };
    ImportFile {
        format,
        rows,
        warnings,
    }
}

/// Whether an import reads the value of `key`, or knowingly leaves it (an
/// export's own ids and dates).
fn is_read(key: &str) -> bool {
    matches!(
        key,
        "kind" | "name" | "type" | "tags" | "lat" | "lon" | "cells" | "geometry"
    ) || CSV_IGNORED.contains(&key)
        || Field::ALL.iter().any(|field| field.key() == key)
}

/// A JSON scalar as the text a user would type; objects and arrays are
/// not scalars.
fn scalar_text(value: &Json) -> Option<String> {
    match value {
        Json::String(text) => Some(text.clone()),
        Json::Number(number) => Some(number.to_string()),
        Json::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn tags_of(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::Array(tags)) => tags.iter().filter_map(scalar_text).collect(),
        Some(Json::String(text)) => split_tags(text),
        _ => Vec::new(),
    }
}

/// The tags of a cell: `a;b;c` (also `,`-separated), or a JSON array.
fn split_tags(cell: &str) -> Vec<String> {
    let cell = cell.trim();
    if cell.starts_with('[')
        && let Ok(tags) = serde_json::from_str::<Vec<String>>(cell)
    {
        return tags;
    }
    let separator = if cell.contains(';') { ';' } else { ',' };
    cell.split(separator)
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

fn row(at: String) -> ImportRow {
    ImportRow {
        at,
        ..ImportRow::default()
    }
}

fn put(row: &mut ImportRow, key: &str, value: Option<&Json>) {
    if let Some(text) = value.and_then(scalar_text)
        && !text.trim().is_empty()
    {
        row.values.insert(key.to_owned(), text);
    }
}

/// An entity of the project's JSON export.
fn json_row(n: usize, entity: &Json) -> ImportRow {
    let mut row = row(format!("entity {}", n + 1));
    let Some(object) = entity.as_object() else {
        return row;
    };
    for (key, value) in object {
        match key.as_str() {
            "address" | "geo" => {
                if let Some(inner) = value.as_object() {
                    for (key, value) in inner {
                        put(&mut row, key, Some(value));
                    }
                }
            }
            "tags" => row.tags = tags_of(Some(value)),
            _ => put(&mut row, key, Some(value)),
        }
    }
    row
}

/// An entity of Communecter's public API.
fn communecter_row(n: usize, entity: &Json) -> ImportRow {
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
    put(&mut row, "description", entity.get("description"));
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
    row.tags = tags_of(entity.get("tags"));
    row
}

/// A feature of a GeoJSON FeatureCollection: its properties, and its
/// point as the position.
fn geojson_row(n: usize, feature: &Json) -> ImportRow {
    let mut row = row(format!("feature {}", n + 1));
    if let Some(properties) = feature.get("properties").and_then(Json::as_object) {
        for (key, value) in properties {
            match key.as_str() {
                "tags" => row.tags = tags_of(Some(value)),
                _ => put(&mut row, key, Some(value)),
            }
        }
    }
    match feature.get("geometry") {
        Some(geometry) if geometry.get("type").and_then(Json::as_str) == Some("Point") => {
            if let Some(Json::Array(point)) = geometry.get("coordinates")
                && point.len() >= 2
            {
                put(&mut row, "lon", Some(&point[0]));
                put(&mut row, "lat", Some(&point[1]));
            }
        }
        Some(Json::Null) | None => {}
        Some(other) => {
            let kind = other.get("type").and_then(Json::as_str).unwrap_or("?");
            row.values.insert(
                "geometry".into(),
                format!("a {kind} (only points are imported)"),
            );
        }
    }
    row
}

/// The kind and type of a schema.org `@type`.
fn from_schema_org(kind: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match kind {
        "NGO" => ("organization", Some("ngo")),
        "LocalBusiness" => ("organization", Some("local_business")),
        "GovernmentOrganization" => ("organization", Some("government")),
        "Organization" => ("organization", None),
        "Project" => ("project", None),
        "Event" => ("event", None),
        "Place" => ("place", None),
        "Person" => ("person", None),
        _ => return None,
    })
}

/// A node of a schema.org JSON-LD export.
fn json_ld_row(n: usize, node: &Json) -> ImportRow {
    let mut row = row(format!("node {}", n + 1));
    let kind = node.get("@type").and_then(Json::as_str).unwrap_or_default();
    match from_schema_org(kind) {
        Some((kind, kind_type)) => {
            row.values.insert("kind".into(), kind.into());
            if let Some(kind_type) = kind_type {
                row.values.insert("type".into(), kind_type.into());
            }
        }
        None => {
            row.values
                .insert("kind".into(), format!("schema.org {kind:?}"));
        }
    }
    put(&mut row, "name", node.get("name"));
    match node.get("disambiguatingDescription") {
        Some(short) => {
            put(&mut row, "short_description", Some(short));
            put(&mut row, "description", node.get("description"));
        }
        None => put(&mut row, "short_description", node.get("description")),
    }
    put(&mut row, "url", node.get("url"));
    put(&mut row, "telephone", node.get("telephone"));
    put(&mut row, "opening_hours", node.get("openingHours"));
    put(
        &mut row,
        "start",
        node.get("startDate").or(node.get("foundingDate")),
    );
    put(
        &mut row,
        "end",
        node.get("endDate").or(node.get("dissolutionDate")),
    );
    let location = node.get("location");
    let address = node
        .get("address")
        .or_else(|| location.and_then(|place| place.get("address")));
    if let Some(address) = address {
        put(&mut row, "street", address.get("streetAddress"));
        put(&mut row, "postal_code", address.get("postalCode"));
        put(&mut row, "locality", address.get("addressLocality"));
        put(&mut row, "country", address.get("addressCountry"));
    }
    let geo = node
        .get("geo")
        .or_else(|| location.and_then(|place| place.get("geo")));
    if let Some(geo) = geo {
        put(&mut row, "lat", geo.get("latitude"));
        put(&mut row, "lon", geo.get("longitude"));
    }
    let mut keywords = Vec::new();
    for keyword in node
        .get("keywords")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        match keyword {
            Json::Object(term) => {
                if term.get("inDefinedTermSet").and_then(Json::as_str)
                    == Some(super::export::CATEGORY_SET)
                {
                    put(&mut row, "category", term.get("name"));
                }
            }
            other => keywords.extend(scalar_text(other)),
        }
    }
    if let Some(Json::String(text)) = node.get("keywords") {
        keywords = split_tags(text);
    }
    row.tags = keywords;
    row
}

/// Columns the CSV export writes that an import does not read.
const CSV_IGNORED: [&str; 4] = ["id", "created_at", "updated_at", "licence"];

fn read_csv(text: &str) -> Result<ImportFile, ImportError> {
    let first_line = text.lines().next().unwrap_or_default();
    // French spreadsheets write `;`.
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|error| ImportError::Csv(error.to_string()))?
        .iter()
        .map(column_field)
        .collect();
    if !headers.iter().any(|header| header == "name") {
        return Err(ImportError::Columns {
            missing: "name",
            found: headers.join(", "),
        });
    }
    let known = |header: &str| {
        matches!(header, "kind" | "name" | "type" | "tags")
            || CSV_IGNORED.contains(&header)
            || Field::ALL.iter().any(|field| field.key() == header)
    };
    let mut warnings = Vec::new();
    let unknown: Vec<&str> = headers
        .iter()
        .map(String::as_str)
        .filter(|header| !known(header))
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!("columns ignored: {}", unknown.join(", ")));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| ImportError::Csv(error.to_string()))?;
        // The line where the record starts, counted here: the reader's own
        // count is one short in files with CRLF line ends.
        let line = record.position().map_or(0, |position| {
            let bytes = text.as_bytes();
            let mut start =
                usize::try_from(position.byte()).map_or(bytes.len(), |at| at.min(bytes.len()));
            // The reader may start a record on the line end before it.
            while bytes
                .get(start)
                .is_some_and(|byte| matches!(byte, b'\r' | b'\n'))
            {
                start += 1;
            }
            bytes[..start].iter().filter(|&&byte| byte == b'\n').count() + 1
        });
        let mut row = row(format!("line {line}"));
        if record.len() != headers.len() {
            row.values.insert(
                "cells".into(),
                format!(
                    "{} cells where the header has {}",
                    record.len(),
                    headers.len()
                ),
            );
        }
        for (header, cell) in headers.iter().zip(record.iter()) {
            // A cell our export escaped against spreadsheet formulas.
            let cell = super::export::csv_text(cell);
            if cell.trim().is_empty() || CSV_IGNORED.contains(&header.as_str()) {
                continue;
            }
            if header == "tags" {
                row.tags = split_tags(cell);
            } else if known(header) {
                row.values.insert(header.clone(), cell.to_owned());
            }
        }
        rows.push(row);
    }
    Ok(ImportFile {
        format: "csv",
        rows,
        warnings,
    })
}

/// Whether a row describes a person, which is never imported: people
/// join by themselves.
pub fn is_person(row: &ImportRow) -> bool {
    row.values
        .get("kind")
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("person"))
}

/// The new entity a row describes, and what was left out of it. A row is
/// rejected only without a name or a valid postal code (or as a person);
/// any other value that is not valid is left out with a warning and the
/// rest kept: a free-text organization type becomes the category, a URL
/// without a scheme gets `https://`, tags are trimmed (a `/` becomes a
/// space), line ends are `\n`.
pub fn new_entity(row: &ImportRow) -> Result<(NewEntity, Vec<String>), String> {
    if let Some(problem) = row.values.get("cells").or(row.values.get("geometry")) {
        return Err(problem.clone());
    }
    let value = |key: &str| {
        row.values
            .get(key)
            .map(|text| clean(text))
            .filter(|t| !t.is_empty())
    };
    let kind: Kind = match value("kind") {
        None => Kind::Organization,
        Some(text) => text
            .to_lowercase()
            .parse()
            .map_err(|_| format!("unknown kind {text:?}"))?,
    };
    if kind == Kind::Person {
        return Err("people join by themselves: person rows are not imported".into());
    }
    let name = value("name").ok_or("missing name")?;
    let mut country = value("country")
        .unwrap_or_else(|| "FR".into())
        .to_uppercase();
    // Communecter writes the overseas departments' and collectivities' own
    // codes; their postal codes are French.
    if OVERSEAS.contains(&country.as_str()) {
        country = "FR".into();
    }
    let mut postal_code = value("postal_code").ok_or("missing postal code")?;
    // A spreadsheet drops the leading zero of 01400.
    if country == "FR"
        && postal_code.len() == 4
        && communes::table().is_known_postal_code(&format!("0{postal_code}"))
    {
        postal_code.insert(0, '0');
    }
    check_postal_code(&postal_code, &country).map_err(|error| error.to_string())?;
    let mut warnings = Vec::new();
    let mut edits = Vec::new();
    if country == "FR"
        && value("insee_code").is_none_or(|insee| communes::table().by_insee(&insee).is_none())
    {
        postal_code = commune_of(
            &postal_code,
            value("locality").as_deref(),
            &mut edits,
            &mut warnings,
        );
    }
    match (value("lat"), value("lon")) {
        (None, None) => {}
        (Some(lat), Some(lon)) => match (degrees(&lat), degrees(&lon)) {
            (Ok(lat), Ok(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                edits.push(Edit::SetGeo { lat, lon });
            }
            (Ok(lat), Ok(lon)) => warnings.push(format!(
                "position {lat}, {lon} left out: latitude is within ±90, longitude within ±180"
            )),
            _ => warnings.push(format!("position {lat:?}, {lon:?} left out: not numbers")),
        },
        _ => warnings.push("position left out: latitude and longitude go together".into()),
    }
    let mut category = value("category");
    if let Some(kind_type) = value("type") {
        match kind {
            Kind::Organization => match crdt_model::schema::organization_type(&kind_type) {
                Some(known) => edits.push(Edit::Set(
                    Field::OrganizationType,
                    Value::Text(known.into()),
                )),
                // Communecter's free-text types ("incubateur", "Formation").
                None if category.is_none() => category = Some(kind_type),
                None => warnings.push(format!(
                    "type {kind_type:?} left out: not an organization type, and the category is given"
                )),
            },
            Kind::Event => set(&mut edits, &mut warnings, Field::EventType, &kind_type),
            Kind::Place => set(&mut edits, &mut warnings, Field::PlaceType, &kind_type),
            Kind::Project | Kind::Person => {
                warnings.push(format!("type {kind_type:?} left out: a {kind} has no type"));
            }
        }
    }
    if let Some(category) = &category {
        set(&mut edits, &mut warnings, Field::Category, category);
    }
    for (key, text) in &row.values {
        let Some(field) = Field::ALL
            .into_iter()
            .find(|field| field.key() == key && field.container() != Container::Geo)
        else {
            continue;
        };
        let text = clean(text);
        if matches!(
            field,
            Field::Name
                | Field::PostalCode
                | Field::Country
                | Field::Organizer
                | Field::Place
                | Field::Category
        ) || text.is_empty()
        {
            continue;
        }
        if !field.applies_to(kind) {
            warnings.push(format!("{key} left out: a {kind} has none"));
            continue;
        }
        // The commune's official name, when the locality named it.
        let named = |edit: &Edit| matches!(edit, Edit::Set(Field::Locality, _));
        if field == Field::Locality && edits.iter().any(named) {
            continue;
        }
        let text = match field {
            Field::Url => with_scheme(&text),
            _ => text,
        };
        set(&mut edits, &mut warnings, field, &text);
    }
    for tag in &row.tags {
        let tag = tidy_tag(tag);
        if tag.is_empty() {
            continue;
        }
        match crdt_model::schema::check_tag(&tag) {
            Ok(()) => edits.push(Edit::AddTag(tag)),
            Err(error) => warnings.push(format!("tag left out: {error}")),
        }
    }
    let new = NewEntity {
        kind,
        name,
        postal_code: Some(postal_code),
        country: Some(country),
        open_edition: None,
        edits,
    };
    Ok((new, warnings))
}

/// The country codes of France's overseas departments and collectivities,
/// read as France (their postal codes are French: 97400 is La Réunion).
const OVERSEAS: [&str; 11] = [
    "RE", "MQ", "GP", "GF", "YT", "PM", "BL", "MF", "NC", "PF", "WF",
];

/// The commune of a French postal code and locality, as edits (its INSEE
/// code and official name); returns the postal code to use. A locality
/// names the commune among those sharing the code; one that is not among
/// them is said, and no commune guessed (Douai under 59000 is not Lille). A
/// code no commune has (a CEDEX code: 59044) is the locality's commune in
/// the code's department, said.
fn commune_of(
    postal_code: &str,
    locality: Option<&str>,
    edits: &mut Vec<Edit>,
    warnings: &mut Vec<String>,
) -> String {
    let candidates = communes::table().by_postal_code(postal_code);
    let Some(locality) = locality.map(commune_name).filter(|name| !name.is_empty()) else {
        return postal_code.to_owned();
    };
    let mut chosen = candidates
        .iter()
        .find(|commune| fold(commune.name) == locality)
        .copied();
    let mut code = postal_code.to_owned();
    if candidates.is_empty() {
        let department = if postal_code.starts_with("97") {
            &postal_code[..3]
        } else {
            &postal_code[..2]
        };
        chosen = by_name(&locality)
            .iter()
            // Corsica's postal codes start with 20, its departments are 2A and 2B.
            .find(|commune| {
                commune.department == department
                    || (department == "20" && matches!(commune.department, "2A" | "2B"))
            })
            .copied();
        match chosen.and_then(|commune| Some((commune, commune.postal_codes.first()?))) {
            Some((commune, first)) => {
                warnings.push(format!(
                    "postal code {postal_code} is no commune's (a CEDEX code?): {} {first} used",
                    commune.name
                ));
                code = (*first).to_owned();
            }
            None => return code,
        }
    }
    match chosen {
        Some(commune) => {
            edits.push(Edit::Set(
                Field::InseeCode,
                Value::Text(commune.insee.into()),
            ));
            edits.push(Edit::Set(Field::Locality, Value::Text(commune.name.into())));
        }
        None => {
            warnings.push(format!(
                "locality {locality:?} is not a commune of postal code {postal_code}: no INSEE code set"
            ));
            edits.push(Edit::Clear(Field::InseeCode));
        }
    }
    code
}

/// A locality as a commune's folded name: "LILLE CEDEX 9" is "lille".
fn commune_name(locality: &str) -> String {
    let folded = fold(locality);
    let mut words: Vec<&str> = folded.split_whitespace().collect();
    while words
        .last()
        .is_some_and(|word| *word == "cedex" || word.bytes().all(|b| b.is_ascii_digit()))
    {
        words.pop();
    }
    words.join(" ")
}

/// The communes of a folded name.
fn by_name(folded: &str) -> &'static [&'static communes::Commune] {
    type ByName = HashMap<String, Vec<&'static communes::Commune>>;
    static BY_NAME: LazyLock<ByName> = LazyLock::new(|| {
        let mut by_name = ByName::new();
        for commune in communes::table().iter() {
            by_name.entry(fold(commune.name)).or_default().push(commune);
        }
        by_name
    });
    BY_NAME.get(folded).map_or(&[], Vec::as_slice)
}

/// Degrees as a number, written with a decimal point or, as French
/// spreadsheets do, a decimal comma.
fn degrees(text: &str) -> Result<f64, std::num::ParseFloatError> {
    match text.parse() {
        Err(_) if !text.contains('.') => text.replacen(',', ".", 1).parse(),
        parsed => parsed,
    }
}

/// Sets `field` to `text`, or says why it is left out.
fn set(edits: &mut Vec<Edit>, warnings: &mut Vec<String>, field: Field, text: &str) {
    match field.parse_value(text) {
        Ok(value) => edits.push(Edit::Set(field, value)),
        Err(error) => warnings.push(format!("{} {text:?} left out: {error}", field.key())),
    }
}

/// A cell's text: trimmed, with `\n` line ends (Windows files and
/// Communecter's descriptions write `\r\n`).
fn clean(text: &str) -> String {
    text.trim().replace("\r\n", "\n").replace('\r', "\n")
}

/// A web address as written by hand (`www.example.org`), with `https://`
/// when it has no scheme.
fn with_scheme(text: &str) -> String {
    if text.contains("://") || text.starts_with("mailto:") || !text.contains('.') {
        text.to_owned()
    } else {
        format!("https://{text}")
    }
}

/// A tag as the schema takes it: no space around, `/` and control
/// characters become spaces, runs of spaces one.
fn tidy_tag(tag: &str) -> String {
    tag.chars()
        .map(|c| if c == '/' || c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Names and places already in the directory: a row with the same name
/// and the same address (or position) is a duplicate.
#[derive(Debug, Default)]
pub struct Duplicates {
    keys: HashSet<String>,
}

fn keys_of(
    name: &str,
    postal_code: &str,
    street: Option<&str>,
    geo: Option<(f64, f64)>,
) -> Vec<String> {
    // Accents, case and punctuation aside: "Crèche Les Camélias" and
    // "CRECHE LES CAMELIAS" are the same place.
    let name = fold(name);
    let mut keys = Vec::new();
    if let Some((lat, lon)) = geo {
        // About ten metres.
        keys.push(format!("{name}|@{:.4},{:.4}", lat, lon));
    }
    match street {
        Some(street) => keys.push(format!("{name}|{postal_code}|{}", fold(street))),
        None if geo.is_none() => keys.push(format!("{name}|{postal_code}|")),
        None => {}
    }
    keys
}

impl Duplicates {
    /// Remembers an entity already there.
    pub fn insert_entity(&mut self, entity: &Entity) {
        if entity.deleted {
            return;
        }
        let keys = keys_of(
            entity.name(),
            &entity.address.postal_code,
            entity.address.street.as_deref(),
            entity.geo.map(|geo| (geo.lat, geo.lon)),
        );
        self.keys.extend(keys);
    }

    fn keys_of_new(new: &NewEntity) -> Vec<String> {
        let street = new.edits.iter().find_map(|edit| match edit {
            Edit::Set(Field::Street, crdt_model::schema::Value::Text(street)) => {
                Some(street.as_str())
            }
            _ => None,
        });
        let geo = new.edits.iter().find_map(|edit| match edit {
            Edit::SetGeo { lat, lon } => Some((*lat, *lon)),
            _ => None,
        });
        keys_of(
            &new.name,
            new.postal_code.as_deref().unwrap_or_default(),
            street,
            geo,
        )
    }

    /// Whether `new` names something already there.
    pub fn contains(&self, new: &NewEntity) -> bool {
        Self::keys_of_new(new)
            .iter()
            .any(|key| self.keys.contains(key))
    }

    /// Remembers a new entity.
    pub fn insert(&mut self, new: &NewEntity) {
        self.keys.extend(Self::keys_of_new(new));
    }
}

/// What became of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RowOutcome {
    /// A new entity.
    Imported {
        /// Its id.
        id: String,
        /// The row's values left out, each with why (the rest was kept).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
    },
    /// Already there (same name and address or position).
    Duplicate,
    /// Not for import: a person (people join by themselves).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Not imported, and why.
    Rejected {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_whatever_the_accents_case_and_punctuation() {
        let new = |name: &str, street: &str| NewEntity {
            postal_code: Some("97400".into()),
            ..NewEntity::new(
                Kind::Organization,
                name,
                vec![Edit::Set(
                    Field::Street,
                    crdt_model::schema::Value::Text(street.into()),
                )],
            )
        };
        let mut known = Duplicates::default();
        known.insert(&new("Crèche Les Camélias", "12, rue de l'Église"));
        assert!(known.contains(&new("CRECHE LES CAMELIAS", "12 rue de l Eglise")));
        assert!(known.contains(&new("  crèche   les camélias ", "12, Rue de l'Église")));
        assert!(!known.contains(&new("Crèche Les Lilas", "12, rue de l'Église")));
        assert!(!known.contains(&new("Crèche Les Camélias", "14, rue de l'Église")));
    }

    fn one(bytes: &str) -> ImportRow {
        let file = read(bytes.as_bytes()).unwrap();
        assert_eq!(file.rows.len(), 1, "{file:?}");
        file.rows[0].clone()
    }

    #[test]
    fn csv_rows_are_checked_one_by_one() {
        let file = read(
            b"name,postal_code,lat,lon,tags,colour\n\
              Garage Payet,97400,-20.88,55.45,m\xc3\xa9canique;pneus,red\n\
              ,97400,,,,\n\
              Boulangerie,9740,,,,\n\
              Cr\xc3\xa8che,97400,120,55,,\n\
              Tiers-lieu,97400,-20.9,,,\n",
        )
        .unwrap();
        assert_eq!(file.format, "csv");
        assert_eq!(file.warnings, ["columns ignored: colour"]);
        let outcomes: Vec<Result<(NewEntity, Vec<String>), String>> =
            file.rows.iter().map(new_entity).collect();
        let (garage, _) = outcomes[0].as_ref().unwrap();
        assert_eq!(garage.name, "Garage Payet");
        assert!(garage.edits.contains(&Edit::AddTag("mécanique".into())));
        assert!(garage.edits.contains(&Edit::SetGeo {
            lat: -20.88,
            lon: 55.45
        }));
        assert_eq!(outcomes[1].as_ref().unwrap_err(), "missing name");
        assert!(outcomes[2].as_ref().unwrap_err().contains("9740"));
        // A bad position is left out; the row is kept.
        for bad in [&outcomes[3], &outcomes[4]] {
            let (new, warnings) = bad.as_ref().unwrap();
            assert!(!new.edits.iter().any(|e| matches!(e, Edit::SetGeo { .. })));
            assert!(warnings[0].starts_with("position"), "{warnings:?}");
        }
        assert_eq!(file.rows[2].at, "line 4");
    }

    #[test]
    fn semicolon_csv_and_short_rows() {
        let file = read("titre;x\n".as_bytes());
        assert!(matches!(
            file,
            Err(ImportError::Columns {
                missing: "name",
                ..
            })
        ));
        let file = read("name;postal_code;kind\nMarché;97400;event\nSeul\n".as_bytes()).unwrap();
        let (market, _) = new_entity(&file.rows[0]).unwrap();
        assert_eq!(market.kind, Kind::Event);
        assert_eq!(
            new_entity(&file.rows[1]).unwrap_err(),
            "1 cells where the header has 3"
        );
    }

    #[test]
    fn communecter_api_json_maps_its_fields() {
        let row = one(
            r#"{"entities": {"5a1": {"name": "Les Amis du Kiosque", "type": "NGO",
                "shortDescription": "Concerts au kiosque",
                "address": {"streetAddress": "1 rue du Port", "postalCode": "97400", "addressLocality": "Saint-Denis", "addressCountry": "FR"},
                "geo": {"latitude": "-20.88", "longitude": "55.45"},
                "tags": ["musique", "kiosque"]}}}"#,
        );
        let (new, warnings) = new_entity(&row).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        assert_eq!(new.kind, Kind::Organization);
        assert!(new.edits.contains(&Edit::Set(
            Field::OrganizationType,
            crdt_model::schema::Value::Text("ngo".into())
        )));
        assert!(new.edits.contains(&Edit::Set(
            Field::ShortDescription,
            crdt_model::schema::Value::Text("Concerts au kiosque".into())
        )));
        assert!(new.edits.contains(&Edit::SetGeo {
            lat: -20.88,
            lon: 55.45
        }));
        assert_eq!(
            new.edits
                .iter()
                .filter(|e| matches!(e, Edit::AddTag(_)))
                .count(),
            2
        );
    }

    /// Values as Communecter's own data holds them: each bad one is left
    /// out with a warning, or tidied, and the row is kept.
    #[test]
    fn real_communecter_values_keep_their_row() {
        let row = one(
            r#"{"entities": {"5b2": {"name": "La Ruche", "type": "incubateur",
                "description": "Un tiers-lieu.\r\nOuvert le samedi.",
                "url": "www.laruche.example",
                "address": {"postalCode": "59000", "addressLocality": "Lille", "codeInsee": "undefined", "addressCountry": "FR"},
                "tags": ["", " culture", "Troc/don", "économie sociale"]}}}"#,
        );
        let (new, warnings) = new_entity(&row).unwrap();
        let text = |field: Field| {
            new.edits.iter().find_map(|edit| match edit {
                Edit::Set(set, Value::Text(text)) if *set == field => Some(text.as_str()),
                _ => None,
            })
        };
        // A free-text type is the category; no organization type.
        assert_eq!(text(Field::Category), Some("incubateur"));
        assert_eq!(text(Field::OrganizationType), None);
        assert_eq!(
            text(Field::Description),
            Some("Un tiers-lieu.\nOuvert le samedi.")
        );
        assert_eq!(text(Field::Url), Some("https://www.laruche.example"));
        // Not "undefined": the commune the locality names.
        assert_eq!(text(Field::InseeCode), Some("59350"));
        let tags: Vec<&str> = new
            .edits
            .iter()
            .filter_map(|edit| match edit {
                Edit::AddTag(tag) => Some(tag.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(tags, ["culture", "Troc don", "économie sociale"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("insee_code \"undefined\" left out"),
            "{warnings:?}"
        );
    }

    /// Where Communecter's data puts an entity: overseas country codes,
    /// CEDEX codes, postal codes shared by several communes, a locality
    /// that is not the postal code's, a leading zero lost.
    #[test]
    fn the_commune_comes_from_the_postal_code_and_the_locality() {
        let place = |country: &str, code: &str, locality: &str| {
            let json = format!(
                r#"{{"entities": {{"1": {{"name": "Lieu", "address": {{"postalCode": "{code}", "addressLocality": "{locality}", "addressCountry": "{country}"}}}}}}}}"#
            );
            let (new, warnings) = new_entity(&one(&json)).unwrap();
            let insee = new.edits.iter().rev().find_map(|edit| match edit {
                Edit::Set(Field::InseeCode, Value::Text(insee)) => Some(Some(insee.clone())),
                Edit::Clear(Field::InseeCode) => Some(None),
                _ => None,
            });
            (new, insee.flatten(), warnings)
        };
        let (new, insee, warnings) = place("RE", "97400", "Saint-Denis");
        assert_eq!(
            (new.country.as_deref(), new.postal_code.as_deref()),
            (Some("FR"), Some("97400"))
        );
        assert_eq!(insee.as_deref(), Some("97411"));
        assert!(warnings.is_empty(), "{warnings:?}");

        let (new, insee, warnings) = place("FR", "59044", "LILLE CEDEX");
        assert_eq!(new.postal_code.as_deref(), Some("59000"));
        assert_eq!(insee.as_deref(), Some("59350"));
        assert!(warnings[0].contains("CEDEX"), "{warnings:?}");

        let (_, insee, _) = place("FR", "62000", "Dainville");
        assert_eq!(insee.as_deref(), Some("62263"));

        let (_, insee, warnings) = place("FR", "59000", "Douai");
        assert_eq!(insee, None, "Douai is not Lille");
        assert!(
            warnings[0].contains("not a commune of postal code 59000"),
            "{warnings:?}"
        );

        let (new, insee, _) = place("FR", "1400", "Châtillon-sur-Chalaronne");
        assert_eq!(new.postal_code.as_deref(), Some("01400"));
        assert_eq!(insee.as_deref(), Some("01093"));
    }

    /// A French spreadsheet as saved on Windows: French column names, `;`,
    /// Windows-1252, decimal commas, a postal code that lost its zero, CRLF.
    #[test]
    fn a_french_windows_spreadsheet_is_read() {
        let mut bytes =
            b"nom;adresse;code_postal;ville;latitude;longitude;Mots-cl\xe9s\r\n".to_vec();
        bytes.extend(b"Caf\xe9 des Arts;1 place du March\xe9;1400;Ch\xe2tillon-sur-Chalaronne;46,1181;4,9567;caf\xe9\r\n");
        bytes.extend(b";2 rue Neuve;62000;Arras;;;\r\n");
        let file = read(&bytes).unwrap();
        assert_eq!(file.warnings, ["not UTF-8: read as Windows-1252"]);
        assert_eq!(file.rows[0].values["name"], "Café des Arts");
        assert_eq!(file.rows[0].tags, ["café"]);
        let (cafe, warnings) = new_entity(&file.rows[0]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cafe.postal_code.as_deref(), Some("01400"));
        assert!(cafe.edits.contains(&Edit::SetGeo {
            lat: 46.1181,
            lon: 4.9567
        }));
        assert!(cafe.edits.contains(&Edit::Set(
            Field::Street,
            Value::Text("1 place du Marché".into())
        )));
        // The row's line, CRLF or not.
        assert_eq!(file.rows[1].at, "line 3");
        assert_eq!(new_entity(&file.rows[1]).unwrap_err(), "missing name");
        // Columns it cannot place say which names it takes.
        let error = read(b"titre;ville\nX;Lille\n").unwrap_err().to_string();
        assert!(error.contains("name or nom"), "{error}");
    }

    /// A JSON file says which keys it does not read, names each row by its
    /// name, and a Communecter record that says its collection keeps its
    /// address and position.
    #[test]
    fn json_rows_are_named_and_unread_keys_said() {
        let file = read(
            br#"[{"kind": "organization", "name": "Garage", "couleur": "bleu", "address": {"postal_code": "97400"}},
                {"kind": "organization", "address": {"postal_code": "97400"}}]"#,
        )
        .unwrap();
        assert_eq!(file.warnings, ["keys ignored: couleur"]);
        assert_eq!(file.rows[0].at, "entity 1 (Garage)");
        assert_eq!(file.rows[1].at, "entity 2");

        let row = one(
            r#"{"entities": {"7": {"name": "Jardin partagé", "kind": "projects",
                "address": {"postalCode": "97400", "addressLocality": "Saint-Denis", "addressCountry": "FR"},
                "geo": {"latitude": "-20.9", "longitude": "55.45"}}}}"#,
        );
        let (new, _) = new_entity(&row).unwrap();
        assert_eq!(new.kind, Kind::Project);
        assert_eq!(new.postal_code.as_deref(), Some("97400"));
        assert!(new.edits.contains(&Edit::SetGeo {
            lat: -20.9,
            lon: 55.45
        }));
    }

    #[test]
    fn malformed_files_are_refused_whole() {
        assert!(matches!(read(b""), Err(ImportError::Empty)));
        assert!(matches!(
            read(br#"{"entities": [{"name": "Garage", "#),
            Err(ImportError::Json(_))
        ));
        assert!(matches!(
            read(&[0xff, 0xfe, 0x00, 0x12]),
            Err(ImportError::NotText(_))
        ));
        assert!(matches!(read(b"name\0,x\n"), Err(ImportError::NotText(_))));
        assert!(matches!(read(br#"{"a": 1}"#), Err(ImportError::Shape(_))));
        let big = vec![b' '; MAX_IMPORT_BYTES + 1];
        assert!(matches!(read(&big), Err(ImportError::TooLarge(_))));
    }

    #[test]
    fn duplicates_are_the_same_name_at_the_same_place() {
        let row = |name: &str, street: &str| ImportRow {
            at: String::new(),
            values: [
                ("name".to_owned(), name.to_owned()),
                ("postal_code".to_owned(), "97400".to_owned()),
                ("street".to_owned(), street.to_owned()),
            ]
            .into(),
            tags: Vec::new(),
        };
        let new = |name: &str, street: &str| new_entity(&row(name, street)).unwrap().0;
        let mut seen = Duplicates::default();
        let payet = new("Garage Payet", "1 rue du Port");
        assert!(!seen.contains(&payet));
        seen.insert(&payet);
        assert!(seen.contains(&new("garage  payet", "1 Rue du port")));
        assert!(!seen.contains(&new("Garage Payet", "2 rue du Port")));
        assert!(!seen.contains(&new("Garage Hoarau", "1 rue du Port")));
    }
}
