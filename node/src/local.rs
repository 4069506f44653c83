//! What a citizen does on their own node: join (init), create entities,
//! edit them, link to them, delete them. Every change is built with
//! crdt-model, signed with the citizen's key and goes through the same
//! [`ingest::ingest`] as a change from a peer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crdt_model::communes;
use crdt_model::document::{self, Edit, EditError, Entity, Genesis, NewEntity, Relation};
use crdt_model::ids::{EntityId, IdError};
use crdt_model::schema::{Field, Kind, Value, postal_key};
use crdt_model::signed::SignedChange;

use crate::identity::{DataDir, Identity, IdentityError, random_seed};
use crate::ingest::{self, Outcome};
use crate::opendata::export::ExportError;
use crate::opendata::import::{self, Duplicates, ImportRow, RowOutcome};
use crate::store::{Filter, HistoryEntry, Origin, Store, StoreError};

/// Profile keys of the local-only profile table.
mod decide;
mod lists;
mod moderate;

pub use decide::{TallyReport, Verified};
pub use moderate::ModerationReport;

mod profile_key {
    pub(super) const PERSON: &str = "person";
    pub(super) const DEVICE: &str = "device";
    pub(super) const POSTAL_CODE: &str = "postal_code";
    pub(super) const COUNTRY: &str = "country";
    pub(super) const INSEE: &str = "insee_code";
    pub(super) const EMAIL: &str = "email";
}

/// Why a local operation failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Keys or data directory.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another process kept the store for longer than the wait.
    #[error(
        "the store {path} stayed in use by another process for {waited} s (another communecter command on this data directory?); try again once it has finished"
    )]
    Busy {
        /// The store file.
        path: String,
        /// Seconds waited.
        waited: u64,
    },
    /// The postal code is not in the communes table.
    #[error(
        "{0} is not a French postal code we know; check it, or run `communecter communes <name of your commune>` to find it"
    )]
    UnknownPostalCode(String),
    /// Several communes share the postal code.
    #[error("{code} is shared by several communes; choose one with --insee:\n{choices}")]
    AmbiguousPostalCode {
        /// The postal code.
        code: String,
        /// One line per commune: INSEE code and name.
        choices: String,
    },
    /// The INSEE code given is not one of the postal code's communes.
    #[error("the commune {insee} does not have the postal code {code}; choose one of:\n{choices}")]
    WrongInsee {
        /// The INSEE code given.
        insee: String,
        /// The postal code.
        code: String,
        /// The communes of the postal code.
        choices: String,
    },
    /// Not an entity id.
    #[error("{0}")]
    BadId(#[from] IdError),
    /// No room of this store holds the proposal.
    #[error(
        "no proposal {0} in the rooms of this directory; `communecter list --kind room` shows the rooms"
    )]
    UnknownProposal(String),
    /// Blocking oneself would refuse one's own changes.
    #[error("you cannot block yourself")]
    BlockSelf,
    /// A new proposal needs its room.
    #[error("a new proposal is made in a room: give the room's id")]
    NoRoom,
    /// The postal code has no moderation room.
    #[error(
        "{0} has no moderation room yet: an admin makes one with `communecter room create --in {0} --name Modération --moderation`"
    )]
    NoModerationRoom(String),
    /// A moderation proposal that would change nothing, or a second one.
    #[error("{}", not_due(*asks, *hidden, open.as_deref()))]
    NotDue {
        /// What was asked.
        asks: crdt_model::decide::moderation::Asks,
        /// Whether the entity is hidden.
        hidden: bool,
        /// The proposal being voted on.
        open: Option<String>,
    },
    /// Decisions are made in rooms only.
    #[error("{0} is not a room: proposals are made in rooms (`communecter room create`)")]
    NotARoom(EntityId),
    /// No such entity in this store.
    #[error("no entity {0} in this directory; `communecter list` shows what there is")]
    UnknownEntity(EntityId),
    /// The edit is invalid or not allowed.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// A French entity placed far from its address's commune.
    #[error(transparent)]
    PositionOutside(#[from] communes::PositionOutside),
    /// The store refused the change (should not happen for local edits).
    #[error("the change was refused: {0}")]
    Refused(String),
    /// A person profile is made by `init`, not `add`.
    #[error(
        "a person profile is made by `communecter init`; add an organization, project, event or place"
    )]
    PersonByAdd,
    /// A relay's entry is its own.
    #[error(
        "a relay's entry is written by `communecter relay` for the postal codes it serves, signed with its network key"
    )]
    RelayByAdd,
    /// The profile is incomplete.
    #[error(
        "the local profile is damaged ({0} is missing); restore the data directory from a backup"
    )]
    Profile(&'static str),
    /// Following more postal codes than allowed.
    #[error("at most {0} postal codes can be followed besides your own")]
    TooManyFollows(usize),
    /// The envelope could not be built.
    #[error("{0}")]
    Envelope(#[from] crdt_model::signed::EnvelopeError),
    /// An export could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// An answer could not be written (its reader went away).
    #[error("writing the answer: {0}")]
    Write(std::io::Error),
}

fn not_due(asks: crdt_model::decide::moderation::Asks, hidden: bool, open: Option<&str>) -> String {
    match (open, asks, hidden) {
        (Some(open), _, _) => format!("a moderation vote is open on it already: {open}"),
        (None, crdt_model::decide::moderation::Asks::Hide, _) => "it is hidden already".into(),
        _ => "it is not hidden: there is nothing to restore".into(),
    }
}

/// What joining needs (`init`, and `POST /api/init`): the citizen's home
/// postal code (French), and the INSEE code when several communes share
/// it.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
#[schema(as = JoinRequest)]
pub struct Join {
    /// Home postal code (French, 5 digits).
    #[schema(examples("97400"))]
    pub postal_code: String,
    /// INSEE code of the commune, when several communes share the postal
    /// code (see `GET /api/communes/{query}`).
    #[serde(default)]
    #[schema(examples("97411"))]
    pub insee: Option<String>,
    /// Display name (at most 120 characters); `Habitant·e de <commune>`
    /// when absent.
    #[serde(default)]
    #[schema(examples("Marie Hoarau"))]
    pub name: Option<String>,
    /// E-mail, kept in the local profile only (never shared).
    #[serde(default)]
    pub email: Option<String>,
}

/// The citizen's local profile. Never shared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    /// Their Person entity.
    pub person: EntityId,
    /// Home postal code.
    pub postal_code: String,
    /// Home country.
    pub country: String,
    /// Home commune.
    pub insee_code: Option<String>,
    /// E-mail (local only).
    pub email: Option<String>,
    /// Device suffix of this node's Automerge actor.
    pub device: u32,
}

