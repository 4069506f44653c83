//! From a row to a new entity: what is kept, tidied, left out (with a
//! warning) or rejected, and the commune the row is placed in.

use std::collections::HashMap;
use std::sync::LazyLock;

use crdt_model::communes;
use crdt_model::document::{Edit, NewEntity};
use crdt_model::schema::{Container, Field, Kind, Value, check_postal_code};
use crdt_model::text::fold;

use super::ImportRow;

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
/// rest kept, a French position far from its commune too
/// ([`communes::Communes::check_position`]). A free-text organization type
/// becomes the category, a URL without a scheme gets `https://`, tags are
/// trimmed (a `/` becomes a space), line ends are `\n`.
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
    match kind {
        Kind::Person => {
            return Err("people join by themselves: person rows are not imported".into());
        }
        Kind::Relay => {
            return Err("a relay writes its own entry: relay rows are not imported".into());
        }
        Kind::Room => {
            return Err(
                "a room is made with `communecter room create`: room rows are not imported".into(),
            );
        }
        _ => {}
    }
    let name = one_line(&value("name").ok_or("missing name")?);
    let mut country = value("country")
        .unwrap_or_else(|| "FR".into())
        .to_uppercase();
    // Communecter writes the overseas departments' and collectivities' own
    // codes, or their names; their postal codes are French.
    if OVERSEAS.contains(&country.as_str()) || FRENCH_NAMES.contains(&fold(&country).as_str()) {
        country = "FR".into();
    }
    let table = communes::table();
    let mut postal_code = value("postal_code").unwrap_or_default();
    // A spreadsheet drops the leading zero of 01400.
    if country == "FR"
        && postal_code.len() == 4
        && table.is_known_postal_code(&format!("0{postal_code}"))
    {
        postal_code.insert(0, '0');
    }
    let mut warnings = Vec::new();
    // A record that names its commune by INSEE code alone, or with a
    // postal code no commune has (Paris as 75000), is given the commune's.
    if country == "FR" && !table.is_known_postal_code(&postal_code) {
        let commune = value("insee_code").and_then(|code| table.by_insee(&code));
        if let Some((commune, code)) =
            commune.and_then(|commune| Some((commune, code_of(commune)?)))
        {
            let code_said = match commune.postal_codes.len() {
                1 => code.to_owned(),
                n => format!("{code} (one of {n})"),
            };
            let (insee, commune) = (commune.insee, commune.name);
            warnings.push(if postal_code.is_empty() {
                format!("postal code {code_said} taken from the INSEE code {insee} ({commune})")
            } else {
                format!(
                    "postal code {postal_code} is no commune's: {code_said} of the INSEE code {insee} ({commune}) used"
                )
            });
            postal_code = code.to_owned();
        }
    }
    if postal_code.is_empty() {
        return Err("missing postal code".into());
    }
    check_postal_code(&postal_code, &country).map_err(|error| error.to_string())?;
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
        if !table.is_known_postal_code(&postal_code) {
            return Err(unknown_postal_code(&postal_code));
        }
    }
    match (value("lat"), value("lon")) {
        (None, None) => {}
        (Some(lat), Some(lon)) => match (degrees(&lat), degrees(&lon)) {
            (Ok(lat), Ok(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                let insee = value("insee_code");
                match near_commune(&country, &postal_code, insee.as_deref(), &edits, lat, lon) {
                    Ok(()) => edits.push(Edit::SetGeo { lat, lon }),
                    Err(outside) => {
                        warnings.push(format!("position {lat}, {lon} left out: {outside}"));
                    }
                }
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
            Kind::Project | Kind::Person | Kind::Relay | Kind::Room => {
                warnings.push(format!(
                    "type {kind_type:?} left out: {} has no type",
                    with_article(kind)
                ));
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
            warnings.push(format!("{key} left out: {} has none", with_article(kind)));
            continue;
        }
        // The commune's official name, when the locality named it.
        let named = |edit: &Edit| matches!(edit, Edit::Set(Field::Locality, _));
        if field == Field::Locality && edits.iter().any(named) {
            continue;
        }
        let text = match field {
            Field::Url => with_scheme(&text),
            Field::Start | Field::End => date_text(&text),
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

/// Names of France and of its overseas departments and collectivities as
/// Communecter's older files write a country (folded).
const FRENCH_NAMES: [&str; 15] = [
    "france",
    "reunion",
    "la reunion",
    "guadeloupe",
    "martinique",
    "guyane",
    "guyanne",
    "mayotte",
    "nouvelle caledonie",
    "polynesie francaise",
    "saint pierre et miquelon",
    "saint barthelemy",
    "saint martin",
    "wallis et futuna",
    "ile de la reunion",
];

/// The postal code of a commune: its only one, else its main one as far
/// as the table tells: a code it is the largest commune of, ending in 0 as
/// a main post office's does (Saint-Paul is 97460 rather than 97411, a
/// village's of the commune).
fn code_of(commune: &communes::Commune) -> Option<&'static str> {
    let table = communes::table();
    commune.postal_codes.iter().copied().min_by_key(|code| {
        let largest = table
            .by_postal_code(code)
            .first()
            .is_some_and(|first| first.insee == commune.insee);
        (!largest, !code.ends_with('0'), *code)
    })
}

/// Why a French postal code no commune has is refused, with the commune
/// it is the INSEE code of, when it is one (13055 is Marseille).
fn unknown_postal_code(code: &str) -> String {
    let mut reason = format!("{code} is not a French postal code we know");
    if let Some(commune) = communes::table().by_insee(code)
        && let Some(first) = commune.postal_codes.first()
    {
        reason.push_str(&format!(
            " (it is the INSEE code of {}, whose postal code is {first})",
            commune.name
        ));
    }
    reason
}

/// The commune of a French postal code and locality, as edits (its INSEE
/// code and official name); returns the postal code to use. A locality
/// names the commune among those sharing the code; one that is not among
/// them is said, and no commune guessed (Douai under 59000 is not Lille),
/// unless it names no commune at all (a quarter or a hamlet: Sainte-Clotilde
/// under 97490 is in Saint-Denis) and the code has one commune. A
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
        .copied()
        .or_else(|| {
            by_name(&locality)
                .is_empty()
                .then(|| communes::table().default_commune(postal_code))
                .flatten()
        });
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

/// Refuses a French position far from the row's commune: the one its
/// INSEE code names, else the one found for it ([`commune_of`]), else its
/// postal code's communes.
fn near_commune(
    country: &str,
    postal_code: &str,
    insee: Option<&str>,
    edits: &[Edit],
    lat: f64,
    lon: f64,
) -> Result<(), communes::PositionOutside> {
    if country != "FR" {
        return Ok(());
    }
    let found = edits.iter().find_map(|edit| match edit {
        Edit::Set(Field::InseeCode, Value::Text(insee)) => Some(insee.as_str()),
        _ => None,
    });
    let insee = insee
        .filter(|insee| communes::table().by_insee(insee).is_some())
        .or(found);
    communes::table().check_position(insee, postal_code, lat, lon)
}

/// A locality as a commune's folded name: "LILLE CEDEX 9" is "lille", "ST
/// PIERRE" (La Poste's abbreviation) "saint pierre".
fn commune_name(locality: &str) -> String {
    let folded = fold(locality);
    let mut words: Vec<&str> = folded
        .split_whitespace()
        .map(|word| match word {
            "st" => "saint",
            "ste" => "sainte",
            other => other,
        })
        .collect();
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

/// Sets `field` to `text`, or says why it is left out. The line breaks and
/// tabs of a field that is one line (a short description) become spaces.
fn set(edits: &mut Vec<Edit>, warnings: &mut Vec<String>, field: Field, text: &str) {
    let folded;
    let text = if field.allows_line_breaks() {
        text
    } else {
        folded = one_line(text);
        &folded
    };
    match field.parse_value(text) {
        Ok(value) => {
            if !crate::opendata::export::email_spans(text).is_empty() {
                warnings.push(format!(
                    "{} holds an e-mail address: kept on this node, left out of exports",
                    field.key()
                ));
            }
            edits.push(Edit::Set(field, value));
        }
        Err(error) => warnings.push(format!("{} {text:?} left out: {error}", field.key())),
    }
}

/// A date as the schema writes it, from the ways files write one:
/// `20/12/2026` and `20/12/2026 19:00` (French order), `2026-12-20 19:00`,
/// a fraction of a second, an offset without a colon (`+0100`). Anything
/// else is returned as it is, for the schema to refuse with its reason.
pub(super) fn date_text(text: &str) -> String {
    let text = text.trim();
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, Some(time.trim())),
        None => (text, None),
    };
    let date = match date.split('/').collect::<Vec<_>>()[..] {
        [day, month, year]
            if day.len() <= 2
                && month.len() <= 2
                && year.len() == 4
                && [day, month, year]
                    .iter()
                    .all(|part| part.chars().all(|c| c.is_ascii_digit())) =>
        {
            format!("{year}-{month:0>2}-{day:0>2}")
        }
        _ => date.to_owned(),
    };
    let iso = date.len() == 10
        && date.bytes().enumerate().all(|(at, byte)| match at {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !iso {
        return text.to_owned();
    }
    let Some(time) = time.filter(|time| !time.is_empty()) else {
        return date;
    };
    // The offset, apart from the clock time.
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let clock = clock.split('.').next().unwrap_or(clock).replace('h', ":");
    let clock = match clock.split(':').collect::<Vec<_>>()[..] {
        [hour, _] | [hour, _, _] if hour.len() == 1 => format!("0{clock}"),
        _ => clock,
    };
    let offset = match offset.as_bytes() {
        [sign @ (b'+' | b'-'), h1, h2, m1, m2]
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
        {
            format!(
                "{}{}{}:{}{}",
                *sign as char, *h1 as char, *h2 as char, *m1 as char, *m2 as char
            )
        }
        [sign @ (b'+' | b'-'), h1, h2] if h1.is_ascii_digit() && h2.is_ascii_digit() => {
            format!("{}{}{}:00", *sign as char, *h1 as char, *h2 as char)
        }
        _ => offset.to_owned(),
    };
    format!("{date}T{clock}{offset}")
}

/// "a project", "an event".
fn with_article(kind: Kind) -> String {
    let name = kind.as_str();
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
}

/// A cell's text: trimmed, with `\n` line ends (Windows files and
/// Communecter's descriptions write `\r\n`).
fn clean(text: &str) -> String {
    text.trim().replace("\r\n", "\n").replace('\r', "\n")
}

/// A text on one line: each run of spaces holding a line break or a tab is
/// one space.
fn one_line(text: &str) -> String {
    if !text.contains(['\n', '\r', '\t']) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            if run.contains(['\n', '\r', '\t']) {
                out.push(' ');
            } else {
                out.push_str(&run);
            }
            run.clear();
        }
        out.push(c);
    }
    out
}

/// A web address as written by hand (`www.example.org`), with `https://`
/// when it has no scheme.
fn with_scheme(text: &str) -> String {
    // No space belongs in an address: one copied from a page (often a
    // no-break space) is dropped.
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let text = text.as_str();
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
