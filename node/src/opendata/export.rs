//! Exports of the directory: the project's JSON (`{meta, entities}`),
//! schema.org JSON-LD, GeoJSON and CSV. Deleted entities are left out; a
//! person shows only what is public of a profile (name, short text,
//! postal code and commune); e-mails live in no document, so none can
//! appear.

use std::io::Write;

use crdt_model::document::{Entity, Link, Relation};
use crdt_model::schema::{Field, Kind, Value};
use serde_json::{Map, Value as Json, json};

use super::{ATTRIBUTION, Licence, iso8601};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The project's JSON: `{meta, entities}`.
    Json,
    /// schema.org JSON-LD.
    JsonLd,
    /// A GeoJSON FeatureCollection of the entities placed on the map.
    GeoJson,
    /// One row per entity, with the columns of [`CSV_COLUMNS`].
    Csv,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Format::Json, Format::JsonLd, Format::GeoJson, Format::Csv];

    /// Its name on the command line and in URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::JsonLd => "jsonld",
            Format::GeoJson => "geojson",
            Format::Csv => "csv",
        }
    }

    /// Its media type.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::JsonLd => "application/ld+json",
            Format::GeoJson => "application/geo+json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl utoipa::PartialSchema for Format {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An export format."))
            .enum_values(Some(Format::ALL.map(Format::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for Format {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ExportFormat")
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase().replace('-', "");
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == wanted)
            .ok_or_else(|| format!("unknown format {text:?}: use json, jsonld, geojson or csv"))
    }
}

/// What an export holds and how it is published.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// The licence it carries.
    pub licence: Licence,
    /// The postal key it was restricted to, if any (said in its metadata).
    pub postal_key: Option<String>,
    /// The kind it was restricted to, if any (said in its metadata).
    pub kind: Option<Kind>,
    /// When it was made (ms since the epoch).
    pub now_ms: i64,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// CSV writing failed.
    #[error("writing the CSV export: {0}")]
    Csv(#[from] csv::Error),
    /// Reading the entities failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The CSV columns, in order. `tags` holds the tags separated by `;` (a
/// JSON array when a tag itself contains `;`); `type` is the organization,
/// event or place type; dates are ISO 8601.
pub const CSV_COLUMNS: [&str; 23] = [
    "id",
    "kind",
    "name",
    "type",
    "category",
    "tags",
    "short_description",
    "description",
    "url",
    "telephone",
    "opening_hours",
    "start",
    "end",
    "street",
    "postal_code",
    "insee_code",
    "locality",
    "country",
    "lat",
    "lon",
    "created_at",
    "updated_at",
    "licence",
];

/// Writes `entities` (deleted ones are skipped) in `format`; returns how
/// many were written.
pub fn export(
    entities: &[Entity],
    format: Format,
    options: &ExportOptions,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    let mut writer = ExportWriter::begin(format, options, out)?;
    for entity in entities {
        writer.entity(entity)?;
    }
    writer.finish()
}

/// An export written as its entities come, one at a time: what it holds
/// in memory is one entity, never the directory. The bytes are those of
/// the whole document serialized at once (pretty JSON, keys in order).
pub struct ExportWriter<'a> {
    format: Format,
    options: ExportOptions,
    out: Out<'a>,
    /// Entities written (deleted ones are not).
    count: usize,
    /// Elements written into the document's array (JSON-LD's dataset is
    /// one).
    elements: usize,
}

enum Out<'a> {
    Json(&'a mut dyn Write),
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
}

/// The member of each JSON document holding one element per entity.
const ELEMENTS: [(Format, &str); 3] = [
    (Format::Json, "entities"),
    (Format::JsonLd, "@graph"),
    (Format::GeoJson, "features"),
];

/// How the elements of a pretty-printed top-level array are indented.
const ELEMENT_INDENT: &str = "\n    ";

impl<'a> ExportWriter<'a> {
    /// Writes what comes before the first entity.
    pub fn begin(
        format: Format,
        options: &ExportOptions,
        out: &'a mut dyn Write,
    ) -> Result<Self, ExportError> {
        let mut writer = Self {
            format,
            options: options.clone(),
            out: match format {
                Format::Csv => Out::Csv(Box::new(csv::Writer::from_writer(out))),
                _ => Out::Json(out),
            },
            count: 0,
            elements: 0,
        };
        let (head, _) = writer.frame()?;
        match &mut writer.out {
            Out::Csv(csv) => csv.write_record(CSV_COLUMNS)?,
            Out::Json(out) => out.write_all(head.as_bytes())?,
        }
        if format == Format::JsonLd {
            writer.element(&dataset(options))?;
        }
        Ok(writer)
    }

    /// Writes one entity (nothing when it is deleted, for a relay's entry,
    /// which is the network's and not the directory's, for a room, whose
    /// decisions are read with their tally, or when the format
    /// leaves it out: GeoJSON holds placed entities only, and no people).
    pub fn entity(&mut self, entity: &Entity) -> Result<(), ExportError> {
        if entity.deleted || matches!(entity.kind, Kind::Relay | Kind::Room) {
            return Ok(());
        }
        let entity = &without_emails(entity);
        if let Out::Csv(csv) = &mut self.out {
            // Every text a citizen or a peer wrote is escaped; the
            // coordinates are numbers this node formats (a negative one
            // stays a number).
            let row = csv_row(entity, self.options.licence)
                .into_iter()
                .zip(CSV_COLUMNS)
                .map(|(cell, column)| match column {
                    "lat" | "lon" => cell,
                    _ => csv_cell(&cell),
                });
            csv.write_record(row)?;
            self.count += 1;
            return Ok(());
        }
        let element = match self.format {
            Format::JsonLd => Some(schema_org(entity)),
            Format::GeoJson if entity.kind == Kind::Person => None,
            Format::GeoJson => feature(entity),
            _ => Some(entity_json(entity)),
        };
        if let Some(element) = element {
            self.element(&element)?;
            self.count += 1;
        }
        Ok(())
    }

    /// Writes what comes after the last entity; returns how many were
    /// written.
    pub fn finish(mut self) -> Result<usize, ExportError> {
        let (_, tail) = self.frame()?;
        match &mut self.out {
            Out::Csv(csv) => csv.flush()?,
            Out::Json(out) => {
                if self.elements > 0 {
                    out.write_all(b"\n  ")?;
                }
                out.write_all(tail.as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
        }
        Ok(self.count)
    }

    /// Writes one element of the document's array, indented as it would
    /// be in the whole document.
    fn element(&mut self, element: &Json) -> Result<(), ExportError> {
        let Out::Json(out) = &mut self.out else {
            return Ok(());
        };
        let text = serde_json::to_string_pretty(element).map_err(std::io::Error::from)?;
        out.write_all(if self.elements == 0 {
            b"\n    "
        } else {
            b",\n    "
        })?;
        out.write_all(text.replace('\n', ELEMENT_INDENT).as_bytes())?;
        self.elements += 1;
        Ok(())
    }

    /// The document around its array: what comes up to its `[`, and from
    /// its `]` on, as the whole document printed with an empty array (the
    /// metadata as of the entities written so far).
    fn frame(&self) -> Result<(String, String), ExportError> {
        let options = &self.options;
        let document = match self.format {
            Format::Json => json!({"meta": meta(options, self.count), "entities": []}),
            Format::JsonLd => json!({"@context": "https://schema.org", "@graph": []}),
            Format::GeoJson => json!({
                "type": "FeatureCollection",
                "licence": licence_json(options.licence),
                "attribution": ATTRIBUTION,
                "generated_at": iso8601(options.now_ms),
                "features": [],
            }),
            Format::Csv => return Ok((String::new(), String::new())),
        };
        let member = ELEMENTS
            .iter()
            .find(|(format, _)| *format == self.format)
            .map_or("", |(_, member)| member);
        let text = serde_json::to_string_pretty(&document).map_err(std::io::Error::from)?;
        let empty = format!("\n  \"{member}\": []");
        let at = text.find(&empty).ok_or_else(|| {
            std::io::Error::other(format!("the export has no top-level \"{member}\""))
        })?;
        let split = at + empty.len() - 1;
        Ok((text[..split].to_owned(), text[split..].to_owned()))
    }
}

/// The entity with every e-mail address in its texts (names, descriptions,
/// comments, street, tags) replaced by `[e-mail]`: an export never carries
/// one, even written into a description or brought by an import.
fn without_emails(entity: &Entity) -> std::borrow::Cow<'_, Entity> {
    let texts = entity
        .fields
        .values()
        .filter_map(|value| match value {
            Value::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .chain(
            entity
                .links
                .iter()
                .filter_map(|link| link.comment.as_deref()),
        )
        .chain(entity.address.street.as_deref())
        .chain(entity.tags.iter().map(String::as_str));
    if !texts.into_iter().any(|text| !email_spans(text).is_empty()) {
        return std::borrow::Cow::Borrowed(entity);
    }
    let mut clean = entity.clone();
    for value in clean.fields.values_mut() {
        if let Value::Text(text) = value {
            *text = redact_emails(text);
        }
    }
    for link in &mut clean.links {
        if let Some(comment) = &mut link.comment {
            *comment = redact_emails(comment);
        }
    }
    if let Some(street) = &mut clean.address.street {
        *street = redact_emails(street);
    }
    clean.tags = clean.tags.iter().map(|tag| redact_emails(tag)).collect();
    std::borrow::Cow::Owned(clean)
}

/// `text` with its e-mail addresses replaced by `[e-mail]`.
pub fn redact_emails(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in email_spans(text) {
        out.push_str(&text[at..start]);
        out.push_str("[e-mail]");
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The byte ranges of what looks like an e-mail address in `text`: a local
/// part of letters, digits and `._%+-`, an `@`, and a domain of labels
/// with at least one dot and a final label of two letters or more.
pub fn email_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (position, _) in text.match_indices('@') {
        let mut start = position;
        while start > 0 && local(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = position + 1;
        while end < bytes.len() && domain(bytes[end]) {
            end += 1;
        }
        // A sentence's full stop is not the domain's.
        while end > position + 1 && bytes[end - 1] == b'.' {
            end -= 1;
        }
        let host = &text[position + 1..end];
        let tld = host.rsplit('.').next().unwrap_or_default();
        let is_address = start < position
            && host.contains('.')
            && tld.len() >= 2
            && tld.bytes().all(|b| b.is_ascii_alphabetic());
        if is_address && spans.last().is_none_or(|(_, last)| *last <= start) {
            spans.push((start, end));
        }
    }
    spans
}

fn licence_json(licence: Licence) -> Json {
    json!({"id": licence.id(), "name": licence.name(), "url": licence.url()})
}

fn meta(options: &ExportOptions, count: usize) -> Json {
    json!({
        "format": "communecter-export/1",
        "generator": concat!("communecter ", env!("CARGO_PKG_VERSION")),
        "licence": licence_json(options.licence),
        "attribution": ATTRIBUTION,
        "generated_at": iso8601(options.now_ms),
        "postal_code": options.postal_key,
        "kind": options.kind.map(Kind::as_str),
        "count": count,
    })
}

/// Whether the street line and position of `entity` are public: not for
/// a person (where someone lives is theirs).
fn located(entity: &Entity) -> bool {
    entity.kind != Kind::Person
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Text(text) => Json::String(text.clone()),
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Number(number) => json!(number),
    }
}

/// The link as exported: who (their person entity and author key), what,
/// when, and the comment.
fn link_json(link: &Link) -> Json {
    let mut object = Map::new();
    object.insert("relation".into(), json!(link.relation.as_str()));
    object.insert("author".into(), json!(link.author.to_string()));
    object.insert("person".into(), json!(link.person.to_string()));
    if let Some(comment) = &link.comment {
        object.insert("comment".into(), json!(comment));
    }
    if link.relation == Relation::Member {
        object.insert("confirmed".into(), json!(link.confirmed));
    }
    object.insert("at".into(), json!(iso8601(link.at)));
    Json::Object(object)
}

/// An entity in the project's JSON.
pub fn entity_json(entity: &Entity) -> Json {
    let mut object = Map::new();
    object.insert("id".into(), json!(entity.id.to_string()));
    object.insert("kind".into(), json!(entity.kind.as_str()));
    for (key, value) in &entity.fields {
        object.insert(key.clone(), value_json(value));
    }
    let mut address = Map::new();
    if located(entity)
        && let Some(street) = &entity.address.street
    {
        address.insert("street".into(), json!(street));
    }
    address.insert("postal_code".into(), json!(entity.address.postal_code));
    if let Some(insee) = &entity.address.insee_code {
        address.insert("insee_code".into(), json!(insee));
    }
    if let Some(locality) = &entity.address.locality {
        address.insert("locality".into(), json!(locality));
    }
    address.insert("country".into(), json!(entity.address.country));
    object.insert("address".into(), Json::Object(address));
    if located(entity)
        && let Some(geo) = &entity.geo
    {
        object.insert("geo".into(), json!({"lat": geo.lat, "lon": geo.lon}));
    }
    object.insert("tags".into(), json!(entity.tags));
    object.insert(
        "links".into(),
        Json::Array(entity.links.iter().map(link_json).collect()),
    );
    object.insert("created_at".into(), json!(iso8601(entity.created_at)));
    object.insert("updated_at".into(), json!(iso8601(entity.updated_at)));
    Json::Object(object)
}

/// The `type` column: the organization, event or place type.
fn kind_type(entity: &Entity) -> Option<&str> {
    entity
        .text(Field::OrganizationType)
        .or_else(|| entity.text(Field::EventType))
        .or_else(|| entity.text(Field::PlaceType))
}

/// The schema.org type of an entity.
pub fn schema_org_type(entity: &Entity) -> &'static str {
    match entity.kind {
        Kind::Person => "Person",
        Kind::Project => "Project",
        Kind::Event => "Event",
        Kind::Place => "Place",
        // Not exported; a relay is a service of its community.
        Kind::Relay => "Service",
        // Not exported either; schema.org has no room of decisions.
        Kind::Room => "Thing",
        Kind::Organization => match entity.text(Field::OrganizationType) {
            Some("ngo") => "NGO",
            Some("local_business") => "LocalBusiness",
            Some("government") => "GovernmentOrganization",
            _ => "Organization",
        },
    }
}

/// The `propertyID` of a postal address's INSEE code in JSON-LD.
pub const INSEE_PROPERTY: &str = "INSEE";

/// The term set of categories in JSON-LD keywords.
pub const CATEGORY_SET: &str = "urn:communecter:categories";

/// The prefix of the term sets of fields schema.org has no property for
/// (`urn:communecter:event_type`…): a JSON-LD keyword in such a set is
/// the field's value, so that an export imported again loses nothing.
pub const FIELD_SET_PREFIX: &str = "urn:communecter:";

/// The fields written as keywords of their own term set, when schema.org
/// has no place for them.
fn field_terms(entity: &Entity, kind: &str) -> Vec<Json> {
    let mut terms = Vec::new();
    for field in [
        Field::OrganizationType,
        Field::EventType,
        Field::PlaceType,
        Field::Progress,
        Field::Licence,
        Field::AllDay,
        Field::OpeningHours,
    ] {
        let expressed = match field {
            // The schema.org type says it, except for a group.
            Field::OrganizationType => kind != "Organization",
            Field::OpeningHours => kind == "LocalBusiness",
            _ => false,
        };
        let value = match entity.fields.get(field.key()) {
            Some(Value::Text(text)) => text.clone(),
            Some(Value::Bool(flag)) => flag.to_string(),
            _ => continue,
        };
        if !expressed {
            terms.push(json!({
                "@type": "DefinedTerm",
                "name": value,
                "inDefinedTermSet": format!("{FIELD_SET_PREFIX}{}", field.key()),
            }));
        }
    }
    terms
}

/// The JSON-LD `@id` of an entity.
pub fn node_id(id: impl std::fmt::Display) -> String {
    format!("urn:communecter:entity:{id}")
}

fn dataset(options: &ExportOptions) -> Json {
    let mut about = String::from("Directory of a commune on Communecter");
    if let Some(key) = &options.postal_key {
        about.push_str(&format!(", postal code {key}"));
    }
    json!({
        "@type": "Dataset",
        "name": about,
        "license": options.licence.url(),
        "creditText": ATTRIBUTION,
        "dateModified": iso8601(options.now_ms),
        "isAccessibleForFree": true,
    })
}

fn postal_address(entity: &Entity) -> Json {
    let mut address = Map::new();
    address.insert("@type".into(), json!("PostalAddress"));
    if located(entity)
        && let Some(street) = &entity.address.street
    {
        address.insert("streetAddress".into(), json!(street));
    }
    address.insert("postalCode".into(), json!(entity.address.postal_code));
    if let Some(locality) = &entity.address.locality {
        address.insert("addressLocality".into(), json!(locality));
    }
    address.insert("addressCountry".into(), json!(entity.address.country));
    // The commune, which a postal code shared by several does not tell.
    if let Some(insee) = &entity.address.insee_code {
        address.insert(
            "identifier".into(),
            json!({"@type": "PropertyValue", "propertyID": INSEE_PROPERTY, "value": insee}),
        );
    }
    Json::Object(address)
}

fn people(entity: &Entity, relations: &[Relation], confirmed_only: bool) -> Vec<Json> {
    entity
        .links
        .iter()
        .filter(|link| relations.contains(&link.relation))
        .filter(|link| !confirmed_only || link.confirmed)
        .map(|link| json!({"@id": node_id(link.person)}))
        .collect()
}

/// An entity as a schema.org node.
pub fn schema_org(entity: &Entity) -> Json {
    let kind = schema_org_type(entity);
    let is_place = matches!(kind, "Place" | "LocalBusiness");
    let mut node = Map::new();
    node.insert("@id".into(), json!(node_id(entity.id)));
    node.insert("@type".into(), json!(kind));
    node.insert("name".into(), json!(entity.name()));
    // `description` is the longer text there is; the short one, when
    // there is one, is also `disambiguatingDescription`: an import tells
    // them apart again.
    let short = entity.text(Field::ShortDescription);
    if let Some(text) = entity.text(Field::Description).or(short) {
        node.insert("description".into(), json!(text));
    }
    if let Some(short) = short {
        node.insert("disambiguatingDescription".into(), json!(short));
    }
    if let Some(url) = entity.text(Field::Url) {
        node.insert("url".into(), json!(url));
    }
    let geo = entity
        .geo
        .filter(|_| located(entity))
        .map(|geo| json!({"@type": "GeoCoordinates", "latitude": geo.lat, "longitude": geo.lon}));
    match entity.kind {
        Kind::Event => {
            let location = match entity.text(Field::Place) {
                Some(place) => json!({"@id": node_id(place)}),
                None => {
                    let mut place = Map::new();
                    place.insert("@type".into(), json!("Place"));
                    place.insert("address".into(), postal_address(entity));
                    if let Some(geo) = geo {
                        place.insert("geo".into(), geo);
                    }
                    Json::Object(place)
                }
            };
            node.insert("location".into(), location);
        }
        _ => {
            node.insert("address".into(), postal_address(entity));
            if let Some(geo) = geo {
                if is_place {
                    node.insert("geo".into(), geo);
                } else {
                    node.insert("location".into(), json!({"@type": "Place", "geo": geo}));
                }
            }
        }
    }
    if entity.kind != Kind::Person {
        // The category is a term of Communecter's categories; tags are
        // free keywords.
        let mut keywords = Vec::new();
        if let Some(category) = entity.text(Field::Category) {
            keywords.push(
                json!({"@type": "DefinedTerm", "name": category, "inDefinedTermSet": CATEGORY_SET}),
            );
        }
        keywords.extend(field_terms(entity, kind));
        keywords.extend(entity.tags.iter().map(|tag| json!(tag)));
        if !keywords.is_empty() {
            node.insert("keywords".into(), json!(keywords));
        }
    }
    if let Some(telephone) = entity.text(Field::Telephone) {
        node.insert("telephone".into(), json!(telephone));
    }
    if kind == "LocalBusiness"
        && let Some(hours) = entity.text(Field::OpeningHours)
    {
        node.insert("openingHours".into(), json!(hours));
    }
    match entity.kind {
        Kind::Event => {
            if let Some(start) = entity.text(Field::Start) {
                node.insert("startDate".into(), json!(start));
            }
            if let Some(end) = entity.text(Field::End) {
                node.insert("endDate".into(), json!(end));
            }
            if let Some(organizer) = entity.text(Field::Organizer) {
                node.insert("organizer".into(), json!({"@id": node_id(organizer)}));
            }
            let attendees = people(entity, &[Relation::Attendee], false);
            if !attendees.is_empty() {
                node.insert("attendee".into(), Json::Array(attendees));
            }
        }
        Kind::Project => {
            if let Some(start) = entity.text(Field::Start) {
                node.insert("foundingDate".into(), json!(start));
            }
            if let Some(end) = entity.text(Field::End) {
                node.insert("dissolutionDate".into(), json!(end));
            }
            let members = people(entity, &[Relation::Contributor, Relation::Member], false);
            if !members.is_empty() {
                node.insert("member".into(), Json::Array(members));
            }
        }
        Kind::Organization => {
            let members = people(entity, &[Relation::Member], true);
            if !members.is_empty() {
                node.insert("member".into(), Json::Array(members));
            }
        }
        Kind::Person | Kind::Place | Kind::Relay | Kind::Room => {}
    }
    if entity.kind != Kind::Person {
        let reviews: Vec<Json> = entity
            .links
            .iter()
            .filter(|link| link.relation == Relation::Recommends)
            .map(|link| {
                let author = json!({"@id": node_id(link.person)});
                let mut review = Map::new();
                review.insert("@type".into(), json!("Review"));
                review.insert("author".into(), author);
                review.insert("datePublished".into(), json!(iso8601(link.at)));
                if let Some(comment) = &link.comment {
                    review.insert("reviewBody".into(), json!(comment));
                }
                Json::Object(review)
            })
            .collect();
        if !reviews.is_empty() {
            node.insert("review".into(), Json::Array(reviews));
        }
    }
    Json::Object(node)
}

/// A GeoJSON feature, for an entity placed on the map.
fn feature(entity: &Entity) -> Option<Json> {
    let geo = entity.geo?;
    let mut properties = Map::new();
    properties.insert("id".into(), json!(entity.id.to_string()));
    properties.insert("kind".into(), json!(entity.kind.as_str()));
    if let Some(kind_type) = kind_type(entity) {
        properties.insert("type".into(), json!(kind_type));
    }
    for (key, value) in &entity.fields {
        if !matches!(
            key.as_str(),
            "organization_type" | "event_type" | "place_type"
        ) {
            properties.insert(key.clone(), value_json(value));
        }
    }
    properties.insert("tags".into(), json!(entity.tags));
    if let Some(street) = &entity.address.street {
        properties.insert("street".into(), json!(street));
    }
    properties.insert("postal_code".into(), json!(entity.address.postal_code));
    if let Some(insee) = &entity.address.insee_code {
        properties.insert("insee_code".into(), json!(insee));
    }
    if let Some(locality) = &entity.address.locality {
        properties.insert("locality".into(), json!(locality));
    }
    properties.insert("country".into(), json!(entity.address.country));
    Some(json!({
        "type": "Feature",
        "id": entity.id.to_string(),
        "geometry": {"type": "Point", "coordinates": [geo.lon, geo.lat]},
        "properties": properties,
    }))
}

/// The tags cell: `a;b;c`, or a JSON array when a tag contains `;`.
pub fn tags_cell(tags: &std::collections::BTreeSet<String>) -> String {
    if tags.iter().any(|tag| tag.contains(';')) {
        serde_json::to_string(tags).expect("JSON of strings")
    } else {
        tags.iter().cloned().collect::<Vec<_>>().join(";")
    }
}

/// The characters that make a spreadsheet read a cell as a formula when
/// they start it (OWASP, "CSV Injection").
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text cell a spreadsheet will show as text: one that starts like a
/// formula gets a leading `'` (as OWASP's CSV-injection guidance says), and
/// so does one that starts with `'` before such a character, so that
/// [`csv_text`] gives every value back exactly.
pub fn csv_cell(text: &str) -> String {
    let mut chars = text.chars();
    let escape = match chars.next() {
        Some(first) if FORMULA_STARTS.contains(&first) => true,
        Some('\'') => chars
            .next()
            .is_some_and(|second| second == '\'' || FORMULA_STARTS.contains(&second)),
        _ => false,
    };
    if escape {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The value of a cell [`csv_cell`] wrote: the leading `'` it added taken
/// off; any other cell as it is.
pub fn csv_text(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest)
            if rest
                .chars()
                .next()
                .is_some_and(|first| first == '\'' || FORMULA_STARTS.contains(&first)) =>
        {
            rest
        }
        _ => cell,
    }
}

fn csv_row(entity: &Entity, licence: Licence) -> Vec<String> {
    let text = |field: Field| entity.text(field).unwrap_or_default().to_owned();
    let located = located(entity);
    let geo = entity.geo.filter(|_| located);
    vec![
        entity.id.to_string(),
        entity.kind.as_str().to_owned(),
        entity.name().to_owned(),
        kind_type(entity).unwrap_or_default().to_owned(),
        text(Field::Category),
        tags_cell(&entity.tags),
        text(Field::ShortDescription),
        text(Field::Description),
        text(Field::Url),
        text(Field::Telephone),
        text(Field::OpeningHours),
        text(Field::Start),
        text(Field::End),
        entity
            .address
            .street
            .clone()
            .filter(|_| located)
            .unwrap_or_default(),
        entity.address.postal_code.clone(),
        entity.address.insee_code.clone().unwrap_or_default(),
        entity.address.locality.clone().unwrap_or_default(),
        entity.address.country.clone(),
        geo.map(|geo| geo.lat.to_string()).unwrap_or_default(),
        geo.map(|geo| geo.lon.to_string()).unwrap_or_default(),
        iso8601(entity.created_at),
        iso8601(entity.updated_at),
        licence.id().to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_found_and_nothing_else() {
        assert_eq!(
            redact_emails("Écrire à marie.hoarau+asso@example.re. Merci"),
            "Écrire à [e-mail]. Merci"
        );
        assert_eq!(redact_emails("a@b.fr, c@d.org"), "[e-mail], [e-mail]");
        for text in [
            "@kiosque",
            "rdv @ 19h",
            "chez@local",
            "x@y.1",
            "Mail: @example.org",
        ] {
            assert_eq!(redact_emails(text), text, "{text}");
        }
    }
}
