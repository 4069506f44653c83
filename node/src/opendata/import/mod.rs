//! Reading import files: the project's JSON, JSON-LD, GeoJSON and CSV
//! exports, spreadsheets, and Communecter's own records (`communecter`). A file is read whole before
//! anything is imported, so a truncated or malformed file imports nothing;
//! each row is then checked on its own and a bad row is reported with its
//! reason, never half-imported.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crdt_model::document::{Edit, Entity, NewEntity};
use crdt_model::schema::Field;
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
    /// A `--map COLUMN=FIELD` that cannot apply to this file.
    #[error("{0}")]
    Mapping(String),
    /// A CSV file without the columns needed.
    #[error(
        "the CSV file has no {missing} column (a column named name or nom, any case, or one named with --map COLUMN=name); its columns are: {found}"
    )]
    Columns {
        /// The column missing.
        missing: &'static str,
        /// The header read.
        found: String,
    },
}

/// A spreadsheet column read as a field, whatever its name
/// (`communecter import --map COLUMN=FIELD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    /// The column's name in the header, as written (any case).
    pub column: String,
    /// The field it fills: `name`, `kind`, `type`, `tags` or a field key
    /// of the schema (`street`, `postal_code`, `lat`…).
    pub field: String,
}

impl std::str::FromStr for ColumnMapping {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((column, field)) = text.split_once('=') else {
            return Err(format!("{text:?} is not COLUMN=FIELD"));
        };
        let (column, field) = (column.trim(), field.trim());
        if column.is_empty() {
            return Err(format!("{text:?} names no column"));
        }
        if !is_target(field) {
            return Err(format!(
                "{field:?} is not a field; fields: {}",
                targets().join(", ")
            ));
        }
        Ok(ColumnMapping {
            column: column.to_owned(),
            field: field.to_owned(),
        })
    }
}

/// Whether a row's values may hold `key`.
fn is_target(key: &str) -> bool {
    matches!(key, "kind" | "name" | "type" | "tags") || Field::ALL.iter().any(|f| f.key() == key)
}

/// Every key [`is_target`] accepts.
fn targets() -> Vec<&'static str> {
    let mut keys = vec!["kind", "type", "tags"];
    keys.extend(Field::ALL.iter().map(|field| field.key()));
    keys
}

/// Reads an import file; the format is recognised from its content.
pub fn read(bytes: &[u8]) -> Result<ImportFile, ImportError> {
    read_mapped(bytes, &[])
}

/// [`read`], with spreadsheet columns read as the fields `mappings` name
/// (for a CSV file only: another format is an error when some are given).
pub fn read_mapped(bytes: &[u8], mappings: &[ColumnMapping]) -> Result<ImportFile, ImportError> {
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
            if !mappings.is_empty() {
                return Err(ImportError::Mapping(
                    "--map names spreadsheet columns, and this file is JSON".into(),
                ));
            }
            let json: Json =
                serde_json::from_str(text).map_err(|error| ImportError::Json(error.to_string()))?;
            read_json(json, text)
        }
        Some(_) if decoded => read_csv(text, mappings).map(|mut file| {
            file.warnings
                .insert(0, "not UTF-8: read as Windows-1252".into());
            file
        }),
        Some(_) => read_csv(text, mappings),
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

