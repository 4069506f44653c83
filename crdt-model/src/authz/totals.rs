//! The rules of the change as a whole, once each operation passed: the
//! genesis layout, the admin count, the tag count, dates, postal code and
//! position.

use automerge::{ROOT, ScalarValue};

use crate::document::{SCHEMA_VERSION, key};
use crate::ids::{AuthorKey, EntityId, parse_hex};
use crate::schema::{
    Container, Field, Kind, MAX_TAGS, ValidationError, check_dates, check_postal_code,
};

use super::{Path, Reject, Role, Segment, View, Writes, invalid};

/// Checks what depends on the change as a whole: the genesis layout, the
/// admin count, the tag count, dates, postal code and position.
pub(super) fn check_totals(
    view: &View<'_>,
    role: &Role,
    doc_id: &EntityId,
    signer: &AuthorKey,
    writes: &Writes,
) -> Result<(), Reject> {
    if role.genesis {
        check_genesis(doc_id, signer, writes)?;
    }
    let field_value = |container: Container, field: Field| -> Option<ScalarValue> {
        if let Some(written) = writes.fields.get(&(container, field.key().to_owned())) {
            return written.clone();
        }
        match container.key() {
            None => view.scalar(&ROOT, field.key()),
            Some(name) => view
                .map(&ROOT, name)
                .and_then(|map| view.scalar(&map, field.key())),
        }
    };
    let as_text = |value: Option<ScalarValue>| match value {
        Some(ScalarValue::Str(text)) => Some(text.to_string()),
        _ => None,
    };

    if !writes.admins.is_empty() {
        let mut admins = view.true_keys(key::ADMINS);
        for (admin, added) in &writes.admins {
            if *added {
                admins.insert(admin.clone());
            } else {
                admins.remove(admin);
            }
        }
        if admins.is_empty() {
            return Err(Reject::LastAdmin);
        }
        if role.genesis && !admins.contains(&role.author) {
            return Err(Reject::Genesis("the creator must be an admin".into()));
        }
    } else if role.genesis {
        return Err(Reject::Genesis("the creator must be an admin".into()));
    }

    if writes.tags.iter().any(|(_, added)| *added) {
        let mut tags = view.true_keys(key::TAGS);
        let before = tags.len();
        for (tag, added) in &writes.tags {
            if *added {
                tags.insert(tag.clone());
            } else {
                tags.remove(tag);
            }
        }
        if tags.len() > MAX_TAGS && tags.len() > before {
            return Err(Reject::Invalid {
                path: Path(vec![Segment::Key(key::TAGS.into())]),
                error: ValidationError::TooManyTags {
                    max: MAX_TAGS,
                    found: tags.len(),
                },
            });
        }
    }

    let touched = |container: Container, field: Field| {
        writes
            .fields
            .contains_key(&(container, field.key().to_owned()))
    };
    if touched(Container::Root, Field::Start) || touched(Container::Root, Field::End) {
        let start = as_text(field_value(Container::Root, Field::Start));
        let end = as_text(field_value(Container::Root, Field::End));
        if let (Some(start), Some(end)) = (start, end) {
            check_dates(&start, &end).map_err(|error| Reject::Invalid {
                path: Path(vec![Segment::Key(Field::End.key().into())]),
                error,
            })?;
        }
    }
    if touched(Container::Address, Field::PostalCode) || touched(Container::Address, Field::Country)
    {
        let code = as_text(field_value(Container::Address, Field::PostalCode));
        let country = as_text(field_value(Container::Address, Field::Country));
        let path = Path(vec![
            Segment::Key(key::ADDRESS.into()),
            Segment::Key(Field::PostalCode.key().into()),
        ]);
        match (code, country) {
            (Some(code), Some(country)) => {
                check_postal_code(&code, &country).map_err(|error| invalid(&path, error))?
            }
            _ => {
                return Err(invalid(
                    &path,
                    ValidationError::Required("address.postal_code and address.country".into()),
                ));
            }
        }
    }
    if writes.geo_made
        && !(touched(Container::Geo, Field::Lat) && touched(Container::Geo, Field::Lon))
    {
        return Err(Reject::Invalid {
            path: Path(vec![Segment::Key(key::GEO.into())]),
            error: ValidationError::Required("geo.lat and geo.lon".into()),
        });
    }
    Ok(())
}

fn check_genesis(doc_id: &EntityId, signer: &AuthorKey, writes: &Writes) -> Result<(), Reject> {
    let text = |name: &'static str| match writes.genesis.get(name) {
        Some(ScalarValue::Str(text)) => Ok(text.to_string()),
        _ => Err(Reject::Genesis(format!("{name} is missing or not text"))),
    };
    if writes.genesis.get(key::SCHEMA) != Some(&ScalarValue::Uint(SCHEMA_VERSION)) {
        return Err(Reject::Genesis(format!(
            "schema must be {SCHEMA_VERSION}, as an unsigned integer"
        )));
    }
    let kind = text(key::KIND)?
        .parse::<Kind>()
        .map_err(|error| Reject::Genesis(error.to_string()))?;
    for (container, name) in writes.fields.keys() {
        if let Some(field) = Field::at(*container, name)
            && !field.applies_to(kind)
        {
            return Err(Reject::Genesis(format!(
                "{kind}s have no field {}",
                field.name()
            )));
        }
    }
    // A room, and only a room, holds proposals.
    if (kind == Kind::Room) != writes.proposals_made {
        return Err(Reject::Genesis(
            "a room, and only a room, is made with its proposals".into(),
        ));
    }
    if text(key::CREATOR)? != signer.to_string() {
        return Err(Reject::Genesis("creator must be the signing author".into()));
    }
    let nonce = parse_hex::<16>(&text(key::NONCE)?)
        .ok_or_else(|| Reject::Genesis("nonce must be 32 hex digits".into()))?;
    if EntityId::derive(signer, &nonce) != *doc_id {
        return Err(Reject::Genesis(format!(
            "the id {doc_id} is not derived from this creator and nonce"
        )));
    }
    if text(key::ID)? != doc_id.to_string() {
        return Err(Reject::Genesis(format!("id must be {doc_id}")));
    }
    // One profile per author, found from the key alone.
    if kind == Kind::Person && *doc_id != EntityId::person_of(signer) {
        return Err(Reject::Genesis(
            "a person's id must be the one derived from its author key".into(),
        ));
    }
    if !matches!(
        writes.genesis.get(key::CREATED_AT),
        Some(ScalarValue::Timestamp(_) | ScalarValue::Int(_))
    ) {
        return Err(Reject::Genesis("created_at must be a timestamp".into()));
    }
    for (container, field) in [
        (Container::Root, Field::Name),
        (Container::Address, Field::PostalCode),
        (Container::Address, Field::Country),
    ] {
        if !matches!(
            writes.fields.get(&(container, field.key().to_owned())),
            Some(Some(_))
        ) {
            return Err(Reject::Genesis(format!("{} is required", field.name())));
        }
    }
    Ok(())
}
