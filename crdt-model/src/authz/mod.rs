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
//! 6. An operation replaces only values at its own place: every operation
//!    it names as replaced (Automerge's `pred`, which Automerge erases
//!    wherever it is) holds a value at the same key of the same map (or in
//!    the same sequence) at the dependencies, or earlier in the change.
//!
//! Every value written at a known path is checked against the schema
//! ([`Field::check`](crate::schema::Field::check)), so invalid data is refused from peers as from users.
//!
//! Here: resolving the change's operations to paths and the verdict; in
//! `ops`, the rules of each operation (who may write at its path, whether
//! its value is valid); in `totals`, the rules of the change as a whole
//! (genesis layout, admin and tag counts, dates, postal code, position).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue};

use crate::document::key;
use crate::ids::{Actor, AuthorKey, EntityId};
use crate::schema::{Container, Kind, ValidationError};

mod decide;
mod ops;
mod totals;

pub use decide::DecisionError;

use ops::check_op;
use totals::check_totals;

/// A path in a document: map keys, with `*` standing for a list position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(Vec<Segment>);

/// One step of a [`Path`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// An operation that overwrites another than the ones at its own place
    /// as of its dependencies: Automerge lets an operation name any earlier
    /// operation as the one it replaces, which would erase values the
    /// change has no right to touch.
    #[error("the operation at {path} overwrites an operation not at its place: {op}")]
    ForeignOverwrite {
        /// Where the operation writes.
        path: Path,
        /// The operation it claims to replace.
        op: String,
    },
    /// A decision the room's rules refuse: out of its phase, by someone
    /// who does not take part, a second vote, an early closing…
    #[error("{path}: {error}")]
    Decision {
        /// Where.
        path: Path,
        /// Why.
        error: DecisionError,
    },
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

    /// The operations holding the values at `name` of the map `obj`,
    /// conflicting ones included.
    fn ops_at_key(&self, obj: &ObjId, name: &str) -> Vec<ObjId> {
        let values = match self.at {
            At::Heads => self.doc.get_all(obj, name),
            At::Deps(heads) => self.doc.get_all_at(obj, name, heads),
        };
        values
            .unwrap_or_default()
            .into_iter()
            .map(|(_, op)| op)
            .collect()
    }

    /// The operations holding the values of the sequence `obj`.
    fn ops_in_sequence(&self, obj: &ObjId) -> Vec<ObjId> {
        let length = match self.at {
            At::Heads => self.doc.length(obj),
            At::Deps(heads) => self.doc.length_at(obj, heads),
        };
        (0..length)
            .flat_map(|index| {
                match self.at {
                    At::Heads => self.doc.get_all(obj, index),
                    At::Deps(heads) => self.doc.get_all_at(obj, index, heads),
                }
                .unwrap_or_default()
            })
            .map(|(_, op)| op)
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

impl crate::decide::Reader for View<'_> {
    fn map(&self, obj: &ObjId, name: &str) -> Option<ObjId> {
        View::map(self, obj, name)
    }

    fn scalar(&self, obj: &ObjId, name: &str) -> Option<ScalarValue> {
        View::scalar(self, obj, name)
    }

    fn keys_of(&self, obj: &ObjId) -> Vec<String> {
        match self.at {
            At::Heads => self.doc.keys(obj).collect(),
            At::Deps(heads) => self.doc.keys_at(obj, heads).collect(),
        }
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
    proposals_made: bool,
    decisions: Vec<decide::DecisionWrite>,
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
    let mut resolved: HashMap<(u64, automerge::ActorId), (Path, ObjId)> = HashMap::new();
    let mut own_ops = OwnOps::default();
    let mut writes = Writes::default();

    for (index, op) in expanded.operations.iter().enumerate() {
        let counter = start_op + index as u64;
        let (obj_path, obj) = match &op.obj {
            ObjectId::Root => (Path(Vec::new()), Some(ROOT)),
            ObjectId::Id(id) if id.actor() == change.actor_id() && id.counter() >= start_op => {
                let path = made.get(&id.counter()).cloned().ok_or_else(|| {
                    Reject::Malformed(format!(
                        "operation {counter} writes into object {} that the change has not made",
                        id.counter()
                    ))
                })?;
                (path, None)
            }
            ObjectId::Id(id) => {
                let cache_key = (id.counter(), id.actor().clone());
                if let Some((path, obj)) = resolved.get(&cache_key) {
                    (path.clone(), Some(obj.clone()))
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
                    resolved.insert(cache_key, (path.clone(), obj.clone()));
                    (path, Some(obj))
                }
            }
        };
        let path = obj_path.child(match &op.key {
            Key::Map(name) => Segment::Key(name.to_string()),
            Key::Seq(_) => Segment::Index,
        });
        check_op(&role, &path, &op.action, &mut writes)?;
        own_ops.check_overwrites(&view, change, op, obj.as_ref(), &path)?;
        own_ops.record(op, counter);
        if let OpType::Make(_) = op.action {
            made.insert(counter, path);
        }
    }

    check_totals(&view, &role, doc_id, signer, &writes)?;
    decide::check(
        &view,
        &role,
        &writes,
        change.timestamp().saturating_mul(1000),
    )
}

/// The operations of the change seen so far, by the place they write (a
/// map key, or a whole sequence), to check what later ones overwrite.
#[derive(Default)]
struct OwnOps(HashMap<(ObjectId, Option<String>), Vec<u64>>);

impl OwnOps {
    fn place(op: &automerge::legacy::Op) -> (ObjectId, Option<String>) {
        let key = match &op.key {
            Key::Map(name) => Some(name.to_string()),
            Key::Seq(_) => None,
        };
        (op.obj.clone(), key)
    }

    fn record(&mut self, op: &automerge::legacy::Op, counter: u64) {
        self.0.entry(Self::place(op)).or_default().push(counter);
    }

    /// Every operation `op` replaces (its `pred`) must hold a value at its
    /// own place: the same key of the same map (a sequence as a whole),
    /// as of the change's dependencies or earlier in the change. `obj` is
    /// the document's object it writes into, `None` for one the change
    /// made. Without this, an operation that authorization allowed at its
    /// path could erase any value of the document, another author's
    /// included.
    fn check_overwrites(
        &self,
        view: &View<'_>,
        change: &Change,
        op: &automerge::legacy::Op,
        obj: Option<&ObjId>,
        path: &Path,
    ) -> Result<(), Reject> {
        if op.pred.is_empty() {
            return Ok(());
        }
        let start_op = change.start_op().get();
        let own = self.0.get(&Self::place(op));
        let mut in_document: Option<Vec<ObjId>> = None;
        for pred in op.pred.iter() {
            let allowed = if pred.actor() == change.actor_id() && pred.counter() >= start_op {
                own.is_some_and(|counters| counters.contains(&pred.counter()))
            } else if let Some(obj) = obj {
                let ops = in_document.get_or_insert_with(|| match &op.key {
                    Key::Map(name) => view.ops_at_key(obj, name),
                    Key::Seq(_) => view.ops_in_sequence(obj),
                });
                ops.iter().any(|held| {
                    matches!(held, ObjId::Id(counter, actor, _)
                        if *counter == pred.counter() && actor == pred.actor())
                })
            } else {
                false
            };
            if !allowed {
                return Err(Reject::ForeignOverwrite {
                    path: path.clone(),
                    op: pred.to_string(),
                });
            }
        }
        Ok(())
    }
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
