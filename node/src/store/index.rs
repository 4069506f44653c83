//! Index keys of an entity and the queries that use them: listing by postal
//! code, kind and tag, and the accent- and case-insensitive text search.
//!
//! Keys live in one redb table, scanned by prefix: a text prefix
//! `p/<postal key>/`, `k/<kind>/`, `t/<folded tag>/` or `w/<folded word>/`
//! (for each word of the name, category, tags, type, locality and
//! descriptions), then the entity's row number and its id. Rows grow as
//! entities are first indexed, so new keys land at the end of their prefix's
//! range. Entities marked deleted have no index keys: they are hidden from
//! lists and search, and still shown by id.

use std::collections::BTreeSet;

use crdt_model::document::Entity;
use crdt_model::ids::EntityId;
use crdt_model::schema::{Field, Kind};
use crdt_model::text::fold;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::{ENTITIES, INDEX, NAMES, ROWS, Store, StoreError, unseal};

/// French words too common to search for.
const STOP_WORDS: &[&str] = &[
    "au", "aux", "avec", "ce", "ces", "d", "dans", "de", "des", "du", "en", "et", "l", "la", "le",
    "les", "par", "pour", "sur", "un", "une", "a", "the", "of", "and",
];

/// The folded words of a text worth indexing.
pub fn search_words(text: &str) -> impl Iterator<Item = String> {
    fold(text)
        .split(' ')
        .filter(|word| !word.is_empty() && !STOP_WORDS.contains(word))
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

/// The index prefixes of an entity (none when it is marked deleted); its
/// keys are these followed by its row and id.
pub(crate) fn prefixes(entity: &Entity) -> Vec<String> {
    if entity.deleted {
        return Vec::new();
    }
    let mut prefixes = BTreeSet::new();
    prefixes.insert(format!("p/{}/", entity.postal_key()));
    prefixes.insert(format!("k/{}/", entity.kind));
    for tag in &entity.tags {
        prefixes.insert(format!("t/{}/", fold(tag)));
    }
    let mut texts: Vec<&str> = entity.tags.iter().map(String::as_str).collect();
    for field in [
        Field::Name,
        Field::Category,
        Field::ShortDescription,
        Field::Description,
        Field::EventType,
        Field::PlaceType,
    ] {
        texts.extend(entity.text(field));
    }
    texts.extend(entity.address.locality.as_deref());
    for text in texts {
        for word in search_words(text) {
            prefixes.insert(format!("w/{word}/"));
        }
    }
    prefixes.into_iter().collect()
}

pub(super) fn index_key(prefix: &str, row: u64, id: &EntityId) -> Vec<u8> {
    [prefix.as_bytes(), &row.to_be_bytes(), id.as_bytes()].concat()
}

/// Replaces the `stale` prefixes of an entity by the `fresh` ones.
pub(super) fn update(
    tx: &WriteTransaction,
    id: &EntityId,
    row: u64,
    stale: &[String],
    fresh: &[String],
) -> Result<(), StoreError> {
    if stale.is_empty() && fresh.is_empty() {
        return Ok(());
    }
    let mut index = tx.open_table(INDEX)?;
    for prefix in stale {
        index.remove(&index_key(prefix, row, id)[..])?;
    }
    for prefix in fresh {
        index.insert(&index_key(prefix, row, id)[..], ())?;
    }
    Ok(())
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this postal key (`97400`, `BE-1000`).
    pub postal_key: Option<String>,
    /// Only entities with this tag (compared folded).
    pub tag: Option<String>,
    /// Also the entities their community decided to hide, and those made
    /// by an author the citizen blocked. The store lists them always;
    /// [`crate::local::Local`] leaves them out unless this is set.
    pub hidden: bool,
}

/// An entity found in the index: its row and id.
type Hit = (u64, EntityId);

/// The entities under every key starting with `prefix` (a key ends with
/// the row and the id).
fn hits_with_prefix(
    table: &impl ReadableTable<&'static [u8], ()>,
    prefix: &str,
) -> Result<BTreeSet<Hit>, StoreError> {
    let mut hits = BTreeSet::new();
    for entry in table.range(prefix.as_bytes()..)? {
        let (key, _) = entry?;
        let key = key.value();
        if !key.starts_with(prefix.as_bytes()) {
            break;
        }
        if let Some(tail) = key.last_chunk::<24>() {
            let (row, id) = tail.split_at(8);
            let row = u64::from_be_bytes(row.try_into().expect("8 bytes"));
            let id = EntityId::from_bytes(id.try_into().expect("16 bytes"));
            hits.insert((row, id));
        }
    }
    Ok(hits)
}

/// Keeps in `matching` the hits also in `hits` (all of them at first).
fn narrow(matching: Option<BTreeSet<Hit>>, hits: BTreeSet<Hit>) -> Option<BTreeSet<Hit>> {
    Some(match matching {
        None => hits,
        Some(previous) => previous.intersection(&hits).copied().collect(),
    })
}

/// The entities every given criterion of `filter` allows, from the index
/// (the index has no entry for deleted entities); `None` when there is no
/// criterion.
fn filtered(
    index: &impl ReadableTable<&'static [u8], ()>,
    filter: &Filter,
) -> Result<Option<BTreeSet<Hit>>, StoreError> {
    let mut prefixes = Vec::new();
    if let Some(tag) = &filter.tag {
        prefixes.push(format!("t/{}/", fold(tag)));
    }
    if let Some(postal_key) = &filter.postal_key {
        prefixes.push(format!("p/{postal_key}/"));
    }
    if let Some(kind) = filter.kind {
        prefixes.push(format!("k/{kind}/"));
    }
    let mut allowed = None;
    for prefix in prefixes {
        allowed = narrow(allowed, hits_with_prefix(index, &prefix)?);
    }
    Ok(allowed)
}

/// Sorts hits by rank then folded name, from the names table.
fn by_name(
    names: &impl ReadableTable<u64, &'static str>,
    hits: BTreeSet<Hit>,
    rank: impl Fn(&str) -> bool,
) -> Result<Vec<Hit>, StoreError> {
    let mut ranked = Vec::with_capacity(hits.len());
    for hit in hits {
        let name = names
            .get(hit.0)?
            .map(|name| name.value().to_owned())
            .unwrap_or_default();
        ranked.push((!rank(&name), name, hit));
    }
    ranked.sort();
    Ok(ranked.into_iter().map(|(_, _, hit)| hit).collect())
}

/// The error of a cached entity that fails its checksum.
fn damaged(id: &EntityId) -> StoreError {
    StoreError::Damaged {
        what: format!("the cached entity {id} fails its checksum"),
    }
}

/// Reads the cached entities of `hits`, in order.
fn read_entities(
    table: &impl ReadableTable<u64, &'static [u8]>,
    hits: impl IntoIterator<Item = Hit>,
) -> Result<Vec<Entity>, StoreError> {
    let mut out = Vec::new();
    for (row, id) in hits {
        out.extend(read_entity(table, row, &id)?);
    }
    Ok(out)
}

/// The error of a row or index key that leads to another entity than the
/// one it names.
fn misled(id: &EntityId) -> StoreError {
    StoreError::Damaged {
        what: format!("the row of entity {id} holds another entity"),
    }
}

fn read_entity(
    table: &impl ReadableTable<u64, &'static [u8]>,
    row: u64,
    id: &EntityId,
) -> Result<Option<Entity>, StoreError> {
    let Some(bytes) = table.get(row)? else {
        return Ok(None);
    };
    let json = unseal(bytes.value()).ok_or_else(|| damaged(id))?;
    let entity: Entity = serde_json::from_slice(json)
        .map_err(|error| StoreError::Corrupt(format!("entity {id}: {error}")))?;
    // The seal vouches for the JSON, not for the row that led to it.
    if entity.id != *id {
        return Err(misled(id));
    }
    Ok(Some(entity))
}

/// The cached JSON at `row`, which must be the entity `id`'s: checked by
/// its seal, and by its id, without decoding the rest.
fn entity_json<'a>(sealed: &'a [u8], id: &EntityId) -> Result<&'a [u8], StoreError> {
    let json = unseal(sealed).ok_or_else(|| damaged(id))?;
    let own = format!("\"id\":\"{id}\"");
    if !json
        .windows(own.len())
        .any(|window| window == own.as_bytes())
    {
        return Err(misled(id));
    }
    Ok(json)
}

