//! The rules of each operation: who may write at its path, and whether the
//! value written there is valid. What they write is recorded for the rules
//! of the change as a whole (`totals`).

use automerge::legacy::OpType;
use automerge::{ObjType, ScalarValue};

use crate::document::{Relation, is_known_root_key, key};
use crate::ids::{AuthorKey, EntityId};
use crate::schema::{
    Container, Field, MAX_COMMENT_CHARS, MAX_REPORT_CHARS, ValidationError, check_length,
    check_tag, check_visible,
};

use super::{Path, Reject, Role, Writes, invalid, wrong_type};

/// Checks one operation at `path` and records what it writes.
pub(super) fn check_op(
    role: &Role,
    path: &Path,
    action: &OpType,
    writes: &mut Writes,
) -> Result<(), Reject> {
    let keys = path.keys();
    let Some(Some(root_key)) = keys.first().copied() else {
        return Err(Reject::Malformed(format!(
            "{path} is not a key of the root map"
        )));
    };
    let rest = &keys[1..];
    let is_map = matches!(action, OpType::Make(ObjType::Map));
    let put = match action {
        OpType::Put(value) => Some(value),
        _ => None,
    };
    let delete = matches!(action, OpType::Delete);

    // Unknown root keys are preserved and left to admins.
    if !is_known_root_key(root_key) {
        return require_admin(role, path);
    }
    if rest.contains(&None) {
        return Err(Reject::UnknownPath { path: path.clone() });
    }

    match (root_key, rest) {
        (key::SCHEMA | key::KIND | key::ID | key::NONCE | key::CREATOR | key::CREATED_AT, []) => {
            if !role.genesis {
                return Err(Reject::Immutable { path: path.clone() });
            }
            let value = put.ok_or_else(|| wrong_type(path, "genesis key", "a value"))?;
            let name = match root_key {
                key::SCHEMA => key::SCHEMA,
                key::KIND => key::KIND,
                key::ID => key::ID,
                key::NONCE => key::NONCE,
                key::CREATOR => key::CREATOR,
                _ => key::CREATED_AT,
            };
            writes.genesis.insert(name, value.clone());
            Ok(())
        }
        (key::UPDATED_AT, []) => {
            require_descriptive(role, path)?;
            match put {
                Some(ScalarValue::Timestamp(_) | ScalarValue::Int(_)) => Ok(()),
                _ => Err(wrong_type(path, key::UPDATED_AT, "a timestamp")),
            }
        }
        (
            key::ADDRESS
            | key::TAGS
            | key::ADMINS
            | key::CONFIRMED
            | key::LINKS
            | key::RECOMMENDS
            | key::REPORTS,
            [],
        ) => {
            if role.genesis && is_map {
                Ok(())
            } else {
                Err(Reject::Immutable { path: path.clone() })
            }
        }
        (key::ADDRESS, [Some(name)]) => {
            require_descriptive(role, path)?;
            let field = Field::at(Container::Address, name)
                .ok_or_else(|| Reject::UnknownPath { path: path.clone() })?;
            record_field(role, path, field, put, delete, writes)
        }
        (key::GEO, []) => {
            require_descriptive(role, path)?;
            if is_map {
                writes.geo_made = true;
                Ok(())
            } else if delete {
                Ok(())
            } else {
                Err(wrong_type(path, key::GEO, "a map of lat and lon"))
            }
        }
        (key::GEO, [Some(name)]) => {
            require_descriptive(role, path)?;
            let field = Field::at(Container::Geo, name)
                .ok_or_else(|| Reject::UnknownPath { path: path.clone() })?;
            if delete {
                return Err(invalid(path, ValidationError::Required(field.name())));
            }
            record_field(role, path, field, put, delete, writes)
        }
        (key::TAGS, [Some(tag)]) => {
            require_descriptive(role, path)?;
            check_tag(tag).map_err(|error| invalid(path, error))?;
            match (put, delete) {
                (Some(ScalarValue::Boolean(true)), _) => writes.tags.push(((*tag).into(), true)),
                (_, true) => writes.tags.push(((*tag).into(), false)),
                _ => return Err(wrong_type(path, "tag", "true")),
            }
            Ok(())
        }
        (key::ADMINS | key::CONFIRMED, [Some(member)]) => {
            require_admin(role, path)?;
            if role.person && root_key == key::ADMINS && !role.genesis {
                return Err(Reject::PersonOwnerOnly { path: path.clone() });
            }
            member
                .parse::<AuthorKey>()
                .map_err(|_| Reject::UnknownPath { path: path.clone() })?;
            // A member's entry may also say `false`: removed by the admins
            // (their own link stays theirs).
            let added = match (put, delete) {
                (Some(ScalarValue::Boolean(true)), _) => true,
                (Some(ScalarValue::Boolean(false)), _) if root_key == key::CONFIRMED => false,
                (_, true) => false,
                _ => return Err(wrong_type(path, "admin", "true")),
            };
            if root_key == key::ADMINS {
                writes.admins.push(((*member).into(), added));
            }
            Ok(())
        }
        (key::OPEN_EDITION | key::DELETED, []) => {
            require_admin(role, path)?;
            match put {
                Some(ScalarValue::Boolean(_)) => Ok(()),
                _ => Err(wrong_type(path, "flag", "true or false")),
            }
        }
        (key::PROPOSALS, rest) => super::decide::record(role, path, rest, action, writes),
        (key::LINKS | key::RECOMMENDS | key::REPORTS, [Some(owner), more @ ..]) => {
            check_slot(role, path, root_key, owner, more, action)
        }
        (name, []) => {
            let field = Field::at(Container::Root, name)
                .ok_or_else(|| Reject::UnknownPath { path: path.clone() })?;
            require_descriptive(role, path)?;
            record_field(role, path, field, put, delete, writes)
        }
        _ => Err(Reject::UnknownPath { path: path.clone() }),
    }
}