fn read_json(json: Json, text: &str) -> Result<ImportFile, ImportError> {
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
        let nodes: Vec<&Json> = nodes
            .into_iter()
            .filter(|node| node.get("@type").and_then(Json::as_str) != Some("Dataset"))
            .collect();
        let rows = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| json_ld_row(n, node))
            .collect();
        let mut file = file("jsonld", rows);
        let ignored: BTreeSet<&str> = nodes
            .iter()
            .filter_map(|node| node.as_object())
            .flat_map(|node| node.keys())
            .map(String::as_str)
            .filter(|key| !JSON_LD_READ.contains(key))
            .collect();
        if !ignored.is_empty() {
            file.warnings.push(format!(
                "properties ignored: {}",
                ignored.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        return Ok(file);
    }
    // Each entity, with the collection a bulk file lists it in; a map by
    // id is read in the file's order.
    let by_id = |inside| {
        communecter::in_file_order(text, inside)
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|(_, entity)| (entity, None))
                    .collect()
            })
            .ok_or_else(|| ImportError::Shape("an object that is not a map of entities".into()))
    };
    let mut top_keys_ignored = Vec::new();
    let owned: Vec<(Json, Option<&str>)> = match &json {
        Json::Array(items) => items.iter().map(|item| (item.clone(), None)).collect(),
        Json::Object(object) => match object.get("entities") {
            Some(Json::Array(items)) => items.iter().map(|item| (item.clone(), None)).collect(),
            Some(Json::Object(_)) => by_id(true)?,
            Some(_) => return Err(ImportError::Shape("\"entities\" is not a list".into())),
            // Communecter's 2015 bulk imports: lists by collection.
            None if communecter::COLLECTIONS
                .iter()
                .any(|(name, _)| object.get(*name).is_some_and(Json::is_array)) =>
            {
                let mut listed = Vec::new();
                for (key, value) in communecter::in_file_order(text, false).unwrap_or_default() {
                    let kind = communecter::COLLECTIONS
                        .iter()
                        .find(|(name, _)| *name == key);
                    match (kind, value) {
                        (Some((_, kind)), Json::Array(items)) => {
                            listed.extend(items.into_iter().map(|item| (item, Some(*kind))));
                        }
                        _ => top_keys_ignored.push(key),
                    }
                }
                listed
            }
            // Communecter's API also answers a map of entities by id.
            None if !object.is_empty() && object.values().all(|v| v.get("name").is_some()) => {
                by_id(false)?
            }
            None => return Err(ImportError::Shape("no \"entities\"".into())),
        },
        _ => return Err(ImportError::Shape("neither a list nor an object".into())),
    };
    let entities: Vec<&Json> = owned.iter().map(|(entity, _)| entity).collect();
    // Ours by its shape (snake_case address keys, the export's metadata),
    // not by a `kind`: Communecter's own records may carry one.
    let ours = json.pointer("/meta/format").and_then(Json::as_str) == Some("communecter-export/1")
        || entities.iter().any(|entity| {
            entity.pointer("/address/postal_code").is_some() || entity.get("postal_code").is_some()
        });
    let rows = entities
        .iter()
        .enumerate()
        .map(|(n, entity)| {
            if ours {
                json_row(n, entity)
            } else {
                communecter::row_of(n, entity, owned[n].1)
            }
        })
        .collect();
    if ours {
        return Ok(file("json", rows));
    }
    let mut file = file("communecter-api", rows);
    if !top_keys_ignored.is_empty() {
        file.warnings
            .push(format!("lists ignored: {}", top_keys_ignored.join(", ")));
    }
    let ignored = communecter::ignored_keys(&entities);
    if !ignored.is_empty() {
        file.warnings.push(format!(
            "keys ignored: {}",
            ignored.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(file)
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

/// The properties of a JSON-LD node an import reads (and `@id`, which a
/// new entity does not keep); the others are said once. Links (`member`,
/// `attendee`, `organizer`, `review`) are their authors' own claims, which
/// nobody may import in their name.
const JSON_LD_READ: [&str; 17] = [
    "@id",
    "@type",
    "name",
    "description",
    "disambiguatingDescription",
    "url",
    "telephone",
    "openingHours",
    "startDate",
    "endDate",
    "foundingDate",
    "dissolutionDate",
    "location",
    "address",
    "geo",
    "keywords",
    "@context",
];

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
    // Our exports write the short text as `disambiguatingDescription`
    // and the longer one as `description` (the same when there is only
    // the short one).
    let short = node.get("disambiguatingDescription");
    put(&mut row, "short_description", short);
    if node.get("description") != short {
        put(&mut row, "description", node.get("description"));
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
        let insee = address.get("identifier").filter(|id| {
            id.get("propertyID").and_then(Json::as_str) == Some(super::export::INSEE_PROPERTY)
        });
        put(&mut row, "insee_code", insee.and_then(|id| id.get("value")));
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
                let set = term.get("inDefinedTermSet").and_then(Json::as_str);
                let field = match set {
                    Some(super::export::CATEGORY_SET) => Some("category"),
                    Some(set) => set
                        .strip_prefix(super::export::FIELD_SET_PREFIX)
                        .filter(|key| Field::ALL.iter().any(|field| field.key() == *key)),
                    None => None,
                };
                if let Some(field) = field {
                    put(&mut row, field, term.get("name"));
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

fn read_csv(text: &str, mappings: &[ColumnMapping]) -> Result<ImportFile, ImportError> {
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
    let written: Vec<String> = reader
        .headers()
        .map_err(|error| ImportError::Csv(error.to_string()))?
        .iter()
        .map(|header| header.trim().to_owned())
        .collect();
    let same = |a: &str, b: &str| fold(a) == fold(b);
    for mapping in mappings {
        if !written.iter().any(|header| same(header, &mapping.column)) {
            return Err(ImportError::Mapping(format!(
                "--map {}={}: the file has no column {:?}; its columns are: {}",
                mapping.column,
                mapping.field,
                mapping.column,
                written.join(", ")
            )));
        }
    }
    let headers: Vec<String> = written
        .iter()
        .map(|header| {
            mappings
                .iter()
                .find(|mapping| same(header, &mapping.column))
                .map_or_else(|| column_field(header), |mapping| mapping.field.clone())
        })
        .collect();
    if !headers.iter().any(|header| header == "name") {
        return Err(ImportError::Columns {
            missing: "name",
            found: written.join(", "),
        });
    }
    let known = |header: &str| is_target(header) || CSV_IGNORED.contains(&header);
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

mod communecter;
mod entity;
#[cfg(test)]
mod tests;

pub use entity::{is_person, new_entity};

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
    /// Passes every check and would be a new entity: the answer of a dry
    /// run, which stores nothing.
    Checked {
        /// The row's values that would be left out, each with why.
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