impl Profile {
    /// The home postal key (gossip topic).
    pub fn postal_key(&self) -> String {
        postal_key(&self.postal_code, &self.country)
    }
}

/// The wall clock in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

fn commune_choices(code: &str) -> String {
    communes::table()
        .by_postal_code(code)
        .iter()
        .map(|commune| format!("  --insee {}  {}", commune.insee, commune.name))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Finds the commune of a postal code: the one `insee` names, else the one
/// that stands out (the only one, or the arrondissement of a code a city
/// shares with it), else asks for `insee`.
pub fn choose_commune(
    code: &str,
    insee: Option<&str>,
) -> Result<&'static communes::Commune, LocalError> {
    let candidates = communes::table().by_postal_code(code.trim());
    match (candidates, insee) {
        ([], _) => Err(LocalError::UnknownPostalCode(code.to_owned())),
        (_, Some(insee)) => candidates
            .iter()
            .find(|commune| commune.insee.eq_ignore_ascii_case(insee))
            .copied()
            .ok_or_else(|| LocalError::WrongInsee {
                insee: insee.to_owned(),
                code: code.to_owned(),
                choices: commune_choices(code),
            }),
        (_, None) => communes::table()
            .default_commune(code.trim())
            .ok_or_else(|| LocalError::AmbiguousPostalCode {
                code: code.to_owned(),
                choices: commune_choices(code),
            }),
    }
}