fn require_admin(role: &Role, path: &Path) -> Result<(), Reject> {
    if role.admin {
        Ok(())
    } else if role.person {
        Err(Reject::PersonOwnerOnly { path: path.clone() })
    } else {
        Err(Reject::NotAdmin { path: path.clone() })
    }
}

fn require_descriptive(role: &Role, path: &Path) -> Result<(), Reject> {
    if role.admin || (role.open_edition && !role.person) {
        Ok(())
    } else if role.person {
        Err(Reject::PersonOwnerOnly { path: path.clone() })
    } else {
        Err(Reject::ClosedEdition { path: path.clone() })
    }
}

fn record_field(
    role: &Role,
    path: &Path,
    field: Field,
    put: Option<&ScalarValue>,
    delete: bool,
    writes: &mut Writes,
) -> Result<(), Reject> {
    if let Some(kind) = role.kind
        && !field.applies_to(kind)
    {
        return Err(invalid(
            path,
            ValidationError::FieldNotForKind {
                field: field.name(),
                kind,
            },
        ));
    }
    let value = match (put, delete) {
        (Some(value), _) => {
            field.check(value).map_err(|error| invalid(path, error))?;
            Some(value.clone())
        }
        (None, true) if field.is_required() => {
            return Err(invalid(path, ValidationError::Required(field.name())));
        }
        (None, true) => None,
        (None, false) => return Err(wrong_type(path, field.key(), "a plain value")),
    };
    writes
        .fields
        .insert((field.container(), field.key().to_owned()), value);
    Ok(())
}

/// Checks a write under `links/<owner>`, `recommends/<owner>` or `reports/<owner>`.
fn check_slot(
    role: &Role,
    path: &Path,
    root_key: &str,
    owner: &str,
    more: &[Option<&str>],
    action: &OpType,
) -> Result<(), Reject> {
    if owner.parse::<AuthorKey>().is_err() {
        return Err(Reject::UnknownPath { path: path.clone() });
    }
    let own = owner == role.author;
    // A report is its author's alone: an entity's admins do not clear the
    // reports that would flag it.
    if !own && (!role.admin || root_key == key::REPORTS) {
        return Err(if role.person {
            Reject::PersonOwnerOnly { path: path.clone() }
        } else {
            Reject::ForeignSlot { path: path.clone() }
        });
    }
    // On a person's profile, others may only follow.
    let follows_only = role.person && !role.admin;
    let container = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(wrong_type(path, "slot", "a map"))
        }
    };
    let is_container_op = matches!(action, OpType::Make(ObjType::Map) | OpType::Delete);
    let attributes = match (root_key, more) {
        (key::LINKS, []) => {
            if follows_only && !is_container_op {
                return Err(Reject::PersonOwnerOnly { path: path.clone() });
            }
            return container(is_container_op);
        }
        (key::LINKS, [Some(relation), rest @ ..]) => {
            let relation = Relation::in_links(relation)
                .ok_or_else(|| Reject::UnknownPath { path: path.clone() })?;
            if follows_only && relation != Relation::Follows {
                return Err(Reject::PersonOwnerOnly { path: path.clone() });
            }
            if rest.is_empty() {
                return container(is_container_op);
            }
            rest
        }
        (_, []) if follows_only => {
            return Err(Reject::PersonOwnerOnly { path: path.clone() });
        }
        (_, []) => return container(is_container_op),
        (_, rest) => {
            if follows_only {
                return Err(Reject::PersonOwnerOnly { path: path.clone() });
            }
            rest
        }
    };
    let [Some(attribute)] = attributes else {
        return Err(Reject::UnknownPath { path: path.clone() });
    };
    let put = match action {
        OpType::Put(value) => Some(value),
        _ => None,
    };
    let delete = matches!(action, OpType::Delete);
    let text = |field: &'static str, max: usize| match (put, delete) {
        (Some(ScalarValue::Str(text)), _) => check_length(field, text, max)
            .and_then(|()| check_visible(field, text, false))
            .and_then(|()| {
                if text.chars().any(char::is_control) {
                    Err(ValidationError::ControlCharacters { field })
                } else {
                    Ok(())
                }
            })
            .map_err(|error| invalid(path, error)),
        (None, true) => Ok(()),
        _ => Err(wrong_type(path, field, "text")),
    };
    match (root_key, *attribute) {
        (_, key::AT) => match put {
            Some(ScalarValue::Timestamp(_) | ScalarValue::Int(_)) => Ok(()),
            _ => Err(wrong_type(path, key::AT, "a timestamp")),
        },
        (key::LINKS | key::RECOMMENDS, key::COMMENT) => text(key::COMMENT, MAX_COMMENT_CHARS),
        // Who wrote a slot is its owner, the signer; a `person` can only
        // repeat it: the owner's own profile, derived from their key.
        (key::LINKS | key::RECOMMENDS, key::PERSON) => match (put, delete) {
            (Some(ScalarValue::Str(text)), _) => match text.parse::<EntityId>() {
                Ok(person)
                    if owner
                        .parse()
                        .is_ok_and(|owner: AuthorKey| person == EntityId::person_of(&owner)) =>
                {
                    Ok(())
                }
                Ok(_) => Err(Reject::ForeignPerson { path: path.clone() }),
                Err(_) => Err(wrong_type(path, key::PERSON, "an entity id")),
            },
            (None, true) => Ok(()),
            _ => Err(wrong_type(path, key::PERSON, "an entity id")),
        },
        (key::REPORTS, key::REASON) => text(key::REASON, MAX_REPORT_CHARS),
        _ => Err(Reject::UnknownPath { path: path.clone() }),
    }
}
