//! Causal authorization: may this change be applied to this document?
//!
//! [`authorize`] is a pure function of the document's state at the change's
//! dependencies and of the change itself, so every honest node reaches the
//! same verdict whatever order changes arrive in. Automerge cannot undo an
//! applied change, so the verdict comes first: the change's operations are
//! decoded, each operation's object is resolved to its path in the document
//! at the dependencies (objects made by the same change resolve through the
//! operation that made them), and the rules below are checked on the paths.
//!
//! The rules (docs/PROTOCOL.md gives them in full):
//!
//! 1. The change's actor is the signing author's key plus a device suffix.
//! 2. A change without dependencies is a genesis: its author must be the
//!    creator the entity id was derived from, and it must write the layout.
//! 3. An admin (as of the dependencies) may change anything, except the
//!    genesis-only keys, and may not leave the document without admins.
//! 4. Anyone else writes only under their own key (`links/<key>`,
//!    `recommends/<key>`, `reports/<key>`) and, when `open_edition` is on, the
//!    descriptive fields; never `admins`, `open_edition` or others' slots.
//! 5. A Person document is written by its owner only, except others'
//!    `links/<their key>/follows`.
//!
//! Every value written at a known path is checked against the schema
//! ([`Field::check`]), so invalid data is refused from peers as from users.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue};

use crate::document::{Relation, SCHEMA_VERSION, is_known_root_key, key};
use crate::ids::{Actor, AuthorKey, EntityId, parse_hex};
use crate::schema::{
    Container, Field, Kind, MAX_COMMENT_CHARS, MAX_REPORT_CHARS, MAX_TAGS, ValidationError,
    check_dates, check_length, check_postal_code, check_tag, check_visible,
};

/// A path in a document: map keys, with `*` standing for a list position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(Vec<Segment>);

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index,
}

impl Path {
    fn child(&self, segment: Segment) -> Path {
        let mut segments = self.0.clone();
        segments.push(segment);
        Path(segments)
    }

    fn keys(&self) -> Vec<Option<&str>> {
        self.0
            .iter()
            .map(|segment| match segment {
                Segment::Key(name) => Some(name.as_str()),
                Segment::Index => None,
            })
            .collect()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            match segment {
                Segment::Key(name) => write!(f, "/{name}")?,
                Segment::Index => f.write_str("/*")?,
            }
        }
        Ok(())
    }
}

/// Why a change is refused. Every variant names what was wrong precisely,
/// because it is logged, counted against the sending peer and shown to users.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reject {
    /// The actor id is not an author key followed by a device suffix.
    #[error("the change's actor is not an author key with a device suffix: {0}")]
    MalformedActor(String),
    /// The change was signed by someone other than its actor.
    #[error("the change is signed by {signer} but written by actor {actor}")]
    AuthorMismatch {
        /// Who signed.
        signer: AuthorKey,
        /// Whose actor wrote it.
        actor: AuthorKey,
    },
    /// Some dependencies are not in the document yet: keep the change pending.
    #[error("{} dependencies of the change are not known yet", .0.len())]
    MissingDependencies(Vec<ChangeHash>),
    /// A genesis change that does not set up the entity properly.
    #[error("invalid first change: {0}")]
    Genesis(String),
    /// A write that only an admin may make.
    #[error("only an admin may write {path}")]
    NotAdmin {
        /// Where.
        path: Path,
    },
    /// A write into another author's slot.
    #[error("{path} belongs to another author")]
    ForeignSlot {
        /// Where.
        path: Path,
    },
    /// A slot naming a person other than its owner's: a claim in another
    /// citizen's name.
    #[error("{path} names a person other than its author's own profile")]
    ForeignPerson {
        /// Where.
        path: Path,
    },
    /// A descriptive field of an entity that is not open to edition.
    #[error("{path} may only be edited by admins: this entity is not open to edition")]
    ClosedEdition {
        /// Where.
        path: Path,
    },
    /// A write into someone else's person profile.
    #[error("{path} is part of a person's profile, which only its owner may edit")]
    PersonOwnerOnly {
        /// Where.
        path: Path,
    },
    /// A key set once at genesis and never changed.
    #[error("{path} is set when the entity is created and never changes")]
    Immutable {
        /// Where.
        path: Path,
    },
    /// The change would leave the document without admins.
    #[error("the change would leave the entity without admins")]
    LastAdmin,
    /// A value that the schema refuses.
    #[error("{path}: {error}")]
    Invalid {
        /// Where.
        path: Path,
        /// What is wrong with it.
        error: ValidationError,
    },
    /// A write to a place the schema does not have.
    #[error("{path} is not part of the entity layout")]
    UnknownPath {
        /// Where.
        path: Path,
    },
    /// An operation on an object the document does not have.
    #[error("the change refers to an object the document does not have: {0}")]
    UnknownObject(String),
    /// An operation on an object made by a change outside its causal past.
    #[error("the change refers to an object outside its causal past: {0}")]
    OutsideCausalPast(String),
    /// Structurally impossible operations.
    #[error("malformed change: {0}")]
    Malformed(String),
}