/// Whether an edit moves an entity: sets its position, or the postal code
/// or commune its position is checked against.
fn moves(edit: &Edit) -> bool {
    matches!(
        edit,
        Edit::SetGeo { .. }
            | Edit::Set(
                Field::Lat | Field::Lon | Field::PostalCode | Field::InseeCode,
                _
            )
    )
}

/// Refuses a French entity whose position is far from its address's
/// commune ([`communes::Communes::check_position`]).
fn check_position(entity: &Entity) -> Result<(), LocalError> {
    match entity.geo {
        Some(geo) if entity.address.country == "FR" => Ok(communes::table().check_position(
            entity.address.insee_code.as_deref(),
            &entity.address.postal_code,
            geo.lat,
            geo.lon,
        )?),
        _ => Ok(()),
    }
}

/// The profile key of the followed postal keys (comma-separated).
const FOLLOWS: &str = "follows";
/// Most postal codes followed besides the home one.
const MAX_FOLLOWS: usize = 64;

/// How long opening waits for a store another process holds (another
/// command on the same data directory) before giving up.
pub const STORE_WAIT: Duration = Duration::from_secs(30);

/// Opens the store at `path`, waiting up to [`STORE_WAIT`] while another
/// process holds it: commands run at once take turns instead of failing.
fn open_store(path: &std::path::Path) -> Result<Store, LocalError> {
    let started = Instant::now();
    // Spread the retries of processes that found it busy together.
    let mut pause = Duration::from_millis(5 + u64::from(std::process::id() % 16));
    loop {
        match ingest::open(path) {
            Err(StoreError::InUse { .. }) if started.elapsed() < STORE_WAIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(StoreError::InUse { path }) => {
                return Err(LocalError::Busy {
                    path,
                    waited: STORE_WAIT.as_secs(),
                });
            }
            other => return Ok(other?),
        }
    }
}

/// A citizen's node opened on its data directory.
pub struct Local {
    /// Its data directory.
    pub dir: DataDir,
    /// The store.
    pub store: Arc<Store>,
    /// The keys.
    pub identity: Identity,
    /// The local profile.
    pub profile: Profile,
    /// What the last import knew of the directory, to look for duplicates
    /// in the next batch without listing it all again.
    known: Mutex<Option<Known>>,
    /// Held from reading a document to committing its edit: one writer
    /// per actor, so two edits made at once never take the same sequence
    /// number of this citizen's actor (the second would be refused).
    editing: Mutex<()>,
    /// The entities hidden by moderation, as of the last time they were
    /// computed.
    hidden: Mutex<Option<moderate::Hidden>>,
    /// The room of each proposal seen ([`Local::room_of`]).
    proposal_rooms: Mutex<std::collections::HashMap<String, EntityId>>,
}

/// The duplicate keys of the directory, as of a number of stored changes.
struct Known {
    /// Stored changes when they were true: if the store holds more, some
    /// other write came in between and they are listed again.
    changes: u64,
    duplicates: Duplicates,
}