/// The entities matching `filter`, sorted by folded name.
fn list_hits(tx: &ReadTransaction, filter: &Filter) -> Result<Vec<Hit>, StoreError> {
    let index = tx.open_table(INDEX)?;
    let candidates = match filtered(&index, filter)? {
        Some(hits) => hits,
        None => hits_with_prefix(&index, "k/")?,
    };
    by_name(&tx.open_table(NAMES)?, candidates, |_| true)
}

impl Store {
    /// The cached typed entity.
    pub fn entity(&self, id: &EntityId) -> Result<Option<Entity>, StoreError> {
        let tx = self.read()?;
        let Some(row) = tx.open_table(ROWS)?.get(&id.as_bytes()[..])? else {
            return Ok(None);
        };
        read_entity(&tx.open_table(ENTITIES)?, row.value(), id)
    }

    /// Entities matching `filter`, sorted by folded name, deleted ones left out.
    pub fn list(&self, filter: &Filter) -> Result<Vec<Entity>, StoreError> {
        let tx = self.read()?;
        let sorted = list_hits(&tx, filter)?;
        read_entities(&tx.open_table(ENTITIES)?, sorted)
    }

    /// The entities of [`Store::list`], in its order, handed to `each` one
    /// at a time as they are read: memory holds the list's ids, not its
    /// entities (an export of the whole directory).
    pub fn list_each<E: From<StoreError>>(
        &self,
        filter: &Filter,
        mut each: impl FnMut(Entity) -> Result<(), E>,
    ) -> Result<(), E> {
        let tx = self.read()?;
        let sorted = list_hits(&tx, filter)?;
        let table = tx.open_table(ENTITIES).map_err(StoreError::from)?;
        for (row, id) in sorted {
            if let Some(entity) = read_entity(&table, row, &id)? {
                each(entity)?;
            }
        }
        Ok(())
    }