/// Why `authorize` was asked: the document state is read at these heads.
enum At<'a> {
    Heads,
    Deps(&'a [ChangeHash]),
}

/// Reads of the document as of the change's dependencies.
struct View<'a> {
    doc: &'a Automerge,
    at: At<'a>,
}

impl View<'_> {
    fn get(&self, obj: &ObjId, name: &str) -> Option<(automerge::Value<'_>, ObjId)> {
        let result = match self.at {
            At::Heads => self.doc.get(obj, name),
            At::Deps(heads) => self.doc.get_at(obj, name, heads),
        };
        result.ok().flatten()
    }

    fn scalar(&self, obj: &ObjId, name: &str) -> Option<ScalarValue> {
        match self.get(obj, name)? {
            (automerge::Value::Scalar(value), _) => Some(value.into_owned()),
            _ => None,
        }
    }

    fn text(&self, obj: &ObjId, name: &str) -> Option<String> {
        match self.scalar(obj, name)? {
            ScalarValue::Str(text) => Some(text.to_string()),
            _ => None,
        }
    }

    fn map(&self, obj: &ObjId, name: &str) -> Option<ObjId> {
        match self.get(obj, name)? {
            (automerge::Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        }
    }

    /// Keys of the map `name` of the root whose value is `true`.
    fn true_keys(&self, name: &str) -> BTreeSet<String> {
        let Some(map) = self.map(&ROOT, name) else {
            return BTreeSet::new();
        };
        let keys: Vec<String> = match self.at {
            At::Heads => self.doc.keys(&map).collect(),
            At::Deps(heads) => self.doc.keys_at(&map, heads).collect(),
        };
        keys.into_iter()
            .filter(|k| self.scalar(&map, k) == Some(ScalarValue::Boolean(true)))
            .collect()
    }

    fn path_of(&self, obj: &ObjId) -> Result<Path, Reject> {
        let parents = match self.at {
            At::Heads => self.doc.parents(obj),
            At::Deps(heads) => self.doc.parents_at(obj, heads),
        }
        .map_err(|error| Reject::UnknownObject(error.to_string()))?;
        Ok(Path(
            parents
                .path()
                .into_iter()
                .map(|(_, prop)| match prop {
                    Prop::Map(name) => Segment::Key(name),
                    Prop::Seq(_) => Segment::Index,
                })
                .collect(),
        ))
    }
}

/// What the author may do, as of the change's dependencies.
struct Role {
    genesis: bool,
    admin: bool,
    person: bool,
    open_edition: bool,
    author: String,
    kind: Option<Kind>,
}

/// Scalar writes of the change, by (container, key): `None` for a delete.
#[derive(Default)]
struct Writes {
    fields: HashMap<(Container, String), Option<ScalarValue>>,
    genesis: HashMap<&'static str, ScalarValue>,
    admins: Vec<(String, bool)>,
    tags: Vec<(String, bool)>,
    geo_made: bool,
}