impl Local {
    /// Creates the identity, the store and the citizen's Person entity.
    pub fn init(dir: &DataDir, join: &Join) -> Result<Self, LocalError> {
        let commune = choose_commune(&join.postal_code, join.insee.as_deref())?;
        if dir.is_initialized() {
            return Err(IdentityError::AlreadyInitialized(dir.root().display().to_string()).into());
        }
        let name = match &join.name {
            Some(name) => name.trim().to_owned(),
            None => format!("Habitant·e de {}", commune.name),
        };
        let genesis = Genesis {
            kind: Kind::Person,
            name,
            postal_code: join.postal_code.trim().to_owned(),
            country: "FR".into(),
            open_edition: Some(false),
        };
        // Validate before anything is written to disk.
        crdt_model::schema::Field::Name
            .check(&crdt_model::automerge::ScalarValue::Str(
                genesis.name.as_str().into(),
            ))
            .map_err(EditError::from)?;
        let identity = Identity::create(dir)?;
        let store = Arc::new(open_store(&dir.store_path())?);
        // The store holds the local profile (e-mail): owner-only, like the keys.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.store_path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(crate::identity::io(&path))?;
        }
        let device = u32::from_le_bytes(random_seed()?[..4].try_into().expect("4 bytes"));
        // The person's id follows from the key: every slot this citizen
        // writes names this profile, and no other can.
        let nonce = EntityId::person_nonce(&identity.author());
        let edits = [
            Edit::Set(Field::InseeCode, Value::Text(commune.insee.to_owned())),
            Edit::Set(Field::Locality, Value::Text(commune.name.to_owned())),
        ];
        let created = document::create(&genesis, &identity.actor(device), now_ms(), nonce, &edits)?;
        let profile = Profile {
            person: created.id,
            postal_code: genesis.postal_code.clone(),
            country: genesis.country.clone(),
            insee_code: Some(commune.insee.to_owned()),
            email: join.email.clone().filter(|email| !email.trim().is_empty()),
            device,
        };
        let local = Self {
            dir: dir.clone(),
            store,
            identity,
            profile,
            known: Mutex::new(None),
            editing: Mutex::new(()),
            hidden: Mutex::new(None),
            proposal_rooms: Mutex::default(),
        };
        local.commit(created.id, &genesis.postal_code, &created.change)?;
        let device_text = device.to_string();
        let person_text = created.id.to_string();
        let mut values = vec![
            (profile_key::PERSON, person_text.as_str()),
            (profile_key::DEVICE, device_text.as_str()),
            (profile_key::POSTAL_CODE, local.profile.postal_code.as_str()),
            (profile_key::COUNTRY, local.profile.country.as_str()),
            (profile_key::INSEE, commune.insee),
        ];
        if let Some(email) = &local.profile.email {
            values.push((profile_key::EMAIL, email.as_str()));
        }
        local.store.set_profile(&values)?;
        Ok(local)
    }

    /// Opens an initialized data directory.
    pub fn open(dir: &DataDir) -> Result<Self, LocalError> {
        let identity = Identity::load(dir)?;
        let store = Arc::new(open_store(&dir.store_path())?);
        let get = |key: &'static str| -> Result<String, LocalError> {
            store.profile(key)?.ok_or(LocalError::Profile(key))
        };
        let profile = Profile {
            person: get(profile_key::PERSON)?
                .parse()
                .map_err(|_| LocalError::Profile(profile_key::PERSON))?,
            postal_code: get(profile_key::POSTAL_CODE)?,
            country: get(profile_key::COUNTRY)?,
            insee_code: store.profile(profile_key::INSEE)?,
            email: store.profile(profile_key::EMAIL)?,
            device: get(profile_key::DEVICE)?
                .parse()
                .map_err(|_| LocalError::Profile(profile_key::DEVICE))?,
        };
        Ok(Self {
            dir: dir.clone(),
            store,
            identity,
            profile,
            known: Mutex::new(None),
            editing: Mutex::new(()),
            hidden: Mutex::new(None),
            proposal_rooms: Mutex::default(),
        })
    }

    /// Signs a change and ingests it; returns once it is committed.
    fn commit(
        &self,
        id: EntityId,
        postal_key: &str,
        change: &crdt_model::automerge::Change,
    ) -> Result<(), LocalError> {
        let envelope = SignedChange::sign(
            &self.identity.signing_key,
            id,
            postal_key,
            change.raw_bytes(),
        )?;
        match ingest::ingest(&self.store, Origin::Local, &[envelope.encode()])?.pop() {
            Some(outcome) if outcome.is_stored() => Ok(()),
            Some(Outcome::Rejected { reason, .. }) => Err(LocalError::Refused(reason)),
            other => Err(LocalError::Refused(format!("{other:?}"))),
        }
    }

    /// Creates an entity in the citizen's name; returns it as stored.
    pub fn create(&self, genesis: &Genesis, edits: &[Edit]) -> Result<Entity, LocalError> {
        let nonce: [u8; 16] = random_seed()?[..16].try_into().expect("16 bytes");
        let created = document::create(
            genesis,
            &self.identity.actor(self.profile.device),
            now_ms(),
            nonce,
            edits,
        )?;
        check_position(&document::read(&created.doc).map_err(EditError::from)?)?;
        let key = postal_key(&genesis.postal_code, &genesis.country);
        self.commit(created.id, &key, &created.change)?;
        self.store
            .entity(&created.id)?
            .ok_or(LocalError::UnknownEntity(created.id))
    }

    /// Adds an entity with the defaults of [`NewEntity`]; returns it as stored.
    pub fn add(&self, new: &NewEntity) -> Result<Entity, LocalError> {
        let (genesis, edits) = self.genesis_of(new)?;
        self.create(&genesis, &edits)
    }

    /// The genesis and first edits of a new entity: the citizen's postal
    /// code when none is given, the commune from the communes table.
    fn genesis_of(&self, new: &NewEntity) -> Result<(Genesis, Vec<Edit>), LocalError> {
        match new.kind {
            Kind::Person => return Err(LocalError::PersonByAdd),
            Kind::Relay => return Err(LocalError::RelayByAdd),
            _ => {}
        }
        let postal_code = new
            .postal_code
            .clone()
            .unwrap_or_else(|| self.profile.postal_code.clone());
        let country = new.country.clone().unwrap_or_else(|| "FR".to_owned());
        let mut edits = Vec::new();
        if country == "FR" {
            let commune = if postal_code == self.profile.postal_code {
                self.profile
                    .insee_code
                    .as_deref()
                    .and_then(|insee| communes::table().by_insee(insee))
            } else {
                match choose_commune(&postal_code, None) {
                    Ok(commune) => Some(commune),
                    Err(LocalError::AmbiguousPostalCode { .. }) => None,
                    Err(error) => return Err(error),
                }
            };
            if let Some(commune) = commune {
                edits.push(Edit::Set(
                    Field::InseeCode,
                    Value::Text(commune.insee.into()),
                ));
                edits.push(Edit::Set(Field::Locality, Value::Text(commune.name.into())));
            }
        }
        edits.extend(new.edits.iter().cloned());
        let genesis = Genesis {
            kind: new.kind,
            name: new.name.clone(),
            postal_code,
            country,
            open_edition: new.open_edition,
        };
        Ok((genesis, edits))
    }

    /// Remembers the node of an invite, as a peer met: the network dials
    /// it at every start (and the daemon at once, when it runs).
    pub fn accept_invite(&self, invite: &crate::net::invite::Invite) -> Result<(), LocalError> {
        let addresses: Vec<String> = invite
            .dial_addresses()
            .iter()
            .map(ToString::to_string)
            .collect();
        self.store.remember_peer(&invite.peer_id, &addresses)?;
        Ok(())
    }

    /// Imports rows of an open data file as new entities in the citizen's
    /// name: each row is checked on its own (a bad row is rejected with its
    /// reason), rows naming something already there (same name, same
    /// address or position) are skipped, and the new entities are stored
    /// in one transaction.
    pub fn import(&self, rows: &[ImportRow]) -> Result<Vec<RowOutcome>, LocalError> {
        self.import_rows(rows, false)
    }

    /// What [`Local::import`] would do with `rows`, storing nothing: each
    /// row that would be a new entity is [`RowOutcome::Checked`] (built
    /// and signed as an import would, then dropped).
    pub fn check_import(&self, rows: &[ImportRow]) -> Result<Vec<RowOutcome>, LocalError> {
        self.import_rows(rows, true)
    }

    fn import_rows(
        &self,
        rows: &[ImportRow],
        dry_run: bool,
    ) -> Result<Vec<RowOutcome>, LocalError> {
        // The previous batch's keys serve if nothing else was stored since
        // (a CLI import sends batches of 1,000 rows one after the other);
        // otherwise the directory is listed again.
        let before = self.store.counts()?.changes;
        let cached = self.known.lock().ok().and_then(|mut known| known.take());
        let mut known = match cached {
            Some(known) if known.changes == before => known.duplicates,
            _ => {
                let mut known = Duplicates::default();
                for entity in self.store.list(&Filter::default())? {
                    known.insert_entity(&entity);
                }
                known
            }
        };
        // Checked in order (a row may repeat an earlier one), then built
        // and signed on every core, then stored in one transaction.
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut wanted = Vec::new();
        // What each wanted row left out.
        let mut warned = Vec::new();
        for row in rows {
            if import::is_person(row) {
                outcomes.push(RowOutcome::Skipped {
                    reason: "people join by themselves".into(),
                });
                continue;
            }
            let prepared = import::new_entity(row).and_then(|(new, warnings)| {
                let genesis = self.genesis_of(&new).map_err(|error| error.to_string())?;
                Ok((new, genesis, warnings))
            });
            match prepared {
                Err(reason) => outcomes.push(RowOutcome::Rejected { reason }),
                Ok((new, ..)) if known.contains(&new) => outcomes.push(RowOutcome::Duplicate),
                Ok((new, genesis, warnings)) => {
                    known.insert(&new);
                    wanted.push((outcomes.len(), genesis));
                    warned.push(warnings);
                    outcomes.push(RowOutcome::Duplicate);
                }
            }
        }
        let signed = self.sign_new(&wanted);
        if dry_run {
            // The keys now hold rows that were not stored: not kept.
            for (((index, _), signed), warnings) in wanted.iter().zip(signed).zip(warned) {
                outcomes[*index] = match signed {
                    Ok(_) => RowOutcome::Checked { warnings },
                    Err(reason) => RowOutcome::Rejected { reason },
                };
            }
            return Ok(outcomes);
        }
        let mut envelopes = Vec::new();
        let mut imported = Vec::new();
        for (((index, _), signed), warnings) in wanted.iter().zip(signed).zip(warned) {
            outcomes[*index] = match signed {
                Ok((id, envelope)) => {
                    envelopes.push(envelope);
                    imported.push(*index);
                    RowOutcome::Imported {
                        id: id.to_string(),
                        warnings,
                    }
                }
                Err(reason) => RowOutcome::Rejected { reason },
            };
        }
        let stored = ingest::ingest(&self.store, Origin::Import, &envelopes)?;
        let applied = stored
            .iter()
            .filter(|outcome| matches!(outcome, Outcome::Applied { .. }))
            .count();
        for (index, outcome) in imported.into_iter().zip(stored) {
            if !outcome.is_stored() {
                outcomes[index] = RowOutcome::Rejected {
                    reason: format!("the store refused it: {outcome:?}"),
                };
            }
        }
        // The keys now hold every entity this batch wanted; they are true
        // of the store if each was applied and nothing else came in.
        let after = self.store.counts()?.changes;
        if applied == wanted.len()
            && after == before + applied as u64
            && let Ok(mut cache) = self.known.lock()
        {
            *cache = Some(Known {
                changes: after,
                duplicates: known,
            });
        }
        Ok(outcomes)
    }

    /// Builds and signs the genesis changes of new entities, on every core.
    #[allow(clippy::type_complexity)]
    fn sign_new(
        &self,
        wanted: &[(usize, (Genesis, Vec<Edit>))],
    ) -> Vec<Result<(EntityId, Vec<u8>), String>> {
        let actor = self.identity.actor(self.profile.device);
        let now = now_ms();
        let sign =
            |(genesis, edits): &(Genesis, Vec<Edit>)| -> Result<(EntityId, Vec<u8>), String> {
                let seed = random_seed().map_err(|error| error.to_string())?;
                let nonce: [u8; 16] = seed[..16].try_into().expect("16 bytes");
                let created = document::create(genesis, &actor, now, nonce, edits)
                    .map_err(|error| error.to_string())?;
                let key = postal_key(&genesis.postal_code, &genesis.country);
                let envelope = SignedChange::sign(
                    &self.identity.signing_key,
                    created.id,
                    &key,
                    created.change.raw_bytes(),
                )
                .map_err(|error| error.to_string())?;
                Ok((created.id, envelope.encode()))
            };
        ingest::parallel_map(wanted.iter().collect(), 2, |(_, new)| sign(new))
    }

    /// Edits an entity; returns it as stored. A report that flags the
    /// entity opens its moderation proposal ([`Local::report_entity`]).
    pub fn edit(&self, id: EntityId, edits: &[Edit]) -> Result<Entity, LocalError> {
        let entity = self.edit_only(id, edits)?;
        if edits.iter().any(|edit| matches!(edit, Edit::Report(_))) {
            // The edit stands whatever becomes of the vote.
            if let Err(error) = self.after_report(id) {
                tracing::warn!(%error, entity = %id, "where the reported entity stands is unknown");
            }
        }
        Ok(entity)
    }

    /// [`Local::edit`], without what a report sets off.
    fn edit_only(&self, id: EntityId, edits: &[Edit]) -> Result<Entity, LocalError> {
        // A panic elsewhere while holding it left nothing half-written (the
        // store's transactions are whole), so a poisoned lock is still good.
        let _editing = self
            .editing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut doc = self
            .store
            .document(&id)?
            .ok_or(LocalError::UnknownEntity(id))?;
        let before = document::read(&doc).map_err(EditError::from)?;
        let change = document::edit(
            &doc,
            &self.identity.actor(self.profile.device),
            now_ms(),
            edits,
        )?;
        // An entity placed before the check, whose name alone is edited, is
        // not refused for its position.
        if edits.iter().any(moves) {
            doc.apply_changes([change.clone()])
                .map_err(EditError::from)?;
            check_position(&document::read(&doc).map_err(EditError::from)?)?;
        }
        // Published under the postal code the entity had: its readers there
        // learn that it moved.
        self.commit(id, &before.postal_key(), &change)?;
        self.store.entity(&id)?.ok_or(LocalError::UnknownEntity(id))
    }

    /// Links the citizen to an entity, in their own name.
    pub fn link(
        &self,
        id: EntityId,
        relation: Relation,
        comment: Option<String>,
    ) -> Result<Entity, LocalError> {
        self.edit(id, &[Edit::Link { relation, comment }])
    }

    /// Withdraws the citizen's link of `relation` to an entity.
    pub fn unlink(&self, id: EntityId, relation: Relation) -> Result<Entity, LocalError> {
        self.edit(id, &[Edit::Unlink(relation)])
    }

    /// Marks an entity deleted (hidden from lists and search, kept in
    /// history).
    pub fn delete(&self, id: EntityId) -> Result<Entity, LocalError> {
        self.edit(id, &[Edit::SetDeleted(true)])
    }

    /// The changes of an entity, in causal order.
    pub fn history(&self, id: EntityId) -> Result<Vec<HistoryEntry>, LocalError> {
        self.store
            .history(&id)?
            .ok_or(LocalError::UnknownEntity(id))
    }

    /// Postal keys followed besides the home one.
    pub fn follows(&self) -> Result<Vec<String>, LocalError> {
        Ok(self
            .store
            .profile(FOLLOWS)?
            .map(|list| {
                list.split(',')
                    .filter(|key| !key.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every postal key this node follows, the home one first.
    pub fn postal_keys(&self) -> Result<Vec<String>, LocalError> {
        let mut keys = vec![self.profile.postal_key()];
        for key in self.follows()? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// Follows a French postal code besides the home one; returns its
    /// postal key. Following twice is harmless.
    pub fn follow(&self, postal_code: &str) -> Result<String, LocalError> {
        let code = postal_code.trim();
        if communes::table().by_postal_code(code).is_empty() {
            return Err(LocalError::UnknownPostalCode(code.to_owned()));
        }
        let key = postal_key(code, "FR");
        let mut follows = self.follows()?;
        if key != self.profile.postal_key() && !follows.contains(&key) {
            if follows.len() >= MAX_FOLLOWS {
                return Err(LocalError::TooManyFollows(MAX_FOLLOWS));
            }
            follows.push(key.clone());
            self.store.set_profile(&[(FOLLOWS, &follows.join(","))])?;
        }
        Ok(key)
    }

    /// The stored entity.
    pub fn entity(&self, id: EntityId) -> Result<Entity, LocalError> {
        self.store.entity(&id)?.ok_or(LocalError::UnknownEntity(id))
    }
}