    /// The same list as [`Store::list`], as the JSON array of the entities,
    /// copied from their cached JSON without decoding it.
    pub fn list_json(&self, filter: &Filter) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::from(&b"["[..]);
        self.list_each_json(filter, |_, json| {
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(json);
            Ok::<_, StoreError>(())
        })?;
        out.push(b']');
        Ok(out)
    }

    /// The cached JSON of each entity of [`Store::list`], in its order,
    /// handed to `each` as it is read (copied from the cache, not decoded).
    pub fn list_each_json<E: From<StoreError>>(
        &self,
        filter: &Filter,
        mut each: impl FnMut(&EntityId, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let tx = self.read()?;
        let sorted = list_hits(&tx, filter)?;
        let table = tx.open_table(ENTITIES).map_err(StoreError::from)?;
        for (row, id) in sorted {
            if let Some(sealed) = table.get(row).map_err(StoreError::from)? {
                each(&id, entity_json(sealed.value(), &id)?)?;
            }
        }
        Ok(())
    }

    /// Entities whose indexed words start with every word of `query`
    /// (accents and case ignored), filtered, best matches first: names that
    /// contain the query, then by name. Only the `limit` best are read.
    pub fn search(
        &self,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Entity>, StoreError> {
        let tx = self.read()?;
        let Some(matching) = search_hits(&tx, query, filter)? else {
            return Ok(Vec::new());
        };
        let folded_query = fold(query);
        let mut ranked = by_name(&tx.open_table(NAMES)?, matching, |name| {
            name.contains(&folded_query)
        })?;
        ranked.truncate(limit);
        read_entities(&tx.open_table(ENTITIES)?, ranked)
    }

    /// The ids of every entity [`Store::search`] finds for `query`, in no
    /// particular order and without reading them: a page filtering a
    /// directory it holds, whatever the number of matches.
    pub fn search_ids(&self, query: &str, filter: &Filter) -> Result<Vec<EntityId>, StoreError> {
        let tx = self.read()?;
        Ok(search_hits(&tx, query, filter)?
            .unwrap_or_default()
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }
}

/// The entities of `filter` with, for each word of `query`, a word starting
/// with it; `None` when the query has no word to search for.
fn search_hits(
    tx: &redb::ReadTransaction,
    query: &str,
    filter: &Filter,
) -> Result<Option<BTreeSet<Hit>>, StoreError> {
    let words: Vec<String> = search_words(query).collect();
    if words.is_empty() {
        return Ok(None);
    }
    let index = tx.open_table(INDEX)?;
    let mut matching = filtered(&index, filter)?;
    for word in &words {
        matching = narrow(matching, hits_with_prefix(&index, &format!("w/{word}"))?);
    }
    Ok(Some(matching.unwrap_or_default()))
}