/// Decides whether `change`, signed by `signer`, may be applied to `doc`, the
/// document of entity `doc_id`. `Ok(())` means accept.
pub fn authorize(
    doc: &Automerge,
    doc_id: &EntityId,
    signer: &AuthorKey,
    change: &Change,
) -> Result<(), Reject> {
    let actor = Actor::from_actor_id(change.actor_id())
        .map_err(|error| Reject::MalformedActor(error.to_string()))?;
    if &actor.author != signer {
        return Err(Reject::AuthorMismatch {
            signer: *signer,
            actor: actor.author,
        });
    }
    let deps = change.deps();
    let missing = doc.get_missing_deps(deps);
    if !missing.is_empty() {
        return Err(Reject::MissingDependencies(missing));
    }
    let genesis = deps.is_empty();
    let mut heads = doc.get_heads();
    heads.sort();
    let mut sorted_deps = deps.to_vec();
    sorted_deps.sort();
    let view = View {
        doc,
        at: if heads == sorted_deps {
            At::Heads
        } else {
            At::Deps(deps)
        },
    };

    let role = if genesis {
        Role {
            genesis,
            admin: true,
            person: false,
            open_edition: false,
            author: signer.to_string(),
            kind: None,
        }
    } else {
        let kind = view
            .text(&ROOT, key::KIND)
            .and_then(|text| text.parse::<Kind>().ok());
        let mut admins = view.true_keys(key::ADMINS);
        if admins.is_empty()
            && let Some(creator) = view.text(&ROOT, key::CREATOR)
        {
            admins.insert(creator);
        }
        let author = signer.to_string();
        Role {
            genesis,
            admin: admins.contains(&author),
            person: kind == Some(Kind::Person),
            open_edition: view.scalar(&ROOT, key::OPEN_EDITION) == Some(ScalarValue::Boolean(true)),
            author,
            kind,
        }
    };

    // Objects made by changes concurrent to this one exist in the document
    // but not at the change's dependencies: refuse references to them.
    let concurrent: Vec<(automerge::ActorId, u64, u64)> = match view.at {
        At::Heads => Vec::new(),
        At::Deps(deps) => doc
            .get_changes_meta(deps)
            .into_iter()
            .map(|meta| (meta.actor.into_owned(), meta.start_op, meta.max_op))
            .collect(),
    };

    let expanded = decode_operations(change)?;
    let start_op = change.start_op().get();
    let mut made: HashMap<u64, Path> = HashMap::new();
    let mut resolved: HashMap<(u64, automerge::ActorId), Path> = HashMap::new();
    let mut writes = Writes::default();

    for (index, op) in expanded.operations.iter().enumerate() {
        let counter = start_op + index as u64;
        let obj_path = match &op.obj {
            ObjectId::Root => Path(Vec::new()),
            ObjectId::Id(id) if id.actor() == change.actor_id() && id.counter() >= start_op => {
                made.get(&id.counter()).cloned().ok_or_else(|| {
                    Reject::Malformed(format!(
                        "operation {counter} writes into object {} that the change has not made",
                        id.counter()
                    ))
                })?
            }
            ObjectId::Id(id) => {
                let cache_key = (id.counter(), id.actor().clone());
                if let Some(path) = resolved.get(&cache_key) {
                    path.clone()
                } else {
                    let name = format!("{}@{}", id.counter(), id.actor());
                    if concurrent.iter().any(|(actor, first, last)| {
                        actor == id.actor() && (*first..=*last).contains(&id.counter())
                    }) {
                        return Err(Reject::OutsideCausalPast(name));
                    }
                    let obj = doc
                        .import_obj(&name)
                        .map_err(|_| Reject::UnknownObject(name.clone()))?;
                    doc.object_type(&obj)
                        .map_err(|_| Reject::UnknownObject(name.clone()))?;
                    let path = view.path_of(&obj)?;
                    resolved.insert(cache_key, path.clone());
                    path
                }
            }
        };
        let path = obj_path.child(match &op.key {
            Key::Map(name) => Segment::Key(name.to_string()),
            Key::Seq(_) => Segment::Index,
        });
        check_op(&role, &path, &op.action, &mut writes)?;
        if let OpType::Make(_) = op.action {
            made.insert(counter, path);
        }
    }

    check_totals(&view, &role, doc_id, signer, &writes)
}

/// Decodes the change's operations. Automerge checks a change's columns when
/// it parses it, but not that the actor indices of its operations point into
/// its actor table, and `Change::decode` panics on such a change. A peer can
/// send one, so the panic is contained here and the change refused; once
/// decoding succeeded, every index is known to be valid, which also keeps
/// `apply_changes` safe from it.
fn decode_operations(change: &Change) -> Result<automerge::ExpandedChange, Reject> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| change.decode())).map_err(|_| {
        Reject::Malformed("an operation refers to an actor the change does not list".into())
    })
}

/// Applies an authorized change to `doc`. Automerge 0.12 can still panic on
/// some changes that decode and pass authorization (an assertion of its
/// change graph, found by the property test over mutated, validly signed
/// changes); the panic is contained and reported as [`Reject::Malformed`].
/// After an error, `doc` may be half updated: the caller must discard it
/// and rebuild it without the change.
pub fn apply(doc: &mut Automerge, change: Change) -> Result<(), Reject> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes([change]))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Reject::Malformed(format!(
            "Automerge could not apply the change: {error}"
        ))),
        Err(_) => Err(Reject::Malformed(
            "the change breaks Automerge's change graph".into(),
        )),
    }
}

fn invalid(path: &Path, error: ValidationError) -> Reject {
    Reject::Invalid {
        path: path.clone(),
        error,
    }
}

fn wrong_type(path: &Path, field: &'static str, expected: &'static str) -> Reject {
    invalid(path, ValidationError::WrongType { field, expected })
}

/// Checks one operation at `path` and records what it writes.
fn check_op(role: &Role, path: &Path, action: &OpType, writes: &mut Writes) -> Result<(), Reject> {
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
            let added = match (put, delete) {
                (Some(ScalarValue::Boolean(true)), _) => true,
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
    if !own && !role.admin {
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

/// Checks what depends on the change as a whole: the genesis layout, the
/// admin count, the tag count, dates, postal code and position.
fn check_totals(
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
